"""asyncio request client (zmq.asyncio DEALER): many requests in flight at once."""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Dict, Optional, Tuple

import zmq
import zmq.asyncio

from . import endpoints
from .client import DEFAULT_TIMEOUT, curve_keys, shared_async_context, socket_configure
from .errors import ProtocolError, RequestTimeout
from .protocol import (Ops, new_request_id, reply_check, reply_decode, reply_payload,
                       request_encode)

log = logging.getLogger("aiki_bridge")


class AsyncClient(Ops):
    """The asyncio twin of :class:`~aiki_bridge.Client`: same methods, awaited.

    One receiver task reads replies and hands each to the waiting request
    with the same ``id``, so any number of requests may be in flight (e.g.
    a streaming ``generate`` and the ``cancel`` that stops it). A request
    that times out raises :class:`~aiki_bridge.RequestTimeout`; its id is
    forgotten, so a late reply is dropped and never mistaken for another
    request's. An id-less error reply (e.g. ``too_large``, found before the
    daemon could read the id) goes to the only request in flight, or, with
    several, to the largest (``too_large``) or the oldest.
    """

    def __init__(self, endpoint: Optional[str] = None, *, timeout: float = DEFAULT_TIMEOUT,
                 context: Optional[zmq.asyncio.Context] = None,
                 curve_serverkey: Optional[bytes] = None,
                 curve_publickey: Optional[bytes] = None,
                 curve_secretkey: Optional[bytes] = None) -> None:
        self.endpoint = endpoint or endpoints.default_requests()
        self.timeout = timeout
        self._ctx = context or shared_async_context()
        self._sock = self._ctx.socket(zmq.DEALER)
        socket_configure(self._sock, curve_keys(curve_serverkey, curve_publickey,
                                                curve_secretkey))
        self._sock.connect(self.endpoint)
        # request id -> (future, payload size); dicts keep insertion order.
        self._pending: Dict[str, Tuple["asyncio.Future[Dict[str, Any]]", int]] = {}
        self._reader: Optional["asyncio.Task[None]"] = None
        self._closed = False

    async def request(self, op: str, *, timeout: Optional[float] = None,
                      deadline_ms: Optional[int] = None, request_id: Optional[str] = None,
                      **fields: Any) -> Dict[str, Any]:
        """Send one request and await its ok reply (errors as in Client.request)."""
        if self._closed:
            raise RuntimeError("AsyncClient is closed")
        rid = request_id or new_request_id()
        if rid in self._pending:
            raise ValueError(f"request id {rid!r} is already in flight")
        frame = request_encode(op, rid, fields, deadline_ms)
        wait = self.timeout if timeout is None else timeout
        fut: "asyncio.Future[Dict[str, Any]]" = asyncio.get_running_loop().create_future()
        self._pending[rid] = (fut, len(frame))
        self._reader_start()
        try:
            await asyncio.wait_for(self._send_then(fut, frame), wait)
        except asyncio.TimeoutError:
            raise RequestTimeout(f"no reply to {op!r} (id {rid}) from {self.endpoint} within "
                                 f"{wait:g} s (is aikid running?)", op=op, request_id=rid,
                                 endpoint=self.endpoint, timeout=wait) from None
        finally:
            self._pending.pop(rid, None)
        return reply_check(fut.result())

    async def _send_then(self, fut: "asyncio.Future[Dict[str, Any]]", frame: bytes) -> None:
        await self._sock.send_multipart([b"", frame])
        await asyncio.shield(fut)

    def _reader_start(self) -> None:
        if self._reader is None or self._reader.done():
            self._reader = asyncio.get_running_loop().create_task(self._read_loop())

    async def _read_loop(self) -> None:
        try:
            await self._read_replies()
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a dead socket: fail the waiting requests with the cause
            log.error("aiki_bridge: reply reader on %s stopped: %r", self.endpoint, e)
            for fut, _ in list(self._pending.values()):
                if not fut.done():
                    fut.set_exception(ConnectionError(f"reply reader stopped: {e!r}"))
            raise

    async def _read_replies(self) -> None:
        while True:
            frames = await self._sock.recv_multipart()
            try:
                reply = reply_decode(reply_payload(frames))
            except ProtocolError as e:
                log.warning("aiki_bridge: dropping a malformed reply on %s: %s", self.endpoint, e)
                continue
            rid = reply.get("id")
            entry = self._pending.get(rid) if isinstance(rid, str) else None
            if entry is None and rid is None and reply.get("ok") is False and self._pending:
                entry = self._orphan_owner(reply)
            if entry is None:
                log.debug("aiki_bridge: dropping a reply for unknown request id %r", rid)
                continue
            if not entry[0].done():
                entry[0].set_result(reply)

    def _orphan_owner(self, reply: Dict[str, Any]) -> Tuple[Any, int]:
        entries = list(self._pending.values())
        err = reply.get("error")
        if isinstance(err, dict) and err.get("code") == "too_large":
            return max(entries, key=lambda e: e[1])
        return entries[0]

    def generate_stream(self, thoughts: Any, prompt: Optional[str] = None,
                        messages: Optional[Any] = None, **kw: Any) -> Any:
        """``async for`` a streamed ``generate``: TokenThought pieces, then a GenerateResult.

        ``thoughts`` is a connected :class:`~aiki_bridge.AsyncThoughts`; see
        :func:`aiki_bridge.stream.agenerate_stream`.
        """
        from .stream import agenerate_stream
        return agenerate_stream(self, thoughts, prompt, messages, **kw)

    def perceive_stream(self, thoughts: Any, text: str, user: Optional[str] = None,
                        source: Optional[str] = None, meta: Optional[Dict[str, Any]] = None,
                        **kw: Any) -> Any:
        """``async for`` a percept's answer: TokenThought pieces, then its FinalThought."""
        from .stream import aperceive_stream
        return aperceive_stream(self, thoughts, text, user, source, meta, **kw)

    async def close(self) -> None:
        """Stop the receiver, fail requests still waiting, close the socket."""
        self._closed = True
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except asyncio.CancelledError:
                pass
            except Exception as e:  # already logged by _read_loop
                log.debug("aiki_bridge: reply reader had stopped with %r", e)
        for fut, _ in self._pending.values():
            if not fut.done():
                fut.set_exception(ConnectionError("AsyncClient closed"))
        self._pending.clear()
        self._sock.close(linger=0)

    def close_nowait(self) -> None:
        """close() for code that cannot await (mem0's AsyncMemory.close is not a
        coroutine): the receiver is cancelled, not waited for."""
        self._closed = True
        if self._reader is not None:
            self._reader.cancel()
        for fut, _ in self._pending.values():
            if not fut.done():
                fut.set_exception(ConnectionError("AsyncClient closed"))
        self._pending.clear()
        self._sock.close(linger=0)

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
