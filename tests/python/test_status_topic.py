"""The `status` topic: the whole state at start (before the first request is
answered) and periodically, an actor going down and up as it happens, and
`stopping` at SIGTERM — over a real SUB socket. The tests beat fast (300 ms)
but give each actor 2 s to answer (daemon.heartbeat_timeout_ms), so that an
actor that is merely slow (ASan, two busy cores) is not reported down; their
stalls outlast that."""
import json
import signal
import time

import zmq

ACTORS = {"perception", "memory", "embedder", "synthesis", "inference", "proactive"}


def _sub(d):
    s = zmq.Context.instance().socket(zmq.SUB)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.SUBSCRIBE, b"status")
    s.connect(d.thoughts)
    return s


def _next_status(s, pred, seconds):
    """The first status body within `seconds` for which pred(body) is true."""
    deadline = time.monotonic() + seconds
    seen = []
    while time.monotonic() < deadline:
        if s.poll(200):
            topic, body = s.recv_multipart()
            assert topic == b"status"
            b = json.loads(body)
            seen.append(b)
            if pred(b):
                return b
    raise AssertionError(f"no matching status within {seconds}s; saw {seen[-5:]}")


def test_status_every_interval_actor_down_and_up_and_stopping(make_daemon):
    d = make_daemon("daemon.debug=true", "daemon.status_interval_ms=300", "daemon.heartbeat_ms=300",
                    "daemon.heartbeat_timeout_ms=2000").start()
    s = _sub(d)
    whole = _next_status(s, lambda b: "actors" in b, 30)
    assert whole["v"] == 1 and whole["boot_id"] and whole["seq"] >= 1
    assert whole["status"] in ("ok", "ready")
    assert ACTORS <= set(whole["actors"]), whole["actors"].keys()
    assert all(a["up"] for a in whole["actors"].values())
    assert whole["uptime_s"] > 0 and whole["version"]
    nxt = _next_status(s, lambda b: "actors" in b, 30)
    assert nxt["seq"] > whole["seq"], "the periodic status carries a rising seq"

    # an actor that stops answering is reported down, then up again
    assert d.admin_cmd("debug stall memory 4000")["ok"]
    down = _next_status(s, lambda b: b.get("actor") == "memory", 30)
    assert down["status"] == "down" and down["message"]
    up = _next_status(s, lambda b: b.get("actor") == "memory", 30)
    assert up["status"] == "up"
    assert up["seq"] > down["seq"]

    d.proc.send_signal(signal.SIGTERM)
    stopping = _next_status(s, lambda b: b["status"] == "stopping", 30)
    assert "stopping" in stopping["message"]
    assert d.proc.wait(30) == 0
    s.close()


def test_status_interval_zero_sends_only_changes(make_daemon):
    d = make_daemon("daemon.debug=true", "daemon.status_interval_ms=0", "daemon.heartbeat_ms=300",
                    "daemon.heartbeat_timeout_ms=2000").start()
    s = _sub(d)
    # no periodic state, and the start status went out before our first
    # answer: nothing arrives while every actor stays up
    assert not s.poll(1500)
    # an actor slower than a beat but within the heartbeat timeout is not down
    assert d.admin_cmd("debug stall synthesis 700")["ok"]
    assert not s.poll(2000), "an actor that answered within daemon.heartbeat_timeout_ms was reported down"
    assert d.admin_cmd("debug stall synthesis 4000")["ok"]
    down = _next_status(s, lambda b: b.get("actor") == "synthesis", 30)
    assert down["status"] == "down"
    up = _next_status(s, lambda b: b.get("actor") == "synthesis", 30)
    assert up["status"] == "up"
    s.close()


def test_the_start_status_goes_out_before_the_first_request_is_answered(make_daemon):
    d = make_daemon("daemon.status_interval_ms=0")
    # Both sockets connect before the daemon binds (ZeroMQ connects once it can).
    s = _sub(d)
    c = zmq.Context.instance().socket(zmq.DEALER)
    c.setsockopt(zmq.LINGER, 0)
    c.setsockopt(zmq.RECONNECT_IVL, 1)
    c.connect(d.requests)
    # Work waiting at the door: an embed request (8 texts cut at the model's
    # limit, ~1 s in a release build) keeps the embedder busy once ingress
    # admits it. Were the start status taken after ingress starts (the flaw
    # this test is for), its health ask could wait behind it while ingress
    # answers our ping at once.
    c.send_multipart([b"", json.dumps({"v": 1, "op": "embed", "id": "e", "texts": ["word " * 300] * 8}).encode()])
    d.start(wait=False)
    answered_ms, deadline = None, time.monotonic() + 180
    while answered_ms is None and time.monotonic() < deadline:
        assert d.proc.poll() is None, d.log()
        c.send_multipart([b"", json.dumps({"v": 1, "op": "ping", "id": "p"}).encode()])
        while answered_ms is None and c.poll(5):
            r = json.loads(c.recv_multipart()[-1])
            if r.get("id") == "p":
                answered_ms = time.time() * 1000
                assert r["ok"], r
    assert answered_ms is not None, d.log()
    start = _next_status(s, lambda b: "actors" in b, 30)
    assert start["status"] in ("ready", "degraded") and start["seq"] == 1
    assert start["ts"] <= answered_ms, f"the start status went out {start['ts'] - answered_ms:.0f} ms after a request was answered"
    c.close()
    s.close()
