#!/usr/bin/env python3
"""Memory search benchmark: aikid's engine (in process, via memory_bench)
side by side with numpy brute force, faiss-cpu, hnswlib, a pure-Python loop
(up to 10k) and qdrant-client local mode (up to 100k), on the same data in
the same run. Also durable adds/s (1 and 8 threads). Writes a markdown table.

Run with the peers' venv:
  .venv-peers/bin/python bench/memory/run_bench.py \
      --bench build-memory/bench/memory/memory_bench --out bench/results/memory.md
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

# one BLAS/OpenMP thread for every peer: single-query latency on a shared
# 2-core machine (several threads oversubscribe and get 10-50x slower)
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402

K = 10


def make_data(kind, n, nq, dim, seed):
    rng = np.random.default_rng(seed)
    if kind == "clustered":
        centres = rng.standard_normal((1000, dim)).astype(np.float32)
        centres /= np.linalg.norm(centres, axis=1, keepdims=True)

        def draw(m):
            x = centres[rng.integers(0, len(centres), m)] + rng.normal(0, 0.05, (m, dim)).astype(np.float32)
            return x / np.linalg.norm(x, axis=1, keepdims=True)
        return draw(n).astype(np.float32), draw(nq).astype(np.float32)
    x = rng.standard_normal((n + nq, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x[:n].copy(), x[n:].copy()


def write_matrix(path, m):
    with open(path, "wb") as f:
        f.write(np.array(m.shape, dtype=np.int32).tobytes())
        f.write(np.ascontiguousarray(m, dtype=np.float32).tobytes())


def truth(x, q):
    s = q @ x.T
    idx = np.argsort(-s, axis=1, kind="stable")[:, :K]
    return idx


def recall(found, gt):
    hits = sum(len(set(map(int, f)) & set(map(int, g))) for f, g in zip(found, gt))
    return hits / (K * len(gt))


def timed(fn, queries, warm=10):
    for q in queries[:warm]:
        fn(q)
    lat, out = [], []
    for q in queries:
        t = time.perf_counter_ns()
        r = fn(q)
        lat.append((time.perf_counter_ns() - t) / 1000.0)
        out.append(r)
    lat.sort()
    p = lambda f: lat[min(len(lat) - 1, int(f * len(lat)))]
    return p(0.5), p(0.99), out


def bench_numpy(x, q):
    def one(v):
        s = x @ v
        i = np.argpartition(-s, K)[:K]
        return i[np.argsort(-s[i])]
    return timed(one, q)


def bench_python(x, q):
    rows = x.tolist()

    def one(v):
        v = v.tolist()
        scores = [sum(a * b for a, b in zip(r, v)) for r in rows]
        return sorted(range(len(scores)), key=lambda i: -scores[i])[:K]
    return timed(one, q, warm=2)


def bench_faiss_flat(x, q):
    import faiss
    faiss.omp_set_num_threads(1)
    idx = faiss.IndexFlatIP(x.shape[1])
    idx.add(x)
    return timed(lambda v: idx.search(v[None, :], K)[1][0], q)


def bench_faiss_hnsw(x, q, m, efc, ef):
    import faiss
    faiss.omp_set_num_threads(2)
    idx = faiss.IndexHNSWFlat(x.shape[1], m, faiss.METRIC_INNER_PRODUCT)
    idx.hnsw.efConstruction = efc
    t = time.time()
    idx.add(x)
    build = time.time() - t
    faiss.omp_set_num_threads(1)
    idx.hnsw.efSearch = ef
    r = timed(lambda v: idx.search(v[None, :], K)[1][0], q)
    return r + (build,)


def bench_hnswlib(x, q, m, efc, ef):
    import hnswlib
    idx = hnswlib.Index(space="ip", dim=x.shape[1])
    idx.init_index(max_elements=len(x), M=m, ef_construction=efc)
    t = time.time()
    idx.add_items(x, np.arange(len(x)), num_threads=2)
    build = time.time() - t
    idx.set_ef(ef)
    idx.set_num_threads(1)
    r = timed(lambda v: idx.knn_query(v[None, :], k=K, num_threads=1)[0][0], q)
    return r + (build,)


def bench_qdrant(x, q):
    from qdrant_client import QdrantClient, models
    c = QdrantClient(":memory:")
    c.create_collection("m", vectors_config=models.VectorParams(size=x.shape[1], distance=models.Distance.COSINE))
    t = time.time()
    for i in range(0, len(x), 2000):
        c.upsert("m", points=models.Batch(ids=list(range(i, min(len(x), i + 2000))), vectors=x[i:i + 2000].tolist()))
    build = time.time() - t

    def one(v):
        return [p.id for p in c.query_points("m", query=v.tolist(), limit=K).points]
    r = timed(one, q, warm=3)
    return r + (build,)


def bench_aikid(binary, x, q, flat_max, efs, tmp):
    d, qq, ids = (os.path.join(tmp, n) for n in ("data.bin", "queries.bin", "ids.bin"))
    write_matrix(d, x)
    write_matrix(qq, q)
    out = subprocess.run([binary, "search", d, qq, ids, str(flat_max), ",".join(map(str, efs)),
                          os.path.join(tmp, "store")], check=True, capture_output=True, text=True)
    res = []
    for line in out.stdout.strip().splitlines():
        j = json.loads(line)
        found = np.fromfile(f"{ids}.{j['ef']}", dtype=np.int64).reshape(len(q), K)
        res.append((j, found))
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--sizes", default="837,10000,100000")
    ap.add_argument("--kinds", default="clustered,uniform")
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--m", type=int, default=32)
    ap.add_argument("--efc", type=int, default=200)
    ap.add_argument("--ef", type=int, default=64)
    ap.add_argument("--flat-max", type=int, default=50000)
    ap.add_argument("--adds", type=int, default=4000)
    ap.add_argument("--only-aikid", action="store_true", help="skip the peers (aikid rows only)")
    ap.add_argument("--no-adds", action="store_true")
    args = ap.parse_args()
    import faiss
    import hnswlib  # noqa: F401
    import qdrant_client
    rows = []
    load_start = os.getloadavg()

    def row(kind, n, engine, p50, p99, rec, build=None, note=""):
        rows.append((kind, n, engine, p50, p99, rec, build, note))
        print(f"{kind:9} {n:>7} {engine:28} p50 {p50:9.1f} us  p99 {p99:9.1f} us  recall {rec:.3f}"
              + (f"  build {build:.1f}s" if build is not None else "") + f" {note}", flush=True)

    with tempfile.TemporaryDirectory(prefix="aikid-membench-") as tmp:
        for kind in args.kinds.split(","):
            for n in map(int, args.sizes.split(",")):
                x, q = make_data(kind, n, args.queries, args.dim, seed=n)
                gt = truth(x, q)
                efs = [args.ef] + ([2 * args.ef] if n > args.flat_max else [])
                for j, found in bench_aikid(args.bench, x, q, args.flat_max, efs, tmp):
                    label = "aikid (flat, exact)" if j["index"]["kind"] == "flat" else f"aikid (HNSW ef={j['ef']})"
                    row(kind, n, label, j["p50_us"], j["p99_us"], recall(found, gt),
                        j["build_s"] if j["index"]["kind"] == "hnsw" else None,
                        f"load {j['load_s']:.1f}s")
                if args.only_aikid:
                    continue
                p50, p99, out = bench_numpy(x, q)
                row(kind, n, "numpy brute force", p50, p99, recall(out, gt))
                p50, p99, out = bench_faiss_flat(x, q)
                row(kind, n, "faiss-cpu IndexFlatIP", p50, p99, recall(out, gt))
                if n >= 10000:
                    p50, p99, out, b = bench_faiss_hnsw(x, q, args.m, args.efc, args.ef)
                    row(kind, n, f"faiss-cpu HNSW ef={args.ef}", p50, p99, recall(out, gt), b)
                    p50, p99, out, b = bench_hnswlib(x, q, args.m, args.efc, args.ef)
                    row(kind, n, f"hnswlib ef={args.ef}", p50, p99, recall(out, gt), b)
                if n <= 10000:
                    nq = 20 if n > 1000 else len(q)
                    p50, p99, out = bench_python(x, q[:nq])
                    row(kind, n, f"pure Python loop ({nq} q)", p50, p99, recall(out, gt[:nq]))
                if n <= 100000:
                    nq = 50 if n > 10000 else len(q)
                    p50, p99, out, b = bench_qdrant(x, q[:nq])
                    row(kind, n, f"qdrant-client local ({nq} q)", p50, p99, recall(out, gt[:nq]), b)
        adds = []
        for threads in (() if args.no_adds else (1, 8)):
            out = subprocess.run([args.bench, "adds", os.path.join(tmp, "adds"), str(threads), str(args.adds),
                                  str(args.dim)], check=True, capture_output=True, text=True)
            adds.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(adds[-1], flush=True)

    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    with open(args.out, "w") as f:
        f.write("# Memory engine benchmark\n\n")
        f.write(f"Command: `{' '.join(sys.argv)}`  \n")
        f.write(f"Machine: {cpu}, {os.cpu_count()} cores (shared), {platform.platform()}  \n")
        f.write(f"Load average (1 min) at start {load_start[0]:.1f}, at end {os.getloadavg()[0]:.1f} "
                "(other sessions share the 2 cores: p99 reflects preemption)  \n")
        f.write(f"Peers: numpy {np.__version__}, faiss-cpu {faiss.__version__}, hnswlib 0.8.0, "
                f"qdrant-client {getattr(qdrant_client, '__version__', '1.20.0')}  \n")
        f.write(f"dim {args.dim}, top_k {K}, {args.queries} queries (fewer where noted), single query per call, "
                f"one thread for search. HNSW: M={args.m}, efConstruction={args.efc}, efSearch={args.ef}; "
                f"aikid flat_max={args.flat_max} (exact below it). Recall@10 against numpy exact search. "
                "Latency in µs, in process (aikid: C++ `store::search` incl. filter parsing and copying the "
                "hit records; peers: the Python call). Build = index build after load (HNSW only).\n\n")
        f.write("| data | n | engine | p50 µs | p99 µs | recall@10 | build s | note |\n")
        f.write("|---|---:|---|---:|---:|---:|---:|---|\n")
        for kind, n, engine, p50, p99, rec, build, note in rows:
            b = f"{build:.1f}" if build is not None else ""
            f.write(f"| {kind} | {n} | {engine} | {p50:.1f} | {p99:.1f} | {rec:.3f} | {b} | {note} |\n")
        if adds:
            f.write("\nDurable adds (client vectors, each add returns after its WAL sync; group commit):\n\n")
            f.write("| threads | adds | seconds | adds/s | transactions |\n|---:|---:|---:|---:|---:|\n")
        for a in adds:
            f.write(f"| {a['threads']} | {a['adds']} | {a['seconds']:.2f} | {a['adds_per_s']:.0f} | {a['batches']} |\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
