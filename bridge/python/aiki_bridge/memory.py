"""mem0-shaped Memory over aikid's memory ops.

``from aiki_bridge import Memory`` in place of ``from mem0 import Memory``:
the methods, their arguments and defaults, their errors and their return
shapes are those of mem0's ``Memory`` / ``AsyncMemory`` (mem0ai 2.x, read
from 2.2.1), and mem0 1.x's calls are accepted too (``user_id=`` / ``limit=``
on ``search`` and ``get_all``, ``update(id, data)``). docs/mem0.md is the
guide: what maps to what, what still differs (measured against mem0 itself by
bridge/python/tests/mem0_diff.py) and why.

Table of contents
  constants, MemoryValidationError, MemoryNotFoundError
  conversions       iso_time, memory_hash, item_from_wire, history_from_wire
  scope             entity_id_checked, scope_of (mem0's "one of user_id/agent_id/run_id"),
                    scope_split (mem0 filters → wire user + filter)
  ids               plan_resolve (aikid id, its decimal string, or an imported mem0 UUID)
  infer             INFER_SYSTEM, INFER_SCHEMA, plan_infer (facts and ADD/UPDATE/DELETE/NONE
                    through the model's schema-constrained generate)
  plans             plan_add, plan_search, plan_get, plan_get_all, plan_update, plan_delete,
                    plan_delete_all, plan_history, plan_reset
  runners           _Api (the method surface), Memory (blocking), AsyncMemory (asyncio)

Each method is written once as a plan (a generator that yields requests
``(op, fields)`` and receives the ok replies) and run by :class:`Memory`
(blocking) or :class:`AsyncMemory` (asyncio). A plan fails with ValueError
(mem0's argument errors, before anything is sent), MemoryNotFoundError (a
ValueError) for an id that does not exist, or the wire error of a request
(an AikidError subclass).
"""
from __future__ import annotations

import hashlib
import json
import re
from datetime import date, datetime, timezone
from typing import Any, Dict, Generator, List, Optional, Tuple, Union

from .client import Client
from .errors import NotFound

Req = Tuple[str, Dict[str, Any]]
Plan = Generator[Req, Dict[str, Any], Any]

ENTITY_KEYS = ("user_id", "agent_id", "run_id")
# mem0 drops these from caller metadata (scope comes from the arguments only)
IDENTITY_KEYS = ENTITY_KEYS + ("actor_id",)
# Keys mem0 lifts out of metadata onto the result item.
PROMOTED = ("user_id", "agent_id", "run_id", "actor_id", "role", "attributed_to", "expiration_date")
PROCEDURAL = "procedural_memory"
# mem0 2.x defaults: search(top_k=20, threshold=0.1), get_all(top_k=20)
DEFAULT_TOP_K = 20
DEFAULT_THRESHOLD = 0.1
WIRE_MAX_TOP_K = 1000      # memory.search's top_k range
WIRE_MAX_LIST = 10000      # memory.list's limit range
# An imported mem0 memory keeps its UUID here (python -m aiki_bridge import-mem0).
MEM0_ID_KEY = "mem0_id"
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_UNSET: Any = object()


class MemoryValidationError(ValueError):
    """A mem0 argument error (mem0 raises its ValidationError or ValueError).

    ``error_code`` is mem0's (``VALIDATION_001`` no scope, ``VALIDATION_002``
    memory_type, ``VALIDATION_003`` messages); ``suggestion`` says what to do.
    """

    def __init__(self, message: str, error_code: str = "", suggestion: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.error_code = error_code
        self.suggestion = suggestion


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


def item_from_wire(m: Dict[str, Any], score: Optional[bool] = False) -> Dict[str, Any]:
    """A wire memory (or search hit) as a mem0 result item.

    ``score``: True puts the hit's score, None puts ``"score": None`` (mem0's
    ``get``), False leaves the key out (mem0's ``get_all``).
    """
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
    if score is True:
        item["score"] = m.get("score")
    elif score is None:
        item["score"] = None
    user = m.get("user")
    if user:
        item["user_id"] = user
    for k in PROMOTED:
        if k in meta:
            item[k] = meta.pop(k)
    if meta:
        item["metadata"] = meta
    return item


def history_from_wire(memory_id: int, events: List[Dict[str, Any]],
                      meta: Optional[Dict[str, Any]] = None) -> List[Dict[str, Any]]:
    """Wire history events as mem0's history rows (oldest first).

    mem0's row: created_at is the memory's creation, updated_at the event's
    time; actor_id and role come from the memory (``meta``, when it still
    exists).
    """
    out = []
    meta = meta or {}
    created = iso_time(events[0].get("at")) if events else None
    for i, e in enumerate(events):
        ev = str(e.get("event", "")).upper()
        if ev == "DEDUP":
            ev = "UPDATE"
        at = iso_time(e.get("at"))
        out.append({
            "id": str(e.get("id", f"{memory_id}-{i + 1}")),  # mem0's are UUIDs; never a memory's id
            "memory_id": str(memory_id),
            "old_memory": e.get("old"),
            "new_memory": e.get("new"),
            "event": ev,
            "created_at": created if ev != "ADD" else at,
            "updated_at": at,
            "is_deleted": ev == "DELETE",
            "actor_id": meta.get("actor_id"),
            "role": meta.get("role"),
        })
    return out


def expiration_checked(value: Any) -> Optional[str]:
    """mem0's expiration_date as YYYY-MM-DD; ValueError for anything else."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            raise ValueError("expiration_date must be a valid date in YYYY-MM-DD format.") from None
    raise ValueError("expiration_date must be a date string in YYYY-MM-DD format.")


def expired(item: Dict[str, Any]) -> bool:
    """Is a result item past its expiration_date (mem0 hides those)?"""
    when = item.get("expiration_date")
    if not when:
        return False
    try:
        return date.fromisoformat(str(when)) < datetime.now(timezone.utc).date()
    except ValueError:
        return False


# -- scope -----------------------------------------------------------------------

def entity_id_checked(value: Any, name: str) -> Optional[str]:
    """mem0's entity id rule: str-coerced, trimmed, not empty, no whitespace inside."""
    if value is None:
        return None
    s = value if isinstance(value, str) else str(value)
    s = s.strip()
    if s == "":
        raise MemoryValidationError(f"Invalid {name}: cannot be empty or whitespace-only. "
                                    f"Provide a valid identifier.")
    if any(c.isspace() for c in s):
        raise MemoryValidationError(f"Invalid {name}: cannot contain whitespace. "
                                    f"Provide a valid identifier without spaces.")
    return s


def no_scope_error() -> MemoryValidationError:
    return MemoryValidationError(
        "At least one of 'user_id', 'agent_id', or 'run_id' must be provided.",
        "VALIDATION_001", "Please provide at least one identifier to scope the memory operation.")


def scope_of(user_id: Any, agent_id: Any, run_id: Any) -> Dict[str, str]:
    """The checked scope ids given (at least one, else MemoryValidationError)."""
    scope = {}
    for k, v in (("user_id", user_id), ("agent_id", agent_id), ("run_id", run_id)):
        v = entity_id_checked(v, k)
        if v:
            scope[k] = v
    if not scope:
        raise no_scope_error()
    return scope


def scope_split(user_id: Optional[str], agent_id: Optional[str], run_id: Optional[str],
                filters: Optional[Dict[str, Any]],
                require: bool = False) -> Tuple[Optional[str], Optional[Dict[str, Any]]]:
    """(wire user, wire filter) from mem0's scope arguments and filters.

    ``require``: one of user_id/agent_id/run_id must be given (as an
    argument or in filters), as mem0's search and get_all require. Raises
    ValueError for that, for a filter operator aikid does not serve, or for
    an id given twice with different values.
    """
    f = dict(filters or {})
    given = {"user_id": user_id, "agent_id": agent_id, "run_id": run_id}
    for k in ENTITY_KEYS:
        if k in f and f[k] is None:
            del f[k]  # None: not given
        if k in f and not isinstance(f[k], (str, int)) or isinstance(f.get(k), bool):
            raise ValueError(f"filters[{k!r}]: aikid takes one id here (a string), not {f[k]!r}")
        if k in f:
            fv = entity_id_checked(f.pop(k), k)
            if given[k] is not None and entity_id_checked(given[k], k) != fv:
                raise ValueError(f"{k}={given[k]!r} and filters[{k!r}]={fv!r} disagree")
            given[k] = fv
        else:
            given[k] = entity_id_checked(given[k], k)
    if require and not any(given[k] for k in ENTITY_KEYS) and not _and_has_scope(f):
        raise ValueError("filters must contain at least one of: user_id, agent_id, run_id. "
                         "Example: filters={'user_id': 'u1'}")
    user = given["user_id"]
    wire: Dict[str, Any] = {}
    for key in ("agent_id", "run_id"):
        if given[key] is not None:
            wire[key] = given[key]
    for key in ("AND", "OR", "NOT"):
        if key in f:
            if key == "AND" and isinstance(f[key], list):
                for sub in f.pop(key):
                    subu, subw = scope_split(None, None, None, sub)
                    if subu is not None:
                        if user is not None and user != subu:
                            raise ValueError(f"user_id {user!r} and {subu!r} in AND disagree")
                        user = subu
                    wire.update(subw or {})
            else:
                raise ValueError(f"filter {key!r} is not supported by aikid (fields are ANDed; "
                                 f"use equality or {{'in': [...]}})")
    for key, cond in f.items():
        wire[key] = _condition(key, cond)
    return user, (wire or None)


def _and_has_scope(f: Dict[str, Any]) -> bool:
    subs = f.get("AND")
    return isinstance(subs, list) and any(isinstance(s, dict) and any(k in s for k in ENTITY_KEYS)
                                          for s in subs)


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


def messages_normalise(messages: Any) -> List[Any]:
    """mem0's accepted inputs (str, dict, list of dicts) as a list of messages."""
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    if isinstance(messages, dict):
        return [messages]
    if isinstance(messages, list):
        return messages
    raise MemoryValidationError("messages must be str, dict, or list[dict]", "VALIDATION_003",
                                "Convert your input to a string, dictionary, or list of dictionaries.")


def usable(msg: Any) -> bool:
    """mem0's rule for a message it stores: a dict with role and content, not system."""
    return (isinstance(msg, dict) and msg.get("role") is not None and msg.get("content") is not None
            and msg["role"] != "system")


def metadata_clean(metadata: Optional[Dict[str, Any]],
                   existing: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Caller metadata without the identity keys (mem0: scope comes from arguments only)."""
    if metadata is not None and not isinstance(metadata, dict):
        raise ValueError(f"metadata must be a dict, got {type(metadata).__name__}")
    return {k: v for k, v in (metadata or {}).items() if k not in IDENTITY_KEYS}


# -- ids --------------------------------------------------------------------------

def plan_resolve(memory_id: Any) -> Plan:
    """aikid's id of ``memory_id``: an integer, its decimal string, or the mem0
    UUID an imported memory keeps in meta (one memory.list). None when no
    imported memory has that UUID. ValueError for anything else.
    """
    try:
        return wire_id(memory_id)
    except ValueError:
        pass
    s = str(memory_id).strip()
    if not UUID_RE.match(s):
        raise ValueError(f"memory_id must be aikid's integer id (or its decimal string) or an "
                         f"imported mem0 UUID, got {memory_id!r}")
    reply = yield ("memory.list", {"filter": {MEM0_ID_KEY: s}, "limit": 1})
    ms = reply.get("memories") or []
    return int(ms[0]["id"]) if ms else None


# -- infer=True: facts through the model ------------------------------------------

# The daemon's own learning path (docs/protocol.md "The learning path") extracts
# triples from percepts; mem0's infer wants sentences and a decision against the
# memories already stored, so this asks for both in one schema-constrained call.
INFER_SYSTEM = (
    "You keep a memory of facts about the user. Read the conversation and the memories already "
    "stored, then answer with JSON {\"memory\": [{\"event\", \"id\", \"text\"}]}.\n"
    "- ADD: a new fact the user stated. id \"\". text: the fact as one short sentence "
    "(\"Likes green tea\", \"Has a sister called Kari\").\n"
    "- UPDATE: a stored memory (its id) that the new facts change. text: the new version.\n"
    "- DELETE: a stored memory (its id) the user says is no longer true. text: that memory.\n"
    "- NONE: a stored memory (its id) that already says the fact.\n"
    "Take facts only from what the user said, never from the assistant's replies. Greetings, "
    "questions and small talk are no facts: answer {\"memory\": []}."
)
INFER_SCHEMA: Dict[str, Any] = {
    "type": "object",
    "properties": {"memory": {"type": "array", "maxItems": 4, "items": {
        "type": "object",
        "properties": {"event": {"type": "string", "enum": ["ADD", "UPDATE", "DELETE", "NONE"]},
                       "id": {"type": "string", "maxLength": 4},
                       "text": {"type": "string", "maxLength": 160}},
        "required": ["event", "id", "text"]}}},
    "required": ["memory"],
}
INFER_TIMEOUT = 120.0  # seconds for the model's answer (a generate waits for the model)
PROCEDURAL_SYSTEM = (
    "Summarise the agent's execution history below so that the agent can continue the task "
    "without ambiguity: the task, each step taken and its result, in order."
)


def infer_prompt(msgs: List[Dict[str, Any]], existing: List[Dict[str, Any]],
                 custom: Optional[str]) -> str:
    lines = ["Stored memories:"]
    lines += [f"[{i}] {h.get('text', '')}" for i, h in enumerate(existing)] or ["(none)"]
    lines.append("")
    lines.append("Conversation:")
    lines += [f"{m['role']}: {m['content']}" for m in msgs]
    if custom:
        lines += ["", "Instructions: " + custom]
    return "\n".join(lines)


WORD_RE = re.compile(r"\w{4,}", re.UNICODE)


def grounded(fact: str, said: str) -> bool:
    """Does the fact come from what the user said? At least half of its words of
    four letters or more occur there (a small model invents facts: "She loves
    green tea" for "my sister lives in Bergen"). A fact with no such word passes."""
    words = [w.lower() for w in WORD_RE.findall(fact)]
    if not words:
        return True
    have = {w.lower() for w in WORD_RE.findall(said)}
    return sum(w in have for w in words) * 2 >= len(words)


def infer_items(text: str) -> List[Dict[str, Any]]:
    """The model's JSON as a list of {event, id, text}; [] for JSON that is not that."""
    try:
        j = json.loads(text)
    except ValueError:
        return []
    items = j.get("memory") if isinstance(j, dict) else None
    if not isinstance(items, list):
        return []
    return [i for i in items if isinstance(i, dict) and isinstance(i.get("text", ""), str)]


def plan_infer(msgs: List[Dict[str, Any]], user: Optional[str], wire_filter: Optional[Dict[str, Any]],
               meta: Dict[str, Any], prompt: Optional[str]) -> Plan:
    """mem0's infer=True: the model reads the conversation beside the scope's
    closest memories and says ADD/UPDATE/DELETE/NONE; each is applied and
    reported as mem0 does (NONE is not reported). Dropped: a fact that only
    repeats an assistant's message (mem0 should not store AIKI's replies), one
    said twice in the answer, and one not grounded in the user's words
    (:func:`grounded`); an ADD the daemon merges into a memory that says the
    same is NONE.
    """
    if not any(m["role"] == "user" for m in msgs):
        return []
    said = " ".join(m["content"] for m in msgs if m["role"] == "user")
    found = yield ("memory.search", {"query": said, "user": user, "filter": wire_filter, "top_k": 10})
    existing = found.get("hits") or []
    gen = yield ("generate", {"messages": [{"role": "system", "content": INFER_SYSTEM},
                                           {"role": "user", "content": infer_prompt(msgs, existing, prompt)}],
                              "schema": INFER_SCHEMA, "temperature": 0, "max_tokens": 256,
                              "timeout": INFER_TIMEOUT})
    assistant = {m["content"].strip().lower() for m in msgs if m["role"] == "assistant"}
    results: List[Dict[str, Any]] = []
    touched: set = set()
    seen_texts: set = set()
    for it in infer_items(gen.get("text") or ""):
        event = str(it.get("event", "")).upper()
        text = (it.get("text") or "").strip()
        ref = str(it.get("id", "")).strip()
        old = existing[int(ref)] if ref.isdigit() and int(ref) < len(existing) else None
        if event in ("ADD", "UPDATE"):
            key = text.lower()
            if not text or key in assistant or key in seen_texts or not grounded(text, said):
                continue  # empty, AIKI's own words, said twice, or not from the user's words
            seen_texts.add(key)
        if event == "ADD":
            reply = yield ("memory.add", {"text": text, "user": user, "meta": meta})
            mid = reply.get("memory_id")
            if reply.get("deduplicated"):
                prev = next((h.get("text") for h in existing if h.get("id") == mid), None)
                if mid in touched or prev == text:
                    continue  # merged into a memory that says the same: mem0's NONE
                touched.add(mid)
                results.append({"id": str(mid), "memory": text, "event": "UPDATE",
                                "previous_memory": prev})
            else:
                touched.add(mid)
                results.append({"id": str(mid), "memory": text, "event": "ADD"})
        elif event == "UPDATE" and old is not None and old["id"] not in touched:
            if text == old.get("text"):
                continue
            touched.add(old["id"])
            yield ("memory.update", {"memory_id": old["id"], "text": text})
            results.append({"id": str(old["id"]), "memory": text, "event": "UPDATE",
                            "previous_memory": old.get("text")})
        elif event == "DELETE" and old is not None and old["id"] not in touched:
            touched.add(old["id"])
            try:
                yield ("memory.delete", {"memory_id": old["id"]})
            except NotFound:
                continue  # deleted meanwhile: the goal is reached, nothing to report
            results.append({"id": str(old["id"]), "memory": old.get("text"), "event": "DELETE"})
        # NONE, or an id the model made up: nothing to do (mem0 logs and skips)
    return results


# -- plans: each yields (op, fields) and receives the ok reply -------------------

def plan_add(messages: Any, user_id: Any, agent_id: Any, run_id: Any,
             metadata: Optional[Dict[str, Any]], infer: bool, memory_type: Optional[str],
             prompt: Optional[str], expiration_date: Any = None) -> Plan:
    scope = scope_of(user_id, agent_id, run_id)
    base = metadata_clean(metadata)
    exp = expiration_checked(expiration_date)
    if exp is not None:
        base["expiration_date"] = exp
    if memory_type is not None and memory_type != PROCEDURAL:
        raise MemoryValidationError(
            f"Invalid 'memory_type'. Please pass {PROCEDURAL} to create procedural memories.",
            "VALIDATION_002", f"Use '{PROCEDURAL}' to create procedural memories.")
    msgs = messages_normalise(messages)
    user = scope.get("user_id")
    for k in ("agent_id", "run_id"):
        if k in scope:
            base[k] = scope[k]
    if memory_type == PROCEDURAL and "agent_id" in scope:
        convo = [m for m in msgs if isinstance(m, dict) and m.get("content") is not None]
        gen = yield ("generate", {"messages": [{"role": "system", "content": prompt or PROCEDURAL_SYSTEM},
                                               *[{"role": m.get("role", "user"), "content": m["content"]}
                                                 for m in convo],
                                               {"role": "user", "content":
                                                "Create procedural memory of the above conversation."}],
                                  "temperature": 0, "max_tokens": 512, "timeout": INFER_TIMEOUT})
        summary = (gen.get("text") or "").strip()
        if not summary:
            raise ValueError("The model returned no content for the procedural memory summary.")
        reply = yield ("memory.add", {"text": summary, "user": user, "dedup": False,
                                      "meta": {**base, "memory_type": PROCEDURAL}})
        return {"results": [{"id": str(reply.get("memory_id")), "memory": summary, "event": "ADD"}]}
    if infer:
        usable_msgs = [{"role": m["role"], "content": m["content"]} for m in msgs
                       if usable(m) and isinstance(m["content"], str) and m["content"].strip()]
        _, wire_filter = scope_split(None, scope.get("agent_id"), scope.get("run_id"), None)
        results = yield from plan_infer(usable_msgs, user, wire_filter, base, prompt)
        return {"results": results}
    results = []
    for msg in msgs:
        if not usable(msg):
            continue  # mem0 skips malformed and system messages too
        text = msg["content"]
        if not isinstance(text, str) or not text.strip():
            continue  # the daemon stores no empty memory
        meta = dict(base)
        meta["role"] = msg["role"]
        if msg.get("name"):
            meta["actor_id"] = msg["name"]
        reply = yield ("memory.add", {"text": text, "user": user, "meta": meta, "dedup": False})
        results.append({"id": str(reply.get("memory_id")), "memory": text, "event": "ADD",
                        "actor_id": msg.get("name") or None, "role": msg["role"]})
    return {"results": results}


def search_params_checked(threshold: Any, top_k: Any) -> None:
    if threshold is not None:
        if not isinstance(threshold, (int, float)) or isinstance(threshold, bool):
            raise ValueError("threshold must be a valid number")
        if threshold < 0 or threshold > 1:
            raise ValueError(f"Invalid threshold: {threshold}. Must be between 0 and 1 (inclusive).")
    if top_k is not None:
        if not isinstance(top_k, int) or isinstance(top_k, bool):
            raise ValueError("top_k must be a valid integer")
        if top_k < 0:
            raise ValueError(f"Invalid top_k: {top_k}. Must be a non-negative integer.")


def plan_search(query: Any, user_id: Any, agent_id: Any, run_id: Any, top_k: int,
                filters: Optional[Dict[str, Any]], threshold: Optional[float],
                show_expired: bool = False) -> Plan:
    search_params_checked(threshold, top_k)
    if not isinstance(query, str) or not query.strip():
        raise ValueError("Invalid query: must be a non-empty string." if not isinstance(query, str)
                         else "Invalid query: cannot be empty or whitespace-only.")
    user, wire_filter = scope_split(user_id, agent_id, run_id, filters, require=True)
    if top_k == 0:
        return {"results": []}
    ask = min(WIRE_MAX_TOP_K, top_k if show_expired else top_k + 20)
    reply = yield ("memory.search", {"query": query.strip(), "user": user, "filter": wire_filter,
                                     "top_k": ask})
    thr = DEFAULT_THRESHOLD if threshold is None else threshold
    hits = [item_from_wire(h, score=True) for h in reply.get("hits") or []]
    hits = [h for h in hits if h["score"] is not None and h["score"] >= thr
            and (show_expired or not expired(h))]
    return {"results": hits[:top_k]}


def plan_get(memory_id: Any) -> Plan:
    mid = yield from plan_resolve(memory_id)
    if mid is None:
        return None
    try:
        reply = yield ("memory.get", {"memory_id": mid})
    except NotFound:
        return None
    if isinstance(reply.get("memory"), dict):
        return item_from_wire(reply["memory"], score=None)
    # The memory's fields at the top level of the reply, whose "id" is the request's.
    return item_from_wire({**reply, "id": reply.get("memory_id", mid)}, score=None)


def plan_get_all(user_id: Any, agent_id: Any, run_id: Any, filters: Optional[Dict[str, Any]],
                 top_k: int, show_expired: bool = False) -> Plan:
    search_params_checked(None, top_k)
    user, wire_filter = scope_split(user_id, agent_id, run_id, filters, require=True)
    out: List[Dict[str, Any]] = []
    offset = 0
    while len(out) < top_k:
        page = min(WIRE_MAX_LIST, max(100, top_k - len(out)))
        reply = yield ("memory.list", {"user": user, "filter": wire_filter, "limit": page,
                                       "offset": offset})
        ms = reply.get("memories") or []
        out += [i for i in (item_from_wire(m) for m in ms) if show_expired or not expired(i)]
        offset += len(ms)
        if len(ms) < page:
            break
    return {"results": out[:top_k]}


def _not_found(memory_id: Any, e: Optional[NotFound] = None) -> MemoryNotFoundError:
    why = f" ({e.message})" if e is not None else ""
    return MemoryNotFoundError(f"Memory with id {memory_id} not found{why}",
                               request_id=e.request_id if e else None, reply=e.reply if e else None)


def plan_update(memory_id: Any, text: Optional[str], metadata: Optional[Dict[str, Any]],
                expiration_date: Any = _UNSET) -> Plan:
    if text is None and metadata is None and expiration_date is _UNSET:
        raise ValueError("At least one of text, metadata, or expiration_date must be provided.")
    if text is not None and not isinstance(text, str):
        raise ValueError(f"text must be a string, got {type(text).__name__}")
    mid = yield from plan_resolve(memory_id)
    if mid is None:
        raise _not_found(memory_id)
    fields: Dict[str, Any] = {"memory_id": mid}
    if text is not None:
        fields["text"] = text
    if metadata is not None or expiration_date is not _UNSET:
        # aikid's update replaces meta; mem0's merges into the payload: merge here
        try:
            cur = yield ("memory.get", {"memory_id": mid})
        except NotFound as e:
            raise _not_found(memory_id, e) from None
        meta = dict((cur.get("memory") or cur).get("meta") or {})
        meta.update(metadata_clean(metadata))
        if expiration_date is not _UNSET:
            meta["expiration_date"] = expiration_checked(expiration_date)
        fields["meta"] = meta
    try:
        yield ("memory.update", fields)
    except NotFound as e:
        raise _not_found(memory_id, e) from None
    return {"message": "Memory updated successfully!"}


def plan_delete(memory_id: Any) -> Plan:
    mid = yield from plan_resolve(memory_id)
    if mid is None:
        raise _not_found(memory_id)
    try:
        yield ("memory.delete", {"memory_id": mid})
    except NotFound as e:
        raise _not_found(memory_id, e) from None
    return {"message": "Memory deleted successfully!"}


def _delete_listed(user: Optional[str], wire_filter: Optional[Dict[str, Any]]) -> Plan:
    """Delete every memory memory.list gives for (user, filter), one by one; the count."""
    seen: set = set()
    n = 0
    while True:
        page = yield ("memory.list", {"user": user, "filter": wire_filter, "limit": 1000})
        ids = [m.get("id") for m in page.get("memories") or []]
        if not ids or seen.issuperset(ids):
            return n  # done, or the daemon keeps listing what it deleted: stop, don't spin
        seen.update(ids)
        for i in ids:
            try:
                yield ("memory.delete", {"memory_id": i})
                n += 1
            except NotFound:
                pass  # deleted meanwhile: the goal is reached


def plan_delete_all(user_id: Any, agent_id: Any, run_id: Any) -> Plan:
    try:
        scope = scope_of(user_id, agent_id, run_id)
    except MemoryValidationError as e:
        if e.error_code != "VALIDATION_001":
            raise
        raise ValueError("At least one filter is required to delete all memories. If you want to "
                         "delete all memories, use the `reset()` method.") from None
    user = scope.get("user_id")
    if "agent_id" in scope or "run_id" in scope:
        # narrower than a user, or no user: the scope's memories one by one
        _, wire_filter = scope_split(None, scope.get("agent_id"), scope.get("run_id"), None)
        yield from _delete_listed(user, wire_filter)
    else:
        yield ("memory.delete_all", {"user": user})
    return {"message": "Memories deleted successfully!"}


def plan_history(memory_id: Any) -> Plan:
    mid = yield from plan_resolve(memory_id)
    if mid is None:
        return []
    try:
        reply = yield ("memory.history", {"memory_id": mid})
    except NotFound:
        return []
    meta: Dict[str, Any] = {}
    try:
        cur = yield ("memory.get", {"memory_id": mid})
        meta = (cur.get("memory") or cur).get("meta") or {}
    except NotFound:
        pass  # deleted: its rows carry no actor/role
    return history_from_wire(mid, reply.get("events") or [], meta)


def plan_reset() -> Plan:
    """Every memory gone: memory.delete_all for each user listed, the memories
    of no user one by one. Returns None (as mem0)."""
    seen_users: set = set()
    while True:
        page = yield ("memory.list", {"limit": 1000})
        ms = page.get("memories") or []
        if not ms:
            return None
        users = {m.get("user") or "" for m in ms}
        fresh = users - seen_users
        if not fresh:
            # only users already cleared (or none) remain listed: the memories of no user
            n = yield from _delete_listed("", None)
            if n == 0:
                return None  # the daemon lists what it will not delete: stop, don't spin
            continue
        for u in sorted(fresh):
            seen_users.add(u)
            if u:
                yield ("memory.delete_all", {"user": u})
            else:
                yield from _delete_listed("", None)


# -- runners ----------------------------------------------------------------------

class _Api:
    """The mem0 method surface; ``_run`` executes a plan."""

    def _run(self, plan: Plan) -> Any:  # pragma: no cover - provided by subclasses
        raise NotImplementedError

    def add(self, messages: Any, *, user_id: Optional[str] = None,
            agent_id: Optional[str] = None, run_id: Optional[str] = None,
            metadata: Optional[Dict[str, Any]] = None, timestamp: Any = None,
            expiration_date: Any = None, infer: bool = True,
            memory_type: Optional[str] = None, prompt: Optional[str] = None) -> Any:
        """Remember messages → ``{"results": [{"id","memory","event",…}]}``.

        ``infer=False`` stores each non-system message as it is (event ADD,
        never merged); ``infer=True`` (the default) has the model extract the
        user's facts and decide ADD/UPDATE/DELETE against the scope's closest
        memories. One of user_id/agent_id/run_id is required
        (MemoryValidationError, a ValueError); ``memory_type`` may only be
        ``"procedural_memory"``; ``timestamp`` is refused as by mem0's OSS.
        """
        if timestamp is not None:
            raise ValueError("add(timestamp=...) is a mem0 Platform feature; aikid's Memory, "
                             "like mem0's open-source Memory, does not take it")
        return self._run(plan_add(messages, user_id, agent_id, run_id, metadata, infer,
                                  memory_type, prompt, expiration_date))

    def search(self, query: str, *, top_k: Optional[int] = None,
               filters: Optional[Dict[str, Any]] = None, threshold: Optional[float] = None,
               rerank: bool = False, explain: bool = False, reference_date: Any = None,
               show_expired: bool = False, user_id: Optional[str] = None,
               agent_id: Optional[str] = None, run_id: Optional[str] = None,
               limit: Optional[int] = None) -> Any:
        """Semantic search → ``{"results": [{"id","memory","score","metadata",…}]}``, best first.

        2.x: ``filters={"user_id": …}``, ``top_k`` (20); 1.x: ``user_id=``,
        ``limit=``. ``score`` is the cosine similarity; hits under
        ``threshold`` (default 0.1, as mem0) are dropped. ``rerank`` and
        ``explain`` are accepted and ignored (no reranker).
        """
        if reference_date is not None:
            raise ValueError("search(reference_date=...) is a mem0 Platform feature; aikid's "
                             "Memory, like mem0's open-source Memory, does not take it")
        k = top_k if top_k is not None else (limit if limit is not None else DEFAULT_TOP_K)
        return self._run(plan_search(query, user_id, agent_id, run_id, k, filters, threshold,
                                     show_expired))

    def get(self, memory_id: Union[int, str]) -> Any:
        """One memory as a mem0 item, or None if it does not exist."""
        return self._run(plan_get(memory_id))

    def get_all(self, *, filters: Optional[Dict[str, Any]] = None, top_k: Optional[int] = None,
                show_expired: bool = False, user_id: Optional[str] = None,
                agent_id: Optional[str] = None, run_id: Optional[str] = None,
                limit: Optional[int] = None) -> Any:
        """List a scope's memories → ``{"results": [...]}`` (top_k 20 as mem0 2.x; 1.x ``limit``)."""
        k = top_k if top_k is not None else (limit if limit is not None else DEFAULT_TOP_K)
        return self._run(plan_get_all(user_id, agent_id, run_id, filters, k, show_expired))

    def update(self, memory_id: Union[int, str], text: Optional[str] = None,
               metadata: Optional[Dict[str, Any]] = None, expiration_date: Any = _UNSET,
               data: Optional[str] = None) -> Any:
        """Replace a memory's text and/or merge into its metadata → ``{"message": …}``.

        ``data`` is mem0's deprecated name of ``text``. Raises ValueError when
        nothing is given, MemoryNotFoundError (a ValueError) if the id does
        not exist.
        """
        return self._run(plan_update(memory_id, text if text is not None else data, metadata,
                                     expiration_date))

    def delete(self, memory_id: Union[int, str]) -> Any:
        """Delete one memory → ``{"message": …}``; MemoryNotFoundError if absent."""
        return self._run(plan_delete(memory_id))

    def delete_all(self, user_id: Optional[str] = None, agent_id: Optional[str] = None,
                   run_id: Optional[str] = None) -> Any:
        """Delete a scope's memories (any of user_id/agent_id/run_id) → ``{"message": …}``."""
        return self._run(plan_delete_all(user_id, agent_id, run_id))

    def history(self, memory_id: Union[int, str]) -> Any:
        """The memory's changes, oldest first, as mem0's history rows."""
        return self._run(plan_history(memory_id))

    def reset(self) -> Any:
        """Delete every memory of every user (mem0's reset). Returns None."""
        return self._run(plan_reset())

    def chat(self, query: str) -> Any:
        raise NotImplementedError("Chat function not implemented yet.")  # as mem0


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
    """asyncio mem0-shaped Memory (mem0's ``AsyncMemory``): same methods, awaited;
    ``close()`` is not a coroutine (as mem0's)."""

    def __init__(self, client: Any = None, *, endpoint: Optional[str] = None,
                 timeout: float = 5.0) -> None:
        from .aio import AsyncClient
        self._own = client is None
        self.client = client or AsyncClient(endpoint, timeout=timeout)

    @classmethod
    def from_config(cls, config_dict: Optional[Dict[str, Any]] = None) -> "AsyncMemory":
        """mem0's constructor; reads ``{"aikid": {"endpoint": …, "timeout": …}}``, ignores the rest."""
        cfg = (config_dict or {}).get("aikid", {})
        return cls(endpoint=cfg.get("endpoint"), timeout=cfg.get("timeout", 5.0))

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

    def close(self) -> None:
        """Close the connection now (requests still waiting fail with ConnectionError)."""
        if self._own:
            self.client.close_nowait()

    async def __aenter__(self) -> "AsyncMemory":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._own:
            await self.client.close()
