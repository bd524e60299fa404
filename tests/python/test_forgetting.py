"""Forgetting and kept turns, over the wire against the real daemon (issue 27,
items 3 and 4).

Contents:
  files_holding          which of the daemon's database files hold some bytes
  test_delete_forgets_the_text_and_keeps_the_events
                         memory.delete: no file holds the text; history keeps
                         the events without it
  test_delete_all_forgets_the_user_everywhere
                         memory.delete_all: memories, history texts, graph
                         facts, turns and reminders of the user, in no file
                         (main db, -wal, -shm); another user's stay
  test_a_time_range_forgets_what_was_said_then
                         since/until on memory.list and memory.delete_all
  test_bad_forget_fields_are_refused
  test_turns_survive_a_restart_bounded_and_purged
                         turns in kg.sqlite, at most synthesis.turns per user,
                         loaded again at start, gone with the user
"""
from __future__ import annotations

import os
import sqlite3
import time

from aiki_bridge import Client, Subscriber
from harness import unit, wait_final

SETS = ("synthesis.learn=false", "daemon.debug=true", "synthesis.timezone=Europe/Oslo")
DB_FILES = ("memory/memory.db", "memory/memory.db-wal", "memory/memory.db-shm",
            "kg.sqlite", "kg.sqlite-wal", "kg.sqlite-shm")


def files_holding(d, needle: str) -> list:
    """The database files (main, -wal, -shm of memory.db and kg.sqlite) whose
    bytes contain needle (UTF-8)."""
    out = []
    for rel in DB_FILES:
        path = os.path.join(d.data, rel)
        if os.path.exists(path):
            with open(path, "rb") as f:
                if needle.encode() in f.read():
                    out.append(rel)
    return out


def say(c, sub, text, user):
    r = c.request("perceive", text=text, user=user)
    f = wait_final(sub, r["percept_id"], timeout=60)
    assert f is not None, f"no thought for {text!r}"
    return f


def wait_for(pred, what, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def turn_rows(d, user=None):
    db = sqlite3.connect(f"file:{os.path.join(d.data, 'kg.sqlite')}?mode=ro", uri=True)
    try:
        if user is None:
            return db.execute("SELECT user, role, text FROM turns ORDER BY id").fetchall()
        return db.execute("SELECT role, text FROM turns WHERE user = ? ORDER BY id", (user,)).fetchall()
    finally:
        db.close()


def own_entities(c, user):
    """The names of the entities in `user`'s own graph (not the shared one's)."""
    return [e["name"] for e in c.request("kg.entities", user=user, limit=1000)["entities"] if e["user"] == user]


def test_delete_forgets_the_text_and_keeps_the_events(make_daemon):
    d = make_daemon(*SETS).start()
    r = d.request
    a = r({"op": "memory.add", "text": "my secret PIN is 4321", "user": "kari", "vector": unit(1)})["memory_id"]
    assert r({"op": "memory.update", "memory_id": a, "text": "my secret PIN is 9876", "vector": unit(2)})["updated"]
    keep = r({"op": "memory.add", "text": "kari likes marzipan", "user": "kari", "vector": unit(3)})["memory_id"]
    assert files_holding(d, "PIN is 4321"), "the scan cannot see text that is there"
    assert r({"op": "memory.delete", "memory_id": a})["deleted"]
    for t in ("PIN is 4321", "PIN is 9876"):
        assert files_holding(d, t) == [], t
    ev = r({"op": "memory.history", "memory_id": a})["events"]
    assert [e["event"] for e in ev] == ["add", "update", "delete"]
    assert all(e["old"] is None and e["new"] is None and e["at"] > 0 for e in ev), ev
    assert r({"op": "memory.get", "memory_id": keep})["memory"]["text"] == "kari likes marzipan"
    assert files_holding(d, "kari likes marzipan")


def test_delete_all_forgets_the_user_everywhere(make_daemon):
    d = make_daemon(*SETS).start()
    r = d.request
    with Subscriber(d.thoughts, topics=["thought.final"]) as sub, Client(d.requests, timeout=60) as c:
        time.sleep(0.3)
        # a fact understood into the graph, two turns, the percept remembered
        said = say(c, sub, "My brother Zebedeus lives in Quixotown.", "kari")
        assert said.source in ("understood", "noted"), (said.source, said.text)
        say(c, sub, "Remind me to water the begonias tomorrow at 18:00.", "kari")
        say(c, sub, "My brother Olafsen lives in Bergenby.", "ola")
        wait_for(lambda: r({"op": "memory.list", "user": "kari"})["total"] >= 2, "kari's percepts remembered")
        pin = r({"op": "memory.add", "text": "my secret PIN is 4321", "user": "kari", "vector": unit(5)})["memory_id"]
        r({"op": "memory.update", "memory_id": pin, "text": "my secret PIN is 5555", "vector": unit(6)})
        assert len(c.request("reminder.list", user="kari")["reminders"]) == 1
        assert own_entities(c, "kari")
        assert turn_rows(d, "kari")
        for t in ("Quixotown", "begonias", "PIN is 4321"):
            assert files_holding(d, t), t
        out = r({"op": "memory.delete_all", "user": "kari"})
        assert out["ok"], out
        assert out["deleted"] >= 3 and out["graph"] >= 2 and out["turns"] >= 2 and out["reminders"] == 1, out
        for t in ("Quixotown", "Zebedeus", "begonias", "PIN is 4321", "PIN is 5555"):
            assert files_holding(d, t) == [], t
        assert r({"op": "memory.list", "user": "kari"})["total"] == 0
        assert [e["new"] for e in r({"op": "memory.history", "memory_id": pin})["events"]] == [None, None, None]
        assert c.request("reminder.list", user="kari", all=True)["reminders"] == []
        assert turn_rows(d, "kari") == []
        assert own_entities(c, "kari") == []
        # ola's are untouched
        assert files_holding(d, "Bergenby")
        assert own_entities(c, "ola")
        assert turn_rows(d, "ola")
        # the forgotten user is not remembered again by the next start
    assert d.stop() == 0
    for t in ("Quixotown", "PIN is 4321"):
        assert files_holding(d, t) == [], t


def test_a_time_range_forgets_what_was_said_then(make_daemon):
    d = make_daemon(*SETS).start()
    r = d.request
    ids, at = [], []
    for i, word in enumerate(("monday", "tuesday", "wednesday")):
        m = r({"op": "memory.add", "text": f"what I said on {word}", "user": "kari", "vector": unit(10 + i)})
        ids.append(m["memory_id"])
        at.append(r({"op": "memory.get", "memory_id": m["memory_id"]})["memory"]["created"])
        time.sleep(0.02)
    lst = r({"op": "memory.list", "user": "kari", "since": at[1], "until": at[1]})
    assert [m["id"] for m in lst["memories"]] == [ids[1]] and lst["total"] == 1
    assert r({"op": "memory.list", "user": "kari", "since": at[1]})["total"] == 2
    assert r({"op": "memory.list", "user": "kari", "until": at[1]})["total"] == 2
    out = r({"op": "memory.delete_all", "user": "kari", "since": at[1], "until": at[1]})
    assert out["deleted"] == 1, out
    assert files_holding(d, "said on tuesday") == []
    assert files_holding(d, "said on monday") and files_holding(d, "said on wednesday")
    assert [m["id"] for m in r({"op": "memory.list", "user": "kari"})["memories"]] == [ids[0], ids[2]]
    # a filter narrows delete_all to memories whose meta matches (no graph, turns or reminders)
    r({"op": "memory.add", "text": "tagged", "user": "kari", "meta": {"agent_id": "a1"}, "vector": unit(20)})
    out = r({"op": "memory.delete_all", "user": "kari", "filter": {"agent_id": "a1"}})
    assert out["deleted"] == 1 and out["graph"] == 0 and out["turns"] == 0, out
    assert r({"op": "memory.list", "user": "kari"})["total"] == 2


def test_bad_forget_fields_are_refused(make_daemon):
    d = make_daemon(*SETS).start()
    r = d.request
    for body, word in (({"user": "kari", "since": -1}, "since"), ({"user": "kari", "until": "x"}, "until"),
                       ({"user": "kari", "since": 10, "until": 5}, "since"), ({"user": "kari", "filter": 3}, "filter"),
                       ({"since": 1}, "user")):
        e = r({"op": "memory.delete_all", **body})
        assert e["error"]["code"] == "bad_request" and word in e["error"]["message"], (body, e)
    e = r({"op": "memory.list", "since": "yesterday"})
    assert e["error"]["code"] == "bad_request" and "since" in e["error"]["message"], e


def test_turns_survive_a_restart_bounded_and_purged(make_daemon):
    d = make_daemon(*SETS, "synthesis.turns=3").start()
    with Subscriber(d.thoughts, topics=["thought.final"]) as sub, Client(d.requests, timeout=60) as c:
        time.sleep(0.3)
        say(c, sub, "My sister Ingrid lives in Tromsø.", "kari")
        say(c, sub, "My brother Nils lives in Bodø.", "kari")
        say(c, sub, "My cousin Per lives in Oslo.", "ola")
    rows = turn_rows(d, "kari")
    assert len(rows) == 3, rows  # two percepts, two turns each, at most 3 kept
    assert rows[-2][0] == "user" and rows[-2][1] == "My brother Nils lives in Bodø."
    assert d.stop() == 0
    d2 = make_daemon(*SETS, "synthesis.turns=3", base=d.base).start()
    assert "conversation turns loaded" in d2.log()
    assert turn_rows(d2, "kari") == rows
    assert d2.admin_cmd("stats")["actors"]["synthesis"]["turn_write_errors"] == 0
    out = d2.request({"op": "memory.delete_all", "user": "kari"})
    assert out["turns"] == 3, out
    assert turn_rows(d2, "kari") == [] and len(turn_rows(d2, "ola")) == 2
    assert files_holding(d2, "Ingrid lives") == []
    # fewer turns kept at run time trims the stored ones too
    assert d2.admin_cmd("set synthesis.turns 1")["ok"]
    assert len(turn_rows(d2, "ola")) == 1
