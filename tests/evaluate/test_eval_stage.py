"""The evaluate stage without any model: ``execution_only`` evaluates the execution-evidence baselines at several
best-of-N sizes in one run; having no model without asking for it is an error; ``first_per_problem`` takes sample
0 of every model first."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from dreamprm.data.split import SplitConfig, SplitManifest
from dreamprm.errors import InputDataError
from dreamprm.evaluate.scoring import first_per_problem
from dreamprm.execution import execution_row
from dreamprm.stages.evaluate import parse_sizes, run_evaluate, size_label
from tests.evaluate.helpers import saved_head_prm

POLICIES = ("m-a", "m-b", "m-c")


def test_parse_sizes() -> None:
    assert parse_sizes("0,6") == [0, 6] and parse_sizes(6) == [6] and parse_sizes([6, 0, 6]) == [6, 0]
    assert size_label(0) == "all" and size_label(6) == "per-problem-6"
    for bad in ("-1", "six", ""):
        with pytest.raises(InputDataError, match="per-problem"):
            parse_sizes(bad)


def _candidates() -> pd.DataFrame:
    rows = []
    for p in ("p1", "p2"):
        for policy in POLICIES:
            for s in range(3):
                rows.append({"candidate_id": f"{p}-{policy}-{s}", "problem_id": p, "policy": policy,
                             "sample_index": s, "code": f"print({s})", "official_passed": s == 2})
    return pd.DataFrame(rows).sample(frac=1.0, random_state=3).reset_index(drop=True)  # shuffled rows


def test_first_per_problem_takes_sample_zero_of_every_model() -> None:
    got = first_per_problem(_candidates(), len(POLICIES))
    for _, g in got.groupby("problem_id"):
        assert sorted(g["policy"]) == sorted(POLICIES) and set(g["sample_index"]) == {0}
    two = first_per_problem(_candidates(), 4)  # then sample 1, model order
    assert two.groupby("problem_id").size().tolist() == [4, 4]
    assert (two["sample_index"] == 1).groupby(two["problem_id"]).sum().tolist() == [1, 1]


def _project(root: Path) -> dict[str, str]:
    data = root / "data"
    data.mkdir()
    problems = pd.DataFrame({"problem_id": ["p1", "p2"], "difficulty": ["easy", "hard"],
                             "platform": ["atcoder", "leetcode"], "statement": "s", "starter_code": "",
                             "contest_date": pd.to_datetime(["2025-01-02", "2025-01-03"], utc=True),
                             "split": "eval"})
    problems.to_parquet(data / "problems.parquet", index=False)
    SplitManifest.from_problems(problems, SplitConfig()).write(data / "split_manifest.json")
    cands = _candidates()
    cands.to_parquet(data / "candidates.parquet", index=False)
    # sample 2 passes the hidden tests and its examples; sample 1 passes only the examples; sample 0 neither
    rows = [execution_row(c, {"verdict": "passed" if c["sample_index"] > 0 else "wrong_answer",
                              "num_tests": 2, "num_passed": 2 if c["sample_index"] > 0 else 0,
                              "per_test": [{"stdout": str(c["sample_index"])}]}, "docker", public_tests=2)
            for c in cands.to_dict("records")]
    pd.DataFrame(rows).to_parquet(data / "executions.parquet", index=False)
    return {"problems_path": str(data / "problems.parquet"), "candidates_path": str(data / "candidates.parquet"),
            "executions_path": str(data / "executions.parquet")}


def test_no_model_is_an_error_unless_asked(project_root: Path) -> None:
    paths = _project(project_root)
    with pytest.raises(InputDataError, match="--execution-only"):
        run_evaluate(**paths, scorers={}, out_dir=str(project_root / "reports"), split="eval",
                     challenger="prm-weights", aggregation="min", n_resamples=50)
    with pytest.raises(InputDataError, match="execute --tests public"):
        run_evaluate(**{**paths, "executions_path": str(project_root / "none.parquet")}, scorers={},
                     out_dir=str(project_root / "reports"), split="eval", challenger=None, aggregation="min",
                     n_resamples=50, execution_only=True)


def test_execution_only_at_two_sizes_in_one_run(project_root: Path) -> None:
    paths = _project(project_root)
    out = project_root / "reports"
    # a saved model folder is ignored: execution_only loads nothing
    res = run_evaluate(**paths, scorers={"prm-weights": str(project_root / "models/prm-weights/final")},
                       out_dir=str(out), split="eval", challenger="prm-weights", aggregation="min",
                       n_resamples=50, per_problem="0,3", execution_only=True)
    full, small = res["sizes"]["all"], res["sizes"]["per-problem-3"]
    assert full["random"] == pytest.approx(1 / 3) and full["filter:random"] == pytest.approx(0.5)
    assert full["oracle"] == 1.0 and small["oracle"] == 0.0 and small["filter:random"] == 0.0  # sample 0s only
    assert not any(m.startswith(("prm", "orm")) for m in full)
    assert res["promotion"] is None
    top = json.loads((out / "report.json").read_text())
    assert top["candidates_per_problem"]["max"] == 9 and top["n_problems_without_examples"] == 0
    assert json.loads((out / "per-problem-3" / "report.json").read_text())["candidates_per_problem"]["max"] == 3
    md = (out / "report.md").read_text()
    assert "## best-of-9: every candidate" in md and "## best-of-3: the first 3" in md
    assert "atcoder (n=1)" in md and "hard (n=1)" in md  # per-platform and per-difficulty columns
    assert (out / "pass_at_n.png").is_file() and (out / "per-problem-3" / "pass_at_n.png").is_file()
    import mlflow

    run = mlflow.search_runs(experiment_names=None, search_all_experiments=True).iloc[0]
    assert run["metrics.pass_at_1.filter.random"] == pytest.approx(0.5)
    assert run["metrics.per_problem_3.pass_at_1.oracle"] == 0.0
    artifacts = {a.path for a in mlflow.tracking.MlflowClient().list_artifacts(run["run_id"])}
    assert "picks.parquet" in artifacts
    assert "per-problem-3/picks.parquet" in {a.path for a in mlflow.tracking.MlflowClient().list_artifacts(
        run["run_id"], "per-problem-3")}
    # The run's stage identity: the same again for the same evaluation, another for other settings or inputs.
    for resamples in (50, 60):
        run_evaluate(**paths, scorers={}, out_dir=str(project_root / f"again-{resamples}"), split="eval",
                     challenger=None, aggregation="min", n_resamples=resamples, per_problem="0,3",
                     execution_only=True)
    # What execution-only ignores (a model, a fusion, a challenger) and how the sizes or "no prior" are spelled
    # leave the identity as it is.
    run_evaluate(**paths, scorers={"orm": str(project_root / "models/orm/final")}, out_dir=str(project_root / "x"),
                 split="eval", challenger="orm", aggregation="min", n_resamples=50, per_problem=[0, 3],
                 execution_only=True, fusion_dir=str(project_root / "models/fusion"), prior_path="none",
                 speed_clock="wall")
    pd.read_parquet(paths["executions_path"]).iloc[::-1].to_parquet(paths["executions_path"], index=False)
    run_evaluate(**paths, scorers={}, out_dir=str(project_root / "reordered"), split="eval", challenger=None,
                 aggregation="min", n_resamples=50, per_problem="0,3", execution_only=True)
    tags = mlflow.search_runs(search_all_experiments=True, order_by=["attributes.start_time ASC"])[
        "tags.dreamprm.identity"].tolist()
    assert len(tags) == 5 and tags[0] == tags[1] == tags[3] and len({tags[0], tags[2], tags[4]}) == 3, tags


def test_hybrid_only_scores_survivors_and_first_k(project_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Above K the models appear only as example-filter hybrids and only the survivors plus the first K candidates
    of each problem are scored; at K they are fully scored and reported alone too."""
    paths = _project(project_root)
    cands = pd.read_parquet(paths["candidates_path"])
    cands["code"] = [f"print({s})  # {c}" for s, c in zip(cands["sample_index"], cands["candidate_id"])]
    cands.to_parquet(paths["candidates_path"], index=False)
    ex = pd.read_parquet(paths["executions_path"])  # only sample 2 passes its examples now
    survive = ex["candidate_id"].str.endswith("-2")
    ex.loc[~survive, "num_passed"] = 0
    ex.to_parquet(paths["executions_path"], index=False)
    cache = project_root / "model-cache"
    scorers = {"orm": saved_head_prm(project_root / "models/orm/final", cache, 1),
               "prm-warmup": saved_head_prm(project_root / "models/prm-warmup/final", cache, 2)}
    import dreamprm.evaluate.scoring as scoring

    seen: list[set[str]] = []
    real = scoring.add_prm_scores

    def spy(frame: pd.DataFrame, models: dict, **kw: object) -> pd.DataFrame:
        seen.append(set(frame["candidate_id"]))
        return real(frame, models, **kw)

    monkeypatch.setattr(scoring, "add_prm_scores", spy)
    res = run_evaluate(**paths, scorers=scorers, out_dir=str(project_root / "reports"), split="eval",
                       challenger=None, aggregation="min", n_resamples=50, per_problem="0,3", hybrid_only_above=3)
    # sample 0 of each model (the first 3) and the survivors (sample 2): 6 of 9 per problem, never sample 1
    assert seen == [{c for c in cands["candidate_id"] if not c.endswith("-1")}]
    full, small = res["sizes"]["all"], res["sizes"]["per-problem-3"]
    assert "filter:prm-warmup:min" in full and "filter:orm:min" in full
    assert not any(m.startswith(("prm-warmup", "orm")) for m in full)  # never alone on partly scored candidates
    assert "prm-warmup:min" in small and "orm:min" in small
    assert full["filter:prm-warmup:min"] == pytest.approx(1.0)  # every survivor passes
    top = json.loads((project_root / "reports" / "report.json").read_text())
    assert top["settings"]["hybrid_only"] is True and "filter:orm:min - filter:orm:min" not in top["differences"]
    assert "only as filter:<model>" in (project_root / "reports" / "report.md").read_text()
    assert "filter:prm-warmup:min - filter:orm:min" in top["differences"]
    assert json.loads((project_root / "reports/per-problem-3/report.json").read_text())["settings"][
        "hybrid_only"] is False


def test_consensus_from_probe_executions_picks_the_agreeing_survivors(project_root: Path) -> None:
    """Samples 1 and 2 pass their examples; the correct sample-2s print the same on every probe, the wrong sample-1s
    each something else: consensus picks a correct one where the example filter is a coin flip."""
    from dreamprm.execution import restrict_to_survivors

    paths = _project(project_root)
    cands = pd.read_parquet(paths["candidates_path"])
    survivors = restrict_to_survivors(cands, paths["executions_path"])
    assert sorted(set(survivors["sample_index"])) == [1, 2]
    probes = [execution_row(c, {"verdict": "passed", "num_tests": 3, "num_passed": 3,
                                "per_test": [{"verdict": "passed", "time_s": 0.1, "cpu_s": 0.05,
                                              "stdout": "A" if c["sample_index"] == 2 else c["candidate_id"]}] * 3},
                              "docker", public_tests=3)
              for c in survivors.to_dict("records")]
    probes_path = project_root / "data" / "probes.parquet"
    pd.DataFrame(probes).to_parquet(probes_path, index=False)
    out = project_root / "reports"
    res = run_evaluate(**paths, scorers={}, out_dir=str(out), split="eval", challenger=None, aggregation="min",
                       n_resamples=50, per_problem="0,6", execution_only=True, probes_path=str(probes_path))
    assert res["sizes"]["all"]["filter:random"] == pytest.approx(0.5)
    assert res["sizes"]["all"]["filter:consensus"] == 1.0
    assert res["sizes"]["per-problem-6"]["filter:consensus"] == 0.0  # its survivors are the wrong sample-1s only
    assert "0 without a probe record" in (out / "report.md").read_text()
    # the audit trail: what each method submitted per problem; its mean value is the reported pass@1
    picks = pd.read_parquet(out / "picks.parquet")
    assert picks.groupby("method")["value"].mean().to_dict() == pytest.approx(res["sizes"]["all"])
    assert len(picks) == 2 * len(res["sizes"]["all"])  # two problems, every reported method
    assert picks.loc[picks["method"] == "filter:consensus", "candidate_id"].str.endswith("-2").all()
    assert picks.loc[picks["method"].isin(["random", "filter:random", "oracle"]), "candidate_id"].isna().all()
    small = pd.read_parquet(out / "per-problem-6" / "picks.parquet")
    assert not small.loc[small["method"] == "filter:consensus", "candidate_id"].str.endswith("-2").any()
    coverage = json.loads((out / "report.json").read_text())["consensus"]
    assert coverage == {"probes": str(probes_path), "speed_clock": "cpu", "n_problems_compared": 2,
                        "n_survivors_compared": 12,
                        "n_survivors_not_probed": 0, "n_survivors_compared_by_kept_text": 12,
                        "n_problems_without_probes": 0, "tie_break_ceiling": 1.0, "tie_break_floor": 1.0,
                        "n_problems_top_reachable": 2,
                        "n_problems_top_mixed": 0}
    # among the first six only wrong sample-1s survive: no tie-breaker of consensus could pick a correct one there
    small_report = json.loads((out / "per-problem-6" / "report.json").read_text())["consensus"]
    assert small_report["tie_break_ceiling"] == 0.0 == res["sizes"]["per-problem-6"]["filter:consensus"]
    assert json.loads((out / "metrics.json").read_text())["consensus_tie_break_ceiling"] == 1.0
    assert "with a perfect tie-breaker filter:consensus would reach 100.0% pass@1 (2 problems), with the worst 100.0%" \
        in (out / "report.md").read_text()
    assert "filter:consensus>speed" in res["sizes"]["all"] and "filter:consensus>speed" in res["sizes"]["per-problem-6"]
    with pytest.raises(InputDataError, match="execute --tests probes"):
        run_evaluate(**paths, scorers={}, out_dir=str(out), split="eval", challenger=None, aggregation="min",
                     n_resamples=50, execution_only=True, probes_path=str(project_root / "missing.parquet"))
    with pytest.raises(InputDataError, match=f"{re.escape(str(paths['candidates_path']))}.*lacks columns"):
        restrict_to_survivors(cands, paths["candidates_path"])  # not an executions table


def test_speed_breaks_the_consensus_tie_when_every_survivor_prints_the_same(project_root: Path) -> None:
    """Every survivor prints the same on the probes, but the correct sample-2s run them in half the wrong
    sample-1s' CPU time: the earliest-sample tie-break picks a wrong sample-1, consensus>speed a correct sample-2.
    Their wall-clock seconds say the opposite here; the CPU clock is the one chosen on validation."""
    from dreamprm.execution import restrict_to_survivors

    paths = _project(project_root)
    survivors = restrict_to_survivors(pd.read_parquet(paths["candidates_path"]), paths["executions_path"])
    probes = [execution_row(c, {"verdict": "passed", "num_tests": 2, "num_passed": 2, "per_test": [
        {"verdict": "passed", "stdout": "A", "cpu_s": 0.5 if c["sample_index"] == 2 else 1.0,
         "time_s": 2.0 if c["sample_index"] == 2 else 0.1}] * 2},
        "docker", public_tests=2) for c in survivors.to_dict("records")]
    probes_path = project_root / "data" / "probes.parquet"
    pd.DataFrame(probes).to_parquet(probes_path, index=False)
    res = run_evaluate(**paths, scorers={}, out_dir=str(project_root / "reports"), split="eval", challenger=None,
                       aggregation="min", n_resamples=50, execution_only=True, probes_path=str(probes_path))
    assert res["sizes"]["all"]["filter:consensus"] == 0.0
    assert res["sizes"]["all"]["filter:consensus>speed"] == 1.0
    report = project_root / "reports"
    assert json.loads((report / "report.json").read_text())["consensus"]["speed_clock"] == "cpu"
    assert "consensus>speed by total probe CPU time" in (report / "report.md").read_text()
    # Asked for the wall clock, the same probes rank the other way: the wrong sample-1s took less wall time.
    res = run_evaluate(**paths, scorers={}, out_dir=str(project_root / "reports-wall"), split="eval",
                       challenger=None, aggregation="min", n_resamples=50, execution_only=True,
                       probes_path=str(probes_path), speed_clock="wall")
    assert res["sizes"]["all"]["filter:consensus>speed"] == 0.0
    assert "consensus>speed by total probe wall-clock time" in (project_root / "reports-wall" / "report.md").read_text()


def test_the_speed_clock_defaults_agree_with_the_validated_choice() -> None:
    """The stage, the flow and the CLI all default to consensus.SPEED_CLOCK (docs/lcb-best-of-n.md, "Which clock")."""
    import inspect

    from dreamprm.cli.evaluate import evaluate
    from dreamprm.evaluate.consensus import SPEED_CLOCK
    from flows.evaluate import evaluate_flow

    assert inspect.signature(run_evaluate).parameters["speed_clock"].default == SPEED_CLOCK
    assert inspect.signature(evaluate_flow.fn).parameters["speed_clock"].default == SPEED_CLOCK
    assert inspect.signature(evaluate).parameters["speed_clock"].default.default.value == SPEED_CLOCK


def test_generator_prior_ranks_by_the_train_side_rate_of_each_policy(project_root: Path) -> None:
    """Only m-c's candidates are right; the train-side table says m-c passes most often, its rows on the evaluated
    problem p1 say the opposite and are left out: prior and filter:prior pick m-c, random is 1/3."""
    paths = _project(project_root)
    cands = pd.read_parquet(paths["candidates_path"])
    cands["official_passed"] = cands["policy"] == "m-c"
    cands.to_parquet(paths["candidates_path"], index=False)
    train = [{"candidate_id": f"t{i}", "problem_id": f"t{i % 2}", "policy": m, "official_passed": ok}
             for i, (m, ok) in enumerate([("m-a", False), ("m-b", False), ("m-c", True), ("m-a", True),
                                          ("m-b", False), ("m-c", True)])]
    train += [{"candidate_id": f"leak{i}", "problem_id": "p1", "policy": "m-a", "official_passed": True}
              for i in range(20)]
    (project_root / "train").mkdir()  # no manifest beside it: every problem but the evaluated ones counts
    prior_path = project_root / "train" / "candidates.parquet"
    pd.DataFrame(train).to_parquet(prior_path, index=False)
    # every survivor prints the same on every probe: consensus ties, and the prior (after speed bins) breaks them
    from dreamprm.execution import restrict_to_survivors

    survivors = restrict_to_survivors(cands, paths["executions_path"])
    probes = [execution_row(c, {"verdict": "passed", "num_tests": 2, "num_passed": 2,
                                "per_test": [{"verdict": "passed", "time_s": 0.1, "cpu_s": 0.05,
                                              "stdout": "same"}] * 2},
                            "docker", public_tests=2) for c in survivors.to_dict("records")]
    probes_path = project_root / "data" / "probes.parquet"
    pd.DataFrame(probes).to_parquet(probes_path, index=False)
    out = project_root / "reports"
    res = run_evaluate(**paths, scorers={}, out_dir=str(out), split="eval", challenger=None, aggregation="min",
                       n_resamples=50, per_problem="0,3", execution_only=True, prior_path=str(prior_path),
                       probes_path=str(probes_path))
    for size in ("all", "per-problem-3"):
        assert res["sizes"][size]["random"] == pytest.approx(1 / 3)
        assert res["sizes"][size]["prior"] == 1.0 and res["sizes"][size]["filter:prior"] == 1.0
    full = res["sizes"]["all"]
    assert full["filter:consensus"] == 0.0  # ties go to the earliest sample: m-a's sample 1
    assert full["filter:consensus>prior"] == 1.0 and full["filter:consensus>speedbin>prior"] == 1.0
    report = json.loads((out / "report.json").read_text())
    assert report["prior"]["rates"] == {"m-a": 0.5, "m-b": 0.0, "m-c": 1.0}
    assert report["prior"]["n_excluded_problems"] == 1 and report["prior"]["n_candidates_without_prior"] == 0
    assert report["prior"]["sides"] == "all"  # no manifest beside train/candidates.parquet
    assert "m-c 100.0 % (n=2), m-a 50.0 % (n=2), m-b 0.0 % (n=2)" in (out / "report.md").read_text()
    with pytest.raises(InputDataError, match="no candidates table"):
        run_evaluate(**paths, scorers={}, out_dir=str(out), split="eval", challenger=None, aggregation="min",
                     n_resamples=50, execution_only=True, prior_path=str(project_root / "missing.parquet"))


def test_discover_scorers_takes_the_named_saved_models_only(tmp_path: Path) -> None:
    from dreamprm.errors import InputDataError
    from dreamprm.stages.evaluate import discover_scorers

    for name in ("orm", "prm-none", "prm-own"):
        (tmp_path / name / "final").mkdir(parents=True)
    assert set(discover_scorers(tmp_path)) == {"orm", "prm-none", "prm-own"}
    assert list(discover_scorers(tmp_path, "prm-none, orm")) == ["prm-none", "orm"]
    with pytest.raises(InputDataError, match=r"no saved model named \['prm-weights'\].*prm-none, orm, prm-own"):
        discover_scorers(tmp_path, "orm,prm-weights")


def test_scorers_unseen_by_leaves_out_a_model_that_trained_or_was_corrected_on_the_problems(tmp_path: Path) -> None:
    from dreamprm.stages.evaluate import scorers_unseen_by

    folders = {}
    for name, prov in {"a": {"trained_on": ["p1"]}, "b": {"trained_on": ["p9"], "corrected_on": ["p2"]},
                       "c": {"trained_on": ["p9"]}}.items():
        folders[name] = tmp_path / name
        folders[name].mkdir()
        (folders[name] / "provenance.json").write_text(json.dumps(prov))
    kept, left_out = scorers_unseen_by({k: str(v) for k, v in folders.items()}, {"p1", "p2"})
    assert list(kept) == ["c"] and left_out == ["a", "b"]
    (folders["c"] / "provenance.json").write_text("{not json")
    with pytest.raises(InputDataError, match="provenance is not JSON") as err:
        scorers_unseen_by({"c": str(folders["c"])}, {"p1"})
    assert "c/provenance.json" in str(err.value)
    for text, kind in (('["p9"]', "an array"), ('"p9"', "a string"), ("3", "a number"), ("true", "a boolean"),
                       ("null", "null")):
        (folders["c"] / "provenance.json").write_text(text)
        with pytest.raises(InputDataError, match=f"provenance is {kind}, not a JSON object") as err:
            scorers_unseen_by({"c": str(folders["c"])}, {"p1"})
        assert "c/provenance.json" in str(err.value)


def test_a_problem_of_the_side_without_candidates_is_counted_outside_the_set(project_root: Path) -> None:
    """A problem on the eval side that no candidate answers was not attempted (a run generates for a chosen subset):
    it stays outside the evaluated set, and the report and its markdown say how many were left out that way."""
    paths = _project(project_root)
    problems = pd.read_parquet(paths["problems_path"])
    extra = problems.iloc[[0]].assign(problem_id="p3", difficulty="medium")
    problems = pd.concat([problems, extra], ignore_index=True)
    problems.to_parquet(paths["problems_path"], index=False)
    SplitManifest.from_problems(problems, SplitConfig()).write(Path(paths["problems_path"]).with_name(
        "split_manifest.json"))
    out = project_root / "reports"
    res = run_evaluate(**paths, scorers={}, out_dir=str(out), split="eval", challenger=None, aggregation="min",
                       n_resamples=50, execution_only=True)
    report = json.loads((out / "report.json").read_text())
    assert report["n_problems"] == 2 and report["n_problems_on_sides_without_candidates"] == 1
    assert res["methods"]["oracle"] == pytest.approx(1.0)  # p1 and p2 each have a passing candidate
    assert "1 problem of the evaluated sides has no candidate" in (out / "report.md").read_text()
