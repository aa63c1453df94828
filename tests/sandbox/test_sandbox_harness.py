"""Fast unit tests of the harness's comparison, encoding and wrapping logic (pure functions, run on the host).

These never execute candidate programs on the host; executions are tested in the integration tests (Docker)."""

from __future__ import annotations

import math

import pytest

from sandbox import harness as H
from sandbox.backends import job_key


@pytest.mark.parametrize("pred, gt, ok", [
    ("1\n2\n", "1\n2", True),
    ("  1  \n 2\n\n", "1\n2\n", True),
    ("1\n2\n3", "1\n2", False),
    ("1.0 2\n", "1 2.00\n", True),            # Decimal token fallback
    ("1e3\n", "1000\n", True),
    ("0.30000001\n", "0.3\n", False),         # Decimal is exact: no epsilon
    ("YES\n", "yes\n", False),
    ("a b\n", "a  b\n", False),               # text differs, tokens are not numbers
    ("1  2\n", "1 2\n", True),                # numeric tokens: whitespace-insensitive
    ("", "", True),
    ("", "0", False),
    ("nan\n", "nan\n", True),
])
def test_compare_stdout(pred, gt, ok):
    assert H.compare_stdout(pred, gt)[0] is ok


@pytest.mark.parametrize("pred, gt, ok", [
    ((1, 2), [1, 2], True),                   # top-level tuple -> list
    ([(1, 2)], [[1, 2]], False),              # nested tuples are not converted (LiveCodeBench)
    (2.0, 2, True),
    (True, 1, True),
    ({"a": 1}, {"a": 1}, True),
    ({1, 2}, [1, 2], False),
    (None, None, True),
])
def test_compare_functional(pred, gt, ok):
    assert H.compare_functional(pred, gt) is ok


@pytest.mark.parametrize("value", [
    None, True, 0, -5, 2 ** 200, -(3 ** 500), 1.5, math.inf, "x\udcff", [1, [2, (3,)]], (1, "a"),
    {"k": [1, 2], 3: None}, {1, 2}, frozenset({"a"}), b"\x00\xff", 1 + 2j, [],
])
def test_encode_roundtrip(value):
    import json

    back = H.decode_value(json.loads(json.dumps(H.encode_value(value))))
    assert back == value and type(back) is type(value)


def test_encode_nan():
    assert math.isnan(H.decode_value(H.encode_value(float("nan"))))


def test_encode_refuses_objects_and_subclasses():
    class AlwaysEqual:
        def __eq__(self, other):
            return True

    class EvilList(list):
        def __eq__(self, other):
            return True

    class EvilInt(int):
        pass

    for bad in (AlwaysEqual(), EvilList([1]), EvilInt(3), [AlwaysEqual()], {"k": AlwaysEqual()}, object()):
        with pytest.raises(H.Unencodable):
            H.encode_value(bad)
    cyclic: list = []
    cyclic.append(cyclic)
    with pytest.raises((H.Unencodable, RecursionError)):
        H.encode_value(cyclic)


def test_make_function_hoists_imports_and_wraps():
    src = H.make_function("import sys\nfrom math import gcd\nn = 3\nprint(gcd(n, 6))\n")
    assert "def wrapped_function():" in src
    head, body = src.split("def wrapped_function():")
    assert "import sys" in head and "from math import gcd" in head and "n = 3" in body
    assert src.startswith(H.IMPORT_STRING)


def test_make_function_leaves_syntax_errors_alone():
    assert H.make_function("def f(:\n") == "def f(:\n"


def test_clean_if_name_unwraps_main_block():
    out = H.clean_if_name("def main():\n    print(1)\nif __name__ == '__main__':\n    main()\n")
    assert "__name__" not in out and out.rstrip().endswith("main()")


def test_global_timeout_formula():
    assert H.global_timeout_s(3, 6.0) == 26.0


def test_job_key_names_everything():
    job = {"code": "print(1)", "tests": [{"input": "", "output": "1", "testtype": "stdin"}]}
    k = job_key(job)
    assert k == job_key(dict(job))
    assert k != job_key({**job, "code": "print(2)"})
    assert k != job_key({**job, "tests": [{"input": "", "output": "2", "testtype": "stdin"}]})
    assert k != job_key({**job, "limits": {"test_timeout_s": 1.0}})
    assert k != job_key({**job, "func_name": "f"})


def test_job_mode_rejects_mixed():
    with pytest.raises(ValueError):
        H.job_mode({"tests": [{"testtype": "stdin"}, {"testtype": "functional"}]})


def test_get_backend_refuses_without_sandbox(monkeypatch):
    import sandbox.backends as B
    import sandbox.bwrap_backend as BW

    monkeypatch.setattr(B, "_docker_reason", lambda: "no daemon")
    monkeypatch.setattr(BW, "bwrap_works", lambda: False)
    with pytest.raises(B.SandboxUnavailable, match="never run unsandboxed"):
        B.get_backend("auto")
    with pytest.raises(B.SandboxUnavailable):
        B.get_backend("docker")


def test_sandbox_imports_no_heavy_packages():
    import subprocess
    import sys

    code = ("import sys, sandbox, sandbox.docker_backend, sandbox.bwrap_backend, sandbox.image;"
            "bad=[m for m in ('torch','prefect','dreamprm') if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_result_cache(tmp_path):
    from sandbox.backends import ResultCache

    c = ResultCache(tmp_path / "c.sqlite")
    assert c.get("k") is None
    c.put("k", {"verdict": "passed"})
    assert c.get("k") == {"verdict": "passed"} and len(c) == 1


def test_probe_digest_is_of_the_whole_normalized_output():
    """Consensus compares probe outputs by this digest: equal after normalization means equal digests, and two
    outputs alike in their first 4,096 characters (what the result keeps) but not after have different ones."""
    assert H.normalize_probe_output(" 1 2 \n0.5\n\n") == "1 2\n0.500000"
    assert H.probe_digest(" 1 2 \n0.5\n\n") == H.probe_digest("1 2\n0.500000")
    assert H.probe_digest("2") != H.probe_digest("2.0")  # integers and decimals stay apart (documented)
    head = "1 " * 3000
    assert H.probe_digest(head + "7") != H.probe_digest(head + "8")


def test_process_cpu_seconds_reads_another_process_and_none_once_reaped():
    """The harness reads the candidate's CPU clock from outside; here a helper process (no candidate code) spins."""
    import subprocess
    import sys
    import time

    proc = subprocess.Popen([sys.executable, "-c", "import time\nt = time.process_time()\n"
                             "while time.process_time() - t < 0.3:\n    pass\ntime.sleep(5)"])
    try:
        first = H.process_cpu_seconds(proc.pid)
        deadline = time.monotonic() + 10
        while (H.process_cpu_seconds(proc.pid) or 0) < 0.3 and time.monotonic() < deadline:
            time.sleep(0.05)
        later = H.process_cpu_seconds(proc.pid)
        assert first is not None and first < later and later >= 0.3
        time.sleep(0.3)  # sleeping costs no CPU
        assert H.process_cpu_seconds(proc.pid) - later < 0.1
    finally:
        proc.kill()
        proc.wait()
    assert H.process_cpu_seconds(proc.pid) is None
