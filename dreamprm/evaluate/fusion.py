"""A learned fusion of execution evidence, program shape and a PRM's score, for ranking candidates of one problem.

Why: on LiveCodeBench the candidates that pass the statement's examples are the ones worth choosing among, and what
separates the correct survivors from the wrong ones is partly visible without any model: on the train side the
within-problem AUC of a program's line count is 0.65 (575 problems with mixed outcomes; longer programs, often from
the stronger policies, are more often right), and the time it takes on the examples hints at the ones that will time
out on the hidden tests. A frozen-trunk PRM alone orders the survivors badly. The fusion is a logistic model over

- ``examples_passed``: 1 if the candidate passed its statement's examples, else 0 (not run or no example: 0);
- ``model``: the logit of the PRM's (or ORM's) aggregated score;
- ``log_lines``: log(1 + non-blank lines of code);
- ``log_example_time``: log(0.01 + seconds it ran on the examples) (not run: the problem's mean, so 0 after
  centering);

each CENTRED WITHIN ITS PROBLEM before the fit, so the weights say what makes one candidate better than another of the
same problem, not which problems are easy (centring does not change the order within a problem, which is all a
selector uses). It is fitted on training-side candidates only (the manifest's meta problems, which the PRM's warm-up
never trained on), saved as JSON beside the models, and read by the evaluate stage, which adds it as the score
column ``scores:fusion`` (method ``fusion``, hybrid ``filter:fusion``).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dreamprm.errors import InputDataError
from dreamprm.evaluate.aggregate import aggregate_many, as_probability
from dreamprm.io import write_json

FUSION_VERSION = 1
FUSION_FILE = "fusion.json"
FUSION_COLUMN = "scores:fusion"
FEATURES: tuple[str, ...] = ("examples_passed", "model", "log_lines", "log_example_time")
_EPS = 1e-4


def count_code_lines(code: Any) -> int:
    """Non-blank lines of a candidate's code (None or NaN: 0)."""
    if not isinstance(code, str):
        return 0
    return sum(1 for line in code.splitlines() if line.strip())


def raw_features(frame: pd.DataFrame, score_column: str, aggregation: str) -> pd.DataFrame:
    """The uncentred features of every row (columns :data:`FEATURES`); ``model`` is NaN where the scorer gave no
    score (too long, empty code): such a candidate gets no fusion score either."""
    if score_column not in frame:
        raise InputDataError(f"no score column {score_column!r} to fuse", field=score_column,
                             expected="the scores of the fusion's scorer (add_prm_scores)")
    for col in ("problem_id", "code"):
        if col not in frame:
            raise InputDataError(f"the frame to fuse has no {col!r} column", field=col, expected="evaluation_frame()")
    # as a probability first: log_odds_sum aggregates to a logit, not to [0, 1]
    prob = np.clip(as_probability(aggregation, aggregate_many(frame[score_column], aggregation)), _EPS, 1 - _EPS)
    times = pd.to_numeric(frame["example_time_s"], errors="coerce") if "example_time_s" in frame else \
        pd.Series(np.nan, index=frame.index)
    return pd.DataFrame({
        "examples_passed": survivor_rows(frame).astype(float).to_numpy(),
        "model": np.log(prob / (1 - prob)),
        "log_lines": np.log1p([count_code_lines(c) for c in frame["code"]]),
        "log_example_time": np.log(0.01 + times.to_numpy(dtype=float)),
    }, index=frame.index)


def survivor_rows(frame: pd.DataFrame) -> pd.Series:
    """True for the candidates that passed their statement's examples."""
    if "examples_passed" not in frame:
        return pd.Series(False, index=frame.index)
    return pd.Series([v is not None and v == True for v in frame["examples_passed"]], index=frame.index)


def centred_features(frame: pd.DataFrame, score_column: str, aggregation: str,
                     rows: pd.Series | None = None) -> pd.DataFrame:
    """:func:`raw_features` minus their mean over the same problem's scored rows (``rows``: only these count as
    scored); rows without a model score stay NaN. A missing example time is the problem's mean (0 after centring)."""
    raw = raw_features(frame, score_column, aggregation)
    scored = raw["model"].notna() if rows is None else raw["model"].notna() & rows
    problems = frame["problem_id"].astype(str)
    out = pd.DataFrame(np.nan, index=raw.index, columns=list(FEATURES))
    means = raw[scored].groupby(problems[scored]).transform("mean")
    out.loc[scored] = (raw[scored] - means).to_numpy()
    out.loc[scored, "log_example_time"] = out.loc[scored, "log_example_time"].fillna(0.0)
    return out


def _fit_logistic(x: np.ndarray, y: np.ndarray, l2: float, iterations: int = 50) -> tuple[np.ndarray, float]:
    """L2-penalised logistic regression (intercept unpenalised) by Newton's method; returns (weights, bias)."""
    n, k = x.shape
    design = np.hstack([x, np.ones((n, 1))])
    theta = np.zeros(k + 1)
    penalty = np.diag([l2] * k + [0.0])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-design @ theta))
        grad = design.T @ (p - y) + penalty @ theta
        hess = design.T @ (design * (p * (1 - p))[:, None]) + penalty + 1e-9 * np.eye(k + 1)
        step = np.linalg.solve(hess, grad)
        theta -= step
        if np.abs(step).max() < 1e-10:
            break
    return theta[:k], float(theta[k])


@dataclass
class FusionModel:
    """Weights over the standardised centred :data:`FEATURES`, the scorer and aggregation they were fitted with,
    and what they were fitted on (problem ids, so the evaluate stage can refuse a test set it saw)."""

    scorer: str
    aggregation: str
    weights: list[float]
    bias: float
    scale: list[float]
    l2: float
    survivors_only: bool = False
    features: tuple[str, ...] = FEATURES
    trained_on: dict[str, Any] = field(default_factory=dict)
    version: int = FUSION_VERSION

    @property
    def score_column(self) -> str:
        return f"scores:{self.scorer}"

    def logits(self, frame: pd.DataFrame) -> np.ndarray:
        """The fusion's logit per row (NaN where the scorer gave no score, and, for a fusion fitted on the example
        survivors only, on every candidate that did not pass its examples: it ranks survivors, nothing else)."""
        rows = survivor_rows(frame) if self.survivors_only else None
        x = centred_features(frame, self.score_column, self.aggregation, rows)[list(self.features)]
        x = x.to_numpy(dtype=float)
        return self.bias + (x / np.asarray(self.scale)) @ np.asarray(self.weights)

    def score_lists(self, frame: pd.DataFrame) -> list[list[float] | None]:
        """``scores:fusion`` values: one probability per scored row (a one-step score list), None elsewhere."""
        z = self.logits(frame)
        return [None if math.isnan(v) else [float(1.0 / (1.0 + math.exp(-v)))] for v in z]

    def coefficients(self) -> dict[str, float]:
        """Weight per feature in its own units (per unit of the centred feature), for the report and the README."""
        return {f: w / s for f, w, s in zip(self.features, self.weights, self.scale)}

    def summary(self) -> dict[str, Any]:
        """What the report shows: scorer, aggregation, weights per feature, what it was fitted on."""
        fitted = {k: v for k, v in self.trained_on.items() if k != "problem_ids"}
        return {"scorer": self.scorer, "aggregation": self.aggregation, "l2": self.l2,
                "survivors_only": self.survivors_only,
                "coefficients": self.coefficients(), "standardised_weights": dict(zip(self.features, self.weights)),
                "trained_on": fitted}

    def seen_problems(self) -> set[str]:
        return set(self.trained_on.get("problem_ids", []))

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / FUSION_FILE
        write_json({**asdict(self), "features": list(self.features), "coefficients": self.coefficients()}, path)
        return path

    @classmethod
    def load(cls, directory: str | Path) -> FusionModel:
        path = Path(directory) / FUSION_FILE
        try:
            d = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise InputDataError(f"cannot read the fusion model: {exc}", path=str(path),
                                 expected="a fusion.json written by `dreamprm fuse`") from None
        if d.get("version") != FUSION_VERSION or tuple(d.get("features", ())) != FEATURES:
            raise InputDataError("the fusion model was written by another version", path=str(path),
                                 field="version", expected=f"version {FUSION_VERSION} with features {FEATURES}")
        d.pop("coefficients", None)
        d["features"] = tuple(d["features"])
        return cls(**d)


def saved_settings(directory: str | Path) -> dict[str, Any] | None:
    """The scorer, aggregation, l2 and survivors_only of the fusion.json in ``directory``; None when there is none
    or it cannot be read (the fuse flow then recomputes instead of trusting its cache)."""
    try:
        d = json.loads((Path(directory) / FUSION_FILE).read_text())
        return {k: d[k] for k in ("scorer", "aggregation", "l2", "survivors_only")}
    except (OSError, ValueError, KeyError):
        return None


def fit_fusion(frame: pd.DataFrame, scorer: str, aggregation: str, *, l2: float = 1.0,
               label_column: str = "passed", survivors_only: bool = False) -> FusionModel:
    """Fit on the rows of ``frame`` with a model score and a verdict (``survivors_only``: and that passed their
    examples, the candidates ``filter:fusion`` ranks). Problems whose candidates all pass or all fail carry no
    within-problem information (their centred rows still count; they pull the intercept only)."""
    column = f"scores:{scorer}"
    x = centred_features(frame, column, aggregation, survivor_rows(frame) if survivors_only else None)
    y = frame[label_column]
    keep = x["model"].notna() & y.notna()
    if not keep.any():
        raise InputDataError("no candidate with both a model score and a verdict to fit the fusion on",
                             field=column, expected="scored, executed, labelled training-side candidates")
    xs = x[keep].to_numpy(dtype=float)
    ys = y[keep].astype(bool).to_numpy(dtype=float)
    scale = xs.std(axis=0)
    scale[scale < 1e-8] = 1.0  # a constant feature (e.g. every candidate passed its examples) gets weight ~0
    weights, bias = _fit_logistic(xs / scale, ys, l2)
    problems = frame.loc[keep, "problem_id"].astype(str)
    mixed = frame[keep].groupby(problems)[label_column].agg(lambda s: s.astype(bool).nunique() == 2)
    return FusionModel(scorer=scorer, aggregation=aggregation, weights=[float(w) for w in weights], bias=bias,
                       scale=[float(s) for s in scale], l2=l2, survivors_only=survivors_only,
                       trained_on={"candidates": int(keep.sum()), "problems": int(problems.nunique()),
                                   "problems_mixed": int(mixed.sum()), "positives": int(ys.sum()),
                                   "problem_ids": sorted(problems.unique())})


def add_fusion_scores(frame: pd.DataFrame, fusion: FusionModel | None) -> pd.DataFrame:
    """``frame`` with ``scores:fusion`` added when there is a fusion model (its scorer's column must be there)."""
    if fusion is None:
        return frame
    out = frame.copy()
    out[FUSION_COLUMN] = fusion.score_lists(out)
    return out
