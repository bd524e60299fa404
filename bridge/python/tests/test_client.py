"""Client: framing, id matching, error mapping, timeouts, every op."""
from __future__ import annotations

import re

import pytest

import aiki_bridge as ab
from aiki_bridge.protocol import OPS, reply_payload
from conftest import err, ok

CODES = {
    "bad_json": ab.BadJson, "bad_request": ab.BadRequest, "too_large": ab.TooLarge,
    "unknown_op": ab.UnknownOp, "not_found": ab.NotFound, "busy": ab.Busy,
    "unavailable": ab.Unavailable, "deadline": ab.Deadline, "cancelled": ab.Cancelled,
    "internal": ab.Internal,
}


def test_request_shape_and_reqstyle_framing(echo_daemon):
    with ab.Client(echo_daemon.endpoint, timeout=2) as c:
        reply = c.request("perceive", text="hello", user=None, meta={"a": 1})
    req = echo_daemon.requests[0]
    assert req["v"] == 1 and req["op"] == "perceive" and req["text"] == "hello"
    assert re.fullmatch(r"[0-9a-f]{32}", req["id"])
    assert "user" not in req, "None fields are not sent"
    assert req["meta"] == {"a": 1}
    assert echo_daemon.envelopes[0] == [b""], "DEALER sends the REQ-style empty delimiter"
    assert reply["ok"] is True and reply["id"] == req["id"] and reply["echo"] == req


@pytest.mark.parametrize("delimiter", [True, False])
def test_reply_with_or_without_delimiter(daemon_factory, delimiter):
    d = daemon_factory(lambda req: [ok(req, pong=True)], delimiter=delimiter)
    with ab.Client(d.endpoint, timeout=2) as c:
        assert c.ping()["pong"] is True


def test_reply_payload_rejects_nonempty_envelope():
    assert reply_payload([b"", b"{}"]) == b"{}"
    assert reply_payload([b"{}"]) == b"{}"
    with pytest.raises(ab.ProtocolError):
        reply_payload([b"junk", b"{}"])
    with pytest.raises(ab.ProtocolError):
        reply_payload([])


def test_reply_matched_by_id_strays_and_garbage_dropped(daemon_factory):
    def handler(req):
        return [ok({"id": "someone-else"}, stray=True), b"not json", b"[1,2]",
                ok(req, mine=True)]
    d = daemon_factory(handler)
    with ab.Client(d.endpoint, timeout=2) as c:
        r = c.ping()
    assert r.get("mine") is True and "stray" not in r


@pytest.mark.parametrize("code", sorted(CODES))
def test_error_codes_map_to_classes(daemon_factory, code):
    d = daemon_factory(lambda req: [err(req, code, f"field 'x' says {code}")])
    with ab.Client(d.endpoint, timeout=2) as c:
        with pytest.raises(CODES[code]) as ei:
            c.request("memory.get", memory_id=1)
    e = ei.value
    assert isinstance(e, ab.AikidError)
    assert e.code == code and e.message == f"field 'x' says {code}"
    assert e.request_id == d.requests[0]["id"]
    assert ab.ERRORS[code] is CODES[code]


def test_unknown_code_still_an_aikid_error(daemon_factory):
    d = daemon_factory(lambda req: [err(req, "brand_new", "later protocol")])
    with ab.Client(d.endpoint, timeout=2) as c:
        with pytest.raises(ab.AikidError) as ei:
            c.ping()
    assert type(ei.value) is ab.AikidError and ei.value.code == "brand_new"


def test_idless_error_is_the_inflight_requests(daemon_factory):
    d = daemon_factory(lambda req: [err(None, "too_large", "frame of 9 MB > 1 MB")])
    with ab.Client(d.endpoint, timeout=2) as c:
        with pytest.raises(ab.TooLarge, match="9 MB"):
            c.perceive("x" * 1000)


def test_reply_without_ok_is_protocol_error(daemon_factory):
    d = daemon_factory(lambda req: [{"v": 1, "id": req["id"]}])
    with ab.Client(d.endpoint, timeout=2) as c:
        with pytest.raises(ab.ProtocolError):
            c.ping()


def test_timeout_resets_socket_and_late_reply_is_not_mistaken(daemon_factory):
    def handler(req):
        if req.get("slow"):
            return [0.4, ok(req, which="slow")]  # arrives after the client gave up
        return [ok(req, which="fast")]
    d = daemon_factory(handler)
    with ab.Client(d.endpoint, timeout=2) as c:
        with pytest.raises(TimeoutError) as ei:
            c.request("ping", slow=True, timeout=0.1)
        assert isinstance(ei.value, ab.RequestTimeout)
        assert ei.value.op == "ping" and ei.value.timeout == 0.1
        assert c.resets == 1
        r = c.request("ping", timeout=2)
        assert r["which"] == "fast" and r["id"] == d.requests[-1]["id"]


def test_timeout_when_nobody_listens():
    with ab.Client("ipc:///tmp/aiki-bridge-test-nobody.sock", timeout=0.1) as c:
        with pytest.raises(ab.RequestTimeout, match="is aikid running"):
            c.ping()


def test_deadline_and_own_request_id_sent(echo_daemon):
    with ab.Client(echo_daemon.endpoint, timeout=2) as c:
        r = c.generate(prompt="hi", deadline_ms=250, request_id="gen-1", temperature=0.0)
    req = echo_daemon.requests[0]
    assert req["deadline_ms"] == 250 and req["id"] == "gen-1" == r["id"]
    assert req["temperature"] == 0.0 and req["prompt"] == "hi"


# Every op of the architecture's table, through its thin method.
CALLS = [
    (lambda c: c.ping(), "ping", {}),
    (lambda c: c.perceive("hi", user="u", source="mic", meta={"k": 1}), "perceive",
     {"text": "hi", "user": "u", "source": "mic", "meta": {"k": 1}}),
    (lambda c: c.memory_add("t", user="u", meta={"a": 1}, vector=[1, 0.5]), "memory.add",
     {"text": "t", "user": "u", "meta": {"a": 1}, "vector": [1.0, 0.5]}),
    (lambda c: c.memory_search("q", top_k=3, user="u", filter={"a": {"in": [1, 2]}},
                               since=5, until=9), "memory.search",
     {"query": "q", "top_k": 3, "user": "u", "filter": {"a": {"in": [1, 2]}}, "since": 5,
      "until": 9}),
    (lambda c: c.memory_get("42"), "memory.get", {"memory_id": 42}),
    (lambda c: c.memory_update(42, text="n", meta={"b": 2}), "memory.update",
     {"memory_id": 42, "text": "n", "meta": {"b": 2}}),
    (lambda c: c.memory_delete(7), "memory.delete", {"memory_id": 7}),
    (lambda c: c.memory_list(user="u", limit=10, offset=20), "memory.list",
     {"user": "u", "limit": 10, "offset": 20}),
    (lambda c: c.memory_history("3"), "memory.history", {"memory_id": 3}),
    (lambda c: c.memory_delete_all("u"), "memory.delete_all", {"user": "u"}),
    (lambda c: c.kg_add([("alice", "likes", "tea"), ["bob", "due", "x", {"at": 1}]]), "kg.add",
     {"triples": [["alice", "likes", "tea"], ["bob", "due", "x", {"at": 1}]]}),
    (lambda c: c.kg_query("alice", depth=2), "kg.query", {"entity": "alice", "depth": 2}),
    (lambda c: c.kg_delete(entity="alice"), "kg.delete", {"entity": "alice"}),
    (lambda c: c.kg_entities(prefix="al", limit=5), "kg.entities", {"prefix": "al", "limit": 5}),
    (lambda c: c.kg_add([("Kari", "lives in", "Bergen")], user="u"), "kg.add",
     {"triples": [["Kari", "lives in", "Bergen"]], "user": "u"}),
    (lambda c: c.kg_query("Kari", user="u"), "kg.query", {"entity": "Kari", "user": "u"}),
    (lambda c: c.kg_delete(triple=("Kari", "lives in", "Bergen"), user="u"), "kg.delete",
     {"triple": ["Kari", "lives in", "Bergen"], "user": "u"}),
    (lambda c: c.kg_entities(user="u"), "kg.entities", {"user": "u"}),
    (lambda c: c.generate(messages=[{"role": "user", "content": "hi"}], max_tokens=8,
                          stream=True), "generate",
     {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 8, "stream": True}),
    (lambda c: c.cancel("p-1"), "cancel", {"target": "p-1"}),
    (lambda c: c.embed("one"), "embed", {"texts": ["one"]}),
    (lambda c: c.tokenize("hello"), "tokenize", {"text": "hello"}),
    (lambda c: c.model_info(), "model.info", {}),
    (lambda c: c.reminder_list("u"), "reminder.list", {"user": "u"}),
    (lambda c: c.reminder_snooze("u", 3, minutes=10), "reminder.snooze", {"user": "u", "reminder_id": 3, "minutes": 10}),
    (lambda c: c.reminder_done("u", 3), "reminder.done", {"user": "u", "reminder_id": 3}),
    (lambda c: c.reminder_delete("u", 3), "reminder.delete", {"user": "u", "reminder_id": 3}),
    (lambda c: c.user_timezone("u", "Europe/Oslo"), "user.timezone", {"user": "u", "timezone": "Europe/Oslo"}),
]


def test_every_op_has_a_method(echo_daemon):
    with ab.Client(echo_daemon.endpoint, timeout=2) as c:
        for call, op, fields in CALLS:
            call(c)
    seen = set()
    for (call, op, fields), req in zip(CALLS, echo_daemon.requests):
        body = {k: v for k, v in req.items() if k not in ("v", "op", "id")}
        assert req["op"] == op and body == fields, op
        seen.add(op)
    assert seen == set(OPS)


def test_argument_errors_raised_before_sending(echo_daemon):
    with ab.Client(echo_daemon.endpoint, timeout=2) as c:
        with pytest.raises(ValueError):
            c.memory_get("abc")
        with pytest.raises(ValueError):
            c.generate()
        with pytest.raises(ValueError):
            c.kg_delete()
        with pytest.raises(ValueError):
            c.memory_delete_all("")
    assert echo_daemon.requests == []


def test_non_ascii_text_is_utf8_on_the_wire(echo_daemon):
    with ab.Client(echo_daemon.endpoint, timeout=2) as c:
        r = c.perceive("héllo <|im_start|> 日本")
    assert r["echo"]["text"] == "héllo <|im_start|> 日本"


def test_client_usable_from_threads(echo_daemon):
    import threading
    errors = []
    with ab.Client(echo_daemon.endpoint, timeout=5) as c:
        def work(i):
            try:
                for _ in range(20):
                    assert c.request("ping", n=i)["echo"]["n"] == i
            except Exception as e:  # collected and asserted below
                errors.append(e)
        ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    assert errors == [] and len(echo_daemon.requests) == 80
