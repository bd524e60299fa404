#!/usr/bin/env python3
"""The thought loop end to end: aikid vs a Python pipeline of the old stack's shape.

Run (peers' venv; starts its own aikid from build/daemon/aikid or $AIKID_BIN):

    /work/main/.venv-peers/bin/python bench/loop/run_bench.py [--quick] [--set KEY=VALUE ...]

Measured, over the wire protocol only (ZeroMQ DEALER + SUB, raw JSON frames):

* template path: client wall time from sending ``perceive`` to receiving its
  ``thought.final`` (a percept a starter template answers: due today, greeting),
  p50/p99, idle and under load;
* model path: a percept no template matches (a fresh user each time, so the
  prompt is the cached system prompt + at most 64 uncached tokens), time to its
  first ``thought.token`` and to its ``thought.final`` (answer_tokens = 64,
  greedy), idle and under load;
* the embedder's own maximum rate (the ``embed`` op, one text a request, 16 in
  flight) and the highest open-loop percept rate the template path holds with
  no loss (every percept acknowledged, none ``busy``, every thought.final
  within 1 s of its percept), stepping the offered rate up in fractions of the
  embedder's rate;
* the same template and model paths through the peers, in the same run:
  sentence-transformers encode → qdrant-client (local, in memory) search →
  template match (cosine to the templates' examples + keyword boost, the same
  threshold) → chevron render, or llama-cpp-python chat completion streamed.

Both sides use one thread for the encoder and one for the model (aikid's
defaults embedding.threads = inference.threads = 1), hold the same memories,
and read the same template files. "Under load" means a background stream of
template-path percepts at 25 % of the embedder's rate and, while the template
path is measured, a model generating without pause (aikid: ``generate``
requests from another client; peers: a second Llama in a thread, plus
sentence-transformers encodes at the same background rate).

Prints a markdown table and writes bench/results/loop.md.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import tomllib
from typing import Any, Dict, List, Optional, Tuple

import zmq

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "python"))
from harness import Daemon  # noqa: E402

MODELS = os.path.join(ROOT, "models")
MINILM = os.path.join(MODELS, "all-MiniLM-L6-v2")
GGUF = os.path.join(MODELS, "SmolLM2-135M-Instruct.Q4_1.gguf")
TEMPLATES = os.path.join(ROOT, "config", "templates")
SYSTEM_PROMPT = "You are AIKI, a helpful personal assistant."  # config/aikid.toml's default
ANSWER_TOKENS = 64
MATCH_THRESHOLD, KEYWORD_BOOST, RECALL_TOP_K, RECALL_MIN = 0.55, 0.25, 5, 0.3  # aikid defaults

TEMPLATE_TEXTS = ["what is due today", "hello", "anything due today?", "good morning",
                  "what do I have today", "hi there"]
MODEL_TEXTS = ["Write a short story about a dragon called {n} who loves to bake bread.",
               "Describe a walk through a forest in autumn with a friend called {n}.",
               "Explain to a child called {n} why the sea is salty, in simple words.",
               "Write a poem about a lighthouse keeper named {n} and the winter sea.",
               "Tell a story about a robot named {n} that learns to paint pictures."]
NAMES = ["Ada", "Bjorn", "Cleo", "Dag", "Eli", "Frode", "Gro", "Hugo", "Ines", "Jon", "Kari",
         "Lars", "Mia", "Nils", "Oda", "Per"]
BENCH_USER = "bench"


def memories_text(n: int) -> List[str]:
    people = ["Ola", "Kari", "Per", "Anne", "my sister", "my boss", "the neighbour", "grandma"]
    things = ["green tea", "the cabin", "football", "jazz", "the dentist on Friday", "sushi",
              "the new bike", "gardening", "the project deadline", "chess"]
    return [f"{people[i % len(people)]} mentioned {things[(i * 7) % len(things)]} (note {i})"
            for i in range(n)]


def pct(xs: List[float], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * (len(xs) - 1) + 0.5))]


def load_avg() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "load unknown"


# -- aikid over the wire ------------------------------------------------------

class Wire:
    """One DEALER (requests) and one SUB (thought.*) on a running aikid."""

    def __init__(self, d: Daemon) -> None:
        ctx = zmq.Context.instance()
        self.dealer = ctx.socket(zmq.DEALER)
        self.dealer.setsockopt(zmq.LINGER, 0)
        self.dealer.connect(d.requests)
        self.sub = ctx.socket(zmq.SUB)
        self.sub.setsockopt(zmq.LINGER, 0)
        self.sub.setsockopt(zmq.RCVHWM, 1_000_000)
        self.sub.setsockopt(zmq.SUBSCRIBE, b"thought.")
        self.sub.connect(d.thoughts)
        self.poller = zmq.Poller()
        self.poller.register(self.dealer, zmq.POLLIN)
        self.poller.register(self.sub, zmq.POLLIN)
        self.n = 0

    def send(self, op: str, **fields: Any) -> str:
        self.n += 1
        rid = f"r{self.n}"
        self.dealer.send_multipart([b"", json.dumps({"v": 1, "op": op, "id": rid, **fields}).encode()])
        return rid

    def call(self, op: str, timeout: float = 120, **fields: Any) -> Dict[str, Any]:
        rid = self.send(op, **fields)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.dealer.poll(100):
                r = json.loads(self.dealer.recv_multipart()[-1])
                if r.get("id") == rid:
                    return r
        raise TimeoutError(f"no reply to {op}")

    def drain(self) -> None:
        while self.sub.poll(0):
            self.sub.recv_multipart()

    def close(self) -> None:
        self.dealer.close()
        self.sub.close()


def aikid_percept(w: Wire, text: str, user: str, timeout: float = 120) -> Dict[str, Any]:
    """One percept: {'total_ms', 'first_ms', 'final'} measured at the client."""
    t0 = time.perf_counter()
    rid = w.send("perceive", text=text, user=user)
    pid: Optional[str] = None
    early: List[Tuple[float, bytes, Dict[str, Any]]] = []
    first = None
    deadline = time.monotonic() + timeout

    def see(t: float, topic: bytes, body: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        nonlocal first
        if body.get("percept_id") != pid:
            return None
        if topic == b"thought.token" and first is None:
            first = t
        if topic == b"thought.final":
            return {"total_ms": (t - t0) * 1e3,
                    "first_ms": ((first if first is not None else t) - t0) * 1e3, "final": body}
        return None

    while time.monotonic() < deadline:
        for sock, _ in w.poller.poll(100):
            if sock is w.dealer:
                r = json.loads(w.dealer.recv_multipart()[-1])
                if r.get("id") != rid:
                    continue
                if not r.get("ok"):
                    raise RuntimeError(f"perceive failed: {r}")
                pid = r["percept_id"]
                for t, topic, body in early:
                    done = see(t, topic, body)
                    if done:
                        return done
                early.clear()
            else:
                topic, raw = w.sub.recv_multipart()
                t = time.perf_counter()
                body = json.loads(raw)
                if pid is None:
                    early.append((t, topic, body))
                    continue
                done = see(t, topic, body)
                if done:
                    return done
    raise TimeoutError(f"no thought.final for {text!r}")


def embedder_rate(d: Daemon, seconds: float, inflight: int = 16, batch: int = 1) -> float:
    """Texts/s the embed op sustains: ``inflight`` requests of ``batch`` texts kept in flight."""
    ctx = zmq.Context.instance()
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(d.requests)
    i = texts = 0
    busy = 0

    def send() -> None:
        nonlocal i
        i += 1
        s.send_multipart([b"", json.dumps({"v": 1, "op": "embed", "id": str(i), "texts": [
            TEMPLATE_TEXTS[(i + k) % len(TEMPLATE_TEXTS)] for k in range(batch)]}).encode()])

    for _ in range(inflight):
        send()
    t0 = time.perf_counter()
    stop = t0 + seconds
    outstanding = inflight
    while outstanding:
        if not s.poll(10000):
            raise TimeoutError("embed replies stopped")
        r = json.loads(s.recv_multipart()[-1])
        outstanding -= 1
        if r.get("ok"):
            texts += batch
        else:
            busy += 1
        if time.perf_counter() < stop:
            send()
            outstanding += 1
    el = time.perf_counter() - t0
    s.close()
    return texts / el


def rate_run(d: Daemon, rate: float, seconds: float, hold_ms: float = 1000) -> Dict[str, Any]:
    """Open loop: ``rate`` template percepts/s for ``seconds``; what came back."""
    w = Wire(d)
    time.sleep(0.3)
    w.drain()
    n_total = max(1, int(rate * seconds))
    interval = 1.0 / rate
    sent_at: Dict[str, float] = {}
    pid_at: Dict[str, float] = {}
    lat: Dict[str, float] = {}
    orphan: Dict[str, float] = {}
    busy = errors = 0
    sources: Dict[str, int] = {}
    i = 0
    t_start = time.perf_counter()
    next_t = t_start
    end_by = t_start + seconds + 5.0
    while True:
        now = time.perf_counter()
        if i < n_total and now >= next_t:
            rid = w.send("perceive", text=TEMPLATE_TEXTS[i % len(TEMPLATE_TEXTS)],
                         user=f"rate{i % 8}")
            sent_at[rid] = now
            i += 1
            next_t += interval
            continue
        replies_pending = len(sent_at) > 0
        if i >= n_total and not replies_pending and len(lat) >= len(pid_at):
            break
        if now > end_by:
            break
        wait_ms = max(0, int(((next_t - now) if i < n_total else 0.05) * 1000))
        for sock, _ in w.poller.poll(wait_ms):
            if sock is w.dealer:
                r = json.loads(w.dealer.recv_multipart()[-1])
                t0 = sent_at.pop(r.get("id"), None)
                if t0 is None:
                    continue
                if r.get("ok"):
                    pid = r["percept_id"]
                    pid_at[pid] = t0
                    if pid in orphan:
                        lat[pid] = (orphan.pop(pid) - t0) * 1e3
                elif r.get("error", {}).get("code") == "busy":
                    busy += 1
                else:
                    errors += 1
            else:
                topic, raw = w.sub.recv_multipart()
                if topic != b"thought.final":
                    continue
                t = time.perf_counter()
                fb = json.loads(raw)
                pid = fb.get("percept_id")
                src = str(fb.get("source", "?")).split(":")[0]
                sources[src] = sources.get(src, 0) + 1
                if pid in pid_at:
                    lat[pid] = (t - pid_at[pid]) * 1e3
                else:
                    orphan[pid] = t
    w.close()
    lost = len(sent_at) + busy + errors + (len(pid_at) - len(lat))
    late = sum(1 for v in lat.values() if v > hold_ms)
    vals = list(lat.values())
    return {"rate": rate, "sent": n_total, "acked": len(pid_at), "busy": busy, "errors": errors,
            "lost": lost, "late": late, "p50": pct(vals, .5), "p99": pct(vals, .99),
            "held": lost == 0 and late == 0, "sources": sources}


class AikidLoad:
    """Background load on aikid: template percepts at ``rate``/s (+ a generate loop)."""

    def __init__(self, d: Daemon, rate: float, generate: bool) -> None:
        self.d, self.rate, self.generate = d, rate, generate
        self.stop_ev = threading.Event()
        self.threads = [threading.Thread(target=self._percepts, daemon=True)]
        if generate:
            self.threads.append(threading.Thread(target=self._generate, daemon=True))
        self.sent = self.generated = 0

    def __enter__(self) -> "AikidLoad":
        for t in self.threads:
            t.start()
        time.sleep(0.5)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop_ev.set()
        for t in self.threads:
            t.join(120)

    def _percepts(self) -> None:
        s = zmq.Context.instance().socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(self.d.requests)
        i = 0
        nxt = time.perf_counter()
        while not self.stop_ev.is_set():
            now = time.perf_counter()
            if now >= nxt:
                s.send_multipart([b"", json.dumps({"v": 1, "op": "perceive", "id": str(i),
                                                   "user": "load",
                                                   "text": TEMPLATE_TEXTS[i % len(TEMPLATE_TEXTS)]}).encode()])
                i += 1
                nxt += 1.0 / self.rate
            while s.poll(0):
                s.recv_multipart()
            time.sleep(max(0.0, min(0.01, nxt - time.perf_counter())))
        self.sent = i
        s.close()

    def _generate(self) -> None:
        s = zmq.Context.instance().socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(self.d.requests)
        i = 0
        while not self.stop_ev.is_set():
            s.send_multipart([b"", json.dumps({"v": 1, "op": "generate", "id": f"g{i}",
                                               "prompt": f"Write a long essay about the number {i}.",
                                               "max_tokens": 64, "temperature": 0}).encode()])
            if s.poll(120000):
                s.recv_multipart()
            i += 1
        self.generated = i
        s.close()


def inference_idle(d: Daemon, timeout: float = 60.0) -> bool:
    """Wait until the model is idle (admin stats: not busy, nothing queued, no learning-path
    job waiting); False if it is still working after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            inf = d.admin_cmd("stats").get("actors", {}).get("inference", {})
        except (OSError, ValueError):
            inf = {}
        waiting = sum(v for k, v in inf.items() if k in ("queued", "background", "background_queued")
                      and isinstance(v, int))
        if not (inf.get("busy") or inf.get("running")) and waiting == 0:
            return True
        time.sleep(0.05)
    return False


def inference_stat(d: Daemon, key: str) -> Optional[int]:
    try:
        v = d.admin_cmd("stats").get("actors", {}).get("inference", {}).get(key)
    except (OSError, ValueError):
        return None
    return v if isinstance(v, int) else None


def tokens_of(w: Wire, text: str) -> int:
    r = w.call("tokenize", text=text)
    return len(r.get("tokens", [])) if r.get("ok") else -1


def bench_aikid(args: argparse.Namespace) -> Dict[str, Any]:
    sets = ["perception.dedup_window_ms=0", "inference.temperature=0",
            f"synthesis.answer_tokens={ANSWER_TOKENS}", *args.set]
    d = Daemon(sets).start()
    res: Dict[str, Any] = {"sets": sets}
    try:
        w = Wire(d)
        time.sleep(0.5)
        # the same memories as the peers hold, for the template path's user
        for i, m in enumerate(memories_text(args.memories)):
            r = w.call("memory.add", text=m, user=BENCH_USER)
            assert r.get("ok"), r
        # warm up: template path, and one model percept (caches the system prompt)
        for i in range(20):
            aikid_percept(w, f"{TEMPLATE_TEXTS[i % len(TEMPLATE_TEXTS)]}", BENCH_USER)
        for k in range(2):  # the first fills a cache slot, the second shows it is kept
            aikid_percept(w, f"Say hello to bench number {k}.", f"warm-model{k}")
        inference_idle(d)
        res["model_text_tokens"] = max(tokens_of(w, t.format(n="Frode")) for t in MODEL_TEXTS)

        def template_path(n: int) -> Tuple[List[float], Dict[str, int], List[float]]:
            lat, srcs, server = [], {}, []
            for i in range(n):
                r = aikid_percept(w, TEMPLATE_TEXTS[i % len(TEMPLATE_TEXTS)], BENCH_USER)
                src = r["final"].get("source", "?")
                srcs[src] = srcs.get(src, 0) + 1
                lat.append(r["total_ms"])
                server.append(float(r["final"].get("timings_ms", {}).get("total", 0)))
            return lat, srcs, server

        def model_path(n: int, tag: str, idle: bool) -> Tuple[List[float], List[float], List[int], Dict[str, int]]:
            first, total, toks, srcs = [], [], [], {}
            for i in range(n):
                if idle and not inference_idle(d):
                    res["not_idle"] = res.get("not_idle", 0) + 1
                text = MODEL_TEXTS[i % len(MODEL_TEXTS)].format(n=NAMES[i % len(NAMES)])
                c0 = inference_stat(d, "cached_tokens") if idle else None
                r = aikid_percept(w, text, f"{tag}{i}-{time.time()}")
                if c0 is not None:
                    c1 = inference_stat(d, "cached_tokens")
                    if c1 is not None:
                        res.setdefault("cached_deltas", []).append(c1 - c0)
                src = r["final"].get("source", "?")
                srcs[src] = srcs.get(src, 0) + 1
                first.append(r["first_ms"])
                total.append(r["total_ms"])
                toks.append(tokens_of(w, r["final"].get("text", "")))
            return first, total, toks, srcs

        res["tpl_idle"], res["tpl_sources"], res["tpl_server"] = template_path(args.n_template)
        res["model_idle"] = model_path(args.n_model, "m", idle=True)
        res["embed_rate"] = embedder_rate(d, args.rate_seconds)
        res["embed_rate_b32"] = embedder_rate(d, args.rate_seconds, inflight=4, batch=32)
        load_rate = 0.25 * res["embed_rate"]
        res["load_rate"] = load_rate
        w.drain()
        with AikidLoad(d, load_rate, generate=True) as ld:
            res["tpl_load"], res["tpl_load_sources"], _ = template_path(args.n_template)
        res["load_generated"] = ld.generated
        w.drain()
        with AikidLoad(d, load_rate, generate=False):
            res["model_load"] = model_path(args.n_model, "ml", idle=False)
        w.drain()
        runs = []

        def step(frac: float) -> bool:
            r = rate_run(d, frac * res["embed_rate"], args.rate_seconds)
            r["frac"] = frac
            runs.append(r)
            print(f"  rate {r['rate']:.0f}/s ({frac:.0%} of embedder): sent {r['sent']} "
                  f"acked {r['acked']} busy {r['busy']} lost {r['lost']} late {r['late']} "
                  f"p99 {r['p99']:.1f} ms sources {r['sources']}", file=sys.stderr)
            time.sleep(1.0)  # let the queues empty before the next step
            return r["held"]

        lo, hi = 0.0, None
        for frac in args.fractions:
            if not step(frac):
                hi = frac
                break
            lo = frac
        for _ in range(args.bisect if hi is not None else 0):  # narrow between held and not
            mid = (lo + hi) / 2
            if step(mid):
                lo = mid
            else:
                hi = mid
        res["rate_runs"] = sorted(runs, key=lambda r: r["frac"])
        w.close()
    finally:
        d.discard()
    return res


# -- the peers' pipeline (the old stack's shape) --------------------------------

class PeerPipeline:
    """sentence-transformers → qdrant-client (local) → template match → chevron | llama-cpp."""

    def __init__(self, n_memories: int) -> None:
        import torch
        from sentence_transformers import SentenceTransformer
        from qdrant_client import QdrantClient, models
        from llama_cpp import Llama
        import chevron
        torch.set_num_threads(1)
        self.chevron = chevron
        self.models = models
        self.st = SentenceTransformer(MINILM, device="cpu")
        self.q = QdrantClient(":memory:")
        self.q.create_collection("memories", vectors_config=models.VectorParams(
            size=384, distance=models.Distance.COSINE))
        texts = memories_text(n_memories)
        vecs = self.st.encode(texts, normalize_embeddings=True, batch_size=32)
        self.q.upsert("memories", points=[models.PointStruct(id=i, vector=v.tolist(), payload={
            "user": BENCH_USER, "text": t}) for i, (t, v) in enumerate(zip(texts, vecs))])
        self.templates = []
        for path in sorted(glob.glob(os.path.join(TEMPLATES, "*.toml"))):
            with open(path, "rb") as f:
                t = tomllib.load(f)
            ex = self.st.encode(t["examples"], normalize_embeddings=True)
            self.templates.append((t["name"], t["body"], ex, [k.lower() for k in t.get("keywords", [])]))
        self.llm = Llama(model_path=GGUF, n_ctx=2048, n_threads=1, n_threads_batch=1, verbose=False)
        self.turn = 0

    def _recall(self, text: str, user: str):
        v = self.st.encode([text], normalize_embeddings=True)[0]
        flt = self.models.Filter(must=[self.models.FieldCondition(
            key="user", match=self.models.MatchValue(value=user))])
        hits = self.q.query_points("memories", query=v.tolist(), query_filter=flt,
                                   limit=RECALL_TOP_K, score_threshold=RECALL_MIN).points
        return v, hits

    def _match(self, text: str, v) -> Tuple[Optional[str], Optional[str]]:
        low = text.lower()
        best, name, body = -1.0, None, None
        for n, b, ex, kws in self.templates:
            s = float((ex @ v).max()) + (KEYWORD_BOOST if any(k in low for k in kws) else 0.0)
            if s > best:
                best, name, body = s, n, b
        return (name, body) if best >= MATCH_THRESHOLD else (None, None)

    def percept(self, text: str, user: str) -> Dict[str, Any]:
        """One percept through the pipeline: {'total_ms', 'first_ms', 'source', 'text', 'tokens'}."""
        t0 = time.perf_counter()
        v, hits = self._recall(text, user)
        name, body = self._match(text, v)
        if name is not None:
            now = time.localtime()
            ctx = {"now": {"weekday": time.strftime("%A", now), "date": time.strftime("%Y-%m-%d", now),
                           "time": time.strftime("%H:%M", now), "daypart": "day"},
                   "user": user, "has_due": False, "due": [],
                   "has_memories": bool(hits), "memories": [{"text": h.payload["text"]} for h in hits]}
            out = self.chevron.render(body, ctx)
            ms = (time.perf_counter() - t0) * 1e3
            return {"total_ms": ms, "first_ms": ms, "source": f"template:{name}", "text": out, "tokens": 0}
        messages = [{"role": "system", "content": SYSTEM_PROMPT}]
        if hits:
            messages[0]["content"] += "\nWhat you remember:\n" + "\n".join(
                f"- {h.payload['text']}" for h in hits)
        messages.append({"role": "user", "content": text})
        first = None
        pieces = []
        for chunk in self.llm.create_chat_completion(messages=messages, max_tokens=ANSWER_TOKENS,
                                                     temperature=0, stream=True):
            piece = chunk["choices"][0]["delta"].get("content")
            if piece:
                if first is None:
                    first = time.perf_counter()
                pieces.append(piece)
        t = time.perf_counter()
        return {"total_ms": (t - t0) * 1e3, "first_ms": ((first or t) - t0) * 1e3, "source": "llm",
                "text": "".join(pieces), "tokens": len(pieces)}


class PeerLoad:
    """Background load for the peers: encodes at ``rate``/s (+ a second Llama generating)."""

    def __init__(self, p: PeerPipeline, rate: float, generate: bool) -> None:
        self.p, self.rate, self.generate = p, rate, generate
        self.stop_ev = threading.Event()
        self.threads = [threading.Thread(target=self._encode, daemon=True)]
        if generate:
            from llama_cpp import Llama
            self.llm2 = Llama(model_path=GGUF, n_ctx=2048, n_threads=1, n_threads_batch=1, verbose=False)
            self.threads.append(threading.Thread(target=self._generate, daemon=True))

    def __enter__(self) -> "PeerLoad":
        for t in self.threads:
            t.start()
        time.sleep(0.5)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop_ev.set()
        for t in self.threads:
            t.join(120)

    def _encode(self) -> None:
        i = 0
        nxt = time.perf_counter()
        while not self.stop_ev.is_set():
            if time.perf_counter() >= nxt:
                self.p.st.encode([TEMPLATE_TEXTS[i % len(TEMPLATE_TEXTS)]], normalize_embeddings=True)
                i += 1
                nxt += 1.0 / self.rate
            time.sleep(max(0.0, min(0.01, nxt - time.perf_counter())))

    def _generate(self) -> None:
        i = 0
        while not self.stop_ev.is_set():
            self.llm2.create_completion(f"Write a long essay about the number {i}.", max_tokens=64,
                                        temperature=0)
            i += 1


def bench_peers(args: argparse.Namespace, load_rate: float) -> Dict[str, Any]:
    p = PeerPipeline(args.memories)
    res: Dict[str, Any] = {}
    for i in range(20):
        p.percept(TEMPLATE_TEXTS[i % len(TEMPLATE_TEXTS)], BENCH_USER)
    for k in range(2):
        p.percept(f"Say hello to bench number {k}.", f"warm-model{k}")

    def template_path(n: int) -> Tuple[List[float], Dict[str, int]]:
        lat, srcs = [], {}
        for i in range(n):
            r = p.percept(TEMPLATE_TEXTS[i % len(TEMPLATE_TEXTS)], BENCH_USER)
            srcs[r["source"]] = srcs.get(r["source"], 0) + 1
            lat.append(r["total_ms"])
        return lat, srcs

    def model_path(n: int, tag: str):
        first, total, toks, srcs = [], [], [], {}
        for i in range(n):
            text = MODEL_TEXTS[i % len(MODEL_TEXTS)].format(n=NAMES[i % len(NAMES)])
            r = p.percept(text, f"{tag}{i}")
            srcs[r["source"]] = srcs.get(r["source"], 0) + 1
            first.append(r["first_ms"])
            total.append(r["total_ms"])
            toks.append(r["tokens"])
        return first, total, toks, srcs

    res["tpl_idle"], res["tpl_sources"] = template_path(args.n_template)
    res["model_idle"] = model_path(args.n_model, "m")
    with PeerLoad(p, load_rate, generate=True):
        res["tpl_load"], _ = template_path(args.n_template)
    with PeerLoad(p, load_rate, generate=False):
        res["model_load"] = model_path(args.n_model, "ml")
    return res


# -- report -------------------------------------------------------------------

def fmt(x: float) -> str:
    return f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def report(a: Dict[str, Any], p: Optional[Dict[str, Any]], args: argparse.Namespace,
           load_before: str, load_after: str) -> str:
    import llama_cpp
    L: List[str] = []
    L.append("| measure | aikid idle | aikid load | peers idle | peers load | goal | met (idle) |")
    L.append("| --- | ---: | ---: | ---: | ---: | --- | --- |")

    def row(name, ai, al, pi, pl, goal, met):
        L.append(f"| {name} | {ai} | {al} | {pi} | {pl} | {goal} | {met} |")

    ti, tl = a["tpl_idle"], a["tpl_load"]
    pti = p["tpl_idle"] if p else []
    ptl = p["tpl_load"] if p else []
    na = "–"
    row("template path p50 (ms)", fmt(pct(ti, .5)), fmt(pct(tl, .5)),
        fmt(pct(pti, .5)) if p else na, fmt(pct(ptl, .5)) if p else na, "", "")
    row("template path p99 (ms)", fmt(pct(ti, .99)), fmt(pct(tl, .99)),
        fmt(pct(pti, .99)) if p else na, fmt(pct(ptl, .99)) if p else na, "< 10 ms",
        "yes" if pct(ti, .99) < 10 else "no")
    if p:
        sp = pct(pti, .5) / pct(ti, .5)
        row("template path speed-up vs peers (p50)", f"{sp:.1f}×",
            f"{pct(ptl, .5) / pct(tl, .5):.1f}×", "", "", "≥ 2×", "yes" if sp >= 2 else "no")
    fi, toti, toki, _ = a["model_idle"]
    fl, totl, tokl, _ = a["model_load"]
    if p:
        pfi, ptoti, ptoki, _ = p["model_idle"]
        pfl, ptotl, ptokl, _ = p["model_load"]
    row("model path first token p50 (ms)", fmt(pct(fi, .5)), fmt(pct(fl, .5)),
        fmt(pct(pfi, .5)) if p else na, fmt(pct(pfl, .5)) if p else na, "< 150 ms",
        "yes" if pct(fi, .5) < 150 else "no")
    row("model path 64-token answer p50 (ms)", fmt(pct(toti, .5)), fmt(pct(totl, .5)),
        fmt(pct(ptoti, .5)) if p else na, fmt(pct(ptotl, .5)) if p else na, "< 1000 ms",
        "yes" if pct(toti, .5) < 1000 else "no")
    row("model path answer tokens (median)", f"{statistics.median(toki):.0f}",
        f"{statistics.median(tokl):.0f}", f"{statistics.median(ptoki):.0f}" if p else na,
        f"{statistics.median(ptokl):.0f}" if p else na, "64", "")
    if p:
        sf = pct(pfi, .5) / pct(fi, .5)
        st = pct(ptoti, .5) / pct(toti, .5)
        row("model path speed-up vs peers (first token / answer, p50)", f"{sf:.1f}× / {st:.1f}×",
            f"{pct(pfl, .5) / pct(fl, .5):.1f}× / {pct(ptotl, .5) / pct(totl, .5):.1f}×", "", "",
            "≥ 3×", "yes" if min(sf, st) >= 3 else "no")
    held = [r for r in a["rate_runs"] if r["held"]]
    best = max((r["rate"] for r in held), default=0.0)
    frac = best / a["embed_rate"] if a["embed_rate"] else 0
    row("embedder max rate (texts/s; embed op, 1 text × 16 in flight)", f"{a['embed_rate']:.0f}",
        "", "", "", "", "")
    row("template path max rate with no loss (percepts/s)", f"{best:.0f} ({frac:.0%})", "", "", "",
        "≥ 80 % of embedder", "yes" if frac >= 0.8 else "no")
    L.append("")
    L.append("Rate steps (open loop, template path; held = no busy, no error, every final within 1 s):")
    L.append("")
    L.append("| offered /s | of embedder | sent | acked | busy | lost | finals > 1 s | p50 ms | p99 ms | held |")
    L.append("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in a["rate_runs"]:
        L.append(f"| {r['rate']:.0f} | {r['frac']:.0%} | {r['sent']} | {r['acked']} | {r['busy']} | "
                 f"{r['lost']} | {r['late']} | {fmt(r['p50'])} | {fmt(r['p99'])} | "
                 f"{'yes' if r['held'] else 'no'} |")
    L.append("")
    L.append(f"- aikid template sources: {a['tpl_sources']}; under load: {a['tpl_load_sources']}; "
             f"server-side total p50 {fmt(pct(a['tpl_server'], .5))} ms.")
    if p:
        L.append(f"- peers template sources: {p['tpl_sources']}; model sources "
                 f"{p['model_idle'][3]} / aikid {a['model_idle'][3]}.")
    L.append(f"- embed op with 32 texts a request (4 in flight): {a['embed_rate_b32']:.0f} texts/s.")
    L.append(f"- model-path user text ≤ {a['model_text_tokens']} tokens (+ chat-format tokens), a "
             f"fresh user per percept; two warm-up model percepts first, so the system prompt should be "
             f"in the prompt cache (the next line shows whether it was). "
             f"Answer tokens counted with the `tokenize` op (aikid) / streamed chunks (peers); "
             f"greedy, answer_tokens = {ANSWER_TOKENS}.")
    if a.get("cached_deltas"):
        L.append(f"- prompt tokens served from aikid's prompt cache per idle model percept (admin "
                 f"`stats` cached_tokens before/after; a learning-path job that starts before the "
                 f"second read adds its own): {a['cached_deltas']}.")
    L.append("- idle model-path percepts start when the model is idle (admin `stats`: inference not "
             "busy, nothing queued, no learning-path job waiting)"
             + (f"; {a['not_idle']} started with the model still busy after 60 s." if a.get("not_idle")
                else ".") + " Under load they start at once.")
    L.append(f"- load: {a['load_rate']:.0f} template percepts/s in the background (25 % of the "
             f"embedder's rate); during the template-path rows also a model generating without "
             f"pause ({a['load_generated']} background 64-token generations completed on aikid).")
    L.append(f"- n = {args.n_template} template percepts, {args.n_model} model percepts per cell; "
             f"{args.memories} memories for the template user on both sides; "
             f"aikid --set {' '.join(a['sets'])}.")
    L.append(f"- peers: sentence-transformers (torch {_torch_version()}, 1 thread), qdrant-client local "
             f"(:memory:), chevron, llama-cpp-python {llama_cpp.__version__} (n_threads 1); "
             f"Python {platform.python_version()}.")
    L.append(f"- machine load before: `{load_before}`; after: `{load_after}`.")
    return "\n".join(L)


def _torch_version() -> str:
    import torch
    return torch.__version__


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small counts (checks that it runs)")
    ap.add_argument("--n-template", type=int, default=300)
    ap.add_argument("--n-model", type=int, default=10)
    ap.add_argument("--rate-seconds", type=float, default=5.0)
    ap.add_argument("--memories", type=int, default=200)
    ap.add_argument("--fractions", type=float, nargs="+",
                    default=[0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1])
    ap.add_argument("--bisect", type=int, default=2,
                    help="extra rate steps between the last held and the first failed fraction")
    ap.add_argument("--set", action="append", default=[], help="extra aikid --set KEY=VALUE")
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "loop.md"))
    args = ap.parse_args()
    if args.quick:
        args.n_template, args.n_model, args.rate_seconds, args.bisect = 60, 3, 2.0, 1
    for f in (GGUF, os.path.join(MINILM, "model.safetensors")):
        if not os.path.exists(f):
            print(f"missing model file {f} (run bench/peers/setup.sh / dev.sh setup)", file=sys.stderr)
            return 2
    load_before = load_avg()
    print(f"aikid … ({load_before})", file=sys.stderr)
    a = bench_aikid(args)
    p = None
    if not args.no_peers:
        print("peers …", file=sys.stderr)
        p = bench_peers(args, a["load_rate"])
    load_after = load_avg()
    text = report(a, p, args, load_before, load_after)
    print(text)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write("# Thought loop: percept → thought, aikid vs the old stack's shape "
                "(bench/loop/run_bench.py)\n\n")
        if args.quick:
            f.write("**--quick run (small counts) to check the benchmark works; not the "
                    "numbers to quote.**\n\n")
        f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
