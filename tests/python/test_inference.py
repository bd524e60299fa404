"""generate over the wire: sampling fields, stop strings, streaming, cancel,
prompt-cache reuse counts and schema-constrained JSON, against the real daemon
and model (SmolLM2-135M)."""
from __future__ import annotations

import json
import time

import zmq

CHAT = [{"role": "user", "content": "Write a short story about a dog."}]


def gen(daemon, timeout=120.0, **fields):
    r = daemon.request({"op": "generate", **fields}, timeout=timeout)
    assert r["ok"], r
    return r


def subscribe(daemon, topic=b"thought.token"):
    s = zmq.Context.instance().socket(zmq.SUB)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.SUBSCRIBE, topic)
    s.connect(daemon.thoughts)
    time.sleep(0.3)  # slow joiner
    return s


def tokens_for(s, request_id, until, timeout=60.0):
    """Pieces of `request_id` until `until()` is true and nothing more arrives."""
    pieces = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not s.poll(300):
            if until():
                break
            continue
        topic, body = s.recv_multipart()
        b = json.loads(body)
        if b.get("request_id") == request_id:
            pieces[b["index"]] = b["text"]
    return [pieces[i] for i in sorted(pieces)]


def test_greedy_is_deterministic_and_max_tokens_is_honoured(daemon):
    a = gen(daemon, messages=CHAT, temperature=0, max_tokens=12)
    b = gen(daemon, messages=CHAT, temperature=0, max_tokens=12)
    assert a["text"] == b["text"] and a["tokens"] == b["tokens"]
    assert len(a["tokens"]) == 12 and a["finish_reason"] == "length"
    c = gen(daemon, messages=CHAT, temperature=0, max_tokens=3)
    assert c["tokens"] == a["tokens"][:3]


def test_seed_reproduces_and_temperature_matters(daemon):
    f = dict(messages=CHAT, temperature=1.5, top_k=0, top_p=1.0, min_p=0.0, max_tokens=12)
    a = gen(daemon, seed=7, **f)
    b = gen(daemon, seed=7, **f)
    assert a["tokens"] == b["tokens"] and a["seed"] == 7
    others = [gen(daemon, seed=s, **f)["tokens"] for s in (8, 9, 10)]
    assert any(o != a["tokens"] for o in others)
    greedy = gen(daemon, messages=CHAT, temperature=0, max_tokens=12)["tokens"]
    assert any(t != greedy for t in [a["tokens"], *others])


def test_sampling_fields_reach_the_sampler(daemon):
    base = gen(daemon, messages=CHAT, temperature=0, max_tokens=16)["tokens"]
    # a huge presence penalty forbids repeating any generated token
    p = gen(daemon, messages=CHAT, temperature=0, max_tokens=16, presence_penalty=50.0, penalty_last_n=64)["tokens"]
    assert len(set(p)) == len(p)
    r = gen(daemon, messages=CHAT, temperature=0, max_tokens=16, repeat_penalty=100.0)["tokens"]
    assert len(set(r)) == len(r)
    # top_k=1 at a high temperature is greedy
    k = gen(daemon, messages=CHAT, temperature=5.0, top_k=1, seed=3, max_tokens=16)["tokens"]
    assert k == base
    # min_p=1 keeps only the most likely token: greedy too
    m = gen(daemon, messages=CHAT, temperature=5.0, top_k=0, top_p=1.0, min_p=1.0, seed=3, max_tokens=16)["tokens"]
    assert m == base
    # top_p tiny keeps one token
    t = gen(daemon, messages=CHAT, temperature=5.0, top_k=0, top_p=0.0001, min_p=0.0, seed=3, max_tokens=16)["tokens"]
    assert t == base


def test_bad_sampling_fields_name_the_field(daemon):
    for field, value in (("top_p", 2), ("temperature", -1), ("top_k", "x"), ("stop", 5), ("schema", 3),
                         ("seed", 1 << 40)):
        r = daemon.request({"op": "generate", "prompt": "hi", field: value})
        assert not r["ok"] and r["error"]["code"] == "bad_request", (field, r)
        assert field in r["error"]["message"], r
    r = daemon.request({"op": "generate", "prompt": "hi", "schema": {"type": "wat"}})
    assert r["error"]["code"] == "bad_request" and "schema" in r["error"]["message"]


def test_stop_string_across_token_boundaries(daemon):
    full = gen(daemon, messages=CHAT, temperature=0, max_tokens=24)
    toks, text = full["tokens"], full["text"]
    # a stop string made of the end of token 4 and the start of token 5
    r = daemon.request({"op": "tokenize", "text": text})
    assert r["ok"]
    head = gen(daemon, messages=CHAT, temperature=0, max_tokens=4)["text"]
    assert text.startswith(head) and len(text) > len(head) + 2
    stop = head[-2:] + text[len(head):len(head) + 2]
    assert stop in text
    cut = gen(daemon, messages=CHAT, temperature=0, max_tokens=24, stop=[stop, "zzzz-never"])
    assert cut["text"] == text[:text.index(stop)]
    assert cut["finish_reason"] == "stop"


def test_a_stream_reassembles_to_the_final_text(daemon):
    s = subscribe(daemon)
    try:
        sock = daemon.dealer()
        req = {"v": 1, "op": "generate", "id": "stream-1", "messages": CHAT, "temperature": 0.9, "seed": 5,
               "max_tokens": 24, "stream": True, "stop": ["\n\n"]}
        sock.send_multipart([b"", json.dumps(req).encode()])
        assert sock.poll(120000)
        reply = json.loads(sock.recv_multipart()[-1])
        sock.close()
        assert reply["ok"], reply
        pieces = tokens_for(s, "stream-1", until=lambda: True)
        assert "".join(pieces) == reply["text"]
        for p in pieces:
            p.encode("utf-8")  # each piece is whole characters
    finally:
        s.close()


def test_cancel_stops_a_generation(daemon):
    sock = daemon.dealer()
    try:
        req = {"v": 1, "op": "generate", "id": "long-1", "messages": CHAT, "temperature": 0, "max_tokens": 2000}
        sock.send_multipart([b"", json.dumps(req).encode()])
        time.sleep(1.0)
        t0 = time.monotonic()
        c = daemon.request({"op": "cancel", "target": "long-1"})
        assert c["ok"] and c["cancelled"] is True
        assert sock.poll(30000)
        reply = json.loads(sock.recv_multipart()[-1])
        assert not reply["ok"] and reply["error"]["code"] == "cancelled"
        assert time.monotonic() - t0 < 10
    finally:
        sock.close()


def test_a_shared_200_token_prefix_is_reused(daemon):
    shared = "Notes:" + " apple" * 198
    n = daemon.request({"op": "tokenize", "text": shared})["tokens"]
    a_text, b_text = shared + " banana split recipe", shared + " cherry pie recipe"
    ta = daemon.request({"op": "tokenize", "text": a_text})["tokens"]
    tb = daemon.request({"op": "tokenize", "text": b_text})["tokens"]
    lcp = 0
    while lcp < min(len(ta), len(tb)) and ta[lcp] == tb[lcp]:
        lcp += 1
    assert len(n) == 200 and lcp == 200, (len(n), lcp)
    a = gen(daemon, prompt=a_text, temperature=0, max_tokens=2, timeout=300)
    b = gen(daemon, prompt=b_text, temperature=0, max_tokens=2, timeout=300)
    assert b["timings"]["cached_tokens"] == 200
    assert b["timings"]["prompt_tokens"] == len(tb)
    # the same prompt again reuses all but its last two tokens, and gives the same tokens
    b2 = gen(daemon, prompt=b_text, temperature=0, max_tokens=2, timeout=300)
    assert b2["timings"]["cached_tokens"] == len(tb) - 2
    assert b2["tokens"] == b["tokens"]
    assert a["timings"]["cached_tokens"] <= 200


def test_cache_slots_is_live_and_keeps_n_prefixes(daemon):
    r = daemon.admin_cmd("set inference.cache_slots 3")
    assert r.get("ok", True) is not False, r
    prompts = ["The first topic is cats." * 3, "A second topic: the sea." * 3, "Third topic, about trains." * 3]
    for p in prompts:
        gen(daemon, prompt=p, temperature=0, max_tokens=1)
    for p in prompts:  # each prefix is still cached in its own slot
        r = gen(daemon, prompt=p + " More.", temperature=0, max_tokens=1)
        assert r["timings"]["cached_tokens"] >= len(daemon.request({"op": "tokenize", "text": p})["tokens"]) - 1, p  # +" More." re-evaluates the last
    stats = daemon.admin_cmd("stats")
    assert "inference" in json.dumps(stats)


SCHEMAS = [
    {"type": "object", "properties": {"name": {"type": "string", "maxLength": 16}, "age": {"type": "integer"},
                                      "pets": {"type": "array", "items": {"enum": ["cat", "dog"]}, "maxItems": 3}},
     "required": ["name", "age"]},
    {"type": "array", "items": {"type": "number"}, "minItems": 1, "maxItems": 4},
    {"type": "object", "properties": {"ok": {"type": "boolean"},
                                      "inner": {"type": "object", "properties": {"x": {"type": "null"}}}}},
]


def valid(schema, v):
    if "enum" in schema:
        return v in schema["enum"]
    t = schema.get("type")
    if t == "object":
        return isinstance(v, dict) and all(k in v for k in schema.get("required", [])) and \
            all(k in schema["properties"] and valid(schema["properties"][k], x) for k, x in v.items())
    if t == "array":
        return isinstance(v, list) and schema.get("minItems", 0) <= len(v) <= schema.get("maxItems", 10**9) and \
            all(valid(schema["items"], x) for x in v)
    if t == "string":
        return isinstance(v, str)
    if t == "integer":
        return isinstance(v, int) and not isinstance(v, bool)
    if t == "number":
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if t == "boolean":
        return isinstance(v, bool)
    if t == "null":
        return v is None
    return False


def test_schema_output_parses_and_validates(daemon):
    for i, schema in enumerate(SCHEMAS):
        for seed in range(4):
            r = gen(daemon, messages=[{"role": "user", "content": "Reply in JSON."}], schema=schema,
                    temperature=1.5, seed=seed, max_tokens=12)
            v = json.loads(r["text"])
            assert valid(schema, v), (schema, r["text"])


def test_schema_properties_come_in_declaration_order(daemon):
    # JSON objects on the wire are unordered, but a schema's properties are
    # generated in the order the request declares them (not sorted).
    schema = {"type": "object", "properties": {"zeta": {"type": "integer"}, "alpha": {"type": "boolean"}},
              "required": ["zeta", "alpha"]}
    r = gen(daemon, prompt="Numbers:", schema=schema, temperature=0, max_tokens=24)
    assert r["text"].startswith('{"zeta":'), r["text"]
    assert list(json.loads(r["text"]).keys()) == ["zeta", "alpha"]
