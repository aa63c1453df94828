"""The report on a hand-built three-problem table whose every number is worked out in the comments."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from dreamprm.errors import InputDataError
from dreamprm.evaluate.report import build_report, render_markdown, write_plots


def _row(pid: str, diff: str, cid: str, idx: int, passed: bool | None, sig: str | None,
         scores: list[float] | None) -> dict:
    return {"problem_id": pid, "difficulty": diff, "candidate_id": cid, "sample_index": idx, "passed": passed,
            "signature": sig, "scores:prm": scores}


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame([
        # p1 (easy): random 2/3, first c0 -> 0, majority B -> c1 -> 1, oracle 1, prm:last c1 (0.9) -> 1
        _row("p1", "easy", "c0", 0, False, "A", [0.2]),
        _row("p1", "easy", "c1", 1, True, "B", [0.9]),
        _row("p1", "easy", "c2", 2, True, "B", [0.8]),
        # p2 (hard): random 1/3, first c0 -> 1, majority A -> c0 -> 1, oracle 1, prm:last c2 (0.7) -> 0
        _row("p2", "hard", "c0", 0, True, "A", [0.3]),
        _row("p2", "hard", "c1", 1, False, "A", [0.6]),
        _row("p2", "hard", "c2", 2, False, None, [0.7]),
        # p3 (hard): nothing passes; one verdict missing, one candidate unscored
        _row("p3", "hard", "c0", 0, False, None, [0.5]),
        _row("p3", "hard", "c1", 1, None, None, None),
    ])


def _report(frame: pd.DataFrame, **kw) -> dict:
    args = {"aggregations": ("last",), "n_resamples": 400, "curve_ns": (1, 2, 3), "curve_subsamples": 30,
            "calibration_bins": 2, "seed": 0}
    return build_report(frame, **{**args, **kw})


def test_pass_at_1_per_method_by_hand(frame: pd.DataFrame) -> None:
    r = _report(frame)
    est = {m: e["pass_at_1"]["estimate"] for m, e in r["methods"].items()}
    assert est == pytest.approx({"random": 1 / 3, "first": 1 / 3, "majority": 2 / 3, "oracle": 2 / 3,
                                 "prm:last": 1 / 3})
    assert r["n_problems"] == 3 and r["n_candidates"] == 8 and r["n_missing_verdicts"] == 1
    assert r["methods"]["prm:last"]["n_unscored"] == 1
    for e in r["methods"].values():
        assert e["pass_at_1"]["low"] <= e["pass_at_1"]["estimate"] <= e["pass_at_1"]["high"]
    assert r["differences"]["majority - random"]["estimate"] == pytest.approx(1 / 3)
    assert r["differences"]["prm:last - random"]["estimate"] == pytest.approx(0.0)


def test_per_difficulty_breakdown(frame: pd.DataFrame) -> None:
    d = _report(frame)["breakdowns"]["difficulty"]
    assert list(d) == ["easy", "hard"]
    assert d["easy"]["n_problems"] == 1 and d["hard"]["n_problems"] == 2
    assert d["easy"]["methods"]["random"]["estimate"] == pytest.approx(2 / 3)
    assert d["hard"]["methods"]["majority"]["estimate"] == pytest.approx(1 / 2)
    assert d["hard"]["methods"]["prm:last"]["estimate"] == pytest.approx(0.0)


def test_problem_without_candidates_counts_zero_not_dropped(frame: pd.DataFrame) -> None:
    problems = pd.DataFrame({"problem_id": ["p1", "p2", "p3", "p4"], "difficulty": ["easy", "hard", "hard", "easy"]})
    r = _report(frame, problems=problems)
    assert r["n_problems"] == 4 and r["n_problems_without_candidates"] == 1
    assert r["methods"]["oracle"]["pass_at_1"]["estimate"] == pytest.approx(2 / 4)
    assert r["breakdowns"]["difficulty"]["easy"]["n_problems"] == 2
    assert r["curve"]["methods"]["random"]["pass_at_1"][0] == pytest.approx(1 / 4)


def test_curve_endpoints_and_exact_oracle(frame: pd.DataFrame) -> None:
    c = _report(frame)["curve"]
    assert c["n"] == [1, 2, 3]
    oracle, random = c["methods"]["oracle"]["pass_at_1"], c["methods"]["random"]["pass_at_1"]
    assert oracle[0] == pytest.approx(random[0]) == pytest.approx(1 / 3)  # one candidate: oracle = random
    # N'=2: p1 pass@2 = 1, p2 = 1 - C(2,2)/C(3,2) = 2/3, p3 = 0
    assert oracle[1] == pytest.approx((1 + 2 / 3) / 3)
    assert oracle[2] == pytest.approx(2 / 3)
    # at N' = N every subset is the full set: the full-set value and no spread
    assert c["methods"]["majority"]["pass_at_1"][2] == pytest.approx(2 / 3)
    assert c["methods"]["majority"]["std"][2] == pytest.approx(0.0, abs=1e-12)
    assert c["methods"]["prm:last"]["pass_at_1"][2] == pytest.approx(1 / 3)


def test_calibration_by_hand(frame: pd.DataFrame) -> None:
    cal = _report(frame)["calibration"]["prm:last"]
    # scored: 0.2F 0.9T 0.8T 0.3T 0.6F 0.7F 0.5F; bins [0, .5) and [.5, 1]
    assert cal["n_scored"] == 7 and cal["n_unscored"] == 1
    b0, b1 = cal["bins"]
    assert (b0["count"], b0["mean_predicted"], b0["pass_rate"]) == (2, pytest.approx(0.25), pytest.approx(0.5))
    assert (b1["count"], b1["mean_predicted"], b1["pass_rate"]) == (5, pytest.approx(0.7), pytest.approx(0.4))
    assert cal["brier"] == pytest.approx(1.68 / 7)
    assert cal["ece"] == pytest.approx(2 / 7)


def test_report_is_strict_json_and_markdown_lists_every_method(frame: pd.DataFrame) -> None:
    r = _report(frame)
    text = json.dumps(r, allow_nan=False)
    assert json.loads(text)["methods"].keys() == r["methods"].keys()
    md = render_markdown(r)
    for m in r["methods"]:
        assert f"| {m} |" in md
    assert "| majority | 66.7 [" in md
    two = _report(frame, references=("random", "majority"))
    md = render_markdown(two)
    assert "Δ vs random [95% CI] | P(Δ≤0) | Δ vs majority [95% CI] |" in md
    d = two["differences"]["prm:last - majority"]
    assert f"{100 * d['estimate']:.1f} [{100 * d['low']:.1f}, {100 * d['high']:.1f}]" in md.split("| prm:last |")[1]


def test_bad_report_arguments_raise(frame: pd.DataFrame) -> None:
    with pytest.raises(InputDataError, match="reference"):
        _report(frame, references=("orm:last",))
    with pytest.raises(InputDataError, match="not in the evaluation set"):
        _report(frame, problems=["p1", "p2"])
    with pytest.raises(InputDataError, match="aggregation"):
        _report(frame, aggregations=("median",))


def test_plots_are_written_and_non_empty(frame: pd.DataFrame, tmp_path: Path) -> None:
    paths = write_plots(_report(frame), tmp_path / "plots")
    assert set(paths) == {"pass_at_n", "by_difficulty", "calibration"}
    for p in paths.values():
        data = Path(p).read_bytes()
        assert len(data) > 1000 and data[:8] == b"\x89PNG\r\n\x1a\n"


def test_markdown_names_what_each_model_trained_on(frame: pd.DataFrame) -> None:
    r = build_report(frame, n_resamples=50)
    assert "trained on" not in render_markdown(r)  # models saved before the counts were recorded: no claim made
    r["training_labels"] = {"prm-warmup": {"clean_labels": 600, "outcome_step_labels": 70,
                                           "montecarlo_step_labels": 35, "montecarlo_candidates": 30}}
    md = render_markdown(r)
    assert ("prm-warmup trained on 600 clean labels (final verdicts), 70 outcome step labels and 35 Monte-Carlo "
            "step labels (30 candidates rolled out by the local policy)") in md
