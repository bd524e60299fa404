"""pytest fixtures over harness.Daemon (the real aikid binary). A failed test's
report carries, for each daemon it made or used, the tail of its log and, if it
still runs, its actors' stats (a dead or stuck actor shows there)."""
from __future__ import annotations

import json
from typing import List

import pytest

from harness import Daemon
from sanitizer_reports import sanitizer_reports_module, sanitizer_reports_test  # noqa: F401 (autouse)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: multi-process tests that take minutes (SIGKILL crash rounds, the reminder eval "
        "sets); ./dev.sh runs them in the release stage only (-m 'not slow' under ASan)")


@pytest.fixture
def make_daemon():
    made: List[Daemon] = []

    def make(*sets: str, **kw) -> Daemon:
        d = Daemon(sets, **kw)
        made.append(d)
        return d

    yield make
    for d in made:
        d.stop()


@pytest.fixture(scope="module")
def daemon():
    d = Daemon(["daemon.debug=true"]).start()
    yield d
    d.stop()


def pytest_runtest_setup(item):
    item.aikid_first_daemon = len(Daemon.made)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when != "call" or not rep.failed:
        return
    first = getattr(item, "aikid_first_daemon", 0)
    for i, d in enumerate(Daemon.made):
        running = d.proc is not None and d.proc.poll() is None
        if i < first and not running:
            continue
        try:
            text = d.log()[-6000:]
        except OSError as e:
            text = f"(unreadable: {e})"
        if running:
            try:
                text += "\nstats.actors: " + json.dumps(d.admin_cmd("stats", timeout=5.0).get("actors"))[:6000]
            except (OSError, ValueError) as e:
                text += f"\nstats: no answer ({e})"
        rep.sections.append((f"aikid {d.base}", text))
