"""AsyncClient: concurrency with replies out of order, errors, timeouts."""
from __future__ import annotations

import asyncio

import pytest

import aiki_bridge as ab
from conftest import err, ok


def run(coro):
    return asyncio.run(coro)


def test_concurrent_requests_answered_out_of_order(daemon_factory):
    held = []

    def handler(req):
        held.append(req)
        if len(held) < 3:
            return []
        # answer the three in reverse order
        return [ok(r, n=r["n"]) for r in reversed(held)]
    d = daemon_factory(handler)

    async def main():
        async with ab.AsyncClient(d.endpoint, timeout=3) as c:
            return await asyncio.gather(*(c.request("ping", n=i) for i in range(3)))
    replies = run(main())
    assert [r["n"] for r in replies] == [0, 1, 2]


def test_async_thin_methods_and_errors(daemon_factory):
    def handler(req):
        if req["op"] == "memory.get":
            return [err(req, "not_found", "memory 9 does not exist")]
        return [ok(req, op=req["op"])]
    d = daemon_factory(handler)

    async def main():
        async with ab.AsyncClient(d.endpoint, timeout=3) as c:
            assert (await c.ping())["op"] == "ping"
            assert (await c.embed(["a", "b"]))["op"] == "embed"
            with pytest.raises(ab.NotFound) as ei:
                await c.memory_get(9)
            return ei.value
    e = run(main())
    assert e.code == "not_found" and "memory 9" in e.message


def test_async_timeout_then_late_reply_dropped(daemon_factory):
    def handler(req):
        if req.get("slow"):
            return [0.3, ok(req, which="slow")]
        return [ok(req, which="fast")]
    d = daemon_factory(handler)

    async def main():
        async with ab.AsyncClient(d.endpoint, timeout=3) as c:
            with pytest.raises(ab.RequestTimeout):
                await c.request("ping", slow=True, timeout=0.1)
            await asyncio.sleep(0.4)  # the late reply arrives and must be dropped
            r = await c.request("ping")
            return r
    assert run(main())["which"] == "fast"


def test_async_idless_too_large_goes_to_the_largest(daemon_factory):
    held = []

    def handler(req):
        held.append(req)
        if len(held) < 2:
            return []
        small = next(r for r in held if r["text"] == "s")
        return [err(None, "too_large", "frame too large"), ok(small, fine=True)]
    d = daemon_factory(handler)

    async def main():
        async with ab.AsyncClient(d.endpoint, timeout=3) as c:
            small = asyncio.ensure_future(c.request("perceive", text="s"))
            await asyncio.sleep(0.05)
            big = asyncio.ensure_future(c.request("perceive", text="B" * 5000))
            return await asyncio.gather(small, big, return_exceptions=True)
    small, big = run(main())
    assert small["fine"] is True
    assert isinstance(big, ab.TooLarge)


def test_async_duplicate_request_id_refused(daemon_factory):
    d = daemon_factory(lambda req: [0.2, ok(req)])

    async def main():
        async with ab.AsyncClient(d.endpoint, timeout=3) as c:
            first = asyncio.ensure_future(c.request("ping", request_id="same"))
            await asyncio.sleep(0.02)
            with pytest.raises(ValueError):
                await c.request("ping", request_id="same")
            return await first
    assert run(main())["id"] == "same"
