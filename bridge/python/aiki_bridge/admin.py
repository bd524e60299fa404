"""Client of aikid's admin socket: one text command a line, one JSON reply a line."""
from __future__ import annotations

import json
import socket
from typing import Any, Dict, List, Optional

from . import endpoints

DEFAULT_TIMEOUT = 10.0


class AdminError(ConnectionError):
    """The admin socket could not be reached, or its reply was not one JSON line."""


class AdminClient:
    """``AdminClient(path=None, timeout=10.0)``; :meth:`command` sends one line.

    ``path`` defaults to :func:`aiki_bridge.endpoints.default_admin`. The
    connection is opened on first use and kept for later commands.
    """

    def __init__(self, path: Optional[str] = None, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.path = path or endpoints.default_admin()
        self.timeout = timeout
        self._sock: Optional[socket.socket] = None
        self._buf = b""

    def _connect(self) -> socket.socket:
        if self._sock is None:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(self.timeout)
            try:
                s.connect(self.path)
            except OSError as e:
                s.close()
                raise AdminError(f"cannot connect to the admin socket {self.path}: "
                                 f"{e.strerror or e}") from None
            self._sock = s
            self._buf = b""
        return self._sock

    def command_raw(self, line: str) -> str:
        """Send one command line; return the reply line (without the newline).

        Raises AdminError on connection trouble, ValueError for a line with
        a newline in it.
        """
        line = line.strip()
        if "\n" in line or "\r" in line:
            raise ValueError("an admin command is one line")
        sock = self._connect()
        try:
            sock.sendall(line.encode("utf-8") + b"\n")
            while b"\n" not in self._buf:
                chunk = sock.recv(65536)
                if not chunk:
                    self.close()
                    raise AdminError(f"the admin socket {self.path} closed before replying "
                                     f"to {line!r}")
                self._buf += chunk
        except socket.timeout:
            self.close()
            raise AdminError(f"no reply from {self.path} within {self.timeout:g} s "
                             f"to {line!r}") from None
        except OSError as e:
            self.close()
            raise AdminError(f"admin socket {self.path}: {e.strerror or e}") from None
        reply, self._buf = self._buf.split(b"\n", 1)
        return reply.decode("utf-8", errors="replace")

    def command(self, line: str) -> Dict[str, Any]:
        """Send one command line and return the parsed JSON reply.

        Raises AdminError (connection, or a reply that is not a JSON object).
        """
        raw = self.command_raw(line)
        try:
            reply = json.loads(raw)
        except ValueError:
            raise AdminError(f"admin reply is not JSON: {raw[:200]!r}") from None
        if not isinstance(reply, dict):
            raise AdminError(f"admin reply is not a JSON object: {raw[:200]!r}")
        return reply

    # ---- one user's whole data, to and from the client's own file ----------
    # The daemon never sees a path: export-user hands out pages of records,
    # import-user takes batches of them, each command one line (at most
    # USER_LINE_MAX bytes; the admin socket's limit is 64 KiB).

    USER_FORMAT = "aikid.user"
    USER_VERSION = 1
    USER_LINE_MAX = 60 * 1024

    def export_user(self, user: str, path: str, page: int = 200) -> Dict[str, int]:
        """Write ``user``'s memories (with vectors and history), graph, turns,
        reminders and settings to ``path`` as JSONL: a header line
        ``{"type": "header", "format": "aikid.user", "version": 1, "user": …,
        "exported_at": unix ms}``, then one record a line. Returns the count of
        each record type. Raises AdminError when the daemon refuses (the
        partial file is removed)."""
        import os
        import time
        counts: Dict[str, int] = {}
        after = 0
        tmp = path + ".part"
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(json.dumps({"type": "header", "format": self.USER_FORMAT, "version": self.USER_VERSION,
                                    "user": user, "exported_at": int(time.time() * 1000)},
                                   ensure_ascii=False) + "\n")
                while True:
                    r = self.command("export-user " + json.dumps({"user": user, "after": after, "limit": page},
                                                                 ensure_ascii=False))
                    if not r.get("ok"):
                        raise AdminError(f"export-user: {r.get('error', r)}")
                    if r.get("version") != self.USER_VERSION:
                        raise AdminError(f"export-user: the daemon writes version {r.get('version')}, "
                                         f"this client {self.USER_VERSION}")
                    for rec in r["records"]:
                        f.write(json.dumps(rec, ensure_ascii=False) + "\n")
                        counts[rec.get("type", "?")] = counts.get(rec.get("type", "?"), 0) + 1
                    after = r.get("next") or 0
                    if not after:
                        break
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        return counts

    def import_user(self, path: str, user: Optional[str] = None) -> Dict[str, int]:
        """Read a file written by :meth:`export_user` and send its records in
        batches (each under USER_LINE_MAX bytes) as ``import-user`` commands,
        into ``user`` (default: the file's). Importing the same file twice
        adds nothing the second time. Returns the summed counts the daemon
        reports (memories, graph, turns, reminders, settings). Raises
        ValueError for a file that is not such an export (naming the line),
        AdminError when the daemon refuses a batch (the batches before it
        stay imported: importing again completes it)."""
        with open(path, encoding="utf-8") as f:
            lines = [ln for ln in f.read().splitlines() if ln.strip()]
        if not lines:
            raise ValueError(f"{path}: empty (no header line)")
        try:
            head = json.loads(lines[0])
        except ValueError as e:
            raise ValueError(f"{path}:1: not JSON ({e})") from None
        if not isinstance(head, dict) or head.get("type") != "header" or head.get("format") != self.USER_FORMAT:
            raise ValueError(f"{path}:1: not an aikid user export (header format {self.USER_FORMAT!r})")
        if head.get("version") != self.USER_VERSION:
            raise ValueError(f"{path}:1: version {head.get('version')!r}; this client reads {self.USER_VERSION}")
        target = user if user is not None else head.get("user")
        if not isinstance(target, str):
            raise ValueError(f"{path}:1: no user in the header (give one)")
        totals = {"memories": 0, "graph": 0, "turns": 0, "reminders": 0, "settings": 0}
        envelope = {"format": self.USER_FORMAT, "version": self.USER_VERSION, "user": target}
        base = len(json.dumps({**envelope, "records": []}, ensure_ascii=False).encode()) + len("import-user ") + 8
        # the graph's entities before its relations, as the file has them; a
        # batch never splits what one relation needs from an earlier batch
        batch: List[str] = []
        size = base

        def send() -> None:
            nonlocal batch, size
            if not batch:
                return
            line = ("import-user " + json.dumps(envelope, ensure_ascii=False)[:-1] + ', "records": [' +
                    ", ".join(batch) + "]}")
            r = self.command(line)
            if not r.get("ok"):
                raise AdminError(f"import-user: {r.get('error', r)}")
            for k in totals:
                totals[k] += int(r.get(k, 0))
            batch, size = [], base

        for no, ln in enumerate(lines[1:], start=2):
            try:
                rec = json.loads(ln)
            except ValueError as e:
                raise ValueError(f"{path}:{no}: not JSON ({e})") from None
            if not isinstance(rec, dict) or not isinstance(rec.get("type"), str):
                raise ValueError(f"{path}:{no}: not a record (an object with a type)")
            text = json.dumps(rec, ensure_ascii=False)
            n = len(text.encode()) + 2
            if base + n > self.USER_LINE_MAX:
                raise ValueError(f"{path}:{no}: a record of {n} bytes does not fit one admin line")
            if size + n > self.USER_LINE_MAX:
                send()
            batch.append(text)
            size += n
        send()
        return totals

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> "AdminClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
