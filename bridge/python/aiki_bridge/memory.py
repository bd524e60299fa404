"""mem0-shaped Memory over aikid's memory ops.

``from aiki_bridge import Memory`` in place of ``from mem0 import Memory``:
the methods and their return shapes are those of mem0's ``Memory``
(mem0ai 2.x): ``add``, ``search``, ``get``, ``get_all``, ``update``,
``delete``, ``delete_all``, ``history``. What differs, and why:

* Ids are aikid's integer ids as strings (``"42"``); methods take either.
* ``add`` stores each message's text (mem0's ``infer=False`` path): aikid's
  own learning path extracts facts from percepts, so ``infer`` is accepted
  and ignored. A near-duplicate of an existing memory of the same user is
  merged by the daemon and reported with ``"event": "UPDATE"``.
* Scope: ``user_id`` is aikid's ``user``; ``agent_id`` and ``run_id`` are
  kept in the memory's metadata and filtered on it. Both mem0 spellings are
  accepted: ``search(q, user_id="u")`` (1.x) and
  ``search(q, filters={"user_id": "u"})`` (2.x); likewise ``limit``/``top_k``.
* Filters: a field equal to a value, ``{"eq": v}`` or ``{"in": [...]}``,
  combined with AND; other mem0 operators raise ValueError.
* ``score`` is the cosine similarity (higher is closer); ``threshold``
  drops hits below it (mem0 applies 0.1 by default; here none unless given).

Each method is written once as a plan (a generator that yields requests
and receives replies) and run by :class:`Memory` (blocking) or
:class:`AsyncMemory` (asyncio).
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any, Dict, Generator, List, Optional, Tuple, Union

from .client import Client
from .errors import NotFound

Req = Tuple[str, Dict[str, Any]]
Plan = Generator[Req, Dict[str, Any], Any]

# Keys mem0 lifts out of metadata onto the result item.
PROMOTED = ("user_id", "agent_id", "run_id", "actor_id", "role")
SCOPE_IN_META = ("agent_id", "run_id")
DEFAULT_LIST_LIMIT = 100
DEFAULT_SEARCH_LIMIT = 100


class MemoryNotFoundError(NotFound, ValueError):
    """The memory id does not exist (mem0 raises ValueError here)."""


# -- conversions ---------------------------------------------------------------

def iso_time(t: Any) -> Optional[str]:
    """A wire time as mem0's ISO-8601 string.

    Numbers are unix time (milliseconds when larger than 1e11, else
    seconds); strings pass through; None stays None.
    """
    if t is None or isinstance(t, str):
        return t
    if isinstance(t, (int, float)) and not isinstance(t, bool):
        secs = t / 1000.0 if abs(t) > 1e11 else float(t)
        return datetime.fromtimestamp(secs, tz=timezone.utc).isoformat()
    return str(t)


def memory_hash(text: str) -> str:
    """mem0's ``hash`` of a memory: md5 of its text."""
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def wire_id(memory_id: Union[int, str]) -> int:
    from .protocol import memory_id_wire
    return memory_id_wire(memory_id)


def item_from_wire(m: Dict[str, Any], score: bool = False) -> Dict[str, Any]:
    """A wire memory (or search hit) as a mem0 result item."""
    text = m.get("text", m.get("memory", "")) or ""
    meta = dict(m.get("meta") or {})
    item: Dict[str, Any] = {
        "id": str(m.get("id", m.get("memory_id"))),
        "memory": text,
        "hash": memory_hash(text),
        "metadata": None,
        "created_at": iso_time(m.get("created", m.get("created_at"))),
        "updated_at": iso_time(m.get("updated", m.get("updated_at"))),
    }
    if score:
        item["score"] = m.get("score")
    user = m.get("user")
    if user is not None:
        item["user_id"] = user
    for k in PROMOTED:
        if k in meta:
            item[k] = meta.pop(k)
    if meta:
        item["metadata"] = meta
    return item


def history_from_wire(memory_id: int, events: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Wire history events as mem0's history rows (oldest first)."""
    out = []
    for i, e in enumerate(events):
        ev = str(e.get("event", "")).upper()
        if ev == "DEDUP":
            ev = "UPDATE"
        at = iso_time(e.get("at"))
        out.append({
            "id": str(e.get("id", i + 1)),
            "memory_id": str(memory_id),
            "old_memory": e.get("old"),
            "new_memory": e.get("new"),
            "event": ev,
            "created_at": at,
            "updated_at": at if ev != "ADD" else None,
            "is_deleted": ev == "DELETE",
            "actor_id": e.get("actor_id"),
            "role": e.get("role"),
        })
    return out


def scope_split(user_id: Optional[str], agent_id: Optional[str], run_id: Optional[str],
                filters: Optional[Dict[str, Any]]) -> Tuple[Optional[str], Optional[Dict[str, Any]]]:
    """(wire user, wire filter) from mem0's scope arguments and filters.

    Raises ValueError for a filter operator aikid does not serve, or for a
    user given twice with different values.
    """
    f = dict(filters or {})
    fu = f.pop("user_id", None)
    if user_id is not None and fu is not None and fu != user_id:
        raise ValueError(f"user_id={user_id!r} and filters['user_id']={fu!r} disagree")
    user = user_id if user_id is not None else fu
    wire: Dict[str, Any] = {}
    for key, val in (("agent_id", agent_id), ("run_id", run_id)):
        if val is not None:
            wire[key] = val
    for key in ("AND", "OR", "NOT"):
        if key in f:
            if key == "AND" and isinstance(f[key], list):
                for sub in f.pop(key):
                    _, subw = scope_split(None, None, None, sub)
                    wire.update(subw or {})
            else:
                raise ValueError(f"filter {key!r} is not supported by aikid (fields are ANDed; "
                                 f"use equality or {{'in': [...]}})")
    for key, cond in f.items():
        wire[key] = _condition(key, cond)
    return user, (wire or None)


def _condition(key: str, cond: Any) -> Any:
    if isinstance(cond, dict):
        if set(cond) == {"eq"}:
            return cond["eq"]
        if set(cond) == {"in"} and isinstance(cond["in"], list):
            return {"in": cond["in"]}
        raise ValueError(f"filter on {key!r}: operator(s) {sorted(cond)} not supported by aikid "
                         f"(supported: a value, {{'eq': v}}, {{'in': [...]}})")
    if cond == "*":
        raise ValueError(f"filter on {key!r}: wildcard '*' is not supported by aikid")
    return cond


def messages_normalise(messages: Any) -> List[Dict[str, Any]]:
    """mem0's accepted inputs (str, dict, list of dicts) as a list of messages."""
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    if isinstance(messages, dict):
        return [messages]
    if isinstance(messages, list):
        return messages
    raise ValueError(f"messages must be str, dict or list[dict], got {type(messages).__name__}")


# -- plans: each yields (op, fields) and receives the ok reply -------------------

def plan_add(messages: Any, user_id: Optional[str], agent_id: Optional[str],
             run_id: Optional[str], metadata: Optional[Dict[str, Any]]) -> Plan:
    base = dict(metadata or {})
    for k, v in (("agent_id", agent_id), ("run_id", run_id)):
        if v is not None:
            base[k] = v
    results = []
    for msg in messages_normalise(messages):
        if not isinstance(msg, dict) or msg.get("role") is None or msg.get("content") is None:
            continue  # mem0 skips malformed messages too
        if msg["role"] == "system":
            continue
        text = msg["content"]
        if not isinstance(text, str) or not text.strip():
            continue
        meta = dict(base)
        meta["role"] = msg["role"]
        if msg.get("name"):
            meta["actor_id"] = msg["name"]
        reply = yield ("memory.add", {"text": text, "user": user_id, "meta": meta})
        item = {"id": str(reply.get("memory_id")), "memory": text,
                "event": "UPDATE" if reply.get("deduplicated") else "ADD"}
        if msg.get("name"):
            item["actor_id"] = msg["name"]
        item["role"] = msg["role"]
        results.append(item)
    return {"results": results}


def plan_search(query: str, user_id: Optional[str], agent_id: Optional[str],
                run_id: Optional[str], limit: Optional[int], filters: Optional[Dict[str, Any]],
                threshold: Optional[float]) -> Plan:
    user, wire_filter = scope_split(user_id, agent_id, run_id, filters)
    reply = yield ("memory.search", {"query": query, "user": user, "filter": wire_filter,
                                     "top_k": limit if limit is not None else DEFAULT_SEARCH_LIMIT})
    hits = [item_from_wire(h, score=True) for h in reply.get("hits") or []]
    if threshold is not None:
        hits = [h for h in hits if h["score"] is not None and h["score"] >= threshold]
    return {"results": hits}


def plan_get(memory_id: Union[int, str]) -> Plan:
    mid = wire_id(memory_id)
    try:
        reply = yield ("memory.get", {"memory_id": mid})
    except NotFound:
        return None
    if isinstance(reply.get("memory"), dict):
        return item_from_wire(reply["memory"])
    # The memory's fields at the top level of the reply, whose "id" is the request's.
    return item_from_wire({**reply, "id": reply.get("memory_id", mid)})


def plan_get_all(user_id: Optional[str], agent_id: Optional[str], run_id: Optional[str],
                 filters: Optional[Dict[str, Any]], limit: Optional[int]) -> Plan:
    user, wire_filter = scope_split(user_id, agent_id, run_id, filters)
    reply = yield ("memory.list", {"user": user, "filter": wire_filter,
                                   "limit": limit if limit is not None else DEFAULT_LIST_LIMIT})
    return {"results": [item_from_wire(m) for m in reply.get("memories") or []]}


def _not_found(memory_id: Any, e: NotFound) -> MemoryNotFoundError:
    return MemoryNotFoundError(f"Memory with id {memory_id} not found ({e.message})",
                               request_id=e.request_id, reply=e.reply)


def plan_update(memory_id: Union[int, str], text: Optional[str],
                metadata: Optional[Dict[str, Any]]) -> Plan:
    if text is None and metadata is None:
        raise ValueError("update needs the new text (data=/text=) or metadata")
    try:
        yield ("memory.update", {"memory_id": wire_id(memory_id), "text": text, "meta": metadata})
    except NotFound as e:
        raise _not_found(memory_id, e) from None
    return {"message": "Memory updated successfully!"}


def plan_delete(memory_id: Union[int, str]) -> Plan:
    try:
        yield ("memory.delete", {"memory_id": wire_id(memory_id)})
    except NotFound as e:
        raise _not_found(memory_id, e) from None
    return {"message": "Memory deleted successfully!"}


def plan_delete_all(user_id: Optional[str], agent_id: Optional[str],
                    run_id: Optional[str]) -> Plan:
    if user_id is None:
        if agent_id is not None or run_id is not None:
            raise ValueError("aikid's delete_all is scoped by user: pass user_id")
        raise ValueError("At least one filter is required to delete all memories "
                         "(aikid: user_id).")
    if agent_id is not None or run_id is not None:
        # Narrower than a user: delete that user's memories matching the scope, one by one.
        _, wire_filter = scope_split(None, agent_id, run_id, None)
        seen: set = set()
        while True:
            page = yield ("memory.list", {"user": user_id, "filter": wire_filter, "limit": 1000})
            ids = [m.get("id") for m in page.get("memories") or []]
            if not ids or seen.issuperset(ids):
                break  # done, or the daemon keeps listing what it deleted: stop, don't spin
            seen.update(ids)
            for i in ids:
                try:
                    yield ("memory.delete", {"memory_id": i})
                except NotFound:
                    pass  # deleted meanwhile: the goal is reached
        return {"message": "Memories deleted successfully!"}
    yield ("memory.delete_all", {"user": user_id})
    return {"message": "Memories deleted successfully!"}


def plan_history(memory_id: Union[int, str]) -> Plan:
    mid = wire_id(memory_id)
    try:
        reply = yield ("memory.history", {"memory_id": mid})
    except NotFound:
        return []
    return history_from_wire(mid, reply.get("events") or [])


# -- runners ----------------------------------------------------------------------

class _Api:
    """The mem0 method surface; ``_run`` executes a plan."""

    def _run(self, plan: Plan) -> Any:  # pragma: no cover - provided by subclasses
        raise NotImplementedError

    def add(self, messages: Any, *, user_id: Optional[str] = None,
            agent_id: Optional[str] = None, run_id: Optional[str] = None,
            metadata: Optional[Dict[str, Any]] = None, infer: bool = True,
            memory_type: Optional[str] = None, prompt: Optional[str] = None,
            **kwargs: Any) -> Any:
        """Store each non-system message → ``{"results": [{"id","memory","event"}]}``."""
        return self._run(plan_add(messages, user_id, agent_id, run_id, metadata))

    def search(self, query: str, *, user_id: Optional[str] = None,
               agent_id: Optional[str] = None, run_id: Optional[str] = None,
               limit: Optional[int] = None, top_k: Optional[int] = None,
               filters: Optional[Dict[str, Any]] = None, threshold: Optional[float] = None,
               **kwargs: Any) -> Any:
        """Semantic search → ``{"results": [{"id","memory","score","metadata",…}]}``, best first."""
        return self._run(plan_search(query, user_id, agent_id, run_id,
                                     top_k if top_k is not None else limit, filters, threshold))

    def get(self, memory_id: Union[int, str]) -> Any:
        """One memory as a mem0 item, or None if it does not exist."""
        return self._run(plan_get(memory_id))

    def get_all(self, *, user_id: Optional[str] = None, agent_id: Optional[str] = None,
                run_id: Optional[str] = None, filters: Optional[Dict[str, Any]] = None,
                limit: Optional[int] = None, top_k: Optional[int] = None,
                **kwargs: Any) -> Any:
        """List memories → ``{"results": [...]}``."""
        return self._run(plan_get_all(user_id, agent_id, run_id, filters,
                                      top_k if top_k is not None else limit))

    def update(self, memory_id: Union[int, str], data: Optional[str] = None, *,
               text: Optional[str] = None, metadata: Optional[Dict[str, Any]] = None) -> Any:
        """Replace a memory's text (and/or metadata) → ``{"message": …}``.

        Raises MemoryNotFoundError (a ValueError) if the id does not exist.
        """
        return self._run(plan_update(memory_id, text if text is not None else data, metadata))

    def delete(self, memory_id: Union[int, str]) -> Any:
        """Delete one memory → ``{"message": …}``; MemoryNotFoundError if absent."""
        return self._run(plan_delete(memory_id))

    def delete_all(self, user_id: Optional[str] = None, agent_id: Optional[str] = None,
                   run_id: Optional[str] = None) -> Any:
        """Delete a user's memories (optionally only an agent's/run's) → ``{"message": …}``."""
        return self._run(plan_delete_all(user_id, agent_id, run_id))

    def history(self, memory_id: Union[int, str]) -> Any:
        """The memory's changes, oldest first, as mem0's history rows."""
        return self._run(plan_history(memory_id))

    def reset(self) -> Any:
        """Not offered: aikid deletes by user only (``delete_all(user_id=…)``)."""
        raise NotImplementedError("aikid has no global reset; use delete_all(user_id=...)")


class Memory(_Api):
    """Blocking mem0-shaped Memory. ``Memory(client=None, endpoint=None, timeout=5.0)``."""

    def __init__(self, client: Optional[Client] = None, *, endpoint: Optional[str] = None,
                 timeout: float = 5.0) -> None:
        self._own = client is None
        self.client = client or Client(endpoint, timeout=timeout)

    @classmethod
    def from_config(cls, config_dict: Optional[Dict[str, Any]] = None) -> "Memory":
        """mem0's constructor; reads ``{"aikid": {"endpoint": …, "timeout": …}}``, ignores the rest."""
        cfg = (config_dict or {}).get("aikid", {})
        return cls(endpoint=cfg.get("endpoint"), timeout=cfg.get("timeout", 5.0))

    def _run(self, plan: Plan) -> Any:
        try:
            op, fields = next(plan)
            while True:
                try:
                    reply = self.client.request(op, **fields)
                except Exception as e:  # handed to the plan, which re-raises what it can't use
                    op, fields = plan.throw(e)
                else:
                    op, fields = plan.send(reply)
        except StopIteration as stop:
            return stop.value

    def close(self) -> None:
        if self._own:
            self.client.close()

    def __enter__(self) -> "Memory":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class AsyncMemory(_Api):
    """asyncio mem0-shaped Memory (mem0's ``AsyncMemory``): same methods, awaited."""

    def __init__(self, client: Any = None, *, endpoint: Optional[str] = None,
                 timeout: float = 5.0) -> None:
        from .aio import AsyncClient
        self._own = client is None
        self.client = client or AsyncClient(endpoint, timeout=timeout)

    async def _drive(self, plan: Plan) -> Any:
        try:
            op, fields = next(plan)
            while True:
                try:
                    reply = await self.client.request(op, **fields)
                except Exception as e:  # handed to the plan, which re-raises what it can't use
                    op, fields = plan.throw(e)
                else:
                    op, fields = plan.send(reply)
        except StopIteration as stop:
            return stop.value

    def _run(self, plan: Plan) -> Any:
        return self._drive(plan)

    async def reset(self) -> Any:  # type: ignore[override]
        raise NotImplementedError("aikid has no global reset; use delete_all(user_id=...)")

    async def close(self) -> None:
        if self._own:
            await self.client.close()

    async def __aenter__(self) -> "AsyncMemory":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
