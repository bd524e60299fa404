"""The OpenAI-compatible HTTP API (issue 26, docs/openai-api.md) against the real
daemon and models, driven by the official `openai` package and by curl: chat
and completions plain and streaming, embeddings (float and base64), a JSON-schema
response, the models list; OpenAI-shaped 4xx for a bad key, an unknown model,
n > 1, a malformed or oversized body and a schema aikid cannot constrain; 429
with Retry-After when busy; a client that leaves mid-stream cancels its
generation; keys file missing / wrong mode and a non-loopback address without
TLS refused at start. One daemon for the module; answers of a few tokens."""
from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time

import openai
import pytest

from harness import Daemon

KEY = "sk-aikid-test-0123456789abcdef"
OTHER = "sk-aikid-other-0123456789abcdef"
HI = [{"role": "user", "content": "Say hello."}]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keys_file(folder: str, mode: int = 0o640, text: str = f"{KEY} tester\n{OTHER} other\n") -> str:
    path = os.path.join(folder, "keys")
    with open(path, "w") as f:
        f.write("# bearer keys of the API's clients\n" + text)
    os.chmod(path, mode)
    return path


@pytest.fixture(scope="module")
def api():
    folder = tempfile.mkdtemp(prefix="aikoai")
    port = free_port()
    d = Daemon([f"http.listen=127.0.0.1:{port}", f"http.keys_file={keys_file(folder)}", "daemon.debug=true"]).start()
    d.port = port
    d.url = f"http://127.0.0.1:{port}/v1"
    yield d
    d.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def client(api):
    return openai.OpenAI(base_url=api.url, api_key=KEY, max_retries=0, timeout=60)


@pytest.fixture(scope="module")
def models(client):
    got = {m.id for m in client.models.list().data}
    chat = next(m for m in got if "SmolLM2" in m)
    emb = next(m for m in got if m != chat)
    return chat, emb


def raw(api, method, path, body=b"", headers=None, key=KEY):
    """(status, headers, parsed body) of one plain HTTP request."""
    c = http.client.HTTPConnection("127.0.0.1", api.port, timeout=60)
    h = {"Content-Type": "application/json", **(headers or {})}
    if key:
        h["Authorization"] = f"Bearer {key}"
    c.request(method, "/v1" + path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, dict(r.getheaders()), json.loads(data) if data else None


def assert_openai_error(body, param=None):
    assert set(body) == {"error"}, body
    e = body["error"]
    assert set(e) == {"message", "type", "param", "code"} and e["message"], e
    if param is not None:
        assert e["param"] == param, e


def test_models_lists_the_loaded_models_by_name(client, models):
    chat, emb = models
    assert chat.startswith("SmolLM2-135M-Instruct")
    assert "MiniLM" in emb
    assert client.models.retrieve(chat).id == chat


def test_chat_plain_and_streaming_agree(client, models):
    chat, _ = models
    plain = client.chat.completions.create(model=chat, messages=HI, max_tokens=8, temperature=0)
    text = plain.choices[0].message.content
    assert plain.object == "chat.completion" and plain.choices[0].message.role == "assistant"
    assert text and plain.choices[0].finish_reason in ("stop", "length")
    assert 0 < plain.usage.completion_tokens <= 8 and plain.usage.prompt_tokens > 0
    assert plain.usage.total_tokens == plain.usage.prompt_tokens + plain.usage.completion_tokens
    chunks = list(client.chat.completions.create(model=chat, messages=HI, max_tokens=8, temperature=0, stream=True,
                                                 stream_options={"include_usage": True}))
    deltas = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert deltas == text
    assert chunks[-1].usage.completion_tokens == plain.usage.completion_tokens
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == plain.choices[0].finish_reason


def test_seed_stop_and_top_p_reach_the_sampler(client, models):
    chat, _ = models
    f = dict(model=chat, messages=HI, max_tokens=8, temperature=1.5, top_p=0.95)
    a = client.chat.completions.create(seed=7, **f).choices[0].message.content
    b = client.chat.completions.create(seed=7, **f).choices[0].message.content
    assert a == b
    greedy = client.chat.completions.create(model=chat, messages=HI, max_tokens=8, temperature=0).choices[0].message.content
    word = greedy.split()[1] if len(greedy.split()) > 1 else greedy[1:]
    cut = client.chat.completions.create(model=chat, messages=HI, max_tokens=8, temperature=0, stop=[word])
    assert cut.choices[0].message.content == greedy[:greedy.index(word)]
    assert cut.choices[0].finish_reason == "stop"


def test_completions_plain_and_streaming(client, models):
    chat, _ = models
    plain = client.completions.create(model=chat, prompt="The capital of France is", max_tokens=6, temperature=0)
    assert plain.object == "text_completion" and plain.choices[0].text
    assert plain.usage.completion_tokens <= 6
    streamed = "".join(c.choices[0].text for c in client.completions.create(
        model=chat, prompt="The capital of France is", max_tokens=6, temperature=0, stream=True) if c.choices)
    assert streamed == plain.choices[0].text


def test_embeddings_float_and_base64(client, models):
    _, emb = models
    one = client.embeddings.create(model=emb.split(":")[0], input="hello world", encoding_format="float")
    assert len(one.data) == 1 and len(one.data[0].embedding) == 384
    two = client.embeddings.create(model=emb, input=["hello world", "goodbye"])  # the package asks for base64
    assert [d.index for d in two.data] == [0, 1]
    assert two.data[0].embedding == pytest.approx(one.data[0].embedding, abs=1e-6)
    assert sum(x * x for x in two.data[1].embedding) == pytest.approx(1.0, abs=1e-3)


def test_json_schema_response_is_constrained(client, models):
    chat, _ = models
    schema = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 12},
                                               "age": {"type": "integer", "minimum": 0, "maximum": 120}},
              "required": ["name", "age"]}
    r = client.chat.completions.create(
        model=chat, messages=[{"role": "user", "content": "Invent a person."}], max_tokens=24, temperature=0,
        response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": schema}})
    doc = json.loads(r.choices[0].message.content)
    assert list(doc) == ["name", "age"] and isinstance(doc["age"], int)


def test_openai_shaped_4xx(api, client, models):
    chat, _ = models
    with pytest.raises(openai.AuthenticationError) as e:
        openai.OpenAI(base_url=api.url, api_key="sk-wrong-key-0000000000", max_retries=0).models.list()
    assert e.value.status_code == 401 and e.value.body["code"] == "invalid_api_key"
    with pytest.raises(openai.NotFoundError) as e:
        client.chat.completions.create(model="gpt-4o", messages=HI, max_tokens=4)
    assert e.value.body["param"] == "model" and chat in e.value.body["message"]
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=chat, messages=HI, max_tokens=4, n=2)
    assert e.value.body["param"] == "n"
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=chat, messages=HI, max_tokens=4, response_format={"type": "json_object"})
    assert e.value.body["param"] == "response_format"
    with pytest.raises(openai.BadRequestError) as e:  # a schema aikid cannot constrain (anyOf)
        client.chat.completions.create(
            model=chat, messages=HI, max_tokens=4,
            response_format={"type": "json_schema",
                             "json_schema": {"name": "x", "schema": {"anyOf": [{"type": "string"}, {"type": "null"}]}}})
    assert e.value.body["param"] == "response_format"
    with pytest.raises(openai.BadRequestError) as e:  # the same, streamed: still a 4xx before any chunk
        list(client.chat.completions.create(
            model=chat, messages=HI, max_tokens=4, stream=True,
            response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "tuple"}}}))
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=chat, messages=HI, max_tokens=4, temperature=500)
    assert e.value.body["param"] == "temperature"
    status, _, body = raw(api, "POST", "/chat/completions", b'{"model": "x", "messages": [')
    assert status == 400
    assert_openai_error(body)
    status, _, body = raw(api, "POST", "/chat/completions", b'{"model":"' + b"a" * (2 << 20) + b'"}')
    assert status == 413
    assert_openai_error(body, "body")
    status, _, body = raw(api, "POST", "/chat/completions", b"\xff\xfe{}")
    assert status == 400
    assert_openai_error(body)
    status, _, body = raw(api, "POST", "/embeddings", json.dumps({"model": models[1], "input": [[1, 2, 3]]}).encode())
    assert status == 400 and body["error"]["param"] == "input"
    status, _, body = raw(api, "GET", "/nothing")
    assert status == 404
    assert_openai_error(body)
    status, _, body = raw(api, "GET", "/models", key=None)
    assert status == 401
    assert_openai_error(body)


def test_curl_plain_and_streaming(api, models):
    chat, _ = models
    body = json.dumps({"model": chat, "messages": HI, "max_tokens": 4, "temperature": 0})
    out = subprocess.run(["curl", "-sS", "-H", f"Authorization: Bearer {KEY}", "-H", "Content-Type: application/json",
                          "-d", body, f"{api.url}/chat/completions"], capture_output=True, timeout=60, check=True)
    assert json.loads(out.stdout)["choices"][0]["message"]["content"]
    out = subprocess.run(["curl", "-sSN", "-H", f"Authorization: Bearer {KEY}", "-d",
                          json.dumps({**json.loads(body), "stream": True}), f"{api.url}/chat/completions"],
                         capture_output=True, timeout=60, check=True)
    events = [line[6:] for line in out.stdout.decode().splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]" and json.loads(events[0])["object"] == "chat.completion.chunk"
    out = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer nope",
                          f"{api.url}/models"], capture_output=True, timeout=60)
    assert out.stdout == b"401"


def inference_stats(api):
    return api.admin_cmd("stats")["actors"]["inference"]


def test_busy_is_429_with_retry_after_and_leaving_mid_stream_cancels(api, client, models):
    chat, _ = models
    assert api.admin_cmd("set ipc.max_inflight_generate 1").get("ok"), "set failed"
    try:
        before = inference_stats(api)["cancelled"]
        body = json.dumps({"model": chat, "messages": [{"role": "user", "content": "Write a long story."}],
                           "max_tokens": 2000, "temperature": 0, "stream": True}).encode()
        c = http.client.HTTPConnection("127.0.0.1", api.port, timeout=60)
        c.request("POST", "/v1/chat/completions", body=body,
                  headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
        r = c.getresponse()
        assert r.status == 200
        r.fp.readline()  # the first event: the stream is running
        status, headers, err = raw(api, "POST", "/chat/completions",
                                   json.dumps({"model": chat, "messages": HI, "max_tokens": 2}).encode(), key=OTHER)
        assert status == 429 and headers.get("Retry-After") == "1"
        assert_openai_error(err)
        c.sock.shutdown(socket.SHUT_RDWR)
        c.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and inference_stats(api)["cancelled"] == before:
            time.sleep(0.1)
        st = inference_stats(api)
        assert st["cancelled"] == before + 1 and not st["running"], st
    finally:
        api.admin_cmd("set ipc.max_inflight_generate 8")
    # the slot is free again
    assert client.chat.completions.create(model=chat, messages=HI, max_tokens=2).choices[0].message.content is not None


@pytest.mark.parametrize("case", ["missing", "mode", "nonloopback"])
def test_refused_at_start(case):
    folder = tempfile.mkdtemp(prefix="aikoai")
    try:
        sets = [f"http.listen=127.0.0.1:{free_port()}"]
        if case == "missing":
            sets.append(f"http.keys_file={folder}/none")
            want = "cannot read"
        elif case == "mode":
            sets.append(f"http.keys_file={keys_file(folder, 0o644)}")
            want = "mode 0644"
        else:
            sets = [f"http.listen=0.0.0.0:{free_port()}", f"http.keys_file={keys_file(folder)}"]
            want = "needs TLS"
        d = Daemon(sets)
        d.start(wait=False)
        try:
            rc = d.proc.wait(60)
        finally:
            d.stop()
        assert rc == 2 and want in d.log(), d.log()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_tls_when_a_certificate_is_given():
    folder = tempfile.mkdtemp(prefix="aikoai")
    try:
        cert, key = os.path.join(folder, "c.pem"), os.path.join(folder, "k.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1", "-days", "1", "-keyout", key, "-out", cert],
                       check=True, capture_output=True, timeout=30)
        port = free_port()
        d = Daemon([f"http.listen=127.0.0.1:{port}", f"http.keys_file={keys_file(folder)}", f"http.tls_cert={cert}",
                    f"http.tls_key={key}"]).start()
        try:
            c = openai.OpenAI(base_url=f"https://127.0.0.1:{port}/v1", api_key=KEY, max_retries=0,
                              http_client=openai.DefaultHttpxClient(verify=ssl.create_default_context(cafile=cert)))
            assert any("SmolLM2" in m.id for m in c.models.list().data)
            with pytest.raises(openai.APIConnectionError):  # plain HTTP to the TLS port is no answer
                openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY, max_retries=0,
                              timeout=5).models.list()
        finally:
            d.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
