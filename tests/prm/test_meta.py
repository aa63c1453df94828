"""Bi-level meta-correction: unit checks and the sanity experiment (a small learnable problem with known noise).

The sanity experiment can fail: it asserts that both correction modes beat the uncorrected ablation on held-out
clean data, and that learnable label corrections move the corrupted labels toward the truth.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dreamprm.prm.meta import BilevelCorrector, MetaConfig, functional_predict, per_sample_loss


class Logistic(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.linear = nn.Linear(d, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.linear(x)).squeeze(-1)


def make_problem(seed: int = 0, d: int = 8, n_noisy: int = 256, n_clean: int = 48, n_test: int = 1024,
                 corrupt: float = 0.4):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(d, generator=g)

    def sample(n: int):
        x = torch.randn(n, d, generator=g)
        return x, torch.sigmoid(3.0 * x @ w / d**0.5)

    x_noisy, y_true = sample(n_noisy)
    corrupted = torch.rand(n_noisy, generator=g) < corrupt
    y_noisy = torch.where(corrupted, 1.0 - y_true, y_true)
    x_clean, y_clean = sample(n_clean)
    x_test, y_test = sample(n_test)
    return dict(x_noisy=x_noisy, y_noisy=y_noisy, y_true=y_true, corrupted=corrupted,
                x_clean=x_clean, y_clean=(y_clean > 0.5).float(), x_test=x_test, y_test=y_test)


def train(mode: str, data: dict, steps: int = 300, seed: int = 0, batch: int = 0,
          meta_batch: int = 0) -> tuple[float, BilevelCorrector]:
    """``batch``/``meta_batch`` 0: full batch; otherwise random mini-batches of that size per step."""
    torch.manual_seed(seed)
    model = Logistic(data["x_noisy"].shape[1])
    cfg = MetaConfig(mode=mode, lr=5e-2, meta_lr=5e-2, virtual_lr=5e-1, loss="mse", label_smoothing=False)
    corr = BilevelCorrector(model, functional_predict(model), data["y_noisy"], cfg)
    n, m = len(data["y_noisy"]), len(data["y_clean"])
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randperm(n, generator=g)[:batch] if batch else torch.arange(n)
        cidx = torch.randperm(m, generator=g)[:meta_batch] if meta_batch else torch.arange(m)
        corr.step(idx, data["x_noisy"][idx], data["x_clean"][cidx], data["y_clean"][cidx])
    with torch.no_grad():
        test_loss = float(per_sample_loss(model(data["x_test"]), data["y_test"], "mse").mean())
    return test_loss, corr


@pytest.fixture(scope="module")
def sanity() -> dict:
    data = make_problem()
    return {"data": data, **{m: train(m, data) for m in ("none", "weights", "labels")}}


def test_both_correction_modes_beat_no_correction_on_clean_data(sanity: dict) -> None:
    none_loss = sanity["none"][0]
    assert sanity["weights"][0] < none_loss, (sanity["weights"][0], none_loss)
    assert sanity["labels"][0] < none_loss, (sanity["labels"][0], none_loss)


def test_label_corrections_move_corrupted_labels_toward_truth(sanity: dict) -> None:
    data = sanity["data"]
    corrected = sanity["labels"][1].corrected_labels()
    bad = data["corrupted"]
    before = (data["y_noisy"][bad] - data["y_true"][bad]).abs().mean()
    after = (corrected[bad] - data["y_true"][bad]).abs().mean()
    assert after < before, (float(after), float(before))
    assert corrected.min() >= 0 and corrected.max() <= 1


def test_weights_down_weight_corrupted_samples_and_stay_bounded(sanity: dict) -> None:
    data = sanity["data"]
    w = sanity["weights"][1].sample_weights()
    assert w.min() >= 0 and w.max() <= 2
    assert w[data["corrupted"]].mean() < w[~data["corrupted"]].mean()


@pytest.fixture(scope="module")
def sanity_minibatch() -> dict:
    """The same experiment with mini-batches of 32 noisy and 8 clean samples, as the correct stage runs it."""
    data = make_problem()
    return {"data": data, **{m: train(m, data, steps=600, batch=32, meta_batch=8)
                             for m in ("none", "weights", "labels")}}


@pytest.mark.slow
def test_sanity_experiment_holds_with_mini_batches(sanity_minibatch: dict) -> None:
    s, data = sanity_minibatch, sanity_minibatch["data"]
    assert s["weights"][0] < s["none"][0] and s["labels"][0] < s["none"][0], (s["none"][0], s["weights"][0],
                                                                              s["labels"][0])
    bad = data["corrupted"]
    corrected = s["labels"][1].corrected_labels()
    assert (corrected[bad] - data["y_true"][bad]).abs().mean() < (data["y_noisy"][bad] - data["y_true"][bad]).abs().mean()
    w = s["weights"][1].sample_weights()
    assert w[bad].mean() < w[~bad].mean()


def test_only_the_batch_variables_move() -> None:
    """SparseAdam: a step changes the correction variables of its batch and no other, even after earlier steps gave
    every variable momentum (a dense Adam would keep moving them)."""
    data = make_problem(n_noisy=32)
    model = Logistic(8)
    corr = BilevelCorrector(model, functional_predict(model), data["y_noisy"],
                            MetaConfig(mode="labels", lr=5e-2, meta_lr=5e-2, virtual_lr=5e-1, label_smoothing=False))
    everyone = torch.arange(32)
    for _ in range(3):
        corr.step(everyone, data["x_noisy"], data["x_clean"], data["y_clean"])
    before = corr.phi.detach().clone()
    batch = torch.tensor([0, 1, 2, 3])
    corr.step(batch, data["x_noisy"][batch], data["x_clean"], data["y_clean"])
    moved = (corr.phi.detach() - before).abs() > 0
    assert moved[batch].all() and not moved[4:].any()


def test_hypergradient_runs_without_dropout() -> None:
    """With dropout in the model, two hypergradients of the same state are identical (eval mode inside), and the
    model is back in training mode afterwards."""

    class Dropped(Logistic):
        def __init__(self, d: int) -> None:
            super().__init__(d)
            self.drop = nn.Dropout(0.5)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.sigmoid(self.linear(self.drop(x))).squeeze(-1)

    data = make_problem(n_noisy=16, n_clean=8)
    model = Dropped(8)
    model.train()
    corr = BilevelCorrector(model, functional_predict(model), data["y_noisy"], MetaConfig(mode="weights"))
    idx = torch.arange(16)
    g1, _ = corr.hypergradient(idx, data["x_noisy"], data["x_clean"], data["y_clean"])
    g2, _ = corr.hypergradient(idx, data["x_noisy"], data["x_clean"], data["y_clean"])
    assert torch.equal(g1, g2) and model.training


def test_hypergradient_matches_finite_differences() -> None:
    """The torch.func hypergradient equals a central finite difference of the unrolled objective."""
    torch.manual_seed(1)
    data = make_problem(seed=1, n_noisy=16, n_clean=8)
    model = Logistic(8).double()
    cfg = MetaConfig(mode="labels", lr=0.1, virtual_lr=0.5, label_smoothing=True)
    corr = BilevelCorrector(model, functional_predict(model), data["y_noisy"].double(), cfg)
    corr.phi = corr.phi.detach().double().requires_grad_(True)
    idx = torch.arange(16)
    xn, xc, yc = data["x_noisy"].double(), data["x_clean"].double(), data["y_clean"].double()
    g, _ = corr.hypergradient(idx, xn, xc, yc)

    def objective(phi: torch.Tensor) -> float:
        params = {k: v.detach().clone().requires_grad_(True) for k, v in corr._params().items()}
        loss = corr.noisy_loss(params, phi, idx, xn)
        grads = torch.autograd.grad(loss, list(params.values()))
        virtual = {k: p - 0.5 * gr for (k, p), gr in zip(params.items(), grads)}
        return float(corr.clean_loss(virtual, xc, yc).detach())

    eps = 1e-6
    for i in (0, 5, 11):
        e = torch.zeros_like(corr.phi)
        e[i] = eps
        fd = (objective(corr.phi.detach() + e) - objective(corr.phi.detach() - e)) / (2 * eps)
        assert abs(fd - float(g[i])) < 1e-7 + 1e-4 * abs(fd), (i, fd, float(g[i]))


def test_none_mode_has_no_correction_variables() -> None:
    model = Logistic(4)
    corr = BilevelCorrector(model, functional_predict(model), torch.rand(5), MetaConfig(mode="none"))
    res = corr.step(torch.arange(5), torch.randn(5, 4), torch.randn(3, 4), torch.ones(3))
    assert res.hypergrad_norm is None and res.clean_loss is None
    assert torch.equal(corr.sample_weights(), torch.ones(5))


def test_bad_mode_is_rejected() -> None:
    with pytest.raises(ValueError, match="meta mode"):
        MetaConfig(mode="bogus")  # type: ignore[arg-type]
