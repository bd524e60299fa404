"""Reminders said in words, judged against a real daemon with its clock fixed
(admin `debug clock`): each line of a set (shape of
../shared/eval/reminders-dev.jsonl) is said by a user of its own at `base`;
the reminder made must be due at the expected local minute; then the clock
moves forward through the due times, and each reminder must stay silent a
minute before its time and fire at it, once, in the language it was asked
in, containing the words the line names. Used by tests/python/test_reminders.py
and bench/synthesis/run_reminders.py (which prints the table)."""
from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass, field
from typing import List, Optional
from zoneinfo import ZoneInfo

from aiki_bridge import Client, Subscriber
from harness import wait_final

WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def load(path) -> List[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def expected_due(due: dict, base: dt.datetime, said_at_ms: int) -> int:
    """The unix ms a line's `due` names, from `base` (aware, the user's zone)."""
    if "minutes_from_now" in due:
        return said_at_ms + due["minutes_from_now"] * 60_000
    if "day_offset" in due:
        day = base.date() + dt.timedelta(days=due["day_offset"])
    else:
        want = WEEKDAYS.index(due["weekday"])
        ahead = (want - base.weekday()) % 7
        day = base.date() + dt.timedelta(days=ahead)
        if ahead == 0 and (due["hour"], due["minute"]) <= (base.hour, base.minute):
            day += dt.timedelta(days=7)
    local = dt.datetime(day.year, day.month, day.day, due["hour"], due["minute"], tzinfo=base.tzinfo)
    return int(local.timestamp() * 1000)


@dataclass
class outcome:
    line: dict
    user: str
    ack: str = ""
    due_ms: Optional[int] = None
    want_ms: Optional[int] = None
    early: bool = False       # fired a minute before its time
    fired: str = ""           # the reminder's text ("" = did not fire)
    fired_kind: str = ""
    fired_user: str = ""
    errors: List[str] = field(default_factory=list)

    @property
    def due_ok(self) -> bool:
        if self.due_ms is None or self.want_ms is None:
            return False
        slack = 120_000 if "minutes_from_now" in self.line["due"] else 0
        return abs(self.due_ms - self.want_ms) <= slack

    @property
    def words_ok(self) -> bool:
        return all(w.lower() in self.fired.lower() for w in self.line.get("reminder_has", []))

    @property
    def ok(self) -> bool:
        return self.due_ok and not self.early and bool(self.fired) and self.words_ok and \
            self.fired_kind == "reminder" and self.fired_user == self.user and not self.errors


def _reminders_of(sub: Subscriber, user: str, seconds: float):
    out, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        t = sub.recv(timeout=0.1)
        if t is not None and t.kind == "reminder" and t.body.get("user") == user:
            out.append(t)
    return out


def run(d, lines: List[dict], base: dt.datetime, prefix: str = "ev") -> List[outcome]:
    """Says every line at `base` (the daemon needs daemon.debug=true and
    synthesis.timezone = base's zone), then moves the clock through the due
    times. Returns one outcome per line."""
    base_ms = int(base.timestamp() * 1000)
    results: List[outcome] = []
    with Subscriber(d.thoughts, topics=["thought.final"]) as sub, Client(d.requests, timeout=60) as c:
        time.sleep(0.3)
        assert d.admin_cmd(f"debug clock {base_ms}")["ok"]
        for i, line in enumerate(lines):
            o = outcome(line, f"{prefix}{i}")
            said_at = base_ms
            r = c.request("perceive", text=line["said"], user=o.user)
            f = wait_final(sub, r["percept_id"], timeout=60)
            if f is None:
                o.errors.append("no acknowledgement")
            else:
                o.ack = f.text
                if f.source != "reminder":
                    o.errors.append(f"answered by {f.source}, not as a reminder")
            rs = c.request("reminder.list", user=o.user)["reminders"]
            if len(rs) != 1:
                o.errors.append(f"{len(rs)} reminders made")
            if rs:
                o.due_ms = rs[0]["due"]
            o.want_ms = expected_due(line["due"], base, said_at)
            results.append(o)
        # the clock runs forward through the due times, each checked a minute before and at its time
        seen = {}  # user -> reminder thoughts, as they arrive

        def pump(seconds, until=lambda: False):
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline and not until():
                t = sub.recv(timeout=0.1)
                if t is not None and t.kind == "reminder":
                    seen.setdefault(t.body.get("user", ""), []).append(t)
        # reminders due in the same minute are one step: a minute before the
        # first of them none may fire, at the last of them all must
        minutes = sorted({o.due_ms // 60_000 for o in results if o.due_ms})
        for minute in minutes:
            group = [o for o in results if o.due_ms and o.due_ms // 60_000 == minute]
            first, last = min(o.due_ms for o in group), max(o.due_ms for o in group)
            assert d.admin_cmd(f"debug clock {first - 60_000}")["ok"]
            pump(0.4)
            for o in group:
                o.early = bool(seen.get(o.user))
            assert d.admin_cmd(f"debug clock {last + 1_000}")["ok"]
            pump(3.0, lambda: all(seen.get(o.user) for o in group))
        pump(0.5)  # a second firing would show here
        for o in results:
            got = seen.get(o.user, [])
            if got:
                o.fired, o.fired_kind, o.fired_user = got[0].text, got[0].kind, got[0].body.get("user", "")
            if len(got) > 1:
                o.errors.append(f"fired {len(got)} times")
    return results


def table(results: List[outcome], tz: str) -> str:
    rows = ["| lang | said | due wanted | due made | early | fired | words | ok |", "|---|---|---|---|---|---|---|---|"]
    z = ZoneInfo(tz)

    def local(ms):
        return dt.datetime.fromtimestamp(ms / 1000, z).strftime("%a %d %b %H:%M") if ms else "—"
    for o in results:
        rows.append(f"| {o.line['lang']} | {o.line['said']} | {local(o.want_ms)} | {local(o.due_ms)} | "
                    f"{'yes' if o.early else 'no'} | {o.fired or '—'} | {'yes' if o.words_ok else 'no'} | "
                    f"{'**yes**' if o.ok else 'no: ' + '; '.join(o.errors or ['see row'])} |")
    n = sum(o.ok for o in results)
    rows.append(f"\n{n} of {len(results)} reminders made for the right minute and fired at it, in their language.")
    return "\n".join(rows)
