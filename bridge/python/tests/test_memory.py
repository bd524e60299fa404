"""Memory: mem0 2.x method names and return shapes over a fake memory store."""
from __future__ import annotations

import asyncio
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

    def __call__(self, req):
        op = req["op"]
        if op == "memory.add":
            for mid, m in self.mem.items():
                if m["text"] == req["text"] and m["user"] == req.get("user"):
                    self.hist[mid].append({"event": "dedup", "old": m["text"], "new": req["text"],
                                           "at": T0 + 5})
                    return [ok(req, memory_id=mid, deduplicated=True)]
            mid = self.next_id
            self.next_id += 1
            self.mem[mid] = {"id": mid, "text": req["text"], "user": req.get("user"),
                             "meta": req.get("meta") or {}, "created": T0, "updated": T0}
            self.hist[mid] = [{"event": "add", "old": None, "new": req["text"], "at": T0}]
            return [ok(req, memory_id=mid, deduplicated=False)]
        if op == "memory.search":
            hits = [dict(m, score=0.9 - 0.1 * i) for i, m in enumerate(self._match(req))]
            return [ok(req, hits=hits[: req.get("top_k", 10)])]
        if op == "memory.list":
            ms = self._match(req)
            return [ok(req, memories=ms[: req.get("limit", 100)], total=len(ms))]
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


def test_add_string_and_messages(memory, store):
    r = memory.add("I like green tea", user_id="alice", metadata={"category": "food"})
    assert r == {"results": [{"id": "1", "memory": "I like green tea", "event": "ADD",
                              "role": "user"}]}
    req = store.daemon.requests[-1]
    assert req["op"] == "memory.add" and req["user"] == "alice"
    assert req["meta"] == {"category": "food", "role": "user"}

    r = memory.add([{"role": "system", "content": "be nice"},
                    {"role": "user", "content": "My dog is Rex"},
                    {"role": "assistant", "content": "Nice dog!", "name": "aiki"},
                    {"bogus": True}],
                   user_id="alice", agent_id="aiki")
    assert [x["memory"] for x in r["results"]] == ["My dog is Rex", "Nice dog!"]
    assert [x["event"] for x in r["results"]] == ["ADD", "ADD"]
    assert r["results"][1]["actor_id"] == "aiki"
    assert store.daemon.requests[-1]["meta"] == {"agent_id": "aiki", "role": "assistant",
                                                 "actor_id": "aiki"}


def test_add_dedup_is_an_update_event(memory):
    memory.add("I like green tea", user_id="alice")
    r = memory.add("I like green tea", user_id="alice")
    assert r["results"][0]["event"] == "UPDATE" and r["results"][0]["id"] == "1"


def test_search_shape(memory, store):
    memory.add("I like green tea", user_id="alice", metadata={"category": "food"})
    memory.add("I live in Oslo", user_id="alice", metadata={"category": "place"})
    memory.add("Bob likes coffee", user_id="bob")
    r = memory.search("what do I drink?", user_id="alice", limit=5)
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
    assert req["op"] == "memory.search" and req["top_k"] == 5 and req["user"] == "alice"
    assert req["query"] == "what do I drink?"


def test_search_mem0_2x_filters_and_threshold(memory, store):
    memory.add("I like green tea", user_id="alice", metadata={"category": "food"})
    memory.add("I live in Oslo", user_id="alice", metadata={"category": "place"})
    r = memory.search("x", filters={"user_id": "alice", "category": {"in": ["place", "x"]}},
                      top_k=3)
    assert [h["memory"] for h in r["results"]] == ["I live in Oslo"]
    req = store.daemon.requests[-1]
    assert req["user"] == "alice" and req["filter"] == {"category": {"in": ["place", "x"]}}
    assert req["top_k"] == 3
    r = memory.search("x", filters={"AND": [{"user_id": "alice"}, {"category": {"eq": "food"}}]},
                      user_id="alice")
    assert store.daemon.requests[-1]["filter"] == {"category": "food"}
    r = memory.search("x", user_id="alice", threshold=0.85)
    assert [h["score"] for h in r["results"]] == [pytest.approx(0.9)]


def test_unsupported_filters_raise_before_sending(memory, store):
    n = len(store.daemon.requests)
    for f in ({"user_id": "a", "n": {"gt": 3}}, {"OR": [{"a": 1}]}, {"a": "*"}):
        with pytest.raises(ValueError):
            memory.search("x", filters=f)
    with pytest.raises(ValueError):
        memory.search("x", user_id="a", filters={"user_id": "b"})
    assert len(store.daemon.requests) == n


def test_get_get_all_and_missing(memory, store):
    memory.add("I like green tea", user_id="alice", run_id="r7")
    g = memory.get("1")
    assert ITEM_KEYS <= set(g) and g["id"] == "1" and g["memory"] == "I like green tea"
    assert g["run_id"] == "r7" and g["user_id"] == "alice" and g["metadata"] is None
    assert memory.get(1) == g
    assert memory.get("99") is None
    all_ = memory.get_all(user_id="alice", limit=10)
    assert [m["id"] for m in all_["results"]] == ["1"] and "score" not in all_["results"][0]
    req = store.daemon.requests[-1]
    assert req["op"] == "memory.list" and req["limit"] == 10 and req["user"] == "alice"
    memory.get_all(filters={"user_id": "alice", "run_id": "r7"})
    assert store.daemon.requests[-1]["filter"] == {"run_id": "r7"}


def test_update_delete_history(memory):
    memory.add("I like green tea", user_id="alice")
    assert memory.update("1", "I like black tea") == {"message": "Memory updated successfully!"}
    assert memory.get("1")["memory"] == "I like black tea"
    h = memory.history("1")
    assert [e["event"] for e in h] == ["ADD", "UPDATE"]
    assert set(h[0]) == {"id", "memory_id", "old_memory", "new_memory", "event", "created_at",
                         "updated_at", "is_deleted", "actor_id", "role"}
    assert h[1]["old_memory"] == "I like green tea" and h[1]["new_memory"] == "I like black tea"
    assert h[1]["memory_id"] == "1" and h[1]["is_deleted"] is False
    assert memory.delete(1) == {"message": "Memory deleted successfully!"}
    with pytest.raises(ValueError):  # mem0 raises ValueError for a missing id
        memory.delete("1")
    with pytest.raises(ab.MemoryNotFoundError) as ei:
        memory.update("1", "x")
    assert isinstance(ei.value, ab.NotFound) and ei.value.code == "not_found"
    with pytest.raises(ValueError):
        memory.update("1")
    assert memory.history("1") == []


def test_delete_all(memory, store):
    memory.add("a", user_id="alice")
    memory.add("b", user_id="alice", agent_id="x")
    memory.add("c", user_id="bob")
    assert memory.delete_all(user_id="alice", agent_id="x") == {
        "message": "Memories deleted successfully!"}
    assert sorted(m["text"] for m in store.mem.values()) == ["a", "c"]
    memory.delete_all(user_id="alice")
    assert store.daemon.requests[-1] == {**store.daemon.requests[-1], "op": "memory.delete_all",
                                         "user": "alice"}
    assert [m["text"] for m in store.mem.values()] == ["c"]
    with pytest.raises(ValueError):
        memory.delete_all()
    with pytest.raises(NotImplementedError):
        memory.reset()


def test_iso_time_conversions():
    from aiki_bridge.memory import iso_time
    assert iso_time(None) is None
    assert iso_time("2024-01-01T00:00:00Z") == "2024-01-01T00:00:00Z"
    assert iso_time(1_700_000_000) == iso_time(1_700_000_000_000) == \
        "2023-11-14T22:13:20+00:00"


def test_async_memory(store):
    async def main():
        async with ab.AsyncMemory(endpoint=store.daemon.endpoint, timeout=2) as m:
            a = await m.add("I like green tea", user_id="alice")
            s = await m.search("tea", user_id="alice")
            g = await m.get("5")
            with pytest.raises(ValueError):
                await m.delete("5")
            return a, s, g
    a, s, g = asyncio.run(main())
    assert a["results"][0]["event"] == "ADD"
    assert s["results"][0]["memory"] == "I like green tea" and g is None


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
