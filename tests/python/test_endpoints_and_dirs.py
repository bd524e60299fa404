"""Where the daemon listens and keeps its files (issue 21): tcp:// under the
shipped unit's address families, abstract ipc:// refused, /metrics on IPv6
loopback, and runtime/data folders that another user owns or whose mode cannot
be set refused at start."""
from __future__ import annotations

import os
import pathlib
import shutil
import socket
import subprocess
import sys
import urllib.request

import pytest

from harness import ROOT

UNIT = ROOT / "systemd" / "aikid.service.in"
RESTRICT = pathlib.Path(__file__).with_name("restrict_families.py")


def free_port(family: int = socket.AF_INET, host: str = "127.0.0.1") -> int:
    with socket.socket(family) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def tcp_daemon(make_daemon, *restrict: str):
    """A daemon on loopback tcp:// endpoints, run under the unit's
    RestrictAddressFamilies= (restrict_families.py; `restrict` adds --drop …)."""
    rp, tp = free_port(), free_port()
    d = make_daemon(f"ipc.requests=tcp://127.0.0.1:{rp}", f"ipc.thoughts=tcp://127.0.0.1:{tp}")
    d.requests, d.thoughts = f"tcp://127.0.0.1:{rp}", f"tcp://127.0.0.1:{tp}"
    d.args = [sys.executable, str(RESTRICT), str(UNIT), *restrict, "--", *d.args]
    return d


# systemd-run cannot be used here: it needs a running systemd manager (PID 1 in
# CI's container is not systemd; `systemctl is-system-running` says offline),
# so restrict_families.py applies the same seccomp rule systemd would.
def test_loopback_tcp_works_under_the_units_address_families(make_daemon):
    d = tcp_daemon(make_daemon).start()
    assert d.request({"op": "ping"})["ok"]
    assert d.stop() == 0


def test_without_af_netlink_a_tcp_endpoint_aborts_in_libzmq(make_daemon):
    # Why the unit lists AF_NETLINK: libzmq's getifaddrs needs it and asserts
    # (ip_resolver.cpp, libzmq issue 4737). This also shows that the filter
    # bites; should a later libzmq stop needing netlink, drop this test.
    d = tcp_daemon(make_daemon, "--drop", "AF_NETLINK").start(wait=False)
    rc = d.proc.wait(60)
    assert rc != 0
    assert "ip_resolver" in d.log() or rc == -6, d.log()


@pytest.mark.parametrize("key", ["ipc.requests", "ipc.thoughts"])
def test_an_abstract_ipc_endpoint_is_refused(make_daemon, key):
    d = make_daemon(f"{key}=ipc://@aikid-test-{os.getpid()}").start(wait=False)
    assert d.proc.wait(60) == 2  # a configuration error: not restarted
    assert "abstract Unix sockets (ipc://@NAME) have no file permissions" in d.log()


def test_metrics_over_http_on_ipv6_loopback(make_daemon):
    port = free_port(socket.AF_INET6, "::1")
    d = make_daemon(f"admin.metrics_http=[::1]:{port}").start()
    body = urllib.request.urlopen(f"http://[::1]:{port}/metrics", timeout=5).read().decode()
    assert "aikid_up 1" in body


def other_uid() -> int:
    return 65534 if os.geteuid() != 65534 else 65533


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root (CI runs as root)")
@pytest.mark.parametrize("which", ["runtime", "data"])
def test_a_folder_another_user_owns_is_refused(make_daemon, which):
    d = make_daemon()
    path = d.runtime if which == "runtime" else d.data
    os.makedirs(path, mode=0o700)
    os.chown(path, other_uid(), other_uid())
    d.start(wait=False)
    assert d.proc.wait(60) == 1
    assert f"{path}: owned by uid {other_uid()}" in d.log()
    assert not os.path.exists(os.path.join(d.runtime, "requests.sock"))


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root (CI runs as root)")
def test_a_symbolic_link_another_user_owns_is_refused(make_daemon):
    d = make_daemon()
    target = os.path.join(d.base, "real-rt")
    os.makedirs(target, mode=0o700)
    os.symlink(target, d.runtime)
    os.lchown(d.runtime, other_uid(), other_uid())
    d.start(wait=False)
    assert d.proc.wait(60) == 1
    assert f"{d.runtime}: a symbolic link owned by uid {other_uid()}" in d.log()


def test_a_folder_whose_mode_cannot_be_set_is_refused(make_daemon):
    # An immutable folder (chattr +i): chmod fails with EPERM even for root.
    if shutil.which("chattr") is None:
        pytest.skip("no chattr")
    d = make_daemon()
    os.makedirs(d.runtime, mode=0o755)
    if subprocess.run(["chattr", "+i", d.runtime], capture_output=True).returncode != 0:
        pytest.skip("chattr +i not possible here (needs root and ext4/xfs/btrfs)")
    try:
        d.start(wait=False)
        assert d.proc.wait(60) == 1
        assert f"{d.runtime}: cannot chmod 750: Operation not permitted" in d.log()
    finally:
        subprocess.run(["chattr", "-i", d.runtime], check=True)
