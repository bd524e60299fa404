"""pytest fixtures over harness.Daemon (the real aikid binary)."""
from __future__ import annotations

from typing import List

import pytest

from harness import Daemon
from sanitizer_reports import sanitizer_reports_module, sanitizer_reports_test  # noqa: F401 (autouse)


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
