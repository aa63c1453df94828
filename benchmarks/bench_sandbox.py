"""Sandbox speed, side by side on one workload in one run:

- pool: the Docker worker pool (long-lived containers, a fresh process per candidate);
- container-per-candidate: a fresh locked-down container per candidate (same harness);
- subprocess: the same harness as a plain subprocess per candidate, NO isolation (trusted benchmark code only);
- bwrap: the bubblewrap backend (one ``bwrap`` per candidate), where bwrap can create its namespaces.

    python benchmarks/bench_sandbox.py [--n 40] [--workers N] [--image TAG] [--only pool,bwrap,...]

Prints candidates/s and tests/s of each, the ratios, and the median sandbox overhead per candidate (pool latency
minus plain-subprocess latency, run one at a time).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def workload(n: int) -> list[dict]:
    """Small realistic candidates: stdin sums and a functional problem, 3 tests each."""
    jobs = []
    for i in range(n):
        if i % 2:
            jobs.append({"code": "n = int(input())\nprint(sum(map(int, input().split())) + n)",
                         "tests": [{"input": f"{k}\n{' '.join(map(str, range(k * 10)))}\n",
                                    "output": str(sum(range(k * 10)) + k), "testtype": "stdin"} for k in (1, 2, 3)]})
        else:
            jobs.append({"code": "class Solution:\n    def f(self, a: List[int]) -> int:\n        return max(a) * 2\n",
                         "func_name": "f",
                         "tests": [{"input": json.dumps(list(range(k))), "output": str((k - 1) * 2),
                                    "testtype": "functional"} for k in (1, 5, 9)]})
    return jobs


class Subprocess:
    name = "subprocess"
    harness = str(REPO / "sandbox" / "harness.py")

    def run(self, job: dict) -> dict:
        p = subprocess.run([sys.executable, "-I", self.harness, "--run"], input=json.dumps(job).encode(),
                           capture_output=True, env={"HARNESS_WORKDIR": "/nonexistent", "PATH": "/usr/bin:/bin"})
        return json.loads(p.stdout)


def timed(backend, jobs: list[dict], workers: int) -> tuple[float, list[str], list[float]]:
    lat: list[float] = []

    def one(job):
        t = time.monotonic()
        r = backend.run(job)
        lat.append(time.monotonic() - t)
        return r["verdict"]

    t0 = time.monotonic()
    with ThreadPoolExecutor(workers) as ex:
        verdicts = list(ex.map(one, jobs))
    return time.monotonic() - t0, verdicts, lat


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--image", default="", help="sandbox image tag (default: the current one)")
    ap.add_argument("--only", default="pool,subprocess,container-per-candidate,bwrap",
                    help="comma-separated rows to run")
    args = ap.parse_args(argv)
    import os

    from sandbox.bwrap_backend import BwrapBackend, bwrap_works
    from sandbox.docker_backend import DockerBackend

    only = set(args.only.split(","))
    dopts = {"image": args.image} if args.image else {}
    workers = args.workers or (os.cpu_count() or 1)
    jobs = workload(args.n)
    n_tests = sum(len(j["tests"]) for j in jobs)
    rows, serial = {}, {}
    if "pool" in only:
        with DockerBackend(workers=workers, **dopts) as pool:
            pool.start()
            pool.run(jobs[0])  # warm
            rows["pool"] = timed(pool, jobs, workers)
            serial["pool"] = [timed(pool, [j], 1)[2][0] for j in jobs[:20]]
    if "subprocess" in only:
        sub = Subprocess()
        rows["subprocess"] = timed(sub, jobs, workers)
        serial["subprocess"] = [timed(sub, [j], 1)[2][0] for j in jobs[:20]]
    if "container-per-candidate" in only:
        per_n = max(4, args.n // 4)  # the slow baseline on fewer candidates
        with DockerBackend(workers=workers, per_candidate=True, **dopts) as per:
            rows["container-per-candidate"] = timed(per, jobs[:per_n], workers)
    if "bwrap" in only:
        if bwrap_works():
            with BwrapBackend(workers=workers) as bw:
                bw.run(jobs[0])  # warm
                rows["bwrap"] = timed(bw, jobs, workers)
                serial["bwrap"] = [timed(bw, [j], 1)[2][0] for j in jobs[:20]]
        else:
            print("  bwrap: skipped (bubblewrap missing or cannot create namespaces here)")

    print(f"workload: {args.n} candidates x 3 tests, {workers} workers, python {sys.version.split()[0]}")
    rates = {}
    for name, (wall, verdicts, _lat) in rows.items():
        n = len(verdicts)
        tests = n_tests * n / args.n
        rates[name] = n / wall
        print(f"  {name:24s} {n:4d} candidates in {wall:6.2f} s: {n / wall:7.2f} candidates/s, {tests / wall:7.1f} "
              f"tests/s, verdicts {sorted(set(verdicts))}")
    for a, b in (("pool", "subprocess"), ("pool", "container-per-candidate"), ("bwrap", "subprocess")):
        if a in rates and b in rates:
            print(f"  {a} / {b} throughput: {rates[a] / rates[b]:.2f}x")
    for name, lat in serial.items():
        line = f"  median latency one at a time: {name} {statistics.median(lat) * 1e3:.0f} ms"
        if name != "subprocess" and "subprocess" in serial:
            over = [p - s for p, s in zip(sorted(lat), sorted(serial["subprocess"]))]
            line += f"; median sandbox overhead over a plain subprocess {statistics.median(over) * 1e3:.0f} ms"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
