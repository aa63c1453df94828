"""Within-problem ranking objectives of the warm-up (pairwise, listwise) on the tiny model (tinycoder): the loss by
hand, the problem-grouped batch sampler, a synthetic set where ranking beats pointwise on the within-problem AUC,
and the pointwise path left as it was."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import dreamprm.prm.train as train_mod
from dreamprm.evaluate.stats import ranking_quality
from dreamprm.prm.meta import per_sample_loss, smooth
from dreamprm.prm.model import PRMConfig, ProcessRewardModel
from dreamprm.prm.train import (
    ProblemBatchSampler,
    StepLabelDataset,
    TrainConfig,
    candidate_logits,
    make_collate,
    rank_loss,
    step_loss,
    train_prm,
    training_identity,
)

HIDDEN = 16  # tinycoder's hidden size
OFFSET = 3.0  # the within-problem feature's per-problem shift on hard problems (see _synthetic)


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("model-cache")


def _prm(model_cache: Path, finetune: str = "head") -> ProcessRewardModel:
    cfg = PRMConfig(backbone="tinycoder", num_layers=None, finetune=finetune, max_length=128)  # type: ignore[arg-type]
    return ProcessRewardModel.from_config(cfg, cache_dir=model_cache, seed=0)


def _row(cid: str, pid: str, labels: list[float]) -> dict:
    steps = [f"x{k} = {k}\n" for k in range(len(labels))]
    return {"candidate_id": cid, "problem_id": pid, "prompt": pid, "statement": f"Problem {pid}.", "starter_code": "",
            "completions": steps, "soft_labels": labels, "clean": [False] * (len(labels) - 1) + [True]}


# The toy batch: (candidate, problem, step logits, passes). Candidate scores (min step logit): a 0.5, b 1.0, c -1.0;
# d 0.3, e 0.7 (problem q: both pass, no ranking term); f 1.5, g -0.5.
TOY = [("a", "p", [2.0, 0.5], True), ("b", "p", [1.0], False), ("c", "p", [-1.0, 0.0], False),
       ("d", "q", [0.3], True), ("e", "q", [0.7], True), ("f", "r", [1.5], True), ("g", "r", [-0.5], False)]


def _sp(x: float) -> float:
    return math.log1p(math.exp(x))


PAIRWISE_BY_HAND = ((_sp(1.0 - 0.5) + _sp(-1.0 - 0.5)) / 2 + _sp(-0.5 - 1.5)) / 2
LISTWISE_BY_HAND = ((math.log(math.exp(0.5) + math.exp(1.0) + math.exp(-1.0)) - 0.5)
                    + (math.log(math.exp(1.5) + math.exp(-0.5)) - 1.5)) / 2


def _toy_batch(prm: ProcessRewardModel) -> dict[str, torch.Tensor]:
    """The toy candidates as a collated head-mode batch whose step logits are exactly TOY's (head = first feature)."""
    rows = pd.DataFrame([_row(c, p, [1.0 if ok else 0.0] * len(s)) for c, p, s, ok in TOY])
    ds = StepLabelDataset(rows, prm)
    for e, (_, _, s, _) in zip(ds.examples, TOY):
        e.features = torch.zeros(len(s), HIDDEN)
        e.features[:, 0] = torch.tensor(s)
    with torch.no_grad():
        prm.head.weight.zero_()
        prm.head.weight[0, 0] = 1.0
        prm.head.bias.zero_()
    return make_collate(prm)(ds.examples)


def test_ranking_losses_equal_hand_computed_values(model_cache: Path) -> None:
    prm = _prm(model_cache)
    batch = _toy_batch(prm)
    assert batch["num_steps"].tolist() == [2, 1, 2, 1, 1, 1, 1]
    assert batch["group"].tolist() == [0, 0, 0, 1, 1, 2, 2]
    assert batch["outcome"].tolist() == [ok for *_, ok in TOY]
    logits = prm(features=batch["features"])
    scores = candidate_logits(logits, batch["num_steps"], "min")
    assert scores.tolist() == pytest.approx([0.5, 1.0, -1.0, 0.3, 0.7, 1.5, -0.5])
    assert candidate_logits(logits, batch["num_steps"], "last").tolist() == pytest.approx([0.5, 1, 0, 0.3, 0.7, 1.5, -0.5])
    pair, n = rank_loss(scores, batch["group"], batch["outcome"], "pairwise")
    assert n == 2 and float(pair.detach()) == pytest.approx(PAIRWISE_BY_HAND, abs=1e-6)
    listwise, n = rank_loss(scores, batch["group"], batch["outcome"], "listwise")
    assert n == 2 and float(listwise.detach()) == pytest.approx(LISTWISE_BY_HAND, abs=1e-6)
    # Mixed into the training loss through the PRM: (1 - w) * pointwise + w * rank.
    cfg = TrainConfig(objective="pairwise", rank_weight=0.25, loss="bce")
    target = smooth(batch["targets"], True)
    pointwise = float(per_sample_loss(torch.sigmoid(logits.detach()), target, "bce").mean())
    loss, _ = step_loss(prm, batch, cfg)
    assert float(loss) == pytest.approx(0.75 * pointwise + 0.25 * PAIRWISE_BY_HAND, abs=1e-6)
    # No problem with both outcomes: a zero that is still attached to the graph (rank_weight 1 can backward).
    zero, n = rank_loss(scores[3:5], batch["group"][3:5], batch["outcome"][3:5], "pairwise")
    assert n == 0 and float(zero) == 0.0 and zero.requires_grad


def _groups(sizes: list[int]) -> list[list[int]]:
    out, start = [], 0
    for n in sizes:
        out.append(list(range(start, start + n)))
        start += n
    return out


def test_grouped_sampler_keeps_problems_together_covers_every_row_and_is_seeded() -> None:
    sizes = [5, 3, 7, 2, 11, 1, 4, 6, 8, 2]  # 11 > max_batch: cut into two chunks (6 + 5)
    groups = _groups(sizes)
    problem_of = {i: p for p, g in enumerate(groups) for i in g}
    sampler = ProblemBatchSampler(groups, max_batch=8, seed=3)
    epochs = []
    for epoch in range(3):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        epochs.append(batches)
        assert len(batches) == len(sampler)  # the same length every epoch (resume counts on it)
        assert Counter(i for b in batches for i in b) == Counter(range(sum(sizes)))  # every row once
        assert all(len(b) <= 8 for b in batches)
        for p, g in enumerate(groups):
            holding = [b for b in batches if any(problem_of[i] == p for i in b)]
            if len(g) <= 8:
                assert len(holding) == 1 and set(g) <= set(holding[0])
            else:
                assert sorted(sum(problem_of[i] == p for i in b) for b in holding) == [5, 6]
    assert epochs[0] != epochs[1]  # reshuffled every epoch
    again = ProblemBatchSampler(groups, max_batch=8, seed=3)
    again.set_epoch(1)
    assert list(again) == epochs[1]  # a function of (seed, epoch) only
    other = ProblemBatchSampler(groups, max_batch=8, seed=4)
    other.set_epoch(1)
    assert list(other) != epochs[1]
    assert not hasattr(sampler, "batch_size")  # accelerate would take it for a fixed batch size


# --------------------------------------------------------------------------------------------------------------------
# A synthetic set: difficulty separates problems, a within-problem feature separates pass from fail
# --------------------------------------------------------------------------------------------------------------------

def _synthetic(problems: int, seed: int, prefix: str) -> tuple[pd.DataFrame, dict[str, torch.Tensor], np.ndarray]:
    """Six candidates per problem; easy problems (half) have 5 passing, hard ones 1. Feature 0 is a per-problem
    difficulty reading (noisy: it separates easy from hard problems only roughly, as trunk features do); feature 1
    is the within-problem signal (passing candidates higher) plus a per-problem offset that is higher on hard
    problems, so globally it runs AGAINST passing. Pointwise BCE weighs feature 1 by its global correlation;
    a ranking term sees only its differences within a problem."""
    g = torch.Generator().manual_seed(seed)
    rows, feats = [], {}
    passed = np.zeros((problems, 6), dtype=bool)
    for p in range(problems):
        hard = p % 2
        passed[p, : 1 if hard else 5] = True
        difficulty = (1.0 - 2 * hard) + float(torch.randn(1, generator=g))
        for c in range(6):
            cid = f"{prefix}{p}c{c}"
            x = 0.3 * torch.randn(HIDDEN, generator=g)
            x[0] = difficulty
            x[1] = (float(passed[p, c]) - 0.5) + 0.5 * float(torch.randn(1, generator=g)) + OFFSET * hard
            feats[cid] = x[None, :]
            rows.append(_row(cid, f"{prefix}{p}", [float(passed[p, c])]))
    return pd.DataFrame(rows), feats, passed


def test_pairwise_beats_pointwise_on_the_within_problem_auc(model_cache: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    train_rows, feats, _ = _synthetic(40, seed=0, prefix="t")
    _, test_feats, test_passed = _synthetic(40, seed=1, prefix="h")

    def synthetic_features(prm: ProcessRewardModel, datasets: list, feature_dir: object, accelerator: object) -> dict:
        for ds in datasets:
            for e in ds.examples if ds is not None else []:
                e.features = feats[e.candidate_id]
        return {}

    monkeypatch.setattr(train_mod, "attach_features", synthetic_features)
    quality = {}
    for objective in ("pointwise", "pairwise"):
        prm = _prm(model_cache)
        cfg = TrainConfig(epochs=15, lr=5e-2, batch_size=24, grad_accum=1, loss="bce", warmup_ratio=0.0,
                          save_every=10**6, eval_every=10**6, objective=objective, rank_weight=0.5)
        summary = train_prm(prm, train_rows, None, cfg, tmp_path / objective, resume=False)
        assert summary["steps"] == 150
        with torch.no_grad():
            scores = np.array([[float(prm(features=test_feats[f"h{p}c{c}"])) for c in range(6)] for p in range(40)])
        quality[objective] = ranking_quality(scores, test_passed)
    point, pair = quality["pointwise"], quality["pairwise"]
    assert summary["rank_problems"] == 40 and summary["rank_problems_single_class"] == 0
    assert pair.within_problem_auc > point.within_problem_auc + 0.15, (point, pair)
    assert pair.within_problem_auc > 0.65 and point.global_auc > 0.65, (point, pair)  # pointwise: difficulty


# --------------------------------------------------------------------------------------------------------------------
# Training runs: counts, resume, identity; the pointwise path as before
# --------------------------------------------------------------------------------------------------------------------

def _ranked_rows() -> pd.DataFrame:
    out = []
    for p in range(6):
        for c in range(4):
            ok = (c < 2) if p < 4 else p == 4  # problem 4: all pass, problem 5: all fail (no ranking term)
            out.append(_row(f"p{p}c{c}", f"p{p}", [0.5, float(ok)] if c % 2 else [float(ok)]))
    return pd.DataFrame(out)


def _attach_random_features(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake(prm: ProcessRewardModel, datasets: list, feature_dir: object, accelerator: object) -> dict:
        for ds in datasets:
            for e in ds.examples if ds is not None else []:
                seed = int(e.candidate_id[1]) * 10 + int(e.candidate_id[3])
                e.features = torch.randn(len(e.targets), HIDDEN, generator=torch.Generator().manual_seed(seed))
        return {}

    monkeypatch.setattr(train_mod, "attach_features", fake)


class Killed(Exception):
    pass


@pytest.mark.parametrize("objective", ["pairwise", "listwise"])
def test_ranked_run_counts_problems_and_resumes_to_the_same_weights(model_cache: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    objective: str) -> None:
    _attach_random_features(monkeypatch)
    cfg = TrainConfig(epochs=3, lr=5e-2, batch_size=8, grad_accum=1, save_every=2, eval_every=100,
                      objective=objective)  # type: ignore[arg-type]
    unbroken = _prm(model_cache)
    summary = train_prm(unbroken, _ranked_rows(), None, cfg, tmp_path / "unbroken", resume=False)
    assert summary["steps"] == 9  # 24 candidates in batches of two whole problems: 3 per epoch
    assert (summary["rank_problems"], summary["rank_problems_single_class"], summary["rank_problems_split"]) == (4, 2, 0)

    def kill_at_5(step: int, total: int) -> None:
        if step == 5:
            raise Killed

    with pytest.raises(Killed):
        train_prm(_prm(model_cache), _ranked_rows(), None, cfg, tmp_path / "resumed", progress=kill_at_5)
    resumed = _prm(model_cache)
    again = train_prm(resumed, _ranked_rows(), None, cfg, tmp_path / "resumed")
    assert again["resumed_from_step"] == 4 and again["steps"] == 9
    assert torch.allclose(resumed.head.weight, unbroken.head.weight, atol=1e-6)
    assert not torch.allclose(unbroken.head.weight, _prm(model_cache).head.weight)  # it trained


def test_ranking_needs_problem_ids_and_the_objective_is_in_the_identity(model_cache: Path, tmp_path: Path) -> None:
    from dreamprm.errors import InputDataError

    prm = _prm(model_cache)
    rows = _ranked_rows()
    ids = {o: training_identity(prm, rows, None, TrainConfig(objective=o)) for o in ("pointwise", "pairwise", "listwise")}
    assert len(set(ids.values())) == 3
    assert training_identity(prm, rows, None, TrainConfig(objective="pairwise", rank_weight=0.9)) != ids["pairwise"]
    with pytest.raises(InputDataError, match="problem_id"):
        train_prm(prm, rows.drop(columns="problem_id"), None, TrainConfig(objective="pairwise", max_steps=1),
                  tmp_path / "out")
    with pytest.raises(ValueError, match="objective"):
        TrainConfig(objective="triplet")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="rank_weight"):
        TrainConfig(objective="pairwise", rank_weight=1.5)


def _step_loss_before(model: torch.nn.Module, batch: dict[str, torch.Tensor], cfg: TrainConfig) -> torch.Tensor:
    """``step_loss`` as it was before the ranking objectives (verbatim, less the returned scores)."""
    device = next(model.parameters()).device
    if "features" in batch:
        logits = model(features=batch["features"].to(device)).float()
    else:
        logits = model(batch["input_ids"].to(device), batch["attention_mask"].to(device))
        logits = logits[batch["marker_mask"].to(device)].float()
    pred = torch.sigmoid(logits)
    target = smooth(batch["targets"].to(pred.device), cfg.label_smoothing)
    return per_sample_loss(pred, target, cfg.loss).mean()


@pytest.mark.parametrize("loss", ["mse", "bce"])
def test_pointwise_loss_is_unchanged(model_cache: Path, loss: str) -> None:
    prm = _prm(model_cache, "full")
    torch.manual_seed(0)
    with torch.no_grad():
        prm.head.weight.normal_(0, 1.0)
    ds = StepLabelDataset(_ranked_rows().head(8), prm)
    batch = make_collate(prm)(ds.examples)
    for cfg in (TrainConfig(loss=loss), TrainConfig(loss=loss, rank_weight=0.9)):  # pointwise ignores rank_weight
        got, _ = step_loss(prm, batch, cfg)
        assert torch.equal(got, _step_loss_before(prm, batch, cfg))
    toy = _toy_batch(_prm(model_cache))  # the head-mode (cached features) path too
    got, _ = step_loss(_prm_with_toy_head(model_cache), toy, TrainConfig(loss=loss))
    assert torch.equal(got, _step_loss_before(_prm_with_toy_head(model_cache), toy, TrainConfig(loss=loss)))
    assert TrainConfig().objective == "pointwise"


def _prm_with_toy_head(model_cache: Path) -> ProcessRewardModel:
    prm = _prm(model_cache)
    _toy_batch(prm)
    return prm


def test_cli_passes_the_objective_to_the_flow(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    import dreamprm.cli.train as cli_train
    from dreamprm.cli import app

    seen: dict = {}
    monkeypatch.setattr(cli_train, "stage_flow", lambda name: lambda **kw: seen.update(kw) or {"steps": 0})
    res = CliRunner().invoke(app, ["train", "--objective", "pairwise", "--rank-weight", "0.3"])
    assert res.exit_code == 0, res.output
    assert (seen["objective"], seen["rank_weight"], seen["rank_score"]) == ("pairwise", 0.3, "min")
