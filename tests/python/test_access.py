"""Access: the runtime folder is 0750 and the ipc:// sockets and the admin
socket 0660; the admin socket refuses a peer outside its group (SO_PEERCRED),
tested with a second user (nobody/nogroup, via setpriv) who is let through the
file modes on purpose so that only the daemon's own check stands in the way.
That test needs root to become another user; CI runs as root, and so does it
here (as root, or through passwordless sudo); it is skipped only when neither
is available. A non-loopback tcp:// endpoint is a CURVE server: a client
without the server's key, or without CURVE, fails the handshake."""
from __future__ import annotations

import grp
import json
import os
import stat
import subprocess
import sys
import time

import pytest

CLIENT = r"""
import json, os, socket, sys
print(os.getuid(), os.getgid(), *sorted(os.getgroups()))  # who this client really is
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
try:
    s.sendall(b"stats\n")
except (BrokenPipeError, ConnectionResetError):
    pass  # refused peers get one line and a close, maybe before we write
buf = b""
while not buf.endswith(b"\n"):
    try:
        c = s.recv(65536)
    except ConnectionResetError:
        break
    if not c:
        break
    buf += c
print(buf.decode().strip() or "<closed>")
"""


def mode(path: str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_runtime_folder_and_sockets_are_not_world_accessible(make_daemon):
    d = make_daemon().start()
    assert mode(d.runtime) == 0o750
    for name in ("requests.sock", "thoughts.sock", "admin.sock"):
        assert mode(os.path.join(d.runtime, name)) == 0o660, name


def privileged_prefix():
    """How this test becomes another user: directly as root (CI), else through
    passwordless sudo; None when neither works."""
    if os.geteuid() == 0:
        return []
    try:
        if subprocess.run(["sudo", "-n", "true"], capture_output=True, timeout=10).returncode == 0:
            return ["sudo", "-n"]
    except (OSError, subprocess.TimeoutExpired):
        pass
    return None


def as_user(uid: int, gid: int, groups: list, path: str) -> dict:
    """Runs CLIENT as uid:gid with exactly `groups` (setpriv drops root's
    privileges); checks the client really ran so, and returns its reply line."""
    cmd = privileged_prefix() + ["setpriv", f"--reuid={uid}", f"--regid={gid}"]
    cmd += ["--clear-groups"] if not groups else ["--groups=" + ",".join(map(str, groups))]
    out = subprocess.run(cmd + [sys.executable, "-c", CLIENT, path], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    who, reply = out.stdout.strip().split("\n", 1)
    ids = [int(x) for x in who.split()]
    assert ids[:2] == [uid, gid] and set(ids[2:]) <= set(groups) | {gid}, (who, uid, gid, groups)
    return json.loads(reply)


def test_the_admin_socket_refuses_a_peer_outside_its_group(make_daemon):
    if privileged_prefix() is None:
        pytest.skip("becoming a second user needs root or passwordless sudo (CI runs as root)")
    import pwd
    nobody = pwd.getpwnam("nobody").pw_uid
    nogroup = grp.getgrnam("nogroup").gr_gid
    users = grp.getgrnam("users")
    # nobody/nogroup stand outside the admin group, and are not root or the daemon's user.
    assert "nobody" not in users.gr_mem and nogroup != users.gr_gid and nobody not in (0, os.geteuid())
    d = make_daemon("admin.group=users").start()
    # Open the file modes so only SO_PEERCRED decides.
    os.chmod(d.base, 0o755)
    os.chmod(d.runtime, 0o755)
    os.chmod(d.admin, 0o666)
    refused = as_user(nobody, nogroup, [], d.admin)
    assert refused == {"ok": False, "error": {"code": "forbidden", "message": f"uid {nobody} is not in group users"}}
    by_supplementary = as_user(nobody, nogroup, [users.gr_gid], d.admin)
    assert by_supplementary["ok"] is True and "actors" in by_supplementary, by_supplementary
    by_primary = as_user(nobody, users.gr_gid, [], d.admin)
    assert by_primary["ok"] is True and "actors" in by_primary, by_primary
    # The daemon serves on for its own user.
    assert d.admin_cmd("health")["ok"]


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def curve_dealer(endpoint, server_public: bytes):
    import zmq
    s = zmq.Context.instance().socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    pub, sec = zmq.curve_keypair()
    s.curve_publickey, s.curve_secretkey, s.curve_serverkey = pub, sec, server_public
    if endpoint is not None:
        s.connect(endpoint)
    return s


def handshake_failures(s, endpoint: str, seconds: float = 10.0) -> list:
    """Connects s to endpoint with a monitor on it; the first handshake outcome
    within `seconds`, as [(event name, value)] ([] if none). A refused client
    sees HANDSHAKE_FAILED_*, never HANDSHAKE_SUCCEEDED."""
    import zmq
    from zmq.utils.monitor import recv_monitor_message
    done = zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | \
        zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_AUTH
    m = s.get_monitor_socket(done)
    s.connect(endpoint)
    seen, deadline = [], time.monotonic() + seconds
    try:
        while time.monotonic() < deadline and not seen:
            if m.poll(200):
                e = recv_monitor_message(m)
                seen.append((zmq.Event(e["event"]).name, e["value"]))
    finally:
        s.disable_monitor()
        m.close()
    return seen


def ping(s, timeout_ms: int = 3000):
    import zmq
    try:  # a client whose handshake failed has no peer to queue for: no conversation
        s.send_multipart([b"", json.dumps({"v": 1, "op": "ping", "id": "p"}).encode()], zmq.NOBLOCK)
    except zmq.Again:
        return None
    if not s.poll(timeout_ms):
        return None
    return json.loads(s.recv_multipart()[-1])


def test_a_non_loopback_tcp_endpoint_takes_curve_and_only_clients_with_the_key(make_daemon, tmp_path):
    import zmq
    from harness import AIKID
    out = subprocess.run([str(AIKID), "--curve-keygen", str(tmp_path)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    key, pub = tmp_path / "curve.key", tmp_path / "curve.pub"
    assert mode(str(key)) == 0o600
    server_public = pub.read_text().strip().encode()
    assert server_public.decode() in out.stdout
    rp, tp = free_port(), free_port()
    d = make_daemon(f"ipc.requests=tcp://0.0.0.0:{rp}", f"ipc.thoughts=tcp://0.0.0.0:{tp}",
                    f"ipc.curve_secret_key_file={key}")
    d.requests, d.thoughts = f"tcp://127.0.0.1:{rp}", f"tcp://127.0.0.1:{tp}"
    d.start(wait=False)
    good = curve_dealer(d.requests, server_public)
    deadline, r = time.monotonic() + 120, None
    while r is None and time.monotonic() < deadline:
        r = ping(good, 1000)
    assert r is not None and r["ok"], d.log()
    # Thoughts are CURVE too: a subscriber with the key receives.
    sub = zmq.Context.instance().socket(zmq.SUB)
    sp, ss = zmq.curve_keypair()
    sub.curve_publickey, sub.curve_secretkey, sub.curve_serverkey = sp, ss, server_public
    sub.setsockopt(zmq.SUBSCRIBE, b"percept")
    sub.connect(d.thoughts)
    time.sleep(0.5)
    good.send_multipart([b"", json.dumps({"v": 1, "op": "perceive", "id": "x", "text": "what is due today"}).encode()])
    assert good.poll(10_000)
    assert sub.poll(10_000) and sub.recv_multipart()[0] == b"percept"
    sub.close()
    # Without the right server key, or without CURVE at all: no conversation,
    # the handshake fails (the daemon drops a HELLO it cannot open; a NULL
    # client meets a CURVE server: a mechanism mismatch, or the daemon's close).
    wrong_public, _ = zmq.curve_keypair()
    bad = curve_dealer(None, wrong_public)
    events = handshake_failures(bad, d.requests)
    assert events and all(name.startswith("HANDSHAKE_FAILED") for name, _ in events), events
    assert ping(bad, 2000) is None
    plain = zmq.Context.instance().socket(zmq.DEALER)
    plain.setsockopt(zmq.LINGER, 0)
    events = handshake_failures(plain, d.requests)
    assert events and all(e == ("HANDSHAKE_FAILED_PROTOCOL", zmq.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
                          or e[0] == "HANDSHAKE_FAILED_NO_DETAIL" for e in events), events
    assert ping(plain, 2000) is None
    assert ping(good)["ok"]  # and the daemon serves on
    for s in (good, bad, plain):
        s.close()


def test_a_curve_key_file_others_can_read_is_refused(make_daemon, tmp_path):
    from harness import AIKID
    subprocess.run([str(AIKID), "--curve-keygen", str(tmp_path)], check=True, capture_output=True, timeout=30)
    key = tmp_path / "curve.key"
    os.chmod(key, 0o644)
    d = make_daemon(f"ipc.requests=tcp://0.0.0.0:{free_port()}", f"ipc.curve_secret_key_file={key}").start(wait=False)
    assert d.proc.wait(30) == 2
    assert "readable by group or others" in d.log()
    os.chmod(key, 0o600)
    key.write_text("not a key\n")
    d = make_daemon(f"ipc.requests=tcp://0.0.0.0:{free_port()}", f"ipc.curve_secret_key_file={key}").start(wait=False)
    assert d.proc.wait(30) == 2
    assert "40 characters" in d.log()
