"""Durable adds/s over the wire: memory.add with client vectors (dim 384,
random unit vectors, dedup on as configured), each acknowledged only after its
SQLite WAL sync (group commit). 1 and 8 clients (DEALER sockets, one thread
each), with 1 request in flight per client (a blocking client) and with a
window of W in flight (a pipelining client, as asyncio code does). The memory
actor's worker pool bounds how many adds share one sync: memory.workers.

Run: .venv/bin/python bench/memory/bench_adds_wire.py [--seconds 10] [--workers 64]
Prints a markdown table; --out appends it to a file.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import random
import sys
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "python"))
from harness import Daemon  # noqa: E402


def unit(rng: random.Random, dim: int = 384):
    v = [rng.gauss(0, 1) for _ in range(dim)]
    n = sum(x * x for x in v) ** 0.5
    return [round(x / n, 6) for x in v]


def run(d: Daemon, clients: int, window: int, seconds: float):
    rng = random.Random(7)
    pool = [unit(rng) for _ in range(512)]
    frames = [json.dumps({"v": 1, "id": str(i), "op": "memory.add", "text": f"note {i}", "user": "bench",
                          "vector": pool[i % len(pool)]}).encode() for i in range(2048)]
    done = [0] * clients
    errors = [0] * clients
    stop = time.perf_counter() + seconds

    def client(k):
        s = d.dealer()
        inflight, i = 0, k
        while True:
            while inflight < window and time.perf_counter() < stop:
                s.send_multipart([b"", frames[i % len(frames)]])
                i += clients
                inflight += 1
            if inflight == 0:
                break
            if not s.poll(30_000):
                raise RuntimeError("no reply in 30 s")
            r = json.loads(s.recv_multipart()[-1])
            inflight -= 1
            if r.get("ok"):
                done[k] += 1
            else:
                errors[k] += 1
        s.close()

    t0 = time.perf_counter()
    ts = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    dt = time.perf_counter() - t0
    return sum(done) / dt, sum(errors)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--workers", type=int, default=64)
    ap.add_argument("--window", type=int, default=32)
    ap.add_argument("--out")
    a = ap.parse_args()
    # Random vectors never come within the dedup cosine, so each add is new (dedup still searched).
    d = Daemon([f"memory.workers={a.workers}", "ipc.max_inflight_memory=4096"]).start()
    rows = []
    try:
        for clients, window in ((1, 1), (8, 1), (1, a.window), (8, a.window)):
            rate, errs = run(d, clients, window, a.seconds)
            st = d.admin_cmd("stats")["actors"]["memory"]["store"]
            rows.append((clients, window, rate, errs, st))
            print(clients, window, f"{rate:.0f}/s", errs, flush=True)
    finally:
        d.stop()
    lines = [f"Durable memory.add over the wire (client vectors, dim 384, memory.workers={a.workers}, "
             f"{a.seconds:.0f} s each; one daemon, the store growing across rows):", "",
             "| clients | in flight per client | durable adds/s | errors |", "| ---: | ---: | ---: | ---: |"]
    lines += [f"| {c} | {w} | {r:.0f} | {e} |" for c, w, r, e, _ in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        with open(a.out, "a") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    main()
