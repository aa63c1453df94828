"""Outcome labels with Monte-Carlo labels for a sample of the multi-step train-side candidates: which candidates are
rolled out, how their rows replace the outcome rows, the counts of each label kind, and the label stage end to end
with doubles for the policy and the sandbox judge (the real llama.cpp policy and sandbox are exercised by the label
step of the pipeline integration test)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd
import pytest

from dreamprm.cache import ContentCache
from dreamprm.labeling import MCLabelConfig, label_candidates, outcome_step_labels
from dreamprm.labeling.mixed import (MONTECARLO, OUTCOME, label_kind, multi_step_sample, overlay,
                                     step_label_counts)
from dreamprm.policy.base import Completion, PolicyBackend, SamplingParams

TWO_STEPS = 'def helper(x):\n    """Double."""\n    return 2 * x\n\ndef main():\n    print(helper(int(input())))\n\nmain()\n'
ONE_STEP = "print(2 * int(input()))\n"


class HalfRightPolicy(PolicyBackend):
    """Finishes every prefix with the right program in even samples and a wrong one in odd samples."""

    name = "half-right"
    model = "half-right-v1"

    def __init__(self) -> None:
        self.prompts = 0

    def generate(self, prompts: Sequence[Any], params: SamplingParams) -> list[list[Completion]]:
        self.prompts += len(prompts)
        good, bad = "```python\n" + TWO_STEPS + "```", "```python\nprint(0)\n```"
        return [[Completion(good if i % 2 == 0 else bad) for i in range(params.n)] for _ in prompts]


class DoublingJudge:
    """Passes a program iff it doubles its input; records which tests it was asked to judge on."""

    def __init__(self, config: Any = None) -> None:
        self.tests = getattr(config, "tests", "all")
        self.jobs = 0
        self.closed = False

    def __call__(self, jobs: Sequence[tuple[Mapping[str, Any], str]]) -> list[bool]:
        self.jobs += len(jobs)
        return ["2 * " in code for _, code in jobs]

    def close(self) -> None:
        self.closed = True


def _problems(*ids: str) -> pd.DataFrame:
    return pd.DataFrame([{"problem_id": pid, "source": "livecodebench", "platform": "atcoder", "title": pid,
                          "statement": "Read n, print 2n.", "starter_code": "", "test_type": "stdin",
                          "func_name": "", "private_tests": "[]",
                          "public_tests": '[{"input": "2\\n", "output": "4\\n", "testtype": "stdin"}]'}
                         for pid in ids])


def _outcome_rows() -> tuple[pd.DataFrame, pd.DataFrame, dict[str, bool]]:
    problems = _problems("p1", "p2")
    candidates = pd.DataFrame([
        {"candidate_id": "a", "sample_index": 0, "problem_id": "p1", "code": TWO_STEPS, "policy": "m"},
        {"candidate_id": "b", "sample_index": 1, "problem_id": "p1", "code": ONE_STEP, "policy": "m"},
        {"candidate_id": "c", "sample_index": 0, "problem_id": "p2", "code": TWO_STEPS, "policy": "m"},
        {"candidate_id": "d", "sample_index": 2, "problem_id": "p1", "code": TWO_STEPS + "\n", "policy": "m"},
    ])
    verdicts = {"a": False, "b": True, "c": True, "d": True}
    return problems, candidates, verdicts


def test_sample_takes_multi_step_train_side_candidates_in_id_order() -> None:
    problems, candidates, verdicts = _outcome_rows()
    rows = outcome_step_labels(problems, candidates, verdicts)
    sides = {"p1": "train", "p2": "meta"}
    assert multi_step_sample(rows, sides, 10) == ["a", "d"]  # b is one step, c is on the meta side
    assert multi_step_sample(rows, sides, 1) == ["a"]
    assert multi_step_sample(rows, sides, 0) == []


def test_overlay_replaces_in_place_and_refuses_strays(tmp_path: Path) -> None:
    problems, candidates, verdicts = _outcome_rows()
    rows = outcome_step_labels(problems, candidates, verdicts)
    with ContentCache(tmp_path / "c.sqlite") as cache:
        mc = label_candidates(problems, candidates[candidates["candidate_id"] == "a"], verdicts, HalfRightPolicy(),
                              DoublingJudge(), cache, MCLabelConfig(rollouts=4))
    out = overlay(rows, mc)
    assert list(out["candidate_id"]) == list(rows["candidate_id"])
    a = out.iloc[0]
    assert list(a["soft_labels"][:-1]) == [0.5] * (len(a["completions"]) - 1)  # rollout pass fractions
    assert a["soft_labels"][-1] == 0.0  # its own verdict stays the clean label
    assert [label_kind(c) for c in out["rollout_counts"]] == [MONTECARLO, OUTCOME, OUTCOME, OUTCOME]
    stray = mc.assign(candidate_id="zz")
    with pytest.raises(ValueError, match="zz"):
        overlay(rows, stray)


def test_counts_of_each_label_kind(tmp_path: Path) -> None:
    problems, candidates, verdicts = _outcome_rows()
    rows = outcome_step_labels(problems, candidates, verdicts)
    steps = {cid: len(c) for cid, c in zip(rows["candidate_id"], rows["completions"])}
    with ContentCache(tmp_path / "c.sqlite") as cache:
        mc = label_candidates(problems, candidates[candidates["candidate_id"] == "a"], verdicts, HalfRightPolicy(),
                              DoublingJudge(), cache, MCLabelConfig(rollouts=2))
    counts = step_label_counts(overlay(rows, mc))
    assert counts == {"clean_labels": 4, "montecarlo_step_labels": steps["a"] - 1,
                      "outcome_step_labels": steps["b"] - 1 + steps["c"] - 1 + steps["d"] - 1,
                      "montecarlo_candidates": 1}


def test_judge_verdicts_on_other_tests_do_not_share_the_cache(tmp_path: Path) -> None:
    problems, candidates, verdicts = _outcome_rows()
    chosen = candidates[candidates["candidate_id"] == "a"]
    public = DoublingJudge()
    public.tests = "public"
    every = DoublingJudge()
    with ContentCache(tmp_path / "c.sqlite") as cache:
        label_candidates(problems, chosen, verdicts, HalfRightPolicy(), public, cache, MCLabelConfig(rollouts=2))
        label_candidates(problems, chosen, verdicts, HalfRightPolicy(), every, cache, MCLabelConfig(rollouts=2))
        again = DoublingJudge()
        again.tests = "public"
        label_candidates(problems, chosen, verdicts, HalfRightPolicy(), again, cache, MCLabelConfig(rollouts=2))
    assert public.jobs > 0 and every.jobs == public.jobs  # judged again on the other tests
    assert again.jobs == 0  # the same tests: from the cache


def _stage_inputs(root: Path) -> tuple[Path, Path]:
    from dreamprm.data.split import SplitConfig, SplitManifest, manifest_path_for

    problems, candidates, verdicts = _outcome_rows()
    problems["split"] = problems["problem_id"].map({"p1": "train", "p2": "meta"})
    data = root / "data"
    data.mkdir()
    problems_path, candidates_path = data / "problems.parquet", data / "candidates.parquet"
    problems.to_parquet(problems_path)
    SplitManifest.from_problems(problems, SplitConfig()).write(manifest_path_for(problems_path))
    candidates.assign(official_passed=candidates["candidate_id"].map(verdicts)).to_parquet(candidates_path)
    return problems_path, candidates_path


@pytest.fixture
def doubles(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The label stage's policy and sandbox judge replaced by the doubles above; what they were asked is kept."""
    made: dict[str, Any] = {"judges": [], "policies": []}

    def policy(_settings: Any, **_kw: Any) -> HalfRightPolicy:
        made["policies"].append(HalfRightPolicy())
        return made["policies"][-1]

    def judge(config: Any = None, backend: Any = None) -> DoublingJudge:
        made["judges"].append(DoublingJudge(config))
        return made["judges"][-1]

    monkeypatch.setattr("dreamprm.policy.get_policy", policy)
    monkeypatch.setattr("dreamprm.execution.SandboxJudge", judge)
    return made


def test_label_stage_mixes_outcome_and_montecarlo_labels(project_root: Path, doubles: dict[str, Any]) -> None:
    from dreamprm.stages.label import run_label

    problems_path, candidates_path = _stage_inputs(project_root)
    out = project_root / "data" / "step_labels.parquet"
    summary = run_label(str(problems_path), str(candidates_path), None, str(out), {"rollouts": 2}, 0,
                        method="outcome", montecarlo=1, rollout_tests="public")
    rows = pd.read_parquet(out)
    assert list(rows["candidate_id"]) == ["a", "b", "c", "d"]  # nothing dropped, order kept
    kinds = dict(zip(rows["candidate_id"], rows["rollout_counts"].map(label_kind)))
    assert kinds == {"a": MONTECARLO, "b": OUTCOME, "c": OUTCOME, "d": OUTCOME}
    assert [j.tests for j in doubles["judges"]] == ["public"] and doubles["judges"][0].closed
    assert summary["montecarlo_candidates"] == 1 and summary["montecarlo_step_labels"] > 0
    assert summary["new_rollouts"] == 2 * summary["montecarlo_step_labels"]
    assert json.loads(rows.iloc[0]["policy"])  # the local policy's identity, not the recorded one
    assert "recorded" not in json.loads(rows.iloc[0]["policy"])


def test_label_stage_without_montecarlo_runs_no_policy(project_root: Path, doubles: dict[str, Any]) -> None:
    from dreamprm.stages.label import run_label

    problems_path, candidates_path = _stage_inputs(project_root)
    out = project_root / "data" / "step_labels.parquet"
    summary = run_label(str(problems_path), str(candidates_path), None, str(out), {}, 0, method="outcome")
    assert doubles["policies"] == [] and doubles["judges"] == []
    assert summary["montecarlo_candidates"] == 0 and summary["outcome_step_labels"] > 0
    import mlflow

    from dreamprm.data.split import manifest_path_for
    from dreamprm.stages.label import LABEL_PARAMETERS

    # The run is tagged with the stage identity, the split manifest beside the problems read by content.
    params = {"problems_path": str(problems_path), "candidates_path": str(candidates_path), "executions_path": None,
              "out_path": "anywhere", "config_dict": {}, "limit": 0, "method": "outcome", "split": None,
              "per_problem": 0, "montecarlo": 0, "rollout_tests": None, "policies_of": None, "per_policy": 0}
    manifest = manifest_path_for(problems_path)
    runs = mlflow.search_runs(search_all_experiments=True, filter_string="tags.`dreamprm.stage` = 'label'")
    tagged = LABEL_PARAMETERS.identity(params, read_beside={"manifest": manifest})
    assert runs["tags.dreamprm.identity"].tolist() == [tagged]
    manifest.write_text(manifest.read_text() + "\n")
    assert LABEL_PARAMETERS.identity(params, read_beside={"manifest": manifest}) != tagged


@pytest.mark.parametrize("kwargs, message", [
    ({"method": "montecarlo", "montecarlo": 3}, "adds Monte-Carlo labels to --method outcome"),
    ({"method": "outcome", "montecarlo": -1}, "0 or more"),
    ({"method": "outcome", "montecarlo": 1, "rollout_tests": "hidden"}, r"all \| public \| private"),
    ({"method": "outcomes"}, r"'outcomes' \(expected outcome \| montecarlo\)"),
])
def test_label_stage_rejects_bad_options(project_root: Path, doubles: dict[str, Any], kwargs: dict[str, Any],
                                         message: str) -> None:
    """A bad option is an OptionError (one line at the CLI) naming it, raised before any table is read."""
    from dreamprm.errors import OptionError
    from dreamprm.stages.label import run_label

    out = project_root / "data" / "step_labels.parquet"
    missing = project_root / "nowhere.parquet"  # not read: the options are checked first
    with pytest.raises(OptionError, match=message):
        run_label(str(missing), str(missing), None, str(out), {}, 0, **kwargs)
    assert not out.exists()


def test_candidates_of_problems_without_tests_keep_outcome_labels_and_are_counted(
        project_root: Path, doubles: dict[str, Any]) -> None:
    from dreamprm.stages.label import run_label

    problems_path, candidates_path = _stage_inputs(project_root)
    problems = pd.read_parquet(problems_path)
    problems.loc[problems["problem_id"] == "p1", ["public_tests", "statement"]] = ["[]", "Print twice n."]
    problems.to_parquet(problems_path)
    out = project_root / "data" / "step_labels.parquet"
    summary = run_label(str(problems_path), str(candidates_path), None, str(out), {"rollouts": 2}, 0,
                        method="outcome", montecarlo=5, rollout_tests="public")
    assert summary["montecarlo_candidates"] == 0 and summary["montecarlo_eligible"] == 0
    assert summary["montecarlo_skipped_no_tests"] == 2  # a and d: multi-step, train side, nothing to judge on
    assert doubles["policies"] == []  # no server started for nothing
    assert len(pd.read_parquet(out)) == 4


def test_sandbox_judge_refuses_a_problem_without_tests() -> None:
    from dreamprm.errors import InputDataError
    from dreamprm.execution import ExecuteConfig, SandboxJudge

    judge = SandboxJudge(ExecuteConfig(tests="all"), backend=object())
    problem = {"problem_id": "p9", "public_tests": "[]", "private_tests": "[]", "statement": "no examples"}
    with pytest.raises(InputDataError, match="p9"):
        judge([(problem, "print(1)")])


def test_label_stage_takes_only_the_policies_of_a_table(project_root: Path, doubles: dict[str, Any]) -> None:
    from dreamprm.errors import InputDataError
    from dreamprm.stages.label import run_label

    problems_path, candidates_path = _stage_inputs(project_root)
    cands = pd.read_parquet(candidates_path)
    cands["policy"] = ["m", "n", "m", "m"]
    cands["sample_index"] = [1, 0, 0, 0]
    cands.to_parquet(candidates_path)
    ranked = project_root / "ranked.parquet"
    pd.DataFrame({"policy": ["m"]}).to_parquet(ranked)
    out = project_root / "data" / "step_labels.parquet"
    summary = run_label(str(problems_path), str(candidates_path), None, str(out), {}, 0, method="outcome",
                        policies_of=str(ranked), per_policy=1)
    # b is policy n; a and d are both m on p1, and d has the lower sample index
    assert list(pd.read_parquet(out)["candidate_id"]) == ["c", "d"]
    assert summary["candidates"] == 2 and summary["policies"] == 1
    pd.DataFrame({"policy": ["z"]}).to_parquet(ranked)
    with pytest.raises(InputDataError, match=r"no candidate was written by \['z'\]"):
        run_label(str(problems_path), str(candidates_path), None, str(out), {}, 0, method="outcome",
                  policies_of=str(ranked))


def test_label_stage_counts_candidates_without_a_verdict(project_root: Path, doubles: dict[str, Any],
                                                         caplog: pytest.LogCaptureFixture) -> None:
    """A candidate with neither an official verdict nor an execution cannot be labelled: it is left out, and the
    summary, the MLflow metrics and a warning say how many, never a silently smaller table."""
    from dreamprm.stages.label import run_label

    problems_path, candidates_path = _stage_inputs(project_root)
    cands = pd.read_parquet(candidates_path)
    cands["official_passed"] = cands["official_passed"].astype(object)
    cands.loc[cands["candidate_id"] == "c", "official_passed"] = None
    cands.to_parquet(candidates_path)
    out = project_root / "data" / "step_labels.parquet"
    with caplog.at_level("WARNING", logger="dreamprm.stages.label"):
        summary = run_label(str(problems_path), str(candidates_path), None, str(out), {}, 0, method="outcome")
    assert sorted(pd.read_parquet(out)["candidate_id"]) == ["a", "b", "d"]
    assert summary["candidates_without_verdict"] == 1
    assert "1 candidates" in caplog.text and "'c'" in caplog.text
