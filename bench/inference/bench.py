#!/usr/bin/env python3
# Prefill / decode speed of aikid's engine vs llama-cpp-python, 1 thread, same
# GGUF, same run; writes bench/results/inference.md.
#
# Command (after building build-inference):
#   .venv-peers/bin/python bench/inference/bench.py [build-dir]
# llama.cpp's numbers are its own timings (llama_perf_context: prompt eval and
# eval times), so the Python wrapper's overhead does not count against it.
# aikid's numbers come from bench/inference/inference_bench (steady_clock
# around eval()), best of `REPS` runs for both engines.
import json
import os
import platform
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
CONFIGS = [(32, 64), (128, 64)]
TEXT = "The quick brown fox jumps over the lazy dog near the river bank. "


def llama_cpp_run(llm, n_prompt, n_gen):
    text = TEXT
    ids = llm.tokenize(text.encode(), add_bos=False, special=False)
    while len(ids) < n_prompt:
        text += TEXT
        ids = llm.tokenize(text.encode(), add_bos=False, special=False)
    ids = ids[:n_prompt]
    best_p, best_d = 0.0, 0.0
    for _ in range(REPS):
        llm.reset()
        llama_cpp.llama_perf_context_reset(llm.ctx)
        llm.eval(ids)
        for _ in range(n_gen):
            ptr = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
            tok = int(np.ctypeslib.as_array(ptr, shape=(llm.n_vocab(),)).argmax())
            llm.eval([tok])
        perf = llama_cpp.llama_perf_context(llm.ctx)
        p = perf.n_p_eval / (perf.t_p_eval_ms / 1000.0) if perf.t_p_eval_ms > 0 else 0
        d = perf.n_eval / (perf.t_eval_ms / 1000.0) if perf.t_eval_ms > 0 else 0
        best_p, best_d = max(best_p, p), max(best_d, d)
    return best_p, best_d


def aikid_run(n_prompt, n_gen):
    out = subprocess.run([BENCH, MODEL, str(n_prompt), str(n_gen), str(REPS)], check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    load = os.getloadavg()
    llm = Llama(model_path=MODEL, n_ctx=512, n_threads=1, n_threads_batch=1, verbose=False)
    rows = []
    for n_prompt, n_gen in CONFIGS:
        a = aikid_run(n_prompt, n_gen)
        lp, ld = llama_cpp_run(llm, n_prompt, n_gen)
        rows.append((n_prompt, n_gen, a, lp, ld))
        print(n_prompt, n_gen, a, lp, ld, flush=True)
    lines = [
        "# Inference engine speed: aikid vs llama.cpp (llama-cpp-python)",
        "",
        f"Model `{os.path.basename(MODEL)}`, 1 thread, greedy, same run on the same machine "
        f"({platform.machine()}, {os.cpu_count()} cores, shared; load average {load[0]:.1f} at start, so both "
        f"engines ran on a contended CPU). Best of {REPS}.",
        f"llama-cpp-python {version('llama_cpp_python')} (llama.cpp built by pip with GGML_NATIVE=ON; its own "
        "perf timings). aikid: `bench/inference/inference_bench`, kernels "
        f"`{rows[0][2]['kernels']}`.",
        f"Command: `.venv-peers/bin/python bench/inference/bench.py`",
        "",
        "| prompt tokens | new tokens | aikid prefill tok/s | llama.cpp prefill tok/s | aikid decode tok/s "
        "| llama.cpp decode tok/s | aikid RSS MB |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n_prompt, n_gen, a, lp, ld in rows:
        lines.append(f"| {n_prompt} | {n_gen} | {a['prefill_tok_s']:.1f} | {lp:.1f} | {a['decode_tok_s']:.1f} | "
                     f"{ld:.1f} | {a['rss_mb']:.0f} |")
    lines += ["", "Speed is issue 6's subject: this records where the engine core stands."]
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
