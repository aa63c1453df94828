"""Bubblewrap backend for machines without a Docker daemon: one ``bwrap`` per candidate running the harness ``--run``.

Inside: new user/pid/net/ipc/uts/cgroup namespaces (``--unshare-all``: no network), uid 65534, all capabilities
dropped, a cleared environment, only /usr (+ the /bin, /lib* links) and the harness mounted read-only, tmpfs /work and
/tmp, a private /proc and a minimal /dev; the whole namespace dies with the harness (``--die-with-parent``, and the
pid namespace's init takes every leftover process with it). Memory and process caps come from a cgroup v1 memory and
pids group per candidate where the host lets us create one (root on cgroup v1); else RLIMIT_AS as a coarse fallback.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import time
import uuid

from sandbox.harness import DEFAULT_LIMITS, failure_result, global_timeout_s

HARNESS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "harness.py")
CGROUP_ROOT = "/sys/fs/cgroup"


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


class BwrapBackend:
    name = "bwrap"

    def __init__(self, memory_mb: int = 1024, pids_limit: int = 64, workers: int = 0, tmpfs_mb: int = 64) -> None:
        self.bwrap = bwrap_path()
        self.python = system_python()
        if not self.bwrap or not self.python:
            raise RuntimeError("bubblewrap backend needs `bwrap` and /usr/bin/python3 (apt-get install bubblewrap)")
        self.memory_mb, self.pids_limit, self.tmpfs_mb = memory_mb, pids_limit, tmpfs_mb
        self.size = workers if workers > 0 else (os.cpu_count() or 1)

    def command(self) -> list[str]:
        cmd = [self.bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--clearenv",
               "--uid", "65534", "--gid", "65534", "--cap-drop", "ALL",
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
        cmd += ["--proc", "/proc", "--dev", "/dev",
                "--size", str(self.tmpfs_mb << 20), "--tmpfs", "/tmp",
                "--size", str(self.tmpfs_mb << 20), "--tmpfs", "/work",
                "--ro-bind", HARNESS, "/opt/harness/harness.py",
                "--chdir", "/work",
                "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HARNESS_WORKDIR", "/work",
                "--setenv", "LANG", "C.UTF-8", "--setenv", "PYTHONDONTWRITEBYTECODE", "1",
                self.python, "-I", "-u", "/opt/harness/harness.py", "--run"]
        return cmd

    def run(self, job: dict) -> dict:
        t0 = time.monotonic()
        limits = {**DEFAULT_LIMITS, **(job.get("limits") or {})}
        wall = global_timeout_s(len(job.get("tests") or []), float(limits["test_timeout_s"])) + 15.0
        cg = _Cgroups(self.memory_mb, self.pids_limit)
        mem_bytes = self.memory_mb << 20

        def _pre() -> None:
            cg.enter()
            # Backstop where the cgroup limit is missing or not enforced: address space (coarse, see RECIPES.md).
            factor = 2 if cg.has_memory else 4
            resource.setrlimit(resource.RLIMIT_AS, (mem_bytes * factor, mem_bytes * factor))

        try:
            proc = subprocess.run(self.command(), input=json.dumps(job).encode(), capture_output=True,
                                  timeout=wall, preexec_fn=_pre)
            out = proc.stdout.decode("utf-8", "replace").strip().splitlines()
            if out:
                res = json.loads(out[-1])
            else:
                verdict = "memory_limit" if cg.oom_killed() else "runtime_error"
                res = failure_result(job, verdict, f"sandbox exited with {proc.returncode}: "
                               + proc.stderr.decode("utf-8", "replace")[-500:], t0)
        except subprocess.TimeoutExpired:
            res = failure_result(job, "global_timeout", "the sandbox did not answer within the wall-clock limit", t0)
        finally:
            cg.destroy()
        res["backend"] = "bwrap"
        return res

    def close(self) -> None:
        pass

    def __enter__(self) -> "BwrapBackend":
        return self

    def __exit__(self, *exc) -> None:
        self.close()




def bwrap_works() -> bool:
    """bwrap is installed and can create its namespaces here."""
    b, py = bwrap_path(), system_python()
    if not b or not py:
        return False
    try:
        r = subprocess.run([b, "--unshare-all", "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib",
                            "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/bin", "/bin", "--proc", "/proc",
                            "--dev", "/dev", py, "-c", "print(1)"], capture_output=True, timeout=10)
        return r.returncode == 0 and r.stdout.strip() == b"1"
    except (OSError, subprocess.SubprocessError):
        return False
