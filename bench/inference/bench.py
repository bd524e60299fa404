#!/usr/bin/env python3
# Prefill / decode speed of aikid's engine vs llama-cpp-python, threads 1 and
# 2, same GGUF, same run; writes bench/results/inference.md.
#
# Command (after building build-inference):
#   .venv-peers/bin/python bench/inference/bench.py [build-dir]   (e.g. build)
# llama.cpp's numbers are its own timings (llama_perf_context: prompt eval and
# eval times), so the Python wrapper's overhead does not count against it.
# aikid's numbers come from bench/inference/inference_bench (steady_clock
# around eval()). Medians of REPS runs for both engines. The memory read
# bandwidth is measured by `inference_bench --bandwidth` in the same run.
import json
import os
import platform
import resource
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
CONFIGS = [(32, 128), (128, 128), (1000, 64), (2000, 128), (4000, 64)]
# aikid with the weights in the file layout (AIKID_PACK=0): the row kernels
ROW_KERNEL_CONFIGS = [(32, 128)]
# decode on a loaded machine: two busy processes (one per core) run alongside
LOADED_CONFIG = (32, 64)


def busy_start(n):
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def busy_stop(procs):
    for p in procs:
        p.kill()
        p.wait()
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


def aikid_run(n_prompt, n_gen, threads, reps, pack=True):
    env = dict(os.environ)
    if not pack:
        env["AIKID_PACK"] = "0"
    out = subprocess.run([BENCH, MODEL, str(n_prompt), str(n_gen), str(reps), str(threads)], check=True,
                         capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def bandwidth(threads):
    out = subprocess.run([BENCH, "--bandwidth", str(threads)], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["read_gbs"]


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main():
    load0 = os.getloadavg()
    bw0 = {t: bandwidth(t) for t in (1, 2)}
    rows, row_kernel = [], []
    for threads in (1, 2):
        llm = Llama(model_path=MODEL, n_ctx=4200, n_threads=threads, n_threads_batch=threads, verbose=False)
        for n_prompt, n_gen in CONFIGS:
            reps = REPS if n_prompt <= 128 else 1
            a = aikid_run(n_prompt, n_gen, threads, reps)
            lp, ld, lt = llama_cpp_run(llm, n_prompt, n_gen, reps)
            rows.append((threads, n_prompt, n_gen, reps, a, lp, ld, lt))
            print(threads, n_prompt, n_gen, a, lp, ld, lt, flush=True)
        for n_prompt, n_gen in ROW_KERNEL_CONFIGS:
            row_kernel.append((threads, n_prompt, n_gen, aikid_run(n_prompt, n_gen, threads, REPS, pack=False)))
            print("rows", row_kernel[-1], flush=True)
        del llm
    loaded = []
    busy = busy_start(2)
    try:
        for threads in (1, 2):
            llm = Llama(model_path=MODEL, n_ctx=512, n_threads=threads, n_threads_batch=threads, verbose=False)
            a = aikid_run(*LOADED_CONFIG, threads, 1)
            lp, ld, lt = llama_cpp_run(llm, *LOADED_CONFIG, 1)
            loaded.append((threads, a, lp, ld, lt))
            print("loaded", loaded[-1], flush=True)
            del llm
    finally:
        busy_stop(busy)
    llama_rss = peak_rss_mb()
    bw1 = {t: bandwidth(t) for t in (1, 2)}
    load1 = os.getloadavg()
    bw = {t: statistics.median([bw0[t], bw1[t]]) for t in (1, 2)}
    lines = [
        "# Inference engine speed: aikid vs llama.cpp (llama-cpp-python)",
        "",
        f"Model `{os.path.basename(MODEL)}`, greedy, same run on the same machine ({platform.machine()}, "
        f"{os.cpu_count()} cores; load average {load0[0]:.1f} at start, {load1[0]:.1f} at end). Medians of {REPS} "
        f"runs for prompts up to 128 tokens, 1 run for the longer ones.",
        f"llama-cpp-python {version('llama_cpp_python')} (llama.cpp built by pip with GGML_NATIVE=ON; its own "
        f"perf timings; n_ctx 4200). aikid: `bench/inference/inference_bench`, kernels `{rows[0][4]['kernels']}`, "
        f"weights packed: {rows[0][4].get('packed')}. TTFT = the prompt's evaluation (its last logits ready).",
        f"Memory read bandwidth measured in this run (256 MB sum; start / end): 1 thread {bw0[1]:.1f} / {bw1[1]:.1f} "
        f"GB/s, 2 threads {bw0[2]:.1f} / {bw1[2]:.1f} GB/s. Bandwidth share = weight MB read per decode step "
        f"({rows[0][4]['weight_mb_tok']:.1f} MB) x decode tok/s / the median bandwidth with the same thread count "
        f"(KV cache reads not counted, so long contexts show a lower share).",
        f"Peak RSS: aikid's bench process (VmHWM); llama.cpp: the Python process that ran it "
        f"(ru_maxrss, incl. the interpreter and numpy): {llama_rss:.0f} MB.",
        "Command: `.venv-peers/bin/python bench/inference/bench.py build`",
        "",
        "| threads | prompt | new | aikid prefill tok/s | llama.cpp prefill tok/s | prefill ratio | aikid TTFT ms "
        "| llama.cpp TTFT ms | aikid decode tok/s | llama.cpp decode tok/s | decode ratio | aikid bandwidth share "
        "| aikid peak RSS MB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for threads, n_prompt, n_gen, reps, a, lp, ld, lt in rows:
        share = a["weight_mb_tok"] * 1e6 * a["decode_tok_s"] / (bw[threads] * 1e9)
        lines.append(f"| {threads} | {n_prompt} | {n_gen} | {a['prefill_tok_s']:.1f} | {lp:.1f} | "
                     f"{a['prefill_tok_s'] / lp if lp else 0:.2f} | {a['ttft_ms']:.1f} | {lt:.1f} | "
                     f"{a['decode_tok_s']:.1f} | {ld:.1f} | {a['decode_tok_s'] / ld if ld else 0:.2f} | "
                     f"{100 * share:.0f} % | {a['rss_mb']:.0f} |")
    lines += ["", "aikid with the weights in the file layout (`AIKID_PACK=0`, the 4-row row kernels), same run:", "",
              "| threads | prompt | new | prefill tok/s | TTFT ms | decode tok/s | peak RSS MB |",
              "|---:|---:|---:|---:|---:|---:|---:|"]
    for threads, n_prompt, n_gen, a in row_kernel:
        lines.append(f"| {threads} | {n_prompt} | {n_gen} | {a['prefill_tok_s']:.1f} | {a['ttft_ms']:.1f} | "
                     f"{a['decode_tok_s']:.1f} | {a['rss_mb']:.0f} |")
    lines += ["", f"On a loaded machine: two busy-loop processes (one per core) running alongside, prompt "
              f"{LOADED_CONFIG[0]}, {LOADED_CONFIG[1]} new tokens, one run each:", "",
              "| threads | aikid prefill tok/s | llama.cpp prefill tok/s | aikid decode tok/s | llama.cpp decode tok/s |",
              "|---:|---:|---:|---:|---:|"]
    for threads, a, lp, ld, lt in loaded:
        lines.append(f"| {threads} | {a['prefill_tok_s']:.1f} | {lp:.1f} | {a['decode_tok_s']:.1f} | {ld:.1f} |")
    gemm = subprocess.run([os.path.join(BUILD, "bench", "inference", "prefill_gemm_bench"), MODEL, "10"], check=True,
                          capture_output=True, text=True).stdout
    lines += ["", "Prefill's products, int8 kernels vs BLIS sgemm (`bench/inference/prefill_gemm_bench`, same run):",
              "", *gemm.strip().splitlines()]
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
