"""The evaluation report: every method's pass@1 with paired bootstrap intervals, overall and per difficulty; pass@1
against N curves; calibration of score methods; PNG plots; a markdown table.

Input is one candidates-with-scores frame, one row per candidate:

| column | meaning |
| --- | --- |
| problem_id | the problem |
| difficulty | easy / medium / hard / unknown (NaN -> unknown); one value per problem |
| candidate_id | unique within the problem |
| sample_index | int; with candidate_id the deterministic tie-break order (see ``select``) |
| passed | bool; None/NaN = missing verdict, counted as a failure and reported |
| signature | execution signature for majority vote; None/NaN/"" = no vote |
| scores:<name> | one column per scorer (e.g. ``scores:prm``, ``scores:orm``): list of step scores or None |
| platform (optional) | adds a per-platform breakdown |

Score methods are named ``<name>:<aggregation>`` (``prm:min``, ``orm:last``); the learned fusion's one score per
candidate is the method ``fusion`` (:mod:`dreamprm.evaluate.fusion`). The report is a plain dict that
``json.dumps`` accepts (NaN becomes None), so it can go to MLflow, DVC metrics and reports/ as is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dreamprm.data.schema import DIFFICULTIES
from dreamprm.errors import InputDataError
from dreamprm.evaluate.aggregate import AGGREGATIONS, as_probability
from dreamprm.evaluate.consensus import CONSENSUS_COLUMN, POOL_DEPENDENT_PREFIX
from dreamprm.evaluate.fusion import FUSION_COLUMN
from dreamprm.evaluate.prior import PRIOR_COLUMN, PRIOR_RULE
from dreamprm.evaluate.select import (
    BASELINES,
    FILTER_BASELINES,
    FILTER_PREFIX,
    SCORE_PREFIX,
    CandidateTable,
    pass_at_k,
    score_method_name,
)
from dreamprm.evaluate.stats import paired_bootstrap, ranking_quality
from dreamprm.plots import new_figure, save_png

REPORT_SCHEMA_VERSION = 1
_CLOCK_WORDS = {"cpu": "CPU time", "wall": "wall-clock time"}  # report['consensus']['speed_clock'] -> the footer's words
DEFAULT_AGGREGATIONS: tuple[str, ...] = tuple(AGGREGATIONS)

RULES = {
    "tie_break": "candidates ordered by (sample_index, candidate_id); equal scores or equal clusters -> earliest",
    "unscored": "candidates without step scores rank below every scored one; none scored -> first sample",
    "majority": "cluster by signature; no-signature candidates do not vote; largest cluster, earliest member; "
                "no signatures at all -> first sample",
    "random": "exact expectation c/n per problem, not a sampled pick",
    "oracle": "1 if any candidate passes (pass@N)",
    "missing_verdicts": "counted as failures; the number is reported. A verdict is the official one, else the "
                        "sandbox's from a run that reached beyond the public tests: a run on the statement's examples "
                        "alone (execute --tests public) is no verdict",
    "no_examples": "a problem whose statement has no parsable example has no survivor: every filter:<method> "
                   "falls back to <method> over all its candidates (counted: n_problems_without_examples)",
    "not_executed": "a candidate with no execution on the examples does not survive the filter and does not vote "
                    "(counted: n_candidates_not_executed)",
    "no_survivor": "a problem where no candidate passes its examples: filter:<method> = <method> over all its "
                   "candidates (counted: n_problems_without_survivor); it stays in every denominator",
    "auc": "global AUC over all scored candidates; within-problem AUC = mean over the problems with a passing and "
           "a failing scored candidate (their number is reported) of the AUC among that problem's candidates; "
           "ties count 1/2; unscored candidates are left out",
    "problems_without_candidates": "with an explicit problem list (build_report's problems=), a listed problem "
                                   "without candidates counts 0 for every method (n_problems_without_candidates)",
    "rows_of_other_candidates": "execution and probe rows that name no candidate of the evaluated table are not "
                                "read (counted per table: n_rows_of_other_candidates); a row naming a candidate on "
                                "another problem than the candidate's is an error",
    "problems_on_sides_without_candidates": "the evaluate stage's set is the problems of the evaluated sides that "
                                            "the candidates table covers: a problem no candidate answers was not "
                                            "attempted, so it is outside every denominator and counted "
                                            "(n_problems_on_sides_without_candidates)",
    "fusion": "when a fusion model is saved (dreamprm fuse): method `fusion` ranks by a logistic model over "
              "within-problem-centred examples passed, the model's logit, log lines of code and log example time "
              "(fitted on training-side candidates only); candidates its model did not score get no fusion score, and "
              "a fusion fitted on example survivors only scores survivors only",
    "prior": PRIOR_RULE,
    "consensus": "with probe executions (evaluate --probes): `consensus` scores each example survivor by how often "
                 "its output on the probe inputs agrees with the other survivors' of the evaluated set (mean share "
                 "of the pool printing the same; a failed probe counts as its verdict: time_limit, runtime_error, "
                 "not_run); a problem whose examples give no probe scores its survivors alike; `consensus>m` breaks its ties "
                 "by model m's within-problem rank, `consensus>speed` by the survivors' total probe time on the clock "
                 "the footer names (CPU time, chosen on validation, unless --speed-clock wall; fastest first; a "
                 "stopped run last), "
                 "`consensus>speedbin>m` by the speed bin floor(log2(time / the "
                 "fastest survivor's)), then model m; non-survivors and unprobed candidates get no score (a problem "
                 "with one survivor is not probed: the filter picks it anyway); reported only as filter:consensus... (it "
                 "is defined on survivors); no curve (the score depends on the pool)",
    "curve": "pass@1 at N' = mean over seeded uniform subsets of N' candidates per problem (all candidates when "
             "a problem has fewer); random and oracle use their exact values (c/n, unbiased pass@N')",
    "interval": "percentile paired bootstrap over problems",
    "hybrid_only": "when settings.hybrid_only, only the candidates passing their examples and the first K of each "
                   "problem were scored (evaluate --hybrid-only-above K): PRMs and the ORM appear only as "
                   "filter:<model>; a problem without survivor is ranked among its scored candidates, the unscored "
                   "below them; calibration and AUC cover the scored candidates only",
}


# --------------------------------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------------------------------

def single_score_columns(columns: Sequence[str]) -> set[str]:
    """The score columns that hold one score per candidate (the fusion, the generator prior, the consensus and its
    tie-broken variants): nothing to aggregate, so they are reported under their own name."""
    return {c for c in columns if c in (FUSION_COLUMN, PRIOR_COLUMN) or str(c).startswith(CONSENSUS_COLUMN)}


def score_methods_for(candidates: pd.DataFrame, score_columns: Sequence[str] | None = None,
                      aggregations: Sequence[str] = DEFAULT_AGGREGATIONS) -> dict[str, tuple[str, str]]:
    """Method name -> (score column, aggregation) for every score column (default: all ``scores:*``) and aggregation;
    a one-score column (``scores:fusion``) is one method under its own name (``fusion``)."""
    cols = list(score_columns) if score_columns is not None else [
        c for c in candidates.columns if str(c).startswith(SCORE_PREFIX)]
    for agg in aggregations:
        if agg not in AGGREGATIONS:
            raise InputDataError(f"unknown aggregation {agg!r}", field="aggregations",
                                 expected=" | ".join(AGGREGATIONS))
    single = single_score_columns(cols)  # one score per candidate (the fusion): nothing to aggregate
    methods = {score_method_name(c, a): (c, a) for c in cols if c not in single for a in aggregations}
    return {**methods, **{c.removeprefix(SCORE_PREFIX): (c, "last") for c in cols if c in single}}


def _subsample_mask(table: CandidateTable, n: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform random subset of min(n, N_p) candidates per problem, as a (P, W) mask."""
    keys = rng.random(table.valid.shape)
    keys[~table.valid] = np.inf
    ranks = keys.argsort(axis=1).argsort(axis=1)
    return (ranks < n) & table.valid


def pass_at_n_curve(table: CandidateTable, ns: Sequence[int] | None = None, n_subsamples: int = 20, seed: int = 0,
                    methods: Sequence[str] | None = None, n_problems_total: int | None = None) -> dict[str, Any]:
    """pass@1 of each method when only N' candidates per problem are available, for each N' in ``ns``.

    Picking methods are averaged over ``n_subsamples`` seeded subsets (the same subsets for every method, so the
    curves are paired); ``random`` and ``oracle`` use exact formulas. ``n_problems_total`` > P divides by the larger
    count (problems without candidates count 0). Returns {"n": [...], "methods": {m: {"pass_at_1", "std"}}}.
    """
    W = table.valid.shape[1]
    if ns is None:
        ns = sorted({2 ** i for i in range(int(math.log2(W)) + 1)} | {W})
    ns = [int(n) for n in ns]
    if any(n < 1 for n in ns):
        raise ValueError(f"curve sizes must be >= 1, got {ns}")
    methods = list(methods or table.methods)
    total = n_problems_total or len(table.problem_ids)
    counts = table.n_candidates
    passes = (table.passed & table.valid).sum(axis=1)
    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, list[float]]] = {m: {"pass_at_1": [], "std": []} for m in methods}
    for n in ns:
        masks = [_subsample_mask(table, n, rng) for _ in range(n_subsamples)]
        for m in methods:
            if m == "random":
                vals = np.array([np.sum(passes / counts) / total])
            elif m == "oracle":
                k = np.minimum(n, counts)
                vals = np.array([sum(pass_at_k(int(a), int(c), int(kk)) for a, c, kk in zip(counts, passes, k))
                                 / total])
            else:
                vals = np.array([table.pass_values(m, mask).sum() / total for mask in masks])
            out[m]["pass_at_1"].append(float(vals.mean()))
            out[m]["std"].append(float(vals.std()))
    return {"n": ns, "n_subsamples": n_subsamples, "methods": out}


def calibration(table: CandidateTable, method: str, n_bins: int = 10) -> dict[str, Any]:
    """Reliability data for a score method over ALL scored candidates (not just picks).

    The aggregated score is mapped to [0, 1] (``as_probability``), binned in ``n_bins`` equal-width bins; per bin:
    count, mean predicted score, empirical pass rate (None for an empty bin). Brier score and expected calibration
    error (ECE, count-weighted |mean predicted - pass rate|) summarise it.
    """
    _, agg = table.score_sources[method]
    s = table.scores[method]
    ok = table.valid & ~np.isnan(s)
    p = as_probability(agg, s[ok])
    y = table.passed[ok].astype(float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1], right=False), 0, n_bins - 1)
    bins = []
    ece = 0.0
    for b in range(n_bins):
        sel = idx == b
        k = int(sel.sum())
        mean_p = float(p[sel].mean()) if k else None
        rate = float(y[sel].mean()) if k else None
        if k:
            ece += k / len(p) * abs(mean_p - rate)
        bins.append({"low": float(edges[b]), "high": float(edges[b + 1]), "count": k,
                     "mean_predicted": mean_p, "pass_rate": rate})
    return {"n_scored": int(ok.sum()), "n_unscored": int((table.valid & np.isnan(s)).sum()),
            "brier": float(np.mean((p - y) ** 2)) if len(p) else None,
            "ece": float(ece) if len(p) else None, "bins": bins}


def _resolve_problems(candidates: pd.DataFrame, problems: Sequence[str] | pd.DataFrame | None,
                      group_cols: Sequence[str]) -> pd.DataFrame | None:
    """The explicit evaluation set (problem_id + group columns), or None when it is just the candidates' problems."""
    if problems is None:
        return None
    pf = problems.copy() if isinstance(problems, pd.DataFrame) else pd.DataFrame({"problem_id": list(problems)})
    if "problem_id" not in pf.columns:
        raise InputDataError("problem list lacks a column", field="problem_id")
    if pf["problem_id"].duplicated().any():
        raise InputDataError("problem list repeats a problem id", field="problem_id", expected="unique ids")
    extra = set(candidates["problem_id"]) - set(pf["problem_id"])
    if extra:
        raise InputDataError(f"{len(extra)} candidate problem(s) are not in the evaluation set, e.g. "
                             f"{min(map(str, extra))!r}", field="problem_id")
    for g in group_cols:
        if g not in pf.columns:
            pf[g] = "unknown"
        pf[g] = pf[g].fillna("unknown").astype(str)
    return pf.set_index("problem_id")


def _group_order(values: Sequence[str]) -> list[str]:
    known = [d for d in DIFFICULTIES if d in values]
    return known + sorted(v for v in set(values) if v not in DIFFICULTIES)


# --------------------------------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------------------------------

def build_report(
    candidates: pd.DataFrame,
    *,
    score_columns: Sequence[str] | None = None,
    aggregations: Sequence[str] = DEFAULT_AGGREGATIONS,
    references: Sequence[str] = ("random",),
    problems: Sequence[str] | pd.DataFrame | None = None,
    n_resamples: int = 10_000,
    level: float = 0.95,
    seed: int = 0,
    curve_ns: Sequence[int] | None = None,
    curve_subsamples: int = 20,
    calibration_bins: int = 10,
    group_columns: Sequence[str] = ("difficulty", "platform"),
    hybrid_only: bool = False,
) -> dict[str, Any]:
    """Evaluate every baseline and every (score column x aggregation) method on the same candidates.

    ``references``: methods every other method is compared with by paired bootstrap (add e.g. ``"orm:last"``).
    ``problems``: the evaluation set (ids, or a frame with problem_id and group columns); problems in it without any
    candidate count 0 for every method instead of silently leaving the denominator. ``group_columns`` present in the
    data get a breakdown (difficulty always does). Intervals use one seed, so all methods share resamples.
    ``hybrid_only``: only the example survivors (and a few candidates per problem) were scored, so the score columns
    are evaluated only inside the ``filter:`` hybrids, never alone (:data:`RULES` ``hybrid_only``).
    """
    group_cols = [g for g in group_columns if g == "difficulty" or g in candidates.columns]
    table = CandidateTable.from_frame(candidates, score_methods_for(candidates, score_columns, aggregations),
                                      group_columns=group_cols)
    methods = _reported_methods(table, hybrid_only)
    for r in references:
        if r not in methods:
            raise InputDataError(f"reference method {r!r} is not evaluated", field="references",
                                 expected=" | ".join(methods))

    per_problem = table.per_problem(methods)
    groups = pd.DataFrame(table.groups, index=per_problem.index)
    pf = _resolve_problems(candidates, problems, group_cols)
    n_without = 0
    if pf is not None:
        n_without = int((~pf.index.isin(per_problem.index)).sum())
        per_problem = per_problem.reindex(pf.index, fill_value=0.0)
        # group labels: the problem list wins where it knows them, candidates fill the rest
        groups = pf[group_cols].where(pf[group_cols] != "unknown", groups.reindex(pf.index)).fillna("unknown")

    boot = paired_bootstrap(per_problem, n_resamples=n_resamples, level=level, seed=seed)
    counts = table.n_candidates
    report: dict[str, Any] = {
        "schema_version": REPORT_SCHEMA_VERSION,
        "settings": {"n_resamples": n_resamples, "level": level, "seed": seed, "aggregations": list(aggregations),
                     "references": list(references), "curve_subsamples": curve_subsamples,
                     "calibration_bins": calibration_bins, "hybrid_only": hybrid_only},
        "rules": dict(RULES),
        "n_problems": len(per_problem),
        "n_problems_without_candidates": n_without,
        "n_candidates": int(counts.sum()),
        "candidates_per_problem": {"min": int(counts.min()), "max": int(counts.max()),
                                   "mean": float(counts.mean())},
        "n_missing_verdicts": int(table.n_missing_verdicts),
        "n_problems_without_survivor": (table.n_problems_without_survivor if table.examples is not None else None),
        **_execution_counts(candidates),
        "methods": {},
        "differences": {},
        "breakdowns": {},
    }
    for m in methods:
        kind = ("baseline" if m in BASELINES else "filter" if m in FILTER_BASELINES
                else "hybrid" if m.startswith(FILTER_PREFIX) else "score")
        entry: dict[str, Any] = {"kind": kind,
                                 "pass_at_1": boot.interval(m).to_dict(), "n_problems": len(per_problem),
                                 "N": int(counts.max())}
        if m in table.score_sources:
            col, agg = table.score_sources[m]
            entry.update(column=col, aggregation=agg,
                         n_unscored=int((table.valid & np.isnan(table.scores[m])).sum()),
                         auc=ranking_quality(table.scores[m], table.passed, table.valid).to_dict())
        report["methods"][m] = entry
    report["differences"] = _differences(boot, methods, references)

    for g in group_cols:
        report["breakdowns"][g] = {}
        labels = groups[g].to_numpy()
        for value in _group_order(list(labels)):
            sub = per_problem[labels == value]
            b = paired_bootstrap(sub, n_resamples=n_resamples, level=level, seed=seed)
            report["breakdowns"][g][value] = {
                "n_problems": len(sub),
                "methods": {m: b.interval(m).to_dict() for m in methods},
                "differences": _differences(b, methods, references),
            }

    # A pool-dependent score (consensus) would have to be recomputed on every subset: it has no curve.
    pool_dependent = {m for m, (col, _) in table.score_sources.items() if str(col).startswith(POOL_DEPENDENT_PREFIX)}
    report["curve"] = pass_at_n_curve(table, curve_ns, curve_subsamples, seed,
                                      [m for m in methods if m.removeprefix(FILTER_PREFIX) not in pool_dependent],
                                      n_problems_total=len(per_problem))
    report["calibration"] = {m: calibration(table, m, calibration_bins) for m in table.scores}
    report["ranking"] = {m: ranking_quality(table.scores[m], table.passed, table.valid).to_dict()
                         for m in table.scores}
    if table.examples is not None:  # how well passing the examples alone separates correct from wrong candidates
        report["ranking"]["examples_passed"] = ranking_quality(
            table.examples.astype(float), table.passed, table.valid).to_dict()
        # what the hybrids need: how well each score orders the survivors of the example filter among themselves
        survivors = table.valid & table.examples
        report["ranking_survivors"] = {m: ranking_quality(table.scores[m], table.passed, survivors).to_dict()
                                       for m in table.scores}
    return _json_safe(report)


def _reported_methods(table: CandidateTable, hybrid_only: bool) -> list[str]:
    """The methods a report lists: consensus is defined on the example survivors, so it is reported inside the
    filter only; with ``hybrid_only`` no model's score method is reported alone (the generator prior, which scores
    every candidate without a model, still is)."""
    def hidden(m: str) -> bool:
        column = str(table.score_sources[m][0])
        return column.startswith(POOL_DEPENDENT_PREFIX) or (hybrid_only and column != PRIOR_COLUMN)

    return [m for m in table.methods if not (m in table.scores and hidden(m))]


def selection_picks(
    candidates: pd.DataFrame,
    *,
    score_columns: Sequence[str] | None = None,
    aggregations: Sequence[str] = DEFAULT_AGGREGATIONS,
    hybrid_only: bool = False,
) -> pd.DataFrame:
    """What every reported method submitted, per problem: the audit trail behind the report's pass@1.

    Long format, one row per (problem, method): ``candidate_id`` the submitted candidate (None for ``random``,
    ``filter:random`` and ``oracle``, which submit no single program) and ``value`` the problem's pass value (1/0 for
    a pick; the expected pass rate for random), so a method's mean ``value`` is its pass@1 in the report built from
    the same frame. Why a selector won or lost a problem can then be read by joining on the candidates table."""
    table = CandidateTable.from_frame(candidates, score_methods_for(candidates, score_columns, aggregations))
    methods = _reported_methods(table, hybrid_only)
    values = table.per_problem(methods)
    picked = table.picked_ids(methods)
    long = values.reset_index().melt(id_vars="problem_id", var_name="method", value_name="value")
    ids = picked.reset_index().melt(id_vars="problem_id", var_name="method", value_name="candidate_id")
    out = long.merge(ids, on=["problem_id", "method"], how="left")
    out["candidate_id"] = out["candidate_id"].astype(object).where(out["candidate_id"].notna(), None)
    return out[["problem_id", "method", "candidate_id", "value"]]


def _execution_counts(candidates: pd.DataFrame) -> dict[str, int | None]:
    """The bad-input counts of the execution evidence (None without an executions table): problems with an
    executed candidate but no parsable example (``n_examples`` 0 wherever it ran) and candidates never executed."""
    if "n_examples" not in candidates.columns:
        return {"n_problems_without_examples": None, "n_candidates_not_executed": None}
    n = pd.to_numeric(candidates["n_examples"], errors="coerce")
    most = n.groupby(candidates["problem_id"]).max()  # NaN: no candidate of the problem ran
    return {"n_problems_without_examples": int((most == 0).sum()), "n_candidates_not_executed": int(n.isna().sum())}


def dvc_metrics(report: Mapping[str, Any]) -> dict[str, Any]:
    """The flat numbers of a report that ``dvc metrics show/diff`` compares between runs (reports/metrics.json):
    pass@1 of every method, the evaluation set's size, each method's difference from each reference, and with probes
    the consensus tie-break ceiling (:func:`dreamprm.evaluate.consensus.tie_break_ceiling`)."""
    metrics = {
        "pass_at_1": {m: e["pass_at_1"]["estimate"] for m, e in report["methods"].items()},
        "difference": {name: d["estimate"] for name, d in report["differences"].items()},
        "problems": report["n_problems"],
        "candidates": report["n_candidates"],
    }
    if "tie_break_ceiling" in (report.get("consensus") or {}):
        metrics["consensus_tie_break_ceiling"] = report["consensus"]["tie_break_ceiling"]
    return metrics


def _differences(boot: Any, methods: Sequence[str], references: Sequence[str]) -> dict[str, Any]:
    return {f"{m} - {r}": boot.difference(m, r).to_dict() for r in references for m in methods if m != r}


def _json_safe(obj: Any) -> Any:
    """Plain Python types; NaN/inf -> None, so strict JSON readers (DVC, browsers) accept the report."""
    if isinstance(obj, Mapping):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [_json_safe(v) for v in obj.tolist()]
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer, int)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        f = float(obj)
        return f if math.isfinite(f) else None
    return obj


# --------------------------------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------------------------------

def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}"


def _ci(d: Mapping[str, Any]) -> str:
    return f"{_pct(d['estimate'])} [{_pct(d['low'])}, {_pct(d['high'])}]"


def render_markdown(report: Mapping[str, Any], references: Sequence[str] | None = None) -> str:
    """A markdown table: one row per method, pass@1 with its interval, pass@1 per difficulty and per platform, and
    the paired difference from each reference (default: every reference in the report) with its interval; the first
    reference also gets its share of resamples <= 0. Then the AUCs of every scored method and the bad-input counts."""
    refs = list(references if references is not None else report["settings"]["references"])
    level = round(100 * report["settings"]["level"])
    columns = [(g, v, groups[v]) for g, groups in report.get("breakdowns", {}).items() for v in groups]
    head = ["method", f"pass@1 % [{level}% CI]"] + [f"{v} (n={b['n_problems']})" for _, v, b in columns]
    for i, r in enumerate(refs):
        head += [f"Δ vs {r} [{level}% CI]"] + (["P(Δ≤0)"] if i == 0 else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m, entry in report["methods"].items():
        row = [m, _ci(entry["pass_at_1"])]
        row += [_pct(b["methods"][m]["estimate"]) for _, _, b in columns]
        for i, r in enumerate(refs):
            d = report["differences"].get(f"{m} - {r}")
            row += [_ci(d) if d else "—"]
            if i == 0:
                row += [f"{d['share_le_zero']:.3f}" if d else "—"]
        lines.append("| " + " | ".join(row) + " |")
    foot = (f"\n{report['n_problems']} problems, {report['n_candidates']} candidates "
            f"(N per problem {report['candidates_per_problem']['min']}..{report['candidates_per_problem']['max']}), "
            f"{report['n_missing_verdicts']} missing verdicts counted as failures, "
            f"{report['settings']['n_resamples']} paired bootstrap resamples (seed {report['settings']['seed']}).\n")
    unattempted = report.get("n_problems_on_sides_without_candidates") or 0
    if unattempted:
        which = "problem of the evaluated sides has" if unattempted == 1 else "problems of the evaluated sides have"
        foot += f"{unattempted} {which} no candidate (not attempted): outside the evaluated set.\n"
    if report.get("n_problems_without_survivor") is not None:
        foot += (f"Execution evidence: {report.get('n_problems_without_examples')} problems without a parsable "
                 f"example, {report.get('n_candidates_not_executed')} candidates not executed, "
                 f"{report['n_problems_without_survivor']} problems without a survivor (filter methods fall back "
                 "to all their candidates there; every problem stays in the denominator).\n")
    if report["settings"].get("hybrid_only"):
        foot += ("Scored: only the candidates that pass their examples and the first few of each problem "
                 "(evaluate --hybrid-only-above), so each model appears only as filter:<model> at this size.\n")
    if report.get("fusion"):
        f = report["fusion"]
        fitted = f.get("trained_on", {})
        coefs = ", ".join(f"{k} {v:+.3f}" for k, v in f["coefficients"].items())
        foot += (f"fusion: logistic model over within-problem-centred features with {f['scorer']}:{f['aggregation']}, "
                 f"fitted on {fitted.get('candidates')} training-side candidates of {fitted.get('problems')} problems "
                 f"{'(example survivors only; it scores survivors only) ' if f.get('survivors_only') else ''}"
                 f"(L2 {f['l2']}); weight per unit: {coefs}.\n")
    if report.get("prior"):
        pr = report["prior"]
        rates = ", ".join(f"{k} {100 * v:.1f} % (n={pr['counts'][k]})" for k, v in
                          sorted(pr["rates"].items(), key=lambda kv: -kv[1]))
        foot += (f"prior: each policy's pass rate over the recorded verdicts of {pr['source']} on "
                 f"{pr['n_problems']} problems of its {pr.get('sides', 'all')} side(s) not evaluated here "
                 f"({pr.get('n_off_side_problems', 0)} problems off those sides and {pr['n_excluded_problems']} "
                 f"evaluated ones left out, {pr['n_without_verdict']} candidates without a verdict): {rates}; "
                 f"{pr['n_candidates_without_prior']} evaluated candidates of a policy without a rate "
                 f"({', '.join(pr['unknown_policies']) or 'none'}) rank below the rest.\n")
    if report.get("consensus"):
        c = report["consensus"]
        foot += (f"consensus: agreement on the probe inputs of {c['probes']} among the survivors of "
                 f"{c['n_problems_compared']} problems with two or more ({c['n_survivors_compared']} survivors, "
                 f"{c['n_survivors_not_probed']} without a probe record: ranked below the probed; "
                 f"{c.get('n_survivors_compared_by_kept_text', 0)} compared by their kept 4,096 characters, their "
                 "records carrying no whole-output digest; "
                 f"{c.get('n_problems_without_probes', 0)} problems whose examples give no probe: their survivors tie); "
                 "consensus>m breaks its ties by model m, consensus>speed by total probe "
                 f"{_CLOCK_WORDS.get(c.get('speed_clock', 'wall'), c.get('speed_clock'))} (fastest first), "
                 "consensus>speedbin>m by speed in factors of 2 of the fastest, then model m.\n")
        if "tie_break_ceiling" in c:
            foot += (f"tie-break ceiling: with a perfect tie-breaker filter:consensus would reach "
                     f"{100 * c['tie_break_ceiling']:.1f}% pass@1 ({c['n_problems_top_reachable']} problems), with the "
                     f"worst {100 * c.get('tie_break_floor', float('nan')):.1f}%; a tie-breaker decides only "
                     f"{c['n_problems_top_mixed']} problems (the top consensus group mixes correct and wrong).\n")
    for name, c in (report.get("training_labels") or {}).items():
        foot += (f"{name} trained on {c['clean_labels']} clean labels (final verdicts), {c['outcome_step_labels']} "
                 f"outcome step labels and {c['montecarlo_step_labels']} Monte-Carlo step labels "
                 f"({c['montecarlo_candidates']} candidates rolled out by the local policy).\n")
    ranking = report.get("ranking") or {}
    among = report.get("ranking_survivors") or {}

    def _f(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.3f}"

    if ranking:
        foot += ("\n| score | global AUC | within-problem AUC | problems with pass and fail | scored candidates "
                 "| within-problem AUC among example survivors (problems) |\n|---|---|---|---|---|---|\n")
        for m, r in ranking.items():
            sv = among.get(m)
            surv = "" if sv is None else f"{_f(sv['within_problem_auc'])} ({sv['n_problems_within']})"
            foot += (f"| {m} | {_f(r['global_auc'])} | {_f(r['within_problem_auc'])} | {r['n_problems_within']} | "
                     f"{r['n_scored']} | {surv} |\n")
    return "\n".join(lines) + "\n" + foot


def _new_figure(width: float = 7.0, height: float = 4.5) -> Any:
    """The report's figures: :func:`dreamprm.plots.new_figure` at its size and resolution."""
    return new_figure(width, height, dpi=100)


def plot_pass_at_n(report: Mapping[str, Any], path: str | Path, methods: Sequence[str] | None = None) -> Path:
    """pass@1 against N (log2 x axis), one line per method, with ±1 std over subsamples as a band."""
    curve = report["curve"]
    ns = curve["n"]
    fig = _new_figure()
    ax = fig.add_subplot(1, 1, 1)
    for m in methods or list(curve["methods"]):
        y = np.array(curve["methods"][m]["pass_at_1"], dtype=float)
        sd = np.array(curve["methods"][m]["std"], dtype=float)
        style = "--" if m in BASELINES else "-"
        (line,) = ax.plot(ns, 100 * y, style, marker="o", markersize=3, label=m)
        if np.any(sd > 0):  # the band in its line's colour (else it takes the next colour of the cycle)
            ax.fill_between(ns, 100 * (y - sd), 100 * (y + sd), alpha=0.15, color=line.get_color())
    if len(ns) > 1:
        ax.set_xscale("log", base=2)
    ax.set_xlabel("N candidates per problem")
    ax.set_ylabel("pass@1 (%)")
    ax.set_title(f"pass@1 vs N ({report['n_problems']} problems)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return save_png(fig, path)


def plot_calibration(report: Mapping[str, Any], path: str | Path, methods: Sequence[str] | None = None) -> Path:
    """Reliability diagram: mean predicted score against empirical pass rate per bin; the diagonal is perfect."""
    fig = _new_figure(6.0, 6.0)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([0, 1], [0, 1], ":", color="gray", label="perfect")
    for m in methods or list(report["calibration"]):
        cal = report["calibration"][m]
        pts = [(b["mean_predicted"], b["pass_rate"]) for b in cal["bins"] if b["count"]]
        if pts:
            x, y = zip(*pts)
            brier = "n/a" if cal["brier"] is None else f"{cal['brier']:.3f}"
            ax.plot(x, y, marker="o", markersize=3, label=f"{m} (Brier {brier})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean predicted score")
    ax.set_ylabel("empirical pass rate")
    ax.set_title("calibration of candidate scores")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return save_png(fig, path)


def plot_by_difficulty(report: Mapping[str, Any], path: str | Path, methods: Sequence[str] | None = None) -> Path:
    """Grouped bars: pass@1 per difficulty and method, error bars = the bootstrap interval."""
    groups = report["breakdowns"]["difficulty"]
    names = list(groups)
    methods = list(methods or report["methods"])
    fig = _new_figure(min(14.0, max(7.0, 0.25 * len(names) * max(1, len(methods)))), 4.5)
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / max(1, len(methods))
    x = np.arange(len(names))
    for i, m in enumerate(methods):
        est = np.array([groups[g]["methods"][m]["estimate"] for g in names], dtype=float)
        lo = np.array([groups[g]["methods"][m]["low"] for g in names], dtype=float)
        hi = np.array([groups[g]["methods"][m]["high"] for g in names], dtype=float)
        yerr = 100 * np.vstack([np.clip(est - lo, 0, None), np.clip(hi - est, 0, None)])
        ax.bar(x + (i - (len(methods) - 1) / 2) * width, 100 * est, width, yerr=yerr, capsize=2, label=m)
    ax.set_xticks(x, [f"{g}\n(n={groups[g]['n_problems']})" for g in names])
    ax.set_ylabel("pass@1 (%)")
    ax.set_ylim(0, 105)
    ax.set_title(f"pass@1 by difficulty, {round(100 * report['settings']['level'])}% bootstrap intervals")
    ax.legend(fontsize=7, ncol=2)
    return save_png(fig, path)


def write_plots(report: Mapping[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Write the three PNGs into ``out_dir``; returns {name: path}. Calibration only when a score method exists."""
    out = Path(out_dir)
    paths = {"pass_at_n": plot_pass_at_n(report, out / "pass_at_n.png"),
             "by_difficulty": plot_by_difficulty(report, out / "by_difficulty.png")}
    if report.get("calibration"):
        paths["calibration"] = plot_calibration(report, out / "calibration.png")
    return paths
