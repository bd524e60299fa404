"""Typed views of published messages: one dataclass per topic, plus Gap and Restart.

:func:`event_from` turns one ``(topic, body)`` into a :class:`FinalThought`,
:class:`TokenThought`, :class:`PerceptEvent`, :class:`MemoryEvent`,
:class:`StatusEvent` or (any other topic) :class:`OtherEvent`. Every one of
them carries the common fields ``topic``, ``boot_id``, ``seq``, ``ts`` (unix
ms) and ``body`` (the JSON dict as received, so fields this version does not
know are never lost).

:class:`Gap` and :class:`Restart` are not published by the daemon: the
:class:`~aiki_bridge.Thoughts` subscriber makes them from ``seq`` and
``boot_id`` and hands them out just before the message that revealed them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Union


def _int(v: Any) -> Optional[int]:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _str(v: Any) -> Optional[str]:
    return v if isinstance(v, str) else None


@dataclass
class Event:
    """Fields common to every published topic."""
    topic: str = ""
    boot_id: Optional[str] = None
    seq: Optional[int] = None
    ts: Optional[int] = None
    body: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def correlation_id(self) -> Optional[str]:
        """percept_id if present, else request_id (None for events without either)."""
        return _str(self.body.get("percept_id")) or _str(self.body.get("request_id"))


@dataclass
class FinalThought(Event):
    """``thought.final``: the one answer to a percept (or a reminder/reflection).

    ``kind`` is ``response``, ``reminder`` or ``reflection``; ``source`` is
    ``template:<name>``, ``llm`` or ``error``; ``memories`` are the ids of the
    memories used; ``timings_ms`` has one entry per stage (perceive, embed,
    recall, compose, generate) and ``total``. ``error`` is ``{code, message}``
    when composing or generating failed (the text may then be empty).
    """
    percept_id: Optional[str] = None
    request_id: Optional[str] = None
    kind: Optional[str] = None
    text: str = ""
    source: Optional[str] = None
    memories: List[int] = field(default_factory=list)
    timings_ms: Dict[str, float] = field(default_factory=dict)
    user: Optional[str] = None
    error: Optional[Dict[str, Any]] = None

    @property
    def template(self) -> Optional[str]:
        """The template's name when ``source`` is ``template:<name>``, else None."""
        if self.source and self.source.startswith("template:"):
            return self.source[len("template:"):]
        return None

    @property
    def failed(self) -> bool:
        """True when the thought carries an error instead of (or with) an answer."""
        return self.error is not None


@dataclass
class TokenThought(Event):
    """``thought.token``: one streamed piece (whole UTF-8 characters) of an answer.

    It carries ``percept_id`` (a percept's answer) or ``request_id`` (a
    ``generate`` with ``stream``), and its position ``index`` (0, 1, …).
    """
    percept_id: Optional[str] = None
    request_id: Optional[str] = None
    index: Optional[int] = None
    text: str = ""


@dataclass
class PerceptEvent(Event):
    """``percept``: a percept was accepted (before its thought)."""
    percept_id: Optional[str] = None
    user: Optional[str] = None
    source: Optional[str] = None


@dataclass
class MemoryEvent(Event):
    """``memory.event``: a memory was added, updated or deleted.

    ``event`` is the change (e.g. ``ADD``, ``UPDATE``, ``DELETE``) as the
    daemon names it; any other field stays in ``body``.
    """
    event: Optional[str] = None
    memory_id: Optional[int] = None
    user: Optional[str] = None
    text: Optional[str] = None


@dataclass
class StatusEvent(Event):
    """``status``: the daemon's state changed (an actor up/down, a reload, …).

    ``status`` is the state word and ``message`` the human text when the
    daemon sends them; the rest stays in ``body``.
    """
    status: Optional[str] = None
    actor: Optional[str] = None
    message: Optional[str] = None


@dataclass
class OtherEvent(Event):
    """A topic this version of the bridge does not know (its body is in ``body``)."""


@dataclass
class Gap:
    """Messages of ``topic`` were lost just before the one with ``seq``.

    ``missed`` is how many (a jump in the per-topic ``seq``). The subscriber
    fell behind the daemon's high-water mark, or the daemon dropped them.
    """
    topic: str
    missed: int
    seq: Optional[int] = None
    boot_id: Optional[str] = None


@dataclass
class Restart:
    """The daemon restarted: ``boot_id`` is new and its sequences began again.

    ``previous_boot_id`` is the start seen before; messages published while
    no daemon ran are unknowable, so a restart is never counted as a gap.
    """
    boot_id: Optional[str]
    previous_boot_id: Optional[str]


ThoughtEvent = Union[FinalThought, TokenThought, PerceptEvent, MemoryEvent, StatusEvent,
                     OtherEvent, Gap, Restart]


def event_from(topic: str, body: Dict[str, Any]) -> Event:
    """The typed event of one published message (never fails: odd fields become None)."""
    common = dict(topic=topic, boot_id=_str(body.get("boot_id")), seq=_int(body.get("seq")),
                  ts=_int(body.get("ts")), body=body)
    if topic == "thought.final":
        timings = body.get("timings_ms")
        mems = body.get("memories")
        err = body.get("error")
        return FinalThought(**common, percept_id=_str(body.get("percept_id")),
                            request_id=_str(body.get("request_id")), kind=_str(body.get("kind")),
                            text=_str(body.get("text")) or "", source=_str(body.get("source")),
                            memories=[m for m in mems if _int(m) is not None]
                            if isinstance(mems, list) else [],
                            timings_ms=dict(timings) if isinstance(timings, dict) else {},
                            user=_str(body.get("user")),
                            error=dict(err) if isinstance(err, dict) else None)
    if topic == "thought.token":
        return TokenThought(**common, percept_id=_str(body.get("percept_id")),
                            request_id=_str(body.get("request_id")), index=_int(body.get("index")),
                            text=_str(body.get("text")) or "")
    if topic == "percept":
        return PerceptEvent(**common, percept_id=_str(body.get("percept_id")),
                            user=_str(body.get("user")), source=_str(body.get("source")))
    if topic == "memory.event":
        mid = body.get("memory_id", body.get("id"))
        return MemoryEvent(**common, event=_str(body.get("event")), memory_id=_int(mid),
                           user=_str(body.get("user")), text=_str(body.get("text")))
    if topic == "status":
        return StatusEvent(**common, status=_str(body.get("status", body.get("state"))),
                           actor=_str(body.get("actor")), message=_str(body.get("message")))
    return OtherEvent(**common)
