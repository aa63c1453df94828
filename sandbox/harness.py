#!/usr/bin/env python3
"""In-sandbox test harness with LiveCodeBench semantics (standard library only; copied into the sandbox image).

Three processes take part in a run, and only one of them ever sees an expected output:

- the **harness** (this script, ``--run`` for one job or ``--serve`` for a stream of jobs): forks a fresh **child**
  for the candidate *before* it reads the job, then reads the job (code, tests, limits), sends the child one test
  *input* at a time, receives the candidate's result serialised to plain data, and compares it with the expected
  output itself. It marks itself non-dumpable, so a same-uid child can neither ptrace it nor read
  ``/proc/<pid>/mem``. In ``--serve`` mode PID 1 never reads a job at all: it forks a *judge* per job (see
  :func:`serve_main`), so every child is a copy of a process that has seen no test;
- the **child** (forked, set up to look like a fresh ``python -I -u``; the prelude's modules already imported):
  runs the candidate with only the inputs; its return value is encoded with exact-type checks (an object whose
  ``__eq__`` always says True cannot be encoded and earns a wrong answer); its stdout/stderr go to capped pipes;
- for ``assert`` tests (HumanEval/MBPP ``check(candidate)``) the test program runs in the harness with the real
  builtins; the entry point (and only the other names of the candidate that the test reads and the builtins do not
  define, e.g. HumanEval/32's ``poly``) are proxies that call into the child and return plain decoded data, so a
  candidate's ``def abs``/``def set`` never replaces what the test computes its expected values with.

Verdict of a program that leaves early: ``sys.exit()``/``exit()`` in a stdin program ends it normally (its output
is compared, as in LiveCodeBench); ``os._exit(n)`` (or any death) before the harness has the test's answer is a
``runtime_error`` ("exited with status n before finishing the test"), as LiveCodeBench counts a run that gives no
result as failed. The int<->str digit limit is LiveCodeBench's 50,000 (``INT_MAX_STR_DIGITS``), not Python's 4,300.

Semantics follow LiveCodeBench's ``lcb_runner/evaluation/testing_util.py``: stdin programs are wrapped in a function
(imports hoisted, ``if __name__ == '__main__'`` unwrapped) with ``sys.stdin``/``input``/``open`` patched; output
compared line by line after stripping, with a Decimal token fallback; functional tests call
``Solution().<func>(*args)`` (or a top-level function) with one JSON argument per input line and compare with ``==``
after turning a tuple result into a list. Per-test timeout (default 6 s), whole-program timeout
``(timeout + 1) * n + 5``, stop at the first failure.

Probe tests (``"output": null``, stdin or functional) have no expected output: the harness only records what the
candidate printed or returned (``stdout`` of the per-test record, capped like every stream, and ``stdout_sha256``, the
digest of the WHOLE output in the form :func:`normalize_probe_output` gives, verdict ``passed`` when it ran to
completion), and a failing probe (an exception, a wrong type) does not stop the run, so every later probe is still
recorded; a timeout or a death does, as the child is gone. The digest is what tells two long outputs apart: a probe
grown to 20,000 items often prints more than the 4,096 characters kept. Consensus selection compares these outputs across candidates
(``dreamprm.evaluate.consensus``); tests with an expected output behave exactly as before.

Every per-test record carries two clocks: ``time_s``, the wall-clock seconds from sending the input to the answer
(what LiveCodeBench's time limit is judged on, and what the timeouts here use), and ``cpu_s``, the CPU seconds (user
+ system, all threads) the candidate's process spent on the test, read by the harness from that process's POSIX
CPU-time clock (:func:`process_cpu_seconds`; the candidate cannot alter it), None where it could not be read (the
process was gone). Wall time counts the time the process waited for a core too, so on a loaded machine it varies
from run to run; CPU time barely does, which is what ranking programs by speed needs
(``dreamprm.evaluate.consensus``). Work a candidate hands to a subprocess of its own is not counted.

Wire format (``--run``/``--serve``): frames of a 4-byte big-endian length followed by UTF-8 JSON; ``--run`` also
accepts a bare JSON document on stdin. Job: ``{"code", "tests": [{"input", "output", "testtype"}], "func_name",
"limits": {...}}``. Result: ``{"verdict", "passed", "num_tests", "num_passed", "per_test", "time_s", "error",
"harness_version"}``.
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import json
import os
import select
import signal
import struct
import sys
import threading
import re
import time
from decimal import Decimal

HARNESS_VERSION = "7"  # 6: probe records carry stdout_sha256; 7: every per-test record carries cpu_s
# LiveCodeBench's evaluator (lcb_runner/evaluation/testing_util.py) raises Python's int<->str digit limit to this, in
# the process that runs the candidate; the harness sets it in itself and in every candidate process.
INT_MAX_STR_DIGITS = 50000

VERDICTS = ("passed", "wrong_answer", "time_limit", "memory_limit", "runtime_error", "syntax_error", "global_timeout")
DEFAULT_LIMITS = {
    "test_timeout_s": 6.0,  # LiveCodeBench's per-test timeout
    "stream_cap_bytes": 4096,  # stdout/stderr kept per test in the result
    "output_limit_bytes": 64 << 20,  # captured stdout beyond this is a wrong answer (and is not kept)
    "result_limit_bytes": 256 << 20,  # largest serialised return value accepted from the child
    "file_size_bytes": 64 << 20,  # RLIMIT_FSIZE of the child
}
WORK_DIR_DEFAULT = "/work"

# LiveCodeBench prepends this to every candidate (testing_util.import_string).
IMPORT_STRING = (
    "from string import *\nfrom re import *\nfrom datetime import *\nfrom collections import *\n"
    "from heapq import *\nfrom bisect import *\nfrom copy import *\nfrom math import *\nfrom random import *\n"
    "from statistics import *\nfrom itertools import *\nfrom functools import *\nfrom operator import *\n"
    "from io import *\nfrom sys import *\nfrom json import *\nfrom builtins import *\nfrom typing import *\n"
    "import string\nimport re\nimport datetime\nimport collections\nimport heapq\nimport bisect\nimport copy\n"
    "import math\nimport random\nimport statistics\nimport itertools\nimport functools\nimport operator\n"
    "import io\nimport sys\nimport json\nsys.setrecursionlimit(50000)\n"
)


# ----------------------------------------------------------------------------------------------------------------
# Plain-data encoding (exact types only) shared by child and harness
# ----------------------------------------------------------------------------------------------------------------
class Unencodable(Exception):
    """The candidate returned something that is not plain data (or a subclass posing as it)."""


_SMALL = 1 << 53


def encode_value(x, depth: int = 0):
    """Encode plain Python data as JSON-able tagged data, checking exact types (no subclasses, no custom objects)."""
    if depth > 2000:
        raise Unencodable("value nested too deeply")
    t = type(x)
    if x is None or t is bool or t is str:
        return x
    if t is int:
        return x if -_SMALL < x < _SMALL else ["I", hex(x)]
    if t is float:
        return ["f", x.hex()]
    if t is list:
        return ["L", *[encode_value(v, depth + 1) for v in x]]
    if t is tuple:
        return ["T", *[encode_value(v, depth + 1) for v in x]]
    if t is dict:
        return ["D", *[[encode_value(k, depth + 1), encode_value(v, depth + 1)] for k, v in x.items()]]
    if t is set:
        return ["S", *[encode_value(v, depth + 1) for v in x]]
    if t is frozenset:
        return ["F", *[encode_value(v, depth + 1) for v in x]]
    if t is bytes:
        return ["B", x.hex()]
    if t is complex:
        return ["C", x.real.hex(), x.imag.hex()]
    raise Unencodable(f"return value of type {t.__module__}.{t.__qualname__} is not plain data")


def decode_value(x):
    """Inverse of encode_value; builds only builtin objects."""
    if x is None or type(x) in (bool, str, int):
        return x
    if type(x) is float:  # never produced by encode_value, tolerated
        return x
    tag, rest = x[0], x[1:]
    if tag == "I":
        return int(rest[0], 16)
    if tag == "f":
        return float.fromhex(rest[0])
    if tag == "L":
        return [decode_value(v) for v in rest]
    if tag == "T":
        return tuple(decode_value(v) for v in rest)
    if tag == "D":
        return {decode_value(k): decode_value(v) for k, v in rest}
    if tag == "S":
        return {decode_value(v) for v in rest}
    if tag == "F":
        return frozenset(decode_value(v) for v in rest)
    if tag == "B":
        return bytes.fromhex(rest[0])
    if tag == "C":
        return complex(float.fromhex(rest[0]), float.fromhex(rest[1]))
    raise ValueError(f"unknown tag {tag!r}")


# ----------------------------------------------------------------------------------------------------------------
# Comparison (LiveCodeBench rules); pure functions, unit-tested on the host
# ----------------------------------------------------------------------------------------------------------------
def get_stripped_lines(val: str) -> list[str]:
    val = val.strip()
    return [line.strip() for line in val.split("\n")]


def convert_line_to_decimals(line: str):
    try:
        return True, [Decimal(tok) for tok in line.split()]
    except Exception:
        return False, []


def compare_stdout(prediction: str, expected: str) -> tuple[bool, str]:
    """LiveCodeBench stdin comparison: line by line after strip; differing lines compared token-wise as Decimals."""
    pred_lines = get_stripped_lines(prediction)
    gt_lines = get_stripped_lines(expected)
    if len(pred_lines) != len(gt_lines):
        return False, f"Wrong answer: mismatched output length ({len(pred_lines)} lines, expected {len(gt_lines)})"
    for idx, (p, g) in enumerate(zip(pred_lines, gt_lines)):
        if p == g:
            continue
        ok_p, dp = convert_line_to_decimals(p)
        if not ok_p:
            return False, f"Wrong answer at output_line_idx={idx}: {p[:200]} != {g[:200]}"
        ok_g, dg = convert_line_to_decimals(g)
        if not ok_g:
            return False, f"Wrong answer at output_line_idx={idx}: {p[:200]} != {g[:200]}"
        if dp == dg:
            continue
        return False, f"Wrong answer at output_line_idx={idx}: {p[:200]} != {g[:200]}"
    return True, ""


def compare_functional(prediction, expected) -> bool:
    """LiveCodeBench functional comparison: a tuple result becomes a list, then ``==`` (on plain decoded data)."""
    if isinstance(prediction, tuple):
        prediction = list(prediction)
    try:
        return bool(prediction == expected)
    except Exception:
        return False


def clean_if_name(code: str) -> str:
    """LiveCodeBench: unwrap a trailing ``if __name__ == '__main__':`` block."""
    try:
        tree = ast.parse(code)
        last = tree.body[-1]
        if isinstance(last, ast.If) and ast.unparse(last.test).strip() == "__name__ == '__main__'":
            code = ast.unparse(tree.body[:-1]) + "\n" + ast.unparse(last.body)
    except Exception:
        pass
    return code


def make_function(code: str) -> str:
    """LiveCodeBench: hoist imports, put every other top-level statement into ``wrapped_function()``."""
    try:
        imports, others = [], []
        tree = ast.parse(code)
        for stmt in tree.body:
            (imports if isinstance(stmt, (ast.Import, ast.ImportFrom)) else others).append(stmt)
        fn = ast.FunctionDef(
            name="wrapped_function",
            args=ast.arguments(posonlyargs=[], args=[], kwonlyargs=[], kw_defaults=[], defaults=[]),
            body=others or [ast.Pass()],
            decorator_list=[],
            lineno=-1,
        )
        return IMPORT_STRING + "\n" + ast.unparse(imports) + "\n" + ast.unparse(fn)
    except Exception:
        return code


def failure_result(job: dict, verdict: str, error: str, t0: float) -> dict:
    """The result of a job that the backend could not run to the end (worker lost, sandbox timeout), in the
    harness's result format. ``t0`` is the job's time.monotonic() start."""
    tests = job.get("tests") or []
    elapsed = round(time.monotonic() - t0, 6)
    return {"verdict": verdict, "passed": False, "num_tests": len(tests), "num_passed": 0,
            "per_test": [{"verdict": verdict, "time_s": elapsed, "stdout": "", "stderr": "", "error": error}],
            "time_s": elapsed, "error": error, "harness_version": HARNESS_VERSION}


def global_timeout_s(n_tests: int, test_timeout_s: float) -> float:
    return (test_timeout_s + 1) * n_tests + 5


# ----------------------------------------------------------------------------------------------------------------
# Framing
# ----------------------------------------------------------------------------------------------------------------
def _read_exact(fd: int, n: int) -> bytes | None:
    chunks, got = [], 0
    while got < n:
        b = os.read(fd, min(n - got, 1 << 20))
        if not b:
            return None
        chunks.append(b)
        got += len(b)
    return b"".join(chunks)


def read_frame(fd: int, limit: int = 1 << 31):
    head = _read_exact(fd, 4)
    if head is None:
        return None
    (n,) = struct.unpack(">I", head)
    if n > limit:
        raise ValueError(f"frame of {n} bytes exceeds the limit of {limit}")
    body = _read_exact(fd, n)
    if body is None:
        return None
    return json.loads(body.decode("utf-8", "surrogatepass"))


def write_frame(fd: int, obj) -> None:
    body = json.dumps(obj, ensure_ascii=True).encode("ascii")
    data = struct.pack(">I", len(body)) + body
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


# ----------------------------------------------------------------------------------------------------------------
# Child: runs the candidate; sees only inputs
# ----------------------------------------------------------------------------------------------------------------
class _CappedStringIO:
    """sys.stdout replacement: keeps up to ``limit`` characters, then only counts."""

    def __init__(self, limit: int) -> None:
        self._parts: list[str] = []
        self._n = 0
        self.limit = limit
        self.overflow = False

    def write(self, s) -> int:
        if type(s) is not str:
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        if self._n + len(s) > self.limit:
            self.overflow = True
        else:
            self._parts.append(s)
            self._n += len(s)
        return len(s)

    def writelines(self, lines) -> None:
        for s in lines:
            self.write(s)

    def flush(self) -> None:
        pass

    def close(self, *a) -> int:
        return 1

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def getvalue(self) -> str:
        return "".join(self._parts)

    encoding = "utf-8"


def _child_setup(limits: dict) -> None:
    import resource

    try:  # be the first one the OOM killer picks
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: die with the harness
    except Exception:
        pass
    for res, val in ((resource.RLIMIT_CORE, 0), (resource.RLIMIT_FSIZE, int(limits["file_size_bytes"]))):
        try:
            resource.setrlimit(res, (val, val))
        except (ValueError, OSError):
            pass


def _error_kind(exc: BaseException) -> str:
    return "memory_limit" if isinstance(exc, MemoryError) else "runtime_error"


def _exc_text(exc: BaseException) -> str:
    try:
        return f"{type(exc).__name__}: {exc}"[:2000]
    except Exception:
        return type(exc).__name__


def _join_candidate_threads() -> None:
    """Wait for the non-daemon threads the candidate started, as the interpreter does before a program exits.
    Competitive-programming code often runs ``solve`` in a ``threading.Thread`` (for a larger stack) and returns at
    once; its output belongs to the test. The harness's per-test timeout bounds the wait."""
    threading = sys.modules.get("threading")
    if threading is None:
        return
    for t in threading.enumerate():
        if t is not threading.main_thread() and not t.daemon:
            t.join()


def child_main(cmd_fd: int, res_fd: int) -> None:
    """Candidate side: commands in on cmd_fd, results out on res_fd; fd 0 is /dev/null; fds 1/2 are capped pipes."""
    import builtins
    import io

    os.set_inheritable(cmd_fd, False)
    os.set_inheritable(res_fd, False)
    setup = read_frame(cmd_fd)
    if setup is None:  # the harness went away before handing over a job
        return
    limits = setup["limits"]
    _child_setup(limits)
    mode, code, func_name = setup["mode"], setup["code"], setup.get("func_name") or ""
    send = lambda obj: write_frame(res_fd, obj)  # noqa: E731
    real_stdout = sys.stdout

    # --- load the candidate --------------------------------------------------------------------------------------
    module: dict = {"__name__": "tmp_sol" if mode != "assert" else "__main__", "__builtins__": builtins}
    if mode == "stdin":
        source = make_function(clean_if_name(code))
    elif mode == "functional":
        source = IMPORT_STRING + "\n\n" + code
    else:
        source = code
    try:
        compiled = compile(source, "<candidate>", "exec")
    except (SyntaxError, ValueError) as exc:  # ValueError: null bytes in source
        send({"ok": False, "kind": "syntax_error", "error": _exc_text(exc)})
        return
    try:
        exec(compiled, module)
        if mode == "stdin":
            target = module["wrapped_function"]
        elif mode == "functional":
            holder = module["Solution"]() if "class Solution" in code else None
            target = getattr(holder, func_name) if holder is not None else module[func_name]
        else:
            target = None
    except BaseException as exc:  # noqa: BLE001 - everything the candidate raises is a verdict
        if isinstance(exc, SystemExit) and mode == "stdin":
            target = lambda: None  # noqa: E731
        else:
            send({"ok": False, "kind": _error_kind(exc), "error": "while loading: " + _exc_text(exc)})
            return
    if mode == "assert":
        send({"ok": True, "names": _describe_names(module)})
    else:
        send({"ok": True})

    # --- serve tests / calls -------------------------------------------------------------------------------------
    while True:
        msg = read_frame(cmd_fd)
        if msg is None:
            return
        try:
            if mode == "stdin":
                inputs = msg["input"]
                # LiveCodeBench stacks patch(sys.stdin.read/readline/readlines) under patch("sys.stdin",
                # StringIO(inputs)); the method patches land on the real stdin object, which is then replaced, so
                # the candidate sees a plain, consuming StringIO (readline keeps its newline; read() after
                # readline() returns the rest, not the whole input). Verified against unittest.mock directly.
                fake = io.StringIO(inputs)
                cap = _CappedStringIO(int(limits["output_limit_bytes"]))
                saved_open = builtins.open
                builtins.open = lambda *a, **k: io.StringIO(inputs)
                sys.stdin, sys.stdout = fake, cap
                try:
                    try:
                        target()
                        _join_candidate_threads()
                    except SystemExit:
                        pass
                finally:
                    sys.stdout, sys.stdin = real_stdout, sys.__stdin__
                    builtins.open = saved_open
                if cap.overflow:
                    send({"ok": False, "kind": "wrong_answer", "error": "output limit exceeded"})
                else:
                    send({"ok": True, "stdout": cap.getvalue()})
            elif mode == "functional":
                args = [json.loads(line) for line in msg["input"].split("\n")]
                value = target(*args)
                send({"ok": True, "value": encode_value(value)})
            else:
                fn = module[msg["call"]]
                value = fn(*decode_value(msg["args"]), **decode_value(msg["kwargs"]))
                send({"ok": True, "value": encode_value(value)})
        except Unencodable as exc:
            send({"ok": False, "kind": "wrong_answer", "error": str(exc)})
        except BaseException as exc:  # noqa: BLE001
            sys.stdout = real_stdout
            send({"ok": False, "kind": _error_kind(exc), "error": _exc_text(exc)})


def _describe_names(module: dict) -> dict:
    """What each top-level name of an assert-mode candidate is, for the harness to bind the names its test uses:
    ``"callable"`` (the candidate's own code: a proxy into this process), ``["module", name]`` or
    ``["attr", module, qualname]`` (something the candidate imported from the standard library: the harness binds its
    own, real object of that name; a candidate that fakes the claim gets the real object too)."""
    out = {}
    for k, v in list(module.items()):
        if k.startswith("__"):
            continue
        try:
            if type(v) is type(sys):
                out[k] = ["module", str(v.__name__)]
            elif callable(v):
                mod, qual = getattr(v, "__module__", None), getattr(v, "__qualname__", None)
                if type(mod) is str and type(qual) is str and mod.split(".")[0] in _STDLIB and mod != "__main__":
                    out[k] = ["attr", mod, qual]
                else:
                    out[k] = "callable"
        except Exception:  # noqa: BLE001 - an object whose attributes raise is the candidate's own
            if callable(v):
                out[k] = "callable"
    return out


_STDLIB = frozenset(getattr(sys, "stdlib_module_names", ())) - {"__main__"}


def _become_child(cmd_r: int, res_w: int, out_w: int, err_w: int, workdir: str | None, env: dict) -> None:
    """In the freshly forked child: look like a new ``python -I -u`` process, then serve the candidate."""
    code = 1
    try:
        os.setsid()
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        keep = sorted({cmd_r, res_w})
        lo = 3
        for fd in keep:  # every other descriptor of the harness (its job stream above all) is closed
            os.closerange(lo, fd)
            lo = fd + 1
        os.closerange(lo, 1 << 16)
        for sig in (signal.SIGTERM, signal.SIGCHLD, signal.SIGALRM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a fresh interpreter
        signal.setitimer(signal.ITIMER_REAL, 0)
        if workdir and os.path.isdir(workdir):
            os.chdir(workdir)
        os.environ.clear()
        os.environ.update(env)
        try:
            import ctypes

            ctypes.CDLL(None).prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE 1, as after execve: its memory is its own
        except Exception:  # noqa: BLE001
            pass
        import io
        import random

        random.seed()  # a fresh interpreter seeds from os.urandom; a fork would share the harness's state
        sys.stdin = sys.__stdin__ = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
        sys.stdout = sys.__stdout__ = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8",
                                                       write_through=True)
        sys.stderr = sys.__stderr__ = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8",
                                                       errors="backslashreplace", write_through=True)
        sys.argv = [os.path.abspath(__file__)]
        _raise_digit_limit()
        child_main(cmd_r, res_w)
        code = 0
    except BaseException:  # noqa: BLE001 - whatever happens, this process must not return into the harness
        try:
            import traceback

            traceback.print_exc()
        except BaseException:  # noqa: BLE001
            pass
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:  # noqa: BLE001
            pass
        os._exit(code)


# ----------------------------------------------------------------------------------------------------------------
# Harness side
# ----------------------------------------------------------------------------------------------------------------
class _Drain(threading.Thread):
    """Reads a pipe to EOF, keeping the first ``cap`` bytes and the byte count; a flood costs only CPU."""

    def __init__(self, fd: int, cap: int) -> None:
        super().__init__(daemon=True)
        self.fd, self.cap = fd, cap
        self.buf = bytearray()
        self.mark = 0
        self.total = 0

    def run(self) -> None:
        try:
            while True:
                b = os.read(self.fd, 1 << 16)
                if not b:
                    break
                self.total += len(b)
                if len(self.buf) < self.cap * 4:
                    self.buf += b[: self.cap * 4 - len(self.buf)]
        except OSError:
            pass
        finally:
            try:
                os.close(self.fd)
            except OSError:
                pass

    def take(self) -> str:
        """The text written since the last take, capped."""
        chunk = bytes(self.buf[self.mark:])
        self.mark = len(self.buf)
        return _cap_text(chunk.decode("utf-8", "replace"), self.cap)


def _cap_text(s: str, cap: int) -> str:
    return s if len(s) <= cap else s[:cap] + f"...(truncated, {len(s)} chars)"


class _Timeout(Exception):
    pass


class _ForkedProcess:
    """The little of ``subprocess.Popen`` that :class:`Child` needs, for a process made with ``os.fork``."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere: its status is unknown
                self.returncode = -signal.SIGKILL
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() >= deadline:
                raise TimeoutError()
            time.sleep(0.002)
        return self.returncode  # type: ignore[return-value]

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except OSError:
            pass


def process_cpu_seconds(pid: int) -> float | None:
    """CPU seconds (user + system, every thread) process ``pid`` has used so far, at nanosecond resolution, from
    its POSIX CPU-time clock (the clock id ``clock_getcpuclockid(3)`` returns, built here as Linux encodes it:
    ``(~pid << 3) | CPUCLOCK_SCHED``). Linux lets any process read another's; None once the process is reaped."""
    try:
        return time.clock_gettime((~pid << 3) | 2)
    except (OSError, OverflowError, ValueError):
        return None


def _raise_digit_limit() -> None:
    try:
        sys.set_int_max_str_digits(INT_MAX_STR_DIGITS)
    except AttributeError:  # Python < 3.11: no limit at all
        pass


def preload_prelude() -> None:
    """Import the modules of LiveCodeBench's prelude once, in the harness, so that every forked child finds them in
    ``sys.modules``: the candidate still executes the prelude's import statements, which are then dictionary lookups.
    This, and forking instead of starting an interpreter, is most of the pool's speed (benchmarks/bench_sandbox.py)."""
    exec(compile(IMPORT_STRING, "<prelude>", "exec"), {"__name__": "prelude"})
    sys.setrecursionlimit(1000)  # the prelude raised it; the candidate's own copy of the prelude raises it again


_CHILD_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}


class Child:
    """One candidate process and its pipes.

    The process is forked from the harness *before the harness reads the job* (:meth:`spawn`), so its memory holds
    no test of the job, and it is set up with the job's limits and code afterwards (:meth:`begin`). Forking a harness
    that has imported the prelude costs about a millisecond; starting a fresh interpreter and importing the prelude
    costs tens. The child resets what a fresh interpreter would have fresh: session, cwd, environment, standard
    streams, signal handlers, dumpability and the ``random`` seed."""

    def __init__(self, workdir: str | None, reap_all: bool = False) -> None:
        self.reap_all = reap_all
        cmd_r, cmd_w = os.pipe()
        res_r, res_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        env = {**_CHILD_ENV, "HOME": workdir or "/tmp"}
        pid = os.fork()
        if pid == 0:  # the candidate's process: never returns
            _become_child(cmd_r, res_w, out_w, err_w, workdir, env)
        for fd in (cmd_r, res_w, out_w, err_w):
            os.close(fd)
        self.proc = _ForkedProcess(pid)
        self.cmd_w, self.res_r, self._out_r, self._err_r = cmd_w, res_r, out_r, err_r
        self._writer: threading.Thread | None = None
        self.dead = False

    def alive(self) -> bool:
        """False once the child died without replying (see :meth:`death_verdict`)."""
        return not self.dead

    def cpu_seconds(self) -> float | None:
        """CPU seconds the candidate's process has used so far (:func:`process_cpu_seconds`)."""
        return process_cpu_seconds(self.proc.pid)

    def begin(self, setup: dict) -> None:
        """Start reading the child's output and hand it the job's code and limits."""
        limits = setup["limits"]
        self.out = _Drain(self._out_r, int(limits["stream_cap_bytes"]))
        self.err = _Drain(self._err_r, int(limits["stream_cap_bytes"]))
        self.out.start()
        self.err.start()
        self.result_limit = int(limits["result_limit_bytes"])
        self.send(setup)

    def send(self, obj) -> None:
        # Large inputs must not block the harness while the child is busy: write from a thread.
        if self._writer is not None:
            self._writer.join()

        def _w() -> None:
            try:
                write_frame(self.cmd_w, obj)
            except OSError:
                pass

        self._writer = threading.Thread(target=_w, daemon=True)
        self._writer.start()

    def recv(self, timeout: float):
        """The child's next reply; None when it died; raises _Timeout."""
        deadline = time.monotonic() + max(0.0, timeout)
        buf = b""
        need = 4
        header_done = False
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _Timeout()
            try:
                r, _, _ = select.select([self.res_r], [], [], left)
            except InterruptedError:
                continue
            if not r:
                raise _Timeout()
            b = os.read(self.res_r, min(1 << 20, need - len(buf)))
            if not b:
                return None
            buf += b
            if len(buf) == need:
                if not header_done:
                    (n,) = struct.unpack(">I", buf)
                    if n > self.result_limit:
                        self.dead = True  # its unread body is still in the pipe: no later reply can be trusted
                        return {"ok": False, "kind": "wrong_answer", "error": "result too large"}
                    header_done, need, buf = True, n, b""
                    if n == 0:
                        return None
                else:
                    try:
                        return json.loads(buf.decode("utf-8", "surrogatepass"))
                    except ValueError:
                        return {"ok": False, "kind": "wrong_answer", "error": "garbled result from candidate"}

    def death_verdict(self) -> tuple[str, str]:
        """Why the child died without replying."""
        self.dead = True
        try:
            rc = self.proc.wait(timeout=2)
        except TimeoutError:
            return "runtime_error", "candidate closed its result channel"
        if rc == -signal.SIGKILL:
            return "memory_limit", "killed by SIGKILL (memory cap)"
        if rc is not None and rc < 0:
            try:
                name = signal.Signals(-rc).name
            except ValueError:
                name = str(-rc)
            return "runtime_error", f"killed by signal {name}"
        return "runtime_error", f"exited with status {rc} before finishing the test"

    def kill(self) -> None:
        for fd in (self.cmd_w, self.res_r):
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            self.proc.kill()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except TimeoutError:
            pass
        if self.reap_all:
            # A daemon the candidate left (setsid + double fork) holds the output pipes open: kill it before waiting
            # for their end, or each drain below would wait out its timeout (seconds per job).
            _kill_others()
        if hasattr(self, "out"):
            self.out.join(timeout=1)
            self.err.join(timeout=1)
        else:  # never begun: nobody drains its output pipes
            for fd in (self._out_r, self._err_r):
                try:
                    os.close(fd)
                except OSError:
                    pass


def _result(verdict: str, tests: list, per_test: list, t0: float, error: str = "") -> dict:
    n_passed = sum(1 for p in per_test if p["verdict"] == "passed")
    return {
        "verdict": verdict,
        "passed": verdict == "passed",
        "num_tests": len(tests),
        "num_passed": n_passed,
        "per_test": per_test,
        "time_s": round(time.monotonic() - t0, 6),
        "error": error[:4000],
        "harness_version": HARNESS_VERSION,
    }


def job_mode(job: dict) -> str:
    tests = job.get("tests") or []
    types = {t.get("testtype", "stdin") for t in tests}
    if len(types) > 1:
        raise ValueError(f"mixed test types {sorted(types)}")
    return types.pop() if types else "stdin"


def run_job(job: dict, child: Child, workdir: str | None = None) -> dict:
    """Run one candidate against its tests in ``child`` (spawned before the job was read; killed here whatever
    happens); never raises for anything the candidate or the tests do."""
    t0 = time.monotonic()
    tests = job.get("tests") or []
    per_test: list[dict] = []
    try:
        try:
            limits = {**DEFAULT_LIMITS, **(job.get("limits") or {})}
            mode = job_mode(job)
            if mode not in ("stdin", "functional", "assert"):
                raise ValueError(f"unknown test type {mode!r}")
            code = job.get("code")
            if not isinstance(code, str):
                raise ValueError("code is not a string")
        except Exception as exc:  # noqa: BLE001 - a malformed job is a verdict, not a crash
            return _result("runtime_error", tests if isinstance(tests, list) else [], per_test, t0, f"bad job: {exc}")
        if not tests:
            return _result("runtime_error", tests, per_test, t0, "no tests")
        tto = float(limits["test_timeout_s"])
        deadline = t0 + global_timeout_s(len(tests), tto)
        cap = int(limits["stream_cap_bytes"])
        child.begin({"mode": mode, "code": code, "func_name": job.get("func_name") or "", "limits": limits})
        return _drive(child, mode, tests, job, per_test, tto, deadline, cap, t0)
    finally:
        child.kill()


def _entry(verdict: str, t: float, child: Child, stdout: str = "", error: str = "") -> dict:
    return {"verdict": verdict, "time_s": round(t, 6), "stdout": stdout, "stderr": child.err.take(),
            "error": error[:2000]}


def _drive(child: Child, mode: str, tests: list, job: dict, per_test: list, tto: float, deadline: float,
           cap: int, t0: float) -> dict:
    def remaining() -> float:
        return min(tto, deadline - time.monotonic())

    def timeout_verdict(start: float) -> str:
        return "global_timeout" if time.monotonic() >= deadline - 1e-3 and remaining() < tto else "time_limit"

    cpu_mark = child.cpu_seconds() or 0.0

    def with_cpu(entry: dict) -> dict:
        """``entry`` with the CPU seconds the child spent since the previous test ended (module docstring)."""
        nonlocal cpu_mark
        now = child.cpu_seconds()
        entry["cpu_s"] = None if now is None else round(max(0.0, now - cpu_mark), 6)
        cpu_mark = now if now is not None else cpu_mark
        return entry

    # Loading the candidate counts against the first test's time budget (and its CPU time), as in LiveCodeBench.
    start = time.monotonic()
    try:
        hello = child.recv(remaining())
    except _Timeout:
        per_test.append(with_cpu(_entry(timeout_verdict(start), time.monotonic() - start, child,
                                        error="timeout while loading")))
        return _result(per_test[-1]["verdict"], tests, per_test, t0, "timeout while loading the candidate")
    if hello is None:
        v, why = child.death_verdict()
        per_test.append(with_cpu(_entry(v, time.monotonic() - start, child, error=why)))
        return _result(v, tests, per_test, t0, why)
    if not hello.get("ok"):
        v = hello.get("kind", "runtime_error")
        per_test.append(with_cpu(_entry(v, time.monotonic() - start, child, error=hello.get("error", ""))))
        return _result(v, tests, per_test, t0, hello.get("error", ""))
    load_time = time.monotonic() - start
    names = hello.get("names")
    names = names if isinstance(names, dict) else {}

    for i, test in enumerate(tests):
        start = time.monotonic() - (load_time if i == 0 else 0.0)
        if mode == "assert":
            entry = _run_assert_test(child, test, job, names, remaining, timeout_verdict, start)
        else:
            entry = _run_io_test(child, mode, test, remaining, timeout_verdict, start, cap)
        per_test.append(with_cpu(entry))
        if entry["verdict"] != "passed":
            if _is_probe(test) and entry["verdict"] not in _FATAL_VERDICTS and child.alive():
                continue  # the child answered with an error: the next probe still runs
            return _result(entry["verdict"], tests, per_test, t0, f"test {i}: {entry['error']}")
    failed = next((i for i, e in enumerate(per_test) if e["verdict"] != "passed"), None)
    if failed is not None:
        return _result(per_test[failed]["verdict"], tests, per_test, t0,
                       f"test {failed}: {per_test[failed]['error']}")
    return _result("passed", tests, per_test, t0)


# After these the child is gone (or stuck): no further probe can run in it.
_FATAL_VERDICTS = ("time_limit", "global_timeout", "memory_limit")


def _is_probe(test: dict) -> bool:
    """A test without an expected output: only the candidate's output is recorded."""
    return isinstance(test, dict) and "output" in test and test["output"] is None


_DECIMAL_TOKEN = re.compile(r"-?\d+\.\d+(?:[eE][-+]?\d+)?\Z")


def normalize_probe_output(text: str) -> str:
    """A probe's output in the form candidates are compared in (``dreamprm.evaluate.consensus``): lines stripped,
    leading and trailing blank lines dropped, tokens with a decimal point rounded to 6 places (``0.5`` and
    ``0.500000`` agree; ``2`` and ``2.0`` do not: close to, not the same as, LiveCodeBench's Decimal fallback)."""
    out = []
    for line in str(text).strip().split("\n"):
        tokens = line.strip().split()
        out.append(" ".join(f"{float(t):.6f}" if _DECIMAL_TOKEN.match(t) else t for t in tokens))
    return "\n".join(out)


def probe_digest(text: str) -> str:
    """sha256 of the whole normalized output: equal digests mean equal outputs, however long."""
    return hashlib.sha256(normalize_probe_output(text).encode("utf-8", "surrogatepass")).hexdigest()


def _probe_entry(elapsed: float, child: "Child", out: str, cap: int) -> dict:
    entry = _entry("passed", elapsed, child, stdout=_cap_text(out, cap))
    entry["stdout_sha256"] = probe_digest(out)
    return entry


def _run_io_test(child: Child, mode: str, test: dict, remaining, timeout_verdict, start: float, cap: int) -> dict:
    inp = test.get("input", "")
    expected = test.get("output", "")
    probe = _is_probe(test)
    if not isinstance(inp, str) or not (probe or isinstance(expected, str)):
        return _entry("runtime_error", 0.0, child, error="malformed test: input/output must be strings")
    child.send({"input": inp})
    try:
        reply = child.recv(remaining())
    except _Timeout:
        return _entry(timeout_verdict(start), time.monotonic() - start, child, error="Time Limit Exceeded")
    elapsed = time.monotonic() - start
    if reply is None:
        v, why = child.death_verdict()
        return _entry(v, elapsed, child, stdout=child.out.take(), error=why)
    if not reply.get("ok"):
        return _entry(reply.get("kind", "runtime_error"), elapsed, child, error=reply.get("error", ""))
    if mode == "stdin":
        out = reply.get("stdout", "")
        if probe:
            return _probe_entry(elapsed, child, out, cap)
        ok, why = compare_stdout(out, expected)
        return _entry("passed" if ok else "wrong_answer", elapsed, child, stdout=_cap_text(out, cap), error=why)
    if probe:
        try:
            value = decode_value(reply.get("value"))
        except Exception:  # noqa: BLE001
            return _entry("wrong_answer", elapsed, child, error="garbled result from candidate")
        return _probe_entry(elapsed, child, _safe_repr(value), cap)
    try:
        expected_value = json.loads(expected)
    except ValueError:
        return _entry("wrong_answer", elapsed, child, error="malformed expected output (not JSON)")
    try:
        value = decode_value(reply.get("value"))
    except Exception:  # noqa: BLE001
        return _entry("wrong_answer", elapsed, child, error="garbled result from candidate")
    ok = compare_functional(value, expected_value)
    shown = _cap_text(_safe_repr(value), cap)
    return _entry("passed" if ok else "wrong_answer", elapsed, child, stdout=shown,
                  error="" if ok else "Wrong Answer")


def _safe_repr(v) -> str:
    try:
        return json.dumps(v)
    except Exception:  # noqa: BLE001
        try:
            return repr(v)
        except Exception:  # noqa: BLE001
            return "<unprintable>"


class CandidateError(Exception):
    """The candidate raised (in its own process) while check() called it."""


class _NoCheck(Exception):
    pass


def _loaded_names(source: str) -> set[str]:
    """Every bare name the test program reads, anywhere in it."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _bind_test_names(source: str, candidate_names: dict, func_name: str, make_proxy) -> dict:
    """The names of the candidate that an assert-mode test program may see, besides the entry point.

    HumanEval and MBPP run ``check`` in the candidate's own namespace, where a candidate's ``def abs`` or
    ``def set`` would replace the builtin the test computes its expected values with. Here the test sees only the
    names it reads that are neither builtins nor ``check``: the prompt's helpers some tests call (HumanEval/32's
    ``poly``, /38's ``encode_cyclic``), as proxies into the candidate's process, and the standard-library modules
    and functions the candidate imported (an MBPP test's ``math.isclose``), as the harness's own, real objects."""
    import builtins
    import importlib

    out = {}
    for name in _loaded_names(source):
        what, kind = candidate_names.get(name), None
        if what is None or name == func_name or name == "check" or hasattr(builtins, name):
            continue
        if what == "callable":
            out[name] = make_proxy(name)
            continue
        try:
            kind, mod = what[0], what[1]
            if mod.split(".")[0] not in _STDLIB:
                continue
            obj = importlib.import_module(mod)
            if kind == "attr":
                for part in what[2].split("."):
                    obj = getattr(obj, part)
            elif kind != "module":
                continue
        except Exception:  # noqa: BLE001 - not the standard library's: the candidate's own, if callable
            if kind == "attr":
                out[name] = make_proxy(name)
            continue
        out[name] = obj
    return out


def _run_assert_test(child: Child, test: dict, job: dict, candidate_names: dict, remaining, timeout_verdict,
                     start: float) -> dict:
    """HumanEval/MBPP: run the (trusted) test program here, with the real builtins; the entry point (and any helper
    of the candidate the test calls by name) is a proxy into the child (see :func:`_bind_test_names`)."""

    def make_proxy(name: str):
        def proxy(*args, **kwargs):
            try:
                payload = {"call": name, "args": encode_value(tuple(args)), "kwargs": encode_value(dict(kwargs))}
            except Unencodable as exc:
                raise CandidateError(f"cannot pass arguments to the candidate: {exc}") from None
            child.send(payload)
            reply = child.recv(remaining())
            if reply is None:
                raise CandidateError("candidate process died: " + ":".join(child.death_verdict()))
            if not reply.get("ok"):
                if reply.get("kind") == "wrong_answer":
                    raise AssertionError(reply.get("error", ""))
                raise CandidateError(reply.get("kind", "runtime_error") + ": " + reply.get("error", ""))
            return decode_value(reply.get("value"))

        proxy.__name__ = name
        proxy._dreamprm_proxy = True
        return proxy

    func_name = job.get("func_name") or ""
    if candidate_names.get(func_name) is None:
        return _entry("runtime_error", time.monotonic() - start, child,
                      error=f"the candidate defines no function {func_name!r}")
    source = test.get("input", "")
    try:
        compiled = compile(source, "<test>", "exec")
    except (SyntaxError, ValueError) as exc:
        return _entry("runtime_error", time.monotonic() - start, child, error="malformed test: " + _exc_text(exc))
    entry = make_proxy(func_name)
    ns = {"__name__": "__check__", "__builtins__": builtins, func_name: entry}
    ns.update(_bind_test_names(source, candidate_names, func_name, make_proxy))

    def _alarm(*_a):
        raise _Timeout()

    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, max(0.01, remaining()))
    try:
        exec(compiled, ns)
        check = ns.get("check")
        if not callable(check) or getattr(check, "_dreamprm_proxy", False):
            raise _NoCheck()
        check(entry)
        verdict, why = "passed", ""
    except _Timeout:
        verdict, why = timeout_verdict(start), "Time Limit Exceeded"
    except _NoCheck:
        verdict, why = "runtime_error", "malformed test: the test program defines no check()"
    except AssertionError as exc:
        verdict, why = "wrong_answer", f"AssertionError: {exc}"[:2000]
    except CandidateError as exc:
        msg = str(exc)
        verdict = "memory_limit" if msg.startswith("memory_limit") else (
            "time_limit" if msg.startswith("time_limit") else "runtime_error")
        why = msg
    except BaseException as exc:  # noqa: BLE001 - the test program raising is a failed test
        verdict, why = "runtime_error", _exc_text(exc)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    return _entry(verdict, time.monotonic() - start, child, error=why)


# ----------------------------------------------------------------------------------------------------------------
# Process plumbing: --run (one job), --serve (job stream; the container's PID 1)
# ----------------------------------------------------------------------------------------------------------------
def _non_dumpable() -> None:
    """Same-uid processes (the candidate) may then neither ptrace us nor read our /proc files or memory."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0
    except Exception:  # noqa: BLE001
        pass


def _ignore_candidate_signals() -> None:
    """A namespace's PID 1 gets from inside only the signals it handles: Python handles SIGINT (KeyboardInterrupt),
    which a candidate could send to break the harness off mid-job. The harness ignores it; candidates get Python's
    own handler back (:func:`_become_child`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _kill_others() -> None:
    """Kill every other process we may signal (setsid'd and double-forked leftovers included) and reap zombies."""
    me = os.getpid()
    for _ in range(200):
        try:
            os.kill(-1, signal.SIGKILL)
        except OSError:
            pass
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
        others = [p for p in os.listdir("/proc") if p.isdigit() and int(p) not in (me, 1)]
        alive = []
        for p in others:
            try:
                with open(f"/proc/{p}/stat") as f:
                    if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                        alive.append(p)
            except OSError:
                pass
        if not alive:
            return
        time.sleep(0.005)


def _wipe(path: str) -> None:
    import shutil

    if not path or not os.path.isdir(path):
        return

    def _onerror(func, p, _exc):
        try:
            os.chmod(os.path.dirname(p), 0o700)
            os.chmod(p, 0o700)
        except OSError:
            pass
        try:
            func(p)
        except OSError:
            pass

    for name in os.listdir(path):
        p = os.path.join(path, name)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p, onerror=_onerror)
        else:
            try:
                os.unlink(p)
            except OSError:
                pass


JUDGE_EOF = 3  # exit status of a judge that found the end of the job stream


def judge_one(in_fd: int, workdir: str | None, parse=read_frame, reap_all: bool = False) -> dict | None:
    """Fork the candidate's process, then read one job and run it; the result, or None at the end of the stream.

    The order matters: the child is forked while this process has seen no test. With ``reap_all`` (inside a
    sandbox only: it signals every process of the user) every process the candidate left is killed before the result
    is returned, so no candidate can interrupt the caller writing it."""
    child = Child(workdir, reap_all=reap_all)
    try:
        job = parse(in_fd)
    except ValueError as exc:
        child.kill()
        return _result("runtime_error", [], [], time.monotonic(), f"bad job frame: {exc}")
    if job is None:
        child.kill()
        return None
    try:
        res = run_job(job, child, workdir)
    except Exception as exc:  # noqa: BLE001 - a job must always get a result
        res = _result("runtime_error", [], [], time.monotonic(), f"harness error: {exc!r}")
    if reap_all:
        _kill_others()
    return res


def serve_main(workdir: str) -> None:
    """Serve jobs on stdin/stdout until EOF (the container's PID 1).

    This process never reads a job: for each one it forks a *judge* (:func:`judge_one`) and waits for it, so that
    every judge, and every candidate forked from a judge, starts as a copy of a process that has seen no test. A
    candidate may kill its judge (same user); then this process writes the job's result. Between jobs it kills
    every leftover process and wipes the work dir and /tmp."""
    _non_dumpable()
    preload_prelude()
    _ignore_candidate_signals()
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    in_fd, out_fd = sys.stdin.fileno(), sys.stdout.fileno()
    while True:
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                res = judge_one(in_fd, workdir, reap_all=True)
                if res is None:
                    code = JUDGE_EOF
                else:
                    write_frame(out_fd, res)
                    code = 0
            finally:
                os._exit(code)
        status = _reap_until(pid)
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == JUDGE_EOF:
            return
        if not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0):
            _kill_others()
            why = (f"killed by signal {signal.Signals(os.WTERMSIG(status)).name}" if os.WIFSIGNALED(status)
                   else f"exit status {os.waitstatus_to_exitcode(status)}")
            res = _result("runtime_error", [], [], time.monotonic(),
                          f"the candidate killed the harness's judge ({why})")
            write_frame(out_fd, res)
        _kill_others()
        _wipe(workdir)
        _wipe("/tmp")


def _reap_until(pid: int) -> int:
    """Wait for ``pid``, reaping any other child (orphans are re-parented to PID 1) on the way; its wait status."""
    while True:
        try:
            got, status = os.waitpid(-1, 0)
        except InterruptedError:
            continue
        except ChildProcessError:
            return 0
        if got == pid:
            return status


def _parse_run_input(fd: int):
    """``--run`` input: one frame, or a bare JSON document."""
    chunks = []
    while True:
        b = os.read(fd, 1 << 20)
        if not b:
            break
        chunks.append(b)
    data = b"".join(chunks)
    try:
        if len(data) >= 4 and data[:1] not in (b"{", b" ", b"\n"):
            (n,) = struct.unpack(">I", data[:4])
            return json.loads(data[4:4 + n].decode("utf-8", "surrogatepass"))
        return json.loads(data.decode("utf-8", "surrogatepass"))
    except Exception as exc:  # noqa: BLE001
        raise ValueError(f"bad job: {exc!r}") from None


def run_main(workdir: str | None, job_fd: int | None = None, result_fd: int | None = None,
             reap_all: bool = False) -> None:
    """One job, one result.

    By default the job comes on stdin and the result goes to stdout as one JSON line. With ``job_fd``/``result_fd``
    (the bubblewrap backend) the job is read from ``job_fd`` and the result is written to ``result_fd`` as one frame:
    descriptors that only this (non-dumpable) process holds, closed in the candidate, so a candidate can neither read
    the job nor write a result. ``reap_all`` (inside a sandbox only) kills every other process before answering."""
    _non_dumpable()
    preload_prelude()
    if reap_all:
        _ignore_candidate_signals()
    in_fd = sys.stdin.fileno() if job_fd is None else job_fd
    res = judge_one(in_fd, workdir, parse=_parse_run_input, reap_all=reap_all)
    if res is None:
        res = _result("runtime_error", [], [], time.monotonic(), "bad job: empty input")
    if result_fd is None:
        sys.stdout.write(json.dumps(res) + "\n")
        sys.stdout.flush()
    else:
        write_frame(result_fd, res)
        os.close(result_fd)


def _fd_arg(argv: list[str], flag: str) -> int | None:
    if flag not in argv:
        return None
    return int(argv[argv.index(flag) + 1])


def main(argv: list[str]) -> None:
    workdir = os.environ.get("HARNESS_WORKDIR", WORK_DIR_DEFAULT)
    _raise_digit_limit()
    if "--serve" in argv:
        serve_main(workdir)
    elif "--run" in argv:
        run_main(workdir if os.path.isdir(workdir) else None, job_fd=_fd_arg(argv, "--job-fd"),
                 result_fd=_fd_arg(argv, "--result-fd"), reap_all="--reap-all" in argv)
    else:
        sys.stderr.write("usage: harness.py --run [--job-fd N --result-fd N --reap-all] | --serve\n")
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv[1:])
