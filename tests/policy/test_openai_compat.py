"""The OpenAI-compatible backend against a real HTTP server on 127.0.0.1 that speaks /v1/chat/completions."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dreamprm.errors import ServiceUnavailable
from dreamprm.policy import ChatPrompt, SamplingParams, get_policy
from dreamprm.policy.openai_compat import OpenAICompatPolicy
from dreamprm.prompts import build_prompt
from dreamprm.settings import PolicySettings


class FakeServer:
    """A chat-completions server. ``script`` is a list of (status, headers, body-or-None) answered in order (then
    200s); a 200 answers with ``n`` choices whose content echoes the last user message and the choice index."""

    def __init__(self, script=None, delay_s: float = 0.0):
        self.requests: list[dict] = []
        self.script = list(script or [])
        self.delay_s = delay_s
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, status, headers, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                payload = json.loads(self.rfile.read(length))
                with server.lock:
                    server.requests.append(
                        {"path": self.path, "auth": self.headers.get("Authorization"), "json": payload}
                    )
                    step = server.script.pop(0) if server.script else None
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    if server.delay_s:
                        time.sleep(server.delay_s)
                    if self.path != "/v1/chat/completions":
                        self._send(404, {}, {"error": {"message": f"no route {self.path}"}})
                    elif step is not None and step[0] != 200:
                        self._send(step[0], step[1], step[2] or {"error": {"message": "scripted failure"}})
                    else:
                        last = payload["messages"][-1]["content"]
                        choices = [
                            {"index": i, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": f"```python\nprint({last!r}, {i})\n```"}}
                            for i in range(payload.get("n", 1))
                        ]
                        self._send(200, {}, {"id": "cmpl-1", "object": "chat.completion", "model": payload["model"],
                                             "choices": choices,
                                             "usage": {"prompt_tokens": 7, "completion_tokens": 9, "total_tokens": 16}})
                finally:
                    with server.lock:
                        server.in_flight -= 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def policy(server, **kw):
    sleeps: list[float] = []
    kw.setdefault("sleep", sleeps.append)
    p = OpenAICompatPolicy("test-model", server.base_url, **kw)
    p.sleeps = sleeps
    return p


@pytest.fixture(autouse=True)
def no_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("DREAMPRM_POLICY_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


PROBLEM = {"problem_id": "p1", "statement": "Print 1.", "starter_code": "", "test_type": "stdin"}


def test_payload_is_exactly_right():
    prompt = build_prompt(PROBLEM)
    with FakeServer() as server, policy(server) as backend:
        out = backend.generate([prompt], SamplingParams(n=3, temperature=0.3, top_p=0.95, max_tokens=64, seed=11))
    assert len(server.requests) == 1
    req = server.requests[0]
    assert req["path"] == "/v1/chat/completions"
    assert req["auth"] is None
    assert req["json"] == {
        "model": "test-model",
        "messages": [{"role": "system", "content": prompt.messages[0].content},
                     {"role": "user", "content": prompt.messages[1].content}],
        "n": 3,
        "temperature": 0.3,
        "top_p": 0.95,
        "max_tokens": 64,
        "seed": 11,
    }
    assert [len(o) for o in out] == [3]
    assert all(c.ok and c.finish_reason == "stop" and c.prompt_tokens == 7 for c in out[0])
    assert [c.text.endswith(f", {i})\n```") for i, c in enumerate(out[0])] == [True] * 3


def test_unseeded_omits_seed_stop_and_extra_body_and_key(monkeypatch):
    monkeypatch.setenv("DREAMPRM_POLICY_API_KEY", "sk-test")
    with FakeServer() as server, policy(server, extra_body={"top_k": 20}, max_tokens_field="max_completion_tokens") as b:
        b.generate([[{"role": "user", "content": "hi"}]], SamplingParams(stop=("```\n",)))
    req = server.requests[0]
    assert req["auth"] == "Bearer sk-test"
    assert req["json"] == {"model": "test-model", "messages": [{"role": "user", "content": "hi"}], "n": 1,
                           "temperature": 0.2, "top_p": 1.0, "max_completion_tokens": 512, "stop": ["```\n"],
                           "top_k": 20}


def test_many_prompts_keep_order_and_run_concurrently():
    prompts = [ChatPrompt(messages=build_prompt({**PROBLEM, "statement": f"Q{i}"}).messages) for i in range(12)]
    with FakeServer(delay_s=0.2) as server, policy(server, concurrency=4) as backend:
        out = backend.generate(prompts, SamplingParams(n=2))
    assert len(out) == 12
    for i, comps in enumerate(out):
        assert len(comps) == 2 and f"Q{i}" in comps[0].text
    assert server.max_in_flight == 4  # four requests were open at once: concurrent, and no more than asked


def test_retries_429_with_retry_after_then_500_then_succeeds():
    script = [(429, {"Retry-After": "2"}, None), (500, {}, None), (503, {}, None)]
    with FakeServer(script) as server, policy(server, backoff_base_s=0.5, backoff_max_s=30) as backend:
        out = backend.generate_one([{"role": "user", "content": "x"}], SamplingParams(n=2))
    assert len(server.requests) == 4
    assert all(r["json"] == server.requests[0]["json"] for r in server.requests)  # the same request each time
    assert all(c.ok for c in out)
    assert backend.sleeps[0] == 2.0  # Retry-After honoured
    assert 0.5 <= backend.sleeps[1] <= 1.0 and 1.0 <= backend.sleeps[2] <= 2.0  # exponential backoff with jitter


def test_retries_exhausted_give_failed_samples_not_a_crash():
    script = [(500, {}, {"error": {"message": "engine overloaded"}})] * 3
    with FakeServer(script) as server, policy(server, max_retries=2, backoff_base_s=0.01) as backend:
        out = backend.generate_one([{"role": "user", "content": "x"}], SamplingParams(n=2))
    assert len(server.requests) == 3
    assert [c.ok for c in out] == [False, False]
    assert "http_500" in out[0].error and "engine overloaded" in out[0].error and "3 attempts" in out[0].error


def test_bad_request_is_not_retried():
    script = [(400, {}, {"error": {"message": "prompt too long"}})]
    with FakeServer(script) as server, policy(server) as backend:
        out = backend.generate_one([{"role": "user", "content": "x"}], SamplingParams())
    assert len(server.requests) == 1 and "prompt too long" in out[0].error


def test_unauthorized_and_not_found_are_clear_errors():
    with FakeServer([(401, {}, {"error": {"message": "bad key"}})]) as server, policy(server) as backend:
        with pytest.raises(ServiceUnavailable, match="OPENAI_API_KEY") as err:
            backend.generate_one([{"role": "user", "content": "x"}], SamplingParams())
        assert server.base_url in str(err.value)
    with FakeServer() as server:
        backend = OpenAICompatPolicy("m", server.base_url.removesuffix("/v1"), sleep=lambda s: None)
        with pytest.raises(ServiceUnavailable, match="404.*ends in /v1"):
            backend.generate_one([{"role": "user", "content": "x"}], SamplingParams())
        backend.close()


def test_connection_refused_names_url_and_how_to_start():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    backend = OpenAICompatPolicy("Qwen/Qwen2.5-Coder-7B-Instruct", f"http://127.0.0.1:{port}/v1",
                                 max_retries=1, sleep=lambda s: None)
    with pytest.raises(ServiceUnavailable) as err:
        backend.generate_one([{"role": "user", "content": "x"}], SamplingParams())
    msg = str(err.value)
    assert f"http://127.0.0.1:{port}/v1/chat/completions" in msg
    assert "vllm serve Qwen/Qwen2.5-Coder-7B-Instruct" in msg and "DREAMPRM_POLICY__BASE_URL" in msg


def test_get_policy_builds_openai_backend():
    backend = get_policy(PolicySettings(backend="openai", model="m", base_url="http://127.0.0.1:1/v1/"))
    assert isinstance(backend, OpenAICompatPolicy)
    assert backend.url == "http://127.0.0.1:1/v1/chat/completions"
    assert backend.identity() == {"backend": "openai", "model": "m"}
    backend.close()
