#!/usr/bin/env python3
"""Round trips over the real sockets of a running aikid (started here).

ping and perceive→thought.final, p50/p99, and requests/s with 1 and 8
client connections. Prints a markdown table (and writes it to
bench/results/ipc.md). Run: .venv/bin/python bench/ipc/bench_wire.py
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import threading
import time

import zmq

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "python"))
from harness import Daemon  # noqa: E402


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * (len(xs) - 1) + 0.5))]


def ping_latency(d: Daemon, n: int):
    s = d.dealer()
    lat = []
    for i in range(n):
        t0 = time.perf_counter()
        s.send_multipart([b"", b'{"v":1,"op":"ping","id":"b"}'])
        s.recv_multipart()
        lat.append((time.perf_counter() - t0) * 1e3)
    s.close()
    return lat


def throughput(d: Daemon, clients: int, seconds: float, frame: bytes):
    count = [0] * clients
    stop = time.monotonic() + seconds

    def run(k):
        s = d.dealer()
        while time.monotonic() < stop:
            s.send_multipart([b"", frame])
            r = json.loads(s.recv_multipart()[-1])
            if r.get("ok"):
                count[k] += 1
        s.close()

    ts = [threading.Thread(target=run, args=(k,)) for k in range(clients)]
    t0 = time.monotonic()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(count) / (time.monotonic() - t0)


def percept_latency(d: Daemon, n: int):
    ctx = zmq.Context.instance()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"thought.final")
    sub.connect(d.thoughts)
    time.sleep(0.5)
    s = d.dealer()
    lat, sources = [], {}
    for i in range(n):
        t0 = time.perf_counter()
        s.send_multipart([b"", json.dumps({"v": 1, "op": "perceive", "id": f"q{i}", "user": "bench",
                                           "text": f"hello aiki number {i}"}).encode()])
        pid = json.loads(s.recv_multipart()[-1])["percept_id"]
        while True:
            topic, body = sub.recv_multipart()
            b = json.loads(body)
            if b.get("percept_id") == pid:
                break
        lat.append((time.perf_counter() - t0) * 1e3)
        sources[b["source"]] = sources.get(b["source"], 0) + 1
    s.close()
    sub.close()
    return lat, sources


def main():
    d = Daemon(["perception.dedup_window_ms=0", "ipc.max_inflight_perceive=1000"]).start()
    try:
        ping_latency(d, 200)  # warm up
        pl = ping_latency(d, 5000)
        ping1 = throughput(d, 1, 3, b'{"v":1,"op":"ping"}')
        ping8 = throughput(d, 8, 3, b'{"v":1,"op":"ping"}')
        perc, sources = percept_latency(d, 300)
        pf = b'{"v":1,"op":"perceive","user":"tp","text":"throughput test"}'
        perc1 = throughput(d, 1, 3, pf)
        perc8 = throughput(d, 8, 3, pf)
    finally:
        d.discard()
    rows = [
        ("ping round trip", pct(pl, .5), pct(pl, .99), ping1, ping8),
        ("perceive → thought.final", pct(perc, .5), pct(perc, .99), perc1, perc8),
    ]
    out = ["| what | p50 ms | p99 ms | req/s, 1 client | req/s, 8 clients |", "|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r[0]} | {r[1]:.3f} | {r[2]:.3f} | {r[3]:.0f} | {r[4]:.0f} |")
    out.append("")
    out.append(f"thought sources: {sources}; perceive req/s counts acknowledged percepts (reply before the thought).")
    text = "\n".join(out)
    print(text)
    os.makedirs(os.path.join(HERE, "..", "results"), exist_ok=True)
    with open(os.path.join(HERE, "..", "results", "ipc.md"), "w") as f:
        f.write("# ipc round trips (bench/ipc/bench_wire.py)\n\n" + text + "\n")


if __name__ == "__main__":
    main()
