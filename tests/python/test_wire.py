"""The real daemon over real sockets: every protocol error code from a real
bad request, with good requests served in between; a percept becomes a
thought; busy under a burst past the admission limit."""
from __future__ import annotations

import json
import time

import zmq

from aiki_bridge import Client, Subscriber
from harness import wait_final


def test_ping_reports_version_and_boot_id(daemon):
    r = daemon.request({"op": "ping", "id": "p"})
    assert r["ok"] is True and r["pong"] is True and r["id"] == "p"
    assert r["version"] and len(r["boot_id"]) == 32


def test_each_error_code_from_a_real_bad_request(daemon):
    cases = [
        (b"{not json", "bad_json"),
        (b"[1, 2, 3]", "bad_json"),
        ('{"v":1,"op":"perceive","text":"caf\xe9"}'.encode("latin-1"), "bad_json"),  # invalid UTF-8
        (b'{"v":1,"op":"teleport","id":"u"}', "unknown_op"),
        (b'{"v":1,"op":"perceive","id":"m"}', "bad_request"),          # missing text
        (b'{"v":1,"op":"perceive","id":"w","text":42}', "bad_request"),  # wrong type
        (b'{"v":2,"op":"ping"}', "bad_request"),
        (b'{"v":1,"op":"memory.get","memory_id":"seven"}', "bad_request"),
        (json.dumps({"v": 1, "op": "perceive", "text": "x" * (2 << 20)}).encode(), "too_large"),
    ]
    for frame, code in cases:
        r = daemon.send_raw(frame)
        assert r["ok"] is False, frame[:60]
        assert r["error"]["code"] == code, (frame[:60], r)
        assert r["error"]["message"]
        # The daemon keeps serving good requests in between.
        assert daemon.request({"op": "ping"})["ok"] is True


def test_more_than_one_payload_frame_is_bad_json_and_the_socket_serves_on(daemon):
    s = daemon.dealer()
    try:
        s.send_multipart([b"", b'{"v":1,"op":"ping","id":"a"}', b'{"v":1,"op":"ping","id":"b"}'])
        assert s.poll(5000)
        r = json.loads(s.recv_multipart()[-1])
        assert r["ok"] is False and r["error"] == {"code": "bad_json", "message": "expected one JSON frame per request, got 2"}
        s.send_multipart([b"", b'{"v":1,"op":"ping","id":"c"}'])
        assert s.poll(5000)
        r = json.loads(s.recv_multipart()[-1])
        assert r["ok"] is True and r["id"] == "c"
    finally:
        s.close()


def test_bad_request_names_the_field(daemon):
    r = daemon.request({"op": "perceive", "text": 42})
    assert r["error"]["message"] == "text: must be a string"
    r = daemon.request({"op": "perceive"})
    assert r["error"]["message"] == "text: missing"


def test_the_reply_keeps_the_client_id_and_both_framings_work(daemon):
    s = zmq.Context.instance().socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(daemon.requests)
    s.send(b'{"v":1,"op":"ping","id":"no-delimiter"}')  # DEALER without the empty frame
    assert s.poll(5000)
    frames = s.recv_multipart()
    assert len(frames) == 1 and json.loads(frames[0])["id"] == "no-delimiter"
    s.close()
    req = zmq.Context.instance().socket(zmq.REQ)
    req.setsockopt(zmq.LINGER, 0)
    req.connect(daemon.requests)
    req.send(b'{"v":1,"op":"ping","id":"req"}')
    assert req.poll(5000)
    assert json.loads(req.recv())["id"] == "req"
    req.close()


def test_a_percept_round_trips_to_a_thought(daemon):
    with Subscriber(daemon.thoughts, topics=["thought.final"]) as sub, Client(daemon.requests, timeout=30) as c:
        time.sleep(0.3)  # ZeroMQ slow joiner: let the SUB connect before publishing
        r = c.perceive("Hello there!", user="ola")
        got = wait_final(sub, r["percept_id"])
        assert got is not None, "no thought.final for the percept"
        b = got.body
        assert b["v"] == 1 and b["seq"] >= 1 and len(b["boot_id"]) == 32
        assert b["kind"] == "response"
        assert b["source"].startswith("template:") or b["source"] == "llm"
        assert b["text"]
        for stage in ("perceive", "embed", "recall", "compose", "total"):
            assert stage in b["timings_ms"], b["timings_ms"]
        assert b["request_id"] == r["id"]


def test_a_repeated_percept_within_the_window_is_dropped(daemon):
    a = daemon.request({"op": "perceive", "text": "the  same   words", "user": "dup"})
    b = daemon.request({"op": "perceive", "text": "the same words", "user": "dup"})
    assert b["ok"] and b.get("duplicate") is True and b["percept_id"] == a["percept_id"]


def test_busy_past_the_admission_limit_and_recovery(make_daemon):
    d = make_daemon("daemon.debug=true", "ipc.max_inflight_memory=2").start()
    # Stall the memory actor: its requests stay in flight.
    assert d.admin_cmd("debug stall memory 1500")["ok"]
    socks = [d.dealer() for _ in range(4)]
    for i, s in enumerate(socks):
        s.send_multipart([b"", json.dumps({"v": 1, "op": "memory.get", "id": f"b{i}", "memory_id": 1}).encode()])
        time.sleep(0.05)
    codes = []
    for s in socks:
        assert s.poll(10000)
        codes.append(json.loads(s.recv_multipart()[-1]).get("error", {}).get("code"))
        s.close()
    assert codes.count("busy") == 2, codes
    assert all(c != "busy" for c in codes[:2]), codes
    # Recovered: the class admits again.
    r = d.request({"op": "memory.get", "memory_id": 1})
    assert r.get("error", {}).get("code") != "busy"


def test_without_models_the_daemon_starts_and_says_why(make_daemon):
    d = make_daemon("inference.model=/nonexistent/model.gguf", "embedding.model=/nonexistent/minilm").start()
    assert d.request({"op": "ping"})["ok"]
    h = d.admin_cmd("health")
    assert h["status"] == "degraded"
    assert h["actors"]["inference"]["up"] is False and "/nonexistent/model.gguf" in h["actors"]["inference"]["reason"]
    assert h["actors"]["embedder"]["up"] is False and h["actors"]["embedder"]["reason"]
    g = d.request({"op": "generate", "prompt": "hi"})
    assert g["error"]["code"] == "unavailable" and "no model loaded" in g["error"]["message"]
    e = d.request({"op": "embed", "texts": ["hi"]})
    assert e["error"]["code"] == "unavailable"
    # Text-only memory needs the embedder; a client vector does not.
    m = d.request({"op": "memory.add", "text": "I like tea", "user": "u"})
    assert m["error"]["code"] == "unavailable" and "vector" in m["error"]["message"]
    v = [0.0] * 384
    v[0] = 1.0
    assert d.request({"op": "memory.add", "text": "I like tea", "user": "u", "vector": v})["ok"]
    # A percept still gets exactly one final thought, saying why it has no answer.
    with Subscriber(d.thoughts, topics=["thought.final"]) as sub:
        time.sleep(0.3)
        pid = d.request({"op": "perceive", "text": "tell me something", "user": "u"})["percept_id"]
        got = wait_final(sub, pid, timeout=30)
        assert got is not None
        assert got.body["error"]["code"] == "unavailable"
