"""The generator prior: per-policy pass rates from recorded verdicts, never from an evaluated problem."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from dreamprm.errors import InputDataError
from dreamprm.evaluate.prior import PRIOR_COLUMN, GeneratorPrior, add_prior_scores


def _source() -> pd.DataFrame:
    """Train-side t1, t2: m-c always right, m-b half the time, m-a never; the evaluated p1 says the opposite, so a
    prior that read it would rank m-a first."""
    rows = [("t1", "m-a", False), ("t1", "m-b", True), ("t1", "m-c", True),
            ("t2", "m-a", False), ("t2", "m-b", False), ("t2", "m-c", True), ("t2", "m-c", None)]
    rows += [("p1", "m-a", True)] * 10 + [("p1", "m-c", False)] * 10
    return pd.DataFrame([{"candidate_id": f"c{i}", "problem_id": p, "policy": m, "official_passed": v}
                         for i, (p, m, v) in enumerate(rows)])


def test_rates_leave_the_evaluated_problems_and_missing_verdicts_out() -> None:
    prior = GeneratorPrior.from_table(_source(), ["p1", "p2"], "train.parquet")
    assert prior.rates == {"m-a": 0.0, "m-b": 0.5, "m-c": 1.0}
    assert prior.counts == {"m-a": 2, "m-b": 2, "m-c": 2}
    assert (prior.n_problems, prior.n_excluded_problems, prior.n_without_verdict) == (2, 1, 1)
    leaky = GeneratorPrior.from_table(_source(), [], "train.parquet")  # what reading p1 would do
    assert leaky.rates["m-a"] > leaky.rates["m-c"]


def test_scores_one_rate_per_candidate_and_none_for_an_unknown_policy() -> None:
    prior = GeneratorPrior.from_table(_source(), ["p1"], "train.parquet")
    frame = pd.DataFrame({"candidate_id": ["x", "y", "z"], "policy": ["m-c", "m-new", "m-b"]})
    scored = add_prior_scores(frame, prior)
    assert scored[PRIOR_COLUMN].tolist() == [[1.0], None, [0.5]]
    assert "scores:prior" not in frame  # the input frame is left as it was
    summary = prior.summary(frame["policy"])
    assert summary["unknown_policies"] == ["m-new"] and summary["n_candidates_without_prior"] == 1
    assert add_prior_scores(frame, None) is frame
    with pytest.raises(InputDataError, match="policy"):
        add_prior_scores(frame.drop(columns="policy"), prior)


def test_a_manifest_beside_the_source_keeps_its_train_and_meta_sides_only(tmp_path: Path) -> None:
    """t1 is on the train side, t2 on the meta side; v1, on the eval side (a validation or test problem the source
    also holds), would rank m-a first if it were read."""
    from dreamprm.data.split import SplitConfig, SplitManifest

    problems = pd.DataFrame({"problem_id": ["t1", "t2", "v1"], "split": ["train", "meta", "eval"],
                             "contest_date": pd.to_datetime(["2024-01-01"] * 3, utc=True)})
    SplitManifest.from_problems(problems, SplitConfig()).write(tmp_path / "split_manifest.json")
    source = pd.concat([_source()[lambda d: d["problem_id"] != "p1"],
                        pd.DataFrame([{"candidate_id": f"v{i}", "problem_id": "v1", "policy": "m-a",
                                       "official_passed": True} for i in range(10)])])
    source.to_parquet(tmp_path / "candidates.parquet", index=False)
    prior = GeneratorPrior.load(tmp_path / "candidates.parquet", ["elsewhere"])
    assert prior.rates == {"m-a": 0.0, "m-b": 0.5, "m-c": 1.0}
    assert (prior.sides, prior.n_off_side_problems, prior.n_problems) == ("train,meta", 1, 2)
    assert prior.summary(pd.Series(["m-a"]))["sides"] == "train,meta"


def test_bad_sources_name_the_file_and_the_field(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match="official_passed") as err:
        GeneratorPrior.from_table(_source().drop(columns="official_passed"), [], "train.parquet")
    assert err.value.path == "train.parquet" and err.value.field == "official_passed"
    with pytest.raises(InputDataError, match="outside the evaluated set"):  # every verdict is on an evaluated problem
        GeneratorPrior.from_table(_source(), ["t1", "t2", "p1"], "train.parquet")
    with pytest.raises(InputDataError, match="no candidates table") as err:
        GeneratorPrior.load(tmp_path / "missing.parquet", [])
    assert err.value.field == "prior_from"


def test_hybrid_only_reports_the_prior_alone_but_no_model_alone() -> None:
    """With hybrid_only (models scored on survivors only) a model is reported only inside the filter; the prior
    scores every candidate without a model, so it is reported alone too."""
    from dreamprm.evaluate.report import build_report

    frame = pd.DataFrame([{"problem_id": "p", "candidate_id": cid, "sample_index": i, "difficulty": "easy",
                           "passed": ok, "signature": None, "examples_passed": surv,
                           "scores:m": [0.5], PRIOR_COLUMN: [rate]}
                          for i, (cid, surv, ok, rate) in enumerate([("a", True, False, 0.1), ("b", True, True, 0.9),
                                                                     ("c", False, False, 0.5)])])
    report = build_report(frame, n_resamples=50, hybrid_only=True)
    assert report["methods"]["prior"]["pass_at_1"]["estimate"] == 1.0  # b, the best-rated policy's
    assert report["methods"]["filter:prior"]["pass_at_1"]["estimate"] == 1.0
    assert "filter:m:mean" in report["methods"] and not any(m.startswith("m:") for m in report["methods"])
    assert "prior:mean" not in report["methods"]  # one score per candidate: reported once, under its own name


def test_no_evaluated_policy_with_a_rate_is_an_error() -> None:
    prior = GeneratorPrior.from_table(_source(), ["p1"], "train.parquet")
    with pytest.raises(InputDataError, match="no evaluated candidate's policy has a rate") as err:
        add_prior_scores(pd.DataFrame({"policy": ["gpt-x", "gpt-y"]}), prior, "data/candidates.parquet")
    assert err.value.path == "data/candidates.parquet" and "m-c" in err.value.expected
