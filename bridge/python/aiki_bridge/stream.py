"""Streaming helpers: a generation's or a percept's pieces, then its final answer.

* :func:`generate_stream` / :func:`agenerate_stream`: send ``generate`` with
  ``stream: true``, yield each ``thought.token`` of that request id (as
  :class:`~aiki_bridge.TokenThought`), and end with a :class:`GenerateResult`
  built from the request's reply.
* :func:`perceive_stream` / :func:`aperceive_stream`: send ``perceive``, yield
  the ``thought.token`` pieces of that percept id, and end with its
  :class:`~aiki_bridge.FinalThought` (a template answer has no pieces).

Both need a :class:`~aiki_bridge.Thoughts` (or :class:`~aiki_bridge.AsyncThoughts`)
subscribed to ``thought.`` that is already connected: a ZeroMQ SUB misses what
is published in the few ms before its connection is up. Events for other ids
are put back into the subscriber, in order, for its next ``recv``.

The token pieces travel on the PUB socket and the generate reply on the
request socket, so either may arrive first: after the reply, the helper
keeps reading pieces until they add up to the reply's text or ``drain``
seconds pass (then ``GenerateResult.complete`` is false: pieces were lost).
"""
from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import (Any, AsyncIterator, Dict, Iterator, List, Optional, Sequence, Union)

from .errors import RequestTimeout
from .events import FinalThought, TokenThought
from .protocol import new_request_id

DRAIN = 2.0  # seconds to wait for the last pieces after the reply


@dataclass
class GenerateResult:
    """The reply that ends a generate stream.

    ``text``/``tokens``/``timings``/``finish_reason``/``seed`` come from the
    reply (``reply`` is all of it); ``streamed`` is the text the pieces gave
    and ``complete`` whether it equals ``text``.
    """
    request_id: str
    text: str
    tokens: List[int] = field(default_factory=list)
    timings: Dict[str, Any] = field(default_factory=dict)
    finish_reason: Optional[str] = None
    seed: Optional[int] = None
    streamed: str = ""
    reply: Dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def complete(self) -> bool:
        return self.streamed == self.text


def _result(rid: str, reply: Dict[str, Any], streamed: str) -> GenerateResult:
    return GenerateResult(request_id=rid, text=reply.get("text") or "",
                          tokens=list(reply.get("tokens") or []),
                          timings=dict(reply.get("timings") or {}),
                          finish_reason=reply.get("finish_reason"), seed=reply.get("seed"),
                          streamed=streamed, reply=reply)


def _generate_fields(prompt: Optional[str], messages: Optional[Sequence[Dict[str, str]]],
                     kw: Dict[str, Any]) -> str:
    if (prompt is None) == (messages is None):
        raise ValueError("generate needs exactly one of prompt or messages")
    kw.pop("stream", None)
    return kw.pop("request_id", None) or new_request_id()


def generate_stream(client: Any, thoughts: Any, prompt: Optional[str] = None,
                    messages: Optional[Sequence[Dict[str, str]]] = None, *,
                    drain: float = DRAIN, **kw: Any
                    ) -> Iterator[Union[TokenThought, GenerateResult]]:
    """Yield the pieces of a streamed ``generate``, then its :class:`GenerateResult`.

    ``client`` is a :class:`~aiki_bridge.Client`; the request runs on a second
    connection (``client.clone()``) in a thread, so ``client`` stays free,
    e.g. to ``cancel``. Keywords (max_tokens, schema, temperature, seed,
    deadline_ms, timeout, request_id, …) go to ``generate``. Closing the
    generator early cancels the request. Fails with the request's error
    (an AikidError subclass, RequestTimeout), raised after the pieces seen.
    """
    rid = _generate_fields(prompt, messages, kw)
    out: Dict[str, Any] = {}
    worker_client = client.clone()

    def run() -> None:
        try:
            out["reply"] = worker_client.generate(prompt=prompt, messages=messages, stream=True,
                                                  request_id=rid, **kw)
        except BaseException as e:  # handed to the caller's thread below
            out["error"] = e

    th = threading.Thread(target=run, name=f"aiki-generate-{rid[:8]}", daemon=True)
    th.start()
    held: List[Any] = []
    streamed: List[str] = []
    finished = False
    try:
        done_at: Optional[float] = None
        while True:
            if done_at is None and not th.is_alive():
                done_at = time.monotonic()
                if "error" in out:
                    raise out["error"]
            if done_at is not None and ("".join(streamed) == out["reply"].get("text", "")
                                        or time.monotonic() - done_at > drain):
                break
            ev = thoughts.recv(0.01)
            if ev is None:
                continue
            if isinstance(ev, TokenThought) and ev.request_id == rid:
                streamed.append(ev.text)
                yield ev
            else:
                held.append(ev)
        finished = True
    finally:
        thoughts.unread(held)
        if not finished and th.is_alive():
            try:
                client.cancel(rid, timeout=2)
            except Exception:  # the generation may have ended meanwhile; nothing to undo
                pass
        th.join(5)
        worker_client.close()
    yield _result(rid, out["reply"], "".join(streamed))


def perceive_stream(client: Any, thoughts: Any, text: str, user: Optional[str] = None,
                    source: Optional[str] = None, meta: Optional[Dict[str, Any]] = None, *,
                    wait: float = 60.0, **kw: Any) -> Iterator[Union[TokenThought, FinalThought]]:
    """Send ``perceive``; yield its ``thought.token`` pieces, then its FinalThought.

    A percept the daemon calls a ``duplicate`` (same user and text within the
    dedup window) gets no thought: the generator then ends without yielding.
    Fails with the perceive request's error, or RequestTimeout when no final
    arrives within ``wait`` seconds.
    """
    reply = client.perceive(text, user=user, source=source, meta=meta, **kw)
    if reply.get("duplicate"):
        return
    pid = reply["percept_id"]
    deadline = time.monotonic() + wait
    held: List[Any] = []
    try:
        while True:
            left = deadline - time.monotonic()
            ev = thoughts.recv(left) if left > 0 else None
            if ev is None:
                raise RequestTimeout(f"no thought.final for percept {pid} within {wait:g} s",
                                     op="perceive", request_id=pid, timeout=wait)
            if isinstance(ev, TokenThought) and ev.percept_id == pid:
                yield ev
            elif isinstance(ev, FinalThought) and ev.percept_id == pid:
                yield ev
                return
            else:
                held.append(ev)
    finally:
        thoughts.unread(held)


async def agenerate_stream(client: Any, thoughts: Any, prompt: Optional[str] = None,
                           messages: Optional[Sequence[Dict[str, str]]] = None, *,
                           drain: float = DRAIN, **kw: Any
                           ) -> AsyncIterator[Union[TokenThought, GenerateResult]]:
    """asyncio twin of :func:`generate_stream` (``client`` is an AsyncClient)."""
    rid = _generate_fields(prompt, messages, kw)
    task = asyncio.ensure_future(client.generate(prompt=prompt, messages=messages, stream=True,
                                                 request_id=rid, **kw))
    loop = asyncio.get_running_loop()
    held: List[Any] = []
    streamed: List[str] = []
    reply: Dict[str, Any] = {}
    finished = False
    try:
        done_at: Optional[float] = None
        while True:
            if done_at is None and task.done():
                done_at = loop.time()
                reply = task.result()  # raises the request's error
            if done_at is not None and ("".join(streamed) == reply.get("text", "")
                                        or loop.time() - done_at > drain):
                break
            ev = await thoughts.recv(0.01)
            if ev is None:
                continue
            if isinstance(ev, TokenThought) and ev.request_id == rid:
                streamed.append(ev.text)
                yield ev
            else:
                held.append(ev)
        finished = True
    finally:
        thoughts.unread(held)
        if not finished and not task.done():
            try:
                await client.cancel(rid, timeout=2)
            except Exception:  # the generation may have ended meanwhile
                pass
            try:
                await asyncio.wait_for(task, 5)
            except Exception:  # cancelled/timed out: the caller stopped listening
                pass
    yield _result(rid, reply, "".join(streamed))


async def aperceive_stream(client: Any, thoughts: Any, text: str, user: Optional[str] = None,
                           source: Optional[str] = None, meta: Optional[Dict[str, Any]] = None,
                           *, wait: float = 60.0, **kw: Any
                           ) -> AsyncIterator[Union[TokenThought, FinalThought]]:
    """asyncio twin of :func:`perceive_stream`."""
    reply = await client.perceive(text, user=user, source=source, meta=meta, **kw)
    if reply.get("duplicate"):
        return
    pid = reply["percept_id"]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    held: List[Any] = []
    try:
        while True:
            left = deadline - loop.time()
            ev = await thoughts.recv(left) if left > 0 else None
            if ev is None:
                raise RequestTimeout(f"no thought.final for percept {pid} within {wait:g} s",
                                     op="perceive", request_id=pid, timeout=wait)
            if isinstance(ev, TokenThought) and ev.percept_id == pid:
                yield ev
            elif isinstance(ev, FinalThought) and ev.percept_id == pid:
                yield ev
                return
            else:
                held.append(ev)
    finally:
        thoughts.unread(held)
