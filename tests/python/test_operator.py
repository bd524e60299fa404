"""Operator conventions (issue 22): journald priorities on log lines, exit 2 on
a refused configuration, the Prometheus exposition, the start log (models, sizes,
load times; stores created at the latest schema), SIGHUP naming the `set` values
it puts back, and aikictl against the real daemon. One daemon for the module."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness import AIKID, CONFIG, Daemon


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_log(d: Daemon, needle: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if needle in d.log():
            return d.log()
        time.sleep(0.05)
    raise AssertionError(f"{needle!r} not in the log:\n{d.log()[-3000:]}")


@pytest.fixture(scope="module")
def cfg_text(tmp_path_factory):
    """The shipped config with absolute paths (SIGHUP re-reads it from a temp folder)."""
    text = CONFIG.read_text().replace("../models/", str(CONFIG.parent.parent / "models") + "/")
    for folder in ("templates", "time", "understand"):
        text = text.replace(f'"{folder}"', f'"{CONFIG.parent / folder}"')
    return text


@pytest.fixture(scope="module")
def op(tmp_path_factory, cfg_text):
    cfg = tmp_path_factory.mktemp("cfg") / "aikid.toml"
    cfg.write_text(cfg_text)
    port = free_port()
    # INVOCATION_ID: what systemd sets for a service; the log takes journald's <N> prefixes.
    d = Daemon([f"admin.metrics_http=127.0.0.1:{port}"], config=cfg, env={"INVOCATION_ID": "0123abcd"}).start()
    d.cfg, d.port = cfg, port
    yield d
    d.stop()


def lines(d: Daemon, needle: str):
    return [l for l in d.log().splitlines() if needle in l]


# -- 1. journald priorities ------------------------------------------------------

def test_log_lines_carry_journald_priorities(op, cfg_text):
    # info: the start; warn: a `set` value put back by SIGHUP; error: a refused reload.
    assert op.admin_cmd("set memory.dedup_threshold 0.9")["ok"]
    op.cfg.write_text(cfg_text + "\n[bogus]\n")
    op.signal(signal.SIGHUP)
    wait_log(op, "reload refused")
    op.cfg.write_text(cfg_text)
    op.signal(signal.SIGHUP)
    wait_log(op, "was set at run time")
    start = lines(op, "starting (boot ")
    assert start and all(l.startswith("<6>aikid ") for l in start), start
    warn = lines(op, "was set at run time")
    assert warn and all(l.startswith("<4>") for l in warn), warn
    err = lines(op, "reload refused")
    assert err and all(l.startswith("<3>SIGHUP: reload refused") for l in err), err
    # No timestamp of our own under journald (it stamps each line), and every
    # line of the daemon's logger has a priority.
    ours = [l for l in op.log().splitlines() if re.match(r"^(<\d>)?(aikid |ready:|memory|embedding|inference|"
                                                          r"knowledge graph|SIGHUP|reload config|admin:)", l)]
    assert ours and all(re.match(r"^<[2-7]>", l) for l in ours), [l for l in ours if not l.startswith("<")]
    assert not re.search(r"^\d{4}-\d\d-\d\dT", op.log(), re.M)


# -- 2. exit 2 on a refused configuration ------------------------------------------

def test_a_refused_configuration_exits_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[memory]\ndedup_threshold = 7\n")
    r = subprocess.run([str(AIKID), "--config", str(bad)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and f"{bad}:2: memory.dedup_threshold" in r.stderr
    # A bad endpoint is a configuration error too (exit 2, not restarted);
    # an endpoint in use is not (exit 1, see test_lifecycle).
    env = {k: v for k, v in os.environ.items() if k != "INVOCATION_ID"}
    r = subprocess.run([str(AIKID), "--set", f"daemon.runtime_dir={tmp_path}/rt", "--set",
                        f"daemon.data_dir={tmp_path}/data", "--set", "ipc.requests=bogus://x"],
                       capture_output=True, text=True, timeout=30, env=env)
    assert r.returncode == 2, r.stderr
    assert "unsupported transport" in r.stderr
    # Not under systemd (no INVOCATION_ID): a time and the level in words, no <N>.
    assert re.search(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3} info aikid .* starting", r.stderr, re.M), r.stderr
    assert re.search(r"^\d{4}-\d\d-\d\dT\S+ error .*unsupported transport", r.stderr, re.M), r.stderr
    assert not re.search(r"^<\d>", r.stderr, re.M)


# -- 3. Prometheus exposition -------------------------------------------------------

def scrape(op) -> str:
    return urllib.request.urlopen(f"http://127.0.0.1:{op.port}/metrics", timeout=5).read().decode()


def test_metrics_parse_as_prometheus_text_with_help_type_and_base_units(op):
    assert op.request({"op": "ping"})["ok"]
    assert op.request({"op": "embed", "texts": ["hello there"]})["ok"]
    text = scrape(op)
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    for f in fams.values():
        assert f.documentation, f"{f.name}: no # HELP"
        assert f.type in ("counter", "gauge", "summary", "histogram"), f"{f.name}: # TYPE {f.type}"
        assert not re.search(r"_(ms|milliseconds|us)\b", f.name), f"{f.name}: not in base units"
    # Every family's # HELP and # TYPE precede its samples.
    helped = set(re.findall(r"^# HELP (\S+)", text, re.M))
    typed = set(re.findall(r"^# TYPE (\S+)", text, re.M))
    assert helped == typed
    for name in re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{| )", text, re.M):
        base = re.sub(r"_(sum|count|bucket)$", "", name)
        assert name in typed or base in typed, f"{name}: no # TYPE"
    for name in ("aikid_request_duration_seconds", "aikid_stage_duration_seconds"):
        f = fams[name]
        assert f.type == "summary"
        kinds = {s.name for s in f.samples}
        assert kinds == {name, name + "_sum", name + "_count"}, kinds
    emb = {s.name: s.value for s in fams["aikid_request_duration_seconds"].samples
            if s.labels.get("class") == "embed" and "quantile" not in s.labels}
    assert emb["aikid_request_duration_seconds_count"] >= 1
    assert 0 < emb["aikid_request_duration_seconds_sum"] < 10, "seconds, not ms"
    assert fams["aikid_requests"].type == "counter"
    build = fams["aikid_build_info"].samples[0]
    assert build.value == 1 and build.labels["version"]
    assert re.fullmatch(r"[0-9a-f]{7,40}|unknown", build.labels["commit"]), build.labels
    v = {f.name: f.samples[0].value for f in fams.values() if f.name.startswith("process_")}
    assert v["process_resident_memory_bytes"] > 20e6
    assert v["process_cpu_seconds"] > 0  # the parser drops a counter's _total
    assert v["process_open_fds"] >= 5
    assert time.time() - 3600 < v["process_start_time_seconds"] <= time.time()


def test_admin_metrics_is_one_json_line_and_aikictl_prints_the_text(op):
    raw = op.admin_send(b"metrics\n", 1)
    assert raw.count(b"\n") == 1
    reply = json.loads(raw)
    assert reply["ok"] and "# TYPE aikid_up gauge" in reply["text"]
    r = subprocess.run([sys.executable, "-m", "aiki_bridge.aikictl", "metrics", "--socket", op.admin],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("# HELP ") and "\naikid_up 1\n" in r.stdout
    assert {f.name for f in text_string_to_metric_families(r.stdout)} >= {"aikid_up", "process_open_fds"}


# -- 5. aikictl --------------------------------------------------------------------

def test_aikictl_help_lists_every_admin_command_and_options_follow_the_command(op):
    daemon_cmds = op.admin_cmd("help")["commands"]
    r = subprocess.run([sys.executable, "-m", "aiki_bridge.aikictl", "--help"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0
    for c in daemon_cmds:
        assert c in r.stdout, f"aikictl --help does not list {c!r}"
    r = subprocess.run([sys.executable, "-m", "aiki_bridge.aikictl", "stats", "--socket", op.admin, "-c"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["ok"] is True


# -- 6. SIGHUP names the `set` values it puts back ------------------------------------

def test_sighup_names_the_set_values_it_puts_back(op, cfg_text):
    op.cfg.write_text(cfg_text)
    assert op.admin_cmd("set perception.dedup_window_ms 1234")["ok"]
    assert op.admin_cmd("set log.level info")["ok"]  # the file's value already: nothing put back
    op.signal(signal.SIGHUP)
    log = wait_log(op, "perception.dedup_window_ms = 1234 was set at run time; put back to the file's 2000")
    assert "log.level = info was set at run time" not in log
    assert op.admin_cmd("get perception.dedup_window_ms")["value"] == 2000
    # reload config answers the same in its reply
    assert op.admin_cmd("set perception.dedup_window_ms 99")["ok"]
    r = op.admin_cmd("reload config")
    assert r["ok"] and r["reverted"] == [{"key": "perception.dedup_window_ms", "from": 99, "to": 2000}]


# -- 7, 8. the start log ---------------------------------------------------------------

def test_start_log_names_each_model_its_size_and_load_time(op):
    emb = lines(op, "embedding: loaded model ")
    inf = lines(op, "inference: loaded model ")
    assert len(emb) == 1 and len(inf) == 1, (emb, inf)
    pat = r"loaded model (\S.*) from (\S+) \((\d+\.\d) MB\) in (\d+\.\d\d) s$"
    m = re.search(pat.replace("$", r"; BLIS kernels (\w+)$"), emb[0])  # the kernels BLIS picked (embedding.hpp)
    assert m and "all-MiniLM-L6-v2" in m.group(2) and 10 < float(m.group(3)) < 1000 and m.group(5) != "", emb
    m = re.search(pat, inf[0])
    assert m and m.group(2).endswith(".gguf") and 10 < float(m.group(3)) < 10000, inf


def test_a_fresh_data_dir_is_created_at_the_latest_schema(op):
    log = op.log()
    assert re.search(r"memory: created \S+ at schema \d+", log), log[-3000:]
    assert re.search(r"knowledge graph: created \S+kg\.sqlite at schema \d+", log), log[-3000:]
    assert "migrated" not in log
