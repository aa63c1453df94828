"""Building the evaluation frame: candidates with verdicts, execution signatures and step scores of each scorer.

- ``passed``: :func:`dreamprm.execution.final_verdicts` (the official verdict, else the sandbox's); None without
  either.
- ``signature``: a hash of what the program printed/returned on each test it ran (the executions table's per-test
  records, verdicts and expected outputs excluded), for majority vote. Only the outputs are used, never whether they
  were right; a program that crashed or printed nothing has no signature and does not vote. Only the public tests
  (or statement examples) count, whatever ``execute --tests`` ran: hidden tests run after them and the harness stops
  at the first failure, so their records would tell the vote how far a candidate got through the hidden tests.
- ``examples_passed``: whether the candidate passed all public tests / statement examples (the execution-evidence
  filter, :mod:`dreamprm.evaluate.select`); None without examples or an execution.
- ``example_time_s``: seconds the candidate ran on those public tests / examples (the sum of their per-test times;
  NaN when not run), an input of the learned fusion (:mod:`dreamprm.evaluate.fusion`).
- ``scores:<name>``: the step scores of each PRM, in one forward pass per candidate (the problem's tokens encoded
  once for all its candidates, :meth:`dreamprm.prm.model.ProcessRewardModel.step_features`; frozen-trunk PRMs read
  the trunk's vectors from the on-disk feature cache, one trunk pass per candidate for all of them), on the PRM input built by
  :class:`dreamprm.prm.template.PRMInput` (statement + starter code + steps, as in training); None for a candidate
  whose code exceeds the PRM's context (never truncated): it is then picked only when no candidate of its problem
  has a score (:data:`dreamprm.prm.template.TOO_LONG_RULE`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from dreamprm.errors import InputDataError
from dreamprm.execution import final_verdicts


def execution_signature(per_test_json: str | None, public_tests: int | None = None) -> str | None:
    """sha256 of the outputs on the first ``public_tests`` per-test records (the public tests or statement
    examples; None: all records), or None when the program produced no output there."""
    if not per_test_json:
        return None
    try:
        tests = json.loads(per_test_json)
    except ValueError:
        return None
    if public_tests is not None:
        tests = tests[: int(public_tests)]
    outs = [t.get("stdout", t.get("output")) for t in tests if isinstance(t, dict)]
    if not outs or all(o in (None, "") for o in outs):
        return None
    return hashlib.sha256(json.dumps(outs).encode()).hexdigest()[:16]


def example_time(per_test_json: str | None, public_tests: int | None) -> float:
    """Seconds spent on the first ``public_tests`` per-test records (NaN without records)."""
    if not per_test_json:
        return float("nan")
    try:
        tests = json.loads(per_test_json)
    except ValueError:
        return float("nan")
    tests = [t for t in tests[: int(public_tests or 0)] if isinstance(t, dict)]
    times = [float(t["time_s"]) for t in tests if isinstance(t.get("time_s"), (int, float))]
    return float(sum(times)) if times else float("nan")


def first_per_problem(candidates: pd.DataFrame, n: int) -> pd.DataFrame:
    """The first ``n`` candidates of each problem in (sample_index, policy, candidate_id) order: with recorded files
    of several models, sample 0 of every model comes before sample 1 of any, so a subset stays balanced over models."""
    keys = [k for k in ("sample_index", "policy", "candidate_id") if k in candidates]
    ordered = candidates.sort_values(keys, kind="stable")
    return ordered.groupby("problem_id", sort=False).head(n).sort_index()


def evaluation_frame(problems: pd.DataFrame, candidates: pd.DataFrame, executions: pd.DataFrame | None) -> pd.DataFrame:
    """One row per candidate: problem_id, difficulty, platform, candidate_id, sample_index, passed, signature,
    code, statement, starter_code (and policy, when the candidates have it: the generator prior reads it); with an
    executions table also examples_passed, n_examples and example_time_s."""
    p = problems.set_index("problem_id")
    keep = ["candidate_id", "problem_id", "sample_index", "code"] + (["policy"] if "policy" in candidates else [])
    df = candidates[keep].copy()
    df["difficulty"] = df["problem_id"].map(p["difficulty"]).fillna("unknown")
    df["platform"] = df["problem_id"].map(p["platform"]).fillna("unknown")
    df["statement"] = df["problem_id"].map(p["statement"]).fillna("")
    starter = p["starter_code"] if "starter_code" in p else pd.Series("", index=p.index)
    df["starter_code"] = df["problem_id"].map(starter).fillna("")
    verdicts = final_verdicts(candidates, executions)
    df["passed"] = df["candidate_id"].astype(str).map(verdicts).astype(object)
    df.loc[df["passed"].isna(), "passed"] = None
    df["signature"] = None
    if executions is not None and len(executions):
        if "public_tests" not in executions:
            raise InputDataError("the executions table has no 'public_tests' column (written by an older execute "
                                 "stage); re-run `dreamprm execute`", field="public_tests",
                                 expected="how many leading per-test records are public")
        e = executions.set_index("candidate_id")
        ran = df["candidate_id"].isin(e.index)
        ids = df.loc[ran, "candidate_id"]
        df.loc[ran, "signature"] = [execution_signature(t, n) for t, n in
                                    zip(ids.map(e["per_test"]), ids.map(e["public_tests"]))]
        # Passed every public test / statement example (they run first; the harness stops at the first failure).
        # None when the problem has no example to pass or the candidate was not run.
        df["examples_passed"] = None
        pub, npass = ids.map(e["public_tests"]), ids.map(e["num_passed"])
        df.loc[ran, "examples_passed"] = [bool(k >= n) if n > 0 else None for n, k in zip(pub, npass)]
        # How many examples it ran on (NaN: not executed), so the report counts problems without parsable examples
        # and candidates never run instead of letting them vanish into "no survivor".
        df["n_examples"] = pd.Series(pub.to_numpy(dtype=float), index=pub.index).reindex(df.index)
        df["example_time_s"] = pd.Series([example_time(t, n) for t, n in zip(ids.map(e["per_test"]), pub)],
                                         index=ids.index, dtype=float).reindex(df.index)
    return df.reset_index(drop=True)


def _feature_cache(prm: Any, batch_size: int) -> Any:
    """The on-disk trunk-feature cache of a frozen-trunk (``head`` mode) PRM, else None (a LoRA PRM scores with
    full forwards). Every model of one trunk shares its entries, so the trunk runs once per candidate."""
    config = getattr(prm, "config", None)
    if getattr(config, "finetune", None) != "head":
        return None
    from dreamprm.prm.features import FeatureCache

    return FeatureCache(prm, batch_size=batch_size)


def prm_inputs(frame: pd.DataFrame) -> list[Any]:
    """The PRM input of each row of an evaluation frame (statement, starter code, the code's steps), built by
    :class:`dreamprm.prm.template.PRMInput` exactly as in training, in row order."""
    from dreamprm.prm.template import PRMInput

    starters = frame["starter_code"] if "starter_code" in frame else [""] * len(frame)
    return [PRMInput.build(s, st, code=str(c)) for s, st, c in zip(frame["statement"], starters, frame["code"])]


def add_prm_scores(frame: pd.DataFrame, scorers: Mapping[str, Any], *, batch_size: int = 8,
                   progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """Add a ``scores:<name>`` column per PRM (objects with ``score_batch([(problem, steps)])``)."""
    out = frame.copy()
    items = prm_inputs(frame)
    total = len(items) * len(scorers)
    done = 0
    # score_batch forms its batches from similar lengths and encodes each problem's tokens once for all its
    # candidates, so it gets many items per call (progress after each), a problem's candidates in the same call.
    per_call = batch_size * 32
    order = sorted(range(len(items)), key=lambda i: (items[i].statement, items[i].starter_code))
    for name, prm in scorers.items():
        cache = _feature_cache(prm, batch_size)
        scores: list[list[float] | None] = [None] * len(items)
        for start in range(0, len(order), per_call):
            chunk = order[start : start + per_call]
            ok = [i for i in chunk if "".join(items[i].steps).strip()]
            if not ok:
                got = []
            elif cache is not None:
                got = cache.score([items[i] for i in ok])
            else:
                got = prm.score_batch([items[i] for i in ok], batch_size=batch_size, too_long="none")
            for i, sc in zip(ok, got):
                scores[i] = sc
            done += len(chunk)
            if progress:
                progress(done, total)
        out[f"scores:{name}"] = scores
    return out
