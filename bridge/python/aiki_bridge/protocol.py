"""Wire protocol v1: building requests, reading replies, and the op table.

A request is one UTF-8 JSON frame ``{"v":1, "op":…, "id":…, …fields}``; a
reply is ``{"v":1, "id":…, "ok":true, …}`` or ``{"v":1, "id":…, "ok":false,
"error":{"code":…, "message":…}}``.  :class:`Ops` gives one thin method per
op of the architecture's table; it is shared by the blocking
:class:`~aiki_bridge.Client` and the asyncio
:class:`~aiki_bridge.AsyncClient` (whose methods therefore return
awaitables).
"""
from __future__ import annotations

import json
import uuid
from typing import Any, Dict, Iterable, List, Optional, Sequence, Union

from .errors import ProtocolError, error_from_reply

VERSION = 1

# op name -> the thin method that sends it (documentation and CLI use).
OPS = {
    "ping": "ping",
    "perceive": "perceive",
    "memory.add": "memory_add",
    "memory.search": "memory_search",
    "memory.get": "memory_get",
    "memory.update": "memory_update",
    "memory.delete": "memory_delete",
    "memory.list": "memory_list",
    "memory.history": "memory_history",
    "memory.delete_all": "memory_delete_all",
    "kg.add": "kg_add",
    "kg.query": "kg_query",
    "kg.delete": "kg_delete",
    "kg.entities": "kg_entities",
    "generate": "generate",
    "cancel": "cancel",
    "embed": "embed",
    "tokenize": "tokenize",
    "model.info": "model_info",
    "reminder.list": "reminder_list",
    "reminder.snooze": "reminder_snooze",
    "reminder.done": "reminder_done",
    "reminder.delete": "reminder_delete",
    "user.timezone": "user_timezone",
}


def new_request_id() -> str:
    """A fresh request token (uuid4, 32 hex digits)."""
    return uuid.uuid4().hex


def request_encode(op: str, request_id: str, fields: Dict[str, Any],
                   deadline_ms: Optional[int] = None) -> bytes:
    """The request frame for ``op``. Fields whose value is None are left out.

    Raises TypeError (from json) when a field is not JSON-serialisable.
    """
    msg: Dict[str, Any] = {"v": VERSION, "op": op, "id": request_id}
    if deadline_ms is not None:
        msg["deadline_ms"] = int(deadline_ms)
    for k, v in fields.items():
        if v is not None:
            msg[k] = v
    return json.dumps(msg, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def reply_decode(frame: bytes) -> Dict[str, Any]:
    """Parse one reply frame into a dict.

    Raises ProtocolError when the frame is not UTF-8 JSON or not an object.
    """
    try:
        msg = json.loads(frame.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ProtocolError(f"reply is not UTF-8 JSON ({e}): {frame[:80]!r}") from None
    if not isinstance(msg, dict):
        raise ProtocolError(f"reply is not a JSON object: {frame[:80]!r}")
    return msg


def reply_payload(frames: Sequence[bytes]) -> bytes:
    """The JSON frame of a multipart reply seen by a DEALER.

    The daemon's ROUTER answers a REQ-style request with ``[b"", payload]``
    and a bare DEALER request with ``[payload]``; both are accepted.
    Raises ProtocolError for any other shape.
    """
    if not frames:
        raise ProtocolError("empty reply message")
    *envelope, payload = frames
    if any(len(f) for f in envelope):
        raise ProtocolError(f"unexpected envelope frames before the reply: {list(envelope)!r}")
    return payload


def reply_check(reply: Dict[str, Any]) -> Dict[str, Any]:
    """Return the reply if ``ok`` is true, else raise its AikidError subclass."""
    ok = reply.get("ok")
    if ok is True:
        return reply
    if ok is False:
        raise error_from_reply(reply)
    raise ProtocolError(f"reply without a boolean 'ok': {reply!r}", request_id=reply.get("id"),
                        reply=reply)


def memory_id_wire(memory_id: Union[int, str]) -> int:
    """A memory or entity id as the wire wants it (a JSON integer).

    mem0 code passes string ids; "42" and 42 are both accepted.
    Raises ValueError for anything that is not an integer id.
    """
    if isinstance(memory_id, bool):
        raise ValueError(f"memory_id must be an integer id, got {memory_id!r}")
    if isinstance(memory_id, int):
        return memory_id
    try:
        return int(str(memory_id).strip(), 10)
    except ValueError:
        raise ValueError(f"memory_id must be an integer id (or its decimal string), "
                         f"got {memory_id!r}") from None


class Ops:
    """One thin method per op; subclasses provide ``request(op, **fields)``.

    Every method also takes the keyword arguments of ``request``:
    ``timeout`` (seconds), ``deadline_ms`` (sent to the daemon),
    ``request_id`` (your own token, e.g. to ``cancel`` it later) and any
    extra wire field. Fields left as None are not sent.
    """

    def request(self, op: str, **fields: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- liveness -----------------------------------------------------------
    def ping(self, **kw: Any) -> Any:
        """``ping`` → ``pong``, ``version``, ``boot_id``."""
        return self.request("ping", **kw)

    # -- the thought loop ---------------------------------------------------
    def perceive(self, text: str, user: Optional[str] = None, source: Optional[str] = None,
                 meta: Optional[Dict[str, Any]] = None, **kw: Any) -> Any:
        """``perceive`` → ``percept_id``; the thought follows on the PUB socket."""
        return self.request("perceive", text=text, user=user, source=source, meta=meta, **kw)

    # -- memory -------------------------------------------------------------
    def memory_add(self, text: str, user: Optional[str] = None,
                   meta: Optional[Dict[str, Any]] = None,
                   vector: Optional[Sequence[float]] = None, **kw: Any) -> Any:
        """``memory.add`` → ``memory_id``, ``deduplicated``."""
        return self.request("memory.add", text=text, user=user, meta=meta,
                            vector=_vector(vector), **kw)

    def memory_search(self, query: Optional[str] = None, vector: Optional[Sequence[float]] = None,
                      top_k: Optional[int] = None, user: Optional[str] = None,
                      filter: Optional[Dict[str, Any]] = None, since: Any = None,
                      until: Any = None, **kw: Any) -> Any:
        """``memory.search`` → ``hits``: [{id, text, score, meta, user, created}]."""
        return self.request("memory.search", query=query, vector=_vector(vector), top_k=top_k,
                            user=user, filter=filter, since=since, until=until, **kw)

    def memory_get(self, memory_id: Union[int, str], **kw: Any) -> Any:
        """``memory.get`` → the memory."""
        return self.request("memory.get", memory_id=memory_id_wire(memory_id), **kw)

    def memory_update(self, memory_id: Union[int, str], text: Optional[str] = None,
                      meta: Optional[Dict[str, Any]] = None, **kw: Any) -> Any:
        """``memory.update`` → ``updated``."""
        return self.request("memory.update", memory_id=memory_id_wire(memory_id), text=text,
                            meta=meta, **kw)

    def memory_delete(self, memory_id: Union[int, str], **kw: Any) -> Any:
        """``memory.delete`` → ``deleted``."""
        return self.request("memory.delete", memory_id=memory_id_wire(memory_id), **kw)

    def memory_list(self, user: Optional[str] = None, filter: Optional[Dict[str, Any]] = None,
                    limit: Optional[int] = None, offset: Optional[int] = None, **kw: Any) -> Any:
        """``memory.list`` → ``memories``, ``total``."""
        return self.request("memory.list", user=user, filter=filter, limit=limit,
                            offset=offset, **kw)

    def memory_history(self, memory_id: Union[int, str], **kw: Any) -> Any:
        """``memory.history`` → ``events``: [{event, old, new, at}]."""
        return self.request("memory.history", memory_id=memory_id_wire(memory_id), **kw)

    def memory_delete_all(self, user: str, **kw: Any) -> Any:
        """``memory.delete_all`` (a user is required) → ``deleted``."""
        if not user:
            raise ValueError("memory_delete_all needs a user")
        return self.request("memory.delete_all", user=user, **kw)

    # -- knowledge graph ----------------------------------------------------
    # ``user``: whose graph (None or "" = the shared graph). A user reads their
    # own facts and the shared ones, never another user's.
    def kg_add(self, triples: Iterable[Sequence[Any]], user: Optional[str] = None,
               **kw: Any) -> Any:
        """``kg.add`` with [[subject, relation, object, attrs?], …] → ``added``."""
        return self.request("kg.add", triples=[list(t) for t in triples], user=user, **kw)

    def kg_query(self, entity: str, depth: Optional[int] = None, user: Optional[str] = None,
                 **kw: Any) -> Any:
        """``kg.query`` → ``facts`` (each with its ``user``; "" = shared)."""
        return self.request("kg.query", entity=entity, depth=depth, user=user, **kw)

    def kg_delete(self, entity: Optional[str] = None, triple: Optional[Sequence[Any]] = None,
                  user: Optional[str] = None, **kw: Any) -> Any:
        """``kg.delete`` of an entity or of one triple of ``user``'s graph → ``deleted``."""
        if (entity is None) == (triple is None):
            raise ValueError("kg_delete needs exactly one of entity or triple")
        return self.request("kg.delete", entity=entity,
                            triple=list(triple) if triple is not None else None, user=user, **kw)

    def kg_entities(self, prefix: Optional[str] = None, limit: Optional[int] = None,
                    user: Optional[str] = None, **kw: Any) -> Any:
        """``kg.entities`` → ``entities`` (the user's and the shared ones, each with its ``user``)."""
        return self.request("kg.entities", prefix=prefix, limit=limit, user=user, **kw)

    # -- reminders (said in words to perceive; these list and change them) ---
    def reminder_list(self, user: str, all: Optional[bool] = None, **kw: Any) -> Any:
        """``reminder.list`` → ``reminders`` (pending, soonest first; ``all`` adds fired and done), ``timezone``."""
        return self.request("reminder.list", user=user, all=all, **kw)

    def reminder_snooze(self, user: str, reminder_id: int, minutes: Optional[int] = None,
                        until: Optional[int] = None, **kw: Any) -> Any:
        """``reminder.snooze`` by ``minutes`` from now or to ``until`` (unix ms) → ``reminder``."""
        if (minutes is None) == (until is None):
            raise ValueError("reminder_snooze needs exactly one of minutes or until")
        return self.request("reminder.snooze", user=user, reminder_id=reminder_id, minutes=minutes,
                            until=until, **kw)

    def reminder_done(self, user: str, reminder_id: int, **kw: Any) -> Any:
        """``reminder.done`` → ``reminder`` (state done; a repeating one stops)."""
        return self.request("reminder.done", user=user, reminder_id=reminder_id, **kw)

    def reminder_delete(self, user: str, reminder_id: int, **kw: Any) -> Any:
        """``reminder.delete`` → ``deleted``."""
        return self.request("reminder.delete", user=user, reminder_id=reminder_id, **kw)

    def user_timezone(self, user: str, timezone: Optional[str] = None, **kw: Any) -> Any:
        """``user.timezone``: set the user's IANA zone ("" clears it) or read it → ``timezone``, ``source``."""
        return self.request("user.timezone", user=user, timezone=timezone, **kw)

    # -- models -------------------------------------------------------------
    def generate(self, prompt: Optional[str] = None,
                 messages: Optional[List[Dict[str, str]]] = None,
                 max_tokens: Optional[int] = None, stream: Optional[bool] = None,
                 schema: Optional[Dict[str, Any]] = None, *,
                 temperature: Optional[float] = None, top_k: Optional[int] = None,
                 top_p: Optional[float] = None, min_p: Optional[float] = None,
                 repeat_penalty: Optional[float] = None,
                 frequency_penalty: Optional[float] = None,
                 presence_penalty: Optional[float] = None, penalty_last_n: Optional[int] = None,
                 seed: Optional[int] = None, stop: Union[None, str, Sequence[str]] = None,
                 **kw: Any) -> Any:
        """``generate`` → ``text``, ``tokens``, ``timings``, ``finish_reason``, ``seed``.

        The sampling fields are the daemon's (llama.cpp semantics; None = the
        daemon's default); ``stop`` is a string or a list of them; ``schema``
        a JSON schema the output must follow. With ``stream=True`` the pieces
        are published as ``thought.token`` carrying this request's id (see
        ``generate_stream``). ``deadline_ms``, ``timeout`` and ``request_id``
        go through ``kw`` like any other wire field.
        """
        if (prompt is None) == (messages is None):
            raise ValueError("generate needs exactly one of prompt or messages")
        if stop is not None and not isinstance(stop, str):
            stop = list(stop)
        return self.request("generate", prompt=prompt, messages=messages,
                            max_tokens=max_tokens, stream=stream, schema=schema,
                            temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p,
                            repeat_penalty=repeat_penalty, frequency_penalty=frequency_penalty,
                            presence_penalty=presence_penalty, penalty_last_n=penalty_last_n,
                            seed=seed, stop=stop, **kw)

    def cancel(self, target: str, **kw: Any) -> Any:
        """``cancel`` a request id or percept id → ``cancelled``."""
        return self.request("cancel", target=target, **kw)

    def embed(self, texts: Union[str, Sequence[str]], **kw: Any) -> Any:
        """``embed`` → ``vectors``, ``dim``, ``truncated``. A lone string is sent as [text]."""
        if isinstance(texts, str):
            texts = [texts]
        return self.request("embed", texts=list(texts), **kw)

    def tokenize(self, text: str, **kw: Any) -> Any:
        """``tokenize`` → ``tokens``."""
        return self.request("tokenize", text=text, **kw)

    def model_info(self, **kw: Any) -> Any:
        """``model.info`` → models loaded, context size, vocab, quantisation."""
        return self.request("model.info", **kw)


def _vector(v: Optional[Sequence[float]]) -> Optional[List[float]]:
    if v is None:
        return None
    if hasattr(v, "tolist"):  # numpy arrays without importing numpy
        v = v.tolist()
    return [float(x) for x in v]
