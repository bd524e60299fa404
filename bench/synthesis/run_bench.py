#!/usr/bin/env python3
"""Synthesis benchmark driver: aikid's engine vs a Python equivalent of the old stack.

Runs bench_synthesis (C++) on a generated data set — 1,000 templates, 10,000
entities, 100,000 relations — then the Python peer on the very same data in
this process (numpy matching, chevron rendering, a compiled-regex linker and
networkx traversal), one after the other, and prints a markdown table that is
also written to bench/results/synthesis.md.

  .venv-peers/bin/python bench/synthesis/run_bench.py --bin build-synthesis/bench/synthesis/bench_synthesis
"""
import argparse
import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
import time
from zoneinfo import ZoneInfo

import chevron
import networkx as nx
import numpy as np


def pct(samples_us):
    a = np.sort(np.asarray(samples_us))
    at = lambda q: float(a[min(len(a) - 1, int(q * (len(a) - 1) + 0.5))])
    return {"p50_us": at(0.50), "p99_us": at(0.99), "mean_us": float(a.mean())}


def time_it(n, f):
    out = []
    for i in range(n):
        t0 = time.perf_counter_ns()
        f(i)
        out.append((time.perf_counter_ns() - t0) / 1000.0)
    return pct(out)


def run_peer(work):
    ds = json.load(open(os.path.join(work, "dataset.json")))
    dim = ds["dim"]
    E = np.fromfile(os.path.join(work, "examples.f32"), dtype=np.float32).reshape(-1, dim)
    Q = np.fromfile(os.path.join(work, "queries.f32"), dtype=np.float32).reshape(-1, dim)
    templates = ds["templates"]
    owner = np.concatenate([np.full(len(t["examples"]), i) for i, t in enumerate(templates)])
    rows = {}
    b = 0
    for i, t in enumerate(templates):
        rows[i] = (b, b + len(t["examples"]))
        b += len(t["examples"])
    kwmap = {}
    for i, t in enumerate(templates):
        for k in t["keywords"]:
            kwmap.setdefault(k.lower(), []).append(i)
    thr, boost = ds["threshold"], ds["keyword_boost"]

    # --- old stack's graph: networkx MultiDiGraph with attrs on edges ---
    G = nx.MultiDiGraph()
    alias = {}
    t0 = time.perf_counter()
    for s, r, o, attrs in ds["triples"]:
        if r == "alias":
            alias[o.lower()] = s
            G.add_node(s)
            continue
        G.add_edge(s, o, key=r, relation=r, **attrs)
    load_s = time.perf_counter() - t0

    def facts(entity, depth):
        entity = alias.get(entity.lower(), entity)
        seen_e, frontier, seen_r, out = {entity}, [entity], set(), []
        for level in range(1, depth + 1):
            nxt = []
            for n in frontier:
                for s, o, k, d in list(G.out_edges(n, keys=True, data=True)) + list(G.in_edges(n, keys=True, data=True)):
                    if (s, k, o) in seen_r:
                        continue
                    seen_r.add((s, k, o))
                    out.append({"subject": s, "relation": k, "object": o, "attrs": d, "depth": level})
                    other = o if s == n else s
                    if level < depth and other not in seen_e:
                        seen_e.add(other)
                        nxt.append(other)
            frontier = nxt
        return out

    # --- linker: one compiled alternation, longest first, whole words, case-insensitive ---
    names = sorted(set(list(G.nodes) + list(alias.keys())), key=len, reverse=True)
    t0 = time.perf_counter()
    rx = re.compile(r"(?<!\w)(" + "|".join(re.escape(n) for n in names) + r")(?!\w)", re.IGNORECASE)
    rx_ms = (time.perf_counter() - t0) * 1000
    canon = {n.lower(): alias.get(n.lower(), n) for n in names}

    def link(text):
        return [canon.get(m.group(1).lower(), m.group(1)) for m in rx.finditer(text)]

    queries = ds["queries"]
    chosen = [-1] * len(queries)

    def match(i):
        text = queries[i]["text"]
        q = Q[i]
        scores = E @ q
        top = int(np.argmax(scores))
        best_t, best_s = int(owner[top]), float(scores[top])
        kws = set()
        for w in text.lower().split():
            for t in kwmap.get(w, ()):
                kws.add(t)
        if best_t in kws:
            best_s += boost
        for t in kws:
            b0, b1 = rows[t]
            s = float(np.max(E[b0:b1] @ q)) + boost
            if s > best_s or (s == best_s and t < best_t):
                best_t, best_s = t, s
        chosen[i] = best_t if best_s >= thr else -1

    tz = ZoneInfo("Europe/Oslo")
    now = dt.datetime.fromtimestamp(ds["now_ms"] / 1000, tz)
    memories = ds["memories"]
    turns = ds["turns"]
    linked = []
    for q in queries:
        ents = link(q["text"])
        if ents:
            linked.append((ents[0], facts(ents[0], 1)[:32]))
        else:
            linked.append(None)

    def render(i):
        t = templates[max(0, chosen[i])]
        le = linked[i]
        fl = []
        if le:
            for f in le[1]:
                due = f["attrs"].get("due")
                fl.append({"text": f"{f['subject']} {f['relation'].replace('_', ' ')} {f['object']}",
                           "due": dt.datetime.fromtimestamp(due / 1000, tz).strftime("%Y-%m-%d %H:%M") if due else ""})
        ctx = {"text": queries[i]["text"], "user": "Ola",
               "now": {"weekday": now.strftime("%A"), "time": now.strftime("%H:%M")},
               "entity": {"name": le[0], "facts": fl} if le else None,
               "has_memories": bool(memories),
               "memories": [{"id": str(m["id"]), "text": m["text"], "score": f"{m['score']:.2f}"} for m in memories],
               "turns": turns}
        return chevron.render(t["body"], ctx)

    nq = len(queries)
    res = {"kg_load_s": load_s, "linker_build_ms": rx_ms}
    for i in range(100):
        match(i)
    res["match"] = time_it(nq, match)
    res["right"] = sum(1 for i, q in enumerate(queries) if chosen[i] == q["template"])
    for i in range(50):
        render(i)
    res["render"] = time_it(nq, render)
    res["match_render"] = time_it(nq, lambda i: (match(i), render(i)))
    texts = ds["texts200"]
    res["link"] = time_it(2000, lambda i: link(texts[i % len(texts)]))
    qe = ds["query_entities"]
    res["kg_query_d2"] = time_it(300, lambda i: facts(qe[i % len(qe)], 2))
    res["facts_per_query_d2"] = float(np.mean([len(facts(e, 2)) for e in qe[:300]]))
    return res




def main():
    ap = argparse.ArgumentParser()
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--bin", default=os.path.join(root, "build/bench/synthesis/bench_synthesis"),
                    help="the benchmark linked as the daemon is (jemalloc)")
    ap.add_argument("--bin-glibc", default=None, help="the same on glibc's malloc (default: beside --bin)")
    ap.add_argument("--work", default="/tmp/aikid_synthesis_bench")
    ap.add_argument("--out", default=os.path.join(root, "bench/results/synthesis.md"))
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    load0 = os.getloadavg()
    # aikid twice: linked as the daemon is (jemalloc), and the same program
    # on glibc's malloc (mstch allocates ~1,500 small blocks per render).
    glibc_bin = a.bin_glibc or a.bin + "_glibc"
    cpp_run = subprocess.run([a.bin, a.work], check=True, capture_output=True, text=True)
    sys.stderr.write(cpp_run.stderr)
    cpp = json.load(open(os.path.join(a.work, "cpp.json")))
    subprocess.run([glibc_bin, a.work], check=True, capture_output=True, text=True)
    on_glibc = json.load(open(os.path.join(a.work, "cpp.json")))
    py = run_peer(a.work)

    def row(aikid, key, label):  # one table row: an aikid run against the Python peer
        c, p = aikid[key], py[key]
        return (f"| {label} | {c['p50_us']:.1f} | {c['p99_us']:.1f} | {p['p50_us']:.1f} | {p['p99_us']:.1f} "
                f"| {p['p50_us'] / c['p50_us']:.1f}× | {p['p99_us'] / c['p99_us']:.1f}× |")

    lines = [
        "# Synthesis benchmark",
        "",
        f"Run {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} on {platform.node()} "
        f"({os.cpu_count()} cores, {platform.processor() or platform.machine()}), one thread each, same run, same data: "
        "1,000 templates (3 examples each, 384-d vectors), 10,000 entities (+2,000 aliases), 100,000 relations.",
        "",
        f"**Load average during the run: {load0[0]:.1f} before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} cores**"
        + (" (other work shared the machine: absolute numbers, p99 above all, are inflated by preemption; "
           "the two sides ran back to back under the same conditions)." if max(load0[0], os.getloadavg()[0]) > 1.5
           else " (a quiet machine)."),
        "",
        "aikid = `aikid_synthesis` (C++, RelWithDebInfo) on jemalloc, as the daemon runs it. Python peer = the old stack's way: numpy dot products for "
        f"matching, chevron for rendering, "
        f"networkx {nx.__version__} for traversal, one compiled `re` alternation for linking (Python {platform.python_version()}, numpy {np.__version__}).",
        "",
        "| operation | aikid p50 µs | aikid p99 µs | Python p50 µs | Python p99 µs | speed-up p50 | speed-up p99 |",
        "|---|---:|---:|---:|---:|---:|---:|",
        row(cpp, "match", "template match (vector + keywords)"),
        row(cpp, "render", "render (context + mustache)"),
        row(cpp, "match_render", "match + render"),
        row(cpp, "link", "entity linking, 200-char text"),
        row(cpp, "kg_query_d2", f"kg.query depth 2 (~{cpp['facts_per_query_d2']:.0f} facts)"),
        "",
        "The same aikid program linked without jemalloc (glibc's malloc, default settings; nothing else differs):",
        "",
        "| operation | aikid p50 µs | aikid p99 µs | Python p50 µs | Python p99 µs | speed-up p50 | speed-up p99 |",
        "|---|---:|---:|---:|---:|---:|---:|",
        row(on_glibc, "match", "template match (vector + keywords)"),
        row(on_glibc, "render", "render (context + mustache)"),
        row(on_glibc, "match_render", "match + render"),
        "",
        "- aikid match = the two-pass exact search: every example's int8 code against the int8 query (AVX-512 VNNI "
        "here) with a rigorous error bound per example, then fp32 dot products for the examples whose bound can still "
        f"reach the best. The full fp32 scan (`exact_scan`, the reference): p50 {cpp['match_exact']['p50_us']:.1f} µs, "
        f"p99 {cpp['match_exact']['p99_us']:.1f} µs; queries where the two chose a different template or score: "
        f"{cpp['exact_disagree']}/{cpp['queries']}. "
        f"FAISS's own search (`use_faiss_search`, Debian's generic build): p50 {cpp['match_faiss']['p50_us']:.1f} µs, "
        f"p99 {cpp['match_faiss']['p99_us']:.1f} µs.",
        "- aikid render builds only the context fields the template reads (found when it loads), with the root and "
        "entities as mstch objects (mstch copies every node it pushes for a section). The same renders with the full "
        "context (every field of every node) built eagerly as plain maps, the reference the tests compare with "
        "(the code before this change built every field below the root fields the template read): "
        f"p50 {cpp['render_full']['p50_us']:.1f} µs, "
        f"p99 {cpp['render_full']['p99_us']:.1f} µs.",
        f"- Match accuracy on the synthetic queries: aikid {cpp['right']}/{cpp['queries']}, Python {py['right']}/{cpp['queries']} "
        "(same scoring rule).",
        f"- Goal \"match + render p99 < 100 µs\" (= ≥ 1000× faster than the old stack's 100 ms), as the daemon runs: "
        f"{'met' if cpp['match_render']['p99_us'] < 100 else 'NOT met'} ({cpp['match_render']['p99_us']:.1f} µs, "
        f"{100000 / cpp['match_render']['p99_us']:.0f}×); on glibc's malloc it would be "
        f"{'met' if on_glibc['match_render']['p99_us'] < 100 else 'NOT met'} ({on_glibc['match_render']['p99_us']:.1f} µs, "
        f"{100000 / on_glibc['match_render']['p99_us']:.0f}×). p50: {cpp['match_render']['p50_us']:.1f} / "
        f"{on_glibc['match_render']['p50_us']:.1f} µs.",
        f"- Set-up: kg load {cpp['kg_load_s']:.2f} s (SQLite, one transaction) vs networkx {py['kg_load_s']:.2f} s; "
        f"linker build {cpp['linker_build_ms']:.0f} ms vs regex compile {py['linker_build_ms']:.0f} ms; "
        f"template load (1,000 files, mustache check, FAISS) {cpp['templates_load_ms']:.0f} ms.",
        "",
        "Reproduce: `cmake --build build --target bench_synthesis bench_synthesis_glibc && .venv-peers/bin/python bench/synthesis/run_bench.py`",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    open(a.out, "w").write(text)


if __name__ == "__main__":
    main()
