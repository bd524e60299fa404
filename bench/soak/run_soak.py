"""Overload and soak (issue 10; a benchmark, not a CI test). Loopback only: the
daemon's own ipc:// sockets on this machine.

1. Overload: for OVERLOAD_S seconds, percepts (template path) and memory ops
   offered at 10x the sustainable rate, open loop (sent on schedule, replies
   read as they come). Every request must get a reply: ok or busy.
2. Soak: for SOAK_S seconds at the sustainable rate (a mix of perceive,
   memory.add, memory.search and short generate). RSS and open file
   descriptors are sampled every 5 s; both must stay flat.

Run: .venv/bin/python bench/soak/run_soak.py [--rate 100] [--overload-s 60] [--soak-s 600]
Prints markdown tables (and appends them to bench/results/soak.md with --out).
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

import zmq

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "python"))
from harness import Daemon  # noqa: E402


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def unit(rng):
    v = [rng.gauss(0, 1) for _ in range(384)]
    n = sum(x * x for x in v) ** 0.5
    return [round(x / n, 6) for x in v]


def mix_frames(rng, n):
    """Request frames of the mix: 60 % perceive (template path), 20 % memory.add, 18 % search, 2 % generate."""
    vecs = [unit(rng) for _ in range(64)]
    out = []
    for i in range(n):
        x = rng.random()
        if x < 0.6:
            b = {"op": "perceive", "text": rng.choice(["what is due today", "hello there", "what time is it"]) + f" #{i}",
                 "user": f"u{i % 7}"}
        elif x < 0.8:
            b = {"op": "memory.add", "text": f"soak note {i}", "user": f"u{i % 7}", "vector": vecs[i % 64]}
        elif x < 0.98:
            b = {"op": "memory.search", "vector": vecs[(i * 7) % 64], "top_k": 5, "user": f"u{i % 7}"}
        else:
            b = {"op": "generate", "prompt": "Say hi.", "max_tokens": 4}
        out.append(json.dumps({"v": 1, "id": str(i), **b}).encode())
    return out


def drive(d, rate, seconds, frames, sample=None):
    """Open loop at `rate` req/s for `seconds`; returns reply codes, lost count."""
    s = zmq.Context.instance().socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.SNDHWM, 0)
    s.setsockopt(zmq.RCVHWM, 0)
    s.connect(d.requests)
    codes, sent = {}, 0
    t0 = time.perf_counter()
    next_sample = t0
    while True:
        now = time.perf_counter()
        if now - t0 >= seconds:
            break
        due = int((now - t0) * rate)
        while sent < due:
            s.send_multipart([b"", frames[sent % len(frames)]], copy=False)
            sent += 1
        while s.poll(0):
            r = json.loads(s.recv_multipart()[-1])
            k = "ok" if r.get("ok") else r["error"]["code"]
            codes[k] = codes.get(k, 0) + 1
        if sample and now >= next_sample:
            sample(now - t0)
            next_sample = now + 5.0
        time.sleep(0.0005)
    got = sum(codes.values())
    deadline = time.perf_counter() + 120
    while got < sent and time.perf_counter() < deadline:
        if s.poll(1000):
            r = json.loads(s.recv_multipart()[-1])
            k = "ok" if r.get("ok") else r["error"]["code"]
            codes[k] = codes.get(k, 0) + 1
            got += 1
    s.close()
    return sent, codes, sent - got


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=100.0, help="sustainable mixed rate, req/s")
    ap.add_argument("--overload-s", type=float, default=60.0)
    ap.add_argument("--soak-s", type=float, default=600.0)
    ap.add_argument("--out")
    a = ap.parse_args()
    rng = random.Random(10)
    frames = mix_frames(rng, 4000)
    d = Daemon(["perception.dedup_window_ms=0", "synthesis.learn=false"]).start()
    pid = d.proc.pid
    samples = []
    try:
        time.sleep(1)
        base = (rss_mb(pid), fds(pid))
        o_sent, o_codes, o_lost = drive(d, a.rate * 10, a.overload_s, frames)
        after_overload = (rss_mb(pid), fds(pid))
        time.sleep(5)
        samples.append((0.0, rss_mb(pid), fds(pid)))
        s_sent, s_codes, s_lost = drive(d, a.rate, a.soak_s, frames,
                                        sample=lambda t: samples.append((t, rss_mb(pid), fds(pid))))
        end = (rss_mb(pid), fds(pid))
        assert d.request({"op": "ping"})["ok"]
    finally:
        d.discard()
    rs = [x[1] for x in samples]
    fs = [x[2] for x in samples]
    half = len(rs) // 2
    lines = [
        f"# Overload and soak ({time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, load {os.getloadavg()[0]:.2f})", "",
        f"Mix: 60 % perceive (template path), 20 % memory.add, 18 % memory.search, 2 % generate (4 tokens); "
        f"one DEALER, open loop; sustainable rate {a.rate:.0f}/s.", "",
        "| phase | offered req/s | seconds | sent | ok | busy | other errors | no reply |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| overload (10x) | {a.rate * 10:.0f} | {a.overload_s:.0f} | {o_sent} | {o_codes.get('ok', 0)} | {o_codes.get('busy', 0)} | "
        f"{sum(v for k, v in o_codes.items() if k not in ('ok', 'busy'))} | {o_lost} |",
        f"| soak | {a.rate:.0f} | {a.soak_s:.0f} | {s_sent} | {s_codes.get('ok', 0)} | {s_codes.get('busy', 0)} | "
        f"{sum(v for k, v in s_codes.items() if k not in ('ok', 'busy'))} | {s_lost} |", "",
        "| point | RSS MB | open fds |", "| --- | ---: | ---: |",
        f"| start | {base[0]:.1f} | {base[1]} |",
        f"| after overload | {after_overload[0]:.1f} | {after_overload[1]} |",
        f"| soak: min / max | {min(rs):.1f} / {max(rs):.1f} | {min(fs)} / {max(fs)} |",
        f"| soak: mean of first half / second half | {sum(rs[:half]) / max(1, half):.1f} / {sum(rs[half:]) / max(1, len(rs) - half):.1f} | "
        f"{sum(fs[:half]) / max(1, half):.1f} / {sum(fs[half:]) / max(1, len(fs) - half):.1f} |",
        f"| end | {end[0]:.1f} | {end[1]} |", "",
        f"Other error codes: overload {dict((k, v) for k, v in o_codes.items() if k not in ('ok', 'busy'))}, "
        f"soak {dict((k, v) for k, v in s_codes.items() if k not in ('ok', 'busy'))}.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        with open(a.out, "a") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    main()
