"""Blocking request client (ZeroMQ DEALER) for aikid's request socket."""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Dict, Optional

import zmq

from . import endpoints
from .errors import ProtocolError, RequestTimeout
from .protocol import (Ops, new_request_id, reply_check, reply_decode, reply_payload,
                       request_encode)

log = logging.getLogger("aiki_bridge")

DEFAULT_TIMEOUT = 5.0


def shared_async_context() -> Any:
    """A zmq.asyncio view of the process's one zmq.Context.instance().

    Every Client, Subscriber, AsyncClient and AsyncSubscriber made without a
    ``context`` shares that one context (one I/O thread and one reaper thread in
    all; a context per object made two threads each). A shadow does not own
    the context and is never terminated.
    """
    import zmq.asyncio
    return zmq.asyncio.Context.shadow(zmq.Context.instance().underlying)


def socket_configure(sock: zmq.Socket, curve: Optional[Dict[str, bytes]]) -> None:
    """Options shared by the sync and asyncio clients' sockets."""
    sock.setsockopt(zmq.LINGER, 0)
    if curve:
        sock.curve_serverkey = curve["serverkey"]
        sock.curve_publickey = curve["publickey"]
        sock.curve_secretkey = curve["secretkey"]


def curve_keys(serverkey: Optional[bytes], publickey: Optional[bytes],
               secretkey: Optional[bytes]) -> Optional[Dict[str, bytes]]:
    """The CURVE key triple, or None when none is given; all three or none."""
    keys = (serverkey, publickey, secretkey)
    if all(k is None for k in keys):
        return None
    if any(k is None for k in keys):
        raise ValueError("CURVE needs curve_serverkey, curve_publickey and curve_secretkey")
    return {"serverkey": _b(serverkey), "publickey": _b(publickey), "secretkey": _b(secretkey)}


def _b(k: Any) -> bytes:
    return k.encode("ascii") if isinstance(k, str) else bytes(k)


class Client(Ops):
    """Send requests to aikid and wait for the matching reply.

    ``Client(endpoint=None, timeout=5.0)``: ``endpoint`` defaults to
    :func:`aiki_bridge.endpoints.default_requests`. Each call of
    :meth:`request` (and of the thin op methods) blocks until the reply
    whose ``id`` matches arrives, and returns the reply dict (``ok`` is
    true). An error reply raises the :class:`~aiki_bridge.AikidError`
    subclass of its code; no reply within ``timeout`` seconds raises
    :class:`~aiki_bridge.RequestTimeout` (a ``TimeoutError``) and resets the
    socket. Calls from several threads are serialised by a lock.

    Framing: requests go out as ``[b"", json]`` (REQ-style empty delimiter),
    so the daemon's ROUTER sees the same envelope as from a REQ socket;
    replies are accepted as ``[b"", json]`` or ``[json]``.
    """

    def __init__(self, endpoint: Optional[str] = None, *, timeout: float = DEFAULT_TIMEOUT,
                 context: Optional[zmq.Context] = None,
                 curve_serverkey: Optional[bytes] = None,
                 curve_publickey: Optional[bytes] = None,
                 curve_secretkey: Optional[bytes] = None) -> None:
        self.endpoint = endpoint or endpoints.default_requests()
        self.timeout = timeout
        self._curve = curve_keys(curve_serverkey, curve_publickey, curve_secretkey)
        # One context for the whole process (zmq.Context.instance(): one I/O
        # thread and one reaper however many clients); never terminated here.
        self._ctx = context or zmq.Context.instance()
        self._lock = threading.Lock()
        self._sock: Optional[zmq.Socket] = None
        self.resets = 0
        self._connect()

    # -- socket lifecycle ---------------------------------------------------
    def _connect(self) -> None:
        sock = self._ctx.socket(zmq.DEALER)
        socket_configure(sock, self._curve)
        sock.connect(self.endpoint)
        self._sock = sock

    def reset(self) -> None:
        """Drop the socket (and any reply still queued for it) and reconnect."""
        if self._sock is not None:
            self._sock.close(linger=0)
        self.resets += 1
        self._connect()

    def clone(self) -> "Client":
        """A second Client to the same endpoint (same timeout, CURVE keys and context)."""
        c = Client.__new__(Client)
        c.endpoint, c.timeout, c._curve = self.endpoint, self.timeout, self._curve
        c._ctx = self._ctx
        c._lock, c._sock, c.resets = threading.Lock(), None, 0
        c._connect()
        return c

    # -- streaming helpers (see aiki_bridge.stream) -------------------------
    def generate_stream(self, thoughts: Any, prompt: Optional[str] = None,
                        messages: Optional[Any] = None, **kw: Any) -> Any:
        """Iterate a streamed ``generate``: TokenThought pieces, then a GenerateResult.

        ``thoughts`` is a connected :class:`~aiki_bridge.Thoughts`; see
        :func:`aiki_bridge.stream.generate_stream`.
        """
        from .stream import generate_stream
        return generate_stream(self, thoughts, prompt, messages, **kw)

    def perceive_stream(self, thoughts: Any, text: str, user: Optional[str] = None,
                        source: Optional[str] = None, meta: Optional[Dict[str, Any]] = None,
                        **kw: Any) -> Any:
        """Iterate a percept's answer: TokenThought pieces, then its FinalThought.

        See :func:`aiki_bridge.stream.perceive_stream`.
        """
        from .stream import perceive_stream
        return perceive_stream(self, thoughts, text, user, source, meta, **kw)

    def close(self) -> None:
        """Close the socket (the context is shared, or the caller's: it stays)."""
        with self._lock:
            if self._sock is not None:
                self._sock.close(linger=0)
                self._sock = None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- requests -----------------------------------------------------------
    def request(self, op: str, *, timeout: Optional[float] = None,
                deadline_ms: Optional[int] = None, request_id: Optional[str] = None,
                **fields: Any) -> Dict[str, Any]:
        """Send ``{"v":1,"op":op,"id":…,**fields}`` and return the ok reply.

        Fails with: an AikidError subclass (error reply), RequestTimeout (no
        reply in ``timeout`` s; the socket is then reset), ProtocolError (a
        reply that is not protocol v1), TypeError (a field that is not JSON).
        """
        rid = request_id or new_request_id()
        frame = request_encode(op, rid, fields, deadline_ms)
        wait = self.timeout if timeout is None else timeout
        with self._lock:
            if self._sock is None:
                raise RuntimeError("Client is closed")
            deadline = time.monotonic() + wait
            if not self._sock.poll(max(0, int(wait * 1000)), zmq.POLLOUT):
                self._timed_out(op, rid, wait)
            self._sock.send_multipart([b"", frame])
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not self._sock.poll(int(left * 1000) + 1, zmq.POLLIN):
                    self._timed_out(op, rid, wait)
                frames = self._sock.recv_multipart()
                try:
                    reply = reply_decode(reply_payload(frames))
                except ProtocolError as e:
                    log.warning("aiki_bridge: dropping a malformed reply on %s: %s",
                                self.endpoint, e)
                    continue
                got = reply.get("id")
                if got == rid:
                    return reply_check(reply)
                if got is None and reply.get("ok") is False:
                    # Errors found before the id could be read (too_large, bad
                    # framing) carry no id; one request is in flight, so it is ours.
                    return reply_check(reply)
                log.debug("aiki_bridge: dropping a reply for another request id %r", got)

    def _timed_out(self, op: str, rid: str, wait: float) -> None:
        self.reset()
        raise RequestTimeout(f"no reply to {op!r} (id {rid}) from {self.endpoint} within "
                             f"{wait:g} s (is aikid running?)", op=op, request_id=rid,
                             endpoint=self.endpoint, timeout=wait)
