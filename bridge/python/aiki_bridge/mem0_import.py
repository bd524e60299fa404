"""Bring an existing mem0 store into aikid: ``python -m aiki_bridge import-mem0``.

    python -m aiki_bridge import-mem0 --qdrant PATH|URL [--collection mem0]
        [--history history.db] [--api-key KEY] [--dry-run] [--limit N] [--jobs 4] [--json]
        [--progress|--no-progress]

Reads mem0's Qdrant collection (a local folder through qdrant-client's local
mode, or a Qdrant server's URL) and mem0's history SQLite, and adds each
memory through the daemon's ``memory.add`` with what mem0 kept of it:

* text (``data``), re-embedded by the daemon with aikid's model (mem0's
  vectors are not read: they belong to mem0's embedder);
* scope: ``user_id`` → aikid's user; ``agent_id``, ``run_id``, ``actor_id``,
  ``role`` and the rest of mem0's metadata → ``meta``;
* mem0's UUID → ``meta.mem0_id`` (aiki_bridge.Memory's get/update/delete/
  history take it, docs/mem0.md);
* ``created_at`` / ``updated_at`` → ``created`` / ``updated``, and the memory's
  history rows (ADD/UPDATE/DELETE) → ``history``; ``dedup: false``, so no
  two mem0 memories are merged however alike.

Idempotent and resumable: the memories already imported (their ``mem0_id``
listed by ``memory.list``) are skipped, so running it again after an
interruption imports the rest and a finished import imports nothing. Each add
is acknowledged after the daemon's sync; ``--jobs`` adds are in flight at once. ``--dry-run`` reads everything,
writes nothing and reports what an import would do. Needs qdrant-client
(``pip install 'aiki_bridge[import]'``).

Table of contents
  Mem0Memory, read_qdrant, read_history   the source: points and history rows
  iso_ms                                    mem0's ISO times as unix ms
  plan_memory                               one mem0 memory as a memory.add request
  imported_ids                              the mem0 UUIDs the daemon already holds
  Progress                                  the progress bar (stderr)
  run_import, add_all                       the command: report dict; raises ImportFailed
  main                                      argparse glue (cli.py calls it)
"""
from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Tuple

from .memory import MEM0_ID_KEY

# Payload keys that are mem0's own bookkeeping, not the memory's metadata.
MEM0_INTERNAL = {"data", "hash", "created_at", "updated_at", "text_lemmatized", "user_id"}
HISTORY_EVENTS = {"ADD": "add", "UPDATE": "update", "DELETE": "delete"}
MAX_HISTORY = 1000  # memory.add's history limit: the newest are kept


class ImportFailed(RuntimeError):
    """The source could not be read, or the daemon refused or cannot do the import."""


@dataclass
class Mem0Memory:
    id: str
    payload: Dict[str, Any]
    history: List[Dict[str, Any]] = field(default_factory=list)


def read_qdrant(source: str, collection: str, api_key: Optional[str] = None,
                batch: int = 256) -> List[Mem0Memory]:
    """Every point of mem0's collection (payload only).

    ``source``: a folder (qdrant-client's local mode, as mem0's ``path``) or
    an http(s) URL of a Qdrant server. Raises ImportFailed when qdrant-client
    is missing, the folder is held by another process (Qdrant's local mode
    locks it: stop the program that uses it), or the collection does not exist.
    """
    try:
        from qdrant_client import QdrantClient
    except ImportError:
        raise ImportFailed("qdrant-client is not installed: pip install 'aiki_bridge[import]'") from None
    try:
        if source.startswith(("http://", "https://")):
            q = QdrantClient(url=source, api_key=api_key)
        else:
            import os
            if not os.path.isdir(source):
                raise ImportFailed(f"{source}: not a folder (mem0's Qdrant path) or an http(s) URL")
            q = QdrantClient(path=source)
    except ImportFailed:
        raise
    except Exception as e:  # qdrant-client's own errors (a locked folder, a bad URL)
        raise ImportFailed(f"{source}: cannot open Qdrant: {e}") from None
    try:
        try:
            names = [c.name for c in q.get_collections().collections]
        except Exception as e:
            raise ImportFailed(f"{source}: cannot list collections: {e}") from None
        if collection not in names:
            raise ImportFailed(f"{source}: no collection {collection!r} (there are: {', '.join(names) or 'none'})")
        out: List[Mem0Memory] = []
        offset = None
        while True:
            points, offset = q.scroll(collection, limit=batch, offset=offset, with_payload=True,
                                      with_vectors=False)
            out += [Mem0Memory(str(p.id), dict(p.payload or {})) for p in points]
            if offset is None:
                return out
    finally:
        q.close()


def read_history(path: Optional[str]) -> Tuple[Dict[str, List[Dict[str, Any]]], int]:
    """mem0's history rows by memory id (oldest first), and the count of
    conversation messages mem0 2.x keeps in the same file (not imported).
    Raises ImportFailed for a file that is not mem0's history database."""
    if not path:
        return {}, 0
    import os
    if not os.path.isfile(path):
        raise ImportFailed(f"{path}: no such file (mem0's history_db_path)")
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = db.execute("SELECT memory_id, old_memory, new_memory, event, created_at, updated_at "
                              "FROM history ORDER BY created_at, updated_at").fetchall()
            try:
                messages = db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
            except sqlite3.Error:
                messages = 0  # mem0 1.x has no messages table
        finally:
            db.close()
    except sqlite3.Error as e:
        raise ImportFailed(f"{path}: not mem0's history database: {e}") from None
    by_id: Dict[str, List[Dict[str, Any]]] = {}
    for mid, old, new, event, created, updated in rows:
        by_id.setdefault(str(mid), []).append({"old": old, "new": new, "event": event,
                                               "created_at": created, "updated_at": updated})
    for evs in by_id.values():  # in the order they happened: the event's own time
        evs.sort(key=lambda e: iso_ms(e["updated_at"] or e["created_at"]) or 0)
    return by_id, messages


def iso_ms(t: Any) -> Optional[int]:
    """mem0's ISO-8601 time (a naive one is taken as UTC) as unix ms; None if unreadable."""
    if not isinstance(t, str) or not t:
        return None
    try:
        d = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        return None
    if d.tzinfo is None:
        d = d.replace(tzinfo=timezone.utc)
    return int(d.timestamp() * 1000)


def plan_memory(m: Mem0Memory, now_ms: int) -> Tuple[Optional[Dict[str, Any]], List[str]]:
    """The memory.add fields for one mem0 memory, and notes of what was adjusted.
    None when the point has no text (not a memory mem0 could show)."""
    notes: List[str] = []
    text = m.payload.get("data")
    if not isinstance(text, str) or not text.strip():
        return None, ["no text"]
    meta = {k: v for k, v in m.payload.items() if k not in MEM0_INTERNAL}
    meta[MEM0_ID_KEY] = m.id
    user = m.payload.get("user_id")
    created = iso_ms(m.payload.get("created_at"))
    updated = iso_ms(m.payload.get("updated_at"))
    if created is None:
        notes.append("created_at unreadable: the import's time")
        created = now_ms
    if updated is None or updated < created:
        updated = created
    hist = []
    for h in m.history:
        ev = HISTORY_EVENTS.get(str(h.get("event", "")).upper())
        at = iso_ms(h.get("updated_at") or h.get("created_at"))
        if ev is None or at is None:
            notes.append(f"history row {h.get('event')!r} skipped")
            continue
        hist.append({"event": ev, "old": h.get("old"), "new": h.get("new"), "at": at})
    if not hist:
        hist = [{"event": "add", "old": None, "new": text, "at": created}]
    if len(hist) > MAX_HISTORY:
        notes.append(f"history: the newest {MAX_HISTORY} of {len(hist)} events kept")
        hist = hist[-MAX_HISTORY:]
    fields: Dict[str, Any] = {"text": text, "meta": meta, "dedup": False, "created": created,
                              "updated": updated, "history": hist}
    if isinstance(user, str) and user:
        fields["user"] = user
    return fields, notes


def imported_ids(client: Any) -> Dict[str, int]:
    """mem0 UUID → aikid id of every memory the daemon holds that came from mem0."""
    out: Dict[str, int] = {}
    offset = 0
    while True:
        page = client.request("memory.list", limit=10000, offset=offset)
        ms = page.get("memories") or []
        for m in ms:
            mid = (m.get("meta") or {}).get(MEM0_ID_KEY)
            if isinstance(mid, str):
                out[mid] = int(m["id"])
        offset += len(ms)
        if len(ms) < 10000:
            return out


class Progress:
    """A one-line progress bar on stderr (``[#####     ] 120/500 memories``)."""

    def __init__(self, total: int, show: bool, width: int = 30) -> None:
        self.total, self.show, self.width = total, show, width
        self.t0 = time.monotonic()

    def update(self, done: int) -> None:
        if not self.show:
            return
        n = int(self.width * done / self.total) if self.total else self.width
        rate = done / max(1e-6, time.monotonic() - self.t0)
        sys.stderr.write(f"\r[{'#' * n}{' ' * (self.width - n)}] {done}/{self.total} memories "
                         f"({rate:.0f}/s)")
        sys.stderr.flush()

    def close(self) -> None:
        if self.show:
            sys.stderr.write("\n")
            sys.stderr.flush()


def run_import(client: Any, qdrant: str, collection: str = "mem0", history: Optional[str] = None,
               api_key: Optional[str] = None, dry_run: bool = False, progress: bool = False,
               limit: Optional[int] = None, jobs: int = 4) -> Dict[str, Any]:
    """Import (or with dry_run only count) mem0's memories; the report.

    ``limit``: import at most that many this run (the rest on the next one).
    ``jobs``: adds in flight at once, each on a clone of ``client`` (the
    daemon puts adds that arrive together into one transaction).
    Raises ImportFailed (source unreadable; a daemon whose memory.add does not
    keep ``created``: one older than these fields), or the AikidError of a
    refused add (the memories added before it stay: run it again).
    """
    if limit is not None and limit < 1:
        raise ImportFailed(f"--limit {limit}: must be at least 1")
    points = read_qdrant(qdrant, collection, api_key)
    hist, messages = read_history(history)
    have = {p.id for p in points}
    for p in points:
        p.history = hist.get(p.id, [])
    present = imported_ids(client)
    report: Dict[str, Any] = {
        "source": qdrant, "collection": collection, "history_db": history, "dry_run": dry_run,
        "memories": len(points), "already_imported": 0, "imported": 0, "skipped_no_text": 0,
        "users": {}, "agents": {}, "runs": {},
        "history_rows": sum(len(v) for v in hist.values()),
        "deleted_in_history_only": sum(1 for k in hist if k not in have),
        "messages_not_imported": messages, "notes": {}, "left": 0,
    }
    for p in points:
        for key, name in (("user_id", "users"), ("agent_id", "agents"), ("run_id", "runs")):
            v = p.payload.get(key)
            if v:
                report[name][str(v)] = report[name].get(str(v), 0) + 1
    todo = []
    now = int(time.time() * 1000)
    for p in points:
        if p.id in present:
            report["already_imported"] += 1
            continue
        fields, notes = plan_memory(p, now)
        for n in notes:
            report["notes"][n] = report["notes"].get(n, 0) + 1
        if fields is None:
            report["skipped_no_text"] += 1
            continue
        todo.append(fields)
    if limit is not None:
        report["left"] = max(0, len(todo) - limit)
        todo = todo[:limit]
    if dry_run:
        report["would_import"] = len(todo)
        return report
    if jobs < 1:
        raise ImportFailed(f"--jobs {jobs}: must be at least 1")
    bar = Progress(len(todo), progress)
    try:
        if todo:  # the first alone: is this daemon one that keeps `created`?
            reply = client.request("memory.add", **todo[0])
            check_kept(client, reply.get("memory_id"), todo[0])
            report["imported"] += 1
            bar.update(1)
        add_all(client, todo[1:], jobs, report, bar)
    finally:
        bar.close()
    return report


def add_all(client: Any, todo: List[Dict[str, Any]], jobs: int, report: Dict[str, Any],
            bar: Progress) -> None:
    """memory.add of each, ``jobs`` at a time; the first error is raised once the
    adds in flight are answered (those acknowledged stay imported)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor
    lock = threading.Lock()
    local = threading.local()
    clones: List[Any] = []
    failed: List[BaseException] = []

    def one(fields: Dict[str, Any]) -> None:
        if failed:
            return  # an add failed: start no more
        c = getattr(local, "client", None)
        if c is None:
            c = local.client = client.clone() if jobs > 1 else client
            with lock:
                clones.append(c)
        try:
            c.request("memory.add", **fields)
        except BaseException as e:  # handed to the caller below
            with lock:
                failed.append(e)
            return
        with lock:
            report["imported"] += 1
            bar.update(report["imported"])

    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            list(pool.map(one, todo))
    finally:
        for c in clones:
            if c is not client:
                c.close()
    if failed:
        raise failed[0]


def check_kept(client: Any, memory_id: Any, fields: Dict[str, Any]) -> None:
    """The first imported memory has mem0's created_at: else the daemon ignores
    memory.add's import fields (an older aikid) and the import stops."""
    got = client.request("memory.get", memory_id=memory_id).get("memory") or {}
    if got.get("created") != fields["created"]:
        client.request("memory.delete", memory_id=memory_id)
        raise ImportFailed("this aikid's memory.add does not keep `created` (an older daemon): nothing "
                           "imported; update aikid (memory.add's created/updated/dedup/history fields)")


def report_text(r: Dict[str, Any]) -> str:
    def counts(d: Dict[str, int]) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(d.items())) or "none"
    verb = "would import" if r["dry_run"] else "imported"
    n = r.get("would_import", r["imported"])
    lines = [f"mem0 store {r['source']} (collection {r['collection']}): {r['memories']} memories",
             f"  users: {counts(r['users'])}",
             f"  agents: {counts(r['agents'])}; runs: {counts(r['runs'])}",
             f"  history: {r['history_rows']} rows; {r['deleted_in_history_only']} deleted memories are only "
             f"in the history (not imported)",
             f"  already imported: {r['already_imported']}; {verb}: {n}; without text (skipped): "
             f"{r['skipped_no_text']}" + (f"; left for the next run: {r['left']}" if r["left"] else "")]
    if r["messages_not_imported"]:
        lines.append(f"  mem0's conversation messages: {r['messages_not_imported']} (not imported)")
    for note, k in sorted(r["notes"].items()):
        lines.append(f"  note: {note} ({k})")
    return "\n".join(lines)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--qdrant", required=True,
                   help="mem0's Qdrant: its local folder (mem0's vector_store path) or a server URL")
    p.add_argument("--collection", default="mem0", help="mem0's collection_name (default mem0)")
    p.add_argument("--history", default=None, help="mem0's history SQLite (history_db_path)")
    p.add_argument("--api-key", default=None, help="the Qdrant server's API key")
    p.add_argument("--dry-run", action="store_true", help="read and report; write nothing")
    p.add_argument("--limit", type=int, default=None, help="import at most N this run")
    p.add_argument("--jobs", type=int, default=4, help="adds in flight at once (default 4)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--progress", dest="progress", action="store_true", default=None,
                   help="show the progress bar (default: when stderr is a terminal)")
    g.add_argument("--no-progress", dest="progress", action="store_false")


def main(args: argparse.Namespace, client: Any) -> int:
    """Exit status: 0 done, 1 the daemon refused an add, 2 the source or daemon cannot do it."""
    from .errors import AikidError
    show = sys.stderr.isatty() if args.progress is None else args.progress
    try:
        r = run_import(client, args.qdrant, args.collection, args.history, args.api_key,
                       args.dry_run, show, args.limit, args.jobs)
    except ImportFailed as e:
        print(f"import-mem0: {e}", file=sys.stderr)
        return 2
    except AikidError as e:
        print(f"import-mem0: the daemon refused an add: {e} (the memories added before it are kept: "
              f"run the command again to go on)", file=sys.stderr)
        return 1
    print(json.dumps(r, ensure_ascii=False) if args.json else report_text(r))
    return 0


__all__ = ["ImportFailed", "Mem0Memory", "read_qdrant", "read_history", "plan_memory", "run_import",
           "imported_ids", "iso_ms"]
