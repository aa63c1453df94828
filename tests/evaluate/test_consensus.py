"""Consensus among the example survivors on probe inputs: the score, its pool (survivors of the evaluated set only),
the lexicographic tie-break by a model, the probe table's errors, and evaluate's `consensus` methods."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from dreamprm.errors import InputDataError
from dreamprm.evaluate.consensus import (
    CONSENSUS_COLUMN,
    SPEED_CLOCK,
    add_consensus_scores,
    consensus_coverage,
    consensus_scores,
    normalize_output,
    probe_outputs,
    probe_seconds,
    speed_bins,
    tie_break_ceiling,
)
from dreamprm.evaluate.report import build_report


def _probes(outputs: dict[str, list[str | None]]) -> pd.DataFrame:
    rows = []
    for cid, outs in outputs.items():
        per_test = [{"verdict": "passed", "stdout": o} if o is not None else {"verdict": "runtime_error", "stdout": ""}
                    for o in outs]
        rows.append({"candidate_id": cid, "per_test": json.dumps(per_test), "num_tests": len(outs)})
    return pd.DataFrame(rows)


def _frame() -> pd.DataFrame:
    """One problem: a, b, c survive (a and b agree on every probe, c is the odd one out), d does not survive."""
    rows = [("a", True, True), ("b", True, True), ("c", True, False), ("d", False, False)]
    return pd.DataFrame([{"problem_id": "p", "candidate_id": cid, "sample_index": i, "difficulty": "easy",
                          "passed": ok, "signature": None, "examples_passed": surv,
                          "scores:m": [0.1 if cid == "a" else 0.9]}
                         for i, (cid, surv, ok) in enumerate(rows)])


OUTPUTS = {"a": ["1", "2", None], "b": ["1 ", "2\n", None], "c": ["1", "5", "3"], "d": ["7", "7", "7"]}


def test_normalize_output_as_livecodebench_compares():
    assert normalize_output(" 1 2 \n3\n\n") == normalize_output("1 2\n3")
    assert normalize_output("0.5") == normalize_output("0.500000")
    assert normalize_output(None) is None


def test_consensus_is_the_mean_share_of_survivors_agreeing():
    outputs = probe_outputs(_probes(OUTPUTS))
    s = consensus_scores(_frame(), outputs)
    # a: 3/3, 2/3, and failing the third probe like b: 2/3 -> 7/9; c: 3/3, 1/3, 1/3 -> 5/9; d is no survivor
    assert s.iloc[0] == pytest.approx(7 / 9) and s.iloc[1] == pytest.approx(7 / 9)
    assert s.iloc[2] == pytest.approx(5 / 9) and np.isnan(s.iloc[3])


def test_consensus_pool_is_the_evaluated_set():
    outputs = probe_outputs(_probes(OUTPUTS))
    s = consensus_scores(_frame().iloc[[0, 2]], outputs)  # b is not in this set: a and c only
    assert s.iloc[0] == pytest.approx((2 / 2 + 1 / 2 + 1 / 2) / 3)


def test_failed_probes_agree_by_verdict_and_a_stopped_run_pads_not_run():
    probes = pd.DataFrame([{"candidate_id": "a", "num_tests": 3, "per_test": json.dumps(
        [{"verdict": "passed", "stdout": "1"}, {"verdict": "time_limit", "stdout": ""}])}])
    assert probe_outputs(probes)["a"] == ["1", "\x00time_limit", "\x00not_run"]


def test_outputs_compare_by_whole_output_digest_where_recorded():
    """Two survivors whose kept 4,096 characters are alike but whose whole outputs differ disagree; records without a
    digest (harness 5 and older) fall back to the kept text and are counted in the coverage."""
    kept = "1 " * 2048 + "...(truncated, 6001 chars)"
    per_test = {"a": [{"verdict": "passed", "stdout": kept, "stdout_sha256": "x"}],
                "b": [{"verdict": "passed", "stdout": kept, "stdout_sha256": "y"}],
                "c": [{"verdict": "passed", "stdout": kept, "stdout_sha256": "x"}]}
    probes = pd.DataFrame([{"candidate_id": c, "per_test": json.dumps(r), "num_tests": 1} for c, r in per_test.items()])
    frame = _frame().iloc[:3]
    s = consensus_scores(frame, probe_outputs(probes))
    assert list(s) == pytest.approx([2 / 3, 1 / 3, 2 / 3])
    old = probe_outputs(_probes({"a": [kept], "b": [kept], "c": [kept]}))
    assert list(consensus_scores(frame, old)) == pytest.approx([1.0, 1.0, 1.0])
    assert consensus_coverage(frame, old)["n_survivors_compared_by_kept_text"] == 3
    assert consensus_coverage(frame, probe_outputs(probes))["n_survivors_compared_by_kept_text"] == 0
    lone = consensus_coverage(frame.iloc[:1], old)  # no problem with two survivors: nothing compared, all counts 0
    assert lone["n_survivors_compared"] == 0 and lone["n_survivors_compared_by_kept_text"] == 0


def test_tie_break_orders_by_consensus_then_model_rank():
    out = add_consensus_scores(_frame(), probe_outputs(_probes(OUTPUTS)), {"m": "scores:m"}, "mean")
    combined = [v[0] if v else None for v in out[f"{CONSENSUS_COLUMN}>m"]]
    assert combined[1] > combined[0] > combined[2]  # a and b tie on consensus; the model prefers b
    assert all(0.0 <= v <= 1.0 for v in combined if v is not None) and combined[3] is None


def test_report_names_consensus_methods_once_and_gives_them_no_curve():
    frame = add_consensus_scores(_frame(), probe_outputs(_probes(OUTPUTS)), {"m": "scores:m"}, "mean")
    report = build_report(frame, n_resamples=200, hybrid_only=True)
    assert report["methods"]["filter:consensus"]["pass_at_1"]["estimate"] == pytest.approx(1.0)
    assert "filter:consensus>m" in report["methods"] and "filter:consensus:mean" not in report["methods"]
    assert not any(m.startswith("filter:consensus") for m in report["curve"]["methods"])
    # defined on survivors: never reported bare, even when every candidate is scored
    full = build_report(frame, n_resamples=200)
    assert "consensus" not in full["methods"] and "filter:consensus" in full["methods"]
    assert "consensus" in report["rules"]


def test_probe_table_errors_name_the_row_and_field():
    bad = pd.DataFrame([{"candidate_id": "a", "per_test": "{oops", "num_tests": 1}])
    with pytest.raises(InputDataError) as err:
        probe_outputs(bad, "data/probes.parquet")
    assert "row 0" in str(err.value) and "per_test" in str(err.value) and "data/probes.parquet" in str(err.value)
    with pytest.raises(InputDataError, match="candidate_id"):
        probe_outputs(pd.DataFrame([{"per_test": "[]"}]))
    with pytest.raises(InputDataError, match="examples"):
        consensus_scores(_frame().drop(columns="examples_passed"), {})


def test_problem_without_probes_ties_its_survivors_so_the_model_decides():
    frame = _frame()
    out = add_consensus_scores(frame, {"a": [], "b": [], "c": []}, {"m": "scores:m"}, "mean")
    assert [v[0] for v in out[CONSENSUS_COLUMN][:3]] == [1.0, 1.0, 1.0]
    combined = [v[0] for v in out[f"{CONSENSUS_COLUMN}>m"][:3]]
    assert combined[1] == combined[2] > combined[0]  # the model prefers b and c (0.9) to a (0.1)


def test_smallest_consensus_step_still_outranks_the_model_and_unscored_ranks_last():
    # three survivors, one probe: a and b agree (2/3 each), c alone (1/3); the smallest step is 1/3 here
    frame = _frame().iloc[:3].copy()
    frame["scores:m"] = [[0.1], None, [0.9]]
    outs = {"a": ["1"], "b": ["1"], "c": ["2"]}
    out = add_consensus_scores(frame, outs, {"m": "scores:m"}, "mean")
    combined = [v[0] for v in out[f"{CONSENSUS_COLUMN}>m"]]
    assert combined[0] > combined[1] > combined[2]  # a (scored) over b (unscored), both over c whatever m says


def _timed(times: dict[str, list[float]], stopped: set[str] = frozenset()) -> pd.DataFrame:
    """A probe table where every survivor prints "1" on each probe, taking the given seconds (on both clocks); a
    stopped run keeps one record fewer than it has probes."""
    rows = []
    for cid, ts in times.items():
        per_test = [{"verdict": "passed", "stdout": "1", "time_s": t, "cpu_s": t} for t in ts]
        rows.append({"candidate_id": cid, "per_test": json.dumps(per_test), "num_tests": len(ts) + (cid in stopped)})
    return pd.DataFrame(rows)


def test_speed_breaks_consensus_ties_fastest_first_and_a_stopped_run_ranks_last():
    frame = _frame()
    table = _timed({"a": [0.5, 2.0], "b": [0.1, 0.2], "c": [0.1, 0.1]}, stopped={"c"})
    seconds = probe_seconds(table)
    assert seconds["a"] == pytest.approx(2.5) and seconds["b"] == pytest.approx(0.3) and seconds["c"] == np.inf
    out = add_consensus_scores(frame, probe_outputs(table), {"m": "scores:m"}, "mean", seconds)
    speed = [v[0] if v else None for v in out[f"{CONSENSUS_COLUMN}>speed"]]
    assert speed[1] > speed[0] > speed[2] and speed[3] is None  # b faster than a; c stopped (its last probe not_run)
    # the speed only breaks ties: a slower survivor that agrees more still wins
    outs = {"a": ["1", "1"], "b": ["2", "2"], "c": ["1", "1"]}
    out = add_consensus_scores(frame, outs, None, "mean", {"a": 9.0, "b": 0.1, "c": 5.0})
    speed = [v[0] if v else None for v in out[f"{CONSENSUS_COLUMN}>speed"]]
    assert speed[2] > speed[0] > speed[1]
    with pytest.raises(ValueError, match="speed"):
        add_consensus_scores(frame, outs, {"speed": "scores:m"}, "mean", {})


def test_speed_bin_lets_the_model_order_survivors_within_a_factor_of_two_of_the_fastest():
    frame = _frame()  # the model scores a 0.1, every other candidate 0.9
    outs = {"a": ["1"], "b": ["1"], "c": ["1"]}
    key = f"{CONSENSUS_COLUMN}>speedbin>m"

    def picks(seconds):
        out = add_consensus_scores(frame, outs, {"m": "scores:m"}, "mean", seconds)
        return [v[0] if v else None for v in out[key]], [v[0] for v in out[f"{CONSENSUS_COLUMN}>speed"][:3]]

    # a is fastest, b 1.9x slower: one bin, so the model's choice b wins; exact speed would pick a
    binned, exact = picks({"a": 1.0, "b": 1.9, "c": 10.0})
    assert binned[1] > binned[0] > binned[2] and binned[3] is None
    assert exact[0] > exact[1]
    # b 2.1x slower: a bin below a, so a wins whatever the model says; c (10x) is lowest
    binned, _ = picks({"a": 1.0, "b": 2.1, "c": 10.0})
    assert binned[0] > binned[1] > binned[2]
    # stopped runs rank below every complete one, and the model still orders them
    binned, _ = picks({"a": float("inf"), "b": float("inf"), "c": 50.0})
    assert binned[2] > binned[1] > binned[0]
    # speed bins only break consensus ties: the survivor that agrees more still wins
    out = add_consensus_scores(frame, {"a": ["1"], "b": ["2"], "c": ["1"]}, {"m": "scores:m"}, "mean",
                               {"a": 9.0, "b": 0.1, "c": 5.0})
    binned = [v[0] if v else None for v in out[key]]
    assert min(binned[0], binned[2]) > binned[1]
    with pytest.raises(ValueError, match="speedbin"):
        add_consensus_scores(frame, outs, {"speedbin": "scores:m"}, "mean", {})


def test_probe_seconds_errors_name_the_row():
    bad = pd.DataFrame([{"candidate_id": "a", "num_tests": 1,
                         "per_test": json.dumps([{"verdict": "passed", "time_s": "soon"}])}])
    with pytest.raises(InputDataError) as err:
        probe_seconds(bad, "data/probes.parquet", "wall")
    assert "row 0" in str(err.value) and "time_s" in str(err.value) and "--speed-clock wall" not in str(err.value)
    # A complete run without the clock asked for (probes from before harness 7 have no cpu_s): the default clock.
    with pytest.raises(InputDataError, match="row 0 .*cpu_s.*--speed-clock wall"):
        probe_seconds(bad, "data/probes.parquet")
    with pytest.raises(ValueError, match="speed clock"):
        probe_seconds(bad, None, "sundial")


def test_probe_seconds_sums_the_chosen_clock_and_defaults_to_cpu():
    """Each clock sums its own field; consensus ranks by SPEED_CLOCK (cpu, chosen on validation); a stopped run
    is infinite (ranks last) on either clock, whatever its records hold."""
    def table(records: dict[str, list[dict]], stopped: set[str] = frozenset()) -> pd.DataFrame:
        return pd.DataFrame([{"candidate_id": c, "per_test": json.dumps(r), "num_tests": len(r) + (c in stopped)}
                             for c, r in records.items()])

    both = {"verdict": "passed", "stdout": "1", "time_s": 3.0, "cpu_s": 0.5}
    new = table({"a": [both, both], "b": [both, {**both, "cpu_s": 2.0, "time_s": 1.0}]})
    assert SPEED_CLOCK == "cpu"
    assert probe_seconds(new, None, "cpu") == {"a": pytest.approx(1.0), "b": pytest.approx(2.5)}
    assert probe_seconds(new, None, "wall") == {"a": pytest.approx(6.0), "b": pytest.approx(4.0)}
    assert probe_seconds(new) == probe_seconds(new, None, "cpu")
    stopped = table({"a": [both], "b": [{**both, "cpu_s": None}]}, stopped={"b"})
    assert probe_seconds(stopped, None, "cpu")["b"] == np.inf and probe_seconds(stopped)["b"] == np.inf


def test_speed_bins_are_factors_of_two_of_the_problems_fastest():
    """Bin 0 holds every run within a factor of 2 of the problem's fastest, a stopped run sits above every complete
    one, an unprobed row is NaN; each problem has its own fastest."""
    frame = pd.DataFrame({"problem_id": ["p"] * 6 + ["q"], "candidate_id": list("abcdefg")})
    seconds = {"a": 1.0, "b": 1.9, "c": 2.0, "d": 4.1, "e": np.inf, "g": 8.0}
    bins = speed_bins(frame, seconds)
    assert bins.iloc[:4].tolist() == [0.0, 0.0, 1.0, 2.0]
    assert bins.iloc[4] > bins.iloc[3] and np.isnan(bins.iloc[5]) and bins.iloc[6] == 0.0


def test_tie_break_ceiling_is_the_selector_with_a_perfect_and_with_the_worst_tie_breaker():
    """p: a and b (correct) agree, c (wrong) is the odd one out: the top group is all correct. q: x (wrong) and y
    (correct) print alike, z (correct) alone: the top group mixes, so a tie-breaker decides. r: the wrong u and v
    agree against the correct w: no tie-breaker reaches w. s: nobody survives; the selector submits the earliest
    candidate (wrong t2) whatever the tie-breaker says, though t is correct. o: the earliest survivor (correct o1)
    has no probe record and ranks below the probed wrong o2. Ceiling 2 of 5, floor 1 of 5 (p only), one problem
    decided by the tie-breaker."""
    frame = _frame()
    extra = [("q", "x", True, False), ("q", "y", True, True), ("q", "z", True, True),
             ("r", "u", True, False), ("r", "v", True, False), ("r", "w", True, True),
             ("s", "t2", False, False), ("s", "t", False, True),
             ("o", "o1", True, True), ("o", "o2", True, False)]
    frame = pd.concat([frame, pd.DataFrame([{"problem_id": pid, "candidate_id": cid, "sample_index": i,
                                             "difficulty": "easy", "passed": ok, "signature": None,
                                             "examples_passed": surv, "scores:m": [0.5]}
                                            for i, (pid, cid, surv, ok) in enumerate(extra)])], ignore_index=True)
    outputs = probe_outputs(_probes(OUTPUTS | {"x": ["1", "1"], "y": ["1", "1"], "z": ["2", "2"],
                                               "u": ["4"], "v": ["4"], "w": ["5"], "o2": ["9"]}))
    ceiling = tie_break_ceiling(add_consensus_scores(frame, outputs))
    assert ceiling == {"tie_break_ceiling": 0.4, "tie_break_floor": 0.2, "n_problems_top_reachable": 2,
                       "n_problems_top_mixed": 1}
    with pytest.raises(InputDataError, match="scores:consensus"):
        tie_break_ceiling(frame)
