"""Crash consistency over the wire: 20 times, writers add, update and delete
memories (client vectors) and add and delete knowledge-graph triples while the
daemon is killed with SIGKILL at a random moment. After each restart every
acknowledged change is there — each memory with exactly its acknowledged text
(or, for the one update in flight at the kill, that update's text), each
acknowledged delete still done — nothing unacknowledged is half-applied (a
memory is either absent or whole, with its vector searchable), and the index
agrees with the database (each live memory is its own nearest neighbour)."""
from __future__ import annotations

import json
import random
import signal
import threading
import time

import pytest

from harness import Daemon

# 21 daemon starts and 20 kills: ./dev.sh runs it in the release stage only (conftest: slow).
pytestmark = pytest.mark.slow

ROUNDS = 20
DIM = 384
LOCK = threading.Lock()  # guards the shared record of acknowledged changes


def unit(rng: random.Random):
    v = [rng.gauss(0, 1) for _ in range(DIM)]
    n = sum(x * x for x in v) ** 0.5
    return [x / n for x in v]


class Writer(threading.Thread):
    """Sends writes one at a time and records the ones acknowledged."""

    def __init__(self, d: Daemon, k: int, rnd: int, rng: random.Random, acked: dict):
        super().__init__(daemon=True)
        self.d, self.k, self.rnd, self.rng, self.acked = d, k, rnd, rng, acked
        self.stop = False
        self.inflight = None  # (kind, key[, text]) of a delete, kg.add or update sent but not acknowledged

    def call(self, s, body):
        s.send_multipart([b"", json.dumps({"v": 1, "id": "w", **body}).encode()])
        if not s.poll(5000):
            return None  # killed: not acknowledged
        return json.loads(s.recv_multipart()[-1])

    def run(self):
        s = self.d.dealer()
        i = 0
        try:
            while not self.stop:
                i += 1
                op = self.rng.random()
                with LOCK:
                    mine = [m for m, (w, _, _) in self.acked["mem"].items() if w == self.k]
                if op < 0.5 or not mine:
                    vec = unit(self.rng)
                    text = f"w{self.k} r{self.rnd} n{i}"
                    r = self.call(s, {"op": "memory.add", "text": text, "user": "crash", "vector": vec,
                                      "meta": {"w": self.k}})
                    if r is None:
                        return
                    assert r["ok"], r
                    with LOCK:
                        self.acked["mem"][r["memory_id"]] = (self.k, text, vec)
                elif op < 0.65:
                    mid = self.rng.choice(mine)
                    text = f"w{self.k} r{self.rnd} n{i} updated"
                    with LOCK:
                        vec = self.acked["mem"][mid][2]
                    self.inflight = ("upd", mid, text)
                    r = self.call(s, {"op": "memory.update", "memory_id": mid, "text": text, "vector": vec})
                    if r is None:
                        return
                    assert r["ok"], r
                    self.inflight = None
                    with LOCK:
                        w, _, vec = self.acked["mem"][mid]
                        self.acked["mem"][mid] = (w, text, vec)
                elif op < 0.75:
                    mid = self.rng.choice(mine)
                    self.inflight = ("mem", mid)
                    r = self.call(s, {"op": "memory.delete", "memory_id": mid})
                    if r is None:
                        return
                    assert r["ok"], r
                    self.inflight = None
                    with LOCK:
                        del self.acked["mem"][mid]
                        self.acked["deleted"].add(mid)
                elif op < 0.95:
                    t = [f"e{self.k}-{i}", "knows", f"e{self.k}-{i + 1}"]
                    self.inflight = ("kgadd", tuple(t))
                    r = self.call(s, {"op": "kg.add", "triples": [t]})
                    if r is None:
                        return
                    assert r["ok"], r
                    self.inflight = None
                    with LOCK:
                        self.acked["kg"].add(tuple(t))
                        self.acked["kg_deleted"].discard(tuple(t))
                else:
                    with LOCK:
                        mine_kg = sorted(t for t in self.acked["kg"] if t[0].startswith(f"e{self.k}-"))
                    if not mine_kg:
                        continue
                    t = self.rng.choice(mine_kg)
                    self.inflight = ("kg", t)
                    r = self.call(s, {"op": "kg.delete", "triple": list(t)})
                    if r is None:
                        return
                    assert r["ok"], r
                    self.inflight = None
                    with LOCK:
                        self.acked["kg"].discard(t)
                        self.acked["kg_deleted"].add(t)
        finally:
            s.close()


def check(d: Daemon, acked: dict):
    def req(body):
        r = d.request(body, timeout=30)
        assert r["ok"], r
        return r

    # every page: the rounds write past 10,000 memories on a fast machine (one page of 10,000
    # made the memories past it look lost)
    listed, total = [], None
    while total is None or len(listed) < total:
        page = req({"op": "memory.list", "user": "crash", "limit": 10000, "offset": len(listed)})
        total = page["total"]
        if not page["memories"]:
            break
        listed += page["memories"]
    by_id = {m["id"]: m for m in listed}
    for mid, (w, text, vec) in list(acked["mem"].items()):
        assert mid in by_id, f"acknowledged memory {mid} lost"
        # Text: exactly the acknowledged one, or the update that was in flight at the kill.
        got, maybe = by_id[mid]["text"], acked["maybe"].pop(mid, None)
        assert got == text or got == maybe, \
            f"memory {mid}: acknowledged {text!r}" + (f" (or in flight {maybe!r})" if maybe else "") + f", found {got!r}"
        acked["mem"][mid] = (w, got, vec)  # the in-flight update's outcome is known now
    for mid in acked["deleted"]:
        assert mid not in by_id, f"acknowledged delete of {mid} undone"
    # Unacknowledged adds may be there, but whole: each listed memory is found by its own vector.
    rng_ids = list(acked["mem"].items())
    random.Random(len(rng_ids)).shuffle(rng_ids)
    for mid, (_, _, vec) in rng_ids[:40]:
        hits = req({"op": "memory.search", "vector": vec, "top_k": 1, "user": "crash"})["hits"]
        assert hits and hits[0]["id"] == mid and hits[0]["score"] > 0.999, (mid, hits)
    for t in acked["kg"]:
        facts = req({"op": "kg.query", "entity": t[0]})["facts"]
        assert any(f["subject"] == t[0] and f["relation"] == t[1] and f["object"] == t[2] for f in facts), t
    for t in acked["kg_deleted"]:
        r = d.request({"op": "kg.query", "entity": t[0]}, timeout=30)
        assert r["ok"] or r["error"]["code"] == "not_found", r
        facts = r["facts"] if r["ok"] else []
        assert not any(f["subject"] == t[0] and f["relation"] == t[1] and f["object"] == t[2] for f in facts), \
            f"acknowledged kg.delete of {t} undone"


def test_sigkill_at_random_moments_loses_no_acknowledged_change(tmp_path):
    rng = random.Random(2026)
    # mem: id -> (writer, text, vector); maybe: id -> text of an update in flight at the kill
    acked = {"mem": {}, "deleted": set(), "kg": set(), "kg_deleted": set(), "maybe": {}}
    base = str(tmp_path)
    sets = ["synthesis.learn=false", "memory.remember_sources="]
    for rnd in range(ROUNDS):
        d = Daemon(sets, base=base).start()
        try:
            check(d, acked)
            writers = [Writer(d, k, rnd, random.Random(rng.random()), acked) for k in range(4)]
            for w in writers:
                w.start()
            time.sleep(rng.uniform(0.2, 1.2))
            d.proc.send_signal(signal.SIGKILL)
            d.proc.wait(30)
            for w in writers:
                w.stop = True
                w.join(30)
                # A delete cut off by the kill may or may not have happened: no longer asserted either way;
                # an update cut off may have happened: the memory has its old text or exactly the new one.
                if w.inflight and w.inflight[0] == "mem":
                    acked["mem"].pop(w.inflight[1], None)
                elif w.inflight and w.inflight[0] == "upd":
                    acked["maybe"][w.inflight[1]] = w.inflight[2]
                elif w.inflight and w.inflight[0] == "kgadd":
                    acked["kg_deleted"].discard(w.inflight[1])
                elif w.inflight:
                    acked["kg"].discard(w.inflight[1])
        finally:
            d.stop()
    d = Daemon(sets, base=base).start()
    try:
        check(d, acked)
        assert len(acked["mem"]) > 50 and len(acked["kg"]) > 20, (len(acked["mem"]), len(acked["kg"]))
    finally:
        d.stop()
