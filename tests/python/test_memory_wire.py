"""Memory ops over the wire against the real daemon (real store, real
embedder), the mem0-shaped Memory, and admin snapshot/export/import."""
from __future__ import annotations

import os

from aiki_bridge import Memory
from harness import unit


def test_every_memory_op_over_the_wire(make_daemon):
    d = make_daemon().start()
    r = d.request
    a = r({"op": "memory.add", "text": "I live in Oslo", "user": "kari", "meta": {"topic": "home"}})
    assert a["ok"] and isinstance(a["memory_id"], int) and a["deduplicated"] is False
    b = r({"op": "memory.add", "text": "My sister is called Ingrid", "user": "kari", "meta": {"topic": "family"}})
    c = r({"op": "memory.add", "text": "I live in Bergen", "user": "ola", "vector": unit(3)})
    assert b["ok"] and c["ok"]
    # Scoped search by text: only kari's memories, best first, cosine scores.
    s = r({"op": "memory.search", "query": "where does she live", "user": "kari", "top_k": 5})
    assert [h["user"] for h in s["hits"]] == ["kari", "kari"]
    assert s["hits"][0]["id"] == a["memory_id"] and -1.0 <= s["hits"][0]["score"] <= 1.0
    f = r({"op": "memory.search", "query": "family", "user": "kari", "filter": {"topic": {"in": ["family"]}}})
    assert [h["id"] for h in f["hits"]] == [b["memory_id"]]
    g = r({"op": "memory.get", "memory_id": a["memory_id"]})
    assert g["memory"]["text"] == "I live in Oslo" and g["memory"]["meta"] == {"topic": "home"}
    assert r({"op": "memory.update", "memory_id": a["memory_id"], "text": "I live in Trondheim"})["updated"]
    h = r({"op": "memory.history", "memory_id": a["memory_id"]})
    assert [e["event"] for e in h["events"]] == ["add", "update"]
    assert h["events"][1]["old"] == "I live in Oslo" and h["events"][1]["new"] == "I live in Trondheim"
    lst = r({"op": "memory.list", "user": "kari"})
    assert lst["total"] == 2
    assert r({"op": "memory.delete", "memory_id": b["memory_id"]})["deleted"]
    assert r({"op": "memory.get", "memory_id": b["memory_id"]})["error"]["code"] == "not_found"
    assert r({"op": "memory.delete_all", "user": "ola"})["deleted"] == 1
    assert r({"op": "memory.delete_all"})["error"]["code"] == "bad_request"
    assert r({"op": "memory.add", "text": "x", "vector": [1.0, 2.0]})["error"]["code"] == "bad_request"
    assert r({"op": "memory.search", "user": "kari"})["error"]["code"] == "bad_request"


def test_dedup_on_add(make_daemon):
    d = make_daemon().start()
    a = d.request({"op": "memory.add", "text": "I like green tea", "user": "u"})
    b = d.request({"op": "memory.add", "text": "I like green tea.", "user": "u"})
    assert b["deduplicated"] is True and b["memory_id"] == a["memory_id"]
    ev = d.request({"op": "memory.history", "memory_id": a["memory_id"]})["events"]
    assert [e["event"] for e in ev] == ["add", "dedup"]


def test_export_delete_all_import_round_trip(make_daemon):
    d = make_daemon().start()
    ids = [d.request({"op": "memory.add", "text": f"fact number {i}", "user": "exp", "vector": unit(i)})["memory_id"]
           for i in range(5)]
    d.request({"op": "memory.update", "memory_id": ids[0], "text": "fact zero", "vector": unit(0)})
    before = d.request({"op": "memory.list", "user": "exp"})["memories"]
    hist = d.request({"op": "memory.history", "memory_id": ids[0]})["events"]
    path = os.path.join(d.base, "export.jsonl")
    assert d.admin_cmd(f"export {path}")["ok"]
    assert d.request({"op": "memory.delete_all", "user": "exp"})["deleted"] == 5
    assert d.admin_cmd(f"import {path}")["ok"]
    assert d.request({"op": "memory.list", "user": "exp"})["memories"] == before
    assert d.request({"op": "memory.history", "memory_id": ids[0]})["events"] == hist
    assert d.admin_cmd("snapshot")["ok"]


def test_acknowledged_memories_survive_a_restart(make_daemon):
    d = make_daemon().start()
    mid = d.request({"op": "memory.add", "text": "remember me", "user": "r"})["memory_id"]
    assert d.stop() == 0
    d2 = make_daemon(base=d.base).start()
    assert d2.request({"op": "memory.get", "memory_id": mid})["memory"]["text"] == "remember me"


def test_mem0_shaped_memory(make_daemon):
    d = make_daemon().start()
    m = Memory(endpoint=d.requests)
    added = m.add("I am allergic to peanuts", user_id="alice", metadata={"kind": "health"}, infer=False)
    assert added["results"][0]["event"] == "ADD"
    mid = added["results"][0]["id"]
    found = m.search("what allergies do I have", user_id="alice", limit=3)
    assert found["results"][0]["id"] == mid and found["results"][0]["memory"] == "I am allergic to peanuts"
    assert m.get(mid)["memory"] == "I am allergic to peanuts"
    assert len(m.get_all(user_id="alice")["results"]) == 1
    m.update(mid, "I am allergic to peanuts and shellfish")
    assert [e["event"] for e in m.history(mid)][:2] == ["ADD", "UPDATE"]
    m.delete(mid)
    assert m.get_all(user_id="alice")["results"] == []


def test_memory_events_on_the_thoughts_socket(make_daemon, tmp_path):
    """Each acknowledged change is published on memory.event, in order, after
    its reply's sync; the bridge's Thoughts types them as MemoryEvent."""
    import json
    import time

    import zmq
    from aiki_bridge import MemoryEvent, Thoughts

    d = make_daemon().start()
    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"memory.event")
    sub.connect(d.thoughts)
    # the subscription takes a moment to reach the publisher: add until one shows
    deadline = time.monotonic() + 20
    while not sub.poll(100):
        assert time.monotonic() < deadline, "no memory.event at all"
        d.request({"op": "memory.add", "text": "warm-up", "user": "probe", "vector": unit(200)})
    while sub.poll(300):
        sub.recv_multipart()

    def events(n):
        out = []
        while len(out) < n:
            assert sub.poll(10000), f"only {out}"
            topic, body = sub.recv_multipart()
            assert topic == b"memory.event"
            out.append(json.loads(body))
        return out

    r = d.request
    a = r({"op": "memory.add", "text": "I live in Oslo", "user": "kari", "vector": unit(1)})["memory_id"]
    r({"op": "memory.add", "text": "I live in Oslo!", "user": "kari", "vector": unit(1)})  # a twin
    r({"op": "memory.update", "memory_id": a, "text": "I live in Bergen"})
    b = r({"op": "memory.add", "text": "I have a cat", "user": "kari", "vector": unit(2)})["memory_id"]
    r({"op": "memory.delete", "memory_id": b})
    r({"op": "memory.add", "text": "other", "user": "ola", "vector": unit(3)})
    assert r({"op": "memory.delete_all", "user": "kari"})["deleted"] == 1
    r({"op": "memory.delete", "memory_id": 999999})  # not_found: no event
    ev = events(7)
    got = [(e["event"], e["memory_id"], e["user"], e.get("text")) for e in ev]
    assert got[:6] == [("add", a, "kari", "I live in Oslo"), ("dedup", a, "kari", "I live in Oslo!"),
                       ("update", a, "kari", "I live in Bergen"), ("add", b, "kari", "I have a cat"),
                       ("delete", b, "kari", None), ("add", got[5][1], "ola", "other")]
    assert got[6] == ("delete", a, "kari", None)
    assert [e["seq"] for e in ev] == sorted(e["seq"] for e in ev) and len({e["boot_id"] for e in ev}) == 1
    assert not sub.poll(500), "an event for a failed delete"
    # import: one summary event with the count
    path = str(tmp_path / "all.jsonl")
    assert d.admin_cmd(f"export {path}")["ok"]
    assert d.admin_cmd(f"import {path}")["ok"]
    imp = events(1)[0]
    assert imp["event"] == "import" and imp["count"] >= 2
    sub.close()
    # the bridge's typed subscriber
    with Thoughts(d.thoughts, topics=("memory.event",)) as th:
        deadline = time.monotonic() + 20
        seen = None
        while seen is None and time.monotonic() < deadline:
            r({"op": "memory.add", "text": "typed", "user": "t", "vector": unit(50)})
            e = th.recv(timeout=0.3)
            while e is not None and seen is None:
                if isinstance(e, MemoryEvent) and e.text == "typed":
                    seen = e
                e = th.recv(timeout=0.05)
        assert seen is not None and seen.event in ("add", "dedup") and seen.user == "t" and seen.memory_id > 0
