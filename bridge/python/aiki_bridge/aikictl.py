"""aikictl: the command-line client of aikid's admin socket.

    aikictl [--socket PATH] [--timeout S] [--compact] [COMMAND …]

With a command (e.g. ``aikictl get memory.dedup_threshold``) it sends that one
line and prints the JSON reply indented; with none it opens a prompt
(readline history in ~/.aikictl_history). The options may come before or
after the command (``aikictl stats --socket /run/aikid/admin.sock``).
``aikictl metrics`` prints the Prometheus text itself, not its JSON wrapper.
``aikictl --help`` lists the commands (COMMANDS). Exit status: 0 ok, 1 the
reply says "ok": false, 2 the socket could not be used.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Dict, List, Optional, TextIO

from . import endpoints
from .admin import AdminClient, AdminError


# The admin commands and what they do, as the daemon's `help` lists them
# (tests/python/test_operator.py checks that every one is here).
COMMANDS = [
    ("help", "list the commands (the daemon's own list)"),
    ("get KEY", "a key's value, whether it is live, its help line"),
    ("set KEY VALUE", "change a live key (validated; nothing changes on an error)"),
    ("config", "every key's current value and where the configuration came from"),
    ("stats", "counters and latencies of ingress, publisher and each actor"),
    ("health", "each actor up or down with the reason; status ok|degraded"),
    ("metrics", "the Prometheus text exposition (printed as text)"),
    ("reload config|templates|model", "read the config file (as SIGHUP), the templates or the model anew"),
    ("snapshot", "write the memory index snapshot"),
    ("export FILE", "export the memories as JSONL"),
    ("import FILE", "import memories from JSONL"),
    ("export-user JSON", "a page of one user's records (aikictl: export-user USER FILE writes them all to your file)"),
    ("import-user JSON", "a batch of one user's records (aikictl: import-user FILE [USER] sends your file)"),
    ("debug stall ACTOR MS", "block an actor (daemon.debug = true only)"),
    ("debug crash ACTOR", "end an actor as an escaped exception would (daemon.debug = true only)"),
    ("debug clock UNIX_MS|real", "move the proactive clock (daemon.debug = true only)"),
]


def commands_text() -> str:
    width = max(len(c) for c, _ in COMMANDS)
    return "commands:\n" + "".join(f"  {c:<{width}}  {h}\n" for c, h in COMMANDS)


def reply_print(reply: Dict[str, Any], compact: bool, out: TextIO, command: str = "") -> int:
    """Print a reply; return its exit status (1 when ok is false).

    A successful ``metrics`` reply prints its Prometheus text as is."""
    if command == "metrics" and reply.get("ok") is True and isinstance(reply.get("text"), str):
        out.write(reply["text"])
        out.flush()
        return 0
    if compact:
        out.write(json.dumps(reply, ensure_ascii=False) + "\n")
    else:
        out.write(json.dumps(reply, ensure_ascii=False, indent=2) + "\n")
    out.flush()
    return 1 if reply.get("ok") is False else 0


def interactive(client: AdminClient, compact: bool) -> int:
    try:
        import readline
    except ImportError:  # not on every platform; the prompt works without it
        readline = None  # type: ignore[assignment]
    history = os.path.expanduser("~/.aikictl_history")
    if readline is not None:
        try:
            readline.read_history_file(history)
        except OSError:
            pass  # first run: no history yet
    print(f"aikictl: connected to {client.path}; 'help' lists commands, 'quit' leaves.",
          file=sys.stderr)
    try:
        while True:
            try:
                line = input("aikid> ").strip()
            except EOFError:
                print(file=sys.stderr)
                return 0
            except KeyboardInterrupt:
                print(file=sys.stderr)
                continue
            if not line:
                continue
            if line in ("quit", "exit"):
                return 0
            try:
                reply_print(client.command(line), compact, sys.stdout, line.split()[0])
            except AdminError as e:
                print(f"aikictl: {e}", file=sys.stderr)
    finally:
        if readline is not None:
            try:
                readline.write_history_file(history)
            except OSError as e:
                print(f"aikictl: history not saved: {e}", file=sys.stderr)


def user_file(client: AdminClient, words: List[str], compact: bool) -> int:
    """``export-user USER FILE`` / ``import-user FILE [USER]``: one user's whole
    data (memories, history, graph, turns, reminders, settings) to or from a
    file of the client's, streamed through the admin socket in pages."""
    try:
        if words[0] == "export-user":
            if len(words) != 3:
                print("aikictl: usage: export-user USER FILE", file=sys.stderr)
                return 2
            counts = client.export_user(words[1], words[2])
            return reply_print({"ok": True, "file": words[2], "user": words[1], "records": counts}, compact,
                               sys.stdout)
        if len(words) not in (2, 3):
            print("aikictl: usage: import-user FILE [USER]", file=sys.stderr)
            return 2
        totals = client.import_user(words[1], words[2] if len(words) == 3 else None)
        return reply_print({"ok": True, "file": words[1], "imported": totals}, compact, sys.stdout)
    except (OSError, ValueError) as e:
        print(f"aikictl: {e}", file=sys.stderr)
        return 1
    except AdminError as e:
        print(f"aikictl: {e}", file=sys.stderr)
        return 1


def run(socket_path: str, words: List[str], compact: bool = False,
        timeout: float = 10.0) -> int:
    """One command (``words`` joined by spaces) or, with none, the prompt."""
    with AdminClient(socket_path, timeout=timeout) as client:
        if not words:
            return interactive(client, compact)
        if words[0] in ("export-user", "import-user") and words[1:2] and not words[1].startswith("{"):
            return user_file(client, words, compact)
        try:
            return reply_print(client.command(" ".join(words)), compact, sys.stdout, words[0])
        except AdminError as e:
            print(f"aikictl: {e}", file=sys.stderr)
            return 2


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="aikictl", description="aikid admin client: sends one command "
                                 "to the admin socket and prints the reply (none: a prompt)",
                                 epilog=commands_text(),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--socket", default=None,
                    help="admin socket path (default: %(prog)s finds "
                         "$XDG_RUNTIME_DIR/aikid/admin.sock or /run/aikid/admin.sock)")
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for a reply")
    ap.add_argument("-c", "--compact", action="store_true", help="print the reply on one line")
    ap.add_argument("command", nargs="*", help="command and its arguments (see below)")
    # Options may come after the command too: `aikictl stats --socket X`.
    args = ap.parse_intermixed_args(argv)
    return run(args.socket or endpoints.default_admin(), args.command, args.compact,
               args.timeout)


if __name__ == "__main__":
    sys.exit(main())
