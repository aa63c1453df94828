"""The correct stage on a real (tiny) transformer PRM: torch.func hypergradients through the backbone and head."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from dreamprm.errors import InputDataError
from dreamprm.prm.correct import CorrectConfig, correct_prm, rows_by_side, split_by_problem
from dreamprm.prm.model import PRMConfig, ProcessRewardModel


def rows() -> pd.DataFrame:
    out = []
    for p in range(4):
        for c in range(3):
            good = c != 1
            out.append({"candidate_id": f"p{p}c{c}", "problem_id": f"p{p}", "prompt": f"Problem {p}",
                        "statement": f"Problem {p}", "starter_code": "", "split": "meta" if p == 3 else "train",
                        "completions": ["def f():\n", "    return 1\n" if good else "    return 0\n", "f()\n"],
                        "soft_labels": [0.5, 0.75 if good else 0.25, 1.0 if good else 0.0],
                        "clean": [False, False, True]})
    return pd.DataFrame(out)


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("model-cache")


CASES = [("lora", "labels")] + [
    pytest.param(f, m, marks=pytest.mark.slow)
    for f, m in [("lora", "weights"), ("lora", "none"), ("full", "labels"), ("full", "weights"), ("full", "none")]
]


@pytest.mark.parametrize(("finetune", "mode"), CASES)
def test_correction_runs_and_stays_bounded(mode: str, finetune: str, model_cache: Path) -> None:
    prm = ProcessRewardModel.from_config(
        PRMConfig(backbone="tinycoder", num_layers=None, finetune=finetune, lora_target_modules=["q_proj", "v_proj"],
                  max_length=256), cache_dir=model_cache, seed=0)
    logged: list[dict] = []
    summary, table = correct_prm(prm, rows(), CorrectConfig(mode=mode, iterations=3, lr=1e-3, meta_lr=0.5),
                                 log=lambda m, s: logged.append(m))
    assert len(logged) == 3
    assert summary["noisy_samples"] == len(table) > 0
    assert table["corrected_label"].between(0, 1).all()
    assert table["weight"].between(0, 2).all()
    if mode == "none":
        assert "hypergrad_norm" not in logged[-1]
        assert (table["corrected_label"] == table["noisy_label"]).all()
    else:
        assert logged[-1]["hypergrad_norm"] > 0
        moved = (table["corrected_label"] - table["noisy_label"]).abs().max() if mode == "labels" \
            else (table["weight"] - 1).abs().max()
        assert moved > 0


def test_meta_set_is_the_manifest_meta_side() -> None:
    lower, meta = rows_by_side(rows())
    assert set(meta["problem_id"]) == {"p3"} and set(lower["problem_id"]) == {"p0", "p1", "p2"}
    with pytest.raises(InputDataError, match="no step-label rows on the meta side"):
        rows_by_side(rows().assign(split="train"))
    with pytest.raises(InputDataError, match="no 'split' column"):
        rows_by_side(rows().drop(columns="split"))


def test_corrected_model_records_the_problems_it_saw(model_cache: Path) -> None:
    prm = ProcessRewardModel.from_config(PRMConfig(backbone="tinycoder", num_layers=None, max_length=256),
                                         cache_dir=model_cache, seed=0)
    prm.provenance = {"trained_on": ["p0", "p1", "p2"]}
    correct_prm(prm, rows(), CorrectConfig(mode="weights", iterations=1))
    assert prm.seen_problems() == {"p0", "p1", "p2", "p3"}


def test_single_problem_is_rejected() -> None:
    with pytest.raises(InputDataError, match="at least 2 problems"):
        split_by_problem(rows().query("problem_id == 'p0'"), 0.3, seed=0)
