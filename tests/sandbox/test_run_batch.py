"""run_batch runs each distinct job once per batch (a counting backend double; the real pools: test_sandbox_docker)."""

from __future__ import annotations

import itertools
import threading

from sandbox import ResultCache, run_batch


class CountingBackend:
    """Returns a fresh timing per run, as a real sandbox would, and counts the runs per program."""

    size = 2

    def __init__(self, verdict: str = "passed") -> None:
        self.runs: dict[str, int] = {}
        self.verdict = verdict
        self._tick = itertools.count(1)
        self._lock = threading.Lock()

    def run(self, job: dict) -> dict:
        with self._lock:
            self.runs[job["code"]] = self.runs.get(job["code"], 0) + 1
            return {"verdict": self.verdict, "time_s": next(self._tick) / 1000}


def _jobs(codes: list[str]) -> list[dict]:
    return [{"code": c, "tests": [{"input": "", "output": "1"}]} for c in codes]


def test_identical_jobs_run_once_and_share_the_record(tmp_path) -> None:
    codes = ["print(1)", "print(2)", "print(1)", "print(1)", "print(3)", "print(2)"]
    backend = CountingBackend()
    got = dict(run_batch(backend, _jobs(codes), cache=ResultCache(tmp_path / "c.sqlite")))
    assert sorted(got) == list(range(6))
    assert backend.runs == {"print(1)": 1, "print(2)": 1, "print(3)": 1}
    assert got[0]["time_s"] == got[2]["time_s"] == got[3]["time_s"] and got[1]["time_s"] == got[5]["time_s"]
    assert [got[i]["cached"] for i in range(6)] == [False, False, True, True, False, True]
    # Read back from the cache, every record is what the fresh batch gave.
    again = dict(run_batch(CountingBackend(), _jobs(codes), cache=ResultCache(tmp_path / "c.sqlite")))
    assert {i: r["time_s"] for i, r in again.items()} == {i: r["time_s"] for i, r in got.items()}


def test_without_a_cache_duplicates_still_run_once() -> None:
    backend = CountingBackend()
    got = dict(run_batch(backend, _jobs(["a=1", "a=1", "a=1"])))
    assert backend.runs == {"a=1": 1} and len({r["time_s"] for r in got.values()}) == 1


def test_share_identical_false_runs_every_job(tmp_path) -> None:
    """Reruns on purpose (benchmarks/fidelity.py's flakiness check): every job runs, none is read back."""
    backend = CountingBackend()
    cache = ResultCache(tmp_path / "c.sqlite")
    list(run_batch(backend, _jobs(["a=1"]), cache=cache))
    got = dict(run_batch(backend, _jobs(["a=1"] * 4), share_identical=False))
    assert backend.runs == {"a=1": 5} and len({r["time_s"] for r in got.values()}) == 4
    assert not any(r["cached"] for r in got.values())


def test_a_machine_state_verdict_is_not_shared_with_later_jobs() -> None:
    """A global timeout says the machine was busy, not what the program does: an identical job that comes after it
    finished runs again (jobs in flight together share it)."""
    backend = CountingBackend(verdict="global_timeout")
    list(run_batch(backend, _jobs(["x", "y", "z", "w", "v", "x"]), concurrency=1))
    assert backend.runs["x"] == 2
