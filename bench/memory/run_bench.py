#!/usr/bin/env python3
"""Memory search benchmark (issue 3): aikid's engine in process and over the
wire, side by side with numpy brute force, faiss-cpu, hnswlib, a pure-Python
loop (up to 10k) and qdrant-client local mode (up to 100k), on the same data
sets in the same run; recall@10 against exact search. Two phases:

  BUILD (slow, fine on a busy machine; resumable: finished items are skipped)
    .venv-peers/bin/python bench/memory/run_bench.py build --cache CACHE \
        --bench build-membench/bench/memory/memory_bench --aikid build-membench/daemon/aikid
  makes the data sets (clustered, uniform, real MiniLM vectors of a man/doc
  sentence corpus embedded by aikid's own embedder), their exact top-10, and
  saves every index: an aikid data dir (SQLite + index snapshot written by
  the engine), faiss write_index, hnswlib save_index. `--engines` picks
  data, aikid, peers (run aikid and peers as two processes to use 2 cores).

  QUERY (needs a quiet machine)
    .venv-peers/bin/python bench/memory/run_bench.py query --cache CACHE \
        --bench ... --aikid ... --out bench/results/memory.md
  loads the saved indexes, measures single-query latency p50/p99 and recall
  at several efSearch values in process, and over the wire: the real daemon
  opened on the saved data dir, `memory.search` with a client `vector`, one
  query at a time over a DEALER socket. Writes markdown tables into --out
  between the QUERY-RESULTS markers (older sections are kept).

CACHE layout: corpus.txt, minilm/ (part-NNNN.npy as embedded, x.npy, q.npy),
data/<kind>-<n>/{x,q,gt}.npy, aikid/<kind>-<n>-M<m>-efc<efc>-flat<flat_max>/
(daemon.data_dir: memory/memory.db + memory/memory.index, build.json),
faiss/<tag>.index, hnswlib/<tag>.bin (+ .json build times). A build item is
done when its .json exists; the MiniLM embedding resumes by part.

Fails with a message naming the missing file or the failing step.
"""
import argparse
import json
import os
import pathlib
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time

# one BLAS/OpenMP thread for every peer's search: single-query latency on a
# shared 2-core machine (several threads oversubscribe and get 10-50x slower)
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "python"))
K = 10
DIM = 384
NQ = 200
BEGIN, END = "<!-- QUERY-RESULTS:BEGIN -->", "<!-- QUERY-RESULTS:END -->"


class BenchError(Exception):
    pass


# ---- data sets --------------------------------------------------------------

def synthetic_make(kind, n, nq, dim, seed):
    """clustered: 1000 unit centres + N(0, 0.05) noise; uniform: random unit vectors."""
    rng = np.random.default_rng(seed)
    if kind == "clustered":
        centres = rng.standard_normal((1000, dim)).astype(np.float32)
        centres /= np.linalg.norm(centres, axis=1, keepdims=True)

        def draw(m):
            out = np.empty((m, dim), np.float32)
            for i in range(0, m, 100000):
                j = min(m, i + 100000)
                x = centres[rng.integers(0, len(centres), j - i)] + rng.normal(0, 0.05, (j - i, dim)).astype(np.float32)
                out[i:j] = x / np.linalg.norm(x, axis=1, keepdims=True)
            return out
        return draw(n), draw(nq)
    if kind == "uniform":
        x = rng.standard_normal((n + nq, dim)).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return x[:n].copy(), x[n:].copy()
    raise BenchError(f"unknown data kind {kind!r}")


def truth_exact(x, q):
    """Exact top-K rows by inner product (ties by smaller row), in chunks of x."""
    best_s = np.full((len(q), 0), -np.inf, np.float32)
    best_i = np.zeros((len(q), 0), np.int64)
    for i in range(0, len(x), 200000):
        s = q @ x[i:i + 200000].T
        top = np.argpartition(-s, min(K, s.shape[1] - 1), axis=1)[:, :K]
        best_s = np.concatenate([best_s, np.take_along_axis(s, top, 1)], 1)
        best_i = np.concatenate([best_i, top + i], 1)
    order = np.lexsort((best_i, -best_s), axis=1)[:, :K]
    return np.take_along_axis(best_i, order, 1)


def write_matrix(path, m):
    with open(path, "wb") as f:
        f.write(np.array(m.shape, dtype=np.int32).tobytes())
        f.write(np.ascontiguousarray(m, dtype=np.float32).tobytes())


def daemon_make(aikid, sets=(), data_dir=None):
    """A harness.Daemon on the aikid binary (private sockets; data_dir if given).
    Its config is the binary's own default (`--print-default-config`) in a
    private folder whose models/ and config/templates link to the repo's, so a
    config key added to the tree later cannot stop an older binary."""
    import harness
    harness.AIKID = pathlib.Path(aikid)
    base = pathlib.Path(tempfile.mkdtemp(prefix="aikmb"))
    (base / "config").mkdir()
    r = subprocess.run([str(aikid), "--print-default-config"], capture_output=True, text=True)
    if r.returncode != 0:
        raise BenchError(f"{aikid} --print-default-config failed: {r.stderr.strip()}")
    (base / "config" / "aikid.toml").write_text(r.stdout)
    (base / "models").symlink_to(ROOT / "models")
    (base / "config" / "templates").symlink_to(ROOT / "config" / "templates")
    d = harness.Daemon(list(sets), config=base / "config" / "aikid.toml", base=str(base))
    if data_dir is not None:
        d.args[d.args.index(f"daemon.data_dir={d.data}")] = f"daemon.data_dir={data_dir}"
        d.data = str(data_dir)
    return d


def corpus_embed(cache, aikid, want):
    """Embeds the first `want` + NQ corpus sentences with aikid's own embedder
    (the daemon's `embed` op) in parts of 10240 (saved as they finish, so an
    interrupted run resumes); saves minilm/x.npy, q.npy, model.txt, info.json."""
    out = cache / "minilm"
    if (out / "x.npy").exists() and len(np.load(out / "x.npy", mmap_mode="r")) >= want:
        return
    corpus = cache / "corpus.txt"
    if not corpus.exists():
        subprocess.run([sys.executable, str(ROOT / "bench/memory/make_corpus.py"), "--out", str(corpus)], check=True)
    lines = corpus.read_text(encoding="utf-8").splitlines()
    if len(lines) < want + NQ:
        print(f"corpus has {len(lines)} sentences: MiniLM set capped at {len(lines) - NQ}", flush=True)
        want = len(lines) - NQ
    texts = lines[:NQ] + lines[NQ:NQ + want]  # queries: the first NQ sentences, held out of the set
    out.mkdir(parents=True, exist_ok=True)
    part = 10240
    todo = [i for i in range(0, len(texts), part) if not (out / f"part-{i // part:04d}.npy").exists()]
    model, t0 = None, time.time()
    if todo:
        d = daemon_make(aikid, ["embedding.threads=2", "embedding.max_texts=256", "embedding.max_batch=32"]).start()
        try:
            s = d.dealer()
            for p0 in todo:
                vecs = []
                for i in range(p0, min(len(texts), p0 + part), 256):
                    frame = json.dumps({"v": 1, "id": str(i), "op": "embed", "texts": texts[i:min(i + 256, p0 + part)]})
                    r = d.send_raw(frame.encode(), timeout=600, sock=s)
                    if not r.get("ok"):
                        raise BenchError(f"embed of corpus lines {i}..{i + 255} failed: {r}")
                    vecs.append(np.asarray(r["vectors"], np.float32))
                    model = r["model"]
                np.save(out / f"part-{p0 // part:04d}.npy", np.concatenate(vecs))
                (out / "model.txt").write_text(model)
                print(f"embedded {min(len(texts), p0 + part)}/{len(texts)} ({time.time() - t0:.0f} s)", flush=True)
            s.close()
        finally:
            d.stop()
            shutil.rmtree(d.base, ignore_errors=True)
    v = np.concatenate([np.load(out / f"part-{i // part:04d}.npy") for i in range(0, len(texts), part)])
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    np.save(out / "x.npy", v[NQ:])
    np.save(out / "q.npy", v[:NQ])
    model = (out / "model.txt").read_text().strip()
    (out / "info.json").write_text(json.dumps({"sentences": want, "queries": NQ, "model": model}))
    print(f"MiniLM set ready: {want} sentences + {NQ} queries (model {model})", flush=True)


def model_id(cache, aikid):
    """The daemon embedder's model id (recorded on every stored vector so the
    daemon re-embeds nothing); asked once, cached in CACHE/model.txt."""
    f = cache / "model.txt"
    if not f.exists():
        d = daemon_make(aikid).start()
        try:
            r = d.request({"op": "embed", "texts": ["hello"]}, timeout=60)
        finally:
            d.stop()
            shutil.rmtree(d.base, ignore_errors=True)
        if not r.get("ok"):
            raise BenchError(f"embed failed, cannot learn the model id: {r}")
        f.write_text(r["model"])
    return f.read_text().strip()


def dataset_dir(cache, kind, n):
    return cache / "data" / f"{kind}-{n}"


def dataset_make(cache, kind, n):
    """x.npy, q.npy, gt.npy (exact top-10 rows) of one data set; skipped if present."""
    d = dataset_dir(cache, kind, n)
    if (d / "gt.npy").exists():
        return
    d.mkdir(parents=True, exist_ok=True)
    if kind == "minilm":
        allx = np.load(cache / "minilm" / "x.npy", mmap_mode="r")
        if len(allx) < n:
            raise BenchError(f"minilm has {len(allx)} vectors, fewer than {n}")
        x, q = np.ascontiguousarray(allx[:n]), np.load(cache / "minilm" / "q.npy")
    else:
        x, q = synthetic_make(kind, n, NQ, DIM, seed=n)
    np.save(d / "x.npy", x)
    np.save(d / "q.npy", q)
    np.save(d / "gt.npy", truth_exact(x, q))
    print(f"data {kind}-{n} ready", flush=True)


def hnsw_params(args, n):
    return (args.m_1m, args.efc_1m) if n >= 1000000 else (args.m, args.efc)


def tag(kind, n, m, efc):
    return f"{kind}-{n}-M{m}-efc{efc}"


def aikid_dir(args, cache, kind, n):
    """The aikid data dir of a data set (the daemon's daemon.data_dir; the store is in memory/)."""
    m, efc = hnsw_params(args, n)
    return cache / "aikid" / f"{tag(kind, n, m, efc)}-flat{args.flat_max}"


# ---- build ------------------------------------------------------------------

def build_aikid(args, cache, kind, n):
    m, efc = hnsw_params(args, n)
    base = aikid_dir(args, cache, kind, n)
    if (base / "build.json").exists():
        return
    model = model_id(cache, args.aikid)
    d = dataset_dir(cache, kind, n)
    tmp = cache / "tmp"
    tmp.mkdir(exist_ok=True)
    mat = tmp / f"{kind}-{n}.bin"
    write_matrix(mat, np.load(d / "x.npy", mmap_mode="r"))
    t0 = time.time()
    r = subprocess.run([args.bench, "build", str(mat), str(base / "memory"), str(args.flat_max), str(m), str(efc),
                        model], capture_output=True, text=True)
    mat.unlink()
    if r.returncode != 0:
        raise BenchError(f"memory_bench build {kind}-{n} failed: {r.stderr.strip()}")
    j = json.loads(r.stdout.strip().splitlines()[-1])
    j.update(wall_s=time.time() - t0, m=m, efc=efc, flat_max=args.flat_max, model=model)
    (base / "build.json").write_text(json.dumps(j))
    print(f"aikid {kind}-{n}: load {j['load_s']:.0f} s, HNSW build {j['build_s']:.0f} s", flush=True)


def build_peers(args, cache, kind, n):
    if n < 10000:
        return
    import faiss
    import hnswlib
    m, efc = hnsw_params(args, n)
    t = tag(kind, n, m, efc)
    x = None
    fpath, fmeta = cache / "faiss" / f"{t}.index", cache / "faiss" / f"{t}.json"
    if not fmeta.exists():
        x = np.load(dataset_dir(cache, kind, n) / "x.npy")
        fpath.parent.mkdir(exist_ok=True)
        faiss.omp_set_num_threads(args.threads)
        idx = faiss.IndexHNSWFlat(DIM, m, faiss.METRIC_INNER_PRODUCT)
        idx.hnsw.efConstruction = efc
        t0 = time.time()
        idx.add(x)
        b = time.time() - t0
        faiss.write_index(idx, str(fpath))
        fmeta.write_text(json.dumps({"build_s": b, "threads": args.threads, "m": m, "efc": efc}))
        print(f"faiss {t}: build {b:.0f} s", flush=True)
        del idx
    hpath, hmeta = cache / "hnswlib" / f"{t}.bin", cache / "hnswlib" / f"{t}.json"
    if not hmeta.exists():
        x = np.load(dataset_dir(cache, kind, n) / "x.npy") if x is None else x
        hpath.parent.mkdir(exist_ok=True)
        idx = hnswlib.Index(space="ip", dim=DIM)
        idx.init_index(max_elements=len(x), M=m, ef_construction=efc)
        t0 = time.time()
        idx.add_items(x, np.arange(len(x)), num_threads=args.threads)
        b = time.time() - t0
        idx.save_index(str(hpath))
        hmeta.write_text(json.dumps({"build_s": b, "threads": args.threads, "m": m, "efc": efc}))
        print(f"hnswlib {t}: build {b:.0f} s", flush=True)


def sets_of(args):
    """[(kind, n)] in build order: small first, 1M last."""
    out = []
    for n in map(int, args.sizes.split(",")):
        for kind in args.kinds.split(","):
            if kind == "minilm" and n > args.minilm_max:
                continue
            if kind == "uniform" and n > args.uniform_max:
                continue
            out.append((kind, n))
    return out


def cmd_build(args):
    cache = pathlib.Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    engines = args.engines.split(",")
    sets = sets_of(args)
    if "data" in engines:
        if any(k == "minilm" for k, _ in sets):
            corpus_embed(cache, args.aikid, max(n for k, n in sets if k == "minilm"))
        model_id(cache, args.aikid)
        for kind, n in sets:
            dataset_make(cache, kind, n)
    for kind, n in sets:
        if not (dataset_dir(cache, kind, n) / "gt.npy").exists():
            raise BenchError(f"data set {kind}-{n} missing: run `build --engines data` first")
        if "aikid" in engines:
            build_aikid(args, cache, kind, n)
        if "peers" in engines:
            build_peers(args, cache, kind, n)
    print("build done", flush=True)


# ---- query ------------------------------------------------------------------

def recall_of(found, gt):
    hits = sum(len(set(map(int, f)) & set(map(int, g))) for f, g in zip(found, gt))
    return hits / (K * len(gt))


def timed(fn, queries, warm=10):
    """p50, p99 (µs) and results of fn over the queries, after `warm` warm-up calls."""
    for v in queries[:warm]:
        fn(v)
    lat, out = [], []
    for v in queries:
        t = time.perf_counter_ns()
        r = fn(v)
        lat.append((time.perf_counter_ns() - t) / 1000.0)
        out.append(r)
    lat.sort()
    p = lambda f: lat[min(len(lat) - 1, int(f * len(lat)))]  # noqa: E731
    return p(0.5), p(0.99), out


def q_numpy(x, q):
    def one(v):
        s = x @ v
        i = np.argpartition(-s, K)[:K]
        return i[np.argsort(-s[i])]
    return timed(one, q)


def q_python(x, q):
    rows = x.tolist()

    def one(v):
        v = v.tolist()
        scores = [sum(a * b for a, b in zip(r, v)) for r in rows]
        return sorted(range(len(scores)), key=lambda i: -scores[i])[:K]
    return timed(one, q, warm=2)


def q_faiss_flat(x, q):
    import faiss
    idx = faiss.IndexFlatIP(x.shape[1])
    idx.add(x)
    return timed(lambda v: idx.search(v[None, :], K)[1][0], q)


def q_qdrant(x, q):
    from qdrant_client import QdrantClient, models
    c = QdrantClient(":memory:")
    c.create_collection("m", vectors_config=models.VectorParams(size=x.shape[1], distance=models.Distance.COSINE))
    t = time.time()
    for i in range(0, len(x), 2000):
        c.upsert("m", points=models.Batch(ids=list(range(i, min(len(x), i + 2000))), vectors=x[i:i + 2000].tolist()))
    build = time.time() - t
    r = timed(lambda v: [p.id for p in c.query_points("m", query=v.tolist(), limit=K).points], q, warm=3)
    return r + (build,)


def q_aikid_inproc(args, base, q, efs, model, tmp):
    qf, ids = tmp / "q.bin", tmp / "ids"
    write_matrix(qf, q)
    r = subprocess.run([args.bench, "query", str(base / "memory"), str(qf), str(ids), str(args.flat_max),
                        ",".join(map(str, efs)), model], capture_output=True, text=True)
    if r.returncode != 0:
        raise BenchError(f"memory_bench query {base} failed: {r.stderr.strip()}")
    if r.stderr.strip():
        print(r.stderr.strip(), flush=True)
    out = []
    for line in r.stdout.strip().splitlines():
        j = json.loads(line)
        out.append((j, np.fromfile(f"{ids}.{j['ef']}", dtype=np.int64).reshape(len(q), K)))
    return out


def q_aikid_wire(args, base, q, efs, m, efc):
    """The daemon on the saved data dir; memory.search with a client vector,
    one request in flight; latency = send of the pre-encoded frame to receipt
    of the whole reply (the reply's JSON is parsed after the clock stops)."""
    d = daemon_make(args.aikid, [f"memory.flat_max={args.flat_max}", f"memory.hnsw_m={m}",
                                 f"memory.hnsw_ef_construction={efc}", f"memory.hnsw_ef_search={efs[0]}"],
                    data_dir=base)
    t0 = time.time()
    d.start(wait=False)
    d.wait_ready(timeout=900)
    deadline = time.time() + 900
    while True:  # ready = the memory actor has opened the store
        st = d.admin_cmd("stats").get("actors", {}).get("memory", {}).get("store")
        if st and st.get("memories"):
            break
        if time.time() > deadline:
            raise BenchError(f"daemon on {base}: memory store not open after 900 s")
        time.sleep(0.2)
    open_s = time.time() - t0
    if "rebuild" in d.log():
        print(f"warning: daemon rebuilt the index of {base}", flush=True)
    # each float as its shortest float32 text (as a C++ client writes it): the same vector, ~4 KB a frame
    frames = [('{"v": 1, "id": "%d", "op": "memory.search", "top_k": %d, "vector": [%s]}' % (
        i, K, ",".join(np.format_float_positional(f, unique=True, trim="0") for f in v))).encode()
        for i, v in enumerate(q)]
    s = d.dealer()
    res = []
    try:
        for ef in efs:
            r = d.admin_cmd(f"set memory.hnsw_ef_search {ef}")
            if not r.get("ok"):
                raise BenchError(f"admin set memory.hnsw_ef_search {ef}: {r}")
            for rep in range(2):  # the first pass warms caches
                lat, replies = [], []
                for fr in frames:
                    t = time.perf_counter_ns()
                    s.send_multipart([b"", fr])
                    if not s.poll(30000):
                        raise BenchError("memory.search: no reply in 30 s")
                    raw = s.recv_multipart()[-1]
                    lat.append((time.perf_counter_ns() - t) / 1000.0)
                    replies.append(raw)
            found = []
            for raw in replies:
                j = json.loads(raw)
                if not j.get("ok"):
                    raise BenchError(f"memory.search failed: {j}")
                found.append([h["id"] - 1 for h in j["hits"]])
            lat.sort()
            p = lambda f: lat[min(len(lat) - 1, int(f * len(lat)))]  # noqa: E731
            res.append((ef, p(0.5), p(0.99), found))
    finally:
        s.close()
        d.stop()
        shutil.rmtree(d.base, ignore_errors=True)
    return res, open_s


def cmd_query(args):
    import faiss
    import hnswlib
    import qdrant_client
    faiss.omp_set_num_threads(1)
    cache = pathlib.Path(args.cache)
    efs = list(map(int, args.efs.split(",")))
    rows, load0, t_start = [], os.getloadavg(), time.time()

    def row(kind, n, engine, where, ef, p50, p99, rec, note=""):
        rows.append(dict(kind=kind, n=n, engine=engine, where=where, ef=ef, p50=p50, p99=p99, recall=rec, note=note))
        print(f"{kind:9} {n:>7} {engine:22} {where:8} ef {ef!s:>4}  p50 {p50:9.1f} us  p99 {p99:9.1f} us  "
              f"recall {rec:.3f} {note}", flush=True)

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="aikid-membench-"))
    try:
        for kind, n in sets_of(args):
            d = dataset_dir(cache, kind, n)
            if not (d / "gt.npy").exists():
                raise BenchError(f"{d}/gt.npy missing: run the build phase for {kind}-{n} first")
            x, q, gt = np.load(d / "x.npy"), np.load(d / "q.npy"), np.load(d / "gt.npy")
            m, efc = hnsw_params(args, n)
            t = tag(kind, n, m, efc)
            hnsw = n > args.flat_max
            aefs = efs if hnsw else [efs[0]]
            base = aikid_dir(args, cache, kind, n)
            if not (base / "build.json").exists():
                raise BenchError(f"{base}/build.json missing: run `build --engines aikid` first")
            model = json.loads((base / "build.json").read_text())["model"]
            label = (lambda ef: "aikid HNSW") if hnsw else (lambda ef: "aikid flat (exact)")
            for j, found in q_aikid_inproc(args, base, q, aefs, model, tmp):
                row(kind, n, label(j["ef"]), "process", j["ef"] if hnsw else "", j["p50_us"], j["p99_us"],
                    recall_of(found, gt), f"open {j['open_s']:.1f} s")
            wres, open_s = q_aikid_wire(args, base, q, aefs, m, efc)
            for ef, p50, p99, found in wres:
                row(kind, n, label(ef), "wire", ef if hnsw else "", p50, p99, recall_of(found, gt),
                    f"daemon ready {open_s:.1f} s")
            nb = NQ if n < 1000000 else 50
            p50, p99, out = q_numpy(x, q[:nb])
            row(kind, n, "numpy brute force", "process", "", p50, p99, recall_of(out, gt[:nb]),
                f"{nb} q" if nb < NQ else "")
            p50, p99, out = q_faiss_flat(x, q[:nb])
            row(kind, n, "faiss IndexFlatIP", "process", "", p50, p99, recall_of(out, gt[:nb]),
                f"{nb} q" if nb < NQ else "")
            if n >= 10000:
                fi = faiss.read_index(str(cache / "faiss" / f"{t}.index"))
                for ef in efs:
                    fi.hnsw.efSearch = ef
                    p50, p99, out = timed(lambda v: fi.search(v[None, :], K)[1][0], q)
                    row(kind, n, "faiss HNSW", "process", ef, p50, p99, recall_of(out, gt))
                del fi
                hi = hnswlib.Index(space="ip", dim=DIM)
                hi.load_index(str(cache / "hnswlib" / f"{t}.bin"), max_elements=n)
                hi.set_num_threads(1)
                for ef in efs:
                    hi.set_ef(ef)
                    p50, p99, out = timed(lambda v: hi.knn_query(v[None, :], k=K, num_threads=1)[0][0], q)
                    row(kind, n, "hnswlib", "process", ef, p50, p99, recall_of(out, gt))
                del hi
            if n <= 10000:
                nq = 20 if n > 1000 else NQ
                p50, p99, out = q_python(x, q[:nq])
                row(kind, n, "pure Python loop", "process", "", p50, p99, recall_of(out, gt[:nq]), f"{nq} q")
            if n <= 100000:
                nq = 50 if n > 10000 else NQ
                p50, p99, out, b = q_qdrant(x, q[:nq])
                row(kind, n, "qdrant-client local", "process", "", p50, p99, recall_of(out, gt[:nq]),
                    f"{nq} q, upsert {b:.1f} s")
            del x
        adds = []
        for threads in (() if args.no_adds else (1, 8)):
            r = subprocess.run([args.bench, "adds", str(tmp / "adds"), str(threads), str(args.adds), str(DIM)],
                               capture_output=True, text=True)
            if r.returncode != 0:
                raise BenchError(f"memory_bench adds {threads} failed: {r.stderr.strip()}")
            adds.append(json.loads(r.stdout.strip().splitlines()[-1]))
            print(adds[-1], flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report_write(args, cache, rows, adds, load0, time.time() - t_start, faiss, qdrant_client)


def report_write(args, cache, rows, adds, load0, secs, faiss, qdrant_client):
    cpu = "unknown"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    info = cache / "minilm" / "info.json"
    minilm = json.loads(info.read_text()) if info.exists() else None
    L = [BEGIN, "",
         f"## Search latency and recall, in process and over the wire ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
         "",
         f"QUERY phase: `{' '.join(sys.argv)}` ({secs / 60:.1f} min)  ",
         f"Machine: {cpu}, {os.cpu_count()} cores, {platform.platform()}; load average (1 min) "
         f"{load0[0]:.1f} at start, {os.getloadavg()[0]:.1f} at end  ",
         f"Peers: numpy {np.__version__}, faiss-cpu {faiss.__version__}, hnswlib 0.8.0, "
         f"qdrant-client {getattr(qdrant_client, '__version__', '1.20.0')}  ",
         f"dim {DIM}, top_k {K}, {NQ} queries (fewer where noted), one query at a time, one thread. "
         f"HNSW M={args.m}/efConstruction={args.efc} up to 100k, M={args.m_1m}/efConstruction={args.efc_1m} at 1M, "
         f"the same for aikid, faiss-cpu and hnswlib; aikid flat_max={args.flat_max} (exact below). "
         "Recall@10 against exact search. In process: aikid = C++ `store::search` (memory_bench, the "
         "saved data dir opened from its snapshot); peers = the Python call. Wire: the `aikid` daemon "
         "opened on the same data dir, `memory.search` {vector, top_k 10} over ipc:// from a pyzmq "
         "DEALER, one in flight, send → whole reply received (200 queries after a warm pass).  ",
         "Data: clustered = 1000 unit centres + N(0, 0.05) noise; uniform = random unit vectors (every "
         "HNSW loses recall there; not tuned for); minilm = real all-MiniLM-L6-v2 vectors (aikid's "
         "embedder) of English sentences from /usr/share/man and /usr/share/doc "
         "(`bench/memory/make_corpus.py`)" + (f", {minilm['sentences']} sentences, queries = {minilm['queries']} "
                                             "held-out sentences" if minilm else "") + ".",
         ""]
    # summary: the smallest ef with recall >= 0.95 per HNSW engine
    L += ["### At equal recall (smallest efSearch with recall@10 ≥ 0.95)", "",
          "| data | n | aikid wire p50 / p99 µs | aikid in process p50 / p99 µs | hnswlib p50 / p99 µs | "
          "faiss HNSW p50 / p99 µs | aikid / hnswlib p50 | goal (wire p99) |",
          "|---|---:|---|---|---|---|---:|---|"]
    keys = []
    for r in rows:
        if (r["kind"], r["n"]) not in keys:
            keys.append((r["kind"], r["n"]))

    def pick(kind, n, engine, where):
        c = [r for r in rows if r["kind"] == kind and r["n"] == n and r["engine"].startswith(engine)
             and r["where"] == where]
        ok = [r for r in c if r["recall"] >= 0.95]
        return min(ok, key=lambda r: (r["ef"] if r["ef"] != "" else 0)) if ok else (
            max(c, key=lambda r: r["recall"]) if c else None)

    fmt = lambda r: "—" if r is None else (  # noqa: E731
        f"{r['p50']:.0f} / {r['p99']:.0f}" + (f" (ef {r['ef']}" if r["ef"] != "" else " (exact") +
        (f", recall {r['recall']:.3f})" if r["recall"] < 0.95 or r["ef"] != "" else ")"))
    for kind, n in keys:
        w, p = pick(kind, n, "aikid", "wire"), pick(kind, n, "aikid", "process")
        h, f = pick(kind, n, "hnswlib", "process"), pick(kind, n, "faiss HNSW", "process")
        ratio = f"{p['p50'] / h['p50']:.2f}×" if p and h and p["ef"] != "" else ""  # HNSW vs HNSW only
        goal = ""
        if w and n in (100000, 1000000) and kind != "uniform":
            lim = 1000 if n == 100000 else 2000
            goal = f"{'met' if w['p99'] < lim and w['recall'] >= 0.95 else 'missed'} (< {lim} µs)"
        L.append(f"| {kind} | {n} | {fmt(w)} | {fmt(p)} | {fmt(h)} | {fmt(f)} | {ratio} | {goal} |")
    L += ["", "### Every measurement", "",
          "| data | n | engine | where | efSearch | p50 µs | p99 µs | recall@10 | note |",
          "|---|---:|---|---|---:|---:|---:|---:|---|"]
    for r in rows:
        L.append(f"| {r['kind']} | {r['n']} | {r['engine']} | {r['where']} | {r['ef']} | {r['p50']:.1f} | "
                 f"{r['p99']:.1f} | {r['recall']:.3f} | {r['note']} |")
    L += ["", "### Index builds (BUILD phase, busy machine: times are indicative)", "",
          "| data | n | M / efC | aikid load s | aikid HNSW build s (1 thread) | faiss build s | hnswlib build s |",
          "|---|---:|---|---:|---:|---:|---:|"]
    for kind, n in keys:
        m, efc = hnsw_params(args, n)
        t = tag(kind, n, m, efc)
        a = json.loads((aikid_dir(args, cache, kind, n) / "build.json").read_text())
        fb = cache / "faiss" / f"{t}.json"
        hb = cache / "hnswlib" / f"{t}.json"
        fs = f"{json.loads(fb.read_text())['build_s']:.0f} ({json.loads(fb.read_text())['threads']} thr)" if fb.exists() else ""
        hs = f"{json.loads(hb.read_text())['build_s']:.0f} ({json.loads(hb.read_text())['threads']} thr)" if hb.exists() else ""
        L.append(f"| {kind} | {n} | {m} / {efc} | {a['load_s']:.0f} | "
                 f"{a['build_s']:.0f} | {fs} | {hs} |" if n > args.flat_max else
                 f"| {kind} | {n} | flat | {a['load_s']:.1f} | | {fs} | {hs} |")
    if adds:
        L += ["", "### Durable adds in process (client vectors; each add returns after its WAL sync; group commit)", "",
              "| threads | adds | seconds | adds/s | transactions |", "|---:|---:|---:|---:|---:|"]
        L += [f"| {a['threads']} | {a['adds']} | {a['seconds']:.2f} | {a['adds_per_s']:.0f} | {a['batches']} |"
              for a in adds]
        L += ["", "Over the wire: `bench/memory/bench_adds_wire.py` (section below)."]
    L += ["", END, ""]
    text = "\n".join(L)
    out = pathlib.Path(args.out)
    old = out.read_text() if out.exists() else "# Memory engine benchmark\n"
    if BEGIN in old and END in old:
        new = old[:old.index(BEGIN)] + text + old[old.index(END) + len(END) + 1:]
    else:
        head, _, rest = old.partition("\n")
        new = head + "\n\n" + text + rest
    out.write_text(new)
    print("wrote", out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("phase", choices=["build", "query"])
    ap.add_argument("--cache", required=True, help="folder of data sets and saved indexes")
    ap.add_argument("--bench", default=str(ROOT / "build-membench/bench/memory/memory_bench"))
    ap.add_argument("--aikid", default=str(ROOT / "build-membench/daemon/aikid"))
    ap.add_argument("--out", default=str(ROOT / "bench/results/memory.md"))
    ap.add_argument("--sizes", default="837,10000,100000,1000000")
    ap.add_argument("--kinds", default="clustered,minilm,uniform")
    ap.add_argument("--minilm-max", type=int, default=100000, help="largest MiniLM set (sentences)")
    ap.add_argument("--uniform-max", type=int, default=100000, help="largest uniform set")
    ap.add_argument("--engines", default="data,aikid,peers", help="build: data, aikid, peers")
    ap.add_argument("--threads", type=int, default=2, help="build threads of faiss/hnswlib")
    ap.add_argument("--m", type=int, default=32)
    ap.add_argument("--efc", type=int, default=200)
    ap.add_argument("--m-1m", type=int, default=16)
    ap.add_argument("--efc-1m", type=int, default=100)
    ap.add_argument("--efs", default="16,32,64,128,256,512", help="query: efSearch values (first = flat's)")
    ap.add_argument("--flat-max", type=int, default=50000)
    ap.add_argument("--adds", type=int, default=4000)
    ap.add_argument("--no-adds", action="store_true")
    args = ap.parse_args()
    for f in (args.bench, args.aikid):
        if not os.access(f, os.X_OK):
            sys.exit(f"run_bench: {f} is not an executable (build memory_bench and aikid first)")
    try:
        (cmd_build if args.phase == "build" else cmd_query)(args)
    except (BenchError, subprocess.CalledProcessError, OSError) as e:
        sys.exit(f"run_bench {args.phase}: {e}")


if __name__ == "__main__":
    main()
