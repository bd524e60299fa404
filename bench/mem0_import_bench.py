"""How fast python -m aiki_bridge import-mem0 brings a mem0 store over: N memories, a real daemon.

    .venv/bin/python bench/mem0_import_bench.py [--n 1000] [--peer-n 100]

The peer, in the same run: mem0 itself (.venv-peers, as bridge/python/tests/mem0_diff.py
sets it up: huggingface MiniLM, Qdrant local mode on disk) storing --peer-n of the same
texts with add(infer=False), one call a memory: the same work (embed, store, one history
row) that the import does per memory.

The store is written with qdrant-client in mem0's payload format (data, hash,
created_at, updated_at, user_id, role, metadata; local mode on disk) and a
history SQLite in mem0's schema (one ADD per memory, an UPDATE for every tenth),
because mem0 itself adds a few memories a second; bridge/python/tests/test_import_mem0.py
uses a store mem0 wrote. Prints memories/s for the dry run, the import one add at a
time, the second (idempotent) run, and the import with 4 adds in flight (the default).

Table of contents
  TEXT, make_store   the synthetic mem0 store
  peer               mem0's add(infer=False) of the same texts (run in .venv-peers)
  main               the three runs, timed, and the peer
"""
from __future__ import annotations

import argparse
import hashlib
import pathlib
import sqlite3
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))
sys.path.insert(0, str(ROOT / "bridge" / "python"))


def TEXT(i: int) -> str:
    return f"Fact number {i}: user{i % 7} likes topic {i * 7919 % 1000} on day {i % 31}"


def peer(n: int) -> float:
    """Seconds for mem0 to add n of the texts (infer=False), embedder loaded first."""
    sys.path.insert(0, str(ROOT / "bridge" / "python" / "tests"))
    from mem0_diff import mem0_memory
    with tempfile.TemporaryDirectory(prefix="m0peer") as d:
        m = mem0_memory(d)
        m.add("warm-up", user_id="w", infer=False)
        t = time.monotonic()
        for i in range(n):
            m.add(TEXT(i), user_id=f"user{i % 7}", metadata={"category": "bench"}, infer=False)
        return time.monotonic() - t


def make_store(folder: pathlib.Path, n: int) -> None:
    from qdrant_client import QdrantClient, models
    q = QdrantClient(path=str(folder / "qdrant"))
    q.create_collection("mem0", vectors_config=models.VectorParams(size=384, distance=models.Distance.COSINE))
    db = sqlite3.connect(folder / "history.db")
    db.execute("CREATE TABLE history (id TEXT PRIMARY KEY, memory_id TEXT, old_memory TEXT, new_memory TEXT, "
               "event TEXT, created_at DATETIME, updated_at DATETIME, is_deleted INTEGER, actor_id TEXT, role TEXT)")
    t0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
    pts = []
    for i in range(n):
        text = TEXT(i)
        c = (t0 + timedelta(minutes=i)).isoformat()
        mid = str(uuid.UUID(int=i + 1))
        pts.append(models.PointStruct(id=mid, vector=[1.0] + [0.0] * 383, payload={
            "data": text, "hash": hashlib.md5(text.encode()).hexdigest(), "created_at": c, "updated_at": c,
            "user_id": f"user{i % 7}", "role": "user", "category": "bench"}))
        db.execute("INSERT INTO history VALUES (?,?,?,?,?,?,?,?,?,?)",
                   (str(uuid.uuid4()), mid, None, text, "ADD", c, c, 0, None, "user"))
        if i % 10 == 0:
            db.execute("INSERT INTO history VALUES (?,?,?,?,?,?,?,?,?,?)",
                       (str(uuid.uuid4()), mid, "old " + text, text, "UPDATE", c, c, 0, None, "user"))
        if len(pts) == 256:
            q.upsert("mem0", pts)
            pts = []
    if pts:
        q.upsert("mem0", pts)
    q.close()
    db.commit()
    db.close()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--peer-n", type=int, default=100, help="memories mem0 adds (0: no peer)")
    ap.add_argument("--peer-side", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.peer_side:
        print(peer(args.peer_n))
        return 0
    peer_s = None
    if args.peer_n:
        import subprocess
        p = subprocess.run([str(ROOT / ".venv-peers" / "bin" / "python"), __file__, "--peer-side",
                            "--peer-n", str(args.peer_n)], capture_output=True, text=True, timeout=3600)
        if p.returncode != 0:
            print(p.stderr[-2000:], file=sys.stderr)
            return 2
        peer_s = float(p.stdout.strip().splitlines()[-1])
    import aiki_bridge as ab
    from aiki_bridge.mem0_import import run_import
    from harness import Daemon
    with tempfile.TemporaryDirectory(prefix="m0bench") as tmp:
        folder = pathlib.Path(tmp)
        make_store(folder, args.n)
        d = Daemon().start()
        try:
            with ab.Client(d.requests, timeout=60) as c:
                rows = []
                for name, kw in (("dry run", {"dry_run": True}), ("import, --jobs 1", {"jobs": 1}),
                                 ("second run", {}), ("reset, then import, --jobs 4", {"jobs": 4})):
                    if name.startswith("reset"):
                        ab.Memory(c).reset()
                    t = time.monotonic()
                    r = run_import(c, str(folder / "qdrant"), history=str(folder / "history.db"), **kw)
                    dt = time.monotonic() - t
                    rows.append((name, r.get("would_import", r["imported"]), r["already_imported"], dt))
                total = c.memory_list(limit=1)["total"]
        finally:
            d.stop()
    print(f"mem0 store of {args.n} memories ({args.n // 10} with an UPDATE in history) into a fresh daemon")
    print("| run | imported (or would) | already there | seconds | memories/s |")
    print("|---|---|---|---|---|")
    for name, k, have, dt in rows:
        print(f"| {name} | {k} | {have} | {dt:.2f} | {args.n / dt:.0f} |")
    if peer_s is not None:
        imp = rows[3][3]
        print(f"| peer: mem0 2.x add(infer=False), {args.peer_n} memories | {args.peer_n} | - | {peer_s:.2f} | "
              f"{args.peer_n / peer_s:.1f} |")
        print(f"\nimport vs mem0's own add: {(args.n / imp) / (args.peer_n / peer_s):.0f}x the memories/s")
    print(f"daemon holds {total} memories")
    return 0 if total == args.n else 1


if __name__ == "__main__":
    sys.exit(main())
