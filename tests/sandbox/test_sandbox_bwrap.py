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


# A stand-in for the harness (trusted code the backend runs in the sandbox) that misbehaves on the result channel:
# the job's verdict is a runtime error with the reason, the batch goes on, nothing is left running.
_RESULT_FD = "import os, sys\nfd = int(sys.argv[sys.argv.index('--result-fd') + 1])\n"
BAD_HARNESSES = [
    ("dies", "import os\nos._exit(3)\n", "no result"),
    ("killed", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n", "no result"),
    ("garbage", _RESULT_FD + "os.write(fd, b'not json\\n\\x00\\xff')\n", "unparsable"),
    ("short frame", _RESULT_FD + "os.write(fd, b'\\x00\\x00\\x10\\x00{}')\n", "unparsable"),
    ("not a result", _RESULT_FD + "import json, struct\nb = json.dumps({'verdict': 'great'}).encode()\n"
                                  "os.write(fd, struct.pack('>I', len(b)) + b)\n", "unparsable"),
    ("json line", _RESULT_FD + "os.write(fd, b'{\"verdict\": \"passed\"}\\n')\n", "unparsable"),
]


@pytest.mark.parametrize("name, source, why", BAD_HARNESSES, ids=[b[0] for b in BAD_HARNESSES])
def test_bad_result_channel_is_a_runtime_error(bw, tmp_path, name, source, why):
    from sandbox import run_batch
    from sandbox.bwrap_backend import BwrapBackend

    fake = tmp_path / "harness.py"
    fake.write_text(source)
    jobs = [{"code": "print(4)", "tests": [T("2", "4")]} for _ in range(3)]
    with BwrapBackend(memory_mb=256, pids_limit=32, workers=2, harness_path=str(fake)) as b:
        got = dict(run_batch(b, jobs, share_identical=False))  # all three really run
    assert sorted(got) == [0, 1, 2]
    for r in got.values():
        assert r["verdict"] == "runtime_error" and why in r["error"], (name, r)
    # the real harness still answers
    assert run(bw, "print(int(input()) * 2)")["verdict"] == "passed"


def test_bwrap_runs_unprivileged_with_seccomp(bw):
    """The backend's own view of its isolation (the security suite checks each from the candidate's side)."""
    assert bw._seccomp, bw.seccomp_error
    cmd = bw.command(3, 4, 5)
    for flag in ("--as-pid-1", "--clearenv", "--unshare-all", "--cap-drop", "--seccomp"):
        assert flag in cmd
    assert {"/", "/dev"} <= {cmd[i + 1] for i, a in enumerate(cmd) if a == "--remount-ro"}


def P(inp, kind="stdin"):
    """A probe test: no expected output, only what the candidate prints is recorded."""
    return {"input": inp, "output": None, "testtype": kind}


def test_bwrap_probe_tests_record_outputs_and_run_past_errors(bw):
    code = "n = int(input())\nprint(10 // n)"
    r = run(bw, code, [T("2", "5"), P("5"), P("0"), P("1")])
    assert [t["verdict"] for t in r["per_test"]] == ["passed", "passed", "runtime_error", "passed"]
    assert [t["stdout"].strip() for t in r["per_test"]] == ["5", "2", "", "10"]
    assert r["verdict"] == "runtime_error" and r["num_passed"] == 3  # the first failure names the job's verdict
    # A failing test with an expected output still stops the run, as in LiveCodeBench.
    r = run(bw, code, [T("2", "4"), P("5")])
    assert r["verdict"] == "wrong_answer" and len(r["per_test"]) == 1


def test_bwrap_probe_records_digest_of_the_whole_output(bw):
    """A grown probe's output can exceed the 4,096 characters kept; the digest is taken of all of it."""
    from sandbox.harness import probe_digest

    code = "n = int(input())\nprint(' '.join(['1'] * n), n % 2)"
    r = run(bw, code, [P("5000"), P("5001")])
    kept = [t["stdout"] for t in r["per_test"]]
    assert kept[0][:4096] == kept[1][:4096] and "truncated" in kept[0]
    digests = [t["stdout_sha256"] for t in r["per_test"]]
    assert digests[0] == probe_digest(" ".join(["1"] * 5000) + " 0\n") and digests[0] != digests[1]
    r = run(bw, "class Solution:\n    def f(self, n):\n        return [n] * n\n", [P("3", "functional")],
            func_name="f")
    assert r["per_test"][0]["stdout_sha256"] == probe_digest("[3, 3, 3]")
    r = run(bw, "print(1)", [T("", "1")])
    assert "stdout_sha256" not in r["per_test"][0]  # only probes carry it


def test_bwrap_probe_functional_and_timeout_stops(bw):
    code = "class Solution:\n    def f(self, xs):\n        return sorted(xs)\n"
    r = run(bw, code, [P("[3, 1, 2]", "functional"), P("[]", "functional")], func_name="f")
    assert r["verdict"] == "passed" and [t["stdout"] for t in r["per_test"]] == ["[1, 2, 3]", "[]"]
    slow = "import time\nn = int(input())\ntime.sleep(n)\nprint(n)"
    r = run(bw, slow, [P("0"), P("30"), P("0")], limits={"test_timeout_s": 1.0})
    assert [t["verdict"] for t in r["per_test"]] == ["passed", "time_limit"]  # the child is gone after a timeout


# A program that burns about 0.3 s of CPU, and one that waits 0.3 s without using any.
_SPIN = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3:\n    pass\nprint(1)"
_NAP = "import time\ntime.sleep(0.3)\nprint(1)"


def test_bwrap_records_cpu_seconds_beside_wall_seconds(bw):
    """cpu_s is the candidate's own CPU time: a busy loop has as much CPU as wall time, a sleep almost none."""
    spin = run(bw, _SPIN, [P("")])["per_test"][0]
    nap = run(bw, _NAP, [P("")])["per_test"][0]
    assert spin["cpu_s"] >= 0.25 and spin["time_s"] >= 0.25
    assert nap["time_s"] >= 0.25 and nap["cpu_s"] < 0.1
    # every record carries it, probe or not, and each test counts only its own time
    r = run(bw, "n = int(input())\nimport time\nt = time.process_time()\nwhile time.process_time() - t < n / 10:\n"
                "    pass\nprint(n * 2)", [T("0", "0"), T("3", "6"), T("0", "0")])
    cpu = [t["cpu_s"] for t in r["per_test"]]
    assert r["verdict"] == "passed" and cpu[1] >= 0.25 and cpu[0] < 0.2 and cpu[2] < 0.1, cpu
