#!/usr/bin/env python3
"""Understanding's latency over the wire, beside the template path, same run.

Issue 23's goal: fact capture and answering from the graph, p99 < 10 ms per
percept over the wire, as the template path is (bench/loop/run_bench.py: 8.1 ms
p99 idle). This runs both on one daemon, interleaved percept by percept, so the
two see the same machine:

* template path: a text a template answers ("what is due today", "hello"),
  the user holding 200 memories, as run_bench.py does;
* understanding path: a statement understanding turns into facts ("My sister
  Kari lives in Bergen", "Tannlegen min heter Berg") and then the question it
  answers from the graph ("Where does my sister live?"), English and bokmål,
  a new user every 8 statements (so the graph grows as a user's does).

Client wall time from sending `perceive` to its thought.final, idle (no model
generating; the shipped config but for dedup off). Prints a table, and with
--out writes it into a file (default: no file).

  .venv/bin/python bench/loop/run_understanding_latency.py [--n 300] [--out FILE]
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections import Counter
from typing import Dict, List

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from run_bench import (BENCH_USER, TEMPLATE_TEXTS, Daemon, Wire, aikid_percept,  # noqa: E402
                       load_avg, memories_text, pct)

# (statement, question, a word the answer must hold): told, then asked.
PAIRS = [
    ("My sister {n} lives in Bergen.", "Where does my sister live?", "Bergen"),
    ("Søsteren min heter {n}.", "Hva heter søsteren min?", "{n}"),
    ("My dentist appointment is on Friday at 14:00.", "When is my dentist appointment?", "14"),
    ("Jeg er allergisk mot nøtter.", "Hva er jeg allergisk mot?", "nøtter"),
    ("My boss {n} works at Equinor.", "Where does my boss work?", "Equinor"),
    ("Broren min {n} bor i Molde.", "Hvor bor broren min?", "Molde"),
    ("The door code at work is 4711.", "What is the door code at work?", "4711"),
    ("Katten min heter {n}.", "Hva heter katten min?", "{n}"),
]
NAMES = ["Kari", "Ola", "Sander", "Ingrid", "Petter", "Nora", "Jonas", "Sofie"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=300, help="percepts of each path")
    ap.add_argument("--out", help="write the table to this file")
    ap.add_argument("--set", action="append", default=[], help="KEY=VALUE for the daemon")
    args = ap.parse_args()

    d = Daemon(["perception.dedup_window_ms=0", *args.set]).start()
    try:
        w = Wire(d)
        time.sleep(0.5)
        for m in memories_text(200):
            assert w.call("memory.add", text=m, user=BENCH_USER).get("ok")
        for i in range(20):  # warm-up, not counted
            aikid_percept(w, TEMPLATE_TEXTS[i % len(TEMPLATE_TEXTS)], BENCH_USER)
        before = load_avg()
        tmpl: List[float] = []
        tell: List[float] = []
        ask: List[float] = []
        srcs: Counter = Counter()
        wrong: List[str] = []
        server: Dict[str, List[float]] = {}
        i = 0
        while len(tmpl) < args.n or len(tell) + len(ask) < args.n:
            r = aikid_percept(w, TEMPLATE_TEXTS[i % len(TEMPLATE_TEXTS)], BENCH_USER)
            tmpl.append(r["total_ms"])
            k = i % len(PAIRS)
            user = f"u{i // len(PAIRS)}"
            name = NAMES[(i // len(PAIRS)) % len(NAMES)]
            say, q, want = PAIRS[k]
            for text, into in ((say.format(n=name), tell), (q, ask)):
                r = aikid_percept(w, text, user)
                into.append(r["total_ms"])
                srcs[r["final"].get("source", "?")] += 1
                for st, ms in r["final"].get("timings_ms", {}).items():
                    server.setdefault(st, []).append(float(ms))
            if want.format(n=name).lower() not in r["final"].get("text", "").lower():
                wrong.append(f"{q} -> {r['final'].get('text')!r}")
            i += 1
        after = load_avg()
    finally:
        d.stop()

    und = tell + ask
    f = lambda xs, q: f"{pct(xs, q):.2f}"  # noqa: E731
    lines = [
        "| path | n | p50 ms | p90 ms | p99 ms | max ms | goal |",
        "|---|---:|---:|---:|---:|---:|---|",
        f"| template path (greeting, due today; 200 memories) | {len(tmpl)} | {f(tmpl, .5)} | {f(tmpl, .9)} | {f(tmpl, .99)} | {max(tmpl):.2f} | p99 < 10 ms |",
        f"| understanding: statements (facts written, synced) | {len(tell)} | {f(tell, .5)} | {f(tell, .9)} | {f(tell, .99)} | {max(tell):.2f} | |",
        f"| understanding: questions (answered from the graph) | {len(ask)} | {f(ask, .5)} | {f(ask, .9)} | {f(ask, .99)} | {max(ask):.2f} | |",
        f"| understanding: all its percepts | {len(und)} | {f(und, .5)} | {f(und, .9)} | {f(und, .99)} | {max(und):.2f} | p99 < 10 ms |",
        "",
        f"- sources of the understanding percepts: {dict(srcs)}; wrong answers: {len(wrong)} {wrong[:3]}",
        "- server-side stage times of the understanding percepts (thought.final `timings_ms`), p50 / p99 ms: "
        + ", ".join(f"{k} {pct(v, .5):.2f} / {pct(v, .99):.2f}" for k, v in sorted(server.items())),
        f"- machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Linux {platform.release()};"
        f" load before `{before}`, after `{after}`",
        "- command: `.venv/bin/python bench/loop/run_understanding_latency.py"
        + (f" --n {args.n}" if args.n != 300 else "") + "`; daemon: shipped config, perception.dedup_window_ms=0"
        + "".join(f", {s}" for s in args.set),
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text + "\n")
    return 0 if not wrong else 1


if __name__ == "__main__":
    sys.exit(main())
