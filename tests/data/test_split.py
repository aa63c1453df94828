"""The split manifest: every problem on one side (train | meta | eval), by contest date where there is one and by a
seeded hash of the id otherwise; the file is checked when read; evaluation refuses problems a model has seen."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from dreamprm.data.livecodebench import problems_frame
from dreamprm.data.split import (SplitConfig, SplitManifest, assign_split, check_disjoint, interleave_sides,
                                 sample_by_problem, select_splits, split_ids)
from dreamprm.errors import InputDataError


def _p(pid: str, date: str | None) -> dict:
    return {"problem_id": pid, "source": "livecodebench", "contest_date": pd.Timestamp(date, tz="UTC") if date
            else pd.NaT, "has_tests": False}


def test_dated_problems_after_the_cutoff_day_are_eval_and_sides_never_overlap():
    df = problems_frame([_p("a", "2024-07-31"), _p("b", "2024-08-01T23:30:00"), _p("c", "2024-08-02")]
                        + [_p(f"u{i}", None) for i in range(400)])
    out = assign_split(df, SplitConfig(cutoff="2024-08-01", meta_fraction=0.2, undated_eval_fraction=0.25))
    sides = dict(zip(out["problem_id"], out["split"]))
    assert sides["a"] in ("train", "meta") and sides["b"] in ("train", "meta") and sides["c"] == "eval"
    ids = split_ids(out)
    assert not (ids["train"] & ids["meta"]) and not (ids["train"] & ids["eval"]) and not (ids["meta"] & ids["eval"])
    undated = out[out["problem_id"].str.startswith("u")]["split"].value_counts(normalize=True)
    assert 0.18 < undated["eval"] < 0.32  # 25% of the undated problems
    assert 0.10 < undated["meta"] < 0.22  # 20% of the remaining 75%


def test_a_problem_keeps_its_side_when_others_are_added():
    small = assign_split(problems_frame([_p(f"u{i}", None) for i in range(20)]), SplitConfig())
    large = assign_split(problems_frame([_p(f"u{i}", None) for i in range(200)]), SplitConfig())
    assert dict(zip(small["problem_id"], small["split"])).items() <= dict(zip(large["problem_id"], large["split"])).items()
    other_seed = assign_split(problems_frame([_p(f"u{i}", None) for i in range(200)]), SplitConfig(seed=1))
    assert list(other_seed["split"]) != list(large["split"])


def test_manifest_round_trip_and_bad_files(tmp_path: Path):
    out = assign_split(problems_frame([_p("a", "2024-07-31"), _p("c", "2024-08-02"), _p("d", None)]), SplitConfig())
    m = SplitManifest.from_problems(out, SplitConfig())
    path = m.write(tmp_path / "split_manifest.json")
    back = SplitManifest.load(path)
    assert back.sides == m.sides and back.digest == m.digest
    body = json.loads(path.read_text())
    body["train"] = sorted(set(body["train"]) | {"c"})  # c is also eval
    path.write_text(json.dumps(body))
    with pytest.raises(InputDataError, match=r"split_manifest.json.*1 problem\(s\) on two sides: c \((eval and train|train and eval)\)"):
        SplitManifest.load(path)
    with pytest.raises(InputDataError, match=r"2 problems not in the split manifest: \['x', 'y'\]"):
        back.check_problems(["a", "x", "y"])
    with pytest.raises(InputDataError, match="no split manifest"):
        SplitManifest.load(tmp_path / "missing.json")
    path.write_text("{not json")
    with pytest.raises(InputDataError, match="not JSON"):
        SplitManifest.load(path)


def test_evaluation_refuses_problems_a_model_saw():
    check_disjoint(["e1", "e2"], {"prm-warmup": {"t1"}, "orm": set()})
    with pytest.raises(InputDataError, match=r"prm-weights saw 1 of them \(e.g. \['e2'\]\)"):
        check_disjoint(["e1", "e2"], {"prm-warmup": {"t1"}, "prm-weights": {"t1", "e2"}})


def test_interleave_takes_every_side_in_turn():
    frame = pd.DataFrame({"problem_id": [f"p{i}" for i in range(9)]})
    sides = {f"p{i}": s for i, s in enumerate(["train"] * 5 + ["meta"] * 2 + ["eval"] * 2)}
    picked = interleave_sides(frame, sides, "problem_id", 6)
    assert sorted(picked["problem_id"].map(sides).value_counts().items()) == [("eval", 2), ("meta", 2), ("train", 2)]
    assert len(interleave_sides(frame, sides, "problem_id", 0)) == 9


def test_lcb_v6_evaluation_problems_never_meet_the_training_side(shared_data) -> None:
    """`make eval-lcb`: the 175 release_v6 problems are all after the cutoff (eval), and no problem of the training
    pool is one of them."""
    from dreamprm.data.recorded import import_recorded

    test6 = import_recorded([shared_data / "lcb_fork_gu-ni_n10_generations" / "output_test6"])
    train_pool = import_recorded([shared_data / "lcb_v6_generations_xiangww0108",
                                  shared_data / "lcb_submissions_official"])
    evaluated = assign_split(test6.problems, SplitConfig(cutoff="2024-08-01"))
    trained = assign_split(train_pool.problems, SplitConfig(cutoff="2024-08-01"))
    assert len(evaluated) == 175 and set(evaluated["split"]) == {"eval"}
    train_ids = set(trained.loc[trained["split"].isin(["train", "meta"]), "problem_id"])
    assert len(train_ids) == 601
    assert not train_ids & set(evaluated["problem_id"])
    assert test6.candidates.groupby("problem_id").size().eq(60).all()


def test_select_splits_takes_a_comma_list_and_names_a_missing_split():
    df = problems_frame([_p("a", "2024-07-31"), _p("c", "2024-08-02")])
    df["split"] = ["train", "eval"]
    assert list(select_splits(df, "train, eval")["problem_id"]) == ["a", "c"]
    assert list(select_splits(df, "eval")["problem_id"]) == ["c"]
    with pytest.raises(InputDataError, match=r"problems.parquet, field 'split': no problem in split\(s\) \['trian'\] "
                       r"\(expected eval \| train\)"):
        select_splits(df, "train,trian", source="problems.parquet")
    with pytest.raises(InputDataError, match="no split named"):
        select_splits(df, " , ")


def test_problems_on_sides_reads_the_manifest_beside_the_table(tmp_path: Path):
    from dreamprm.data.split import problems_on_sides

    df = problems_frame([_p("a", "2024-07-31"), _p("c", "2024-08-02")])
    df["split"] = ["train", "eval"]
    SplitManifest.from_problems(df, SplitConfig()).write(tmp_path / "split_manifest.json")
    chosen, manifest, sides = problems_on_sides(df, tmp_path / "problems.parquet", None, "eval")
    assert list(chosen["problem_id"]) == ["c"] and sides == ["eval"] and manifest.counts()["train"] == 1
    with pytest.raises(InputDataError, match=r"no problem on side\(s\) \['meta'\]"):
        problems_on_sides(df, tmp_path / "problems.parquet", "meta", "eval")


def test_sample_by_problem_caps_each_problem_and_takes_whole_problems_per_side():
    sides = {f"t{i}": "train" for i in range(4)} | {f"m{i}": "meta" for i in range(4)}
    frame = pd.DataFrame([{"problem_id": p, "candidate_id": f"{p}-{k:02d}"} for p in sides for k in range(5)])
    picked = sample_by_problem(frame.sample(frac=1.0, random_state=0), sides, 3, 12)
    per = picked.groupby("problem_id")["candidate_id"].apply(sorted)
    assert len(picked) == 12 and len(per) == 4  # 4 whole problems of 3, not 12 problems of 1
    assert all(ids == [f"{p}-00", f"{p}-01", f"{p}-02"] for p, ids in per.items())  # the first ids of each
    assert sorted(picked["problem_id"].map(sides).value_counts().tolist()) == [6, 6]  # the sides in turn
    assert len(sample_by_problem(frame, sides, 3, 0)) == 24
    assert sample_by_problem(frame, sides, 0, 5).equals(interleave_sides(frame, sides, "candidate_id", 5))
