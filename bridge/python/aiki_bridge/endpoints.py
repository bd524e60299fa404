"""Where aikid's sockets are by default.

The runtime folder is chosen in this order:

1. ``$AIKID_RUNTIME_DIR`` when set (the folder that holds the sockets);
2. ``$XDG_RUNTIME_DIR/aikid`` when ``XDG_RUNTIME_DIR`` is set;
3. ``/run/user/<uid>/aikid`` when ``/run/user/<uid>`` exists;
4. ``/tmp/aikid-<uid>`` otherwise.

If the socket is not in that folder but the system service's socket
``/run/aikid/<name>`` exists (aikid run by systemd, ``RuntimeDirectory=aikid``),
that one is used, so a member of the ``aikid`` group reaches the service with
no options.
"""
from __future__ import annotations

import os

SYSTEM_RUNTIME_DIR = "/run/aikid"


def runtime_dir() -> str:
    """The per-user runtime folder of aikid (see the module docstring)."""
    explicit = os.environ.get("AIKID_RUNTIME_DIR")
    if explicit:
        return explicit
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        return os.path.join(xdg, "aikid")
    uid = os.getuid()
    run_user = f"/run/user/{uid}"
    if os.path.isdir(run_user):
        return os.path.join(run_user, "aikid")
    return f"/tmp/aikid-{uid}"


def socket_path(name: str) -> str:
    """Path of the socket file ``name`` (e.g. ``"requests.sock"``)."""
    user = os.path.join(runtime_dir(), name)
    system = os.path.join(SYSTEM_RUNTIME_DIR, name)
    if not os.path.exists(user) and os.path.exists(system):
        return system
    return user


def default_requests() -> str:
    """ZeroMQ endpoint of the request (ROUTER) socket."""
    return os.environ.get("AIKID_REQUESTS") or "ipc://" + socket_path("requests.sock")


def default_thoughts() -> str:
    """ZeroMQ endpoint of the thought (PUB) socket."""
    return os.environ.get("AIKID_THOUGHTS") or "ipc://" + socket_path("thoughts.sock")


def default_admin() -> str:
    """Path of the admin Unix stream socket."""
    return os.environ.get("AIKID_ADMIN") or socket_path("admin.sock")
