"""Hardening II-a over the real sockets: requests a hostile local client sends,
and stored bytes that are not what the daemon writes. Each used to kill the
daemon or answer nonsense (issue 21); each must get a clear, specific error
and leave the daemon serving and every stored byte as it was."""
from __future__ import annotations

import json
import os
import sqlite3

import pytest

from aiki_bridge import AikidError, Client, Subscriber
from harness import unit, wait_final


def test_json_nested_300000_deep_is_bad_request_and_the_daemon_serves_on(make_daemon):
    # ~600 KB, under the 1 MiB frame limit: a copy or dump of such a value
    # overflowed the stack (SIGSEGV) in perceive meta, memory.search filter
    # and generate schema
    d = make_daemon().start()
    deep = b"[" * 300000 + b"]" * 300000
    for op, member in (("perceive", b"meta"), ("memory.search", b"filter"), ("generate", b"schema")):
        frame = (b'{"v":1,"op":"' + op.encode() + b'","id":"deep-' + member + b'","text":"x","query":"x",'
                 b'"prompt":"x","' + member + b'":' + deep + b"}")
        r = d.send_raw(frame, timeout=30)
        assert r["ok"] is False and r["error"]["code"] == "bad_request", r
        assert r["id"] == "deep-" + member.decode()
        assert r["error"]["message"].startswith(member.decode() + "[0][0][0][0][0]…: JSON nested deeper than 64 levels")
        assert d.request({"op": "ping"})["ok"]
    # 63 levels of meta are fine (the request object is level 1); 100 were
    # stored before the limit, and the bridge raised RecursionError reading
    # them back only past Python's own limit: now refused at the door
    meta = {}
    for _ in range(62):
        meta = {"a": meta}
    with Client(d.requests, timeout=30) as c:
        assert c.request("memory.add", text="nested meta", user="u", meta=meta, vector=unit(1))["memory_id"] > 0
        for _ in range(40):
            meta = {"a": meta}
        with pytest.raises(AikidError) as e:
            c.request("memory.add", text="deeper", user="u", meta=meta, vector=unit(2))
        assert e.value.code == "bad_request" and "meta.a.a.a.a.a…: JSON nested deeper than 64" in str(e.value)
        listed = c.request("memory.list", user="u")
        assert listed["total"] == 1 and listed["memories"][0]["text"] == "nested meta"
    assert d.proc.poll() is None


def test_a_stored_text_that_is_not_utf8_is_served_and_recalled_and_the_daemon_lives(make_daemon):
    # A row holding \xff\xfe was served by memory.get, but the next perceive
    # that recalled it threw in the memory actor's dump: exit 1, and the same
    # again after every restart
    d = make_daemon().start()
    with Client(d.requests, timeout=60) as c:
        mid = c.request("memory.add", text="My sister Kari lives in Bergen", user="kari")["memory_id"]
    d.stop()
    db = os.path.join(d.data, "memory", "memory.db")
    con = sqlite3.connect(db)
    con.execute("UPDATE memories SET text = CAST(? AS TEXT) WHERE id = ?",
                (b"My sister Kari lives in Bergen \xff\xfe", mid))
    con.commit()
    con.close()
    d.start()
    with Subscriber(d.thoughts, topics=["thought.final"]) as sub, Client(d.requests, timeout=60) as c:
        got = c.request("memory.get", memory_id=mid)["memory"]["text"]
        assert got == "My sister Kari lives in Bergen \ufffd\ufffd"
        r = c.request("perceive", text="Where does my sister Kari live?", user="kari")
        final = wait_final(sub, r["percept_id"], timeout=120)
        assert final is not None, "no thought.final: the recall of the bad row ended an actor\n" + d.log()
        assert mid in final.memories
        assert d.proc.poll() is None
        stats = d.admin_cmd("stats")
        assert stats["actors"]["memory"]["store"]["repaired_rows"] >= 1
        for name in ("memory", "synthesis", "inference"):
            assert "request_receiver_down" not in json.dumps(stats["actors"][name]), stats["actors"][name]
    # the stored bytes are as they were
    con = sqlite3.connect(db)
    raw = con.execute("SELECT CAST(text AS BLOB) FROM memories WHERE id = ?", (mid,)).fetchone()[0]
    con.close()
    assert raw.endswith(b"\xff\xfe")


def test_embed_is_bounded_by_tokens_per_request(make_daemon):
    # 128 texts of ~3 KB held the one-thread embedder for seconds, and another
    # client's memory.add failed `unavailable` meanwhile
    d = make_daemon("embedding.max_tokens=1024").start()
    with Client(d.requests, timeout=60) as c:
        big = ["word " * 600] * 8  # 8 texts, each cut at the model's 256 (or 512) tokens
        r = d.request({"op": "embed", "texts": big}, timeout=60)
        assert r["ok"] is False and r["error"]["code"] == "too_large", r
        assert "embedding.max_tokens is 1024" in r["error"]["message"]
        small = c.request("embed", texts=["hello", "hei"])
        assert len(small["vectors"]) == 2
        assert d.admin_cmd("set embedding.max_tokens 100000")["ok"]
        assert len(c.request("embed", texts=big)["vectors"]) == 8


def test_numbers_past_int64_and_subnormal_vectors(make_daemon):
    d = make_daemon().start()
    with Client(d.requests, timeout=60) as c:
        for i in range(3):
            c.request("memory.add", text=f"m{i}", user="n", vector=unit(i))
        # 2^32 was cast to int (0): the first page came back
        page = d.request({"op": "memory.list", "user": "n", "offset": 2**32})
        assert page["ok"] and page["memories"] == [] and page["total"] == 3
        over = d.request({"op": "memory.list", "user": "n", "offset": 2**63})
        assert over["error"]["code"] == "bad_request" and over["error"]["message"].startswith("offset: 9223372036854775808")
        seed = d.request({"op": "generate", "prompt": "hi", "max_tokens": 1, "seed": 2**64 - 1})
        assert seed["error"]["code"] == "bad_request" and seed["error"]["message"].startswith("seed: 18446744073709551615")
        # all-subnormal vectors: the store held an infinite vector and scores came back null
        tiny = [1e-40] * 384
        c.request("memory.add", text="tiny", user="s", vector=tiny)
        hits = c.request("memory.search", vector=tiny, user="s")["hits"]
        assert len(hits) == 1 and isinstance(hits[0]["score"], float) and abs(hits[0]["score"] - 1.0) < 1e-4
