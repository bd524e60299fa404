"""The table of wire ops (ipc/ops.cpp) against what must agree with it.

`aikid --print-ops` prints the table as JSON. Each test fails on a mismatch:

  test_bridge_ops_are_the_table         the bridge's OPS (names, methods, their arguments)
  test_docs_describe_every_op           docs/protocol.md: a section per op naming each field
  test_limit_keys_follow_the_classes    the ipc.max_inflight_* keys and their defaults
  test_every_op_is_served_by_its_actor  no row without a handler (an empty request is
                                        never unknown_op), and real replies carry the
                                        row's reply fields and no others
"""
from __future__ import annotations

import inspect
import json
import pathlib
import re
import subprocess

import pytest

import aiki_bridge
from aiki_bridge import OPS
from harness import AIKID, ROOT, unit

# Arguments of a bridge method that are not wire fields of its op.
NOT_FIELDS = {"self", "kw"}


@pytest.fixture(scope="module")
def table():
    out = subprocess.run([str(AIKID), "--print-ops"], capture_output=True, text=True, timeout=30, check=True)
    t = json.loads(out.stdout)
    assert t["version"] == 1 and t["ops"] and t["classes"]
    return t


def fields(row, which="fields", optional=None):
    return {f["name"] for f in row[which] if optional is None or f["optional"] == optional}


def test_bridge_ops_are_the_table(table):
    names = [r["name"] for r in table["ops"]]
    assert len(names) == len(set(names))
    assert set(OPS) == set(names), ("bridge only:", set(OPS) - set(names), "table only:", set(names) - set(OPS))
    for row in table["ops"]:
        method = OPS[row["name"]]
        for cls in (aiki_bridge.Client, aiki_bridge.AsyncClient):
            assert callable(getattr(cls, method, None)), f"{cls.__name__}.{method} ({row['name']}) is missing"
        params = set(inspect.signature(getattr(aiki_bridge.Client, method)).parameters) - NOT_FIELDS
        # every argument is a field the daemon reads; every required field is an argument
        assert params <= fields(row), (row["name"], "not in the table:", params - fields(row))
        assert fields(row, optional=False) <= params, (row["name"], "no argument for", fields(row, optional=False) - params)


def doc_sections(text):
    """{op: its section's text} from the '### `op`' headings of docs/protocol.md."""
    parts = re.split(r"^### `([a-z_.]+)`[^\n]*\n", text, flags=re.M)
    return {parts[i]: parts[i + 1].split("\n## ")[0] for i in range(1, len(parts), 2)}


def test_docs_describe_every_op(table):
    sections = doc_sections((ROOT / "docs" / "protocol.md").read_text())
    names = {r["name"] for r in table["ops"]}
    assert set(sections) == names, ("documented only:", set(sections) - names, "undocumented:", names - set(sections))
    for row in table["ops"]:
        text = sections[row["name"]]
        for f in fields(row) | fields(row, "reply"):
            assert f"`{f}`" in text, f"docs/protocol.md, {row['name']}: `{f}` is not described"
        # the request fields' table names each field in its first column
        for f in fields(row):
            assert re.search(rf"^\| `{re.escape(f)}` \|", text, flags=re.M), f"{row['name']}: no row for `{f}`"


def test_limit_keys_follow_the_classes(table):
    toml = subprocess.run([str(AIKID), "--print-default-config"], capture_output=True, text=True, timeout=30,
                          check=True).stdout
    assert len(table["classes"]) == len({c["name"] for c in table["classes"]})
    for c in table["classes"]:
        name = c["limit_key"].split(".", 1)[1]
        assert re.search(rf"^{name} = {c['default_limit']}$", toml, flags=re.M), c
        for op in c["ops"]:
            assert next(r for r in table["ops"] if r["name"] == op)["class"] == c["name"]


def check_reply(row, reply):
    """A good reply has the row's required fields, and no field the row lacks."""
    got = set(reply) - {"v", "id", "ok"}
    assert got <= fields(row, "reply"), (row["name"], "not in the table:", got - fields(row, "reply"))
    assert fields(row, "reply", optional=False) <= got, (row["name"], "missing:", fields(row, "reply", optional=False) - got)


def test_every_op_is_served_by_its_actor(table, daemon):
    rows = {r["name"]: r for r in table["ops"]}
    # An empty request reaches each op's handler, which names what is missing
    # or serves it: a row whose actor has no branch for it says unknown_op.
    for name, row in rows.items():
        r = daemon.request({"op": name, "id": "e-" + name})
        if r["ok"]:
            check_reply(row, r)
        else:
            assert r["error"]["code"] not in ("unknown_op", "internal"), (name, r)

    # Real requests: their replies carry the fields the table lists.
    user = "ops-table"
    good = [
        ("ping", {}),
        ("perceive", {"text": "hello from the ops table", "user": user}),
        ("memory.add", {"text": "the ops table has a row per op", "user": user, "vector": unit(3)}),
    ]
    for name, req in good:
        r = daemon.request({"op": name, **req})
        assert r["ok"], (name, r)
        check_reply(rows[name], r)
    mid = daemon.request({"op": "memory.add", "text": "a second memory", "user": user, "vector": unit(4)})["memory_id"]
    more = [
        ("memory.search", {"vector": unit(4), "user": user}),
        ("memory.get", {"memory_id": mid}),
        ("memory.update", {"memory_id": mid, "text": "a second memory, changed", "vector": unit(5)}),
        ("memory.history", {"memory_id": mid}),
        ("memory.list", {"user": user}),
        ("memory.delete", {"memory_id": mid}),
        ("memory.delete_all", {"user": user}),
        ("kg.add", {"triples": [["Ola", "likes", "tables"]], "user": user}),
        ("kg.query", {"entity": "Ola", "user": user}),
        ("kg.entities", {"prefix": "Ol", "user": user}),
        ("kg.delete", {"entity": "Ola", "user": user}),
        ("reminder.list", {"user": user}),
        ("user.timezone", {"user": user, "timezone": "Europe/Oslo"}),
        ("embed", {"texts": ["a row per op"]}),
        ("tokenize", {"text": "a row per op"}),
        ("model.info", {}),
        ("generate", {"prompt": "One", "max_tokens": 2, "temperature": 0}),
        ("cancel", {"target": "nothing-runs-by-this-id"}),
    ]
    for name, req in more:
        r = daemon.request({"op": name, **req}, timeout=60)
        assert r["ok"], (name, r)
        check_reply(rows[name], r)
    for name in ("reminder.snooze", "reminder.done", "reminder.delete"):
        r = daemon.request({"op": name, "user": user, "reminder_id": 987654, "minutes": 5})
        assert r["error"]["code"] == "not_found", (name, r)
    tested = {n for n, _ in good + more} | {"reminder.snooze", "reminder.done", "reminder.delete"}
    assert tested == set(rows), ("no real request for", set(rows) - tested)
