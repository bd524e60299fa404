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
