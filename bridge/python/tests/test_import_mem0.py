"""python -m aiki_bridge import-mem0 on a store mem0 itself wrote, into a real daemon.

The store: fixtures/mem0_store (made by fixtures/make_mem0_store.py in the peers'
venv; MANIFEST.json says what mem0 wrote). Checks: the dry run's report and that it
writes nothing; text, user/agent/run scope, metadata, mem0's UUID (taken by
Memory's get/update/delete/history), created_at/updated_at and history kept; two
equal texts of one user stay two memories (no dedup); re-embedded (a search finds
them); a second run imports nothing; a run cut short (--limit) is finished by the
next; a progress bar; bad sources fail with a clear message and exit status 2.
"""
from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys

import pytest

import aiki_bridge as ab
from aiki_bridge.mem0_import import ImportFailed, iso_ms, run_import

ROOT = pathlib.Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tests" / "python"))
from harness import Daemon  # noqa: E402

FIXTURE = pathlib.Path(__file__).resolve().parent / "fixtures" / "mem0_store"
MANIFEST = json.loads((FIXTURE / "MANIFEST.json").read_text())


@pytest.fixture(scope="module")
def daemon():
    d = Daemon().start()
    yield d
    d.stop()


@pytest.fixture
def store(tmp_path):
    """A copy of the fixture: Qdrant's local mode writes a lock file into its folder."""
    dst = tmp_path / "mem0_store"
    shutil.copytree(FIXTURE, dst)
    return {"qdrant": str(dst / "qdrant"), "history": str(dst / "history.db")}


@pytest.fixture
def client(daemon):
    with ab.Client(daemon.requests, timeout=30) as c:
        ab.Memory(c).reset()  # each test starts from an empty store
        yield c


def cli(daemon, *args):
    return subprocess.run([sys.executable, "-m", "aiki_bridge", "--requests", daemon.requests,
                           "--timeout", "30", "import-mem0", *args],
                          capture_output=True, text=True, timeout=120)


def test_dry_run_reports_and_writes_nothing(client, store):
    r = run_import(client, store["qdrant"], history=store["history"], dry_run=True)
    assert r["memories"] == len(MANIFEST["memories"]) == 9
    assert r["would_import"] == 9 and r["imported"] == 0 and r["already_imported"] == 0
    assert r["users"] == {"alice": 5, "bob": 3} and r["agents"] == {"aiki": 3} and r["runs"] == {"r1": 1}
    assert r["history_rows"] == MANIFEST["history_rows"] == 12
    assert r["deleted_in_history_only"] == 1  # "My old phone number…" was deleted in mem0
    assert client.memory_list()["total"] == 0


def test_import_keeps_what_mem0_kept(daemon, client, store):
    p = cli(daemon, "--qdrant", store["qdrant"], "--history", store["history"], "--progress")
    assert p.returncode == 0, p.stderr
    assert "9/9 memories" in p.stderr and "[" + "#" * 30 + "]" in p.stderr, p.stderr
    assert "imported: 9" in p.stdout and "1 deleted memories are only in the history" in p.stdout
    assert client.memory_list()["total"] == 9
    m = ab.Memory(client)
    for uuid, pl in MANIFEST["memories"].items():
        g = m.get(uuid)
        assert g is not None, uuid
        assert g["memory"] == pl["data"] and g["hash"] == pl["hash"]
        for k in ("user_id", "agent_id", "run_id", "actor_id", "role"):
            assert g.get(k) == pl.get(k), (k, g, pl)
        assert g["metadata"]["mem0_id"] == uuid
        for k in ("category", "mood", "lang"):
            assert (g["metadata"] or {}).get(k) == pl.get(k)
        assert iso_ms(g["created_at"]) == iso_ms(pl["created_at"])
        assert iso_ms(g["updated_at"]) == iso_ms(pl["updated_at"])
    # the updated one: its history as mem0 kept it, at mem0's times
    tea = MANIFEST["ids"]["tea"][0]
    h = m.history(tea)
    assert [(e["event"], e["old_memory"], e["new_memory"]) for e in h] == [
        ("ADD", None, "I love green tea"), ("UPDATE", "I love green tea", "I love jasmine tea")]
    assert iso_ms(h[1]["updated_at"]) == iso_ms(MANIFEST["memories"][tea]["updated_at"])
    # equal texts of one user: two memories, never merged
    a, b = MANIFEST["ids"]["chess"][0], MANIFEST["ids"]["chess_again"][0]
    assert m.get(a)["id"] != m.get(b)["id"]
    assert len(m.search("chess", filters={"user_id": "bob"})["results"]) >= 2
    # re-embedded with aikid's model: found by meaning
    top = m.search("what does alice drink", filters={"user_id": "alice"})["results"][0]
    assert top["memory"] == "I love jasmine tea"
    # the UUID through Memory's update/delete
    nb = MANIFEST["ids"]["nb"][0]
    m.update(nb, "Jeg heter Øyvind og bor i Oslo")
    assert m.get(nb)["memory"] == "Jeg heter Øyvind og bor i Oslo"
    assert m.get(nb)["metadata"]["lang"] == "nb"
    m.delete(nb)
    assert m.get(nb) is None
    with pytest.raises(ab.MemoryNotFoundError):
        m.delete(nb)


def test_second_run_imports_nothing_and_a_cut_run_is_finished(client, store):
    first = run_import(client, store["qdrant"], history=store["history"], limit=4)
    assert first["imported"] == 4 and first["left"] == 5
    second = run_import(client, store["qdrant"], history=store["history"])
    assert second["imported"] == 5 and second["already_imported"] == 4
    third = run_import(client, store["qdrant"], history=store["history"])
    assert third["imported"] == 0 and third["already_imported"] == 9
    assert client.memory_list()["total"] == 9
    ids = [(x.get("meta") or {}).get("mem0_id") for x in client.memory_list()["memories"]]
    assert sorted(ids) == sorted(MANIFEST["memories"])


def test_without_the_history_file_each_memory_has_its_add(client, store):
    assert run_import(client, store["qdrant"], jobs=1)["imported"] == 9  # one add at a time
    tea = MANIFEST["ids"]["tea"][0]
    h = ab.Memory(client).history(tea)
    assert [e["event"] for e in h] == ["ADD"] and h[0]["new_memory"] == "I love jasmine tea"
    assert iso_ms(h[0]["created_at"]) == iso_ms(MANIFEST["memories"][tea]["created_at"])


def test_bad_sources_fail_clearly(daemon, client, store, tmp_path):
    with pytest.raises(ImportFailed, match="not a folder"):
        run_import(client, str(tmp_path / "nowhere"))
    with pytest.raises(ImportFailed, match="no collection 'memories'.*mem0"):
        run_import(client, store["qdrant"], collection="memories")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(ImportFailed, match="not mem0's history database"):
        run_import(client, store["qdrant"], history=str(junk))
    p = cli(daemon, "--qdrant", store["qdrant"], "--limit", "0")
    assert p.returncode == 2 and "--limit 0: must be at least 1" in p.stderr
    p = cli(daemon, "--qdrant", store["qdrant"], "--jobs", "0")
    assert p.returncode == 2 and "--jobs 0: must be at least 1" in p.stderr
    p = cli(daemon, "--qdrant", str(tmp_path / "nowhere"))
    assert p.returncode == 2 and "import-mem0:" in p.stderr and "not a folder" in p.stderr
    p = cli(daemon, "--qdrant", store["qdrant"], "--dry-run", "--json")
    assert p.returncode == 0 and json.loads(p.stdout)["would_import"] == 9
    assert client.memory_list()["total"] == 0


def test_memory_add_import_fields_are_checked(client):
    """memory.add's dedup/created/updated/history (docs/protocol.md): kept, and bad ones named."""
    hist = [{"event": "add", "old": None, "new": "v1", "at": 1_600_000_000_000},
            {"event": "update", "old": "v1", "new": "v2", "at": 1_600_000_500_000}]
    mid = client.request("memory.add", text="v2", user="imp", dedup=False, created=1_600_000_000_000,
                         updated=1_600_000_500_000, history=hist)["memory_id"]
    got = client.memory_get(mid)["memory"]
    assert got["created"] == 1_600_000_000_000 and got["updated"] == 1_600_000_500_000
    assert [(e["event"], e["old"], e["new"], e["at"]) for e in client.memory_history(mid)["events"]] == \
        [("add", None, "v1", 1_600_000_000_000), ("update", "v1", "v2", 1_600_000_500_000)]
    again = client.request("memory.add", text="v2", user="imp", dedup=False)
    assert again["memory_id"] != mid and again["deduplicated"] is False
    merged = client.request("memory.add", text="v2", user="imp")  # dedup on: merged as before
    assert merged["deduplicated"] is True
    for fields, message in [
            ({"dedup": "no"}, "dedup: must be a boolean"),
            ({"created": 0}, "created: 0 is out of range"),
            ({"created": 5, "updated": 4}, "updated: before created"),
            ({"history": {}}, "history: must be an array"),
            ({"history": [{"event": "moved", "at": 1}]}, "history[0].event: 'moved' is not add|update|delete|dedup"),
            ({"history": [{"event": "add"}]}, "history[0].at: missing"),
            ({"history": [{"event": "add", "at": 1, "old": 5}]}, "history[0].old: must be a string or null"),
            ({"history": [{"event": "add", "at": 1}] * 1001}, "history: more than 1000 events")]:
        with pytest.raises(ab.BadRequest) as ei:
            client.request("memory.add", text="x", user="imp", **fields)
        assert message in ei.value.message, (fields, ei.value.message)
