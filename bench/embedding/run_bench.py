#!/usr/bin/env python3
"""Embedding benchmark: aikid's encoder (embedding_bench, C++) and
sentence-transformers on CPU, same machine, same run, same thread counts.
Prints a markdown table and writes bench/results/embedding.md.

  HF_HUB_OFFLINE=1 .venv-peers/bin/python bench/embedding/run_bench.py \
      --bench build-embedding/bench/embedding/embedding_bench [--threads 1,2] [--quick]
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODEL = os.path.join(ROOT, "models", "all-MiniLM-L6-v2")
FIXTURE = os.path.join(ROOT, "tests", "embedding", "fixtures", "minilm_sentences.jsonl")
WORDS = ["the", "cat", "sat", "on", "a", "mat", "and", "we", "went", "home", "after",
         "dinner", "with", "my", "old", "friend", "from", "school", "in", "oslo"]
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def sentence_of(n):  # same construction as embedding_bench.cpp
    return " ".join(WORDS[i % 20] for i in range(n - 2))


def corpus():
    out = []
    with open(FIXTURE, encoding="utf-8") as f:
        next(f)
        for line in f:
            j = json.loads(line)
            if 6 <= len(j["ids"]) <= 40:
                out.append(j["text"])
    return out


def run_aikid(bench, threads, quick):
    cmd = [bench, "--threads", str(threads)] + (["--quick"] if quick else [])
    res = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return [json.loads(l) for l in res.stdout.splitlines() if l.startswith("{")]


def run_st(model, threads, quick):
    import torch
    torch.set_num_threads(threads)
    out = []
    with torch.inference_mode():
        for n in (8, 16, 32, 128):
            s = sentence_of(n)
            reps = 20 if quick else (300 if n <= 32 else 60)
            for _ in range(10):
                model.encode([s], convert_to_numpy=True, show_progress_bar=False)
            ms, cpu = [], []
            for _ in range(reps):
                c0 = time.process_time()
                t0 = time.perf_counter()
                model.encode([s], convert_to_numpy=True, show_progress_bar=False)
                ms.append((time.perf_counter() - t0) * 1e3)
                cpu.append((time.process_time() - c0) * 1e3)
            ms.sort()
            cpu.sort()
            out.append({"kind": "latency", "threads": threads, "tokens": n, "p50_ms": ms[len(ms) // 2],
                        "p99_ms": ms[min(len(ms) - 1, len(ms) * 99 // 100)], "cpu_p50_ms": cpu[len(cpu) // 2]})
        texts_all = corpus()
        total = 64 if quick else 512
        texts = [texts_all[i % len(texts_all)] for i in range(total)]
        for batch in (1, 8, 32):
            model.encode(texts[:batch], batch_size=batch, convert_to_numpy=True, show_progress_bar=False)
            c0 = time.process_time()
            t0 = time.perf_counter()
            for i in range(0, total, batch):
                model.encode(texts[i:i + batch], batch_size=batch, convert_to_numpy=True, show_progress_bar=False)
            out.append({"kind": "throughput", "threads": threads, "batch": batch,
                        "sentences_per_s": total / (time.perf_counter() - t0), "cpu_s": time.process_time() - c0})
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", default=os.path.join(ROOT, "build-embedding", "bench", "embedding", "embedding_bench"))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "embedding.md"))
    a = ap.parse_args()

    import sentence_transformers
    import torch
    from sentence_transformers import SentenceTransformer
    model = SentenceTransformer(MODEL, device="cpu")

    load_before = os.getloadavg()
    rows = {}
    for t in [int(x) for x in a.threads.split(",")]:
        for r in run_aikid(a.bench, t, a.quick):
            rows.setdefault((r["kind"], t, r.get("tokens") or r.get("batch")), {})["aikid"] = r
        for r in run_st(model, t, a.quick):
            rows.setdefault((r["kind"], t, r.get("tokens") or r.get("batch")), {})["st"] = r
    load_after = os.getloadavg()
    with open(a.out.replace(".md", "") + ".raw.json" if a.out.startswith("/tmp") else "/tmp/embedding_bench.raw.json", "w") as f:
        json.dump([[list(k), v] for k, v in rows.items()], f)

    lines = []
    lines.append("# Embedding benchmark: aikid (BLIS fp32) vs sentence-transformers (torch CPU)\n")
    lines.append(f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}; host: {platform.node()}, "
                 f"{os.cpu_count()} CPUs; load average before/after: "
                 f"{load_before[0]:.2f} / {load_after[0]:.2f} (shared machine)")
    lines.append(f"- model: all-MiniLM-L6-v2; sentence-transformers {sentence_transformers.__version__}, "
                 f"torch {torch.__version__} (torch.set_num_threads = threads)")
    lines.append("- command: `HF_HUB_OFFLINE=1 .venv-peers/bin/python bench/embedding/run_bench.py"
                 + (" --quick" if a.quick else "") + "`")
    lines.append("- latency: one sentence of exactly N tokens (incl. [CLS]/[SEP]) per call; throughput: 512 "
                 "everyday sentences (fixture sentences with 6–40 tokens, mean ≈ 14) encoded in calls of `batch`.")
    lines.append("- GFLOP/s: 2 × multiply-adds of the encoder's matrix products per second; "
                 "peak = best BLIS sgemm 512³ at the same thread count.\n")
    peaks = {t: r["aikid"]["gflops"] for (k, t, _), r in rows.items() if k == "peak"}
    lines.append("- CPU columns: process CPU time (all threads) instead of wall time — on this shared 2-core "
                 "machine the wall clock also counts waiting for a core; ratios use wall time.\n")
    lines.append("| measurement | threads | aikid | sentence-transformers | aikid / ST | aikid CPU | ST CPU | aikid GFLOP/s (% of BLIS peak) |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    for (kind, t, n), r in sorted(rows.items(), key=lambda kv: (kv[0][0] != "latency", kv[0][1], kv[0][2] or 0)):
        if kind == "peak":
            continue
        ai, st = r.get("aikid"), r.get("st")
        gf = f"{ai['gflops']:.1f} ({100 * ai['gflops'] / peaks[t]:.0f} %)" if ai and t in peaks else "–"
        if kind == "latency":
            lines.append(f"| latency p50 / p99, {n} tokens (ms) | {t} | {ai['p50_ms']:.2f} / {ai['p99_ms']:.2f} | "
                         f"{st['p50_ms']:.2f} / {st['p99_ms']:.2f} | {st['p50_ms'] / ai['p50_ms']:.1f}× faster | "
                         f"{ai['cpu_p50_ms']:.2f} ms | {st['cpu_p50_ms']:.2f} ms | {gf} |")
        else:
            total = 64 if a.quick else 512
            lines.append(f"| throughput, batch {n} (sentences/s) | {t} | {ai['sentences_per_s']:.0f} | "
                         f"{st['sentences_per_s']:.0f} | {ai['sentences_per_s'] / st['sentences_per_s']:.2f}× | "
                         f"{total / ai['cpu_s']:.0f} /CPU-s | {total / st['cpu_s']:.0f} /CPU-s | {gf} |")
    for t, p in sorted(peaks.items()):
        lines.append(f"| BLIS sgemm 512³ peak (GFLOP/s) | {t} | {p:.1f} | | | | | |")
    text = "\n".join(lines) + "\n"
    print(text)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
