"""Backend selection and the batch API.

``get_backend("auto"|"docker"|"bwrap")`` returns a backend with ``run(job) -> result`` and ``close()``; ``auto``
prefers Docker (a daemon answers and the image is built), then bubblewrap, and refuses with a clear message when
neither is available. Candidates never run unsandboxed.

``run_batch(backend, jobs, cache=ResultCache(path))`` yields ``(index, result)`` as jobs finish, running up to the
backend's pool size at once and answering repeated jobs from the cache (keyed by ``job_key``).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Iterable, Iterator

from sandbox.harness import DEFAULT_LIMITS, HARNESS_VERSION


class SandboxUnavailable(RuntimeError):
    """No sandbox backend can run here; the message says how to get one."""


def _docker_reason() -> str | None:
    """None when the Docker backend can be used, else why not."""
    try:
        from sandbox.docker_backend import docker_client
        from sandbox.image import DEFAULT_IMAGE, image_status

        client = docker_client(timeout=10)
        status = image_status(client, DEFAULT_IMAGE)
        if status != "current":
            return f"sandbox image {DEFAULT_IMAGE} is {status} (python -m sandbox build-image --route auto)"
        return None
    except Exception as exc:  # noqa: BLE001
        return str(exc)


def available_backends() -> list[str]:
    from sandbox.bwrap_backend import bwrap_works

    out = []
    if _docker_reason() is None:
        out.append("docker")
    if bwrap_works():
        out.append("bwrap")
    return out


def get_backend(kind: str = "auto", **opts):
    """A sandbox backend. opts: image, workers, memory_mb, pids_limit, cpus (docker), per_candidate (docker)."""
    from sandbox.bwrap_backend import BwrapBackend, bwrap_works

    if kind not in ("auto", "docker", "bwrap"):
        raise ValueError(f"unknown sandbox backend {kind!r}: auto | docker | bwrap")
    reasons = []
    if kind in ("auto", "docker"):
        why = _docker_reason()
        if why is None:
            from sandbox.docker_backend import DockerBackend

            return DockerBackend(**opts)
        reasons.append(f"docker: {why}")
        if kind == "docker":
            raise SandboxUnavailable("the docker sandbox is not available: " + why)
    if bwrap_works():
        bw_opts = {k: v for k, v in opts.items() if k in ("memory_mb", "pids_limit", "workers", "tmpfs_mb")}
        return BwrapBackend(**bw_opts)
    reasons.append("bwrap: bubblewrap is not installed or cannot create namespaces here (apt-get install bubblewrap)")
    raise SandboxUnavailable(
        "no sandbox backend is available, and candidates never run unsandboxed.\n  " + "\n  ".join(reasons)
        + "\nStart Docker with sandbox/scripts/start-dockerd.sh and build the image with "
          "`python -m sandbox build-image --route auto`, or install bubblewrap.")


# ---------------------------------------------------------------------------------------------------------------
# Cache + batch
# ---------------------------------------------------------------------------------------------------------------
def job_key(job: dict) -> str:
    """sha256 of everything a result depends on: code, tests, func name, limits, harness version."""
    limits = {**DEFAULT_LIMITS, **(job.get("limits") or {})}
    payload = json.dumps({"code": job.get("code"), "tests": job.get("tests"), "func_name": job.get("func_name") or "",
                          "limits": limits, "harness": HARNESS_VERSION}, sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(payload.encode()).hexdigest()


class ResultCache:
    """A small sqlite cache of results by job key (thread-safe; one connection per thread)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._conn() as c:
            c.execute("CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, result TEXT NOT NULL)")

    def _conn(self) -> sqlite3.Connection:
        c = getattr(self._local, "conn", None)
        if c is None:
            c = sqlite3.connect(self.path, timeout=30)
            c.execute("PRAGMA journal_mode=WAL")
            self._local.conn = c
        return c

    def get(self, key: str) -> dict | None:
        row = self._conn().execute("SELECT result FROM results WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, result: dict) -> None:
        with self._conn() as c:
            c.execute("INSERT OR REPLACE INTO results VALUES (?, ?)", (key, json.dumps(result)))

    def __len__(self) -> int:
        return self._conn().execute("SELECT COUNT(*) FROM results").fetchone()[0]


# Results that depend on the machine's state rather than the program are not cached.
_UNCACHED = ("global_timeout",)


def run_batch(backend, jobs: Iterable[dict], cache: ResultCache | None = None,
              concurrency: int | None = None, share_identical: bool = True) -> Iterator[tuple[int, dict]]:
    """Yield (index, result) for each job as it finishes; cached results first come straight back.

    Identical jobs (the same key: code, tests and limits; LLM samples often repeat a program) run once per batch and
    share the result, so a program's record, its timings included, is the same whether the batch ran it or read it
    from the cache, and a re-run reproduces what a fresh run recorded; ``share_identical=False`` runs every job (to
    rerun one program on purpose, e.g. to catch a nondeterministic one). Each result carries ``key`` (the job key) and
    ``cached`` (bool: returned without running it here, from the cache or from an identical job of this batch)."""
    size = concurrency or getattr(backend, "size", 1)
    it = iter(enumerate(jobs))
    pending: dict[Future, tuple[int, str]] = {}
    sharing: dict[str, list[int]] = {}  # key in flight -> the further jobs that take its result
    finished: dict[str, dict] = {}  # without a cache: key -> its result, for identical jobs later in the batch
    with ThreadPoolExecutor(max_workers=size, thread_name_prefix="sandbox") as pool:
        exhausted = False
        while True:
            while not exhausted and len(pending) < size * 2:
                try:
                    i, job = next(it)
                except StopIteration:
                    exhausted = True
                    break
                key = job_key(job)
                if share_identical and key in sharing:
                    sharing[key].append(i)
                    continue
                hit = finished.get(key) if share_identical else None
                if hit is None and cache is not None:
                    hit = cache.get(key)
                if hit is not None:
                    yield i, {**hit, "key": key, "cached": True}
                    continue
                if share_identical:
                    sharing[key] = []
                pending[pool.submit(backend.run, job)] = (i, key)
            if not pending:
                return
            done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            for fut in done:
                i, key = pending.pop(fut)
                res = fut.result()
                if res.get("verdict") not in _UNCACHED:  # the machine's state, not the program's: ran again
                    if cache is not None:
                        cache.put(key, res)
                    elif share_identical:
                        finished[key] = res
                yield i, {**res, "key": key, "cached": False}
                for j in sharing.pop(key, []):
                    yield j, {**res, "key": key, "cached": True}
