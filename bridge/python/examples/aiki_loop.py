#!/usr/bin/env python3
"""The shape of AIKI's own bridge: subscribe, send what the user says, print the answer.

    python examples/aiki_loop.py [--user NAME] [--requests EP] [--thoughts EP]

Each line typed is sent as a percept; the streamed ``thought.token`` pieces are
printed as they come and the ``thought.final`` ends the turn (its source and
timings go to stderr). Reminders and reflections published meanwhile are
printed too. Ctrl-D leaves.
"""
from __future__ import annotations

import argparse
import asyncio
import sys

import aiki_bridge as ab


async def show_thoughts(sub: ab.AsyncSubscriber, turns: "dict[str, asyncio.Future]",
                        early: "dict[str, ab.Thought]") -> None:
    async for t in sub:
        if t.restart:
            print(f"\n[aikid restarted: {t.previous_boot_id} -> {t.boot_id}]", file=sys.stderr)
        if t.gap:
            print(f"\n[{t.gap} {t.topic} message(s) lost]", file=sys.stderr)
        if t.is_token:
            if t.percept_id in turns:
                print(t.text, end="", flush=True)
        elif t.is_final:
            fut = turns.pop(t.percept_id, None)
            if fut is None:
                if t.kind == "response" and t.percept_id:
                    early[t.percept_id] = t  # may be ours, published before our reply came
                    continue
                print(f"\n[{t.kind}] {t.text}")  # a reminder or a reflection
                continue
            print(f"\r{t.text}" if t.source != "llm" else "")
            print(f"  ({t.source}; {t.timings_ms.get('total', '?')} ms; "
                  f"memories {t.memories})", file=sys.stderr)
            if not fut.done():
                fut.set_result(t)


async def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--user", default="me")
    ap.add_argument("--requests", default=None)
    ap.add_argument("--thoughts", default=None)
    args = ap.parse_args()
    turns: "dict[str, asyncio.Future]" = {}
    early: "dict[str, ab.Thought]" = {}
    async with ab.AsyncClient(args.requests) as client, \
            ab.AsyncSubscriber(args.thoughts, ["thought.", "status"]) as sub:
        watcher = asyncio.ensure_future(show_thoughts(sub, turns, early))
        info = await client.ping()
        print(f"aikid {info.get('version')} (boot {info.get('boot_id')}); type, Ctrl-D to leave",
              file=sys.stderr)
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                break
            text = line.strip()
            if not text:
                continue
            try:
                reply = await client.perceive(text, user=args.user, source="chat")
            except ab.Busy:
                print("[busy, try again]", file=sys.stderr)
                continue
            fut = loop.create_future()
            done = early.pop(reply["percept_id"], None)
            if done is not None:
                print(done.text)
                continue
            early.clear()  # other clients' answers
            turns[reply["percept_id"]] = fut
            try:
                await asyncio.wait_for(fut, 30)
            except asyncio.TimeoutError:
                turns.pop(reply["percept_id"], None)
                print("[no answer within 30 s]", file=sys.stderr)
        watcher.cancel()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
