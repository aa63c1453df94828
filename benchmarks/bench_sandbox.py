"""Sandbox speed, side by side on one workload in one run:

- pool: the Docker worker pool (long-lived containers, a fresh process per candidate);
- container-per-candidate: a fresh locked-down container per candidate (same harness);
- subprocess: the same harness as a plain subprocess per candidate, NO isolation (trusted benchmark code only).

    python benchmarks/bench_sandbox.py [--n 40] [--workers N]

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
    args = ap.parse_args(argv)
    import os

    from sandbox.docker_backend import DockerBackend

    workers = args.workers or (os.cpu_count() or 1)
    jobs = workload(args.n)
    n_tests = sum(len(j["tests"]) for j in jobs)
    rows = {}
    with DockerBackend(workers=workers) as pool:
        pool.start()
        pool.run(jobs[0])  # warm
        rows["pool"] = timed(pool, jobs, workers)
        serial_pool = [timed(pool, [j], 1)[2][0] for j in jobs[:20]]
    sub = Subprocess()
    rows["subprocess"] = timed(sub, jobs, workers)
    serial_sub = [timed(sub, [j], 1)[2][0] for j in jobs[:20]]
    per_n = max(4, args.n // 4)  # the slow baseline on fewer candidates
    with DockerBackend(workers=workers, per_candidate=True) as per:
        rows["container-per-candidate"] = timed(per, jobs[:per_n], workers)

    print(f"workload: {args.n} candidates x 3 tests, {workers} workers, python {sys.version.split()[0]}")
    rates = {}
    for name, (wall, verdicts, _lat) in rows.items():
        n = len(verdicts)
        tests = n_tests * n / args.n
        rates[name] = n / wall
        print(f"  {name:24s} {n:4d} candidates in {wall:6.2f} s: {n / wall:7.2f} candidates/s, {tests / wall:7.1f} "
              f"tests/s, verdicts {sorted(set(verdicts))}")
    print(f"  pool / subprocess throughput:             {rates['pool'] / rates['subprocess']:.2f}x")
    print(f"  pool / container-per-candidate throughput: {rates['pool'] / rates['container-per-candidate']:.1f}x")
    over = [p - s for p, s in zip(sorted(serial_pool), sorted(serial_sub))]
    print(f"  median latency one at a time: pool {statistics.median(serial_pool) * 1e3:.0f} ms, subprocess "
          f"{statistics.median(serial_sub) * 1e3:.0f} ms; median sandbox overhead "
          f"{statistics.median(over) * 1e3:.0f} ms per candidate")
    return 0


if __name__ == "__main__":
    sys.exit(main())
