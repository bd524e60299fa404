"""Access: the runtime folder is 0750 and the ipc:// sockets and the admin
socket 0660; the admin socket refuses a peer outside its group (SO_PEERCRED),
tested with a second user (uid 65534, via setpriv) who is let through the file
modes on purpose so that only the daemon's own check stands in the way."""
from __future__ import annotations

import grp
import os
import stat
import subprocess
import sys
import time

import pytest

CLIENT = r"""
import json, socket, sys
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


def as_user(uid: int, gid: int, groups: str, path: str) -> str:
    cmd = ["setpriv", f"--reuid={uid}", f"--regid={gid}"]
    cmd += ["--clear-groups"] if groups == "" else [f"--groups={groups}"]
    out = subprocess.run(cmd + [sys.executable, "-c", CLIENT, path], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.mark.skipif(os.geteuid() != 0, reason="acting as a second user needs root (setpriv)")
def test_the_admin_socket_refuses_a_peer_outside_its_group(make_daemon):
    users = grp.getgrnam("users").gr_gid
    d = make_daemon("admin.group=users").start()
    # Open the file modes so only SO_PEERCRED decides.
    os.chmod(d.base, 0o755)
    os.chmod(d.runtime, 0o755)
    os.chmod(d.admin, 0o666)
    nobody = 65534
    refused = as_user(nobody, nobody, "", d.admin)
    assert "not in group users" in refused and f"uid {nobody}" in refused, refused
    assert '"ok":true' not in refused.replace(" ", "")
    by_supplementary = as_user(nobody, nobody, str(users), d.admin)
    assert '"ok":true' in by_supplementary.replace(" ", ""), by_supplementary
    by_primary = as_user(nobody, users, "", d.admin)
    assert '"ok":true' in by_primary.replace(" ", ""), by_primary
    # The daemon serves on for its own user.
    assert d.admin_cmd("health")["ok"]


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def curve_dealer(endpoint: str, server_public: bytes):
    import zmq
    s = zmq.Context.instance().socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    pub, sec = zmq.curve_keypair()
    s.curve_publickey, s.curve_secretkey, s.curve_serverkey = pub, sec, server_public
    s.connect(endpoint)
    return s


def ping(s, timeout_ms: int = 3000):
    import json
    s.send_multipart([b"", json.dumps({"v": 1, "op": "ping", "id": "p"}).encode()])
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
    import json
    good.send_multipart([b"", json.dumps({"v": 1, "op": "perceive", "id": "x", "text": "what is due today"}).encode()])
    assert good.poll(10_000)
    assert sub.poll(10_000) and sub.recv_multipart()[0] == b"percept"
    sub.close()
    # Without the right server key, or without CURVE at all: no conversation.
    wrong_public, _ = zmq.curve_keypair()
    bad = curve_dealer(d.requests, wrong_public)
    assert ping(bad, 2000) is None
    plain = zmq.Context.instance().socket(zmq.DEALER)
    plain.setsockopt(zmq.LINGER, 0)
    plain.connect(d.requests)
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
