"""Docker backend: a pool of long-lived, locked-down worker containers, each running the harness as PID 1 in
``--serve`` mode; every candidate is a fresh process in a wiped work dir.

Container settings: no network, read-only root, tmpfs /work and /tmp, memory cap with swap equal to it (no swap),
pids cap, CPU cap, all capabilities dropped, no-new-privileges, user 65534. The harness is PID 1 of the container, so
candidates cannot kill it (signals without a handler are not delivered to a namespace's init); after each job it kills
every other process (setsid'd and double-forked ones included) and wipes /work and /tmp.

Containers are removed on every exit path: ``close()``/context manager, ``atexit``, SIGTERM/SIGHUP handlers, and
when the parent dies hard the attach connection closes, the harness reads EOF on stdin (``stdin_once``), exits, and
the daemon removes the container (``auto_remove``). A label-based reaper at start removes any container left over by
a crashed parent on this host anyway.
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import signal
import socket
import struct
import threading
import time
import weakref

from sandbox.harness import DEFAULT_LIMITS, VERDICTS, failure_result, global_timeout_s
from sandbox.image import DEFAULT_IMAGE, image_status

LABEL = "org.dreamprm.sandbox"
LABEL_PARENT = "org.dreamprm.parent"  # "<host>:<pid>:<process start time>"
FALLBACK_SOCKETS = ("/var/run/docker.sock", "/var/run/dreamprm-docker.sock")
HARNESS_CMD = ["python3", "-I", "-u", "/opt/harness/harness.py", "--serve"]


class DockerUnavailable(RuntimeError):
    pass


def docker_client(timeout: int = 120):
    """A Docker client: DOCKER_HOST when set, else the first socket of FALLBACK_SOCKETS that exists."""
    import docker

    if os.environ.get("DOCKER_HOST"):
        client = docker.from_env(timeout=timeout)
    else:
        for path in FALLBACK_SOCKETS:
            if os.path.exists(path):
                client = docker.DockerClient(base_url=f"unix://{path}", timeout=timeout)
                break
        else:
            raise DockerUnavailable("no Docker daemon: DOCKER_HOST is unset and no socket at "
                                    + " or ".join(FALLBACK_SOCKETS)
                                    + "; start one with sandbox/scripts/start-dockerd.sh")
    try:
        client.ping()
    except Exception as exc:  # noqa: BLE001
        raise DockerUnavailable(f"the Docker daemon does not answer ({exc}); "
                                "start one with sandbox/scripts/start-dockerd.sh") from None
    return client


def _proc_start(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "?"


def _parent_tag() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{_proc_start(os.getpid())}"


def reap_orphans(client, only_dead_parents: bool = True) -> int:
    """Remove sandbox containers whose parent process (on this host) is gone; all of them if not only_dead_parents."""
    n = 0
    host = socket.gethostname()
    for c in client.containers.list(all=True, filters={"label": LABEL}):
        tag = (c.labels or {}).get(LABEL_PARENT, "")
        parts = tag.split(":")
        if only_dead_parents:
            if len(parts) != 3 or parts[0] != host:
                continue
            pid, start = int(parts[1]), parts[2]
            if _proc_start(pid) == start:  # the parent still runs
                continue
        try:
            c.remove(force=True)
            n += 1
        except Exception:  # noqa: BLE001 - already gone
            pass
    return n


# Every live container of this process, for atexit/signal cleanup.
_LIVE: dict[str, object] = {}
_LIVE_LOCK = threading.Lock()
_HANDLERS_INSTALLED = False


def _remove_all_live() -> None:
    with _LIVE_LOCK:
        items = list(_LIVE.items())
        _LIVE.clear()
    for cid, client in items:
        try:
            client.api.remove_container(cid, force=True)  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001
            pass


def _install_exit_handlers() -> None:
    global _HANDLERS_INSTALLED
    if _HANDLERS_INSTALLED:
        return
    _HANDLERS_INSTALLED = True
    atexit.register(_remove_all_live)
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGHUP):
        prev = signal.getsignal(sig)

        def _handler(signum, frame, _prev=prev):
            _remove_all_live()
            if callable(_prev):
                _prev(signum, frame)
            else:
                signal.signal(signum, signal.SIG_DFL)
                os.kill(os.getpid(), signum)

        if prev in (signal.SIG_DFL, None) or callable(prev):
            signal.signal(sig, _handler)


class WorkerDied(Exception):
    pass


class Worker:
    """One container running the harness server, attached over a raw socket."""

    def __init__(self, client, image: str, memory_mb: int, pids_limit: int, cpus: float, tmpfs_mb: int) -> None:
        self.client = client
        api = client.api
        host_config = api.create_host_config(
            network_mode="none",
            read_only=True,
            tmpfs={"/work": f"rw,nosuid,nodev,size={tmpfs_mb}m,mode=1777",
                   "/tmp": f"rw,nosuid,nodev,size={tmpfs_mb}m,mode=1777"},
            mem_limit=f"{memory_mb}m",
            memswap_limit=f"{memory_mb}m",
            pids_limit=pids_limit,
            nano_cpus=int(cpus * 1e9),
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            auto_remove=True,
            ulimits=[{"Name": "nofile", "Soft": 1024, "Hard": 1024}, {"Name": "core", "Soft": 0, "Hard": 0}],
        )
        c = api.create_container(
            image, command=HARNESS_CMD, user="65534:65534", working_dir="/work", stdin_open=True,
            tty=False, network_disabled=True, host_config=host_config,  # detach=False: StdinOnce
            environment={"HARNESS_WORKDIR": "/work", "PYTHONDONTWRITEBYTECODE": "1"},
            labels={LABEL: "1", LABEL_PARENT: _parent_tag()},
        )
        self.id = c["Id"]
        with _LIVE_LOCK:
            _LIVE[self.id] = client
        try:
            sock = api.attach_socket(self.id, params={"stdin": 1, "stdout": 1, "stderr": 0, "stream": 1})
            self._sockio = sock
            self.sock = getattr(sock, "_sock", sock)
            api.start(self.id)
        except BaseException:
            self.remove()
            raise
        self._buf = b""
        self.jobs = 0

    def _recv_payload(self, n: int, deadline: float) -> bytes:
        """n bytes of the container's stdout, unwrapping Docker's multiplexed stream frames."""
        while len(self._buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError()
            self.sock.settimeout(left)
            head = self._recv_raw(8)
            stream, size = head[0], struct.unpack(">I", head[4:8])[0]
            body = self._recv_raw(size)
            if stream == 1:
                self._buf += body
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def _recv_raw(self, n: int) -> bytes:
        chunks, got = [], 0
        while got < n:
            b = self.sock.recv(min(n - got, 1 << 20))
            if not b:
                raise WorkerDied("the sandbox worker closed its output")
            chunks.append(b)
            got += len(b)
        return b"".join(chunks)

    def run(self, job: dict, wall_timeout_s: float) -> dict:
        body = json.dumps(job, ensure_ascii=True).encode("ascii")
        try:
            self.sock.settimeout(wall_timeout_s)
            self.sock.sendall(struct.pack(">I", len(body)) + body)
        except OSError as exc:
            raise WorkerDied(f"cannot send to the sandbox worker: {exc}") from None
        deadline = time.monotonic() + wall_timeout_s
        try:
            (n,) = struct.unpack(">I", self._recv_payload(4, deadline))
            data = self._recv_payload(n, deadline)
        except (socket.timeout, TimeoutError):
            raise
        except OSError as exc:
            raise WorkerDied(str(exc)) from None
        self.jobs += 1
        try:
            res = json.loads(data)
        except ValueError as exc:
            raise WorkerDied(f"unparsable result from the sandbox worker ({exc}): {data[:80]!r}") from None
        if not isinstance(res, dict) or res.get("verdict") not in VERDICTS:
            raise WorkerDied(f"the sandbox worker sent something that is not a result: {data[:80]!r}")
        return res

    def remove(self) -> None:
        try:
            self.sock.close()
        except Exception:  # noqa: BLE001
            pass
        try:
            self.client.api.remove_container(self.id, force=True)
        except Exception:  # noqa: BLE001 - auto_remove may have got there first
            pass
        with _LIVE_LOCK:
            _LIVE.pop(self.id, None)




class DockerBackend:
    """Pool of worker containers. ``per_candidate=True`` starts a fresh container per job (the slow baseline)."""

    name = "docker"

    def __init__(self, image: str = DEFAULT_IMAGE, workers: int = 0, memory_mb: int = 1024, pids_limit: int = 64,
                 cpus: float = 1.0, tmpfs_mb: int = 64, per_candidate: bool = False, client=None,
                 require_current_image: bool = True) -> None:
        self.client = client or docker_client()
        status = image_status(self.client, image)
        if status == "missing" or (status == "stale" and require_current_image):
            raise DockerUnavailable(
                f"sandbox image {image} is {status}; build it: python -m sandbox build-image --route auto")
        self.image = image
        self.size = workers if workers > 0 else (os.cpu_count() or 1)
        self.opts = dict(memory_mb=memory_mb, pids_limit=pids_limit, cpus=cpus, tmpfs_mb=tmpfs_mb)
        self.per_candidate = per_candidate
        self._idle: queue.Queue[Worker | None] = queue.Queue()
        self._all: set[Worker] = set()
        self._lock = threading.Lock()
        self._closed = False
        _install_exit_handlers()
        reap_orphans(self.client, only_dead_parents=True)
        weakref.finalize(self, _remove_all_live)
        if not per_candidate:
            for _ in range(self.size):
                self._idle.put(None)  # slots; containers start lazily on first use

    # -- pool -----------------------------------------------------------------------------------------------------
    def _new_worker(self) -> Worker:
        w = Worker(self.client, self.image, **self.opts)
        with self._lock:
            self._all.add(w)
        return w

    def _drop(self, w: Worker) -> None:
        w.remove()
        with self._lock:
            self._all.discard(w)

    def start(self) -> "DockerBackend":
        """Start all pool containers now (otherwise they start on first use)."""
        slots = []
        while True:
            try:
                slots.append(self._idle.get_nowait())
            except queue.Empty:
                break
        for s in slots:
            self._idle.put(s if s is not None else self._new_worker())
        return self

    def run(self, job: dict) -> dict:
        """Run one job (see sandbox.harness for the format); always returns a result dict."""
        if self._closed:
            raise RuntimeError("backend is closed")
        t0 = time.monotonic()
        try:
            limits = {**DEFAULT_LIMITS, **(job.get("limits") or {})}
            wall = global_timeout_s(len(job.get("tests") or []), float(limits["test_timeout_s"])) + 15.0
            json.dumps(job, ensure_ascii=True)
        except Exception as exc:  # noqa: BLE001 - a job that cannot be sent is its own verdict, not an exception
            res = failure_result(job if isinstance(job, dict) else {}, "runtime_error", f"bad job: {exc!r}", t0)
            res["backend"] = "docker"
            return res
        if self.per_candidate:
            w = self._new_worker()
            try:
                res = self._run_on(w, job, wall, t0)
                res.pop("_worker_lost", None)
                return res
            finally:
                self._drop(w)
        slot = self._idle.get()
        w = slot
        try:
            if w is None:
                w = self._new_worker()
            res = self._run_on(w, job, wall, t0)
            if res.get("_worker_lost") == "died":
                # The worker may have been broken before this job (by an earlier candidate): run the job once more
                # on a fresh worker; a second death is this candidate's doing and stands as its verdict.
                self._drop(w)
                w = self._new_worker()
                res = self._run_on(w, job, wall, t0)
            if res.get("_worker_lost"):
                self._drop(w)
                w = None
            res.pop("_worker_lost", None)
            return res
        except BaseException:
            if w is not None:
                self._drop(w)
                w = None
            raise
        finally:
            self._idle.put(w)

    def _run_on(self, w: Worker, job: dict, wall: float, t0: float) -> dict:
        try:
            res = w.run(job, wall)
        except (socket.timeout, TimeoutError):
            res = failure_result(job, "global_timeout", "the sandbox did not answer within the wall-clock limit", t0)
            res["_worker_lost"] = "timeout"
        except WorkerDied as exc:
            res = failure_result(job, "runtime_error", f"sandbox worker died: {exc}", t0)
            res["_worker_lost"] = "died"
        res["backend"] = "docker"
        return res

    def close(self) -> None:
        self._closed = True
        with self._lock:
            workers = list(self._all)
            self._all.clear()
        for w in workers:
            w.remove()

    def __enter__(self) -> "DockerBackend":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
