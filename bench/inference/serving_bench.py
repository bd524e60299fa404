"""Two-turn chat: time to first token of the second turn, with and without the
prompt cache, aikid vs llama-cpp-python (its RAMCache + prefix reuse), same run,
same machine, one thread each. TTFT = wall time of a max_tokens=1 request
(prefill of the uncached part + one token), client side.

Run: /work/main/.venv-peers/bin/python bench/inference/serving_bench.py
Writes bench/results/inference_serving.md.
"""
from __future__ import annotations

import os
import pathlib
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "python"))
from conftest import Daemon  # noqa: E402

MODEL = ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
REPS = int(os.environ.get("REPS", "3"))
SYSTEM = ("You are AIKI, a personal assistant. Known facts about the user: " +
          " ".join(f"Fact {i}: the user likes item number {i} and visited city {i}." for i in range(25)))
TURN1 = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "What do I like?"}]


def turn2(reply: str):
    return TURN1 + [{"role": "assistant", "content": reply}, {"role": "user", "content": "And where did I go?"}]


def bench_aikid():
    d = Daemon(["inference.threads=1", "inference.prefill_chunk=64"]).start()
    try:
        r = d.request({"op": "generate", "messages": TURN1, "temperature": 0, "max_tokens": 24}, timeout=300)
        msgs = turn2(r["text"])
        n_prompt = None
        res = {"cold": [], "warm": []}
        for _ in range(REPS):
            for mode in ("cold", "warm"):
                if mode == "cold":  # one slot, evicted by an unrelated prompt
                    d.admin_cmd("set inference.cache_slots 1")
                    d.request({"op": "generate", "prompt": "zzz", "max_tokens": 1}, timeout=60)
                else:  # turn 1 in the cache, as in a conversation
                    d.admin_cmd("set inference.cache_slots 2")
                    d.request({"op": "generate", "messages": TURN1, "temperature": 0, "max_tokens": 24}, timeout=300)
                t0 = time.perf_counter()
                r2 = d.request({"op": "generate", "messages": msgs, "temperature": 0, "max_tokens": 1}, timeout=300)
                res[mode].append((time.perf_counter() - t0) * 1000)
                n_prompt = r2["timings"]["prompt_tokens"]
                res[mode + "_cached"] = r2["timings"]["cached_tokens"]
        return res, n_prompt
    finally:
        d.stop()


def bench_llama_cpp():
    from llama_cpp import Llama, LlamaRAMCache
    llm = Llama(model_path=str(MODEL), n_ctx=2048, n_threads=1, n_threads_batch=1, verbose=False)
    r = llm.create_chat_completion(messages=TURN1, temperature=0, max_tokens=24)
    msgs = turn2(r["choices"][0]["message"]["content"])
    res = {"cold": [], "warm": []}
    for _ in range(REPS):
        llm.set_cache(None)
        llm.reset()
        t0 = time.perf_counter()
        llm.create_chat_completion(messages=msgs, temperature=0, max_tokens=1)
        res["cold"].append((time.perf_counter() - t0) * 1000)
        llm.set_cache(LlamaRAMCache())
        llm.reset()
        llm.create_chat_completion(messages=TURN1, temperature=0, max_tokens=24)
        t0 = time.perf_counter()
        llm.create_chat_completion(messages=msgs, temperature=0, max_tokens=1)
        res["warm"].append((time.perf_counter() - t0) * 1000)
    import llama_cpp
    return res, llama_cpp.__version__


def main():
    a, n_prompt = bench_aikid()
    l, ver = bench_llama_cpp()
    med = statistics.median
    lines = [
        "# Inference serving: two-turn chat, time to first token of turn 2",
        "",
        f"SmolLM2-135M-Instruct Q4_1, 1 thread each, turn-2 prompt {n_prompt} tokens, median of {REPS} runs;",
        "TTFT = client wall time of a max_tokens=1 request. aikid cold = its cache slot evicted;",
        f"llama-cpp-python {ver} cold = reset(), warm = LlamaRAMCache + prefix reuse after turn 1.",
        "",
        "| engine | TTFT turn 2, no cache (ms) | TTFT turn 2, cached (ms) | cached tokens |",
        "| --- | ---: | ---: | ---: |",
        f"| aikid | {med(a['cold']):.1f} | {med(a['warm']):.1f} | {a['warm_cached']} |",
        f"| llama-cpp-python | {med(l['cold']):.1f} | {med(l['warm']):.1f} | (prefix) |",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    (ROOT / "bench" / "results" / "inference_serving.md").write_text(text)


if __name__ == "__main__":
    main()
