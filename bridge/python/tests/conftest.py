"""In-process fakes of aikid's sockets for the bridge's unit tests.

FakeDaemon: a ROUTER on loopback TCP, served by a thread, that records each
request (envelope frames and JSON) and answers with what a handler returns.
FakePublisher: a PUB socket the test publishes on, with a warm-up that waits
until a subscriber is connected (ZeroMQ's slow joiner).
"""
from __future__ import annotations

import json
import pathlib
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional

import pytest
import zmq


def ok(req: Dict[str, Any], **fields: Any) -> Dict[str, Any]:
    return {"v": 1, "id": req["id"], "ok": True, **fields}


def err(req: Optional[Dict[str, Any]], code: str, message: str) -> Dict[str, Any]:
    return {"v": 1, "id": req["id"] if req else None, "ok": False,
            "error": {"code": code, "message": message}}


Handler = Callable[[Dict[str, Any]], Any]


class FakeDaemon:
    """Replies are produced by ``handler(request) -> list of replies``: each a
    dict (sent as JSON), bytes (sent raw) or a float (sleep that long first).
    ``delimiter`` None answers with the framing the request used, True/False
    forces ``[id, b"", json]`` / ``[id, json]``."""

    def __init__(self, handler: Handler, delimiter: Optional[bool] = None) -> None:
        self.handler = handler
        self.delimiter = delimiter
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        port = self.sock.bind_to_random_port("tcp://127.0.0.1")
        self.endpoint = f"tcp://127.0.0.1:{port}"
        self.requests: List[Dict[str, Any]] = []
        self.envelopes: List[List[bytes]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            if not self.sock.poll(20):
                continue
            ident, *rest = self.sock.recv_multipart()
            self.envelopes.append(rest[:-1])
            req = json.loads(rest[-1])
            self.requests.append(req)
            use_delim = bool(rest[:-1]) if self.delimiter is None else self.delimiter
            for r in self.handler(req) or []:
                if isinstance(r, float):
                    time.sleep(r)
                    continue
                payload = r if isinstance(r, bytes) else json.dumps(r).encode()
                frames = [ident, b"", payload] if use_delim else [ident, payload]
                self.sock.send_multipart(frames)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close(0)
        self.ctx.term()


class FakePublisher:
    def __init__(self) -> None:
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.PUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        port = self.sock.bind_to_random_port("tcp://127.0.0.1")
        self.endpoint = f"tcp://127.0.0.1:{port}"

    def publish(self, topic: str, body: Any) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.sock.send_multipart([topic.encode(), raw])

    def warm_up(self, sub: Any, topic: str = "warmup") -> None:
        """Publish ``topic`` until ``sub`` (subscribed to it) gets one; drain the rest."""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            self.publish(topic, {"v": 1})
            t = sub.recv(timeout=0.05)
            if t is not None and t.topic == topic:
                while sub.recv(timeout=0.05) is not None:
                    pass
                return
        raise AssertionError("subscriber never connected")

    def close(self) -> None:
        self.sock.close(0)
        self.ctx.term()


@pytest.fixture
def daemon_factory():
    made: List[FakeDaemon] = []

    def make(handler: Handler, delimiter: Optional[bool] = None) -> FakeDaemon:
        d = FakeDaemon(handler, delimiter)
        made.append(d)
        return d

    yield make
    for d in made:
        d.close()


@pytest.fixture
def echo_daemon(daemon_factory):
    return daemon_factory(lambda req: [ok(req, echo=req)])


@pytest.fixture
def publisher():
    p = FakePublisher()
    yield p
    p.close()


# Sanitizer reports of the daemons test_daemon_bridge starts fail the test
# (tests/python/sanitizer_reports.py; active only under ./dev.sh test's ASan run).
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[3] / "tests" / "python"))
from sanitizer_reports import sanitizer_reports_module, sanitizer_reports_test  # noqa: E402,F401
