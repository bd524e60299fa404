#!/usr/bin/env python3
# K-quants and Q5_1 against llama.cpp (llama-cpp-python), same files, same
# run; writes bench/results/inference_kquants.md and prints it:
#  1. the files: SmolLM2-135M requantised by llama.cpp into Q4_K_M, Q6_K and
#     Q5_1 (bench/inference/make_kquant_models.py) and their tensor types;
#  2. fidelity: greedy 64 tokens for the 12 prompts of the forward fixtures
#     (tests/inference/fixtures/make_forward_fixtures.py), llama.cpp vs
#     aikid (`inference_bench --greedy`), identical sequences and the first
#     step where they part;
#  3. kernels: aikid's Q4_K/Q6_K/Q5_0/Q8_0 mat-vec vs ggml-cpu's vec_dot on
#     the same bytes (`kquant_dot_bench`, llama-cpp-python's libggml-cpu.so);
#  4. speed: prefill and decode tok/s on each file, 1 and 2 threads
#     (inference_bench vs llama.cpp's own perf timings, as bench.py does).
#
# Command (after building inference_bench and kquant_dot_bench in build/):
#   .venv-peers/bin/python bench/inference/kquant_bench.py [build-dir]
import glob
import json
import os
import platform
import subprocess
import sys
from importlib.metadata import version

import llama_cpp
import numpy as np
from gguf import GGUFReader
from llama_cpp import Llama
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "../.."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "inference", "fixtures"))
import bench  # noqa: E402  (bench.py's llama_cpp_run: the measurement of bench/results/inference.md)
import make_kquant_models  # noqa: E402
from make_forward_fixtures import PROMPTS  # noqa: E402

BUILD = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build")
BENCH = os.path.join(BUILD, "bench", "inference", "inference_bench")
DOTS = os.path.join(BUILD, "bench", "inference", "kquant_dot_bench")
OUT = os.path.join(ROOT, "bench", "results", "inference_kquants.md")
N_GEN = 64
REPS = 3
SPEED = (32, 128)  # prompt tokens, new tokens


def avx512():
    with open("/proc/cpuinfo") as f:
        return "avx512f" in f.read().split()


def tensor_types(path):
    counts = {}
    for t in GGUFReader(path).tensors:
        counts[t.tensor_type.name] = counts.get(t.tensor_type.name, 0) + 1
    return ", ".join(f"{k} ×{v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))


def prompt_ids(llm, fmt, kind, text):
    if kind == "chat":
        return llm.tokenize(fmt(messages=[{"role": "user", "content": text}]).prompt.encode(), add_bos=False,
                            special=True)
    return llm.tokenize(text.encode(), add_bos=False, special=False)


def llama_greedy(llm, ids):
    llm.reset()
    llm.eval(ids)
    out = []
    for _ in range(N_GEN):
        ptr = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
        tok = int(np.ctypeslib.as_array(ptr, shape=(llm.n_vocab(),)).argmax())
        out.append(tok)
        llm.eval([tok])
    return out


def aikid_greedy(path, ids):
    out = subprocess.run([BENCH, "--greedy", path, str(N_GEN), ",".join(map(str, ids))], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["tokens"]


def fidelity(path):
    llm = Llama(model_path=path, n_ctx=512, n_threads=1, n_threads_batch=1, verbose=False)
    fmt = Jinja2ChatFormatter(template=llm.metadata["tokenizer.chat_template"], eos_token="<|im_end|>",
                              bos_token="<|im_start|>")
    same, parts = 0, []
    for kind, text in PROMPTS:
        ids = prompt_ids(llm, fmt, kind, text)
        want, got = llama_greedy(llm, ids), aikid_greedy(path, ids)
        if want == got:
            same += 1
        else:
            parts.append(next(i for i, (a, b) in enumerate(zip(want, got)) if a != b))
    del llm
    return same, parts


def speed(path, threads):
    a = json.loads(subprocess.run([BENCH, path, str(SPEED[0]), str(SPEED[1]), str(REPS), str(threads)], check=True,
                                  capture_output=True, text=True).stdout.strip().splitlines()[-1])
    llm = Llama(model_path=path, n_ctx=512, n_threads=threads, n_threads_batch=threads, verbose=False)
    lp, ld, lt = bench.llama_cpp_run(llm, SPEED[0], SPEED[1], REPS)
    del llm
    return a, lp, ld


def main():
    load0 = os.getloadavg()
    models = make_kquant_models.make_all()
    lines = ["# K-quants and Q5_1: aikid vs llama.cpp (llama-cpp-python)", "",
             f"Same run, same files, {platform.machine()} with {os.cpu_count()} cores (load average {load0[0]:.1f} "
             f"at start). llama-cpp-python {version('llama_cpp_python')} (llama.cpp built by pip with "
             "GGML_NATIVE=ON), gguf " + version("gguf") + ".",
             "Files: SmolLM2-135M-Instruct dequantised from the shipped Q4_1 file to F32 by the gguf package, then "
             "quantised by llama.cpp's `llama_model_quantize` (`bench/inference/make_kquant_models.py`); so the "
             "weights are the Q4_1 model's values, re-quantised — a test of fidelity and speed, not of quality.",
             "Command: `.venv-peers/bin/python bench/inference/kquant_bench.py build`", "",
             "## Files and fidelity (greedy, 64 tokens, 12 prompts, 1 thread)", "",
             "The shipped Q4_1 row is the baseline: on it aikid's greedy tokens equal the ones pinned in "
             "tests/inference/fixtures/forward.json (made by an earlier llama-cpp-python 0.3.36 build; "
             "inference_forward_test passes), so where this run's llama.cpp build parts from aikid on Q4_1 too, "
             "the difference is between llama.cpp builds as much as between the engines. "
             f"This machine has AVX-512: {avx512()}. aikid's attention, softmax and SiLU follow llama.cpp's "
             "AVX-512 build (the fixtures' machine); on a CPU without AVX-512 llama.cpp runs its AVX2 versions "
             "of those (other lane counts, another exp), which is where the baseline parts.", "",
             "| file | tensor types | MB | identical greedy sequences | first differing step (others) |",
             "|---|---|---:|---:|---|"]
    # the shipped Q4_1 file as the baseline: aikid's tokens on it equal those of the llama.cpp build
    # that made tests/inference/fixtures/forward.json (inference_forward_test)
    baseline = {"Q4_1 (shipped; baseline)": make_kquant_models.SRC}
    for name, path in {**baseline, **models}.items():
        same, parts = fidelity(path)
        lines.append(f"| {name} | {tensor_types(path)} | {os.path.getsize(path) / 1e6:.1f} | {same} / {len(PROMPTS)} "
                     f"| {', '.join(map(str, parts)) or '-'} |")
        print(lines[-1], flush=True)

    lib = sorted(glob.glob(os.path.join(os.path.dirname(llama_cpp.__file__), "lib", "libggml-cpu*.so*")))[0]
    dots = [json.loads(x) for x in subprocess.run([DOTS, lib, "200"], check=True, capture_output=True,
                                                  text=True).stdout.strip().splitlines()]
    lines += ["", "## Mat-vec kernels, one thread (`kquant_dot_bench`: llama.cpp = ggml-cpu's vec_dot row by row, "
              "as its matmul runs these types when the weights are not repacked)", "",
              f"aikid kernels: `{dots[0]['kernels']}`. Weights quantised by ggml_quantize_chunk; one activation "
              "converted by each side (identical bytes where marked).", "",
              "| type | n × rows | weight MB | aikid µs | llama.cpp µs | speed-up | aikid GB/s | llama.cpp GB/s "
              "| same activation | bit-identical rows |",
              "|---|---|---:|---:|---:|---:|---:|---:|---|---:|"]
    for d in dots:
        lines.append(f"| {d['type']} | {d['n']} × {d['rows']} | {d['weight_mb']:.2f} | {d['aikid_us']:.1f} | "
                     f"{d['llama_cpp_us']:.1f} | {d['llama_cpp_us'] / d['aikid_us']:.2f} | {d['aikid_gbs']:.1f} | "
                     f"{d['llama_cpp_gbs']:.1f} | {d['same_activation']} | {d['identical_rows']} / {d['rows']} |")
    print("\n".join(lines[-len(dots):]), flush=True)

    lines += ["", f"## Speed: prompt {SPEED[0]} tokens, {SPEED[1]} new, medians of {REPS} runs", "",
              "| file | threads | aikid prefill tok/s | llama.cpp prefill tok/s | aikid decode tok/s "
              "| llama.cpp decode tok/s | decode ratio | aikid weight MB / token |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, path in models.items():
        for threads in (1, 2):
            a, lp, ld = speed(path, threads)
            lines.append(f"| {name} | {threads} | {a['prefill_tok_s']:.1f} | {lp:.1f} | {a['decode_tok_s']:.1f} | "
                         f"{ld:.1f} | {a['decode_tok_s'] / ld if ld else 0:.2f} | {a['weight_mb_tok']:.1f} |")
            print(lines[-1], flush=True)
    lines += ["", f"Load average at the end: {os.getloadavg()[0]:.1f}."]
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
