#!/usr/bin/env python3
"""Builds an offline English text corpus for the memory benchmark's "real
MiniLM vectors" data set: sentences from the English man pages
(/usr/share/man/man*/, groff source) and the text files of /usr/share/doc
(README, changelogs, copyright, NEWS; plain or .gz). Groff requests and font
escapes are stripped, text is split into sentences, sentences of 5-60 words
with mostly letters are kept, duplicates dropped, and the result shuffled
with a fixed seed: the same machine gives the same file.

  .venv-peers/bin/python bench/memory/make_corpus.py --out CACHE/corpus.txt [--max 200000]

Fails (exit 1 with the reason) when no sentence is found or the output
cannot be written; unreadable input files are skipped.
"""
import argparse
import gzip
import os
import random
import re
import sys

ROOTS = ["/usr/share/man", "/usr/share/doc"]
GROFF_ESC = re.compile(r"\\f[BIRP1-4]|\\f\(..|\\f\[[^]]*\]|\\s[-+]?\d|\\\(..|\\\[[^]]*\]|\\[&%|^:~ e-]|\\\"")
SENT_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
WORDS = re.compile(r"[A-Za-z]+")


def corpus_files():
    """Yields candidate file paths (English man pages, doc text files)."""
    for root in ROOTS:
        for d, dirs, files in os.walk(root):
            if root.endswith("man"):
                rel = os.path.relpath(d, root)
                if not rel.startswith("man"):  # localised pages: /usr/share/man/de/...
                    dirs[:] = [x for x in dirs if x.startswith("man")]
                    continue
            for f in files:
                if f.endswith((".html", ".png", ".svg", ".js", ".css", ".pdf", ".py", ".c", ".h")):
                    continue
                yield os.path.join(d, f)


def text_of(path):
    """The file's text, '' when it is not readable UTF-8 text."""
    try:
        if os.path.islink(path) or os.path.getsize(path) > 4 << 20:
            return ""
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rb") as f:
            raw = f.read(4 << 20)
        if b"\0" in raw[:4096]:
            return ""
        return raw.decode("utf-8")
    except (OSError, UnicodeDecodeError, EOFError, gzip.BadGzipFile):
        return ""


def sentences_of(text, groff):
    """Sentences of a document: groff requests dropped, lines joined into paragraphs."""
    paras, cur = [], []
    for line in text.splitlines():
        if groff:
            if line.startswith((".", "'")):
                if line[:3] in (".PP", ".LP", ".SH", ".SS", ".TP", ".IP", ".P ", ".sp", ".br") or line == ".P":
                    paras.append(" ".join(cur))
                    cur = []
                continue
            line = GROFF_ESC.sub("", line).replace("\\-", "-").replace("\\", "")
        line = line.strip(" \t*-#>|")
        if not line:
            paras.append(" ".join(cur))
            cur = []
        else:
            cur.append(line)
    paras.append(" ".join(cur))
    for p in paras:
        for s in SENT_END.split(re.sub(r"\s+", " ", p).strip()):
            words = s.split()
            if not 5 <= len(words) <= 60:
                continue
            letters = sum(len(w) for w in WORDS.findall(s))
            if letters < 0.7 * len(s.replace(" ", "")) or not s[0].isupper():
                continue
            yield s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--max", type=int, default=200000, help="keep at most this many sentences")
    a = ap.parse_args()
    seen, out = set(), []
    for path in corpus_files():
        groff = "/man/" in path
        for s in sentences_of(text_of(path), groff):
            if s not in seen:
                seen.add(s)
                out.append(s)
    if not out:
        sys.exit("make_corpus: no sentences found under " + ", ".join(ROOTS))
    random.Random(42).shuffle(out)
    out = out[:a.max]
    try:
        with open(a.out + ".tmp", "w", encoding="utf-8") as f:
            f.write("\n".join(out) + "\n")
        os.replace(a.out + ".tmp", a.out)
    except OSError as e:
        sys.exit(f"make_corpus: cannot write {a.out}: {e}")
    print(f"make_corpus: {len(out)} sentences ({len(seen)} distinct found) -> {a.out}")


if __name__ == "__main__":
    main()
