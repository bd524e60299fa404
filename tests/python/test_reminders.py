"""Reminders said in words, end to end over the real sockets: made only when
asked, acknowledged at once naming the date and time understood, fired once
at the right minute in the language they were asked in (also across a
restart: late), snoozed or done in words or by op, listed, deleted; a user's
own time zone; a repeating reminder keeps its local time. The clock is the
daemon's debug clock (admin `debug clock`)."""
from __future__ import annotations

import datetime as dt
import os
import pathlib
import time
from zoneinfo import ZoneInfo

import pytest

from aiki_bridge import AikidError, Client, Subscriber
from harness import wait_final
import reminders_eval

OSLO = ZoneInfo("Europe/Oslo")
# Wednesday 9 December 2026, 11:17 in Oslo
BASE = dt.datetime(2026, 12, 9, 11, 17, tzinfo=OSLO)
HERE = pathlib.Path(__file__).resolve().parent
DEV_SET = HERE.parent.parent.parent / "shared" / "eval" / "reminders-dev.jsonl"
SETS = ("daemon.debug=true", "proactive.tick_ms=100", "synthesis.learn=false", "synthesis.timezone=Europe/Oslo",
        "memory.remember_sources=")


def ms(d: dt.datetime) -> int:
    return int(d.timestamp() * 1000)


def say(c, sub, text, user):
    r = c.request("perceive", text=text, user=user)
    f = wait_final(sub, r["percept_id"], timeout=60)
    assert f is not None, f"no thought for {text!r}"
    return f


def reminders(sub, user, seconds):
    return reminders_eval._reminders_of(sub, user, seconds)


@pytest.mark.slow  # the eval sets, 30 lines through the clock: release stage only (conftest)
def test_every_reminder_of_the_sets_fires_at_its_minute_in_its_language(make_daemon):
    lines = reminders_eval.load(HERE / "fixtures" / "reminders-more.jsonl")
    if DEV_SET.exists():
        lines = reminders_eval.load(DEV_SET) + lines
    d = make_daemon(*SETS).start()
    results = reminders_eval.run(d, lines, BASE)
    bad = [o for o in results if not o.ok]
    assert not bad, "\n" + reminders_eval.table(bad, "Europe/Oslo")


def test_acknowledgement_names_the_date_and_only_asked_reminders_are_made(make_daemon):
    d = make_daemon(*SETS).start()
    with Subscriber(d.thoughts, topics=["thought.final"]) as sub, Client(d.requests, timeout=60) as c:
        time.sleep(0.3)
        assert d.admin_cmd(f"debug clock {ms(BASE)}")["ok"]
        nb = say(c, sub, "Husk å minne meg på tannlegen på fredag kl. 13:30.", "kari")
        assert nb.kind == "response" and nb.source == "reminder"
        assert "tannlegen" in nb.text and "fredag 11. desember" in nb.text and "13:30" in nb.text, nb.text
        en = say(c, sub, "Remind me to water the plants tomorrow at 18:00.", "ola")
        assert "plants" in en.text and "Thursday 10 December" in en.text and "18:00" in en.text, en.text
        # a time in a sentence that asks for nothing makes no reminder
        for text, user in (("I have a meeting tomorrow at 10.", "ola"), ("Tannlegen er på fredag kl 14.", "kari"),
                           ("Remind me about it.", "ola")):
            f = say(c, sub, text, user)
            assert f.source != "reminder", (text, f.text)
        assert len(c.request("reminder.list", user="kari")["reminders"]) == 1
        assert len(c.request("reminder.list", user="ola")["reminders"]) == 1
        # an explicit past date is refused in a clear sentence, and nothing is made
        past = say(c, sub, "Remind me on 1 January 2020 at 10 to pay the bill.", "per")
        assert past.source == "reminder" and "2020" in past.text, past.text
        assert c.request("reminder.list", user="per")["reminders"] == []
        stats = d.admin_cmd("stats")["actors"]["synthesis"]
        assert stats["reminders_made"] == 2 and stats["reminders_refused"] == 1


def test_a_reminder_missed_while_down_fires_at_start_marked_late_and_once(make_daemon):
    d = make_daemon(*SETS).start()
    with Subscriber(d.thoughts, topics=["thought.final"]) as sub, Client(d.requests, timeout=60) as c:
        time.sleep(0.3)
        assert d.admin_cmd(f"debug clock {ms(BASE)}")["ok"]
        say(c, sub, "Minn meg på å ringe mamma i morgen klokka 10.", "kari")
        due = c.request("reminder.list", user="kari")["reminders"][0]["due"]
        assert due == ms(dt.datetime(2026, 12, 10, 10, 0, tzinfo=OSLO))
    base = d.base
    assert d.stop() == 0
    d2 = make_daemon(*SETS, base=base).start()
    with Subscriber(d2.thoughts, topics=["thought.final"]) as sub, Client(d2.requests, timeout=60) as c:
        time.sleep(0.3)
        assert d2.admin_cmd(f"debug clock {due + 3 * 3600_000}")["ok"]  # three hours late
        got = reminders(sub, "kari", 2.0)
        assert len(got) == 1, [g.body for g in got]
        assert "mamma" in got[0].text and "10:00" in got[0].text, got[0].text  # says when it should have been
        assert reminders(sub, "kari", 1.0) == []
        listed = c.request("reminder.list", user="kari", all=True)["reminders"]
        assert listed[0]["state"] == "fired" and listed[0]["fired"] is not None


def test_snooze_and_done_in_words_and_by_op(make_daemon):
    d = make_daemon(*SETS).start()
    with Subscriber(d.thoughts, topics=["thought.final"]) as sub, Client(d.requests, timeout=60) as c:
        time.sleep(0.3)
        assert d.admin_cmd(f"debug clock {ms(BASE)}")["ok"]
        say(c, sub, "Minn meg på å ta medisinen om en time.", "kari")
        due = c.request("reminder.list", user="kari")["reminders"][0]["due"]
        assert d.admin_cmd(f"debug clock {due + 500}")["ok"]
        assert len(reminders(sub, "kari", 2.0)) == 1
        # "utsett 10 minutter": the reminder that fired comes back ten minutes later
        ack = say(c, sub, "Utsett 10 minutter", "kari")
        assert ack.source == "reminder", ack.text
        assert d.admin_cmd(f"debug clock {due + 500 + 9 * 60_000}")["ok"]
        assert reminders(sub, "kari", 0.5) == []
        assert d.admin_cmd(f"debug clock {due + 500 + 10 * 60_000 + 10_000}")["ok"]
        again = reminders(sub, "kari", 2.0)
        assert len(again) == 1 and "medisinen" in again[0].text
        done = say(c, sub, "Ferdig!", "kari")
        assert done.source == "reminder"
        assert c.request("reminder.list", user="kari", all=True)["reminders"][0]["state"] == "done"
        # English, by op
        say(c, sub, "Remind me in 20 minutes to take the laundry out.", "ola")
        rid = c.request("reminder.list", user="ola")["reminders"][0]["id"]
        sn = c.request("reminder.snooze", user="ola", reminder_id=rid, minutes=30)["reminder"]
        assert sn["state"] == "pending"
        with pytest.raises(AikidError) as e:  # another user's reminder is not found
            c.request("reminder.done", user="kari", reminder_id=rid)
        assert e.value.code == "not_found"
        with pytest.raises(AikidError) as e:
            c.request("reminder.snooze", user="ola", reminder_id=rid)
        assert e.value.code == "bad_request" and "minutes or until" in str(e.value)
        assert c.request("reminder.done", user="ola", reminder_id=rid)["reminder"]["state"] == "done"
        assert c.request("reminder.delete", user="ola", reminder_id=rid)["deleted"] is True
        assert c.request("reminder.list", user="ola", all=True)["reminders"] == []
        nothing = say(c, sub, "done", "nobody")
        assert nothing.source == "reminder"  # says there is nothing to mark


def test_a_users_own_zone_and_a_weekly_reminder_keeps_its_local_time(make_daemon):
    d = make_daemon(*SETS).start()
    with Subscriber(d.thoughts, topics=["thought.final"]) as sub, Client(d.requests, timeout=60) as c:
        time.sleep(0.3)
        assert c.request("user.timezone", user="ann")["timezone"] == "Europe/Oslo"
        with pytest.raises(AikidError) as e:
            c.request("user.timezone", user="ann", timezone="Mars/Olympus")
        assert e.value.code == "bad_request"
        r = c.request("user.timezone", user="ann", timezone="America/New_York")
        assert r["timezone"] == "America/New_York" and r["source"] == "user"
        assert d.admin_cmd(f"debug clock {ms(BASE)}")["ok"]  # 05:17 in New York
        say(c, sub, "Remind me every Monday at 9 to water the garden.", "ann")
        rs = c.request("reminder.list", user="ann")["reminders"]
        ny = ZoneInfo("America/New_York")
        first = ms(dt.datetime(2026, 12, 14, 9, 0, tzinfo=ny))
        assert rs[0]["due"] == first and rs[0]["repeat"]["every"] == "week", rs
        assert d.admin_cmd(f"debug clock {first + 500}")["ok"]
        assert len(reminders(sub, "ann", 2.0)) == 1
        nxt = c.request("reminder.list", user="ann")["reminders"][0]["due"]
        assert nxt == ms(dt.datetime(2026, 12, 21, 9, 0, tzinfo=ny))
    # the zone is kept across a restart
    base = d.base
    assert d.stop() == 0
    d2 = make_daemon(*SETS, base=base).start()
    with Client(d2.requests, timeout=60) as c:
        assert c.request("user.timezone", user="ann")["timezone"] == "America/New_York"
