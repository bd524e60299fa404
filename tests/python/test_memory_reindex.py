"""Re-embedding memories after an embedding-model change, end to end with the
real daemon: memories made with all-MiniLM-L6-v2, then the daemon restarted
with a second model (a copy whose weights are perturbed, so its model id and
vectors differ). While re-embedding, searches are embedded by the previous
model and answered by the old index; when the previous model's files are gone
they are answered by the new model's shadow as far as it goes, and the reply
says so. Progress is polled through admin `health` with a deadline."""
from __future__ import annotations

import json
import shutil
import struct
import time
from array import array

from harness import MODELS

MINILM = MODELS / "all-MiniLM-L6-v2"

TEXTS = [
    "I live in a small flat in Oslo near the harbour",
    "My sister Ingrid plays the cello in an orchestra",
    "I am allergic to peanuts and shellfish",
    "Our dog is a golden retriever called Bamse",
    "I work as a nurse on the night shift at the hospital",
    "My favourite food is grilled salmon with potatoes",
    "I started learning Japanese last spring",
    "The car broke down on the motorway to Bergen",
    "We are planning a trip to Iceland in August",
    "I go climbing at the indoor wall every Thursday",
    "My grandfather built boats for a living",
    "I prefer tea to coffee in the morning",
]


def perturbed_copy(dst, scale: float):
    """A copy of MiniLM whose layer-0 feed-forward weights are scaled: another
    model id (folder name + weights hash) and other vectors."""
    shutil.copytree(MINILM, dst)
    path = dst / "model.safetensors"
    data = bytearray(path.read_bytes())
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    for name in ("encoder.layer.0.intermediate.dense.weight", "encoder.layer.1.attention.self.query.weight"):
        t = header[name]
        assert t["dtype"] == "F32"
        a, b = t["data_offsets"]
        start, end = 8 + n + a, 8 + n + b
        vals = array("f")
        vals.frombytes(bytes(data[start:end]))
        for i in range(len(vals)):
            vals[i] *= scale
        data[start:end] = vals.tobytes()
    path.write_bytes(bytes(data))
    return dst


def model_of(d):
    r = d.request({"op": "embed", "texts": ["x"]}, timeout=60)
    assert r["ok"], r
    return r["model"]


def reindex(d):
    h = d.admin_cmd("health", timeout=30)
    return h["actors"]["memory"]["reindex"]


def poll(d, pred, what, timeout=180.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = reindex(d)
        if pred(last):
            return last
        time.sleep(0.1)
    raise AssertionError(f"{what}: not reached in {timeout}s; last {last}\n{d.log()[-3000:]}")


def search(d, text):
    r = d.request({"op": "memory.search", "query": text, "user": "kari", "top_k": 3}, timeout=60)
    assert r["ok"], r
    return r


def test_model_change_reembeds_in_the_background(make_daemon, tmp_path):
    m1 = str(MINILM)
    m2 = perturbed_copy(tmp_path / "minilm-b", 1.8)
    m3 = perturbed_copy(tmp_path / "minilm-c", 0.5)
    no_llm = f"inference.model={tmp_path / 'no-llm.gguf'}"  # memory needs no language model

    d1 = make_daemon(f"embedding.model={m1}", no_llm).start()
    first = model_of(d1)
    ids = {}
    for t in TEXTS:
        r = d1.request({"op": "memory.add", "text": t, "user": "kari"}, timeout=60)
        assert r["ok"] and not r["deduplicated"], r
        ids[t] = r["memory_id"]
    for t in TEXTS:
        assert search(d1, t)["hits"][0]["id"] == ids[t]
    assert reindex(d1)["active"] is False
    base = d1.base
    assert d1.stop() == 0

    # --- a new model; re-embedding held so the state before the switch is observed
    d2 = make_daemon(f"embedding.model={m2}", no_llm, "memory.reindex_paused=true", "memory.reindex_batch=4", base=base).start()
    second = model_of(d2)
    assert second != first
    rx = poll(d2, lambda r: r.get("previous_model") not in (None, "loading"), "previous model loaded")
    assert rx["active"] and rx["previous_model"] == "loaded", rx
    assert rx["from_model"] == first and rx["to_model"] == second
    assert rx["done"] == 0 and rx["total"] == len(TEXTS)
    for t in TEXTS:  # embedded by the previous model, answered by the complete old index
        s = search(d2, t)
        assert s["hits"][0]["id"] == ids[t], (t, s)
        assert s["reindex"] == {"done": 0, "total": len(TEXTS), "index": "live"}
    # an add meanwhile carries both models' vectors: findable now and after the switch
    extra = "I keep bees on the roof of our building"
    r = d2.request({"op": "memory.add", "text": extra, "user": "kari"}, timeout=60)
    assert r["ok"], r
    ids[extra] = r["memory_id"]
    assert search(d2, extra)["hits"][0]["id"] == ids[extra]
    # a percept is recalled against the old index and remembered with both vectors too
    said = "My favourite colour is green"
    assert d2.request({"op": "perceive", "text": said, "user": "kari"}, timeout=60)["ok"]
    deadline = time.monotonic() + 60
    while not [m for m in d2.request({"op": "memory.list", "user": "kari", "limit": 100})["memories"]
               if m["text"] == said]:
        assert time.monotonic() < deadline, d2.log()[-3000:]
        time.sleep(0.1)
    s = search(d2, said)
    ids[said] = s["hits"][0]["id"]
    assert s["hits"][0]["text"] == said and s["reindex"]["index"] == "live", s
    stats = d2.admin_cmd("stats", timeout=30)
    assert "reindex" in json.dumps(stats)
    total = len(ids)

    assert d2.admin_cmd("set memory.reindex_paused false", timeout=30)["ok"]
    rx = poll(d2, lambda r: not r["active"], "re-embedding finished")
    assert rx["done"] == rx["total"] == total
    assert rx["errors"] == 0, rx
    for t, i in ids.items():
        s = search(d2, t)
        assert s["hits"][0]["id"] == i, (t, s)
        assert "reindex" not in s
        g = d2.request({"op": "memory.get", "memory_id": i})
        assert g["memory"]["model"] == second
    # batches of 4 after the two memories made with both models: 6, 10, then the last one switches
    log = d2.log()
    for n in range(2 + 4, total, 4):
        assert f"re-embedding {n}/{total}" in log, log[-3000:]
    assert f"switched {total} memories" in log
    assert "re-embedding finished" in log
    assert d2.stop() == 0

    # --- another model while the previous one's files are gone: the shadow answers
    shutil.rmtree(m2)
    d3 = make_daemon(f"embedding.model={m3}", no_llm, "memory.reindex_paused=true", base=base).start()
    third = model_of(d3)
    rx = poll(d3, lambda r: r.get("previous_model") not in (None, "loading"), "previous model tried")
    assert rx["active"] and rx["previous_model"] != "loaded", rx
    assert "minilm-b" in rx["previous_model"], rx
    s = search(d3, TEXTS[0])
    assert s["reindex"] == {"done": 0, "total": len(ids), "index": "shadow"}
    assert s["hits"] == []  # nothing is re-embedded yet
    late = "The heating in the flat stopped working in January"
    r = d3.request({"op": "memory.add", "text": late, "user": "kari"}, timeout=60)
    assert r["ok"], r
    ids[late] = r["memory_id"]
    s = search(d3, late)
    assert s["hits"][0]["id"] == ids[late]
    assert s["reindex"] == {"done": 1, "total": len(ids), "index": "shadow"}

    assert d3.admin_cmd("set memory.reindex_paused false", timeout=30)["ok"]
    poll(d3, lambda r: not r["active"], "second re-embedding finished")
    for t, i in ids.items():
        s = search(d3, t)
        assert s["hits"][0]["id"] == i, (t, s)
        assert "reindex" not in s
    assert d3.request({"op": "memory.get", "memory_id": ids[late]})["memory"]["model"] == third
    assert d3.stop() == 0

    # --- and the switch is durable
    d4 = make_daemon(f"embedding.model={m3}", no_llm, base=base).start()
    assert reindex(d4)["active"] is False
    for t, i in ids.items():
        assert search(d4, t)["hits"][0]["id"] == i
