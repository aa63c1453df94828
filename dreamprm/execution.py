"""The execute stage's domain glue: candidates + problems -> the executions table, through the sandbox batch API.

Every candidate runs against all of its problem's tests (public then private) in the sandbox (Docker pool, else
bubblewrap; never unsandboxed), with LiveCodeBench semantics. Results are cached by ``exec_key`` = sha256 of (code,
tests, limits, harness version), so a re-run executes only what changed. ``SandboxJudge`` offers the same machinery
to the Monte-Carlo labeler (``dreamprm.labeling.montecarlo.Judge``).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import pandas as pd

from dreamprm.data.schema import EXECUTION_COLUMNS, VERDICTS, is_bool, is_null
from dreamprm.errors import InputDataError, ServiceUnavailable
from dreamprm.settings import Settings, get_settings


@dataclass(frozen=True)
class ExecuteConfig:
    backend: str = "auto"
    workers: int = 0
    memory_mb: int = 1024
    test_timeout_s: float = 6.0
    image: str = "dreamprm-sandbox:latest"
    tests: str = "all"  # all | public | private | probes (inputs derived from the examples, dreamprm.data.probes)
    probes: int = 8  # probe inputs per problem with tests="probes"
    grown_probes: int = 2  # further probes grown to the statement's size bound (dreamprm.data.probes.grown_probes)
    wide_probes: int = 2  # further probes with values widened to the statement's value bound (.wide_probes)
    cache_path: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **overrides: Any) -> "ExecuteConfig":
        s = settings or get_settings()
        base = dict(backend=s.sandbox.backend, workers=s.sandbox.workers, memory_mb=s.sandbox.memory_mb,
                    test_timeout_s=s.sandbox.test_timeout_s, image=s.sandbox.image,
                    cache_path=s.cache_dir / "executions.sqlite")
        base.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**base)

    def limits(self) -> dict[str, Any]:
        return {"test_timeout_s": float(self.test_timeout_s)}


def restrict_candidates(candidates: pd.DataFrame, only_path: str | Path) -> pd.DataFrame:
    """The candidates listed in ``only_path``'s candidate_id column; an id missing from the candidates table is an
    error naming it (the list and the table would not belong together)."""
    from dreamprm.io import read_parquet

    wanted = read_parquet(only_path)
    if "candidate_id" not in wanted:
        raise InputDataError("the table of candidates to run has no candidate_id column", path=only_path,
                             field="candidate_id", expected="e.g. data/step_labels.parquet")
    ids = set(wanted["candidate_id"].astype(str))
    unknown = sorted(ids - set(candidates["candidate_id"].astype(str)))
    if unknown:
        raise InputDataError(f"{len(unknown)} listed candidates are not in the candidates table (e.g. {unknown[:3]})",
                             path=only_path, field="candidate_id", expected="ids of the candidates table given")
    return candidates[candidates["candidate_id"].astype(str).isin(ids)]


def default_output_name(tests: str) -> str:
    """Where an execute run writes by default: probe runs (whose "passed" only means the program finished) into
    their own table, so they never replace the verdicts that label, fuse and evaluate read."""
    return "probes.parquet" if tests == "probes" else "executions.parquet"


def check_output_apart(output_path: str | Path, survivors_of: str | Path | None) -> None:
    """Refuse to write over the executions table the survivors are read from: its verdicts would be lost."""
    if survivors_of and Path(output_path).resolve() == Path(survivors_of).resolve():
        raise InputDataError("the output would overwrite the executions table the survivors are read from",
                             path=str(output_path), field="output",
                             expected="another file, e.g. data/probes.parquet for --tests probes")


def restrict_to_survivors(candidates: pd.DataFrame, executions_path: str | Path, at_least: int = 2) -> pd.DataFrame:
    """The candidates that passed their public tests / statement examples in the executions table at
    ``executions_path`` (its leading ``public_tests`` records, as ``evaluation_frame``'s ``examples_passed``: a run
    on every test never lets a hidden test decide), in problems where at least ``at_least`` did: the ones consensus
    selection compares (among fewer there is nothing to compare). A candidate absent from that table is not a
    survivor; a table that fails the executions suite is an error naming the file."""
    from dreamprm.validation import read_validated, validate_executions

    runs = read_validated(executions_path, validate_executions)  # GX when read
    passed = runs[(runs["public_tests"] > 0) & (runs["num_passed"] >= runs["public_tests"])]
    per_problem = passed.groupby("problem_id")["candidate_id"].transform("size")
    ids = set(passed.loc[per_problem >= at_least, "candidate_id"].astype(str))
    return candidates[candidates["candidate_id"].astype(str).isin(ids)]


def problem_tests(problem: Mapping[str, Any], which: str = "all", n_probes: int = 8, n_grown: int = 2,
                  n_wide: int = 2) -> list[dict]:
    """The problem's tests as the harness wants them (public first, then private). ``public`` falls back to the
    examples parsed from the statement (:mod:`dreamprm.data.samples`) when the problem ships no public tests, as
    recorded LiveCodeBench generation files do: enough inputs for majority-vote signatures. ``probes``: up to
    ``n_probes`` new inputs derived from those, then up to ``n_grown`` grown to the statement's size bound and
    ``n_wide`` with values widened to its value bound (:mod:`dreamprm.data.probes`), without expected outputs."""
    if which == "probes":
        from dreamprm.data.probes import probe_tests

        return probe_tests(problem, problem_tests(problem, "public"), n_probes, n_grown, n_wide)
    if which not in ("all", "public", "private"):
        raise InputDataError(f"unknown test selection {which!r}", field="tests",
                             expected="all | public | private | probes")
    out: list[dict] = []
    for col in (("public_tests",) if which == "public" else ("private_tests",) if which == "private"
                else ("public_tests", "private_tests")):
        raw = problem.get(col)
        if raw is None or (isinstance(raw, float) and pd.isna(raw)) or raw == "":
            continue
        try:
            tests = json.loads(raw) if isinstance(raw, str) else list(raw)
        except ValueError as exc:
            raise InputDataError(f"tests are not valid JSON ({exc})", field=col,
                                 expected="a JSON list of {input, output, testtype}") from None
        out.extend(tests)
    if which == "public" and not out:
        from dreamprm.data.samples import sample_tests

        out = sample_tests(problem)
    return out


def official_verdict(value: Any, candidate: str) -> bool | None:
    """One recorded ``official_passed`` value as a verdict: True / False, None where there is none (null or NaN).
    Anything else (a string "False", a number) is refused with the candidate it belongs to: ``bool("False")`` is
    True, so coercing it would silently count every program as correct."""
    if is_null(value):
        return None
    if is_bool(value):
        return bool(value)
    raise InputDataError(f"candidate {candidate}: official_passed is {value!r} ({type(value).__name__})",
                         field="official_passed", expected="a bool, or null where there is no official verdict")


def final_verdicts(candidates: pd.DataFrame, executions: pd.DataFrame | None) -> dict[str, bool]:
    """Each candidate's own verdict, by candidate_id: the recorded official one (LiveCodeBench's grading on all
    tests) where it exists, else the sandbox's, but only from a run that reached beyond the public tests
    (``num_tests > public_tests``: ``--tests all`` or ``private``). A run on the statement's examples alone (``--tests
    public``, what the example filter reads) is no verdict: passing the examples is what the filter selects on, and
    taking it as correctness would count a candidate with a missing official verdict as passed. A candidate left
    without a verdict is absent from the result, so its caller counts it. Used by labeling and evaluation alike."""
    out: dict[str, bool] = {}
    if executions is not None and len(executions):
        missing = [c for c in ("num_tests", "public_tests") if c not in executions]
        if missing:
            raise InputDataError(f"the executions table has no {missing} column (written by an older execute "
                                 "stage); re-run `dreamprm execute`", field=missing[0],
                                 expected="how many tests each run had, and how many of them were public")
        hidden = executions["num_tests"] > executions["public_tests"]
        out.update({str(c): bool(p) for c, p in zip(executions.loc[hidden, "candidate_id"],
                                                    executions.loc[hidden, "passed"])})
    if "official_passed" in candidates:
        for cid, value in zip(candidates["candidate_id"], candidates["official_passed"]):
            verdict = official_verdict(value, str(cid))
            if verdict is not None:
                out[str(cid)] = verdict
    return out


def public_test_count(problem: Mapping[str, Any], which: str, tests: list[dict] | None = None) -> int:
    """How many of the leading tests a job of ``which`` runs are public (or statement examples): those, and only
    those, may feed majority-vote signatures, so a vote never sees how far a candidate got through hidden tests.
    Probe tests are all derived from the examples, so every one of them counts. ``tests``: the job's tests, when
    already built (for ``public`` and ``probes`` they are all public)."""
    if which in ("public", "probes"):
        return len(tests if tests is not None else problem_tests(problem, which))
    if which == "all":
        raw = problem.get("public_tests")
        return len(problem_tests({"public_tests": raw}, "all")) if raw not in (None, "") else 0
    return 0


def make_job(code: str, problem: Mapping[str, Any], config: ExecuteConfig, tests: list[dict] | None = None) -> dict:
    """The harness job for ``code`` on ``problem``'s tests (``tests``: already built for the problem)."""
    if tests is None:
        tests = problem_tests(problem, config.tests, config.probes, config.grown_probes, config.wide_probes)
    return {"code": code if isinstance(code, str) else "", "tests": tests,
            "func_name": problem.get("func_name") or "", "limits": config.limits()}


def open_backend(config: ExecuteConfig):
    """The configured sandbox backend; a clear ServiceUnavailable when none can run."""
    from sandbox import SandboxUnavailable, get_backend

    opts: dict[str, Any] = {"workers": config.workers, "memory_mb": config.memory_mb}
    if config.backend in ("auto", "docker"):
        opts["image"] = config.image
    try:
        return get_backend(config.backend, **opts)
    except SandboxUnavailable as exc:
        raise ServiceUnavailable(str(exc)) from None
    except TypeError:  # bwrap takes no image
        opts.pop("image", None)
        return get_backend(config.backend, **opts)


def execution_row(candidate: Mapping[str, Any], result: Mapping[str, Any], backend: str,
                  public_tests: int = 0) -> dict:
    return {
        "candidate_id": candidate["candidate_id"],
        "problem_id": candidate["problem_id"],
        "exec_key": result.get("key", ""),
        "verdict": result["verdict"],
        "passed": bool(result["verdict"] == "passed"),
        "num_tests": int(result.get("num_tests", 0)),
        "num_passed": int(result.get("num_passed", 0)),
        "per_test": json.dumps(result.get("per_test", [])),
        "time_s": float(result.get("time_s", 0.0)),
        "backend": result.get("backend", backend),
        "public_tests": int(public_tests),
    }


@dataclass
class ExecutionSummary:
    n: int = 0
    cached: int = 0
    wall_s: float = 0.0
    tests_run: int = 0
    verdicts: Counter = field(default_factory=Counter)

    @property
    def candidates_per_s(self) -> float:
        return (self.n - self.cached) / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def tests_per_s(self) -> float:
        return self.tests_run / self.wall_s if self.wall_s > 0 else 0.0

    def metrics(self) -> dict[str, float]:
        m = {"candidates": self.n, "cached": self.cached, "wall_s": self.wall_s,
             "candidates_per_s": self.candidates_per_s, "tests_per_s": self.tests_per_s,
             "pass_rate": self.verdicts["passed"] / self.n if self.n else 0.0}
        m.update({f"verdict_{v}": self.verdicts.get(v, 0) for v in VERDICTS})
        return m

    def markdown(self) -> str:
        lines = ["| verdict | count | share |", "| --- | ---: | ---: |"]
        for v in VERDICTS:
            c = self.verdicts.get(v, 0)
            lines.append(f"| {v} | {c} | {c / self.n:.1%} |" if self.n else f"| {v} | 0 | - |")
        lines.append(f"\n{self.n} candidates ({self.cached} cached) in {self.wall_s:.1f} s: "
                     f"{self.candidates_per_s:.2f} candidates/s, {self.tests_per_s:.1f} tests/s executed")
        return "\n".join(lines)


def execute_candidates(candidates: pd.DataFrame, problems: pd.DataFrame, config: ExecuteConfig,
                       backend: Any = None,
                       progress: Callable[[int, int, str], None] | None = None) -> tuple[pd.DataFrame, ExecutionSummary]:
    """Run every candidate; returns the executions table (EXECUTION_COLUMNS, candidates' order) and a summary."""
    from sandbox import ResultCache, run_batch

    missing = [c for c in ("candidate_id", "problem_id", "code") if c not in candidates.columns]
    if missing:
        raise InputDataError(f"candidates table lacks columns {missing}", field=missing[0])
    by_id = {str(p["problem_id"]): p for p in problems.to_dict("records")}
    cands = candidates.to_dict("records")
    unknown = sorted({str(c["problem_id"]) for c in cands} - set(by_id))
    if unknown:
        raise InputDataError(f"{len(unknown)} candidates answer problems not in the problems table, e.g. "
                             f"{unknown[:3]}", field="problem_id")
    # Each problem's tests are built once (probes are generated; a grown one has 20,000 items), not per candidate.
    wanted = {str(c["problem_id"]) for c in cands}
    tests = {pid: problem_tests(by_id[pid], config.tests, config.probes, config.grown_probes, config.wide_probes)
             for pid in wanted}
    public = {pid: public_test_count(by_id[pid], config.tests, tests[pid]) for pid in wanted}
    jobs = [make_job(c["code"], by_id[str(c["problem_id"])], config, tests[str(c["problem_id"])]) for c in cands]
    n_public = [public[str(c["problem_id"])] for c in cands]
    cache = ResultCache(config.cache_path) if config.cache_path else None
    own = backend is None
    backend = backend or open_backend(config)
    rows: list[dict | None] = [None] * len(cands)
    summary = ExecutionSummary(n=len(cands))
    t0 = time.monotonic()
    try:
        for done, (i, res) in enumerate(run_batch(backend, jobs, cache=cache), start=1):
            rows[i] = execution_row(cands[i], res, backend.name, n_public[i])
            summary.verdicts[res["verdict"]] += 1
            if res.get("cached"):
                summary.cached += 1
            else:
                summary.tests_run += len(res.get("per_test", []))
            if progress:
                progress(done, len(cands), res["verdict"])
    finally:
        if own:
            backend.close()
    summary.wall_s = time.monotonic() - t0
    df = pd.DataFrame([r for r in rows if r is not None], columns=list(EXECUTION_COLUMNS))
    return df, summary


class SandboxJudge:
    """``dreamprm.labeling.montecarlo.Judge`` over the sandbox: jobs of (problem row, code) -> passed?"""

    def __init__(self, config: ExecuteConfig | None = None, backend: Any = None) -> None:
        self.config = config or ExecuteConfig.from_settings()
        self._backend = backend

    @property
    def tests(self) -> str:
        """Which of a problem's tests the verdicts are on (part of the Monte-Carlo judge cache key)."""
        return self.config.tests

    def __call__(self, jobs: Sequence[tuple[Mapping[str, Any], str]]) -> list[bool]:
        from sandbox import ResultCache, run_batch

        if self._backend is None:
            self._backend = open_backend(self.config)
        cache = ResultCache(self.config.cache_path) if self.config.cache_path else None
        built = []
        for problem, code in jobs:
            job = make_job(code, problem, self.config)
            if not job["tests"]:  # a program run on no test would "pass": a silently wrong label
                raise InputDataError(f"problem {problem.get('problem_id')!r} has no {self.config.tests} tests to judge "
                                     "a rollout on", field="public_tests",
                                     expected="tests in the problems table, or --rollout-tests public (the examples "
                                              "parsed from the statement)")
            built.append(job)
        out = [False] * len(jobs)
        for i, res in run_batch(self._backend, built, cache=cache):
            out[i] = res["verdict"] == "passed"
        return out

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None


def verdict_counts(executions: Iterable[str]) -> dict[str, int]:
    c = Counter(executions)
    return {v: c.get(v, 0) for v in VERDICTS}
