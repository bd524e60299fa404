"""Memory: mem0 2.x method names, arguments, errors and return shapes over a fake memory store.

The real daemon: test_daemon_bridge.py; against mem0 itself: mem0_diff.py (peers' venv).
"""
from __future__ import annotations

import asyncio
import json
import os
import re

import pytest

import aiki_bridge as ab
from conftest import err, ok

T0 = 1_700_000_000_000  # unix ms


class FakeStore:
    """Just enough of the memory ops' semantics to check the shapes."""

    def __init__(self):
        self.mem = {}
        self.hist = {}
        self.next_id = 1
        self.generated = '{"memory": []}'  # what the fake model answers a generate

    def __call__(self, req):
        op = req["op"]
        if op == "generate":
            return [ok(req, text=self.generated, tokens=5)]
        if op == "memory.add":
            for mid, m in self.mem.items():
                if req.get("dedup") is False:
                    break
                if m["text"] == req["text"] and m["user"] == (req.get("user") or ""):
                    self.hist[mid].append({"event": "dedup", "old": m["text"], "new": req["text"],
                                           "at": T0 + 5})
                    return [ok(req, memory_id=mid, deduplicated=True)]
            mid = self.next_id
            self.next_id += 1
            self.mem[mid] = {"id": mid, "text": req["text"], "user": req.get("user") or "",
                             "meta": req.get("meta") or {}, "created": T0, "updated": T0}
            self.hist[mid] = [{"event": "add", "old": None, "new": req["text"], "at": T0}]
            return [ok(req, memory_id=mid, deduplicated=False)]
        if op == "memory.search":
            hits = [dict(m, score=0.9 - 0.1 * i) for i, m in enumerate(self._match(req))]
            return [ok(req, hits=hits[: req.get("top_k", 10)])]
        if op == "memory.list":
            ms = self._match(req)
            at = req.get("offset", 0)
            return [ok(req, memories=ms[at: at + req.get("limit", 100)], total=len(ms))]
        mid = req.get("memory_id")
        if op in ("memory.get", "memory.update", "memory.delete", "memory.history"):
            if mid not in self.mem:
                return [err(req, "not_found", f"memory_id {mid}: no such memory")]
        if op == "memory.get":
            return [ok(req, memory=self.mem[mid])]
        if op == "memory.update":
            m = self.mem[mid]
            self.hist[mid].append({"event": "update", "old": m["text"], "new": req.get("text"),
                                   "at": T0 + 10})
            if req.get("text") is not None:
                m["text"] = req["text"]
            if req.get("meta") is not None:
                m["meta"] = req["meta"]
            return [ok(req, updated=True)]
        if op == "memory.delete":
            del self.mem[mid]
            return [ok(req, deleted=True)]
        if op == "memory.history":
            return [ok(req, events=self.hist[mid])]
        if op == "memory.delete_all":
            gone = [i for i, m in self.mem.items() if m["user"] == req["user"]]
            for i in gone:
                del self.mem[i]
            return [ok(req, deleted=len(gone))]
        return [err(req, "unknown_op", op)]

    def _match(self, req):
        out = []
        for m in self.mem.values():
            if req.get("user") is not None and m["user"] != req["user"]:
                continue
            f = req.get("filter") or {}
            good = True
            for k, v in f.items():
                have = m["meta"].get(k)
                good &= (have in v["in"]) if isinstance(v, dict) else (have == v)
            if good:
                out.append(m)
        return out


@pytest.fixture
def store(daemon_factory):
    s = FakeStore()
    s.daemon = daemon_factory(s)
    return s


@pytest.fixture
def memory(store):
    with ab.Memory(endpoint=store.daemon.endpoint, timeout=2) as m:
        yield m


ITEM_KEYS = {"id", "memory", "hash", "metadata", "created_at", "updated_at"}


def test_add_infer_false_stores_each_message(memory, store):
    r = memory.add("I like green tea", user_id="alice", metadata={"category": "food"}, infer=False)
    assert r == {"results": [{"id": "1", "memory": "I like green tea", "event": "ADD",
                              "actor_id": None, "role": "user"}]}
    req = store.daemon.requests[-1]
    assert req["op"] == "memory.add" and req["user"] == "alice" and req["dedup"] is False
    assert req["meta"] == {"category": "food", "role": "user"}

    r = memory.add([{"role": "system", "content": "be nice"},
                    {"role": "user", "content": "My dog is Rex"},
                    {"role": "assistant", "content": "Nice dog!", "name": "aiki"},
                    {"bogus": True}],
                   user_id="alice", agent_id="aiki", infer=False,
                   metadata={"user_id": "mallory", "k": 1})
    assert [x["memory"] for x in r["results"]] == ["My dog is Rex", "Nice dog!"]
    assert [x["event"] for x in r["results"]] == ["ADD", "ADD"]
    assert r["results"][1]["actor_id"] == "aiki"
    # identity keys in metadata are dropped (mem0: scope comes from the arguments)
    assert store.daemon.requests[-1]["meta"] == {"k": 1, "agent_id": "aiki", "role": "assistant",
                                                 "actor_id": "aiki"}
    assert store.daemon.requests[-1]["user"] == "alice"


def test_add_infer_false_never_merges(memory):
    memory.add("I like green tea", user_id="alice", infer=False)
    r = memory.add("I like green tea", user_id="alice", infer=False)
    assert r["results"][0]["event"] == "ADD" and r["results"][0]["id"] == "2"


def test_add_argument_errors_as_mem0(memory, store):
    n = len(store.daemon.requests)
    with pytest.raises(ValueError, match="At least one of 'user_id', 'agent_id', or 'run_id'") as ei:
        memory.add("x")
    assert isinstance(ei.value, ab.MemoryValidationError) and ei.value.error_code == "VALIDATION_001"
    with pytest.raises(ValueError, match="memory_type") as ei:
        memory.add("x", user_id="a", memory_type="bogus")
    assert ei.value.error_code == "VALIDATION_002"
    with pytest.raises(ValueError, match="whitespace"):
        memory.add("x", user_id="a b")
    with pytest.raises(ValueError, match="empty"):
        memory.add("x", user_id="  ")
    with pytest.raises(ValueError, match="messages must be"):
        memory.add(42, user_id="a")
    with pytest.raises(ValueError, match="timestamp"):
        memory.add("x", user_id="a", timestamp=1)
    with pytest.raises(ValueError, match="expiration_date"):
        memory.add("x", user_id="a", expiration_date="soon")
    assert len(store.daemon.requests) == n, "nothing is sent for a bad call"
    # agent_id or run_id alone is a scope; an integer id is coerced to str
    memory.add("y", agent_id="aiki", infer=False)
    assert store.daemon.requests[-1].get("user") is None
    assert store.daemon.requests[-1]["meta"]["agent_id"] == "aiki"
    memory.add("z", user_id=7, infer=False)
    assert store.daemon.requests[-1]["user"] == "7"


def test_add_infer_true_events(memory, store):
    memory.add("I like green tea", user_id="alice", infer=False)        # id 1
    memory.add("I live in Oslo", user_id="alice", infer=False)          # id 2
    memory.add("My cat is Tom", user_id="alice", infer=False)           # id 3
    # the fake search ranks alice's memories in id order: [0]=1, [1]=2, [2]=3
    store.generated = json.dumps({"memory": [
        {"event": "ADD", "id": "", "text": "Is vegetarian"},
        {"event": "UPDATE", "id": "1", "text": "Lives in Bergen"},
        {"event": "DELETE", "id": "2", "text": "My cat is Tom"},
        {"event": "NONE", "id": "0", "text": "I like green tea"},
        {"event": "UPDATE", "id": "9", "text": "made-up id"},
        {"event": "ADD", "id": "", "text": "Noted! I will suggest vegetarian recipes."},
        {"event": "ADD", "id": "", "text": "Is vegetarian"},            # said twice: once
        {"event": "ADD", "id": "", "text": "She loves baking cakes"},   # not in the user's words
        {"event": "ADD", "id": "", "text": "I like green tea"},         # merged into the same text: NONE
    ]})
    r = memory.add([{"role": "user", "content": "I'm vegetarian and moved to Bergen; Tom died. I like green tea."},
                    {"role": "assistant", "content": "Noted! I will suggest vegetarian recipes."}],
                   user_id="alice", metadata={"src": "chat"})
    assert r == {"results": [
        {"id": "4", "memory": "Is vegetarian", "event": "ADD"},
        {"id": "2", "memory": "Lives in Bergen", "event": "UPDATE", "previous_memory": "I live in Oslo"},
        {"id": "3", "memory": "My cat is Tom", "event": "DELETE"},
    ]}
    gen = next(q for q in store.daemon.requests if q["op"] == "generate")
    assert gen["schema"]["properties"]["memory"]["items"]["properties"]["event"]["enum"] == \
        ["ADD", "UPDATE", "DELETE", "NONE"]
    prompt = gen["messages"][1]["content"]
    assert "[0] I like green tea" in prompt and "assistant: Noted!" in prompt
    assert store.mem[4]["meta"] == {"src": "chat"} and store.mem[4]["user"] == "alice"
    assert store.mem[2]["text"] == "Lives in Bergen" and 3 not in store.mem
    # nothing the user said: no model call at all
    n = len(store.daemon.requests)
    assert memory.add({"role": "assistant", "content": "Hi!"}, user_id="alice") == {"results": []}
    assert len(store.daemon.requests) == n
    # a model answer that is not the schema's JSON adds nothing
    store.generated = "not json"
    assert memory.add("hello", user_id="alice") == {"results": []}


def test_add_procedural_memory(memory, store):
    store.generated = "Step 1: opened the page. Step 2: read the title."
    r = memory.add([{"role": "user", "content": "read the title"}], agent_id="bot",
                   memory_type="procedural_memory")
    assert r["results"][0]["event"] == "ADD" and r["results"][0]["memory"].startswith("Step 1")
    assert store.daemon.requests[-1]["meta"] == {"agent_id": "bot", "memory_type": "procedural_memory"}


def test_search_shape(memory, store):
    memory.add("I like green tea", user_id="alice", metadata={"category": "food"}, infer=False)
    memory.add("I live in Oslo", user_id="alice", metadata={"category": "place"}, infer=False)
    memory.add("Bob likes coffee", user_id="bob", infer=False)
    r = memory.search("what do I drink?", user_id="alice", limit=5)  # mem0 1.x call
    assert set(r) == {"results"} and len(r["results"]) == 2
    top = r["results"][0]
    assert ITEM_KEYS | {"score", "user_id"} <= set(top)
    assert top["id"] == "1" and top["memory"] == "I like green tea"
    assert top["user_id"] == "alice" and top["role"] == "user"
    assert top["metadata"] == {"category": "food"}, "role is promoted out of metadata"
    assert top["score"] == pytest.approx(0.9) and r["results"][1]["score"] < top["score"]
    assert top["created_at"].startswith("2023-11-14T22:13:20")
    assert re.fullmatch(r"[0-9a-f]{32}", top["hash"])
    req = store.daemon.requests[-1]
    assert req["op"] == "memory.search" and req["top_k"] >= 5 and req["user"] == "alice"
    assert req["query"] == "what do I drink?"
    memory.search("tea", filters={"user_id": "alice"})
    assert store.daemon.requests[-1]["top_k"] >= 20  # mem0 2.x's default top_k


def test_search_mem0_2x_filters_and_threshold(memory, store):
    memory.add("I like green tea", user_id="alice", metadata={"category": "food"}, infer=False)
    memory.add("I live in Oslo", user_id="alice", metadata={"category": "place"}, infer=False)
    r = memory.search("x", filters={"user_id": "alice", "category": {"in": ["place", "x"]}},
                      top_k=3)
    assert [h["memory"] for h in r["results"]] == ["I live in Oslo"]
    req = store.daemon.requests[-1]
    assert req["user"] == "alice" and req["filter"] == {"category": {"in": ["place", "x"]}}
    r = memory.search("x", filters={"AND": [{"user_id": "alice"}, {"category": {"eq": "food"}}]})
    assert store.daemon.requests[-1]["filter"] == {"category": "food"}
    assert store.daemon.requests[-1]["user"] == "alice"
    r = memory.search("x", user_id="alice", threshold=0.85)
    assert [h["score"] for h in r["results"]] == [pytest.approx(0.9)]
    assert len(memory.search("x", user_id="alice", top_k=1)["results"]) == 1
    assert memory.search("x", user_id="alice", top_k=0) == {"results": []}


def test_search_and_get_all_need_a_scope(memory, store):
    n = len(store.daemon.requests)
    for call in (lambda: memory.search("x"), lambda: memory.get_all(),
                 lambda: memory.search("x", filters={"category": "food"}),
                 lambda: memory.get_all(filters={"category": "food"})):
        with pytest.raises(ValueError, match="user_id, agent_id, run_id"):
            call()
    for bad in (dict(threshold=2), dict(threshold="x"), dict(top_k=-1), dict(top_k=1.5)):
        with pytest.raises(ValueError):
            memory.search("x", user_id="a", **bad)
    for q in ("", "   ", None):
        with pytest.raises(ValueError, match="query"):
            memory.search(q, user_id="a")
    with pytest.raises(ValueError, match="reference_date"):
        memory.search("x", user_id="a", reference_date="2024-01-01")
    assert len(store.daemon.requests) == n


def test_unsupported_filters_raise_before_sending(memory, store):
    n = len(store.daemon.requests)
    for f in ({"user_id": "a", "n": {"gt": 3}}, {"user_id": "a", "OR": [{"a": 1}]},
              {"user_id": "a", "k": "*"}, {"user_id": {"in": ["a", "b"]}}, {"agent_id": None}):
        with pytest.raises(ValueError):
            memory.search("x", filters=f)
    with pytest.raises(ValueError):
        memory.search("x", user_id="a", filters={"user_id": "b"})
    assert len(store.daemon.requests) == n


def test_get_get_all_and_missing(memory, store):
    memory.add("I like green tea", user_id="alice", run_id="r7", infer=False)
    g = memory.get("1")
    assert ITEM_KEYS | {"score"} <= set(g) and g["id"] == "1" and g["memory"] == "I like green tea"
    assert g["run_id"] == "r7" and g["user_id"] == "alice" and g["metadata"] is None
    assert g["score"] is None  # mem0's get: MemoryItem with score None
    assert memory.get(1) == g
    assert memory.get("99") is None
    all_ = memory.get_all(user_id="alice", limit=10)  # mem0 1.x call
    assert [m["id"] for m in all_["results"]] == ["1"] and "score" not in all_["results"][0]
    req = store.daemon.requests[-1]
    assert req["op"] == "memory.list" and req["user"] == "alice"
    memory.get_all(filters={"user_id": "alice", "run_id": "r7"})
    assert store.daemon.requests[-1]["filter"] == {"run_id": "r7"}
    for i in range(30):
        memory.add(f"fact {i}", user_id="carol", infer=False)
    assert len(memory.get_all(filters={"user_id": "carol"})["results"]) == 20  # 2.x default
    assert len(memory.get_all(filters={"user_id": "carol"}, top_k=25)["results"]) == 25
    with pytest.raises(ValueError):
        memory.get("not an id")


def test_expired_memories_are_hidden(memory, store):
    memory.add("old", user_id="u", expiration_date="2000-01-01", infer=False)
    memory.add("new", user_id="u", expiration_date="2999-01-01", infer=False)
    assert [m["memory"] for m in memory.get_all(filters={"user_id": "u"})["results"]] == ["new"]
    assert len(memory.get_all(filters={"user_id": "u"}, show_expired=True)["results"]) == 2
    assert [m["memory"] for m in memory.search("x", filters={"user_id": "u"})["results"]] == ["new"]
    assert memory.get("1")["expiration_date"] == "2000-01-01"


def test_update_delete_history(memory, store):
    memory.add("I like green tea", user_id="alice", metadata={"a": 1}, infer=False)
    assert memory.update("1", "I like black tea") == {"message": "Memory updated successfully!"}
    assert memory.get("1")["memory"] == "I like black tea"
    # mem0 2.x: update(id, text, metadata) merges metadata; identity keys are ignored
    memory.update("1", "I like oolong", {"b": 2, "user_id": "mallory"})
    g = memory.get("1")
    assert g["memory"] == "I like oolong" and g["metadata"] == {"a": 1, "b": 2}
    assert g["user_id"] == "alice"
    memory.update("1", metadata={"c": 3})
    assert memory.get("1")["metadata"] == {"a": 1, "b": 2, "c": 3}
    memory.update("1", data="I like rooibos")  # 2.x's deprecated name, 1.x's positional
    assert memory.get("1")["memory"] == "I like rooibos"
    h = memory.history("1")
    assert [e["event"] for e in h][:2] == ["ADD", "UPDATE"]
    assert set(h[0]) == {"id", "memory_id", "old_memory", "new_memory", "event", "created_at",
                         "updated_at", "is_deleted", "actor_id", "role"}
    assert h[1]["old_memory"] == "I like green tea" and h[1]["new_memory"] == "I like black tea"
    assert h[1]["memory_id"] == "1" and h[1]["is_deleted"] is False and h[1]["role"] == "user"
    assert memory.delete(1) == {"message": "Memory deleted successfully!"}
    with pytest.raises(ValueError):  # mem0 raises ValueError for a missing id
        memory.delete("1")
    with pytest.raises(ab.MemoryNotFoundError) as ei:
        memory.update("1", "x")
    assert isinstance(ei.value, ab.NotFound) and ei.value.code == "not_found"
    with pytest.raises(ValueError, match="At least one of text"):
        memory.update("1")
    assert memory.history("1") == []


def test_mem0_uuid_of_an_imported_memory(memory, store):
    uid = "3f1c7e8e-8d5e-4a0e-9f6c-2b7a1d9e4c11"
    store.mem[7] = {"id": 7, "text": "imported", "user": "alice", "meta": {"mem0_id": uid},
                    "created": T0, "updated": T0}
    store.hist[7] = [{"event": "add", "old": None, "new": "imported", "at": T0}]
    assert memory.get(uid)["memory"] == "imported"
    assert memory.get(uid)["metadata"] == {"mem0_id": uid}
    assert memory.history(uid)[0]["event"] == "ADD"
    memory.update(uid, "changed")
    assert store.mem[7]["text"] == "changed" and store.mem[7]["meta"]["mem0_id"] == uid
    memory.delete(uid)
    assert 7 not in store.mem
    assert memory.get(uid) is None
    with pytest.raises(ab.MemoryNotFoundError):
        memory.delete(uid)


def test_delete_all(memory, store):
    memory.add("a", user_id="alice", infer=False)
    memory.add("b", user_id="alice", agent_id="x", infer=False)
    memory.add("c", user_id="bob", infer=False)
    memory.add("d", agent_id="x", infer=False)
    memory.add("e", run_id="r1", infer=False)
    assert memory.delete_all(user_id="alice", agent_id="x") == {
        "message": "Memories deleted successfully!"}
    assert sorted(m["text"] for m in store.mem.values()) == ["a", "c", "d", "e"]
    memory.delete_all(agent_id="x")  # an agent alone (mem0 takes it)
    assert sorted(m["text"] for m in store.mem.values()) == ["a", "c", "e"]
    memory.delete_all(run_id="r1")
    assert sorted(m["text"] for m in store.mem.values()) == ["a", "c"]
    memory.delete_all(user_id="alice")
    assert store.daemon.requests[-1] == {**store.daemon.requests[-1], "op": "memory.delete_all",
                                         "user": "alice"}
    assert [m["text"] for m in store.mem.values()] == ["c"]
    with pytest.raises(ValueError, match="reset"):
        memory.delete_all()


def test_reset_deletes_everything(memory, store):
    for u in ("alice", "bob", None):
        memory.add("x", user_id=u, agent_id="a" if u is None else None, infer=False)
    assert memory.reset() is None
    assert store.mem == {}


def test_iso_time_conversions():
    from aiki_bridge.memory import iso_time
    assert iso_time(None) is None
    assert iso_time("2024-01-01T00:00:00Z") == "2024-01-01T00:00:00Z"
    assert iso_time(1_700_000_000) == iso_time(1_700_000_000_000) == \
        "2023-11-14T22:13:20+00:00"


def test_async_memory(store):
    async def main():
        m = ab.AsyncMemory(endpoint=store.daemon.endpoint, timeout=2)
        a = await m.add("I like green tea", user_id="alice", infer=False)
        s = await m.search("tea", user_id="alice")
        g = await m.get("5")
        with pytest.raises(ValueError):
            await m.delete("5")
        with pytest.raises(ValueError):
            await m.add("no scope")
        await m.delete_all(user_id="alice")
        assert await m.reset() is None
        assert m.close() is None  # mem0's AsyncMemory.close is not a coroutine
        return a, s, g
    a, s, g = asyncio.run(main())
    assert a["results"][0]["event"] == "ADD"
    assert s["results"][0]["memory"] == "I like green tea" and g is None
    assert not asyncio.iscoroutinefunction(ab.AsyncMemory.close)


def test_get_accepts_a_flattened_reply(daemon_factory):
    d = daemon_factory(lambda req: [ok(req, memory_id=req["memory_id"], text="flat",
                                       user="u", meta={"k": 1}, created=T0)])
    with ab.Memory(endpoint=d.endpoint, timeout=2) as m:
        g = m.get("12")
    assert g["id"] == "12" and g["memory"] == "flat" and g["metadata"] == {"k": 1}


def test_twenty_memories_share_one_zmq_context():
    # Each Memory's Client used its own zmq.Context: an I/O thread and a reaper
    # each (20 Memory() objects made 41 threads). Now they share
    # zmq.Context.instance(): at most its two threads are added.
    import zmq
    from aiki_bridge import Memory

    def threads():
        return len(os.listdir("/proc/self/task"))

    before = threads()
    mems = [Memory(endpoint="ipc:///nonexistent/aikid-test.sock", timeout=0.1) for _ in range(20)]
    try:
        assert threads() - before <= 2, f"{threads() - before} threads for 20 Memory objects"
        assert all(m.client._ctx is zmq.Context.instance() for m in mems)
    finally:
        for m in mems:
            m.close()
    assert not zmq.Context.instance().closed  # closing a Memory leaves the shared context


def test_async_memory_infer_and_from_config(store):
    store.generated = json.dumps({"memory": [{"event": "ADD", "id": "", "text": "Likes green tea"}]})

    async def main():
        m = ab.AsyncMemory.from_config({"aikid": {"endpoint": store.daemon.endpoint, "timeout": 2},
                                        "vector_store": {"provider": "qdrant"}})
        r = await m.add("I really like green tea", user_id="alice")
        with pytest.raises(ValueError, match="filters must contain"):
            await m.get_all()
        got = await m.get_all(filters={"user_id": "alice"})
        m.close()
        return r, got
    r, got = asyncio.run(main())
    assert r == {"results": [{"id": "1", "memory": "Likes green tea", "event": "ADD"}]}
    assert [x["memory"] for x in got["results"]] == ["Likes green tea"]
