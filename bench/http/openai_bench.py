#!/usr/bin/env python3
"""The OpenAI-compatible API: aikid (http.listen, ipc/openai_http.cpp) against
llama-cpp-python's own OpenAI-compatible server (llama_cpp.server), same GGUF,
same machine, same run, one after the other.

Load: C clients (1, 4, 8), each one streaming chat request at a time over its own
keep-alive connection, for DURATION seconds per point: 16-token answers
(max_tokens 16, temperature 0.7, seeded) to 8 one-line prompts in turn. Both
servers: 1 inference thread, n_ctx 2048, a bearer key. Measured client side:
requests/s (completed streams: content and a finish_reason / wall time), time
to first token (first content delta; median and p90), content pieces/s.
llama_cpp.server runs with --interrupt_requests False (its default ends a
running stream when a newer request comes, so concurrent clients got empty
answers).

Run (after ./dev.sh setup and bench/peers/setup.sh):
  .venv/bin/python bench/http/openai_bench.py
Writes bench/results/openai_api.md. DURATION (s, default 15) in the environment.
"""
from __future__ import annotations

import http.client
import json
import os
import pathlib
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "python"))
from harness import Daemon  # noqa: E402

MODEL = ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
PEERS = ROOT / ".venv-peers" / "bin" / "python"
OUT = ROOT / "bench" / "results" / "openai_api.md"
DURATION = float(os.environ.get("DURATION", "15"))
CLIENTS = [1, 4, 8]
KEY = "sk-bench-0123456789abcdef"
PROMPTS = [f"Give me a one-line tip about {t}." for t in
           ("sleep", "coffee", "running", "reading", "music", "cooking", "travel", "work")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(port: int, timeout: float = 120.0) -> None:
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/v1/models", headers={"Authorization": f"Bearer {KEY}"})
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"no server on {port}")


def models(port: int) -> str:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/v1/models", headers={"Authorization": f"Bearer {KEY}"})
    ids = [m["id"] for m in json.loads(c.getresponse().read())["data"]]
    return next(i for i in ids if "SmolLM2" in i or i.endswith(".gguf"))


def one(conn: http.client.HTTPConnection, model: str, prompt: str, seed: int):
    """One streamed chat request: (ttft s, total s, content pieces) or raises."""
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": 16,
                       "temperature": 0.7, "seed": seed, "stream": True})
    t0 = time.perf_counter()
    conn.request("POST", "/v1/chat/completions", body=body,
                 headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
    r = conn.getresponse()
    if r.status != 200:
        raise RuntimeError(f"HTTP {r.status}: {r.read()[:200]!r}")
    ttft, pieces, finished = None, 0, False
    while True:
        line = r.readline()
        if not line:
            break
        line = line.strip()
        if not line.startswith(b"data: "):
            continue
        data = line[6:]
        if data == b"[DONE]":
            break
        ev = json.loads(data)
        if "error" in ev:
            raise RuntimeError(f"error event: {ev['error']}")
        for ch in ev.get("choices", []):
            finished = finished or ch.get("finish_reason") is not None
            if ch.get("delta", {}).get("content"):
                pieces += 1
                if ttft is None:
                    ttft = time.perf_counter() - t0
    r.read()
    if not finished or not pieces:  # cut short (llama_cpp.server interrupts a stream for a newer request by default)
        raise RuntimeError(f"incomplete answer: {pieces} pieces, finish_reason seen: {finished}")
    return ttft if ttft is not None else time.perf_counter() - t0, time.perf_counter() - t0, pieces


def load(port: int, model: str, clients: int, duration: float) -> dict:
    ttfts, done, errors, pieces = [], [0], [0], [0]
    lock = threading.Lock()
    stop_at = time.perf_counter() + duration

    def worker(w: int):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        i = w
        while time.perf_counter() < stop_at:
            try:
                t, _, n = one(conn, model, PROMPTS[i % len(PROMPTS)], 1000 + i)
                with lock:
                    ttfts.append(t)
                    done[0] += 1
                    pieces[0] += n
            except Exception:  # noqa: BLE001 (counted; the connection is made again)
                with lock:
                    errors[0] += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            i += clients
        conn.close()

    t0 = time.perf_counter()
    th = [threading.Thread(target=worker, args=(w,)) for w in range(clients)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    wall = time.perf_counter() - t0
    ttfts.sort()
    return {"rps": done[0] / wall, "ttft_p50": statistics.median(ttfts) * 1000 if ttfts else float("nan"),
            "ttft_p90": ttfts[int(0.9 * (len(ttfts) - 1))] * 1000 if ttfts else float("nan"),
            "pieces_s": pieces[0] / wall, "done": done[0], "errors": errors[0]}


def run_all(port: int) -> dict:
    model = models(port)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    for i in range(3):  # warm-up: model pages, prompt caches
        one(conn, model, PROMPTS[i], i)
    conn.close()
    return {c: load(port, model, c, DURATION) for c in CLIENTS}


def bench_aikid(folder: str) -> dict:
    keys = os.path.join(folder, "keys")
    with open(keys, "w") as f:
        f.write(KEY + " bench\n")
    os.chmod(keys, 0o640)
    port = free_port()
    d = Daemon([f"http.listen=127.0.0.1:{port}", f"http.keys_file={keys}", "inference.threads=1",
                "inference.n_ctx=2048", "log.level=warn"]).start()
    try:
        wait_http(port)
        return run_all(port)
    finally:
        d.discard()


def bench_llama() -> dict:
    port = free_port()
    p = subprocess.Popen([str(PEERS), "-m", "llama_cpp.server", "--model", str(MODEL), "--host", "127.0.0.1",
                          "--port", str(port), "--n_threads", "1", "--n_threads_batch", "1", "--n_ctx", "2048",
                          "--api_key", KEY, "--verbose", "False",
                          # its default (True) ends a running stream when a newer request comes: the other
                          # clients would get empty answers
                          "--interrupt_requests", "False"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(port)
        return run_all(port)
    finally:
        p.terminate()
        p.wait(30)


def main() -> None:
    from importlib.metadata import version  # noqa: F401
    llama_ver = subprocess.run([str(PEERS), "-c", "import importlib.metadata as m; print(m.version('llama_cpp_python'))"],
                               capture_output=True, text=True).stdout.strip()
    folder = tempfile.mkdtemp(prefix="aikbench")
    ours = bench_aikid(folder)
    peer = bench_llama()
    lines = [
        "# The OpenAI-compatible API: aikid vs llama_cpp.server",
        "",
        f"SmolLM2-135M-Instruct Q4_1 (models/), 1 inference thread each, n_ctx 2048; streamed chat requests of 16-token "
        f"answers (max_tokens 16, temperature 0.7, seeded) over 8 one-line prompts; C clients, one request in flight "
        f"each over a keep-alive connection, {DURATION:.0f} s per point; client-side times (TTFT = first content delta). "
        f"llama-cpp-python {llama_ver} (`llama_cpp.server`, its [server] extra). Same machine, same run, one server "
        f"at a time. llama_cpp.server with `--interrupt_requests False` (its default ends a running stream when a "
        f"newer request comes). An error is a request not answered in full (aikid: 429 past ipc.max_inflight_generate).",
        "",
        "Command: `.venv/bin/python bench/http/openai_bench.py` (DURATION=15)",
        "",
        "| clients | aikid req/s | llama_cpp.server req/s | ratio | aikid TTFT p50 / p90 (ms) | llama_cpp.server TTFT p50 / p90 (ms) | aikid pieces/s | llama_cpp.server pieces/s | errors (aikid / llama) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for c in CLIENTS:
        a, b = ours[c], peer[c]
        lines.append(f"| {c} | {a['rps']:.2f} | {b['rps']:.2f} | {a['rps'] / b['rps']:.2f}x | "
                     f"{a['ttft_p50']:.1f} / {a['ttft_p90']:.1f} | {b['ttft_p50']:.1f} / {b['ttft_p90']:.1f} | "
                     f"{a['pieces_s']:.1f} | {b['pieces_s']:.1f} | {a['errors']} / {b['errors']} |")
    text = "\n".join(lines) + "\n"
    print(text)
    OUT.write_text(text)


if __name__ == "__main__":
    main()
