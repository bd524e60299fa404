"""Thought subscriber (ZeroMQ SUB): typed thoughts, seq gaps and restarts.

The daemon publishes two frames per message: the topic and a JSON body
carrying ``v``, ``boot_id`` (new at each start) and a per-topic ``seq``.
A jump in ``seq`` on one topic means this subscriber lost messages (the
publisher drops them at the high-water mark rather than block); a new
``boot_id`` means the daemon restarted and its sequences began again.
Each :class:`Thought` says which of the two happened just before it
(``thought.gap``, ``thought.restart``), and the optional callbacks
``on_gap(thought, missed)`` and ``on_restart(thought, old_boot_id)`` are
called before the thought is handed out.

:class:`Thoughts` / :class:`AsyncThoughts` read the same socket but hand out
typed events (:mod:`aiki_bridge.events`), with :class:`~aiki_bridge.Gap`
and :class:`~aiki_bridge.Restart` as events of their own.
"""
from __future__ import annotations

import json
import logging
import time
from collections import deque
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import zmq

from . import endpoints
from .client import curve_keys, shared_async_context
from .events import Gap, Restart, ThoughtEvent, event_from

log = logging.getLogger("aiki_bridge")

TOPICS = ("thought.final", "thought.token", "memory.event", "percept", "status")


class Thought:
    """One published message: ``topic``, ``body`` (the JSON dict), and views.

    The attributes below read the body (None when absent). ``gap`` is how
    many messages of this topic were lost just before this one (0 if none);
    ``restart`` is true when this is the first message seen from a new
    daemon start (then ``previous_boot_id`` is the old one).
    """

    __slots__ = ("topic", "body", "gap", "restart", "previous_boot_id", "received_at")

    def __init__(self, topic: str, body: Dict[str, Any], gap: int = 0, restart: bool = False,
                 previous_boot_id: Optional[str] = None,
                 received_at: Optional[float] = None) -> None:
        self.topic = topic
        self.body = body
        self.gap = gap
        self.restart = restart
        self.previous_boot_id = previous_boot_id
        self.received_at = time.time() if received_at is None else received_at

    # Fields common to every topic.
    @property
    def v(self) -> Optional[int]: return self.body.get("v")
    @property
    def boot_id(self) -> Optional[str]: return self.body.get("boot_id")
    @property
    def seq(self) -> Optional[int]: return self.body.get("seq")
    @property
    def ts(self) -> Optional[int]:
        """Publication time, unix milliseconds."""
        return self.body.get("ts")

    # Thought fields (thought.final, thought.token).
    @property
    def percept_id(self) -> Optional[str]: return self.body.get("percept_id")
    @property
    def request_id(self) -> Optional[str]: return self.body.get("request_id")
    @property
    def kind(self) -> Optional[str]:
        """``response``, ``reminder`` or ``reflection`` (thought.final)."""
        return self.body.get("kind")
    @property
    def text(self) -> Optional[str]:
        """The answer (thought.final) or the piece (thought.token)."""
        return self.body.get("text")
    @property
    def source(self) -> Optional[str]:
        """``template:<name>`` or ``llm`` (thought.final)."""
        return self.body.get("source")
    @property
    def memories(self) -> List[int]:
        """Ids of the memories the thought used (thought.final)."""
        return list(self.body.get("memories") or [])
    @property
    def timings_ms(self) -> Dict[str, float]:
        """Per-stage milliseconds: perceive, embed, recall, compose, generate, total."""
        return dict(self.body.get("timings_ms") or {})
    @property
    def index(self) -> Optional[int]:
        """Position of a token piece (thought.token)."""
        return self.body.get("index")

    @property
    def is_final(self) -> bool: return self.topic == "thought.final"
    @property
    def is_token(self) -> bool: return self.topic == "thought.token"
    @property
    def correlation_id(self) -> Optional[str]:
        """percept_id if present, else request_id: what a token or final answers."""
        return self.percept_id or self.request_id

    def to_dict(self) -> Dict[str, Any]:
        """``{"topic": …, **body}`` (what ``listen`` prints)."""
        d: Dict[str, Any] = {"topic": self.topic}
        d.update(self.body)
        return d

    def __repr__(self) -> str:
        extra = f", gap={self.gap}" if self.gap else ""
        extra += ", restart=True" if self.restart else ""
        return f"Thought({self.topic!r}, {self.body!r}{extra})"


class SeqTracker:
    """Tells gaps from restarts, per topic, from ``boot_id`` and ``seq``.

    The first message of a topic (after starting or after a restart) is not
    judged: what came before it is unknown. Totals: ``missed`` (messages
    lost), ``gaps`` (gap events), ``restarts``.
    """

    def __init__(self) -> None:
        self.boot_id: Optional[str] = None
        self.last: Dict[str, int] = {}
        self.missed = 0
        self.gaps = 0
        self.restarts = 0

    def observe(self, topic: str, body: Dict[str, Any]) -> Tuple[int, bool, Optional[str]]:
        """Record one message; returns (missed before it, restarted, previous boot_id)."""
        boot = body.get("boot_id")
        seq = body.get("seq")
        restart = False
        previous = None
        if boot is not None and boot != self.boot_id:
            if self.boot_id is not None:
                restart = True
                previous = self.boot_id
                self.restarts += 1
            self.boot_id = boot
            self.last.clear()
        if not isinstance(seq, int) or isinstance(seq, bool):
            return 0, restart, previous
        missed = 0
        last = self.last.get(topic)
        if last is not None and seq > last + 1:
            missed = seq - last - 1
            self.missed += missed
            self.gaps += 1
        if last is None or seq > last:
            self.last[topic] = seq
        return missed, restart, previous


GapCallback = Callable[[Thought, int], None]
RestartCallback = Callable[[Thought, Optional[str]], None]


def thought_decode(frames: Sequence[bytes]) -> Optional[Tuple[str, Dict[str, Any]]]:
    """(topic, body) of a published message, or None (logged) if malformed."""
    if len(frames) != 2:
        log.warning("aiki_bridge: dropping a published message of %d frames (want 2)", len(frames))
        return None
    try:
        topic = frames[0].decode("utf-8")
        body = json.loads(frames[1].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        log.warning("aiki_bridge: dropping a published message that is not UTF-8 JSON: %s", e)
        return None
    if not isinstance(body, dict):
        log.warning("aiki_bridge: dropping a published body that is not a JSON object")
        return None
    return topic, body


def _topics(topics: Union[None, str, Iterable[str]]) -> List[str]:
    if topics is None:
        return [""]
    if isinstance(topics, str):
        return [topics]
    out = list(topics)
    return out or [""]


class _SubscriberBase:
    def _setup(self, sock: zmq.Socket, endpoint: Optional[str], topics: Any,
               on_gap: Optional[GapCallback], on_restart: Optional[RestartCallback],
               rcvhwm: Optional[int], curve: Optional[Dict[str, bytes]]) -> None:
        self.endpoint = endpoint or endpoints.default_thoughts()
        self.on_gap = on_gap
        self.on_restart = on_restart
        self.tracker = SeqTracker()
        self.malformed = 0
        self._sock = sock
        sock.setsockopt(zmq.LINGER, 0)
        if rcvhwm is not None:
            sock.setsockopt(zmq.RCVHWM, rcvhwm)
        if curve:
            sock.curve_serverkey = curve["serverkey"]
            sock.curve_publickey = curve["publickey"]
            sock.curve_secretkey = curve["secretkey"]
        sock.connect(self.endpoint)
        self.topics: List[str] = []
        for t in _topics(topics):
            self.subscribe(t)

    def subscribe(self, prefix: str) -> None:
        """Receive topics starting with ``prefix`` ("" = everything)."""
        self._sock.setsockopt(zmq.SUBSCRIBE, prefix.encode("utf-8"))
        self.topics.append(prefix)

    def unsubscribe(self, prefix: str) -> None:
        """Stop one earlier subscription."""
        self._sock.setsockopt(zmq.UNSUBSCRIBE, prefix.encode("utf-8"))
        if prefix in self.topics:
            self.topics.remove(prefix)

    def _make(self, frames: Sequence[bytes]) -> Optional[Thought]:
        decoded = thought_decode(frames)
        if decoded is None:
            self.malformed += 1
            return None
        topic, body = decoded
        missed, restart, previous = self.tracker.observe(topic, body)
        thought = Thought(topic, body, gap=missed, restart=restart, previous_boot_id=previous)
        if restart and self.on_restart is not None:
            self.on_restart(thought, previous)
        if missed and self.on_gap is not None:
            self.on_gap(thought, missed)
        return thought

    def _make_typed(self, frames: Sequence[bytes]) -> List[ThoughtEvent]:
        """The typed events of one message: [Restart?, Gap?, the event], or [] if malformed."""
        decoded = thought_decode(frames)
        if decoded is None:
            self.malformed += 1
            return []
        topic, body = decoded
        missed, restart, previous = self.tracker.observe(topic, body)
        event = event_from(topic, body)
        out: List[ThoughtEvent] = []
        if restart:
            out.append(Restart(boot_id=event.boot_id, previous_boot_id=previous))
            if self.on_restart is not None:
                self.on_restart(event, previous)  # type: ignore[arg-type]
        if missed:
            out.append(Gap(topic=topic, missed=missed, seq=event.seq, boot_id=event.boot_id))
            if self.on_gap is not None:
                self.on_gap(event, missed)  # type: ignore[arg-type]
        out.append(event)
        return out


class Subscriber(_SubscriberBase):
    """Blocking thought subscriber.

    ``Subscriber(endpoint=None, topics=None)`` subscribes to every topic
    by default; ``topics`` is a prefix or a list of prefixes (ZeroMQ
    matches by prefix: ``"thought."`` gets finals and tokens). Iterate it,
    or call :meth:`recv` with a timeout. As with any ZeroMQ SUB, messages
    published before the connection is made (a few ms) are not received.
    Not thread-safe: use one Subscriber per thread.
    """

    def __init__(self, endpoint: Optional[str] = None,
                 topics: Union[None, str, Iterable[str]] = None, *,
                 context: Optional[zmq.Context] = None,
                 on_gap: Optional[GapCallback] = None,
                 on_restart: Optional[RestartCallback] = None,
                 rcvhwm: Optional[int] = None,
                 curve_serverkey: Optional[bytes] = None,
                 curve_publickey: Optional[bytes] = None,
                 curve_secretkey: Optional[bytes] = None) -> None:
        self._ctx = context or zmq.Context.instance()  # shared: see Client
        self._setup(self._ctx.socket(zmq.SUB), endpoint, topics, on_gap, on_restart, rcvhwm,
                    curve_keys(curve_serverkey, curve_publickey, curve_secretkey))

    def _next_frames(self, deadline: Optional[float]) -> Optional[List[bytes]]:
        """The next message's frames, or None once ``deadline`` (time.monotonic) has passed."""
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not self._sock.poll(int(left * 1000) + 1, zmq.POLLIN):
                return None
        return self._sock.recv_multipart()

    def recv(self, timeout: Optional[float] = None) -> Optional[Thought]:
        """The next well-formed thought, or None if ``timeout`` seconds pass first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            frames = self._next_frames(deadline)
            if frames is None:
                return None
            thought = self._make(frames)
            if thought is not None:
                return thought

    def __iter__(self) -> Iterator[Thought]:
        while True:
            thought = self.recv()
            if thought is not None:
                yield thought

    def close(self) -> None:
        self._sock.close(linger=0)

    def __enter__(self) -> "Subscriber":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class Thoughts(Subscriber):
    """A :class:`Subscriber` that yields typed events instead of :class:`Thought`.

    Same constructor. ``recv``/iteration give :class:`~aiki_bridge.FinalThought`,
    :class:`~aiki_bridge.TokenThought`, :class:`~aiki_bridge.PerceptEvent`,
    :class:`~aiki_bridge.MemoryEvent`, :class:`~aiki_bridge.StatusEvent` or
    :class:`~aiki_bridge.OtherEvent`; a :class:`~aiki_bridge.Restart` (new
    ``boot_id``) and a :class:`~aiki_bridge.Gap` (``seq`` jump on a topic)
    come just before the message that revealed them. ``on_gap`` and
    ``on_restart`` callbacks, if given, receive the typed event.

    Helpers that wait for one answer (:meth:`wait_final`, the stream
    helpers) keep what they skip and hand it out later, in order, so
    nothing is lost to them.
    """

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._queue: "deque[ThoughtEvent]" = deque()

    def recv(self, timeout: Optional[float] = None) -> Optional[ThoughtEvent]:  # type: ignore[override]
        """The next typed event, or None if ``timeout`` seconds pass first."""
        if self._queue:
            return self._queue.popleft()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            frames = self._next_frames(deadline)
            if frames is None:
                return None
            events = self._make_typed(frames)
            if events:
                self._queue.extend(events[1:])
                return events[0]

    def __iter__(self) -> Iterator[ThoughtEvent]:  # type: ignore[override]
        while True:
            event = self.recv()
            if event is not None:
                yield event

    def unread(self, events: Iterable[ThoughtEvent]) -> None:
        """Put events back in front of the queue (in their order): recv returns them first."""
        self._queue.extendleft(reversed(list(events)))

    def wait_final(self, correlation_id: str, timeout: Optional[float] = None) -> Any:
        """The FinalThought whose percept_id or request_id is ``correlation_id``.

        Returns None if ``timeout`` seconds pass first. Events for other ids
        (and gaps/restarts) are kept for later ``recv`` calls.
        """
        from .events import FinalThought
        held: List[ThoughtEvent] = []
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                ev = self.recv(left)
                if ev is None:
                    return None
                if isinstance(ev, FinalThought) and ev.correlation_id == correlation_id:
                    return ev
                held.append(ev)
        finally:
            self.unread(held)


class AsyncSubscriber(_SubscriberBase):
    """asyncio twin of :class:`Subscriber`: ``async for thought in sub`` / ``await sub.recv()``."""

    def __init__(self, endpoint: Optional[str] = None,
                 topics: Union[None, str, Iterable[str]] = None, *,
                 context: Any = None,
                 on_gap: Optional[GapCallback] = None,
                 on_restart: Optional[RestartCallback] = None,
                 rcvhwm: Optional[int] = None,
                 curve_serverkey: Optional[bytes] = None,
                 curve_publickey: Optional[bytes] = None,
                 curve_secretkey: Optional[bytes] = None) -> None:
        self._ctx = context or shared_async_context()
        self._setup(self._ctx.socket(zmq.SUB), endpoint, topics, on_gap, on_restart, rcvhwm,
                    curve_keys(curve_serverkey, curve_publickey, curve_secretkey))

    async def _next_frames(self, deadline: Optional[float]) -> Optional[List[bytes]]:
        """The next message's frames, or None once ``deadline`` (the loop's clock) has passed."""
        import asyncio
        if deadline is None:
            return await self._sock.recv_multipart()
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            return None
        try:
            return await asyncio.wait_for(self._sock.recv_multipart(), left)
        except asyncio.TimeoutError:
            return None

    async def recv(self, timeout: Optional[float] = None) -> Optional[Thought]:
        """The next well-formed thought, or None if ``timeout`` seconds pass first."""
        import asyncio
        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        while True:
            frames = await self._next_frames(deadline)
            if frames is None:
                return None
            thought = self._make(frames)
            if thought is not None:
                return thought

    def __aiter__(self) -> "AsyncSubscriber":
        return self

    async def __anext__(self) -> Thought:
        thought = None
        while thought is None:
            thought = await self.recv()
        return thought

    def close(self) -> None:
        self._sock.close(linger=0)

    async def __aenter__(self) -> "AsyncSubscriber":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()


class AsyncThoughts(AsyncSubscriber):
    """asyncio twin of :class:`Thoughts`: typed events from ``await recv()`` / ``async for``."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._queue: "deque[ThoughtEvent]" = deque()

    async def recv(self, timeout: Optional[float] = None) -> Optional[ThoughtEvent]:  # type: ignore[override]
        """The next typed event, or None if ``timeout`` seconds pass first."""
        import asyncio
        if self._queue:
            return self._queue.popleft()
        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        while True:
            frames = await self._next_frames(deadline)
            if frames is None:
                return None
            events = self._make_typed(frames)
            if events:
                self._queue.extend(events[1:])
                return events[0]

    async def __anext__(self) -> ThoughtEvent:  # type: ignore[override]
        event = None
        while event is None:
            event = await self.recv()
        return event

    def unread(self, events: Iterable[ThoughtEvent]) -> None:
        """Put events back in front of the queue (in their order)."""
        self._queue.extendleft(reversed(list(events)))

    async def wait_final(self, correlation_id: str, timeout: Optional[float] = None) -> Any:
        """The FinalThought for ``correlation_id`` (or None after ``timeout`` s); others kept."""
        import asyncio
        from .events import FinalThought
        loop = asyncio.get_running_loop()
        held: List[ThoughtEvent] = []
        deadline = None if timeout is None else loop.time() + timeout
        try:
            while True:
                left = None if deadline is None else deadline - loop.time()
                if left is not None and left <= 0:
                    return None
                ev = await self.recv(left)
                if ev is None:
                    return None
                if isinstance(ev, FinalThought) and ev.correlation_id == correlation_id:
                    return ev
                held.append(ev)
        finally:
            self.unread(held)
