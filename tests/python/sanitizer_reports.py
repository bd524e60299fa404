"""Fails a test when an aikid it started wrote a sanitizer report.

./dev.sh test runs pytest against the ASan+UBSan daemon with
AIKID_SANITIZER_LOG_DIR set. Two places hold reports:
- files <tool>.<pid> in that folder: ASAN_OPTIONS log_path sends ASan and
  LeakSanitizer reports of every aikid process there (also those run with
  subprocess.run);
- the log of each harness Daemon (its stderr): GCC's UBSan runtime, next to
  ASan, ignores UBSAN_OPTIONS log_path and prints "runtime error:" on stderr.
The autouse fixtures below check both after every test and after every module
(module-scoped daemons stop after their last test) and fail with the report's
text. Without AIKID_SANITIZER_LOG_DIR they do nothing.
"""
from __future__ import annotations

import os
import pathlib
import re
from typing import Iterator, Set

import pytest

from harness import Daemon

_DIR = os.environ.get("AIKID_SANITIZER_LOG_DIR")
_MARKERS = re.compile(r"runtime error:|ERROR: (?:Address|Leak|UndefinedBehavior)Sanitizer|"
                      r"SUMMARY: (?:Address|Leak|UndefinedBehavior)Sanitizer")
_seen_files: Set[str] = set()
_seen_daemons: Set[int] = set()


def new_reports() -> str:
    """The text of the reports not yet failed on ("" if none). A report file
    that cannot be read is named with the reason instead; never raises."""
    if not _DIR:
        return ""
    out = []
    for p in sorted(pathlib.Path(_DIR).iterdir()):
        if p.name in _seen_files:
            continue
        _seen_files.add(p.name)
        try:
            text = p.read_text(errors="replace")
        except OSError as e:
            text = f"(unreadable: {e})"
        out.append(f"--- {p} ---\n{text}")
    for d in Daemon.made:
        # a daemon still running is read once it has stopped (a later check)
        if id(d) in _seen_daemons or d.proc is None or d.proc.poll() is None:
            continue
        _seen_daemons.add(id(d))
        try:
            log = d.log()
        except OSError as e:
            out.append(f"--- {d.log_path} --- (unreadable: {e})")
            continue
        if _MARKERS.search(log):
            out.append(f"--- {d.log_path} (exit {d.proc.returncode}) ---\n{log[-20000:]}")
    return "\n".join(out)


def _check(when: str) -> None:
    text = new_reports()
    if text:
        pytest.fail(f"sanitizer report(s) {when}:\n{text}", pytrace=False)


@pytest.fixture(autouse=True, scope="module")
def sanitizer_reports_module() -> Iterator[None]:
    _check("before this module (from an earlier one)")
    yield
    _check("when this module's daemons stopped")


@pytest.fixture(autouse=True)
def sanitizer_reports_test(sanitizer_reports_module) -> Iterator[None]:
    yield
    _check("during this test")
