#!/usr/bin/env python3
"""Open questions no template answers, through the real daemon as percepts
(perceive -> compose -> the model), under a few settings: how many answers are
acceptable (contain an expected word), how long they are, how long they take.

The user first says a few things about themself (PREAMBLE, not judged: they
give the model's prompt facts learnt, memories and turns), then the questions
(en and nb), one after another, as in a conversation: earlier answers come back
as turns and earlier questions as recalled memories, as they do in use. Each
setting runs on a fresh daemon (config/aikid.toml plus the setting's --set
values) without templates (`synthesis.templates=`; --templates keeps them), so
that every question reaches the model: the model path is what is measured. A
setting may name its own binary (`bin=PATH`), to measure a build from before a
change.

  .venv/bin/python bench/synthesis/run_model_answers.py            # the default settings
  .venv/bin/python bench/synthesis/run_model_answers.py \\
      --setting 'old:bin=/tmp/aikid-old,inference.temperature=0.8' \\
      --setting 'greedy:synthesis.temperature=0'

Prints the table and writes it, with every answer, to bench/results/model_answers.md
(the answers also to model_answers.json; --rejudge FILE.json judges them again).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pathlib
import platform
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "python"))

PREAMBLE = [
    "My sister Kari lives in Bergen.",
    "I work as a teacher in Oslo.",
    "Jeg har en hund som heter Bamse.",
]

# (question, words of which one must occur in an acceptable answer, case-insensitive;
# none of them in the question itself, so that an answer repeating the question is not acceptable)
QUESTIONS = [
    ("What is the capital of Norway?", ["oslo"]),
    ("What is 2+3?", ["5", "five"]),
    ("What is the capital of France?", ["paris"]),
    ("How many days are there in a week?", ["7", "seven"]),
    ("What colour is the sky on a clear day?", ["blue"]),
    ("How do I boil an egg?", ["water", "minute"]),
    ("Who wrote Romeo and Juliet?", ["shakespeare"]),
    ("What is the largest planet in the solar system?", ["jupiter"]),
    ("How many legs does a spider have?", ["8", "eight"]),
    ("What language do people speak in Brazil?", ["portuguese"]),
    ("At what temperature does water freeze in Celsius?", ["0", "zero"]),
    ("How can I fall asleep faster?", ["bed", "relax", "routine", "caffeine", "screen", "dark", "breath"]),
    ("Hva er hovedstaden i Norge?", ["oslo"]),
    ("Hva er 2 pluss 3?", ["5", "fem"]),
    ("Hvor mange dager er det i en uke?", ["7", "sju", "syv", "seven"]),
    ("Hvilken farge har himmelen?", ["blå", "blue"]),
    ("Hvordan koker jeg et egg?", ["vann", "minutt", "water", "minute"]),
    ("Hva er hovedstaden i Sverige?", ["stockholm"]),
    ("Hvem skrev Peer Gynt?", ["ibsen"]),
    ("Hvor mange bein har en edderkopp?", ["8", "åtte", "eight"]),
]

DEFAULT_SETTINGS = [
    # the old sampling and turns with the new prompt shape
    "t0.8-rp1.0-turns8:synthesis.temperature=0.8,synthesis.repeat_penalty=1.0,synthesis.prompt_turns=8,"
    "synthesis.prompt_memory_score=-1",
    "t0-rp1.0-turns2:synthesis.temperature=0,synthesis.repeat_penalty=1.0,synthesis.prompt_turns=2",
    "t0-rp1.1-turns2:synthesis.temperature=0,synthesis.repeat_penalty=1.1,synthesis.prompt_turns=2",
    "t0.2-rp1.1-turns2:synthesis.temperature=0.2,synthesis.repeat_penalty=1.1,synthesis.prompt_turns=2",
    "t0-rp1.1-turns0:synthesis.temperature=0,synthesis.repeat_penalty=1.1,synthesis.prompt_turns=0",
]


NB = {q for q, _ in QUESTIONS[12:]}  # the Norwegian ones

for _q, _w in QUESTIONS:
    assert not any(w in _q.lower() for w in _w), (_q, _w)


def acceptable(text: str, words) -> bool:
    t = text.lower()
    return any(w in t for w in words)


def parse_setting(s: str):
    name, _, rest = s.partition(":")
    sets, binary = [], None
    for kv in filter(None, rest.split(",")):
        if kv.startswith("bin="):
            binary = kv[4:]
        else:
            sets.append(kv)
    return name, binary, sets


def run_setting(binary, sets, questions, timeout, templates):
    import harness
    from aiki_bridge import Client, Subscriber
    harness.AIKID = pathlib.Path(binary or os.environ.get("AIKID_BIN", ROOT / "build" / "daemon" / "aikid"))
    d = harness.Daemon(["memory.remember_sources=user", *([] if templates else ["synthesis.templates="]), *sets])
    d.args[0] = str(harness.AIKID)
    d.start()
    rows = []
    try:
        with Subscriber(d.thoughts, topics=["thought.final"]) as sub, Client(d.requests, timeout=60) as c:
            time.sleep(0.3)
            for said in PREAMBLE:
                r = c.request("perceive", text=said, user="bench")
                harness.wait_final(sub, r["percept_id"], timeout=timeout)
            time.sleep(3.0)  # the learning path's extractions of the preamble
            for q, words in questions:
                t0 = time.monotonic()
                r = c.request("perceive", text=q, user="bench")
                got = harness.wait_final(sub, r["percept_id"], timeout=timeout)
                ms = (time.monotonic() - t0) * 1000
                text = got.body.get("text", "") if got is not None else ""
                source = got.body.get("source", "?") if got is not None else "none"
                ntok = len(c.request("tokenize", text=text)["tokens"]) if text else 0
                rows.append({"q": q, "text": text, "source": source, "ok": acceptable(text, words),
                             "tokens": ntok, "ms": ms})
    finally:
        d.discard()
    return rows


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--setting", action="append", help="NAME:key=value,… (bin=PATH for another binary)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "model_answers.md"))
    ap.add_argument("--timeout", type=float, default=180.0)
    ap.add_argument("--limit", type=int, default=0, help="only the first N questions")
    ap.add_argument("--templates", action="store_true", help="keep the templates (config/templates)")
    ap.add_argument("--rejudge", nargs="+", help=".json files this script wrote: judge their answers again "
                    "(today's word lists), write one report of them all")
    a = ap.parse_args()
    if a.rejudge:
        words = dict(QUESTIONS)
        results, argvs, loads = [], [], []
        for f in a.rejudge:
            saved = json.loads(pathlib.Path(f).read_text(encoding="utf-8"))
            for _, _, _, rows in saved["results"]:
                for r in rows:
                    r["ok"] = acceptable(r["text"], words[r["q"]])
            results += saved["results"]
            argvs.append(" ".join(saved["argv"]))
            loads += [saved["load0"], saved["load1"]]
            a.templates = saved["templates"]
        load0, load1 = min(loads), max(loads)
        argv = [f"{len(a.rejudge)} runs back to back, judged again together (--rejudge): " + " ; ".join(argvs)]
        questions = QUESTIONS
    else:
        settings = [parse_setting(s) for s in (a.setting or DEFAULT_SETTINGS)]
        questions = QUESTIONS[: a.limit] if a.limit else QUESTIONS
        argv = sys.argv[1:]
        load0 = os.getloadavg()[0]
        results = []
        for name, binary, sets in settings:
            print(f"== {name}: {' '.join(sets)}{' bin=' + binary if binary else ''}", flush=True)
            rows = run_setting(binary, sets, questions, a.timeout, a.templates)
            for r in rows:
                print(f"  {'OK ' if r['ok'] else 'bad'} {r['ms']:7.0f} ms {r['tokens']:4d} tok [{r['source']}] "
                      f"{r['q']!r} -> {r['text'][:100]!r}", flush=True)
            results.append((name, binary, sets, rows))
        load1 = os.getloadavg()[0]
        pathlib.Path(a.out).with_suffix(".json").write_text(json.dumps(
            {"results": results, "load0": load0, "load1": load1, "argv": argv, "templates": a.templates},
            ensure_ascii=False, indent=1), encoding="utf-8")

    out = ["# Open questions through the model, as percepts\n",
           f"Run {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC on {platform.node()} "
           f"({os.cpu_count()} cores), `{' '.join(argv) or '(default settings)'}`. "
           f"{len(questions)} questions (en and nb) said one after another by one user, after "
           f"{len(PREAMBLE)} things about themself (earlier answers come back as turns, earlier questions as "
           "memories, learnt facts as facts); each setting on a fresh daemon with config/aikid.toml"
           f"{'' if a.templates else ' and no templates (every question reaches the model)'}. Acceptable = the answer contains one of the question's expected "
           "words (bench/synthesis/run_model_answers.py). Tokens = the answer's, by the model's tokenizer. "
           "Latency = perceive sent to thought.final received (the model's whole answer; the machine is "
           f"shared, load average {load0:.1f} to {load1:.1f} on {os.cpu_count()} cores).\n",
           "| setting | acceptable | of them en / nb | answered by a template | mean tokens | p50 latency ms |",
           "|---|---:|---:|---:|---:|---:|"]
    for name, binary, sets, rows in results:
        n = len(rows)
        ok = sum(r["ok"] for r in rows)
        tmpl = sum(r["source"].startswith("template:") for r in rows)
        toks = statistics.mean(r["tokens"] for r in rows) if rows else 0
        p50 = statistics.median(r["ms"] for r in rows) if rows else 0
        en = [r for r in rows if r["q"] not in NB]
        nb = [r for r in rows if r["q"] in NB]
        split = f"{sum(r['ok'] for r in en)}/{len(en)} / {sum(r['ok'] for r in nb)}/{len(nb)}"
        out.append(f"| {name} | {ok}/{n} | {split} | {tmpl} | {toks:.1f} | {p50:.0f} |")
    out.append("")
    out.append("Settings:\n")
    for name, binary, sets, _ in results:
        out.append(f"- `{name}`: {', '.join(f'`{s}`' for s in sets) or '(config as shipped)'}"
                   f"{f' (binary `{binary}`)' if binary else ''}")
    out.append("")
    for name, _, _, rows in results:
        out.append(f"## {name}\n")
        out.append("| | question | answer | source | tokens | ms |")
        out.append("|---|---|---|---|---:|---:|")
        for r in rows:
            ans = r["text"].replace("\n", " ").replace("|", "\\|")
            if len(ans) > 160:
                ans = ans[:160] + "…"
            out.append(f"| {'ok' if r['ok'] else '–'} | {r['q']} | {ans} | {r['source']} | {r['tokens']} | {r['ms']:.0f} |")
        out.append("")
    text = "\n".join(out)
    print(text)
    pathlib.Path(a.out).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
