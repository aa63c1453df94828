"""Best-of-N selection: which of a problem's N candidates each method submits, and whether that pick passes.

Every method is defined by the value it earns on one problem, a number in [0, 1]:
- a score method (PRM, ORM, any aggregation) submits the candidate with the highest aggregated score: 1 if it passes;
- ``random`` submits a uniformly random candidate; its value is the EXACT expectation c/n (not a sampled draw), so the
  baseline carries no sampling noise of its own;
- ``first`` submits the first sample (what a user without any reranker gets);
- ``majority`` votes by execution signature (see below);
- ``oracle`` is 1 if any candidate passes (pass@N, the ceiling of any reranker).

Deterministic tie-break (documented contract, tested): candidates are ordered by ``(sample_index, candidate_id)``
ascending, and whenever a method has to choose between equals it takes the earliest in that order. Consequences:
- a score method whose top score is shared picks the earliest of the tied candidates (so a constant scorer degrades
  exactly to ``first``, never to a lucky pick);
- unscored candidates (no step scores, aggregate NaN) rank below every scored one; if none is scored, the method
  falls back to ``first``.

Majority vote: candidates are clustered by ``signature`` (a hash of their outputs on the inputs available without
hidden tests: public tests, sample inputs from the statement). Candidates whose signature is missing (None, NaN or
"": they crashed, timed out or were not run) are EXCLUDED from the vote: a shared "crashed" signature must not form
a winning cluster. The largest cluster wins; between clusters of equal size, the one holding the earliest candidate
wins, and the submitted member is the cluster's earliest candidate. If no candidate has a signature, majority falls
back to ``first``. (Equivalently: submit the earliest candidate among those in a largest cluster.)

Execution-evidence filter (AlphaCode's example filtering; PAPER.md, last section): ``filter:<method>`` first keeps
the candidates that pass their problem's public tests / statement examples (``examples_passed``, from an execute run
on them), then applies ``<method>`` among those survivors: ``filter:random`` (expected pass rate of the survivors),
``filter:first``, ``filter:majority`` and, for every score method, ``filter:<score method>`` (PRM or ORM ranking among
the survivors: the hybrid). A problem with no survivor (no candidate passed, or no parsable example) falls back to
``<method>`` over all its candidates; the report counts those problems. The filter methods exist only when the frame
has an ``examples_passed`` column.

Missing verdicts (``passed`` None/NaN) count as NOT passed. This keeps every problem in the denominator (a dropped
candidate or problem would silently inflate pass@1); the report counts how many verdicts were missing.

Two implementations live here on purpose: ``Candidate`` + ``select_*`` functions are the plain, readable reference for
one problem; ``CandidateTable`` is the vectorised engine (padded [problems x candidates] arrays) that the report uses
for thousands of subsamples. Tests check that they agree.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from dreamprm.errors import InputDataError
from dreamprm.evaluate.aggregate import aggregate, aggregate_many

BASELINES: tuple[str, ...] = ("random", "first", "majority", "oracle")
FILTER_PREFIX = "filter:"
FILTER_BASELINES: tuple[str, ...] = ("filter:random", "filter:first", "filter:majority")
REQUIRED_COLUMNS: tuple[str, ...] = ("problem_id", "candidate_id", "sample_index", "passed", "signature")
SCORE_PREFIX = "scores:"


# --------------------------------------------------------------------------------------------------------------------
# pass@k
# --------------------------------------------------------------------------------------------------------------------

def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al. 2021): 1 - C(n-c, k) / C(n, k), with n samples of which c pass.

    Computed as 1 - prod_{i=n-c+1..n} (1 - k/i), which avoids huge binomials. Requires 0 <= c <= n and 1 <= k <= n:
    k > n has no unbiased estimate from n samples, so it raises instead of returning something plausible.
    """
    if n < 1 or not 0 <= c <= n:
        raise ValueError(f"pass_at_k needs n >= 1 and 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"pass_at_k needs 1 <= k <= n, got k={k}, n={n}")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1, dtype=float)))


def pass_at_k_array(n: np.ndarray, c: np.ndarray, k: int | np.ndarray) -> np.ndarray:
    """Element-wise ``pass_at_k`` over arrays of n, c (and k); same validation."""
    n, c, k = np.broadcast_arrays(np.asarray(n), np.asarray(c), np.asarray(k))
    return np.array([pass_at_k(int(a), int(b), int(kk)) for a, b, kk in zip(n.ravel(), c.ravel(), k.ravel())],
                    dtype=float).reshape(n.shape)


# --------------------------------------------------------------------------------------------------------------------
# Reference implementation: one problem, a list of candidates
# --------------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Candidate:
    """One candidate program of one problem, as selection sees it."""

    candidate_id: str
    passed: bool | None
    step_scores: Sequence[float] | None = None
    signature: str | None = None
    sample_index: int = 0
    extra_scores: Mapping[str, Sequence[float] | None] = field(default_factory=dict)

    @property
    def order_key(self) -> tuple[int, str]:
        """The tie-break key: earliest sample first, then candidate id."""
        return (int(self.sample_index), str(self.candidate_id))

    @property
    def is_pass(self) -> bool:
        """Verdict with missing counted as a failure."""
        return _is_true(self.passed)


def _is_true(value: Any) -> bool:
    if value is None or value is pd.NA:
        return False
    if isinstance(value, float) and math.isnan(value):
        return False
    return bool(value)


def _has_signature(sig: Any) -> bool:
    if sig is None or sig is pd.NA:
        return False
    if isinstance(sig, float) and math.isnan(sig):
        return False
    return str(sig) != ""


def _check_nonempty(candidates: Sequence[Candidate]) -> None:
    if len(candidates) == 0:
        raise ValueError("selection needs at least one candidate")


def select_first(candidates: Sequence[Candidate]) -> Candidate:
    """The earliest candidate by (sample_index, candidate_id)."""
    _check_nonempty(candidates)
    return min(candidates, key=lambda c: c.order_key)


def select_by_score(candidates: Sequence[Candidate], aggregation: str = "min",
                    scores_key: str | None = None) -> Candidate:
    """Argmax of the aggregated step score; ties and unscored candidates resolved as the module docstring says.

    ``scores_key`` picks ``candidate.extra_scores[scores_key]`` instead of ``candidate.step_scores``.
    """
    _check_nonempty(candidates)

    def key(c: Candidate) -> tuple[int, float, tuple[int, str]]:
        raw = c.step_scores if scores_key is None else c.extra_scores.get(scores_key)
        s = aggregate(raw, aggregation)
        scored = not math.isnan(s)
        return (0 if scored else 1, -s if scored else 0.0, c.order_key)

    return min(candidates, key=key)


def select_majority(candidates: Sequence[Candidate]) -> Candidate:
    """Majority vote by execution signature; candidates without a signature do not vote (see module docstring)."""
    _check_nonempty(candidates)
    voters = [c for c in candidates if _has_signature(c.signature)]
    if not voters:
        return select_first(candidates)
    sizes: dict[str, int] = {}
    for c in voters:
        sizes[str(c.signature)] = sizes.get(str(c.signature), 0) + 1
    return min(voters, key=lambda c: (-sizes[str(c.signature)], c.order_key))


def random_pass(candidates: Sequence[Candidate]) -> float:
    """Expected pass of a uniformly random pick: the share of passing candidates (exact, not sampled)."""
    _check_nonempty(candidates)
    return sum(c.is_pass for c in candidates) / len(candidates)


def oracle_pass(candidates: Sequence[Candidate]) -> float:
    """1.0 if any candidate passes (pass@N), else 0.0."""
    _check_nonempty(candidates)
    return 1.0 if any(c.is_pass for c in candidates) else 0.0


def method_value(candidates: Sequence[Candidate], method: str, aggregation: str = "min") -> float:
    """The value in [0, 1] a method earns on one problem: a baseline name, or ``"score"`` with ``aggregation``."""
    if method == "random":
        return random_pass(candidates)
    if method == "oracle":
        return oracle_pass(candidates)
    if method == "first":
        return float(select_first(candidates).is_pass)
    if method == "majority":
        return float(select_majority(candidates).is_pass)
    if method == "score":
        return float(select_by_score(candidates, aggregation).is_pass)
    raise ValueError(f"unknown method {method!r}; expected one of {BASELINES + ('score',)}")


# --------------------------------------------------------------------------------------------------------------------
# Vectorised engine: all problems at once, padded arrays
# --------------------------------------------------------------------------------------------------------------------

def score_method_name(column: str, aggregation: str) -> str:
    """Method name for a score column and aggregation: ``"scores:prm"`` + ``"min"`` -> ``"prm:min"``."""
    base = column.removeprefix(SCORE_PREFIX)
    return f"{base}:{aggregation}"


def _normalize_passed(series: pd.Series) -> tuple[np.ndarray, int]:
    """Booleans with missing verdicts as False, plus the number missing."""
    missing = series.isna().to_numpy()
    values = np.array([False if m else bool(v) for v, m in zip(series.to_numpy(), missing)], dtype=bool)
    return values, int(missing.sum())


def validate_candidates(frame: pd.DataFrame, score_columns: Sequence[str] = ()) -> None:
    """Raise InputDataError naming the first problem: missing column, duplicate candidate, mixed difficulty."""
    for col in (*REQUIRED_COLUMNS, *score_columns):
        if col not in frame.columns:
            raise InputDataError("candidates table lacks a column", field=col,
                                 expected=f"columns {list(REQUIRED_COLUMNS)} plus score columns")
    dup = frame.duplicated(["problem_id", "candidate_id"])
    if dup.any():
        row = frame.loc[dup].iloc[0]
        raise InputDataError(f"candidate {row['candidate_id']!r} appears twice in problem {row['problem_id']!r}",
                             field="candidate_id", expected="unique candidate ids within a problem")
    if frame["sample_index"].isna().any():
        raise InputDataError("sample_index has missing values", field="sample_index", expected="integers")
    if "difficulty" in frame.columns:
        n_diff = frame.groupby("problem_id", sort=False)["difficulty"].nunique(dropna=False)
        if (n_diff > 1).any():
            raise InputDataError(f"problem {n_diff[n_diff > 1].index[0]!r} has several difficulties",
                                 field="difficulty", expected="one difficulty per problem")


@dataclass
class CandidateTable:
    """Candidates of P problems as padded (P, W) arrays, W = the largest N; padding cells have ``valid`` False.

    ``order`` is each candidate's tie-break rank within its problem; ``score_rank[m]`` its rank under score method
    ``m`` (0 = picked); ``signature_code`` a per-problem integer cluster id, -1 for "no signature" and padding.
    """

    problem_ids: np.ndarray
    groups: dict[str, np.ndarray]
    candidate_ids: np.ndarray
    valid: np.ndarray
    passed: np.ndarray
    order: np.ndarray
    signature_code: np.ndarray
    scores: dict[str, np.ndarray]
    score_rank: dict[str, np.ndarray]
    score_sources: dict[str, tuple[str, str]]
    n_missing_verdicts: int = 0
    examples: np.ndarray | None = None  # (P, W) True where the candidate passed its examples; None: no such column

    @property
    def methods(self) -> tuple[str, ...]:
        base = BASELINES + tuple(self.scores)
        if self.examples is None:
            return base
        return base + FILTER_BASELINES + tuple(FILTER_PREFIX + m for m in self.scores)

    @property
    def n_problems_without_survivor(self) -> int:
        """Problems where no candidate passed its examples (the filter methods fall back to all candidates)."""
        if self.examples is None:
            return len(self.problem_ids)
        return int((~(self.examples & self.valid).any(axis=1)).sum())

    def survivors(self, mask: np.ndarray) -> np.ndarray:
        """``mask`` restricted to the candidates that passed their examples, or all of ``mask`` for a problem where
        none did."""
        if self.examples is None:
            return mask
        keep = mask & self.examples
        return np.where(keep.any(axis=1, keepdims=True), keep, mask)

    @property
    def n_candidates(self) -> np.ndarray:
        return self.valid.sum(axis=1)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, score_methods: Mapping[str, tuple[str, str]] | None = None,
                   group_columns: Sequence[str] = ("difficulty",)) -> CandidateTable:
        """Build from a candidates frame.

        ``score_methods`` maps a method name to ``(score column, aggregation)``; by default every ``scores:*``
        column with ``min``. ``group_columns`` are per-problem attributes kept for breakdowns (missing -> "unknown").
        """
        if score_methods is None:
            score_methods = {score_method_name(c, "min"): (c, "min")
                             for c in frame.columns if str(c).startswith(SCORE_PREFIX)}
        validate_candidates(frame, sorted({c for c, _ in score_methods.values()}))
        if frame.empty:
            raise InputDataError("candidates table is empty", expected="at least one candidate")
        df = frame.reset_index(drop=True)
        df = df.assign(_sample=df["sample_index"].astype(int), _cid=df["candidate_id"].astype(str))
        df = df.sort_values(["problem_id", "_sample", "_cid"], kind="mergesort").reset_index(drop=True)
        pid_codes, problem_ids = pd.factorize(df["problem_id"], sort=True)
        n_per = np.bincount(pid_codes, minlength=len(problem_ids))
        P, W = len(problem_ids), int(n_per.max())
        starts = np.concatenate([[0], np.cumsum(n_per)[:-1]])
        col = np.arange(len(df)) - starts[pid_codes]  # position within problem == tie-break order

        def pad(values: np.ndarray, fill: Any, dtype: Any) -> np.ndarray:
            out = np.full((P, W), fill, dtype=dtype)
            out[pid_codes, col] = values
            return out

        valid = pad(np.ones(len(df), bool), False, bool)
        passed_flat, n_missing = _normalize_passed(df["passed"])
        order = pad(col, W, np.int64)
        has_sig = np.array([_has_signature(s) for s in df["signature"].to_numpy()], dtype=bool)
        sig_keys = pd.Series([f"{p}\x00{s}" for p, s in zip(df["problem_id"], df["signature"].astype(str))])
        sig_global = pd.factorize(sig_keys)[0]
        # local codes 0..K-1 within each problem keep the one-hot tensor in majority voting small
        sig_local = np.full(len(df), -1, dtype=np.int64)
        for p in range(P):
            sl = slice(starts[p], starts[p] + n_per[p])
            g = sig_global[sl][has_sig[sl]]
            if g.size:
                sig_local[sl][has_sig[sl]] = pd.factorize(g)[0]
        groups = {}
        first_rows = df.groupby(pid_codes, sort=True).head(1)
        for gcol in group_columns:
            if gcol in df.columns:
                groups[gcol] = first_rows[gcol].fillna("unknown").astype(str).to_numpy()
            else:
                groups[gcol] = np.full(P, "unknown", dtype=object)
        scores, ranks = {}, {}
        for name, (scol, agg) in score_methods.items():
            s = pad(aggregate_many(df[scol].to_numpy(), agg), np.nan, float)
            scores[name] = s
            ranks[name] = _rank_by_score(s, order, valid)
        examples = None
        if "examples_passed" in df.columns:
            ex = np.array([_is_true(v) for v in df["examples_passed"].to_numpy()], dtype=bool)
            examples = pad(ex, False, bool)
        return cls(problem_ids=np.asarray(problem_ids, dtype=object), groups=groups, examples=examples,
                   candidate_ids=pad(df["_cid"].to_numpy(dtype=object), "", object), valid=valid,
                   passed=pad(passed_flat, False, bool), order=order, signature_code=pad(sig_local, -1, np.int64),
                   scores=scores, score_rank=ranks, score_sources=dict(score_methods),
                   n_missing_verdicts=n_missing)

    # -- selection -----------------------------------------------------------------------------------------------

    def _mask(self, mask: np.ndarray | None) -> np.ndarray:
        if mask is None:
            return self.valid
        mask = np.asarray(mask, dtype=bool) & self.valid
        if not mask.any(axis=1).all():
            raise ValueError("every problem needs at least one selected candidate in the mask")
        return mask

    def picks(self, method: str, mask: np.ndarray | None = None) -> np.ndarray:
        """Column index of the submitted candidate per problem (for ``first``, ``majority`` and score methods, and
        their ``filter:`` forms)."""
        m = self._mask(mask)
        if method.startswith(FILTER_PREFIX):
            return self.picks(method[len(FILTER_PREFIX):], self.survivors(m))
        big = np.iinfo(np.int64).max
        if method == "first":
            key = self.order
        elif method == "majority":
            key = self._majority_key(m)
        elif method in self.score_rank:
            key = self.score_rank[method]
        else:
            raise ValueError(f"method {method!r} submits no single candidate; pickers: first, majority, "
                             f"{', '.join(self.score_rank)}")
        return np.argmin(np.where(m, key, big), axis=1)

    def _majority_key(self, m: np.ndarray) -> np.ndarray:
        """Key whose argmin is the earliest member of a largest cluster; no-signature candidates have size 0."""
        _P, W = self.valid.shape
        code = self.signature_code
        K = int(code.max()) + 1
        if K <= 0:
            return self.order
        onehot = (code[:, :, None] == np.arange(K)[None, None, :]) & m[:, :, None]
        counts = onehot.sum(axis=1)  # (P, K) cluster sizes within the mask
        size = np.take_along_axis(counts, np.clip(code, 0, None), axis=1)
        size = np.where(code >= 0, size, 0)
        return -size * (W + 1) + self.order

    def pass_values(self, method: str, mask: np.ndarray | None = None) -> np.ndarray:
        """Per-problem value in [0, 1] of ``method`` restricted to the candidates in ``mask`` (default: all)."""
        m = self._mask(mask)
        if method.startswith(FILTER_PREFIX):
            return self.pass_values(method[len(FILTER_PREFIX):], self.survivors(m))
        if method == "random":
            return (self.passed & m).sum(axis=1) / m.sum(axis=1)
        if method == "oracle":
            return (self.passed & m).any(axis=1).astype(float)
        pick = self.picks(method, m)
        return self.passed[np.arange(len(pick)), pick].astype(float)

    def per_problem(self, methods: Sequence[str] | None = None) -> pd.DataFrame:
        """Per-problem values of every method: index problem_id, one float column per method."""
        methods = list(methods or self.methods)
        data = {m: self.pass_values(m) for m in methods}
        return pd.DataFrame(data, index=pd.Index(self.problem_ids, name="problem_id"))

    def picked_ids(self, methods: Sequence[str] | None = None) -> pd.DataFrame:
        """The candidate id each picking method submits per problem (for audits and for ``rerank``)."""
        methods = [m for m in (methods or self.methods)
                   if m.removeprefix(FILTER_PREFIX) not in ("random", "oracle")]
        rows = np.arange(len(self.problem_ids))
        data = {m: self.candidate_ids[rows, self.picks(m)] for m in methods}
        return pd.DataFrame(data, index=pd.Index(self.problem_ids, name="problem_id"))


def _rank_by_score(scores: np.ndarray, order: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Rank within each problem by (scored first, score descending, order ascending); padding ranks last."""
    P, W = scores.shape
    unscored = np.isnan(scores) | ~valid
    neg = np.where(unscored, 0.0, -scores)
    ranks = np.full((P, W), W + 1, dtype=np.int64)
    for p in range(P):
        idx = np.lexsort((order[p], neg[p], unscored[p]))  # last key is primary
        ranks[p, idx] = np.arange(W)
    ranks[~valid] = W + 1
    return ranks


def candidates_from_frame(frame: pd.DataFrame, score_column: str | None = None) -> dict[str, list[Candidate]]:
    """Reference-API view of a candidates frame: problem_id -> list of ``Candidate`` (row by row; for tests/audits)."""
    out: dict[str, list[Candidate]] = {}
    for _, r in frame.iterrows():
        out.setdefault(r["problem_id"], []).append(Candidate(
            candidate_id=str(r["candidate_id"]), passed=r["passed"],
            step_scores=r[score_column] if score_column is not None else None,
            signature=r["signature"], sample_index=int(r["sample_index"])))
    return out
