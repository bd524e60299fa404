#!/usr/bin/env python3
"""The shape of AIKI's own bridge: subscribe, send what the user says, print the answer.

    python examples/aiki_loop.py [--user NAME] [--source S] [--wait S]
                                 [--requests EP] [--thoughts EP]

Each line typed on stdin is sent as a percept. The answer is printed as it
arrives: the model's ``thought.token`` pieces for that percept id one after
the other, then the ``thought.final`` (a template answer comes whole); the
final's source and per-stage timings go to stderr. Reminders and reflections
published meanwhile are printed as they come, and so are lost messages (a gap
in ``seq``) and daemon restarts. Ctrl-D (end of input) leaves after the last
answer.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Dict, List, Optional

import aiki_bridge as ab

EARLY_MAX = 256  # events kept for percept ids whose perceive reply has not come yet


class Turns:
    """Routes typed events to the turn (percept id) they belong to.

    A percept's pieces and even its final may arrive before the perceive
    reply that tells us its id, so events for unknown percept ids are kept
    (a bounded number) and replayed when the turn is opened.
    """

    def __init__(self) -> None:
        self.queues: Dict[str, "asyncio.Queue[ab.ThoughtEvent]"] = {}
        self.early: Dict[str, List[ab.ThoughtEvent]] = {}

    def open(self, percept_id: str) -> "asyncio.Queue[ab.ThoughtEvent]":
        q: "asyncio.Queue[ab.ThoughtEvent]" = asyncio.Queue()
        for ev in self.early.pop(percept_id, []):
            q.put_nowait(ev)
        self.queues[percept_id] = q
        return q

    def close(self, percept_id: str) -> None:
        self.queues.pop(percept_id, None)

    def route(self, ev: ab.ThoughtEvent) -> bool:
        """True when ``ev`` belongs to a turn (now or possibly later)."""
        pid = getattr(ev, "percept_id", None)
        if pid is None or not isinstance(ev, (ab.TokenThought, ab.FinalThought)):
            return False
        if isinstance(ev, ab.FinalThought) and ev.kind != "response":
            return False  # reminders and reflections are printed by the watcher
        q = self.queues.get(pid)
        if q is not None:
            q.put_nowait(ev)
            return True
        if len(self.early) >= EARLY_MAX:
            self.early.pop(next(iter(self.early)))
        self.early.setdefault(pid, []).append(ev)
        return True


async def watch(thoughts: ab.AsyncThoughts, turns: Turns) -> None:
    """Reads every published event; hands answers to their turn, prints the rest."""
    async for ev in thoughts:
        if isinstance(ev, ab.Restart):
            print(f"\n[aikid restarted: {ev.previous_boot_id} -> {ev.boot_id}]", file=sys.stderr)
        elif isinstance(ev, ab.Gap):
            print(f"\n[{ev.missed} {ev.topic} message(s) lost]", file=sys.stderr)
        elif turns.route(ev):
            pass
        elif isinstance(ev, ab.FinalThought) and ev.kind in ("reminder", "reflection"):
            print(f"\n[{ev.kind}] {ev.text}", flush=True)
        elif isinstance(ev, ab.StatusEvent):
            print(f"\n[status] {ev.status or ''} {ev.message or ev.body}", file=sys.stderr)


def timings_line(final: ab.FinalThought) -> str:
    stages = " ".join(f"{k}={v:.1f}" for k, v in final.timings_ms.items()
                      if k != "total" and isinstance(v, (int, float)))
    total = final.timings_ms.get("total")
    total_s = f"{total:.1f} ms" if isinstance(total, (int, float)) else "?"
    err = f"; error {final.error}" if final.error else ""
    return f"  ({final.source}; total {total_s}: {stages}; memories {final.memories}{err})"


async def answer(q: "asyncio.Queue[ab.ThoughtEvent]", wait: float) -> Optional[ab.FinalThought]:
    """Prints the turn's pieces as they come and returns its final (None after ``wait`` s)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    streamed = False
    while True:
        try:
            ev = await asyncio.wait_for(q.get(), max(0.0, deadline - loop.time()))
        except asyncio.TimeoutError:
            return None
        if isinstance(ev, ab.TokenThought):
            print(ev.text, end="", flush=True)
            streamed = True
        elif isinstance(ev, ab.FinalThought):
            # the final text equals the pieces put together; print it only if none came
            print("" if streamed else ev.text, flush=True)
            return ev


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--user", default="me")
    ap.add_argument("--source", default="chat")
    ap.add_argument("--wait", type=float, default=60.0, help="seconds to wait for an answer")
    ap.add_argument("--requests", default=None, help="request endpoint (default: aikid's)")
    ap.add_argument("--thoughts", default=None, help="thought endpoint (default: aikid's)")
    args = ap.parse_args()
    turns = Turns()
    async with ab.AsyncClient(args.requests, timeout=10) as client, \
            ab.AsyncThoughts(args.thoughts, ["thought.", "status"]) as thoughts:
        watcher = asyncio.ensure_future(watch(thoughts, turns))
        info = await client.ping()
        print(f"aikid {info.get('version')} (boot {info.get('boot_id')}); type, Ctrl-D to leave",
              file=sys.stderr)
        await asyncio.sleep(0.2)  # let the SUB connection come up before the first percept
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                break
            text = line.strip()
            if not text:
                continue
            try:
                reply = await client.perceive(text, user=args.user, source=args.source)
            except ab.Busy:
                print("[busy, try again]", file=sys.stderr)
                continue
            except ab.AikidError as e:
                print(f"[{e.code}: {e.message}]", file=sys.stderr)
                continue
            if reply.get("duplicate"):
                print("[said just now; no new answer]", file=sys.stderr)
                continue
            pid = reply["percept_id"]
            q = turns.open(pid)
            final = await answer(q, args.wait)
            turns.close(pid)
            if final is None:
                print(f"\n[no answer within {args.wait:g} s]", file=sys.stderr)
            else:
                print(timings_line(final), file=sys.stderr, flush=True)
        watcher.cancel()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
