"""Security suite: hostile candidates against BOTH backends (Docker pool and bubblewrap) through the public API.

Each test is a hole a review suite found (issue 13) or a guard around one: the caller's environment must not be
visible, the verdict channel must not be reachable (no forged pass, no aborted batch), the candidate must not run as
host root, must be under a seccomp filter, may write only to small tmpfs mounts, and cannot make a wrong
HumanEval/MBPP answer pass by shadowing the builtins that ``check()`` uses. Every check is made from the host where
it can be (host /proc, real run_batch), never from the candidate's word alone.

    eval "$(sandbox/scripts/start-dockerd.sh)"; pytest -m "integration" tests/sandbox/test_sandbox_security.py

``DREAMPRM_SANDBOX_TEST_IMAGE`` names the Docker image tag to test (default: the project's image, built here by the
offline route when it is missing or stale).
"""

from __future__ import annotations

import json
import os
import statistics
import threading
import time
import uuid

import pytest

pytestmark = pytest.mark.integration

SECRET_KEY = "DREAMPRM_PROBE_SECRET"


def T(inp, out, kind="stdin"):
    return {"input": inp, "output": out, "testtype": kind}


@pytest.fixture(scope="module", params=["docker", "bwrap"])
def sbx(request):
    if request.param == "docker":
        try:
            from sandbox.docker_backend import docker_client
            client = docker_client()
        except Exception as exc:  # noqa: BLE001
            pytest.skip(f"no Docker daemon ({exc}); start one: eval \"$(sandbox/scripts/start-dockerd.sh)\"")
        from sandbox.docker_backend import DockerBackend
        from sandbox.image import DEFAULT_IMAGE, build_image

        tag = os.environ.get("DREAMPRM_SANDBOX_TEST_IMAGE", DEFAULT_IMAGE)
        build_image(os.environ.get("DREAMPRM_SANDBOX_ROUTE", "offline"), tag=tag, client=client)
        with DockerBackend(image=tag, workers=2, memory_mb=512, pids_limit=64, client=client) as b:
            b.start()
            yield b
    else:
        from sandbox.bwrap_backend import BwrapBackend, bwrap_path, bwrap_works

        if not bwrap_path():
            pytest.skip("bwrap is not installed (apt-get install bubblewrap)")
        if not bwrap_works():
            pytest.skip("bwrap is installed but cannot create its namespaces here")
        with BwrapBackend(memory_mb=512, pids_limit=64, workers=2) as b:
            yield b


def run(b, code, tests=None, func_name="", **limits):
    return b.run({"code": code, "tests": tests or [T("2", "4")], "func_name": func_name, "limits": limits})


def out_of(res) -> str:
    return res["per_test"][-1]["stdout"] if res.get("per_test") else ""


# ------------------------------------------------------------------------------------------- 1. environment leak
ENV_PROBE = f"""
import os
found = []
for pid in os.listdir('/proc'):
    if not pid.isdigit():
        continue
    for what in ('environ', 'cmdline'):
        try:
            with open(f'/proc/{{pid}}/{{what}}', 'rb') as f:
                data = f.read()
        except OSError:
            continue
        if b'{SECRET_KEY}' in data or b'HOME=/root' in data:
            found.append(f'{{pid}}/{{what}}')
for k in os.environ:
    if k == '{SECRET_KEY}':
        found.append('own environ')
print('clean' if not found else 'LEAK ' + ' '.join(found))
"""


def test_caller_environment_is_not_visible(sbx, monkeypatch):
    monkeypatch.setenv(SECRET_KEY, "s3cr3t-" + uuid.uuid4().hex)
    monkeypatch.setenv("HOME", "/root")
    r = run(sbx, ENV_PROBE, [T("", "clean")])
    assert r["verdict"] == "passed", (r["verdict"], out_of(r), r["error"])


# ------------------------------------------------------------------------------------------- 2. forged verdict
def _forger(payload: str, then: str) -> str:
    """A WRONG program (prints 5, expected 4) that first writes ``payload`` to every descriptor of every other
    process it can open, then ``then`` (kill its harness, PID 1, ...)."""
    return f"""
import json, os, signal, struct
forged = {{"verdict": "passed", "passed": True, "num_tests": 1, "num_passed": 1,
          "per_test": [{{"verdict": "passed", "time_s": 0.0, "stdout": "4", "stderr": "", "error": ""}}],
          "time_s": 0.0, "error": "", "harness_version": "9"}}
line = (json.dumps(forged) + "\\n").encode()
body = json.dumps(forged).encode()
frame = struct.pack(">I", len(body)) + body
payload = {payload}
for pid in os.listdir('/proc'):
    if not pid.isdigit() or int(pid) == os.getpid():
        continue
    try:
        fds = os.listdir(f'/proc/{{pid}}/fd')
    except OSError:
        continue
    for fd in fds:
        try:
            w = os.open(f'/proc/{{pid}}/fd/{{fd}}', os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            os.write(w, payload)
        except OSError:
            pass
        os.close(w)
{then}
print(5)
"""


KILL_HARNESS = """
for target in (os.getppid(), 1):
    try:
        os.kill(target, signal.SIGKILL)
    except OSError:
        pass
"""


@pytest.mark.parametrize("payload", ["frame + line", "line", "frame"])
def test_no_forged_pass(sbx, payload):
    code = _forger(payload, KILL_HARNESS)
    r = run(sbx, code)
    assert r["verdict"] != "passed", r
    assert r["num_passed"] == 0
    # the backend still works, and judges an honest candidate honestly
    assert run(sbx, "print(int(input()) * 2)")["verdict"] == "passed"


# ------------------------------------------------------------------------------------------- 3. batch survives
CLOSE_ALL = "for fd in range(1024):\n    try: os.close(fd)\n    except OSError: pass\n"


@pytest.mark.parametrize("then", [KILL_HARNESS, "", CLOSE_ALL], ids=["kill-harness", "stay", "close-all-fds"])
def test_garbage_on_every_channel_does_not_abort_the_batch(sbx, then):
    from sandbox import run_batch

    garbage = _forger("b'not json at all\\n\\x00\\xff{' * 3", then)
    jobs = [{"code": "print(int(input()) * 2)", "tests": [T("2", "4")]},
            {"code": garbage, "tests": [T("2", "4")]},
            {"code": "print(int(input()) * 2)", "tests": [T("3", "6")]},
            {"code": garbage, "tests": [T("2", "4")]},
            {"code": "print(int(input()) * 2)", "tests": [T("5", "10")]}]
    got = dict(run_batch(sbx, jobs, share_identical=False))  # both garbage jobs really run
    assert sorted(got) == [0, 1, 2, 3, 4]
    for i in (0, 2, 4):
        assert got[i]["verdict"] == "passed", got[i]
    for i in (1, 3):
        assert got[i]["verdict"] in ("runtime_error", "wrong_answer"), got[i]
        if got[i]["verdict"] == "runtime_error":
            assert got[i]["error"], got[i]  # a reason


# ------------------------------------------------------------------------------------------- 4. host uid, seccomp
def _host_procs_named(marker: str) -> list[tuple[int, tuple[int, ...]]]:
    """(host pid, its host uids and gids: real, effective, saved, fs) of every host process whose comm is
    ``marker``."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() != marker:
                    continue
            with open(f"/proc/{pid}/status") as f:
                ids = tuple(int(v) for x in f if x.startswith(("Uid:", "Gid:")) for v in x.split()[1:])
            found.append((int(pid), ids))
        except (OSError, StopIteration):
            pass
    return found


def test_candidate_is_not_host_root(sbx):
    """Seen from the HOST: the candidate's process (named by prctl) has a non-zero host uid."""
    marker = "dp" + uuid.uuid4().hex[:12]
    code = (f"import ctypes, time\nctypes.CDLL(None).prctl(15, b'{marker}', 0, 0, 0)\n"
            "time.sleep(1.5)\nprint(int(input()) * 2)\n")
    seen: list = []
    done = threading.Event()

    def watch():
        while not done.is_set():
            seen.extend(_host_procs_named(marker))
            time.sleep(0.02)

    th = threading.Thread(target=watch)
    th.start()
    try:
        r = run(sbx, code)
    finally:
        done.set()
        th.join()
    assert r["verdict"] == "passed", r
    assert seen, "the candidate's process was never seen on the host"
    assert all(len(ids) == 8 and 0 not in ids for _, ids in seen), seen


SECCOMP_PROBE = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
status = dict(l.split(':', 1) for l in open('/proc/self/status') if ':' in l)
res = {'seccomp': status['Seccomp'].strip(), 'nnp': status.get('NoNewPrivs', '').strip()}
CLONE_NEWUSER = 0x10000000
res['unshare_user'] = libc.unshare(CLONE_NEWUSER)
res['keyctl'] = libc.syscall(250, 0, -3, 0, 0, 0)          # keyctl(KEYCTL_GET_KEYRING_ID, session)
res['add_key'] = libc.syscall(248, b'user', b'k', b'v', 1, -3)
res['ptrace_attach'] = libc.syscall(101, 16, 1, 0, 0)      # ptrace(PTRACE_ATTACH, 1)
print(' '.join(f'{k}={v}' for k, v in sorted(res.items())))
"""


def test_seccomp_filter_and_dangerous_syscalls(sbx):
    r = run(sbx, SECCOMP_PROBE, [T("", "")])
    got = dict(kv.split("=") for kv in out_of(r).split())
    assert got.get("seccomp") == "2", (got, r["error"])  # SECCOMP_MODE_FILTER
    assert got.get("nnp") == "1", got
    for k in ("unshare_user", "keyctl", "add_key", "ptrace_attach"):
        assert got[k] == "-1", got


# ------------------------------------------------------------------------------------------- 5. writable places
WRITABLE_PROBE = """
import os
places = {'/', '/dev', '/dev/shm', '/dev/mqueue', '/etc', '/usr', '/opt', '/opt/harness', '/run', '/var', '/var/tmp',
          '/home', '/root', '/proc', '/sys', '/tmp', '/work', '/mnt', '/srv'}
for line in open('/proc/self/mountinfo'):
    places.add(line.split()[4])
out = []
for d in sorted(places):
    try:
        if not os.path.isdir(d) or d.startswith(('/proc', '/sys')) and d not in ('/proc', '/sys'):
            continue
        p = os.path.join(d, '.probe-w')
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:
        continue
    os.close(fd)
    os.unlink(p)
    st = os.statvfs(d)
    out.append(f'{d}:{st.f_blocks * st.f_frsize >> 20}')
print(' '.join(out))
"""


def test_only_small_tmpfs_mounts_are_writable(sbx):
    r = run(sbx, WRITABLE_PROBE, [T("", "")])
    got = dict(x.rsplit(":", 1) for x in out_of(r).split())
    # /dev/mqueue (Docker): POSIX message queues of the container's own IPC namespace, no data store (size 0),
    # bounded by RLIMIT_MSGQUEUE
    assert set(got) - {"/dev/mqueue"} <= {"/tmp", "/work", "/dev/shm"}, got
    assert int(got.get("/dev/mqueue", 0)) == 0, got
    assert {"/tmp", "/work"} <= set(got), got
    for d, mb in got.items():
        assert int(mb) <= 64, (d, mb)


# ------------------------------------------------------------------------------------------- 6. assert-mode shadowing
# (name, the candidate's shadowing definition, the test's check body): the entry point is WRONG (returns x + 2,
# the test expects x + 1); only the shadowing definition could make the check pass.
SHADOW_CASES = [
    ("builtin function abs", "def abs(x):\n    return 0\n",
     "    assert abs(candidate(1.0) - 2.0) < 1e-6\n"),
    ("builtin function sorted", "def sorted(*a, **k):\n    return []\n",
     "    assert sorted(candidate([3, 1])) == sorted([2, 4])\n"),
    ("type set", "def set(*a):\n    return 7\n",
     "    assert set(candidate([1, 2])) == set([2, 3])\n"),
    ("type list", "def list(*a):\n    return 7\n",
     "    assert list(candidate([1])) == list([2])\n"),
    ("type int", "def int(*a):\n    return 0\n",
     "    assert int(candidate(5)) == int(6)\n"),
    ("type float", "def float(*a):\n    return 1.0\n",
     "    assert float(candidate(5)) == float(6)\n"),
    ("type str", "def str(*a):\n    return ''\n",
     "    assert str(candidate(5)) == str(6)\n"),
    ("operator helper round", "def round(*a):\n    return 0\n",
     "    assert round(candidate(1.0), 3) == round(2.0, 3)\n"),
    ("operator helper all", "def all(*a):\n    return True\n",
     "    assert all(candidate(x) == x + 1 for x in range(3))\n"),
    ("operator helper len", "def len(*a):\n    return 0\n",
     "    assert len([candidate(1)]) == 1 and candidate(1) == 2 or len('x') == 0\n"),
    ("operator helper isinstance", "def isinstance(*a):\n    return True\n",
     "    assert isinstance(candidate(1), str) or candidate(1) == 2\n"),
    ("operator helper sum", "def sum(*a):\n    return 0\n",
     "    assert sum([candidate(1), -2]) == sum([0])\n"),
    ("operator helper max", "def max(*a):\n    return 2\n",
     "    assert max(candidate(1), 0) == max(2, 0)\n"),
]


# the entry point uses no builtin name a case shadows
INCR = "def incr(x):\n    try:\n        return [v + {k} for v in x]\n    except TypeError:\n        return x + {k}\n\n"


def _shadow_job(shadow: str, body: str, correct: bool, style: str) -> dict:
    impl = "x + 1" if correct else "x + 2"
    if style == "humaneval":
        code = INCR.format(k=impl[-1]) + shadow
        test = "METADATA = {}\n\n\ndef check(candidate):\n" + body
        return {"code": code, "func_name": "incr", "tests": [T(test, "", "assert")]}
    # MBPP: top-level asserts call the function by its own name
    code = INCR.format(k=impl[-1]) + shadow
    test = body.strip().replace("candidate(", "incr(") + "\n\n\ndef check(candidate):\n    pass\n"
    return {"code": code, "func_name": "incr", "tests": [T(test, "", "assert")]}


@pytest.mark.parametrize("style", ["humaneval", "mbpp"])
@pytest.mark.parametrize("name, shadow, body", SHADOW_CASES, ids=[c[0] for c in SHADOW_CASES])
def test_shadowed_builtin_keeps_a_wrong_answer_wrong(sbx, style, name, shadow, body):
    wrong = sbx.run(_shadow_job(shadow, body, correct=False, style=style))
    assert wrong["verdict"] == "wrong_answer", (name, wrong["verdict"], wrong["error"])
    right = sbx.run(_shadow_job(shadow, body, correct=True, style=style))
    assert right["verdict"] == "passed", (name, right["verdict"], right["error"])


def test_assert_mode_helpers_the_test_calls_still_come_from_the_candidate(sbx):
    """HumanEval/32 and /38 call helpers of the prompt (poly, encode_cyclic) from check(): those names, which the
    test uses and the builtins do not define, are the candidate's, as in HumanEval's own evaluation."""
    code = ("def encode(s):\n    return s[::-1]\n\ndef decode(s):\n    return s[::-1]\n\n"
            "def unused(s):\n    return 0\n")
    test = "def check(candidate):\n    assert candidate(encode('abc')) == 'abc'\n"
    r = sbx.run({"code": code, "func_name": "decode", "tests": [T(test, "", "assert")]})
    assert r["verdict"] == "passed", r
    # a test that defines no check() of its own cannot borrow the candidate's
    r = sbx.run({"code": "def check(f):\n    return None\n\ndef f(x):\n    return 0\n", "func_name": "f",
                 "tests": [T("assert True\n", "", "assert")]})
    assert r["verdict"] == "runtime_error", r


# ------------------------------------------------------------------------------------------- 7. fidelity + minor
def test_int_str_digit_limit_matches_livecodebench(sbx):
    """LiveCodeBench's evaluator sets sys.set_int_max_str_digits(50000)."""
    big = "1" + "0" * 10000
    r = run(sbx, "print(10 ** 10000)", [T("", big)])
    assert r["verdict"] == "passed", r["error"]
    r = run(sbx, "print(int(input()) + 1)", [T(big, big[:-1] + "1")])
    assert r["verdict"] == "passed", r["error"]
    r = run(sbx, "class Solution:\n    def f(self, a):\n        return 10 ** 10000 + a\n",
            [T("1", big[:-1] + "1", "functional")], func_name="f")
    assert r["verdict"] == "passed", r["error"]
    r = run(sbx, "print(10 ** 50000)", [T("", "1" + "0" * 50000)])  # 50,001 digits: over the limit there too
    assert r["verdict"] == "runtime_error" and "digits" in r["error"], r["error"]


def test_daemonised_grandchild_costs_no_extra_wall_time(sbx):
    code = ("import os, time\n"
            "pid = os.fork()\n"
            "if pid == 0:\n"
            "    os.setsid()\n"
            "    if os.fork() == 0:\n"
            "        time.sleep(60)\n"
            "    os._exit(0)\n"
            "os.waitpid(pid, 0)  # the daemon exists before the answer is given\n"
            "print(int(input()) * 2)\n")
    run(sbx, "print(4)")  # warm

    def seconds(job: str) -> float:
        t = time.monotonic()
        r = run(sbx, job)
        assert r["verdict"] == "passed", r
        return time.monotonic() - t

    # Waiting for the daemon's end of the output pipes would cost the judge's drain timeouts (2 s a job) on top of a
    # plain job's time. Medians of three each, side by side, so one slow moment on a loaded machine does not decide.
    took = statistics.median(seconds(code) for _ in range(3))
    base = statistics.median(seconds("print(int(input()) * 2)") for _ in range(3))
    assert took < base + 1.0, (took, base)


@pytest.mark.parametrize("code, tests, func", [
    ("import os\nprint(4)\nos._exit(0)", None, ""),
    ("import os\nos._exit(0)", None, ""),
    ("import os\ndef f(x):\n    os._exit(0)\n", [T("def check(candidate):\n    assert candidate(1) == 2\n", "",
                                                    "assert")], "f"),
    ("import os\nclass Solution:\n    def f(self, x):\n        os._exit(0)\n", [T("1", "2", "functional")], "f"),
])
def test_os_exit_mid_test_is_a_runtime_error(sbx, code, tests, func):
    """A program that leaves with os._exit(0) before the harness has its answer fails (LiveCodeBench: the run ends
    without a result, which counts as a failure); the verdict is runtime_error with the exit status as the reason."""
    r = run(sbx, code, tests, func_name=func)
    assert r["verdict"] == "runtime_error", r
    assert "status 0" in r["error"], r["error"]


def test_nothing_of_a_hostile_job_is_left_running(sbx):
    marker = "dq" + uuid.uuid4().hex[:12]
    code = (f"import ctypes, os, time\n"
            "for _ in range(3):\n"
            "    pid = os.fork()\n"
            "    if pid == 0:\n"
            "        os.setsid()\n"
            "        if os.fork() == 0:\n"
            f"            ctypes.CDLL(None).prctl(15, b'{marker}', 0, 0, 0)\n"
            "            time.sleep(120)\n"
            "        os._exit(0)\n"
            "    os.waitpid(pid, 0)\n"
            "time.sleep(0.3)\nprint(5)\n")
    r = run(sbx, code)
    assert r["verdict"] == "wrong_answer", r
    deadline = time.monotonic() + 5
    while _host_procs_named(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _host_procs_named(marker)


def test_results_are_plain_json(sbx):
    r = run(sbx, "print(int(input()) * 2)")
    json.dumps(r)
    assert r["verdict"] == "passed" and r["backend"] == sbx.name


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM", "SIGALRM", "SIGHUP", "SIGUSR1", "SIGCHLD"])
def test_signals_to_the_harness_never_turn_a_wrong_answer_into_a_pass(sbx, sig):
    """The candidate signals every process it can see (its harness, PID 1) between tests; a wrong answer stays wrong
    and the backend goes on."""
    code = (f"import os, signal\nfor p in [1, os.getppid()] + [int(x) for x in os.listdir('/proc') if x.isdigit()]:\n"
            f"    try:\n        os.kill(p, signal.{sig}) if p != os.getpid() else None\n    except OSError:\n"
            "        pass\nprint(5)\n")
    r = run(sbx, code, [T("2", "4"), T("2", "4")])
    assert r["verdict"] in ("wrong_answer", "runtime_error"), r
    assert run(sbx, "print(int(input()) * 2)")["verdict"] == "passed"
    test = "def check(candidate):\n    assert candidate(1) == 2\n    assert candidate(2) == 3\n"
    code = (f"import os, signal\ndef f(x):\n    for p in (1, os.getppid()):\n        try:\n"
            f"            os.kill(p, signal.{sig})\n        except OSError:\n            pass\n    return x\n")
    r = run(sbx, code, [T(test, "", "assert")], func_name="f")
    assert r["verdict"] != "passed", r
