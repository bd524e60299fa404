"""Client of aikid's admin socket: one text command a line, one JSON reply a line."""
from __future__ import annotations

import json
import socket
from typing import Any, Dict, Optional

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

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> "AdminClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
