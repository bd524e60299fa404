"""Process lifecycle: config errors, SIGTERM, SIGHUP, a second daemon,
sd_notify (READY, STATUS, WATCHDOG and the pings stopping when an actor is
stuck), an actor that ends stopping the daemon (exit 1), the admin socket and
metrics over HTTP."""
from __future__ import annotations

import os
import pathlib
import signal
import socket
import subprocess
import time
import urllib.request

from harness import AIKID, CONFIG, Daemon


def test_version_and_default_config():
    out = subprocess.run([str(AIKID), "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("aikid ")
    out = subprocess.run([str(AIKID), "--print-default-config"], capture_output=True, text=True, check=True)
    assert out.stdout == CONFIG.read_text()


def test_config_errors_name_file_line_and_key_and_exit_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[inference]\nthreads = 2\nthreadz = 2\n")
    r = subprocess.run([str(AIKID), "--config", str(bad), "--check-config"], capture_output=True, text=True)
    assert r.returncode == 2
    assert f"{bad}:3: inference.threadz: unknown key" in r.stderr
    bad.write_text("[memory]\ndedup_threshold = \"high\"\n")
    r = subprocess.run([str(AIKID), "--config", str(bad)], capture_output=True, text=True)
    assert r.returncode == 2
    assert f"{bad}:2: memory.dedup_threshold: must be a number" in r.stderr
    r = subprocess.run([str(AIKID), "--config", str(CONFIG), "--set", "daemon.threads=0"], capture_output=True, text=True)
    assert r.returncode == 2 and "--set: daemon.threads: 0 is out of range" in r.stderr
    r = subprocess.run([str(AIKID), "--config", str(CONFIG), "--check-config"], capture_output=True, text=True)
    assert r.returncode == 0


def test_sigterm_stops_cleanly(make_daemon):
    d = make_daemon().start()
    t0 = time.monotonic()
    d.signal(signal.SIGTERM)
    assert d.proc.wait(15) == 0
    assert time.monotonic() - t0 < 6
    assert not os.path.exists(d.admin)
    assert "stopped" in d.log()


def test_an_actor_that_ends_stops_the_daemon_with_exit_1(make_daemon):
    d = make_daemon("daemon.debug=true").start()
    assert d.admin_cmd("debug crash nobody")["error"]["code"] == "not_found"
    assert d.request({"op": "ping"})["ok"]
    r = d.admin_cmd("debug crash synthesis")
    assert r == {"ok": True, "crashed": "synthesis"}, r
    assert d.proc.wait(30) == 1
    log = d.log()
    assert "actor synthesis ended: " in log and "stopped after an actor ended (exit 1)" in log, log[-3000:]
    assert not os.path.exists(d.admin)


def test_sighup_with_a_broken_config_keeps_the_old_one(make_daemon, tmp_path):
    cfg = tmp_path / "aikid.toml"
    text = CONFIG.read_text().replace("../models/", str(CONFIG.parent.parent / "models") + "/")
    text = text.replace('templates = "templates"', f'templates = "{CONFIG.parent / "templates"}"')
    cfg.write_text(text)
    d = make_daemon(config=cfg).start()
    assert d.admin_cmd("get memory.dedup_threshold")["value"] == 0.95
    cfg.write_text(text.replace("dedup_threshold = 0.95", "dedup_threshold = 0.9") + "\n[bogus]\n")
    d.signal(signal.SIGHUP)
    time.sleep(0.5)
    assert d.proc.poll() is None
    assert d.admin_cmd("get memory.dedup_threshold")["value"] == 0.95
    assert "reload refused" in d.log() and "bogus: unknown section" in d.log()
    # A change of a key that is not live is refused whole.
    cfg.write_text(text.replace("dedup_threshold = 0.95", "dedup_threshold = 0.9").replace("threads = 2", "threads = 3", 1))
    d.signal(signal.SIGHUP)
    time.sleep(0.5)
    assert d.admin_cmd("get memory.dedup_threshold")["value"] == 0.95
    assert "needs restart" in d.log()
    # A good live change applies.
    cfg.write_text(text.replace("dedup_threshold = 0.95", "dedup_threshold = 0.9"))
    d.signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and d.admin_cmd("get memory.dedup_threshold")["value"] != 0.9:
        time.sleep(0.1)
    assert d.admin_cmd("get memory.dedup_threshold")["value"] == 0.9
    assert d.request({"op": "ping"})["ok"]


def test_a_second_daemon_on_the_same_endpoints_fails_fast(make_daemon):
    a = make_daemon().start()
    b = make_daemon(base=a.base)
    t0 = time.monotonic()
    b.start(wait=False)
    assert b.proc.wait(20) == 1
    assert time.monotonic() - t0 < 20
    assert "already in use" in b.log()
    assert a.request({"op": "ping"})["ok"]


def admin_lines(d: Daemon, data: bytes, replies: int) -> list:
    import json
    return [json.loads(line) for line in d.admin_send(data, replies).splitlines() if line]


def test_admin_refuses_a_line_not_utf8_or_too_long_and_serves_on(daemon):
    # a bad line is answered and the same connection serves the next one
    r = admin_lines(daemon, b"get memory.recall\xff_top_k\nget memory.recall_top_k\n", 2)
    assert r[0] == {"ok": False, "error": {"code": "bad_request", "message": "command is not valid UTF-8"}}
    assert r[1]["ok"] and r[1]["value"] == 5
    # past 64 KiB without a newline: too_large, then the connection closes
    r = admin_lines(daemon, b"get " + b"x" * (70 * 1024), 2)  # one reply, then the close
    assert len(r) == 1 and r[0]["error"]["code"] == "too_large", r
    assert r[0]["error"]["message"] == "command line longer than 65536 bytes"
    assert daemon.admin_cmd("get memory.recall_top_k")["value"] == 5


def test_admin_get_set_stats_health(daemon):
    g = daemon.admin_cmd("get memory.recall_top_k")
    assert g["ok"] and g["value"] == 5 and g["live"] is True
    assert daemon.admin_cmd("set memory.recall_top_k 7")["ok"]
    assert daemon.admin_cmd("get memory.recall_top_k")["value"] == 7
    bad = daemon.admin_cmd("set memory.recall_top_k lots")
    assert bad["ok"] is False and "not an integer" in bad["error"]["message"]
    assert daemon.admin_cmd("get memory.recall_top_k")["value"] == 7
    rng = daemon.admin_cmd("set memory.recall_top_k 5000")
    assert rng["ok"] is False and "out of range" in rng["error"]["message"]
    assert daemon.admin_cmd("get memory.recall_top_k")["value"] == 7
    nl = daemon.admin_cmd("set daemon.threads 4")
    assert nl["ok"] is False and "needs restart" in nl["error"]["message"]
    assert daemon.admin_cmd("set memory.recall_top_k 5")["ok"]
    assert daemon.admin_cmd("set log.level debug")["ok"]
    assert daemon.admin_cmd("set log.level info")["ok"]
    daemon.request({"op": "perceive", "text": "stats please", "user": "s"})
    st = daemon.admin_cmd("stats")
    assert st["ok"] and "perception" in st["actors"]
    assert st["actors"]["perception"]["perceive"]["count"] >= 1
    assert "p99_ms" in st["actors"]["perception"]["perceive"]
    h = daemon.admin_cmd("health")
    assert h["ok"] and set(h["actors"]) >= {"perception", "memory", "synthesis", "embedder", "inference"}
    assert daemon.admin_cmd("frobnicate")["error"]["code"] == "unknown_op"
    assert daemon.admin_cmd("debug stall memory soon")["error"]["code"] == "bad_request"
    assert daemon.admin_cmd("debug stall nobody 1")["error"]["code"] == "not_found"
    assert "set KEY VALUE" in daemon.admin_cmd("help")["commands"]
    m = daemon.admin_cmd("metrics")
    assert "aikid_up 1" in m["text"]


def test_stats_names_the_allocator(daemon):
    # The release daemon runs on jemalloc (cmake/Deps.cmake); an ASan tree on ASan's.
    alloc = daemon.admin_cmd("stats")["allocator"]
    if "ASAN_OPTIONS" in os.environ:
        assert alloc == "asan"
    else:
        assert alloc.startswith("jemalloc 5."), alloc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_metrics_over_http_on_loopback(make_daemon):
    port = free_port()
    d = make_daemon(f"admin.metrics_http=127.0.0.1:{port}").start()
    d.request({"op": "ping"})
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert "aikid_up 1" in body and "aikid_requests_total" in body


def test_notify_socket_ready_status_watchdog_and_a_stuck_actor(make_daemon, tmp_path):
    path = str(tmp_path / "notify.sock")
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(path)
    ns.settimeout(0.2)
    d = make_daemon("daemon.debug=true", env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000"}).start(wait=False)
    seen = []  # (monotonic time, message)

    def pump(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                seen.append((time.monotonic(), ns.recv(4096).decode()))
            except socket.timeout:
                pass

    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not any(m.startswith("READY=1") for _, m in seen):
        pump(0.5)
        assert d.proc.poll() is None, d.log()
    msgs = [m for _, m in seen]
    assert "READY=1" in msgs
    assert any(m.startswith("STATUS=") for m in msgs)
    # READY comes after the sockets are bound: a request works now.
    assert d.request({"op": "ping"})["ok"]
    pump(2.0)
    assert sum(m == "WATCHDOG=1" for _, m in seen if _ > time.monotonic() - 2.0) >= 2
    # A stuck actor stops the pings.
    assert d.admin_cmd("debug stall inference 4000")["ok"]
    t_stall = time.monotonic()
    pump(3.0)
    late = [t for t, m in seen if m == "WATCHDOG=1" and t_stall + 1.2 < t < t_stall + 3.0]
    assert late == [], "WATCHDOG=1 was sent while an actor was stuck"
    pump(3.0)
    assert any(m == "WATCHDOG=1" for t, m in seen if t > t_stall + 4.0), "pings did not resume"
    d.stop()
    msgs = [m for _, m in seen] + []
    ns.close()


def test_the_users_text_is_redacted_in_logs_unless_log_content(make_daemon):
    secret = "my bank PIN is 4711"
    d = make_daemon("log.level=debug").start()
    assert d.request({"op": "perceive", "text": secret, "user": "kari"})["ok"]
    time.sleep(0.3)
    assert secret not in d.log() and "bytes redacted" in d.log()
    assert d.admin_cmd("set log.content true")["ok"]
    assert d.request({"op": "perceive", "text": secret + "!", "user": "kari"})["ok"]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and secret not in d.log():
        time.sleep(0.1)
    assert secret + "!" in d.log()


def test_loopback_tcp_endpoints_work_and_others_are_refused(make_daemon):
    rp, tp = free_port(), free_port()
    d = make_daemon(f"ipc.requests=tcp://127.0.0.1:{rp}", f"ipc.thoughts=tcp://127.0.0.1:{tp}")
    d.requests, d.thoughts = f"tcp://127.0.0.1:{rp}", f"tcp://127.0.0.1:{tp}"
    d.start()
    assert d.request({"op": "ping"})["ok"]
    # Non-loopback without CURVE keys: refused before anything is bound, exit 2
    # (a configuration error: RestartPreventExitStatus=2, no restart loop),
    # and the error line names the endpoint and how to get keys (endpoint_check's
    # bad_request message, as the log shows it).
    for key in ("ipc.requests", "ipc.thoughts"):
        port = free_port()
        ep = f"tcp://0.0.0.0:{port}"
        bad = make_daemon(f"{key}={ep}").start(wait=False)
        assert bad.proc.wait(30) == 2, bad.log()
        want = (f"{ep}: a non-loopback TCP endpoint needs CURVE keys, which are not configured "
                "(ipc.curve_secret_key_file; make them with aikid --curve-keygen DIR)")
        errors = [ln for ln in bad.log().splitlines() if " error " in ln]
        assert errors and errors[-1].endswith(" error " + want), bad.log()
        assert "ready:" not in bad.log()
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, f"{ep} was bound"
