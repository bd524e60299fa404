"""AdminClient, aikictl, `python -m aiki_bridge` and default endpoints."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

import aiki_bridge as ab
from aiki_bridge import aikictl, cli, endpoints
from conftest import ok


class FakeAdmin:
    """A Unix stream server answering each line with JSON, in two chunks."""

    def __init__(self, path):
        self.path = path
        self.lines = []
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(4)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.srv.accept()
            except OSError:
                return
            with conn:
                buf = b""
                while True:
                    data = conn.recv(4096)
                    if not data:
                        break
                    buf += data
                    while b"\n" in buf:
                        line, buf = buf.split(b"\n", 1)
                        text = line.decode()
                        self.lines.append(text)
                        if text == "metrics":
                            reply = {"ok": True, "text": "# HELP aikid_up up\n# TYPE aikid_up gauge\n"
                                                         "aikid_up 1\n"}
                        elif text.startswith("set bad"):
                            reply = {"ok": False, "error": {"code": "bad_request",
                                                            "message": "bad: out of range"}}
                        else:
                            reply = {"ok": True, "cmd": text}
                        raw = json.dumps(reply).encode() + b"\n"
                        conn.sendall(raw[:5])
                        time.sleep(0.01)
                        conn.sendall(raw[5:])

    def close(self):
        self.srv.close()


@pytest.fixture
def admin(tmp_path):
    a = FakeAdmin(str(tmp_path / "admin.sock"))
    yield a
    a.close()


def test_admin_client_keeps_connection(admin):
    with ab.AdminClient(admin.path, timeout=2) as c:
        assert c.command("stats") == {"ok": True, "cmd": "stats"}
        assert c.command("  get memory.dedup_threshold \n") == {
            "ok": True, "cmd": "get memory.dedup_threshold"}
        with pytest.raises(ValueError):
            c.command("a\nb")
    assert admin.lines == ["stats", "get memory.dedup_threshold"]


def test_aikictl_exit_codes_and_pretty_output(admin, capsys):
    assert aikictl.main(["--socket", admin.path, "set", "memory.x", "3"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out) == {"ok": True, "cmd": "set memory.x 3"}
    assert out.startswith("{\n  "), "pretty-printed"
    assert aikictl.main(["--socket", admin.path, "set", "bad", "9"]) == 1
    assert json.loads(capsys.readouterr().out)["ok"] is False
    assert aikictl.main(["--socket", admin.path, "-c", "health"]) == 0
    assert capsys.readouterr().out == '{"ok": true, "cmd": "health"}\n'


def test_aikictl_options_after_the_command(admin, capsys):
    assert aikictl.main(["stats", "--socket", admin.path]) == 0
    assert json.loads(capsys.readouterr().out) == {"ok": True, "cmd": "stats"}
    assert aikictl.main(["set", "memory.x", "-0.5", "--socket", admin.path, "-c"]) == 0
    assert capsys.readouterr().out == '{"ok": true, "cmd": "set memory.x -0.5"}\n'
    assert aikictl.main(["get", "--socket", admin.path, "memory.x", "--timeout", "3"]) == 0
    assert json.loads(capsys.readouterr().out)["cmd"] == "get memory.x"
    assert admin.lines == ["stats", "set memory.x -0.5", "get memory.x"]


def test_aikictl_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as e:
        aikictl.main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for c in ("get KEY", "set KEY VALUE", "stats", "health", "metrics", "reload config|templates|model",
              "export FILE", "debug clock UNIX_MS|real"):
        assert c in out, c


def test_aikictl_metrics_prints_the_exposition_text(admin, capsys):
    assert aikictl.main(["metrics", "--socket", admin.path]) == 0
    assert capsys.readouterr().out == "# HELP aikid_up up\n# TYPE aikid_up gauge\naikid_up 1\n"


def test_aikictl_unreachable_socket(tmp_path, capsys):
    assert aikictl.main(["--socket", str(tmp_path / "none.sock"), "stats"]) == 2
    assert "cannot connect" in capsys.readouterr().err


def test_aikictl_interactive_prompt(admin, tmp_path):
    env = dict(os.environ, HOME=str(tmp_path))
    p = subprocess.run([sys.executable, "-m", "aiki_bridge.aikictl", "--socket", admin.path],
                       input="help\n\nstats\nquit\n", capture_output=True, text=True,
                       timeout=20, env=env)
    assert p.returncode == 0, p.stderr
    assert admin.lines == ["help", "stats"]
    assert '"cmd": "stats"' in p.stdout


def test_cli_ping_and_request(echo_daemon, capsys):
    assert cli.main(["--requests", echo_daemon.endpoint, "ping"]) == 0
    assert json.loads(capsys.readouterr().out)["echo"]["op"] == "ping"
    assert cli.main(["--requests", echo_daemon.endpoint, "request", "kg.query",
                     '{"entity": "alice"}']) == 0
    assert json.loads(capsys.readouterr().out)["echo"]["entity"] == "alice"


def test_cli_error_reply_exit_1(daemon_factory, capsys):
    d = daemon_factory(lambda req: [{"v": 1, "id": req["id"], "ok": False,
                                     "error": {"code": "busy", "message": "retry"}}])
    assert cli.main(["--requests", d.endpoint, "ping"]) == 1
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "busy"


def test_cli_timeout_exit_2(capsys):
    assert cli.main(["--requests", "ipc:///tmp/aiki-bridge-test-nobody.sock",
                     "--timeout", "0.1", "ping"]) == 2


def _publish_until(stop, publisher, messages):
    while not stop.is_set():
        for topic, body in messages:
            publisher.publish(topic, body)
        time.sleep(0.02)


def test_cli_perceive_waits_for_its_thought(daemon_factory, publisher, capsys):
    d = daemon_factory(lambda req: [ok(req, percept_id="p-7")])
    stop = threading.Event()
    msgs = [("thought.final", {"v": 1, "boot_id": "b", "seq": 1, "percept_id": "other",
                               "text": "not mine"}),
            ("thought.token", {"v": 1, "boot_id": "b", "seq": 1, "percept_id": "p-7",
                               "index": 0, "text": "Hel"}),
            ("thought.final", {"v": 1, "boot_id": "b", "seq": 2, "percept_id": "p-7",
                               "text": "Hello"})]
    th = threading.Thread(target=_publish_until, args=(stop, publisher, msgs))
    th.start()
    try:
        rc = cli.main(["--requests", d.endpoint, "--thoughts", publisher.endpoint,
                       "perceive", "hi", "there", "--user", "alice", "--wait", "5"])
    finally:
        stop.set()
        th.join()
    out = capsys.readouterr().out.splitlines()
    assert rc == 0
    assert json.loads(out[0])["percept_id"] == "p-7"
    final = json.loads(out[1])
    assert final["topic"] == "thought.final" and final["text"] == "Hello"
    assert d.requests[0]["text"] == "hi there" and d.requests[0]["user"] == "alice"


def test_cli_listen_count(publisher, capsys):
    stop = threading.Event()
    msgs = [("status", {"v": 1, "boot_id": "b", "seq": 1, "state": "ready"})]
    th = threading.Thread(target=_publish_until, args=(stop, publisher, msgs))
    th.start()
    try:
        rc = cli.main(["--thoughts", publisher.endpoint, "listen", "status", "--count", "2"])
    finally:
        stop.set()
        th.join()
    lines = capsys.readouterr().out.splitlines()
    assert rc == 0 and len(lines) == 2
    assert json.loads(lines[0]) == {"topic": "status", "v": 1, "boot_id": "b", "seq": 1,
                                    "state": "ready"}


def test_default_endpoints(monkeypatch, tmp_path):
    for k in ("AIKID_RUNTIME_DIR", "AIKID_REQUESTS", "AIKID_THOUGHTS", "AIKID_ADMIN"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert endpoints.default_requests() == f"ipc://{tmp_path}/aikid/requests.sock"
    assert endpoints.default_thoughts() == f"ipc://{tmp_path}/aikid/thoughts.sock"
    assert endpoints.default_admin() == f"{tmp_path}/aikid/admin.sock"
    monkeypatch.setenv("AIKID_RUNTIME_DIR", "/x/y")
    assert endpoints.default_admin() == "/x/y/admin.sock"
    monkeypatch.setenv("AIKID_REQUESTS", "tcp://127.0.0.1:5555")
    assert endpoints.default_requests() == "tcp://127.0.0.1:5555"
    monkeypatch.delenv("AIKID_RUNTIME_DIR")
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    uid = os.getuid()
    expect = (f"/run/user/{uid}/aikid" if os.path.isdir(f"/run/user/{uid}")
              else f"/tmp/aikid-{uid}")
    assert endpoints.runtime_dir() == expect
