"""The learned fusion: features centred within each problem, a penalised logistic fit that is at its optimum, a
weight that finds a within-problem signal the model score lacks, save/load, the report's `fusion` method, and the
fuse and evaluate stages with a saved fusion (tiny frozen-trunk PRMs)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dreamprm.errors import InputDataError, ValidationFailed
from dreamprm.evaluate.fusion import (FEATURES, FusionModel, _fit_logistic, add_fusion_scores, centred_features,
                                      count_code_lines, fit_fusion)
from dreamprm.evaluate.report import build_report, score_methods_for
from dreamprm.evaluate.scoring import evaluation_frame, example_time
from dreamprm.evaluate.select import CandidateTable
from dreamprm.evaluate.stats import ranking_quality


def _frame(n_problems: int = 40, per_problem: int = 6, seed: int = 0) -> pd.DataFrame:
    """Synthetic candidates: a problem's difficulty shifts every model score (a pointwise score mostly learns it),
    while within a problem, correctness follows the program's length and not the model score."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_problems):
        easy = rng.random() < 0.5
        for i in range(per_problem):
            lines = int(rng.integers(3, 40))
            good = rng.random() < (0.15 + 0.7 * (lines > 20))
            model = (0.8 if easy else 0.2) + rng.normal(0, 0.05)
            rows.append({"problem_id": f"p{p}", "candidate_id": f"p{p}-{i}", "sample_index": i,
                         "difficulty": "easy", "passed": bool(good), "signature": None,
                         "code": "\n".join(f"x{j} = {j}" for j in range(lines)),
                         "examples_passed": True, "example_time_s": float(rng.uniform(0.01, 0.2)),
                         "scores:prm": [float(np.clip(model, 0.01, 0.99))]})
    return pd.DataFrame(rows)


def test_count_code_lines_skips_blank_lines() -> None:
    assert count_code_lines("a = 1\n\n  \nb = 2\n") == 2 and count_code_lines(None) == 0


def test_features_are_centred_per_problem_and_unscored_rows_stay_empty() -> None:
    f = _frame(3, 4)
    f.loc[0, "scores:prm"] = None  # too long for the PRM: no model score, no fusion score
    f.loc[1, "example_time_s"] = np.nan  # not run: the problem's mean, 0 after centring
    x = centred_features(f, "scores:prm", "min")
    assert list(x.columns) == list(FEATURES)
    assert x.loc[0].isna().all() and x.loc[1, "log_example_time"] == 0.0
    sums = x.dropna().groupby(f["problem_id"]).sum()
    assert np.allclose(sums.to_numpy(), 0.0, atol=1e-9)


def test_logistic_fit_is_at_the_penalised_optimum() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 3))
    y = (x @ np.array([1.5, -1.0, 0.0]) + rng.normal(size=200) > 0).astype(float)
    w, b = _fit_logistic(x, y, l2=2.0)
    p = 1 / (1 + np.exp(-(x @ w + b)))
    grad_w = x.T @ (p - y) + 2.0 * w
    grad_b = (p - y).sum()
    assert np.abs(grad_w).max() < 1e-6 and abs(grad_b) < 1e-6
    assert w[0] > 0.5 and w[1] < -0.3


def test_fit_finds_the_within_problem_signal_the_score_lacks() -> None:
    train, held_out = _frame(seed=0), _frame(seed=1)
    fusion = fit_fusion(train, "prm", "min", l2=1.0)
    coef = fusion.coefficients()
    assert coef["log_lines"] > 0.5  # longer programs are the right ones here
    assert fusion.trained_on["candidates"] == len(train) and fusion.trained_on["problems"] == 40
    scored = add_fusion_scores(held_out, fusion)
    table = CandidateTable.from_frame(scored, {"fusion": ("scores:fusion", "last"), "prm": ("scores:prm", "min")})
    fused = ranking_quality(table.scores["fusion"], table.passed, table.valid).within_problem_auc
    alone = ranking_quality(table.scores["prm"], table.passed, table.valid).within_problem_auc
    assert fused > 0.75 and fused > alone + 0.15


def test_save_load_round_trip_and_a_damaged_file(tmp_path: Path) -> None:
    f = _frame()
    fusion = fit_fusion(f, "prm", "mean")
    fusion.save(tmp_path / "fusion")
    back = FusionModel.load(tmp_path / "fusion")
    assert back == fusion
    assert np.allclose(back.logits(f), fusion.logits(f))
    from dreamprm.evaluate.fusion import saved_settings

    assert saved_settings(tmp_path / "fusion") == {"scorer": "prm", "aggregation": "mean", "l2": 1.0,
                                                   "survivors_only": False}
    (tmp_path / "fusion" / "fusion.json").write_text("{not json")
    assert saved_settings(tmp_path / "fusion") is None
    with pytest.raises(InputDataError, match="fusion.json"):
        FusionModel.load(tmp_path / "fusion")


def test_survivors_only_fusion_scores_survivors_only() -> None:
    f = _frame(seed=3)
    f["examples_passed"] = [i % 3 != 0 for i in range(len(f))]
    fusion = fit_fusion(f, "prm", "mean", survivors_only=True)
    assert fusion.survivors_only and fusion.trained_on["candidates"] == int(f["examples_passed"].sum())
    scores = fusion.score_lists(f)
    assert all((s is None) == (not ok) for s, ok in zip(scores, f["examples_passed"]))
    assert fusion.coefficients()["examples_passed"] == 0.0  # constant on the fit set


def test_no_scored_candidate_is_an_error() -> None:
    f = _frame(2, 2)
    f["scores:prm"] = None
    with pytest.raises(InputDataError, match="no candidate with both"):
        fit_fusion(f, "prm", "min")


def test_report_names_the_fusion_once_and_only_as_hybrid_when_partly_scored() -> None:
    f = add_fusion_scores(_frame(), fit_fusion(_frame(seed=2), "prm", "min"))
    spec = score_methods_for(f)
    assert spec["fusion"] == ("scores:fusion", "last")
    assert not any(m.startswith("fusion:") for m in spec)
    full = build_report(f, n_resamples=50)
    assert "fusion" in full["methods"] and "filter:fusion" in full["methods"]
    assert "fusion" in full["rules"]
    partial = build_report(f, n_resamples=50, hybrid_only=True)
    assert "fusion" not in partial["methods"] and "filter:fusion" in partial["methods"]


def test_example_time_sums_the_public_records_only() -> None:
    per_test = json.dumps([{"time_s": 0.5}, {"time_s": 0.25}, {"time_s": 9.0}])
    assert example_time(per_test, 2) == pytest.approx(0.75)
    assert np.isnan(example_time(None, 2)) and np.isnan(example_time("[]", 2))
    problems = pd.DataFrame({"problem_id": ["p"], "difficulty": ["easy"], "platform": ["atcoder"],
                             "statement": ["s"], "starter_code": [""]})
    cands = pd.DataFrame({"candidate_id": ["a", "b"], "problem_id": "p", "sample_index": [0, 1], "code": "x",
                          "official_passed": [True, False]})
    ex = pd.DataFrame({"candidate_id": ["a"], "per_test": [per_test], "public_tests": [2], "num_tests": [3],
                       "num_passed": [3], "passed": [True], "verdict": ["passed"]})
    frame = evaluation_frame(problems, cands, ex)
    assert frame["example_time_s"].iloc[0] == pytest.approx(0.75) and np.isnan(frame["example_time_s"].iloc[1])


def _train_side(root: Path) -> dict[str, str]:
    """Training-side tables for the fuse stage: 2 problems x 6 candidates, labels on the meta side for t1 and t2,
    executions on the examples (odd samples pass them), official verdicts (sample 5 passes)."""
    from dreamprm.execution import execution_row

    data = root / "data-train"
    data.mkdir(parents=True)
    problems = pd.DataFrame({"problem_id": ["t1", "t2"], "difficulty": "easy", "platform": "atcoder",
                             "statement": "s", "starter_code": ""})
    cands = pd.DataFrame([{"candidate_id": f"{p}-{i}", "problem_id": p, "policy": "m", "sample_index": i,
                           "code": "\n".join(f"v{j} = {j}" for j in range(i + 1)), "official_passed": i == 5}
                          for p in ("t1", "t2") for i in range(6)])
    labels = pd.DataFrame([{"candidate_id": c["candidate_id"], "problem_id": c["problem_id"], "prompt": "s",
                            "statement": "s", "starter_code": "", "completions": [c["code"]],
                            "labels": [c["official_passed"]], "soft_labels": [float(c["official_passed"])],
                            "clean": [True], "rollout_counts": [0], "rollout_passes": [int(c["official_passed"])],
                            "split": "meta"} for c in cands.to_dict("records")])  # one outcome-labelled step each
    ex = pd.DataFrame([execution_row(c, {"verdict": "passed" if c["sample_index"] % 2 else "wrong_answer",
                                         "num_tests": 1, "num_passed": c["sample_index"] % 2,
                                         "per_test": [{"stdout": "x", "time_s": 0.01 * (1 + c["sample_index"])}]},
                                     "docker", public_tests=1) for c in cands.to_dict("records")])
    for name, table in (("problems", problems), ("candidates", cands), ("labels", labels), ("executions", ex)):
        table.to_parquet(data / f"{name}.parquet", index=False)
    return {f"{n}_path": str(data / f"{n}.parquet") for n in ("labels", "problems", "candidates", "executions")}


def test_fuse_then_evaluate_with_the_fusion(project_root: Path) -> None:
    from dreamprm.stages.evaluate import discover_fusion, run_evaluate
    from dreamprm.stages.fuse import run_fuse
    from tests.evaluate.helpers import saved_head_prm
    from tests.evaluate.test_eval_stage import _project

    cache = project_root / "model-cache"
    scorer_dir = saved_head_prm(project_root / "models/prm-warmup/final", cache, 2, trained_on=["x1"])
    train = _train_side(project_root)
    out = run_fuse(**train, scorer_dir=scorer_dir, scorer="prm-warmup", aggregation="mean", l2=1.0, sides="meta",
                   out_dir=str(project_root / "models/fusion"))
    assert out["candidates"] == 12 and out["problems"] == 2 and set(out["coefficients"]) == set(FEATURES)
    assert out["coefficients"]["log_lines"] > 0  # the passing candidate is the longest of each problem
    assert discover_fusion(project_root / "models") == str(project_root / "models/fusion")
    import mlflow

    def tag(**changed: float) -> str:  # the stage identity a fuse run tags its MLflow run with
        again = run_fuse(**train, scorer_dir=scorer_dir, scorer="prm-warmup", aggregation="mean", sides="meta",
                         out_dir=str(project_root / "fusion-again"), **{"l2": 1.0, **changed})
        return mlflow.get_run(again["mlflow_run_id"]).data.tags["dreamprm.identity"]

    first = mlflow.get_run(out["mlflow_run_id"]).data.tags["dreamprm.identity"]
    assert tag() == first and tag(l2=2.0) != first  # the output folder is not part of what is computed
    from dreamprm.stages.fuse import FUSE_PARAMETERS

    # The identity the fuse flow's Prefect cache key is built from, for the same task parameters.
    assert FUSE_PARAMETERS.identity({**train, "scorer_dir": scorer_dir, "scorer": "prm-warmup", "aggregation": "mean",
                                     "l2": 1.0, "sides": "meta", "out_dir": "anywhere",
                                     "survivors_only": False}) == first

    paths = _project(project_root)
    res = run_evaluate(**paths, scorers={"prm-warmup": scorer_dir}, out_dir=str(project_root / "reports"),
                       split="eval", challenger=None, aggregation="min", n_resamples=50,
                       fusion_dir=str(project_root / "models/fusion"))
    assert "fusion" in res["methods"] and "filter:fusion" in res["methods"]
    report = json.loads((project_root / "reports/report.json").read_text())
    assert report["fusion"]["scorer"] == "prm-warmup" and report["fusion"]["trained_on"]["candidates"] == 12
    assert "problem_ids" not in report["fusion"]["trained_on"]
    assert "fusion: logistic model" in (project_root / "reports/report.md").read_text()

    with pytest.raises(InputDataError, match="not evaluated"):  # its scorer must be evaluated beside it
        run_evaluate(**paths, scorers={"orm": scorer_dir}, out_dir=str(project_root / "r2"), split="eval",
                     challenger=None, aggregation="min", n_resamples=50,
                     fusion_dir=str(project_root / "models/fusion"))


def test_fuse_refuses_unexecuted_candidates_and_seen_problems(project_root: Path) -> None:
    from dreamprm.stages.fuse import run_fuse
    from tests.evaluate.helpers import saved_head_prm

    cache = project_root / "model-cache"
    train = _train_side(project_root)
    fresh = saved_head_prm(project_root / "models/a/final", cache, 2, trained_on=[])
    seen = saved_head_prm(project_root / "models/b/final", cache, 2, trained_on=["t2"])
    common = {"aggregation": "mean", "l2": 1.0, "sides": "meta", "out_dir": str(project_root / "models/fusion")}
    with pytest.raises(InputDataError, match="refusing to evaluate on problems"):
        run_fuse(**train, scorer_dir=seen, scorer="prm-warmup", **common)
    ex = pd.read_parquet(train["executions_path"])
    ex.assign(verdict="no_such_verdict").to_parquet(train["executions_path"], index=False)
    with pytest.raises(ValidationFailed, match=re.escape(f"'executions' failed for {train['executions_path']}")):
        run_fuse(**train, scorer_dir=fresh, scorer="prm-warmup", **common)  # GX checks what it reads
    ex.iloc[1:].to_parquet(train["executions_path"], index=False)
    with pytest.raises(InputDataError, match="1 of the 12 labelled candidates were not executed"):
        run_fuse(**train, scorer_dir=fresh, scorer="prm-warmup", **common)
    with pytest.raises(InputDataError, match="no labelled candidate on side"):
        run_fuse(**{**train}, scorer_dir=fresh, scorer="prm-warmup", **{**common, "sides": "train"})
    assert not (project_root / "models/fusion/fusion.json").exists()  # nothing half-written


def test_execute_only_restricts_to_listed_candidates(tmp_path: Path) -> None:
    from dreamprm.execution import restrict_candidates

    cands = pd.DataFrame({"candidate_id": ["a", "b", "c"], "problem_id": "p"})
    pd.DataFrame({"candidate_id": ["c", "a"]}).to_parquet(tmp_path / "only.parquet")
    assert restrict_candidates(cands, tmp_path / "only.parquet")["candidate_id"].tolist() == ["a", "c"]
    pd.DataFrame({"candidate_id": ["a", "zz"]}).to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(InputDataError, match="1 listed candidates are not in the candidates table"):
        restrict_candidates(cands, tmp_path / "bad.parquet")
    pd.DataFrame({"id": ["a"]}).to_parquet(tmp_path / "nocol.parquet")
    with pytest.raises(InputDataError, match="no candidate_id column"):
        restrict_candidates(cands, tmp_path / "nocol.parquet")


def test_log_odds_sum_scores_keep_their_order_in_the_model_feature() -> None:
    from dreamprm.evaluate.fusion import raw_features

    f = _frame(1, 3)
    f["scores:prm"] = [[0.001, 0.002], [0.3, 0.4], [0.9, 0.99]]  # log-odds sums far below 0 and above 1
    model = raw_features(f, "scores:prm", "log_odds_sum")["model"].to_numpy()
    assert model[0] < model[1] < model[2] and np.unique(model).size == 3
