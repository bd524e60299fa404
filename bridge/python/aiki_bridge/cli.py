"""python -m aiki_bridge: talk to aikid from a shell.

    python -m aiki_bridge [--requests EP] [--thoughts EP] [--admin PATH] [--timeout S] CMD …

    ping                       send ping, print the reply
    perceive TEXT [--user U] [--source S] [--no-wait]
                               send a percept; print the reply, then the streamed
                               tokens and the thought.final with its percept_id
    listen [TOPIC …] [--count N]
                               print published messages as JSON lines (all topics by
                               default); gaps and restarts are reported on stderr
    request OP [JSON]          send any op with the fields of a JSON object
    admin CMD …                one admin command (as aikictl)
    import-mem0 --qdrant PATH|URL [--collection C] [--history DB] [--dry-run] [--limit N]
                               bring a mem0 store's memories (and history) into aikid
                               (aiki_bridge.mem0_import; needs aiki_bridge[import])

Exit status: 0 ok, 1 an error reply (or "ok": false from admin), 2 no reply /
unreachable / usage.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, Dict, List, Optional

from . import endpoints
from .client import Client
from .errors import AikidError, RequestTimeout
from .subscriber import Subscriber, Thought


def _print(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _report(thought: Thought, missed: int) -> None:
    print(f"[gap] {thought.topic}: {missed} message(s) lost before seq {thought.seq}",
          file=sys.stderr)


def _restart(thought: Thought, old: Optional[str]) -> None:
    print(f"[restart] aikid restarted: boot_id {old} -> {thought.boot_id}", file=sys.stderr)


def cmd_ping(args: argparse.Namespace) -> int:
    with Client(args.requests, timeout=args.timeout) as c:
        _print(c.ping())
    return 0


def cmd_request(args: argparse.Namespace) -> int:
    fields: Dict[str, Any] = {}
    if args.fields:
        fields = json.loads(args.fields)
        if not isinstance(fields, dict):
            print("request: JSON fields must be an object", file=sys.stderr)
            return 2
    with Client(args.requests, timeout=args.timeout) as c:
        _print(c.request(args.op, **fields))
    return 0


def cmd_perceive(args: argparse.Namespace) -> int:
    sub = None
    if not args.no_wait:
        sub = Subscriber(args.thoughts, ["thought.final", "thought.token"])
        time.sleep(0.2)  # let the SUB connect before the thought is published
    try:
        with Client(args.requests, timeout=args.timeout) as c:
            reply = c.perceive(" ".join(args.text), user=args.user, source=args.source)
        _print(reply)
        if sub is None:
            return 0
        pid = reply.get("percept_id")
        deadline = time.monotonic() + args.wait
        streamed = False
        while True:
            left = deadline - time.monotonic()
            t = sub.recv(timeout=left) if left > 0 else None
            if t is None:
                print(f"perceive: no thought.final for percept {pid} within {args.wait:g} s",
                      file=sys.stderr)
                return 2
            if t.percept_id != pid:
                continue
            if t.is_token:
                sys.stderr.write(t.text or "")
                sys.stderr.flush()
                streamed = True
                continue
            if streamed:
                sys.stderr.write("\n")
            _print(t.to_dict())
            return 0
    finally:
        if sub is not None:
            sub.close()


def cmd_listen(args: argparse.Namespace) -> int:
    n = 0
    with Subscriber(args.thoughts, args.topics or None, on_gap=_report,
                    on_restart=_restart) as sub:
        try:
            for t in sub:
                _print(t.to_dict())
                n += 1
                if args.count and n >= args.count:
                    break
        except KeyboardInterrupt:
            pass  # Ctrl-C is how one stops listening
    return 0


def cmd_import_mem0(args: argparse.Namespace) -> int:
    from .mem0_import import main as import_main
    with Client(args.requests, timeout=args.timeout) as c:
        return import_main(args, c)


def cmd_admin(args: argparse.Namespace) -> int:
    from .aikictl import run
    return run(args.admin or endpoints.default_admin(), args.words, timeout=args.timeout)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m aiki_bridge",
                                 description="talk to aikid over its sockets")
    ap.add_argument("--requests", default=None,
                    help="request endpoint (default ipc://$XDG_RUNTIME_DIR/aikid/requests.sock)")
    ap.add_argument("--thoughts", default=None,
                    help="thought endpoint (default ipc://$XDG_RUNTIME_DIR/aikid/thoughts.sock)")
    ap.add_argument("--admin", default=None,
                    help="admin socket (default $XDG_RUNTIME_DIR/aikid/admin.sock)")
    ap.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for a reply")
    sp = ap.add_subparsers(dest="cmd", required=True)
    sp.add_parser("ping", help="ping the daemon").set_defaults(fn=cmd_ping)
    p = sp.add_parser("perceive", help="send a percept and print its thought")
    p.add_argument("text", nargs="+")
    p.add_argument("--user", default=None)
    p.add_argument("--source", default=None)
    p.add_argument("--no-wait", action="store_true", help="do not wait for the thought")
    p.add_argument("--wait", type=float, default=30.0, help="seconds to wait for the thought")
    p.set_defaults(fn=cmd_perceive)
    p = sp.add_parser("listen", help="print published thoughts")
    p.add_argument("topics", nargs="*", help="topic prefixes (default: all)")
    p.add_argument("--count", type=int, default=0, help="stop after N messages")
    p.set_defaults(fn=cmd_listen)
    p = sp.add_parser("request", help="send any op")
    p.add_argument("op")
    p.add_argument("fields", nargs="?", default=None, help="a JSON object of fields")
    p.set_defaults(fn=cmd_request)
    p = sp.add_parser("admin", help="one admin command")
    p.add_argument("words", nargs=argparse.REMAINDER)
    p.set_defaults(fn=cmd_admin)
    from .mem0_import import add_arguments
    p = sp.add_parser("import-mem0", help="import a mem0 store (Qdrant + history SQLite)")
    add_arguments(p)
    p.set_defaults(fn=cmd_import_mem0)
    return ap


def main(argv: Optional[List[str]] = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.fn(args)
    except AikidError as e:
        _print({"ok": False, "error": {"code": e.code, "message": e.message}})
        return 1
    except RequestTimeout as e:
        print(f"aiki_bridge: {e}", file=sys.stderr)
        return 2
    except ValueError as e:  # bad JSON on the command line
        print(f"aiki_bridge: {e}", file=sys.stderr)
        return 2
