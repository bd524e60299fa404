"""Cosine scores of all-MiniLM-L6-v2 for mem0-style questions against memories: docs/mem0.md's thresholds.

    .venv/bin/python bench/mem0_thresholds.py                 # aikid's embed op (starts a daemon)
    .venv-peers/bin/python bench/mem0_thresholds.py --peer    # sentence-transformers, same model

Each question has one memory that answers it; the table gives that memory's score
and the best score of a memory that does not (the other rows' memories), so a
threshold between the columns keeps the answer and drops the rest. Prints a
Markdown table; the summary line gives the lowest right score and the highest
wrong one.

Table of contents
  PAIRS        question → the memory that answers it
  embed_aikid, embed_peer   the vectors (unit length)
  main
"""
from __future__ import annotations

import pathlib
import sys
from typing import List

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAIRS = [
    ("what does alice drink", "I love green tea"),
    ("where does my sister live", "My sister Kari lives in Bergen"),
    ("what is my job", "I work as a nurse at Haukeland"),
    ("when does Bob play chess", "Bob plays chess on Sundays"),
    ("what is my dog called", "My dog is called Rex"),
    ("am I allergic to anything", "I am allergic to peanuts"),
    ("which food do I avoid", "I am vegetarian"),
    ("when is my dentist appointment", "Dentist appointment on Thursday at 15:00"),
    ("hvor bor broren min", "Broren min Jonas bor i Stavanger"),
    ("hva heter katten min", "Katten min heter Pus"),
]


def embed_aikid(texts: List[str]) -> List[List[float]]:
    sys.path.insert(0, str(ROOT / "tests" / "python"))
    sys.path.insert(0, str(ROOT / "bridge" / "python"))
    import aiki_bridge as ab
    from harness import Daemon
    d = Daemon().start()
    try:
        with ab.Client(d.requests, timeout=30) as c:
            return c.embed(texts)["vectors"]
    finally:
        d.stop()


def embed_peer(texts: List[str]) -> List[List[float]]:
    from sentence_transformers import SentenceTransformer
    m = SentenceTransformer(str(ROOT / "models" / "all-MiniLM-L6-v2"), device="cpu")
    return m.encode(texts, normalize_embeddings=True).tolist()


def main() -> int:
    peer = "--peer" in sys.argv
    qs = [q for q, _ in PAIRS]
    ms = [m for _, m in PAIRS]
    vecs = (embed_peer if peer else embed_aikid)(qs + ms)
    qv, mv = vecs[: len(qs)], vecs[len(qs):]

    def dot(a, b):
        return sum(x * y for x, y in zip(a, b))

    print(f"embedder: {'sentence-transformers' if peer else 'aikid embed op'}, all-MiniLM-L6-v2")
    print("| question | memory that answers | its score | best other memory's score |")
    print("|---|---|---|---|")
    right, wrong = [], []
    for i, q in enumerate(qs):
        r = dot(qv[i], mv[i])
        w = max(dot(qv[i], mv[j]) for j in range(len(ms)) if j != i)
        right.append(r)
        wrong.append(w)
        print(f"| {q} | {ms[i]} | {r:.3f} | {w:.3f} |")
    print(f"\nlowest right score {min(right):.3f}, highest wrong score {max(wrong):.3f}, "
          f"median right {sorted(right)[len(right) // 2]:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
