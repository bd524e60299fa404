"""Subscriber: typed thoughts, topic prefixes, seq gaps, restarts, bad frames."""
from __future__ import annotations

import asyncio

import aiki_bridge as ab
from aiki_bridge.subscriber import SeqTracker


def body(seq, boot="b1", **kw):
    return {"v": 1, "boot_id": boot, "seq": seq, **kw}


def test_tracker_gaps_per_topic_and_restarts():
    t = SeqTracker()
    assert t.observe("thought.final", body(5)) == (0, False, None)  # first: not judged
    assert t.observe("thought.final", body(6)) == (0, False, None)
    assert t.observe("thought.token", body(100)) == (0, False, None)  # other topic
    assert t.observe("thought.final", body(9)) == (2, False, None)   # 7, 8 lost
    assert t.observe("thought.token", body(101)) == (0, False, None)
    assert t.observe("thought.final", body(1, boot="b2")) == (0, True, "b1")  # restart
    assert t.observe("thought.token", body(0, boot="b2")) == (0, False, None)
    assert t.observe("thought.final", body(3, boot="b2")) == (1, False, None)
    assert (t.missed, t.gaps, t.restarts) == (3, 2, 1)
    assert t.observe("status", {"v": 1, "boot_id": "b2"}) == (0, False, None)  # no seq
    assert t.observe("thought.final", body(3, boot="b2")) == (0, False, None)  # repeat


def test_thought_typed_attributes():
    th = ab.Thought("thought.final", body(4, ts=1700000000000, percept_id="p1", kind="response",
                                          text="hi", source="template:greet", memories=[3, 4],
                                          timings_ms={"total": 1.5}))
    assert th.is_final and not th.is_token
    assert (th.v, th.boot_id, th.seq, th.ts) == (1, "b1", 4, 1700000000000)
    assert (th.percept_id, th.kind, th.text, th.source) == ("p1", "response", "hi",
                                                            "template:greet")
    assert th.memories == [3, 4] and th.timings_ms == {"total": 1.5}
    assert th.correlation_id == "p1" and th.request_id is None
    assert th.to_dict()["topic"] == "thought.final"
    tok = ab.Thought("thought.token", body(1, request_id="r1", index=0, text="He"))
    assert tok.is_token and tok.index == 0 and tok.correlation_id == "r1"


def test_pubsub_gap_and_restart_reported(publisher):
    gaps, restarts = [], []
    with ab.Subscriber(publisher.endpoint, ["thought.final", "warmup"],
                       on_gap=lambda t, n: gaps.append((t.seq, n)),
                       on_restart=lambda t, old: restarts.append((old, t.boot_id))) as sub:
        publisher.warm_up(sub)
        for s in (1, 2, 5):
            publisher.publish("thought.final", body(s, percept_id=f"p{s}", text="x"))
        publisher.publish("thought.final", body(0, boot="b2", percept_id="q"))
        got = [sub.recv(timeout=2) for _ in range(4)]
    assert [t.seq for t in got] == [1, 2, 5, 0]
    assert [t.gap for t in got] == [0, 0, 2, 0]
    assert [t.restart for t in got] == [False, False, False, True]
    assert got[3].previous_boot_id == "b1"
    assert gaps == [(5, 2)] and restarts == [("b1", "b2")]
    assert sub.tracker.missed == 2


def test_topic_prefix_filtering_and_unsubscribe(publisher):
    with ab.Subscriber(publisher.endpoint, ["thought.", "warmup"]) as sub:
        publisher.warm_up(sub)
        publisher.publish("memory.event", body(1))
        publisher.publish("thought.token", body(1, text="a"))
        publisher.publish("thought.final", body(1, text="ab"))
        got = [sub.recv(timeout=2) for _ in range(2)]
        assert [t.topic for t in got] == ["thought.token", "thought.final"]
        assert sub.recv(timeout=0.1) is None
        sub.unsubscribe("thought.")
        assert sub.topics == ["warmup"]


def test_malformed_messages_skipped(publisher):
    with ab.Subscriber(publisher.endpoint) as sub:
        publisher.warm_up(sub)
        publisher.sock.send_multipart([b"thought.final"])                 # one frame
        publisher.sock.send_multipart([b"thought.final", b"{not json"])   # bad JSON
        publisher.sock.send_multipart([b"thought.final", b"[1]"])         # not an object
        publisher.publish("thought.final", body(1, text="good"))
        t = sub.recv(timeout=2)
        assert t.text == "good" and sub.malformed == 3


def test_iteration(publisher):
    with ab.Thoughts(publisher.endpoint, ["status", "warmup"]) as sub:
        publisher.warm_up(sub)
        for s in range(3):
            publisher.publish("status", body(s))
        it = iter(sub)
        assert [next(it).seq for _ in range(3)] == [0, 1, 2]


def test_async_subscriber(publisher):
    async def main():
        async with ab.AsyncSubscriber(publisher.endpoint, ["thought.final", "warmup"]) as sub:
            for _ in range(100):  # slow joiner
                publisher.publish("warmup", {"v": 1})
                if await sub.recv(timeout=0.05) is not None:
                    break
            while await sub.recv(timeout=0.05) is not None:
                pass
            publisher.publish("thought.final", body(1))
            publisher.publish("thought.final", body(4))
            first = await sub.__anext__()
            second = await sub.recv(timeout=2)
            none = await sub.recv(timeout=0.05)
            return first, second, none
    first, second, none = asyncio.run(main())
    assert (first.seq, second.seq, second.gap, none) == (1, 4, 2, None)
