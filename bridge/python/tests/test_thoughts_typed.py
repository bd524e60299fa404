"""Thoughts: typed events per topic, Gap/Restart events, wait_final, stream helpers (fakes)."""
from __future__ import annotations

import asyncio

import pytest

import aiki_bridge as ab
from conftest import err, ok


def body(seq, boot="b1", **kw):
    return {"v": 1, "boot_id": boot, "seq": seq, "ts": 1700000000000 + seq, **kw}


def test_event_from_each_topic():
    f = ab.event_from("thought.final", body(3, percept_id="p1", kind="response", text="hi",
                                            source="template:greeting.en", memories=[4, 5],
                                            timings_ms={"embed": 1.5, "total": 2.0}, user="u",
                                            extra="kept"))
    assert isinstance(f, ab.FinalThought)
    assert (f.topic, f.boot_id, f.seq, f.ts) == ("thought.final", "b1", 3, 1700000000003)
    assert (f.percept_id, f.request_id, f.kind, f.text, f.user) == ("p1", None, "response", "hi",
                                                                     "u")
    assert f.memories == [4, 5] and f.timings_ms == {"embed": 1.5, "total": 2.0}
    assert f.template == "greeting.en" and not f.failed and f.body["extra"] == "kept"
    assert f.correlation_id == "p1"
    e = ab.event_from("thought.final", body(4, percept_id="p2", source="error", text="",
                                            error={"code": "internal", "message": "x"}))
    assert e.failed and e.template is None and e.error["code"] == "internal"

    t = ab.event_from("thought.token", body(0, request_id="r1", index=2, text="lo"))
    assert isinstance(t, ab.TokenThought)
    assert (t.request_id, t.percept_id, t.index, t.text, t.correlation_id) == (
        "r1", None, 2, "lo", "r1")

    p = ab.event_from("percept", body(1, percept_id="p9", user="al", source="chat"))
    assert isinstance(p, ab.PerceptEvent) and (p.percept_id, p.user, p.source) == ("p9", "al",
                                                                                   "chat")
    m = ab.event_from("memory.event", body(1, event="ADD", memory_id=7, user="al", text="tea"))
    assert isinstance(m, ab.MemoryEvent) and (m.event, m.memory_id, m.text) == ("ADD", 7, "tea")
    s = ab.event_from("status", body(1, status="degraded", actor="inference", message="no model"))
    assert isinstance(s, ab.StatusEvent)
    assert (s.status, s.actor, s.message) == ("degraded", "inference", "no model")
    o = ab.event_from("something.new", body(1, x=1))
    assert isinstance(o, ab.OtherEvent) and o.body["x"] == 1 and o.seq == 1


def test_event_from_ill_typed_fields_become_none():
    f = ab.event_from("thought.final", {"seq": "7", "boot_id": 3, "memories": [1, "x", True],
                                        "timings_ms": [1], "text": None, "error": "boom"})
    assert (f.seq, f.boot_id, f.text, f.timings_ms, f.error) == (None, None, "", {}, None)
    assert f.memories == [1]


def warm(pub, sub):
    pub.warm_up(sub)
    while sub.recv(timeout=0.05) is not None:
        pass


def test_thoughts_yield_gap_and_restart_events_in_order(publisher):
    seen_gaps, seen_restarts = [], []
    with ab.Thoughts(publisher.endpoint, ["thought.", "warmup"],
                     on_gap=lambda ev, n: seen_gaps.append((ev.seq, n)),
                     on_restart=lambda ev, old: seen_restarts.append(old)) as sub:
        warm(publisher, sub)
        publisher.publish("thought.final", body(1, percept_id="a"))
        publisher.publish("thought.final", body(4, percept_id="b"))       # 2, 3 lost
        publisher.publish("thought.token", body(0, boot="b2", text="x"))  # restart
        publisher.publish("thought.final", body(0, boot="b2", percept_id="c"))
        got = [sub.recv(timeout=2) for _ in range(6)]
        assert sub.recv(timeout=0.05) is None
    kinds = [type(g).__name__ for g in got]
    assert kinds == ["FinalThought", "Gap", "FinalThought", "Restart", "TokenThought",
                     "FinalThought"]
    gap, restart = got[1], got[3]
    assert (gap.topic, gap.missed, gap.seq, gap.boot_id) == ("thought.final", 2, 4, "b1")
    assert (restart.boot_id, restart.previous_boot_id) == ("b2", "b1")
    assert seen_gaps == [(4, 2)] and seen_restarts == ["b1"]
    assert sub.tracker.missed == 2 and sub.tracker.restarts == 1


def test_wait_final_keeps_other_events(publisher):
    with ab.Thoughts(publisher.endpoint, ["thought.", "warmup"]) as sub:
        warm(publisher, sub)
        publisher.publish("thought.token", body(0, percept_id="x", text="a"))
        publisher.publish("thought.final", body(0, percept_id="x", text="other"))
        publisher.publish("thought.final", body(1, percept_id="me", text="mine"))
        f = sub.wait_final("me", timeout=2)
        assert isinstance(f, ab.FinalThought) and f.text == "mine"
        rest = [sub.recv(timeout=1), sub.recv(timeout=1)]
        assert [(type(r).__name__, r.percept_id) for r in rest] == [("TokenThought", "x"),
                                                                    ("FinalThought", "x")]
        assert sub.wait_final("never", timeout=0.1) is None


def test_async_thoughts_typed(publisher):
    async def main():
        async with ab.AsyncThoughts(publisher.endpoint, ["thought.", "warmup"]) as sub:
            for _ in range(100):
                publisher.publish("warmup", {"v": 1})
                if await sub.recv(timeout=0.05) is not None:
                    break
            while await sub.recv(timeout=0.05) is not None:
                pass
            publisher.publish("thought.final", body(1, percept_id="a"))
            publisher.publish("thought.final", body(3, percept_id="b"))
            publisher.publish("thought.final", body(4, percept_id="c"))
            first = await sub.__anext__()
            f = await sub.wait_final("c", timeout=2)
            gap = await sub.recv(timeout=1)
            b = await sub.recv(timeout=1)
            return first, f, gap, b
    first, f, gap, b = asyncio.run(main())
    assert first.percept_id == "a" and f.percept_id == "c"
    assert isinstance(gap, ab.Gap) and gap.missed == 1 and b.percept_id == "b"


# -- stream helpers against a fake daemon that publishes the pieces ----------

def streaming_daemon(daemon_factory, publisher, pieces, reply_text=None, boot="b1"):
    """A fake that answers generate by publishing ``pieces`` then replying."""
    seq = [0]

    def handler(req):
        if req["op"] == "generate":
            assert req["stream"] is True
            for i, p in enumerate(pieces):
                publisher.publish("thought.token", body(seq[0], boot=boot, request_id=req["id"],
                                                        index=i, text=p))
                seq[0] += 1
            text = "".join(pieces) if reply_text is None else reply_text
            return [ok(req, text=text, tokens=list(range(len(pieces))),
                       timings={"first_token_ms": 1.0, "total_ms": 2.0},
                       finish_reason="stop", seed=7)]
        if req["op"] == "cancel":
            return [ok(req, cancelled=True)]
        if req["op"] == "perceive":
            pid = "p-" + req["text"]
            publisher.publish("thought.token", body(100, percept_id="someone-else", text="zz"))
            for i, p in enumerate(pieces):
                publisher.publish("thought.token", body(seq[0], percept_id=pid, index=i, text=p))
                seq[0] += 1
            publisher.publish("thought.final", body(0, percept_id=pid, kind="response",
                                                    text="".join(pieces), source="llm",
                                                    timings_ms={"total": 3.0}))
            return [ok(req, percept_id=pid)]
        return [err(req, "unknown_op", req["op"])]
    return daemon_factory(handler)


def test_generate_stream_pieces_then_result(daemon_factory, publisher):
    d = streaming_daemon(daemon_factory, publisher, ["Hel", "lo", " wörld"])
    with ab.Thoughts(publisher.endpoint, ["thought.", "warmup"]) as sub, \
            ab.Client(d.endpoint, timeout=3) as c:
        warm(publisher, sub)
        out = list(c.generate_stream(sub, prompt="hi", max_tokens=8, temperature=0.0,
                                     request_id="rq1"))
    pieces, result = out[:-1], out[-1]
    assert [p.text for p in pieces] == ["Hel", "lo", " wörld"]
    assert all(isinstance(p, ab.TokenThought) and p.request_id == "rq1" for p in pieces)
    assert isinstance(result, ab.GenerateResult) and result.complete
    assert (result.text, result.finish_reason, result.seed, result.request_id) == (
        "Hello wörld", "stop", 7, "rq1")
    sent = [r for r in d.requests if r["op"] == "generate"][0]
    assert (sent["prompt"], sent["max_tokens"], sent["temperature"], sent["id"]) == (
        "hi", 8, 0.0, "rq1")


def test_generate_stream_incomplete_pieces_end_after_drain(daemon_factory, publisher):
    d = streaming_daemon(daemon_factory, publisher, ["a"], reply_text="ab")
    with ab.Thoughts(publisher.endpoint, ["thought.", "warmup"]) as sub, \
            ab.Client(d.endpoint, timeout=3) as c:
        warm(publisher, sub)
        out = list(c.generate_stream(sub, prompt="x", drain=0.1))
    assert out[-1].text == "ab" and out[-1].streamed == "a" and not out[-1].complete


def test_generate_stream_error_raised(daemon_factory, publisher):
    d = daemon_factory(lambda req: [err(req, "unavailable", "no model loaded")])
    with ab.Thoughts(publisher.endpoint, ["thought."]) as sub, \
            ab.Client(d.endpoint, timeout=3) as c:
        with pytest.raises(ab.Unavailable):
            list(c.generate_stream(sub, prompt="x"))
        with pytest.raises(ValueError):
            list(c.generate_stream(sub))


def test_generate_stream_closed_early_cancels(daemon_factory, publisher):
    def handler(req):
        if req["op"] == "generate":
            publisher.publish("thought.token", body(0, request_id=req["id"], index=0, text="a"))
            return [0.5, ok(req, text="ab", tokens=[1, 2], timings={})]
        return [ok(req, cancelled=True)]
    d = daemon_factory(handler)
    with ab.Thoughts(publisher.endpoint, ["thought.", "warmup"]) as sub, \
            ab.Client(d.endpoint, timeout=3) as c:
        warm(publisher, sub)
        gen = c.generate_stream(sub, prompt="x", request_id="long")
        assert next(gen).text == "a"
        gen.close()
    cancels = [r for r in d.requests if r["op"] == "cancel"]
    assert [r["target"] for r in cancels] == ["long"]


def test_perceive_stream_filters_by_percept_id(daemon_factory, publisher):
    d = streaming_daemon(daemon_factory, publisher, ["It ", "is"])
    with ab.Thoughts(publisher.endpoint, ["thought.", "warmup"]) as sub, \
            ab.Client(d.endpoint, timeout=3) as c:
        warm(publisher, sub)
        out = list(c.perceive_stream(sub, "q", user="u"))
        other = sub.recv(timeout=1)
    assert [type(o).__name__ for o in out] == ["TokenThought", "TokenThought", "FinalThought"]
    assert out[-1].percept_id == "p-q" and out[-1].text == "It is"
    assert isinstance(other, ab.TokenThought) and other.percept_id == "someone-else"


def test_perceive_stream_duplicate_yields_nothing(daemon_factory, publisher):
    d = daemon_factory(lambda req: [ok(req, percept_id="p1", duplicate=True)])
    with ab.Thoughts(publisher.endpoint, ["thought."]) as sub, \
            ab.Client(d.endpoint, timeout=3) as c:
        assert list(c.perceive_stream(sub, "again")) == []


def test_perceive_stream_times_out(daemon_factory, publisher):
    d = daemon_factory(lambda req: [ok(req, percept_id="p1")])
    with ab.Thoughts(publisher.endpoint, ["thought."]) as sub, \
            ab.Client(d.endpoint, timeout=3) as c:
        with pytest.raises(ab.RequestTimeout):
            list(c.perceive_stream(sub, "x", wait=0.2))


def test_async_streams(daemon_factory, publisher):
    d = streaming_daemon(daemon_factory, publisher, ["a", "b"])

    async def main():
        async with ab.AsyncThoughts(publisher.endpoint, ["thought.", "warmup"]) as sub, \
                ab.AsyncClient(d.endpoint, timeout=3) as c:
            for _ in range(100):
                publisher.publish("warmup", {"v": 1})
                if await sub.recv(timeout=0.05) is not None:
                    break
            while await sub.recv(timeout=0.05) is not None:
                pass
            gen = [x async for x in c.generate_stream(sub, prompt="p")]
            per = [x async for x in c.perceive_stream(sub, "q")]
            return gen, per
    gen, per = asyncio.run(main())
    assert [g.text for g in gen] == ["a", "b", "ab"] and isinstance(gen[-1], ab.GenerateResult)
    assert gen[-1].complete
    assert isinstance(per[-1], ab.FinalThought) and per[-1].text == "ab"
    assert [p.text for p in per[:-1]] == ["a", "b"]


def test_client_clone_is_independent(echo_daemon):
    with ab.Client(echo_daemon.endpoint, timeout=3) as c:
        k = c.clone()
        try:
            assert k.endpoint == c.endpoint and k.ping()["ok"] and c.ping()["ok"]
        finally:
            k.close()
        assert c.ping()["ok"]  # the original (and its context) still work


def test_generate_sampling_fields_sent(echo_daemon):
    with ab.Client(echo_daemon.endpoint, timeout=3) as c:
        sent = c.generate(prompt="x", temperature=0.5, top_k=4, top_p=0.9, min_p=0.1,
                          repeat_penalty=1.1, frequency_penalty=0.2, presence_penalty=0.3,
                          penalty_last_n=16, seed=9, stop=("a", "b"), deadline_ms=500)["echo"]
    assert {k: sent[k] for k in ("temperature", "top_k", "top_p", "min_p", "repeat_penalty",
                                 "frequency_penalty", "presence_penalty", "penalty_last_n",
                                 "seed", "stop", "deadline_ms")} == {
        "temperature": 0.5, "top_k": 4, "top_p": 0.9, "min_p": 0.1, "repeat_penalty": 1.1,
        "frequency_penalty": 0.2, "presence_penalty": 0.3, "penalty_last_n": 16, "seed": 9,
        "stop": ["a", "b"], "deadline_ms": 500}
    assert "schema" not in sent and "stream" not in sent  # None fields are left out
