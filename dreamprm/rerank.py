"""Rerank a user's own LiveCodeBench-format generations with a registered PRM.

Input: folders or files of ``*_eval_all.json`` generation files (LiveCodeBench's ``lcb_runner`` output). Each
problem's candidates are scored by the PRM (by default the registry's `champion`), and the candidate with the best
aggregated step score is picked. Where the files carry verdicts (``graded_list``), pass@1 of the picks is reported
next to the files' own first-sample pass@1.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Callable

import pandas as pd

from dreamprm.errors import InputDataError


def load_generations(paths: list[Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(problems, candidates) from generation files or folders of them."""
    from dreamprm.data.recorded import import_recorded

    with tempfile.TemporaryDirectory(prefix="dreamprm-rerank-") as tmp:
        dirs = []
        for i, p in enumerate(paths):
            if p.is_dir():
                dirs.append(p)
            elif p.is_file():
                d = Path(tmp) / str(i)
                d.mkdir()
                shutil.copy(p, d / p.name)
                dirs.append(d)
            else:
                raise InputDataError("no such file or folder", path=p, expected="*_eval_all.json files")
        result = import_recorded(dirs)
    if result.candidates.empty:
        raise InputDataError("no candidates found", path=", ".join(map(str, paths)),
                             expected="LiveCodeBench *_eval_all.json generation files")
    return result.problems, result.candidates


def rerank(problems: pd.DataFrame, candidates: pd.DataFrame, score: Callable[[pd.DataFrame], pd.DataFrame],
           aggregation: str = "min") -> tuple[pd.DataFrame, dict[str, float | int | None]]:
    """Pick one candidate per problem by the aggregated PRM score. ``score`` is a pyfunc-style predict taking a
    DataFrame of (problem, code) and returning ``step_scores``. Returns the picks and pass@1 figures."""
    from dreamprm.evaluate.aggregate import aggregate

    by_id = problems.set_index("problem_id")
    frame = candidates[["candidate_id", "problem_id", "sample_index", "code", "official_passed"]].copy()
    frame["problem"] = frame["problem_id"].map(by_id["statement"]).fillna("")
    starter = by_id["starter_code"] if "starter_code" in by_id else pd.Series("", index=by_id.index)
    frame["starter_code"] = frame["problem_id"].map(starter).fillna("")
    has_code = frame["code"].fillna("").str.strip() != ""
    scored = score(frame.loc[has_code, ["problem", "starter_code", "code"]].reset_index(drop=True))
    # One rule with evaluate (TOO_LONG_RULE): a candidate the PRM cannot read gets no score and ranks last.
    frame["score"] = float("-inf")
    frame.loc[has_code, "score"] = [float("-inf") if s is None else aggregate(list(s), aggregation)
                                    for s in scored["step_scores"]]
    frame = frame.sort_values(["problem_id", "score", "sample_index", "candidate_id"],
                              ascending=[True, False, True, True], kind="stable")
    picks = frame.groupby("problem_id", sort=True).head(1).reset_index(drop=True)
    verdicts = candidates["official_passed"].notna().any()
    firsts = candidates.sort_values(["problem_id", "sample_index"]).groupby("problem_id").head(1)
    summary: dict[str, float | int | None] = {
        "problems": int(picks["problem_id"].nunique()),
        "candidates": len(candidates),
        "too_long_for_prm": int(scored["step_scores"].isna().sum()),
        "pass_at_1_reranked": float(picks["official_passed"].fillna(False).astype(bool).mean()) if verdicts else None,
        "pass_at_1_first_sample": float(firsts["official_passed"].fillna(False).astype(bool).mean()) if verdicts else None,
        "pass_at_1_random": float(candidates["official_passed"].fillna(False).astype(bool)
                                  .groupby(candidates["problem_id"]).mean().mean()) if verdicts else None,
    }
    return picks[["problem_id", "candidate_id", "sample_index", "score", "official_passed", "code"]], summary
