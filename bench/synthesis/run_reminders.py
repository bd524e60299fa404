#!/usr/bin/env python3
"""Reminders said in words, judged on a real daemon with its clock fixed:
../shared/eval/reminders-dev.jsonl (when present) and
tests/python/fixtures/reminders-more.jsonl (or the sets given), each line said
by a user of its own at a fixed moment (Wednesday 9 December 2026, 11:17 in
Europe/Oslo), then the clock moved through the due times. Prints the table
(tests/python/reminders_eval.py) and writes it to bench/results/reminders.md.
There is no peer: AIKI's Python stack makes no reminder from words.

  .venv/bin/python bench/synthesis/run_reminders.py [--bin build/daemon/aikid] [SET.jsonl …]
"""
import argparse
import datetime as dt
import os
import pathlib
import sys
from zoneinfo import ZoneInfo

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "python"))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(ROOT / "build" / "daemon" / "aikid"))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "reminders.md"))
    ap.add_argument("sets", nargs="*")
    a = ap.parse_args()
    os.environ["AIKID_BIN"] = a.bin
    import harness  # noqa: E402 (reads AIKID_BIN)
    import reminders_eval  # noqa: E402

    sets = [pathlib.Path(s) for s in a.sets] or [
        p for p in (ROOT.parent / "shared" / "eval" / "reminders-dev.jsonl",
                    ROOT / "tests" / "python" / "fixtures" / "reminders-more.jsonl") if p.exists()]
    tz = "Europe/Oslo"
    base = dt.datetime(2026, 12, 9, 11, 17, tzinfo=ZoneInfo(tz))
    out = [f"# Reminders said in words\n\nRun {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, "
           f"`{' '.join(sys.argv)}`; said at {base:%A %d %B %Y %H:%M} {tz}; the daemon's clock fixed "
           "(admin `debug clock`) and moved a minute before and to each due time.\n"]
    total = ok = 0
    for s in sets:
        lines = reminders_eval.load(s)
        d = harness.Daemon(["daemon.debug=true", "proactive.tick_ms=100", "synthesis.learn=false",
                            f"synthesis.timezone={tz}", "memory.remember_sources="]).start()
        try:
            results = reminders_eval.run(d, lines, base, prefix=s.stem[:8])
        finally:
            d.discard()
        total += len(results)
        ok += sum(r.ok for r in results)
        out.append(f"## {s.name}\n\n" + reminders_eval.table(results, tz) + "\n")
    out.append(f"**All sets: {ok} of {total}.**\n")
    text = "\n".join(out)
    print(text)
    pathlib.Path(a.out).write_text(text, encoding="utf-8")
    return 0 if ok == total else 1


if __name__ == "__main__":
    sys.exit(main())
