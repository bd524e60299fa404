#!/usr/bin/env python3
# Prefill / decode speed of aikid's engine vs llama-cpp-python, threads 1 and
# 2, same GGUF, same run; writes bench/results/inference.md.
#
# Command (after building build-inference):
#   .venv-peers/bin/python bench/inference/bench.py [build-dir]
# llama.cpp's numbers are its own timings (llama_perf_context: prompt eval and
# eval times), so the Python wrapper's overhead does not count against it.
# aikid's numbers come from bench/inference/inference_bench (steady_clock
# around eval()). Medians of REPS runs for both engines. The memory read
# bandwidth is measured by `inference_bench --bandwidth` in the same run.
import json
import os
import platform
import statistics
import subprocess
import sys
from importlib.metadata import version

import llama_cpp
import numpy as np
from llama_cpp import Llama

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
MODEL = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
BUILD = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build-inference")
BENCH = os.path.join(BUILD, "bench", "inference", "inference_bench")
OUT = os.path.join(ROOT, "bench", "results", "inference.md")
REPS = 3
# (prompt tokens, new tokens): decode context = prompt .. prompt + new
CONFIGS = [(32, 128), (128, 128), (1000, 64)]
TEXT = "The quick brown fox jumps over the lazy dog near the river bank. "


def llama_cpp_run(llm, n_prompt, n_gen, reps):
    text = TEXT
    ids = llm.tokenize(text.encode(), add_bos=False, special=False)
    while len(ids) < n_prompt:
        text += TEXT
        ids = llm.tokenize(text.encode(), add_bos=False, special=False)
    ids = ids[:n_prompt]
    ps, ds, ttft = [], [], []
    for _ in range(reps):
        llm.reset()
        llama_cpp.llama_perf_context_reset(llm.ctx)
        llm.eval(ids)
        for _ in range(n_gen):
            ptr = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
            tok = int(np.ctypeslib.as_array(ptr, shape=(llm.n_vocab(),)).argmax())
            llm.eval([tok])
        perf = llama_cpp.llama_perf_context(llm.ctx)
        ps.append(perf.n_p_eval / (perf.t_p_eval_ms / 1000.0) if perf.t_p_eval_ms > 0 else 0)
        ds.append(perf.n_eval / (perf.t_eval_ms / 1000.0) if perf.t_eval_ms > 0 else 0)
        ttft.append(perf.t_p_eval_ms)
    return statistics.median(ps), statistics.median(ds), statistics.median(ttft)


def aikid_run(n_prompt, n_gen, threads, reps):
    out = subprocess.run([BENCH, MODEL, str(n_prompt), str(n_gen), str(reps), str(threads)], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def bandwidth():
    out = subprocess.run([BENCH, "--bandwidth"], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["read_gbs"]


def main():
    load0 = os.getloadavg()
    bw = bandwidth()
    rows = []
    for threads in (1, 2):
        llm = Llama(model_path=MODEL, n_ctx=2200, n_threads=threads, n_threads_batch=threads, verbose=False)
        for n_prompt, n_gen in CONFIGS:
            reps = REPS if n_prompt <= 128 else 1
            a = aikid_run(n_prompt, n_gen, threads, reps)
            lp, ld, lt = llama_cpp_run(llm, n_prompt, n_gen, reps)
            rows.append((threads, n_prompt, n_gen, reps, a, lp, ld, lt))
            print(threads, n_prompt, n_gen, a, lp, ld, lt, flush=True)
        del llm
    bw_end = bandwidth()
    load1 = os.getloadavg()
    bw_med = statistics.median([bw, bw_end])
    lines = [
        "# Inference engine speed: aikid vs llama.cpp (llama-cpp-python)",
        "",
        f"Model `{os.path.basename(MODEL)}`, greedy, same run on the same machine ({platform.machine()}, "
        f"{os.cpu_count()} cores, shared: load average {load0[0]:.1f} at start, {load1[0]:.1f} at end, so both "
        f"engines ran on a contended CPU). Medians of {REPS} runs (1 run for the 1000-token prompt).",
        f"llama-cpp-python {version('llama_cpp_python')} (llama.cpp built by pip with GGML_NATIVE=ON; its own "
        f"perf timings). aikid: `bench/inference/inference_bench`, kernels `{rows[0][4]['kernels']}`.",
        f"Memory read bandwidth measured in this run (one thread, 256 MB sum): {bw:.1f} GB/s at start, "
        f"{bw_end:.1f} GB/s at end; share = weight MB per token x decode tok/s / {bw_med:.1f} GB/s "
        f"(weights read per decode step: {rows[0][4]['weight_mb_tok']:.1f} MB).",
        "Command: `.venv-peers/bin/python bench/inference/bench.py`",
        "",
        "| threads | prompt | new | aikid prefill tok/s | llama.cpp prefill tok/s | aikid TTFT ms | llama.cpp TTFT ms "
        "| aikid decode tok/s | llama.cpp decode tok/s | decode ratio | aikid bandwidth share | aikid peak RSS MB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for threads, n_prompt, n_gen, reps, a, lp, ld, lt in rows:
        share = a["weight_mb_tok"] * 1e6 * a["decode_tok_s"] / (bw_med * 1e9)
        lines.append(f"| {threads} | {n_prompt} | {n_gen} | {a['prefill_tok_s']:.1f} | {lp:.1f} | {a['ttft_ms']:.1f} | "
                     f"{lt:.1f} | {a['decode_tok_s']:.1f} | {ld:.1f} | {a['decode_tok_s'] / ld if ld else 0:.2f} | "
                     f"{100 * share:.0f} % | {a['rss_mb']:.0f} |")
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
