"""The aikid test harness: runs the real binary on private sockets and folders."""
from __future__ import annotations

import os
import pathlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import Dict, List, Optional, Sequence

import zmq

ROOT = pathlib.Path(__file__).resolve().parents[2]
AIKID = pathlib.Path(os.environ.get("AIKID_BIN", ROOT / "build" / "daemon" / "aikid"))
CONFIG = ROOT / "config" / "aikid.toml"
MODELS = ROOT / "models"


class Daemon:
    """One aikid process with its own runtime and data folders."""

    # Every Daemon made in this pytest run (sanitizer_reports.py reads their logs).
    made: List["Daemon"] = []

    def __init__(self, sets: Sequence[str] = (), config: Optional[pathlib.Path] = CONFIG,
                 env: Optional[Dict[str, str]] = None, base: Optional[str] = None) -> None:
        self.own_base = base is None  # a temporary folder of its own (discard may delete it)
        self.base = base or tempfile.mkdtemp(prefix="aik")
        self.runtime = os.path.join(self.base, "rt")
        self.data = os.path.join(self.base, "data")
        self.requests = f"ipc://{self.runtime}/requests.sock"
        self.thoughts = f"ipc://{self.runtime}/thoughts.sock"
        self.admin = os.path.join(self.runtime, "admin.sock")
        self.args: List[str] = [str(AIKID)]
        if config is not None:
            self.args += ["--config", str(config)]
        for s in (f"daemon.runtime_dir={self.runtime}", f"daemon.data_dir={self.data}", *sets):
            self.args += ["--set", s]
        self.env = dict(os.environ, **(env or {}))
        self.log_path = os.path.join(self.base, "aikid.log")
        self.proc: Optional[subprocess.Popen] = None
        Daemon.made.append(self)

    def start(self, wait: bool = True) -> "Daemon":
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.args, stdout=self._log, stderr=subprocess.STDOUT, env=self.env)
        if wait:
            self.wait_ready()
        return self

    def log(self) -> str:
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_ready(self, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"aikid exited with {self.proc.returncode}:\n{self.log()}")
            if os.path.exists(self.admin):
                try:
                    r = self.request({"op": "ping"}, timeout=1.0)
                    if r.get("ok"):
                        return
                except TimeoutError:
                    pass
            time.sleep(0.05)
        raise TimeoutError(f"aikid not ready after {timeout}s:\n{self.log()}")

    # -- raw wire access (malformed frames on purpose) --------------------
    def dealer(self) -> zmq.Socket:
        s = zmq.Context.instance().socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(self.requests)
        return s

    def send_raw(self, frame: bytes, timeout: float = 10.0, sock: Optional[zmq.Socket] = None) -> dict:
        import json
        own = sock is None
        s = sock or self.dealer()
        try:
            s.send_multipart([b"", frame])
            if not s.poll(int(timeout * 1000)):
                raise TimeoutError("no reply")
            return json.loads(s.recv_multipart()[-1])
        finally:
            if own:
                s.close()

    def request(self, fields: dict, timeout: float = 10.0) -> dict:
        import json
        body = {"v": 1, "id": fields.get("id", "t"), **fields}
        return self.send_raw(json.dumps(body).encode(), timeout)

    def admin_send(self, data: bytes, replies: int, timeout: float = 10.0) -> bytes:
        """Sends raw bytes to the admin socket; what came back once `replies`
        lines came or the daemon closed the connection (a reset after its reply,
        when it closes with our bytes unread, ends the read too)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(self.admin)
            s.sendall(data)
            buf = b""
            while buf.count(b"\n") < replies:
                try:
                    chunk = s.recv(65536)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                buf += chunk
        return buf

    def admin_cmd(self, line: str, timeout: float = 10.0) -> dict:
        import json
        return json.loads(self.admin_send(line.encode() + b"\n", 1, timeout))

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 20.0) -> int:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self._log.close()
            return self.proc.returncode
        return 0

    def discard(self) -> int:
        """Stops the daemon and deletes its temporary folder (benches: a store of
        20,000 memories is ~70 MB). Tests keep theirs: sanitizer_reports.py reads
        the logs. A folder given as `base` is never deleted. Returns stop()'s code."""
        rc = self.stop()
        if self.own_base:
            shutil.rmtree(self.base, ignore_errors=True)
        return rc


def unit(i: int, dim: int = 384):
    """The unit vector along axis i (mod dim): a client vector for memory ops."""
    v = [0.0] * dim
    v[i % dim] = 1.0
    return v


def wait_final(sub, percept_id: str, timeout: float = 60.0):
    """The thought.final of `percept_id` from a Subscriber, or None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        t = sub.recv(timeout=5.0)
        if t is not None and t.topic == "thought.final" and t.percept_id == percept_id:
            return t
    return None
