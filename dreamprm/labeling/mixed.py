"""Outcome labels for every candidate, Monte-Carlo labels for a sample of the multi-step ones.

Recorded candidates come from policies that cannot run here, so their steps get the outcome label (the final verdict
on every step). The local policy can still continue a recorded program's step prefix: its rollouts, judged in the
sandbox, give the prefix a Monte-Carlo estimate. That is noisy twice over (a weaker policy than the one that wrote the
prefix, judged on the statement's examples only), which is the noise the bi-level correction is meant to repair
against the meta side's clean verdicts. So only train-side candidates with two or more steps are Monte-Carlo
labelled (a single-step candidate has no prefix to roll out; the meta side keeps its clean labels), as many as the
budget allows; a row's rollout counts say which kind of label it carries (:func:`label_kind`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import pandas as pd

from dreamprm.data.schema import STEP_LABEL_COLUMNS

OUTCOME = "outcome"
MONTECARLO = "montecarlo"


def label_kind(rollout_counts: Sequence[int]) -> str:
    """``montecarlo`` for a row whose earlier steps have rollouts behind them, else ``outcome`` (the final verdict on
    every step; a single-step row has only its clean label and counts as outcome)."""
    return MONTECARLO if any(int(n) > 0 for n in rollout_counts) else OUTCOME


def multi_step_sample(rows: pd.DataFrame, sides: Mapping[str, str], limit: int,
                      judgeable: Collection[str] | None = None) -> list[str]:
    """The candidate ids to Monte-Carlo label: train-side rows with two or more steps whose problem is in
    ``judgeable`` (has tests to judge rollouts on; None: every problem), at most ``limit`` of them in candidate-id
    order (ids are content hashes, so the first ones are a uniform sample); ``limit`` <= 0: none."""
    if limit <= 0 or rows.empty:
        return []
    problem = rows["problem_id"].astype(str)
    eligible = (problem.map(sides) == "train") & (rows["completions"].map(len) >= 2)
    if judgeable is not None:
        eligible &= problem.isin(set(judgeable))
    return sorted(rows.loc[eligible, "candidate_id"].astype(str))[:limit]


def overlay(rows: pd.DataFrame, replacements: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with each row of ``replacements`` put in place of the row of the same candidate_id, order kept. A
    replacement for a candidate that ``rows`` lacks is an error (it would silently grow the label set)."""
    if replacements.empty:
        return rows
    stray = set(replacements["candidate_id"].astype(str)) - set(rows["candidate_id"].astype(str))
    if stray:
        raise ValueError(f"Monte-Carlo rows for candidates that have no outcome row: {sorted(stray)[:5]}")
    new = {str(r["candidate_id"]): r for r in replacements.to_dict("records")}
    merged = [new.get(str(r["candidate_id"]), r) for r in rows.to_dict("records")]
    return pd.DataFrame(merged, columns=list(STEP_LABEL_COLUMNS))


def step_label_counts(rows: pd.DataFrame) -> dict[str, int]:
    """How many step labels of each kind: ``clean_labels`` (each candidate's final step: its own verdict),
    ``outcome_step_labels`` (earlier steps given the final verdict), ``montecarlo_step_labels`` (earlier steps given
    the pass fraction of their rollouts), and ``montecarlo_candidates``, the rows with rollouts behind them."""
    counts = dict.fromkeys(("clean_labels", "outcome_step_labels", "montecarlo_step_labels",
                            "montecarlo_candidates"), 0)
    for clean, rollouts in zip(rows["clean"], rows["rollout_counts"]):
        for is_clean, n in zip(clean, rollouts):
            key = "clean_labels" if is_clean else "montecarlo_step_labels" if int(n) > 0 else "outcome_step_labels"
            counts[key] += 1
        counts["montecarlo_candidates"] += label_kind(rollouts) == MONTECARLO
    return counts
