"""Export and import of one user's whole data through the admin socket, to and
from the client's own file (issue 27, item 4): memories with vectors and
history, graph facts (superseded ones too), turns, reminders and the time
zone, in the versioned JSONL format of docs/admin.md.

Contents:
  snapshot_of      what the daemon holds of a user, comparable across daemons
  test_a_user_round_trips_through_a_file
                   export → delete_all → import gives the same user back; a
                   second import adds nothing; a fresh daemon imports it too
                   (under another name); aikictl's export-user/import-user
  test_bad_exports_are_refused
"""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time

import pytest

from aiki_bridge import Client, Subscriber
from aiki_bridge.admin import AdminClient, AdminError
from harness import unit, wait_final

SETS = ("synthesis.learn=false", "daemon.debug=true", "synthesis.timezone=Europe/Oslo")


def say(c, sub, text, user):
    r = c.request("perceive", text=text, user=user)
    f = wait_final(sub, r["percept_id"], timeout=60)
    assert f is not None, f"no thought for {text!r}"
    return f


def turns_of(d, user):
    db = sqlite3.connect(f"file:{os.path.join(d.data, 'kg.sqlite')}?mode=ro", uri=True)
    try:
        return db.execute("SELECT role, text, at FROM turns WHERE user = ? ORDER BY id", (user,)).fetchall()
    finally:
        db.close()


def snapshot_of(d, user):
    """Memories (text, meta, times, model, history), facts, reminders, turns
    and zone of `user`, without ids."""
    r = d.request
    mems = r({"op": "memory.list", "user": user, "limit": 10000})["memories"]
    out = {"memories": sorted((m["text"], json.dumps(m["meta"], sort_keys=True), m["created"], m["updated"],
                               m["model"], json.dumps(r({"op": "memory.history", "memory_id": m["id"]})["events"]))
                              for m in mems)}
    with Client(d.requests, timeout=30) as c:
        ents = c.request("kg.entities", user=user, limit=1000)["entities"]
        facts = set()
        for e in ents:
            if e["user"] != user:
                continue
            for f in c.request("kg.query", entity=e["name"], user=user)["facts"]:
                facts.add((f["subject"], f["relation"], f["object"]))
        out["facts"] = sorted(facts)
        out["entities"] = sorted((e["name"], e["type"], tuple(sorted(e["aliases"]))) for e in ents if e["user"] == user)
        rems = c.request("reminder.list", user=user, all=True)
        out["reminders"] = sorted((x["what"], x["due"], x["state"], x["created"]) for x in rems["reminders"])
        out["timezone"] = rems["timezone"]
    out["turns"] = turns_of(d, user)
    return out


def test_a_user_round_trips_through_a_file(make_daemon, tmp_path):
    d = make_daemon(*SETS).start()
    r = d.request
    with Subscriber(d.thoughts, topics=["thought.final"]) as sub, Client(d.requests, timeout=60) as c:
        time.sleep(0.3)
        assert c.request("user.timezone", user="kari", timezone="America/New_York")["timezone"] == "America/New_York"
        say(c, sub, "My brother Jonas lives in Stavanger.", "kari")
        say(c, sub, "Remind me to water the plants tomorrow at 18:00.", "kari")
        say(c, sub, "My sister Ingrid lives in Oslo.", "ola")
        c.request("kg.add", user="kari", triples=[["Jonas", "likes", "chess", {"subject_type": "person"}],
                                                  ["Jonas", "alias", "Jonny"]])
        a = r({"op": "memory.add", "text": "I like green tea", "user": "kari", "meta": {"topic": "drink"},
               "vector": unit(7)})["memory_id"]
        r({"op": "memory.update", "memory_id": a, "text": "I like green tea a lot", "vector": unit(8)})
        deadline = time.monotonic() + 20
        while r({"op": "memory.list", "user": "kari"})["total"] < 3:  # the two percepts remembered
            assert time.monotonic() < deadline
            time.sleep(0.05)
    before = snapshot_of(d, "kari")
    assert before["facts"] and before["reminders"] and before["turns"] and len(before["memories"]) == 3
    path = str(tmp_path / "kari.jsonl")
    with AdminClient(d.admin, timeout=60) as adm:
        counts = adm.export_user("kari", path, page=2)  # pages of 2 memories: the cursor is used
        assert counts["memory"] == 3 and counts["entity"] >= 3 and counts["relation"] >= 2, counts
        assert counts["turn"] == len(before["turns"]) and counts["reminder"] == 1 and counts["setting"] == 1
        lines = open(path, encoding="utf-8").read().splitlines()
        head = json.loads(lines[0])
        assert head["type"] == "header" and head["format"] == "aikid.user" and head["version"] == 1
        assert head["user"] == "kari" and len(lines) == 1 + sum(counts.values())
        out = r({"op": "memory.delete_all", "user": "kari"})
        assert out["deleted"] == 3 and out["reminders"] == 1, out
        gone = snapshot_of(d, "kari")
        assert gone["memories"] == [] and gone["facts"] == [] and gone["turns"] == [] and gone["reminders"] == []
        got = adm.import_user(path)
        assert got["memories"] == 3 and got["reminders"] == 1 and got["settings"] == 1, got
        assert got["turns"] == len(before["turns"]) and got["graph"] >= 5, got
        assert snapshot_of(d, "kari") == before
        again = adm.import_user(path)  # nothing new the second time
        assert again == {"memories": 0, "graph": 0, "turns": 0, "reminders": 0, "settings": 0}, again
        assert snapshot_of(d, "kari") == before
    # the imported memories are found by search as before
    hits = r({"op": "memory.search", "vector": unit(8), "user": "kari", "top_k": 1})["hits"]
    assert hits[0]["text"] == "I like green tea a lot" and hits[0]["score"] > 0.99
    # a fresh daemon takes the file under another name, through aikictl
    d2 = make_daemon(*SETS).start()
    cmd = [sys.executable, "-m", "aiki_bridge.aikictl", "--socket", d2.admin, "--timeout", "60", "-c",
           "import-user", path, "kari2"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["imported"]["memories"] == 3
    theirs = snapshot_of(d2, "kari2")
    assert theirs == before
    p = subprocess.run(cmd[:-3] + ["export-user", "kari2", str(tmp_path / "k2.jsonl")], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["records"]["memory"] == 3


def test_bad_exports_are_refused(make_daemon, tmp_path):
    d = make_daemon(*SETS).start()
    with AdminClient(d.admin, timeout=30) as adm:
        for line, word in (("export-user kari", "usage"), ('export-user {"user": 3}', "user"),
                           ('export-user {"user": "k", "after": -1}', "after"),
                           ('import-user {"user": "k", "format": "x", "version": 1, "records": []}', "format"),
                           ('import-user {"user": "k", "format": "aikid.user", "version": 9, "records": []}',
                            "version"),
                           ('import-user {"user": "k", "format": "aikid.user", "version": 1, "records": 5}',
                            "records"),
                           ('import-user {"user": "k", "format": "aikid.user", "version": 1, '
                            '"records": [{"type": "memory", "text": "x"}]}', "created"),
                           ('import-user {"user": "k", "format": "aikid.user", "version": 1, '
                            '"records": [{"type": "relation", "subject": "", "relation": "r", "object": "o"}]}',
                            "subject"),
                           ('import-user {"user": "k", "format": "aikid.user", "version": 1, '
                            '"records": [{"type": "thing"}]}', "type")):
            e = adm.command(line)
            assert e["ok"] is False and e["error"]["code"] == "bad_request", (line, e)
            assert word in e["error"]["message"], (line, e)
        bad = tmp_path / "bad.jsonl"
        bad.write_text('{"type": "header", "format": "aikid.memory", "version": 1}\n')
        with pytest.raises(ValueError, match="not an aikid user export"):
            adm.import_user(str(bad))
        bad.write_text('{"type": "header", "format": "aikid.user", "version": 2, "user": "k"}\n')
        with pytest.raises(ValueError, match="version 2"):
            adm.import_user(str(bad))
    assert d.request({"op": "memory.list", "user": "k"})["total"] == 0
