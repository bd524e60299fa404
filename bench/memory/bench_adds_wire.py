"""Durable adds/s over the wire: memory.add with client vectors (dim 384,
random unit vectors, each add a new memory: no two vectors come within the
dedup cosine, and each add's dedup search runs), each acknowledged only after
its SQLite WAL sync (group commit). 1 and 8 clients (DEALER sockets, one
thread each), with 1 request in flight per client (a blocking client) and
with a window of W in flight (a pipelining client, as asyncio code does).
Each row starts a fresh daemon on an empty store and makes --adds adds, so
the store grows from 0 to --adds in every row. The memory actor's worker pool
bounds how many adds share one sync: memory.workers.

Peer (--peers, run with .venv-peers/bin/python): qdrant-client's local mode
on disk (QdrantClient(path=...), what AIKI's mem0 uses today), the same
vectors and payloads, one upsert per add from 1 and 8 client threads; each
upsert is committed to its SQLite file before it returns. Local mode is not
thread-safe (8 threads sharing it fail with sqlite3 errors), so its 8 clients
take turns under a lock, as an application would have to. It runs no dedup
search per add; aikid does.

Run: .venv/bin/python bench/memory/bench_adds_wire.py [--adds 20000] [--workers 64] [--cpu] [--peers]
Prints a markdown table; --out appends it to a file. --cpu adds, per row, the
daemon's CPU per add by thread (from /proc: the commit thread and the CAF
workers are both named caf.multiplexer, told apart by tid) and its context
switches per add. A client that waits 30 s for a reply stops and is counted
in the timed-out column (a stalled daemon must not pass as a slow one).
"""
from __future__ import annotations

import argparse
import json
import os
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


def threads_timed(fn, n: int) -> float:
    """Runs fn(0) .. fn(n - 1) on n threads at once; seconds until all are done."""
    t0 = time.perf_counter()
    ts = [threading.Thread(target=fn, args=(k,)) for k in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return time.perf_counter() - t0


def vectors_make(n: int):
    rng = random.Random(7)
    return [unit(rng) for _ in range(n)]


def frames_make(vectors):
    return [json.dumps({"v": 1, "id": str(i), "op": "memory.add", "text": f"note {i}", "user": "bench",
                        "vector": v}).encode() for i, v in enumerate(vectors)]


def qdrant_local_rate(vectors, clients: int) -> float:
    """Adds/s of qdrant-client's local mode on disk: one upsert per add, `clients`
    threads taking turns under a lock (local mode is not thread-safe). Raises if
    a point is missing at the end."""
    import tempfile
    from qdrant_client import QdrantClient, models
    with tempfile.TemporaryDirectory(prefix="aikq") as tmp:
        c = QdrantClient(path=tmp)
        c.create_collection("m", vectors_config=models.VectorParams(size=len(vectors[0]),
                                                                   distance=models.Distance.COSINE))
        lock = threading.Lock()

        def client(k):
            for i in range(k, len(vectors), clients):
                p = models.PointStruct(id=i, vector=vectors[i], payload={"text": f"note {i}", "user": "bench"})
                with lock:
                    c.upsert("m", points=[p])

        dt = threads_timed(client, clients)
        n = c.count("m").count
        c.close()
    if n != len(vectors):
        raise RuntimeError(f"qdrant local mode holds {n} of {len(vectors)} points")
    return len(vectors) / dt


def threads_cpu(pid: int):
    """{tid: (name, cpu seconds, voluntary + involuntary context switches)}."""
    out = {}
    tick = os.sysconf("SC_CLK_TCK")
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            stat = open(f"/proc/{pid}/task/{tid}/stat").read()
            status = open(f"/proc/{pid}/task/{tid}/status").read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        f = stat[stat.rindex(")") + 2:].split()
        sw = sum(int(line.split()[1]) for line in status.splitlines() if "ctxt_switches" in line)
        out[tid] = (name, (int(f[11]) + int(f[12])) / tick, sw)
    return out


def cpu_report(before, after, n: int) -> str:
    rows, total, switches = [], 0.0, 0
    for tid, (name, cpu, sw) in after.items():
        _, cpu0, sw0 = before.get(tid, (name, 0.0, 0))
        total += cpu - cpu0
        switches += sw - sw0
        if cpu - cpu0 >= 0.01:
            rows.append((cpu - cpu0, f"{name} {tid}: {(cpu - cpu0) / n * 1e6:.0f}"))
    rows.sort(reverse=True)
    return (f"daemon CPU {total / n * 1e6:.0f} us/add ({', '.join(r for _, r in rows)}); "
            f"{switches / n:.1f} context switches/add")


def run(d: Daemon, frames, clients: int, window: int):
    done = [0] * clients
    errors = [0] * clients
    timed_out = [0] * clients

    def client(k):
        s = d.dealer()
        inflight, i = 0, k
        while True:
            while inflight < window and i < len(frames):
                s.send_multipart([b"", frames[i]])
                i += clients
                inflight += 1
            if inflight == 0:
                break
            if not s.poll(30_000):
                timed_out[k] = 1
                break
            r = json.loads(s.recv_multipart()[-1])
            inflight -= 1
            if r.get("ok"):
                done[k] += 1
            else:
                errors[k] += 1
        s.close()

    dt = threads_timed(client, clients)
    return sum(done) / dt, sum(errors), sum(timed_out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--adds", type=int, default=20000, help="adds per row (the store grows to this)")
    ap.add_argument("--workers", type=int, default=64)
    ap.add_argument("--window", type=int, default=32)
    ap.add_argument("--out")
    ap.add_argument("--cpu", action="store_true", help="the daemon's CPU per add by thread, per row")
    ap.add_argument("--peers", action="store_true", help="also qdrant-client local mode (needs .venv-peers)")
    a = ap.parse_args()
    vectors = vectors_make(a.adds)
    frames = frames_make(vectors)
    rows = []
    for clients, window in ((1, 1), (8, 1), (1, a.window), (8, a.window)):
        d = Daemon([f"memory.workers={a.workers}", "ipc.max_inflight_memory=4096"]).start()
        try:
            before = threads_cpu(d.proc.pid) if a.cpu else None
            rate, errs, stuck = run(d, frames, clients, window)
            cpu = cpu_report(before, threads_cpu(d.proc.pid), len(frames)) if a.cpu else ""
            st = d.admin_cmd("stats")["actors"]["memory"]["store"]
        finally:
            d.discard()
        peer = f"{qdrant_local_rate(vectors, clients):.0f}" if a.peers and window == 1 else "—"
        rows.append((clients, window, rate, errs, stuck, st, peer))
        print(clients, window, f"{rate:.0f}/s", errs, stuck, st.get("memories"), cpu,
              f"qdrant local {peer}/s" if a.peers else "", flush=True)
    lines = [f"Durable memory.add over the wire (client vectors, dim 384, memory.workers={a.workers}; "
             f"each row a fresh daemon, {a.adds} new memories from an empty store):", "",
             "| clients | in flight per client | aikid durable adds/s | errors | clients timed out | memories after |"
             + (" qdrant-client local on disk, adds/s |" if a.peers else ""),
             "| ---: | ---: | ---: | ---: | ---: | ---: |" + (" ---: |" if a.peers else "")]
    lines += [f"| {c} | {w} | {r:.0f} | {e} | {t} | {st.get('memories')} |" + (f" {p} |" if a.peers else "")
              for c, w, r, e, t, st, p in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        with open(a.out, "a") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    main()
