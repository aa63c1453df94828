"""The bubblewrap backend against a real bwrap (skipped, with the reason, where bwrap cannot create namespaces)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def T(inp, out, kind="stdin"):
    return {"input": inp, "output": out, "testtype": kind}


@pytest.fixture(scope="module")
def bw():
    from sandbox.bwrap_backend import BwrapBackend, bwrap_path, bwrap_works

    if not bwrap_path():
        pytest.skip("bwrap is not installed (apt-get install bubblewrap)")
    if not bwrap_works():
        pytest.skip("bwrap is installed but cannot create user/pid/net namespaces here (unprivileged user "
                    "namespaces disabled, or a seccomp/AppArmor policy blocks them)")
    with BwrapBackend(memory_mb=256, pids_limit=32, workers=1) as b:
        yield b


def run(b, code, tests=None, **kw):
    return b.run({"code": code, "tests": tests or [T("2", "4")], **kw})


def test_bwrap_basic_verdicts(bw):
    assert run(bw, "print(int(input()) * 2)")["verdict"] == "passed"
    assert run(bw, "print(5)")["verdict"] == "wrong_answer"
    assert run(bw, "def f(:\n")["verdict"] == "syntax_error"


@pytest.mark.parametrize("code", [
    "x = bytearray(10**10)\nprint(4)",
    "a = []\nwhile True:\n    a.append(' ' * 10**6)",
])
def test_bwrap_memory_bomb_is_memory_limit(bw, code):
    r = run(bw, code)
    assert r["verdict"] == "memory_limit", r


def test_bwrap_no_network_and_timeout(bw):
    net = "import socket\ns = socket.create_connection(('1.1.1.1', 80), timeout=2)\nprint(4)"
    assert run(bw, net)["verdict"] == "runtime_error"
    r = run(bw, "import time\ntime.sleep(30)", limits={"test_timeout_s": 1.0})
    assert r["verdict"] == "time_limit", r
