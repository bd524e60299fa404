"""Serving benchmarks, aikid vs llama-cpp-python, same run, same machine:
1. Two-turn chat: time to first token of the second turn, with and without the
   prompt cache (llama-cpp-python: its RAMCache + prefix reuse), one thread
   each. TTFT = wall time of a max_tokens=1 request (prefill of the uncached
   part + one token), client side.
2. Requests/s for short generations (16 tokens, temperature 0.7) with 4
   concurrent clients for DURATION seconds: aikid over its real sockets (4
   DEALER clients, one request in flight each); llama-cpp-python in process
   (4 threads sharing one Llama under a lock, as its server does; no wire).

Run: /work/main/.venv-peers/bin/python bench/inference/serving_bench.py
Writes bench/results/inference_serving.md.
"""
from __future__ import annotations

import os
import pathlib
import json
import statistics
import sys
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "python"))
from conftest import Daemon  # noqa: E402

MODEL = ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
REPS = int(os.environ.get("REPS", "3"))
DURATION = float(os.environ.get("DURATION", "20"))
CLIENTS = 4
SHORT = [[{"role": "user", "content": f"Give me a one-line tip about {t}."}]
         for t in ("sleep", "coffee", "running", "reading", "music", "cooking", "travel", "work")]
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
        d.discard()


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


def hammer(call):
    """CLIENTS threads calling call(client, i) for DURATION s: (requests/s, tokens/s, errors)."""
    done, toks, errs = [0] * CLIENTS, [0] * CLIENTS, [0] * CLIENTS
    stop = time.perf_counter() + DURATION

    def run(c):
        i = 0
        while time.perf_counter() < stop:
            n = call(c, i)
            if n is None:
                errs[c] += 1
            else:
                done[c] += 1
                toks[c] += n
            i += 1

    t0 = time.perf_counter()
    ts = [threading.Thread(target=run, args=(c,)) for c in range(CLIENTS)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    dt = time.perf_counter() - t0
    return sum(done) / dt, sum(toks) / dt, sum(errs)


def rps_aikid(threads):
    d = Daemon([f"inference.threads={threads}"]).start()
    socks = [d.dealer() for _ in range(CLIENTS)]
    try:
        def call(c, i):
            body = {"v": 1, "id": f"{c}-{i}", "op": "generate", "messages": SHORT[(c + i) % len(SHORT)],
                    "temperature": 0.7, "seed": i, "max_tokens": 16}
            r = d.send_raw(json.dumps(body).encode(), timeout=120, sock=socks[c])
            return r["timings"]["generated_tokens"] if r.get("ok") else None
        return hammer(call)
    finally:
        for s in socks:
            s.close()
        d.discard()


def rps_llama_cpp(threads):
    from llama_cpp import Llama
    llm = Llama(model_path=str(MODEL), n_ctx=2048, n_threads=threads, n_threads_batch=threads, verbose=False)
    lock = threading.Lock()

    def call(c, i):
        with lock:
            r = llm.create_chat_completion(messages=SHORT[(c + i) % len(SHORT)], temperature=0.7, seed=i, max_tokens=16)
        return r["usage"]["completion_tokens"]
    return hammer(call)


def main():
    a, n_prompt = bench_aikid()
    l, ver = bench_llama_cpp()
    rps = [(t, rps_aikid(t), rps_llama_cpp(t)) for t in (1, 2)]
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
        f"## Requests/s, short generations, {CLIENTS} concurrent clients, {DURATION:.0f} s",
        "",
        "16 new tokens (temperature 0.7, seeded) per request over 8 one-line chat prompts;",
        "aikid over its ZeroMQ sockets, llama-cpp-python in process under a lock (no wire).",
        "",
        "| threads | aikid req/s | llama-cpp-python req/s | ratio | aikid tok/s | llama-cpp-python tok/s | aikid errors |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ] + [f"| {t} | {ar:.2f} | {lr:.2f} | {ar / lr:.2f}x | {at:.1f} | {lt:.1f} | {ae} |"
         for t, (ar, at, ae), (lr, lt, _) in rps] + [""]
    text = "\n".join(lines)
    print(text)
    (ROOT / "bench" / "results" / "inference_serving.md").write_text(text)


if __name__ == "__main__":
    main()
