"""Outcome-propagated step labels: every step of a candidate labeled with the candidate's final verdict.

Monte-Carlo labels need rollouts from the policy that wrote the candidates. Recorded LiveCodeBench generations come
from models this project cannot run on a CPU, but they carry official verdicts; propagating the verdict to every
step is the cheap ("hard estimation") step label used as a PRM baseline in the literature. It is *noisy by
construction*: a failing program's correct helper functions get 0, which is exactly the noise the bi-level
correction is meant to repair against clean verdicts. The rows have the same layout as Monte-Carlo rows (TRL's
stepwise layout + soft labels), with zero rollouts, so training and correction take them unchanged.
"""

from __future__ import annotations

import json
from typing import Mapping

import pandas as pd

from dreamprm.data.schema import STEP_LABEL_COLUMNS
from dreamprm.errors import InputDataError
from dreamprm.labeling.montecarlo import prm_problem_fields
from dreamprm.prompts import build_prompt
from dreamprm.steps import DEFAULT_MAX_STEPS, split_steps


def outcome_step_labels(problems: pd.DataFrame, candidates: pd.DataFrame, verdicts: Mapping[str, bool],
                        max_steps: int = DEFAULT_MAX_STEPS, style: str = "cof") -> pd.DataFrame:
    """One row per candidate with a verdict; an InputDataError names a candidate whose problem is missing."""
    by_id = {str(r["problem_id"]): r for r in problems.to_dict("records")}
    rows = []
    for cand in candidates.to_dict("records"):
        cid = str(cand["candidate_id"])
        if cid not in verdicts:
            continue
        problem = by_id.get(str(cand["problem_id"]))
        if problem is None:
            raise InputDataError(f"candidate {cid} names problem {cand['problem_id']!r}, which is not in the problems "
                                 "table", field="problem_id")
        split = split_steps(str(cand["code"]), k=max_steps)
        y = 1.0 if verdicts[cid] else 0.0
        n = len(split.steps)
        prompt = build_prompt(problem, style=style)  # type: ignore[arg-type]
        rows.append({
            "candidate_id": cid, "problem_id": str(cand["problem_id"]),
            **prm_problem_fields(problem),
            "completions": split.steps, "labels": [bool(y)] * n, "soft_labels": [y] * n,
            "clean": [False] * (n - 1) + [True], "rollout_counts": [0] * n, "rollout_passes": [0] * n,
            "step_offsets": list(split.offsets), "split_rule": split.rule,
            "policy": json.dumps({"recorded": str(cand.get("policy") or "")}, sort_keys=True),
            "prompt_version": prompt.prompt_version,
            "sampling": json.dumps({"method": "outcome", "max_steps": max_steps}, sort_keys=True),
        })
    return pd.DataFrame(rows, columns=list(STEP_LABEL_COLUMNS))
