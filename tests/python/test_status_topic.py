"""The `status` topic: the whole state periodically, an actor going down and up
as it happens, and `stopping` at SIGTERM — over a real SUB socket."""
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
    d = make_daemon("daemon.debug=true", "daemon.status_interval_ms=300", "daemon.heartbeat_ms=300").start()
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
    assert d.admin_cmd("debug stall memory 2500")["ok"]
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
    d = make_daemon("daemon.debug=true", "daemon.status_interval_ms=0", "daemon.heartbeat_ms=300").start()
    s = _sub(d)
    # no periodic state: nothing arrives while every actor stays up
    assert not s.poll(1500)
    assert d.admin_cmd("debug stall synthesis 1500")["ok"]
    down = _next_status(s, lambda b: b.get("actor") == "synthesis", 30)
    assert down["status"] == "down"
    s.close()
