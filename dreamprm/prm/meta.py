"""Bi-level meta-correction of noisy Monte-Carlo step labels (DreamPRM-Code, stage 7).

Lower level: the PRM is trained on the NOISY step set (Monte-Carlo soft labels of prefixes).
Upper level: the PRM's loss on a CLEAN meta set (full programs with unit-test verdicts, held apart by problem)
drives "correction" variables of the noisy set through a hypergradient.

Three modes:
- ``labels``: each noisy label gets a learnable correction. The corrected label is ``sigmoid(phi_i)``, so it stays in
  [0, 1]; ``phi_i`` starts at ``logit(noisy_i)``. This is what the paper describes.
- ``weights``: each noisy sample gets a learnable loss weight, initialised to 1.0 and clamped to [0, 2] after every
  meta update. This is what the authors' released code does (instance reweighting).
- ``none``: the ablation; the lower level alone, no meta updates.

The hypergradient (one-step unrolled, DARTS-style): with theta the PRM's trainable parameters and phi the correction
variables,

    theta'(phi) = theta - alpha * grad_theta L_noisy(theta, phi)          (a virtual SGD step, alpha = virtual_lr)
    d L_clean(theta'(phi)) / d phi                                         (exact, through the virtual step)

computed with ``torch.func.functional_call`` + ``torch.func.grad`` (the inner gradient is itself differentiated, a
Hessian-vector product in effect). Approximations, documented: the virtual step is plain SGD even though the real
lower-level optimiser is AdamW; only one step is unrolled (the authors use Betty with the same one-step unroll but a
finite-difference Hessian-vector product, which this replaces with the exact one); phi is updated before the real
PRM step on the same noisy batch.

Two details that matter with mini-batches: a step only sees the correction variables of its batch, so phi is
updated by ``torch.optim.SparseAdam`` (moments and updates only for the rows in the batch: a variable whose
candidates left the batch does not drift on stale momentum, as it would with a dense Adam); and the hypergradient is
computed with the model in eval mode (no dropout), so the virtual step and the clean loss are deterministic functions
of phi. The real lower-level step keeps dropout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad

MetaMode = Literal["labels", "weights", "none"]
Params = dict[str, Tensor]
# predict(params, inputs) -> scores in [0, 1], shape [B]; `params` holds the trainable parameters by name.
PredictFn = Callable[[Params, Any], Tensor]


@dataclass
class MetaConfig:
    """Settings of the bi-level correction (defaults follow PAPER.md where it gives them)."""

    mode: MetaMode = "weights"
    lr: float = 1e-4  # the PRM's real optimiser (AdamW)
    meta_lr: float = 1e-2  # the correction variables' optimiser (Adam)
    virtual_lr: float | None = None  # step size of the unrolled virtual step; defaults to lr
    loss: Literal["mse", "bce"] = "mse"
    label_smoothing: bool = True  # y -> 0.9 y + 0.05, as in the authors' warm-up
    weight_bounds: tuple[float, float] = (0.0, 2.0)
    label_eps: float = 1e-3  # keeps logit(noisy label) finite
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        if self.mode not in ("labels", "weights", "none"):
            raise ValueError(f"meta mode must be 'labels', 'weights' or 'none', got {self.mode!r}")
        if self.loss not in ("mse", "bce"):
            raise ValueError(f"loss must be 'mse' or 'bce', got {self.loss!r}")


def smooth(y: Tensor, enabled: bool) -> Tensor:
    """The label smoothing of the authors' code: 0.9 y + 0.05 (keeps BCE targets off 0 and 1)."""
    return 0.9 * y + 0.05 if enabled else y


def per_sample_loss(pred: Tensor, target: Tensor, kind: str) -> Tensor:
    """Per-sample MSE or BCE between scores in [0,1] and soft targets in [0,1]."""
    if kind == "mse":
        return (pred - target) ** 2
    p = pred.clamp(1e-6, 1 - 1e-6)
    return -(target * torch.log(p) + (1 - target) * torch.log1p(-p))


@dataclass
class MetaStepResult:
    noisy_loss: float
    clean_loss: float | None
    hypergrad_norm: float | None
    extra: dict[str, float] = field(default_factory=dict)


class BilevelCorrector:
    """Runs the lower-level PRM updates and (unless mode is ``none``) the upper-level correction updates.

    ``model`` is any ``nn.Module``; ``predict(params, inputs)`` turns a dict of its trainable parameters and a batch of
    inputs into scores (use ``functional_call(model, params, ...)`` inside). Noisy batches carry the dataset indices of
    their samples so that each sample keeps its own correction variable.
    """

    def __init__(self, model: nn.Module, predict: PredictFn, noisy_labels: Tensor, config: MetaConfig) -> None:
        self.model = model
        self.predict = predict
        self.cfg = config
        labels = noisy_labels.detach().clone()  # a floating dtype is kept (float64 for exact checks)
        self.noisy_labels = labels if labels.is_floating_point() else labels.float()
        if config.mode == "labels":
            y = self.noisy_labels.clamp(config.label_eps, 1 - config.label_eps)
            self.phi = torch.logit(y).clone().requires_grad_(True)
        elif config.mode == "weights":
            self.phi = torch.ones_like(self.noisy_labels).requires_grad_(True)
        else:
            self.phi = torch.zeros(0, device=self.noisy_labels.device, requires_grad=False)
        self.trainable = [name for name, p in model.named_parameters() if p.requires_grad]
        self.opt = torch.optim.AdamW(
            [p for p in model.parameters() if p.requires_grad], lr=config.lr, weight_decay=config.weight_decay
        )
        self.meta_opt = torch.optim.SparseAdam([self.phi], lr=config.meta_lr) if config.mode != "none" else None

    # ----- what the correction variables mean -----
    def targets_and_weights(self, idx: Tensor, phi: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Targets and loss weights of noisy samples ``idx`` under correction variables ``phi``."""
        phi = self.phi if phi is None else phi
        y = self.noisy_labels[idx]
        w = torch.ones_like(y)
        if self.cfg.mode == "labels":
            y = torch.sigmoid(phi[idx])
        elif self.cfg.mode == "weights":
            w = phi[idx]
        return smooth(y, self.cfg.label_smoothing), w

    def corrected_labels(self) -> Tensor:
        """The labels as currently corrected (``labels`` mode), else the noisy labels."""
        if self.cfg.mode == "labels":
            return torch.sigmoid(self.phi.detach())
        return self.noisy_labels.clone()

    def sample_weights(self) -> Tensor:
        """The per-sample loss weights (``weights`` mode), else ones."""
        if self.cfg.mode == "weights":
            return self.phi.detach().clone()
        return torch.ones_like(self.noisy_labels)

    # ----- losses as functions of parameters (for torch.func) -----
    def _params(self) -> Params:
        named = dict(self.model.named_parameters())
        return {k: named[k] for k in self.trainable}

    def noisy_loss(self, params: Mapping[str, Tensor], phi: Tensor, idx: Tensor, inputs: Any) -> Tensor:
        target, w = self.targets_and_weights(idx, phi)
        pred = self.predict(dict(params), inputs)
        return (w * per_sample_loss(pred, target, self.cfg.loss)).mean()

    def clean_loss(self, params: Mapping[str, Tensor], inputs: Any, labels: Tensor) -> Tensor:
        pred = self.predict(dict(params), inputs)
        return per_sample_loss(pred, smooth(labels.float(), self.cfg.label_smoothing), self.cfg.loss).mean()

    def hypergradient(self, idx: Tensor, noisy_inputs: Any, clean_inputs: Any, clean_labels: Tensor) -> tuple[Tensor, float]:
        """d L_clean(theta - a * grad_theta L_noisy(theta, phi)) / d phi, and the clean loss after the virtual step."""
        params = {k: v.detach() for k, v in self._params().items()}
        alpha = self.cfg.virtual_lr if self.cfg.virtual_lr is not None else self.cfg.lr

        def upper(phi: Tensor) -> tuple[Tensor, Tensor]:
            inner_grads = grad(lambda p: self.noisy_loss(p, phi, idx, noisy_inputs))(params)
            virtual = {k: params[k] - alpha * inner_grads[k] for k in params}
            loss = self.clean_loss(virtual, clean_inputs, clean_labels)
            return loss, loss.detach()

        was_training = self.model.training
        self.model.eval()  # no dropout inside the hypergradient
        try:
            g, clean = grad(upper, has_aux=True)(self.phi.detach())
        finally:
            self.model.train(was_training)
        return g, float(clean)

    # ----- one training step -----
    def step(
        self,
        idx: Tensor,
        noisy_inputs: Any,
        clean_inputs: Any | None = None,
        clean_labels: Tensor | None = None,
    ) -> MetaStepResult:
        """One bi-level iteration: a correction update from the clean batch (if any), then a real PRM update. The
        correction variables live on the noisy labels' device (the model's, for a PRM on a GPU)."""
        idx = idx.to(self.noisy_labels.device)  # SparseAdam's sparse gradient needs its indices beside its values
        hyper_norm = None
        clean_loss = None
        if self.cfg.mode != "none" and clean_inputs is not None and clean_labels is not None:
            g, clean_loss = self.hypergradient(idx, noisy_inputs, clean_inputs, clean_labels)
            assert self.meta_opt is not None
            self.meta_opt.zero_grad(set_to_none=True)
            rows = torch.unique(idx)  # only this batch's variables: a sparse gradient for SparseAdam
            self.phi.grad = torch.sparse_coo_tensor(rows.unsqueeze(0), g[rows], g.shape, check_invariants=True)
            self.meta_opt.step()
            if self.cfg.mode == "weights":
                with torch.no_grad():
                    self.phi.clamp_(*self.cfg.weight_bounds)
            hyper_norm = float(g.norm())
        self.opt.zero_grad(set_to_none=True)
        loss = self.noisy_loss(self._params(), self.phi.detach(), idx, noisy_inputs)
        loss.backward()
        self.opt.step()
        return MetaStepResult(noisy_loss=float(loss.detach()), clean_loss=clean_loss, hypergrad_norm=hyper_norm)


def functional_predict(model: nn.Module, forward: Callable[..., Tensor] | None = None) -> PredictFn:
    """A ``predict`` for BilevelCorrector: calls ``model`` with the given parameters via ``functional_call``.

    ``forward(module_output) -> scores`` post-processes the output (identity by default); ``inputs`` may be a tensor,
    a tuple of positional arguments, or a dict of keyword arguments.
    """

    def predict(params: Params, inputs: Any) -> Tensor:
        if isinstance(inputs, dict):
            out = functional_call(model, params, args=(), kwargs=inputs, strict=False)
        elif isinstance(inputs, tuple):
            out = functional_call(model, params, inputs, strict=False)
        else:
            out = functional_call(model, params, (inputs,), strict=False)
        return forward(out) if forward is not None else out

    return predict
