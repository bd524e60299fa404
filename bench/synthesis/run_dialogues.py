#!/usr/bin/env python3
"""Understanding, judged on a real daemon: users tell AIKI facts about their
lives, then ask about them. Each dialogue of a set (the shape of
../shared/eval/dialogues-dev.jsonl, see ../shared/eval/README.md) is a user of
its own: every `said` line is sent as a user percept and its thought.final
awaited, then each question is asked. A set's line has `ask` + `answer_has`,
or `asks`: [{ask, answer_has, answer_not?}, ...] (several questions, in order).

An answer is right when it contains at least one word of every `answer_has`
group (case-insensitive; ’ read as ') and none of `answer_not` (the other
brother's city, a forgotten code). It is in the asker's language unless a small
classifier (function words, æøå) says it is the other one: the asker's language
is `lang` for en/nb, and for "x" the language of the question. Its source is
counted: facts (the graph), memory (a recalled memory), model (`llm`) or other
(understood, unknown, template:*, reminder, error, no answer). Latency is from
the perceive request to its thought.final, statements and questions apart.

Prints a table per set (--verbose: every wrong answer) and writes them to
bench/results/understanding.md.

  .venv/bin/python bench/synthesis/run_dialogues.py [--bin build/daemon/aikid] [--limit N]
      [--verbose] [--set KEY=VALUE ...] [SET.jsonl ...]

Default sets: ../shared/eval/dialogues-dev.jsonl (when present) and
bench/synthesis/dialogues-more.jsonl. --limit N takes the first N dialogues of
each set (a quick look; the file is then not written unless --out is given).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pathlib
import platform
import re
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import List, Optional

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "python"))

# -- language -----------------------------------------------------------------
# Function words only one of the two languages uses (words both spell alike —
# i, at, to, for, by, man, den, mine, under — are left out).
NB_WORDS = set("""
jeg meg min mitt mine din ditt dine han hun henne ham hans hennes vi oss vår vårt våre dere de dem deres
sin sitt sine seg er var har hadde blir ble kan skal vil må ikke og eller men som hva hvor hvem hvorfor
hvordan når hvilken hvilket hvilke det dette denne disse på av fra til med om hos etter mot også bare
heter bor jobber ja nei vet bursdag klokka klokken du noe ingen alle nå enn ett et en litt sammen mellom
""".split())
EN_WORDS = set("""
the a an is are was were am be been have has had do does did not no and or but what where who why how when
which that this these those my your his her its our their me him them we you they it in on of from with
about at to by as lives live works work called name named born birthday yes know don't doesn't i'm you're
he's she's it's there here than also only just very some any
""".split())
_WORD = re.compile(r"[a-zæøåéèüö']+")


def language(text: str) -> Optional[str]:
    """'en', 'nb' or None (too short or mixed to tell)."""
    words = _WORD.findall(text.lower().replace("’", "'"))
    nb = sum(w in NB_WORDS for w in words) + 2 * sum(bool(re.search("[æøå]", w)) for w in words)
    en = sum(w in EN_WORDS for w in words)
    if nb == en or max(nb, en) < 2:
        return None
    return "nb" if nb > en else "en"


def norm(s: str) -> str:
    return s.lower().replace("’", "'").replace("‘", "'")


def right(answer: str, has: List[List[str]], not_: List[str]) -> bool:
    a = norm(answer)
    return all(any(norm(w) in a for w in group) for group in has) and not any(norm(w) in a for w in not_)


def source_class(source: str) -> str:
    return {"facts": "facts", "memory": "memory", "llm": "model"}.get(source, "other")


# -- one set ------------------------------------------------------------------
@dataclass
class question:
    user: str
    said: List[str]
    ask: str
    has: List[List[str]]
    not_: List[str]
    want_lang: str
    answer: str = ""
    source: str = "none"
    ms: float = 0.0

    @property
    def ok(self) -> bool:
        return right(self.answer, self.has, self.not_)

    @property
    def lang_ok(self) -> bool:
        got = language(self.answer)
        return got is None or got == self.want_lang


@dataclass
class result:
    name: str
    dialogues: int = 0
    questions: List[question] = field(default_factory=list)
    statement_ms: List[float] = field(default_factory=list)
    understood_ms: List[float] = field(default_factory=list)  # every percept understanding answered


UNDERSTANDING = {"understood", "facts", "memory", "unknown", "forgot"}


def load(path: pathlib.Path) -> List[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def asks_of(line: dict) -> List[dict]:
    if "asks" in line:
        return line["asks"]
    return [{"ask": line["ask"], "answer_has": line["answer_has"], "answer_not": line.get("answer_not", [])}]


def say(c, sub, wait_final, user: str, text: str, timeout: float):
    t0 = time.monotonic()
    r = c.request("perceive", text=text, user=user)
    f = wait_final(sub, r["percept_id"], timeout=timeout)
    ms = (time.monotonic() - t0) * 1000
    if f is None:
        return "", "timeout", ms
    return f.text or "", f.source or "none", ms


def run_set(d, name: str, lines: List[dict], prefix: str, timeout: float, progress, res: result) -> result:
    """Fills `res` as it goes (an interrupted run keeps what was asked)."""
    from aiki_bridge import Client, Subscriber
    from harness import wait_final
    with Subscriber(d.thoughts, topics=["thought.final"]) as sub, Client(d.requests, timeout=timeout) as c:
        time.sleep(0.3)
        for i, line in enumerate(lines):
            user = f"{prefix}{i}"
            for s in line["said"]:
                _, src, ms = say(c, sub, wait_final, user, s, timeout)
                res.statement_ms.append(ms)
                if src in UNDERSTANDING:
                    res.understood_ms.append(ms)
            for a in asks_of(line):
                lang = line["lang"] if line["lang"] in ("en", "nb") else (language(a["ask"]) or "en")
                q = question(user, line["said"], a["ask"], a["answer_has"], a.get("answer_not", []), lang)
                q.answer, q.source, q.ms = say(c, sub, wait_final, user, a["ask"], timeout)
                res.questions.append(q)
                if q.source in UNDERSTANDING:
                    res.understood_ms.append(q.ms)
            res.dialogues = i + 1
            progress(f"{name} {i + 1}/{len(lines)}: {sum(q.ok for q in res.questions)} of "
                     f"{len(res.questions)} right so far")
    return res


# -- the table ------------------------------------------------------------------
def pct(n: int, d: int) -> str:
    return f"{n} ({100 * n / d:.0f} %)" if d else "0"


def quantile(xs: List[float], q: float) -> str:
    if not xs:
        return "–"
    s = sorted(xs)
    return f"{s[min(len(s) - 1, int(q * len(s)))]:.0f}"


def table(results: List[result]) -> str:
    rows = ["| set | dialogues | questions | right | in asker's language | facts | memory | model | other "
            "| statement p50 / p99 ms | question p50 / p99 ms | understanding's percepts p50 / p99 ms |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        qs, n = r.questions, len(r.questions)
        kinds = Counter(source_class(q.source) for q in qs)
        rows.append(
            f"| {r.name} | {r.dialogues} | {n} | {pct(sum(q.ok for q in qs), n)} "
            f"| {pct(sum(q.lang_ok for q in qs), n)} "
            + " ".join(f"| {pct(kinds[k], n)}" for k in ("facts", "memory", "model", "other"))
            + f" | {quantile(r.statement_ms, .5)} / {quantile(r.statement_ms, .99)} "
            f"| {quantile([q.ms for q in qs], .5)} / {quantile([q.ms for q in qs], .99)} "
            f"| {quantile(r.understood_ms, .5)} / {quantile(r.understood_ms, .99)} ({len(r.understood_ms)}) |")
    others = Counter(q.source for r in results for q in r.questions if source_class(q.source) == "other")
    text = "\n".join(rows) + "\n"
    if others:
        text += "\nOther sources: " + ", ".join(f"`{k}` {v}" for k, v in others.most_common()) + ".\n"
    return text


def wrong(results: List[result]) -> str:
    out = []
    for r in results:
        for q in r.questions:
            if q.ok and q.lang_ok:
                continue
            why = ("wrong" if not q.ok else "") + (" + " if not q.ok and not q.lang_ok else "") + \
                ("not in the asker's language" if not q.lang_ok else "")
            out.append(f"- [{r.name} {q.user}] {why}\n  said: {' | '.join(q.said)}\n  ask: {q.ask}\n"
                       f"  answer ({q.source}): {q.answer.strip()!r}\n  wanted: {q.has}"
                       + (f", not {q.not_}" if q.not_ else ""))
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=str(ROOT / "build" / "daemon" / "aikid"))
    ap.add_argument("--out", default=None, help="default bench/results/understanding.md (not with --limit)")
    ap.add_argument("--limit", type=int, default=0, help="the first N dialogues of each set")
    ap.add_argument("--verbose", "-v", action="store_true", help="print every wrong answer")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a daemon --set")
    ap.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for one thought.final")
    ap.add_argument("sets", nargs="*")
    a = ap.parse_args()
    os.environ["AIKID_BIN"] = a.bin
    import harness  # noqa: E402 (reads AIKID_BIN)

    sets = [pathlib.Path(s) for s in a.sets] or [
        p for p in (ROOT.parent / "shared" / "eval" / "dialogues-dev.jsonl",
                    ROOT / "bench" / "synthesis" / "dialogues-more.jsonl") if p.exists()]
    out = a.out or (None if a.limit else str(ROOT / "bench" / "results" / "understanding.md"))
    started = dt.datetime.now(dt.timezone.utc)
    t0 = time.monotonic()
    results: List[result] = []
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM as Ctrl-C: the table so far
    interrupted = ""
    try:
        for s in sets:
            lines = load(s)[: a.limit or None]
            results.append(result(s.name))
            d = harness.Daemon(a.set).start()
            try:
                run_set(d, s.name, lines, s.stem[:8], a.timeout,
                        lambda m: print(m, file=sys.stderr, flush=True), results[-1])
            finally:
                d.discard()
    except KeyboardInterrupt:
        done = {r.name: r.dialogues for r in results}
        interrupted = ("**Interrupted**: the table counts the dialogues done before the stop ("
                       + ", ".join(f"{k}: {v}" for k, v in done.items()) + ").\n\n")
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
               platform.processor())
    head = (f"# Understanding: facts told, then asked\n\nRun {started:%Y-%m-%d %H:%M} UTC, "
            f"`{' '.join(['bench/synthesis/run_dialogues.py', *sys.argv[1:]])}` "
            f"({time.monotonic() - t0:.0f} s), on {cpu} ({os.cpu_count()} CPUs), {platform.system()} "
            f"{platform.release()}; the daemon `{pathlib.Path(a.bin).relative_to(ROOT) if pathlib.Path(a.bin).is_relative_to(ROOT) else a.bin}`"
            f" on config/aikid.toml{''.join(f' --set {x}' for x in a.set)}, a user per dialogue.\n\n"
            "Right: the answer holds a word of every `answer_has` group and none of `answer_not`. "
            "In the asker's language: not classified as the other language (function words, æøå; "
            "an answer too short to tell counts as in it). Sources: `facts` (the graph), `memory`, "
            "model (`llm`), other. Latency: perceive sent → its thought.final; the last column only the percepts understanding answered (understood, facts, memory, unknown, forgot; their count in brackets), while the model answers the others on the same two cores.\n\n")
    text = head + interrupted + table(results)
    print(text)
    if a.verbose:
        w = wrong(results)
        print("Wrong answers:\n" + (w or "(none)"))
    if out:
        pathlib.Path(out).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
