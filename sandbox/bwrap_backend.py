"""Bubblewrap backend for machines without a Docker daemon: one ``bwrap`` per candidate running the harness ``--run``.

What the candidate gets (and what it cannot reach):

- **its own namespaces**: user, pid, net, ipc, uts, cgroup (``--unshare-all``: no network); no further user
  namespaces (``--disable-userns``, and the seccomp filter refuses ``unshare``/``setns``/namespace ``clone``);
- **an unprivileged host uid**: as root, ``bwrap`` itself is started as uid/gid 65534 (nobody) with no groups, so the
  sandbox's user namespace maps its only uid, 65534, to host uid 65534, not to root; all capabilities dropped,
  no-new-privileges;
- **nothing of the caller**: ``bwrap`` is started with an empty environment and the sandbox with ``--clearenv``;
  the harness is the namespace's PID 1 (``--as-pid-1``: no bubblewrap process inside at all), non-dumpable, so
  no candidate can read its memory, environment or descriptors, and signals from inside cannot kill it;
- **a result channel it cannot reach**: the job arrives on one pipe and the result leaves on another; both are
  passed only to the harness, which closes them in the candidate's process before it runs anything. bwrap's
  stdin/stdout are /dev/null; its stderr (diagnostics only) is never parsed. A result that does not parse as one
  frame of a valid result is a ``runtime_error`` for that job, with the reason, never an exception;
- **a seccomp filter** (:mod:`sandbox.seccomp`, compiled by libseccomp) in the spirit of Docker's default profile;
- **a read-only root**: only /usr (+ the /bin, /lib* links), a few files of /etc and the harness, read-only;
  / and /dev remounted read-only; writable only /work, /tmp and /dev/shm, each a tmpfs capped at ``tmpfs_mb``;
- **limits**: a cgroup v1 memory and pids group per candidate where the host lets us create one (root on cgroup
  v1), else RLIMIT_AS as a coarse fallback; the whole namespace dies with the harness (PID 1) and with the backend
  process (``--die-with-parent`` and a parent-death signal on ``bwrap``).
"""

from __future__ import annotations

import json
import os
import resource
import select
import shutil
import signal
import struct
import subprocess
import tempfile
import threading
import time
import uuid
import warnings
import weakref

from sandbox.harness import DEFAULT_LIMITS, VERDICTS, failure_result, global_timeout_s

HARNESS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "harness.py")
CGROUP_ROOT = "/sys/fs/cgroup"
SANDBOX_UID = SANDBOX_GID = 65534
RESULT_LIMIT_BYTES = 64 << 20


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def system_python() -> str | None:
    for p in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.path.exists(p):
            return p
    return None


def _own_cgroup(controller: str) -> str | None:
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                _, ctrls, path = line.rstrip("\n").split(":", 2)
                if controller in ctrls.split(","):
                    return os.path.join(CGROUP_ROOT, controller, path.lstrip("/"))
    except OSError:
        pass
    return None


class _Cgroups:
    """A memory + pids cgroup v1 pair for one candidate (best effort)."""

    def __init__(self, memory_mb: int, pids: int) -> None:
        self.dirs: list[str] = []
        name = f"dreamprm-sbx-{uuid.uuid4().hex[:12]}"
        for ctrl, files in (("memory", {"memory.limit_in_bytes": memory_mb << 20,
                                        "memory.memsw.limit_in_bytes": memory_mb << 20}),
                            ("pids", {"pids.max": pids})):
            base = _own_cgroup(ctrl)
            if not base or not os.path.isdir(base):
                continue
            d = os.path.join(base, name)
            try:
                os.mkdir(d)
            except OSError:
                continue
            ok = True
            for fname, val in files.items():
                try:
                    with open(os.path.join(d, fname), "w") as f:
                        f.write(str(val))
                except OSError:
                    ok = ok and fname == "memory.memsw.limit_in_bytes"  # no swap accounting: fine
            if ok:
                self.dirs.append(d)
            else:
                os.rmdir(d)

    @property
    def has_memory(self) -> bool:
        return any("/memory/" in d for d in self.dirs)

    def enter(self) -> None:  # runs in the child before exec
        for d in self.dirs:
            with open(os.path.join(d, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))

    def oom_killed(self) -> bool:
        for d in self.dirs:
            try:
                with open(os.path.join(d, "memory.failcnt")) as f:
                    if int(f.read().strip() or 0) > 0:
                        return True
            except OSError:
                pass
        return False

    def destroy(self) -> None:
        for d in self.dirs:
            for _ in range(50):
                try:
                    with open(os.path.join(d, "cgroup.procs")) as f:
                        pids = [int(x) for x in f.read().split()]
                    for pid in pids:
                        try:
                            os.kill(pid, 9)
                        except OSError:
                            pass
                    os.rmdir(d)
                    break
                except OSError:
                    time.sleep(0.02)


def _bwrap_help(bwrap: str) -> str:
    try:
        return subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def _drop_privileges() -> None:
    """In a child before exec: as root, become uid/gid 65534 with no supplementary groups."""
    if os.geteuid() == 0:
        os.setgroups([])
        os.setresgid(SANDBOX_GID, SANDBOX_GID, SANDBOX_GID)
        os.setresuid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID)


def _die_with_parent() -> None:
    """PR_SET_PDEATHSIG (after the uid change, which clears it): bwrap dies with the backend's process."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)
    except Exception:  # noqa: BLE001
        pass


def parse_result(data: bytes) -> tuple[dict | None, str]:
    """The harness's result frame -> (result, ""), or (None, why it is not one)."""
    if len(data) < 4:
        return None, f"truncated result ({len(data)} bytes)"
    (n,) = struct.unpack(">I", data[:4])
    if len(data) != 4 + n:
        return None, f"result frame announces {n} bytes, {len(data) - 4} came"
    try:
        res = json.loads(data[4:].decode("utf-8"))
    except ValueError as exc:
        return None, f"result is not JSON ({exc}): {data[4:84]!r}"
    if not isinstance(res, dict) or res.get("verdict") not in VERDICTS or not isinstance(res.get("per_test"), list):
        return None, f"result is not a harness result: {data[4:84]!r}"
    return res, ""


class BwrapBackend:
    name = "bwrap"

    def __init__(self, memory_mb: int = 1024, pids_limit: int = 64, workers: int = 0, tmpfs_mb: int = 64,
                 harness_path: str = HARNESS) -> None:
        self.bwrap = bwrap_path()
        self.python = system_python()
        if not self.bwrap or not self.python:
            raise RuntimeError("bubblewrap backend needs `bwrap` and /usr/bin/python3 (apt-get install bubblewrap)")
        self.memory_mb, self.pids_limit, self.tmpfs_mb = memory_mb, pids_limit, tmpfs_mb
        self.size = workers if workers > 0 else (os.cpu_count() or 1)
        help_text = _bwrap_help(self.bwrap)
        self._disable_userns = "--disable-userns" in help_text
        if "--size" not in help_text or "--as-pid-1" not in help_text:
            raise RuntimeError("bubblewrap is too old (needs --size and --as-pid-1: 0.5 or later)")
        # The harness, copied where uid 65534 can read it (and nobody can write it).
        self._dir = tempfile.mkdtemp(prefix="dreamprm-bwrap-")
        self._cleanup = weakref.finalize(self, shutil.rmtree, self._dir, True)
        os.chmod(self._dir, 0o755)
        dest = os.path.join(self._dir, "harness.py")
        shutil.copyfile(harness_path, dest)
        os.chmod(dest, 0o444)
        try:
            from sandbox.seccomp import build_filter

            self._seccomp: bytes | None = build_filter()
            self.seccomp_error = ""
        except Exception as exc:  # noqa: BLE001 - no libseccomp: run without a filter, and say so
            self._seccomp, self.seccomp_error = None, str(exc)
            warnings.warn(f"bubblewrap sandbox without a seccomp filter: {exc}", RuntimeWarning, stacklevel=2)

    def command(self, job_fd: int, result_fd: int, seccomp_fd: int | None = None) -> list[str]:
        cmd = [self.bwrap, "--unshare-all", "--unshare-user"]
        if self._disable_userns:
            cmd.append("--disable-userns")
        cmd += ["--die-with-parent", "--new-session", "--as-pid-1", "--clearenv",
                "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_GID), "--cap-drop", "ALL",
                "--ro-bind", "/usr", "/usr"]
        for link in ("bin", "lib", "lib64", "sbin"):
            p = "/" + link
            if os.path.islink(p):
                cmd += ["--symlink", os.readlink(p), p]
            elif os.path.isdir(p):
                cmd += ["--ro-bind", p, p]
        for etc in ("/etc/alternatives", "/etc/ld.so.cache", "/etc/localtime"):
            if os.path.exists(etc):
                cmd += ["--ro-bind", etc, etc]
        size = str(self.tmpfs_mb << 20)
        cmd += ["--proc", "/proc", "--dev", "/dev",
                "--size", size, "--tmpfs", "/dev/shm", "--remount-ro", "/dev",
                "--size", size, "--tmpfs", "/tmp",
                "--size", size, "--tmpfs", "/work",
                "--ro-bind", self._dir, "/opt/harness",
                "--remount-ro", "/",
                "--chdir", "/work",
                "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HARNESS_WORKDIR", "/work",
                "--setenv", "LANG", "C.UTF-8", "--setenv", "PYTHONDONTWRITEBYTECODE", "1"]
        if seccomp_fd is not None:
            cmd += ["--seccomp", str(seccomp_fd)]
        cmd += [self.python, "-I", "-u", "/opt/harness/harness.py", "--run",
                "--job-fd", str(job_fd), "--result-fd", str(result_fd), "--reap-all"]
        return cmd

    def run(self, job: dict) -> dict:
        """Run one job; always returns a result (a failure of the sandbox is that job's verdict, with the reason)."""
        t0 = time.monotonic()
        try:
            res = self._run(job, t0)
        except Exception as exc:  # noqa: BLE001 - never an exception out of run_batch
            res = failure_result(job if isinstance(job, dict) else {}, "runtime_error",
                                 f"the bubblewrap sandbox could not run the job: {exc!r}", t0)
        res["backend"] = "bwrap"
        return res

    def _run(self, job: dict, t0: float) -> dict:
        limits = {**DEFAULT_LIMITS, **(job.get("limits") or {})}
        wall = global_timeout_s(len(job.get("tests") or []), float(limits["test_timeout_s"])) + 15.0
        payload = json.dumps(job).encode()
        cg = _Cgroups(self.memory_mb, self.pids_limit)
        mem_bytes = self.memory_mb << 20

        def _pre() -> None:
            cg.enter()
            # Backstop where the cgroup limit is missing or not enforced: address space (coarse, see RECIPES.md).
            factor = 2 if cg.has_memory else 4
            resource.setrlimit(resource.RLIMIT_AS, (mem_bytes * factor, mem_bytes * factor))
            _drop_privileges()
            _die_with_parent()

        job_r, job_w = os.pipe()
        res_r, res_w = os.pipe()
        mine = [job_w, res_r]
        theirs = [job_r, res_w]
        proc = None
        try:
            sec_fd = None
            if self._seccomp is not None:
                sec_fd = os.memfd_create("dreamprm-seccomp", 0)
                theirs.append(sec_fd)
                os.write(sec_fd, self._seccomp)
                os.lseek(sec_fd, 0, os.SEEK_SET)
            proc = subprocess.Popen(self.command(job_r, res_w, sec_fd), stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, pass_fds=theirs,
                                    env={}, preexec_fn=_pre)
            for fd in theirs:
                os.close(fd)
            theirs = []
            writer = threading.Thread(target=_write_all, args=(job_w, payload), daemon=True)
            writer.start()
            mine.remove(job_w)  # the writer closes it
            err = _Tail(proc.stderr)
            err.start()
            data, why = _read_result(res_r, time.monotonic() + wall)
            if why == "timeout":
                proc.kill()
            try:
                rc = proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = proc.wait()
            err.join(timeout=2)
            if why == "timeout":
                return failure_result(job, "global_timeout", "the sandbox did not answer within the wall-clock "
                                                             "limit", t0)
            if why:
                return failure_result(job, "runtime_error", f"sandbox result channel: {why}", t0)
            if not data:
                verdict = "memory_limit" if cg.oom_killed() else "runtime_error"
                return failure_result(job, verdict, f"the sandbox gave no result (bwrap exited with {rc}): "
                                      + err.text()[-500:], t0)
            res, why = parse_result(data)
            if res is None:
                return failure_result(job, "runtime_error", f"unparsable result from the sandbox: {why}", t0)
            return res
        finally:
            for fd in theirs + mine:
                try:
                    os.close(fd)
                except OSError:
                    pass
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
            cg.destroy()

    def close(self) -> None:
        self._cleanup()

    def __enter__(self) -> "BwrapBackend":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _write_all(fd: int, data: bytes) -> None:
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
    except OSError:  # the sandbox went away before reading its job: its result says why
        pass
    finally:
        os.close(fd)


def _read_result(fd: int, deadline: float) -> tuple[bytes, str]:
    """Everything on the result pipe up to its end -> (bytes, ""), or (partial, "timeout" | why)."""
    chunks, total = [], 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return b"".join(chunks), "timeout"
        try:
            r, _, _ = select.select([fd], [], [], left)
        except InterruptedError:
            continue
        if not r:
            continue
        b = os.read(fd, 1 << 20)
        if not b:
            return b"".join(chunks), ""
        total += len(b)
        if total > RESULT_LIMIT_BYTES:
            return b"", f"result larger than {RESULT_LIMIT_BYTES} bytes"
        chunks.append(b)


class _Tail(threading.Thread):
    """Drains bwrap's stderr, keeping the last 64 KiB (diagnostics for a job that gave no result)."""

    def __init__(self, stream) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.buf = bytearray()

    def run(self) -> None:
        try:
            while True:
                b = self.stream.read1(1 << 16)
                if not b:
                    break
                self.buf += b
                del self.buf[:-65536]
        except (OSError, ValueError):
            pass
        finally:
            try:
                self.stream.close()
            except OSError:
                pass

    def text(self) -> str:
        return bytes(self.buf).decode("utf-8", "replace")


def bwrap_works() -> bool:
    """bwrap is installed and can create its namespaces here, as the uid the backend runs it as."""
    b, py = bwrap_path(), system_python()
    if not b or not py:
        return False
    try:
        r = subprocess.run([b, "--unshare-all", "--unshare-user", "--ro-bind", "/usr", "/usr",
                            "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
                            "--symlink", "usr/bin", "/bin", "--proc", "/proc", "--dev", "/dev", py, "-c", "print(1)"],
                           capture_output=True, timeout=10, env={}, preexec_fn=_drop_privileges)
        return r.returncode == 0 and r.stdout.strip() == b"1"
    except (OSError, subprocess.SubprocessError):
        return False
