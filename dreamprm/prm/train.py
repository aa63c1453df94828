"""Warm-up training of the PRM on step labels (PAPER.md stage 6), on accelerate.

The data are step-label rows in TRL's stepwise layout (``prompt``, ``completions`` = step texts, ``soft_labels``,
``clean``): every step of a candidate is a training target; noisy Monte-Carlo labels and the clean full-program
verdicts are trained together, as in the authors' warm-up. The loss is MSE (or BCE) against soft labels smoothed as
``0.9 y + 0.05``.

Runs on the CPU here and with ``accelerate launch`` on many GPUs (the same code: :class:`accelerate.Accelerator`
handles devices, gradient accumulation and mixed precision). Checkpoints are accelerate states
(``<output_dir>/checkpoints/step-<n>``: model, optimizer, scheduler, RNG) written atomically; ``resume=True`` continues
from the newest one, skipping the batches it had already seen. The final model is saved with
:meth:`ProcessRewardModel.save_pretrained`.

In ``head`` mode (frozen trunk) the examples carry the trunk's step-end vectors from the feature cache
(:mod:`dreamprm.prm.features`, extracted once, before the first step) and each step runs only the head on them: the
same losses and weights as full forwards (tests/prm/test_features.py), at a fraction of the cost.

Objectives (``TrainConfig.objective``). ``pointwise`` (the default, the paper's) fits each step's score to its label.
A pointwise head mostly learns problem DIFFICULTY (easy problems: every candidate high; issue 14's pilot: global AUC
0.84, within-problem AUC 0.60), which best-of-N cannot use: it only compares candidates of one problem. ``pairwise``
and ``listwise`` add a ranking term over the candidates of the same problem, which is blind to anything constant
within a problem, so all of its gradient goes to what separates a problem's passing candidates from its failing ones:

    loss = (1 - rank_weight) * pointwise + rank_weight * rank

- ``pairwise`` (RankNet): ``softplus(s_fail - s_pass)`` averaged over the problem's (pass, fail) pairs;
- ``listwise``: ``-log sum_{pass} softmax(s)``, the negative log-probability that a softmax pick among the
  problem's candidates passes (the smooth version of pass@1 of the pick);

each averaged over the problems of the batch that have both a passing and a failing candidate (every such problem
weighs the same, whatever its number of pairs; a problem with one outcome class adds no ranking term). ``s`` is the
candidate's score as selection reads it (:func:`candidate_logits`, ``rank_score``); the outcome is the label of the
candidate's last step, the full program's clean verdict in both label writers (``dreamprm/labeling/outcome.py`` and
``montecarlo.py``). Ranking needs several candidates of a problem in one batch: :class:`ProblemBatchSampler`.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

import numpy as np
import pandas as pd
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset, Sampler

from dreamprm.errors import DreamPRMError, InputDataError, OptionError, check_choice
from dreamprm.io import write_text
from dreamprm.prm.meta import per_sample_loss, smooth
from dreamprm.prm.model import ProcessRewardModel
from dreamprm.prm.template import CandidateTooLong, EncodedExample, PRMInput

log = logging.getLogger(__name__)

LogFn = Callable[[dict[str, float], int], None]
Objective = Literal["pointwise", "pairwise", "listwise"]
OBJECTIVES: tuple[str, ...] = ("pointwise", "pairwise", "listwise")
RANK_SCORES: tuple[str, ...] = ("min", "last")


class NonFiniteLoss(DreamPRMError):
    """Training stopped: the loss of a batch is NaN or infinite (never trained through silently)."""

    def __init__(self, value: float, candidates: list[str], step: int) -> None:
        super().__init__(f"non-finite loss {value} at optimiser step {step} on the batch of candidates "
                         f"{candidates}; check their labels and inputs (the last checkpoint is intact)")
        self.candidates = candidates


@dataclass
class TrainConfig:
    """Warm-up settings; defaults follow PAPER.md (5 epochs, AdamW lr 1e-4, effective batch 32, MSE, smoothing)."""

    epochs: int = 5
    lr: float = 1e-4
    head_lr: float | None = None  # the new scalar head's rate; None = lr. A fresh head learns from nothing, so a
    # short run (few optimiser steps) needs it higher than the pretrained backbone's adapters.
    init_head_bias: bool = True  # start the head at the training labels' mean (logit), not at 0.5
    weight_decay: float = 0.0
    batch_size: int = 4
    grad_accum: int = 8
    loss: Literal["mse", "bce"] = "mse"
    label_smoothing: bool = True
    max_steps: int | None = None  # optimiser steps; None = epochs * batches / grad_accum
    warmup_ratio: float = 0.05
    eval_every: int = 50  # optimiser steps
    save_every: int = 50  # optimiser steps
    keep_checkpoints: int = 2
    mixed_precision: Literal["no", "bf16", "fp16"] = "no"  # bf16 for LoRA on a GPU; part of the stage identity
    seed: int = 0
    skip_too_long: bool = True  # leave out (and count) candidates whose code exceeds max_length; False: an error
    feature_cache: bool = True  # head mode: train on cached trunk features (False: a full forward per step, same
    # result, for checks)
    objective: Objective = "pointwise"  # pairwise | listwise: add a within-problem ranking term (module docstring);
    # batches then hold whole problems (ProblemBatchSampler) and batch_size is a per-process cap on candidates
    rank_weight: float = 0.5  # loss = (1 - w) * pointwise + w * rank; unused by the pointwise objective
    rank_score: Literal["min", "last"] = "min"  # the candidate score the ranking term orders (candidate_logits)

    def __post_init__(self) -> None:
        check_choice("loss", self.loss, ("mse", "bce"))
        check_choice("mixed_precision", self.mixed_precision, ("no", "bf16", "fp16"))
        check_choice("objective", self.objective, OBJECTIVES)
        check_choice("rank_score", self.rank_score, RANK_SCORES)
        if not 0.0 <= self.rank_weight <= 1.0:
            raise OptionError("rank_weight", self.rank_weight, "a weight in [0, 1]")
        for name in ("epochs", "batch_size", "grad_accum", "eval_every", "save_every"):
            if getattr(self, name) < 1:
                raise OptionError(name, getattr(self, name), "an integer >= 1")


@dataclass
class StepExample:
    """One candidate: its encoded input, one target per step, and which steps carry clean labels."""

    encoded: EncodedExample
    targets: list[float]
    clean: list[bool]
    candidate_id: str = ""
    index: int = 0
    features: torch.Tensor | None = None  # the frozen trunk's step-end vectors (head mode), (num_steps, hidden)
    problem_id: str = ""  # "" when the rows have no problem_id column (then no ranking objective)
    group: int = 0  # the problem's number in its dataset (first appearance order): what the ranking term pairs by

    @property
    def outcome(self) -> bool:
        """Whether the candidate passes: the label of its last step, the full program's clean verdict."""
        return self.targets[-1] >= 0.5


class StepLabelDataset(Dataset):
    """Step-label rows encoded for a PRM. Rows whose lists disagree in length are an error naming the row.

    A candidate whose code alone exceeds the PRM's ``max_length`` cannot be scored at all (its steps are never
    truncated): with ``skip_too_long`` it is left out, its id kept in ``skipped`` and a warning logged (the caller
    reports the count); otherwise :class:`CandidateTooLong` names it."""

    def __init__(self, rows: pd.DataFrame, prm: ProcessRewardModel, label_column: str = "soft_labels",
                 skip_too_long: bool = False) -> None:
        self.examples: list[StepExample] = []
        self.skipped: list[str] = []
        groups: dict[str, int] = {}
        for i, row in enumerate(rows.to_dict("records")):
            steps = list(row["completions"])
            labels = [float(x) for x in row[label_column]]
            clean = [bool(x) for x in row.get("clean", [False] * (len(steps) - 1) + [True])]
            cid = str(row.get("candidate_id", i))
            if not (len(steps) == len(labels) == len(clean)) or not steps:
                raise InputDataError(
                    f"candidate {cid}: {len(steps)} steps, {len(labels)} labels, {len(clean)} clean flags",
                    line=i, field=label_column, expected="one label and one clean flag per step",
                )
            if any(not 0.0 <= y <= 1.0 or math.isnan(y) for y in labels):
                raise InputDataError(f"candidate {cid}: labels outside [0, 1]: {labels}", line=i, field=label_column)
            try:
                encoded = prm.encoder.encode(PRMInput.from_label_row(row))
            except CandidateTooLong as exc:
                if not skip_too_long:
                    raise CandidateTooLong(f"candidate {cid} (row {i}): {exc}") from None
                self.skipped.append(cid)
                continue
            pid = "" if row.get("problem_id") is None else str(row["problem_id"])
            self.examples.append(StepExample(encoded, labels, clean, cid, len(self.examples), problem_id=pid,
                                             group=groups.setdefault(pid, len(groups))))
        if self.skipped:
            log.warning("left out %d of %d candidates longer than the PRM's max_length=%d (first: %s)",
                        len(self.skipped), len(rows), prm.encoder.max_length, self.skipped[0])

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> StepExample:
        return self.examples[i]

    def problem_groups(self) -> list[list[int]]:
        """Example indices by problem, in first-appearance order. An InputDataError when rows lack problem ids (a
        ranking objective cannot tell which candidates compete)."""
        missing = [e.candidate_id for e in self.examples if not e.problem_id]
        if missing:
            raise InputDataError(f"{len(missing)} step-label rows have no problem_id (first: {missing[0]}); a "
                                 "ranking objective compares the candidates of one problem", field="problem_id",
                                 expected="the problem_id column of the label stage")
        out: dict[int, list[int]] = {}
        for e in self.examples:
            out.setdefault(e.group, []).append(e.index)
        return list(out.values())


def _pack(sizes: Sequence[int], capacity: int) -> list[list[int]]:
    """Best-fit decreasing: chunk numbers into bins of at most ``capacity`` slots. The number of bins depends only
    on the sorted sizes, so reshuffling which chunk is which (every epoch) never changes the epoch's length, which
    resume needs (an epoch is a fixed number of steps). Ties keep the input order (the epoch's shuffle)."""
    bins: list[list[int]] = []
    free: list[deque[int]] = [deque() for _ in range(capacity + 1)]  # free[r]: open bins with r free slots
    for c in sorted(range(len(sizes)), key=lambda c: -sizes[c]):
        need = sizes[c]
        r = next((r for r in range(need, capacity + 1) if free[r]), None)
        if r is None:
            bins.append([c])
            b, left = len(bins) - 1, capacity - need
        else:
            b, left = free[r].popleft(), r - need
            bins[b].append(c)
        if left:
            free[left].append(b)
    return bins


class ProblemBatchSampler(Sampler[list[int]]):
    """Batches of whole problems, for the ranking objectives: every batch holds all the candidates of each problem
    in it, at most ``max_batch`` candidates in all. A problem with more candidates than that is cut into
    ``ceil(n / max_batch)`` near-equal chunks (each competes within itself; the summary counts such problems).
    Chunks are packed by :func:`_pack`; the problems, their candidates and the batch order are shuffled per epoch
    from ``(seed, epoch)`` only, so every process draws the same batches and a resumed run the same epoch. Each
    index appears exactly once per epoch; batches vary in size.

    Why no ``batch_size`` attribute: accelerate's ``BatchSamplerShard`` reads one as "every batch has this size".
    This sampler is used with ``split_batches=False`` (whole batches per process: splitting one would separate a
    problem's candidates); ``initial_seed`` and ``set_epoch`` are what :func:`_seed_epoch` looks for."""

    def __init__(self, groups: Sequence[Sequence[int]], max_batch: int, seed: int = 0) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self.groups = [list(g) for g in groups if len(g)]
        self.max_batch = max_batch
        self.initial_seed = seed
        self.epoch = 0
        self._len = len(_pack(self._chunk_sizes(), max_batch))

    def _chunk_sizes(self) -> list[int]:
        out: list[int] = []
        for g in self.groups:
            k = math.ceil(len(g) / self.max_batch)
            out += [len(range(j, len(g), k)) for j in range(k)]
        return out

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng([self.initial_seed, self.epoch])
        chunks: list[list[int]] = []
        for g in rng.permutation(len(self.groups)):
            members = [self.groups[g][i] for i in rng.permutation(len(self.groups[g]))]
            k = math.ceil(len(members) / self.max_batch)
            chunks += [members[j::k] for j in range(k)]
        bins = _pack([len(c) for c in chunks], self.max_batch)
        for b in rng.permutation(len(bins)):
            yield [i for c in bins[b] for i in chunks[c]]


def batch_candidates(batch: dict[str, torch.Tensor], dataset: "StepLabelDataset") -> list[str]:
    """The candidate ids of a collated batch (carried as dataset indices)."""
    return [dataset.examples[int(i)].candidate_id for i in batch["index"]]


def make_collate(prm: ProcessRewardModel) -> Callable[[Sequence[StepExample]], dict[str, torch.Tensor]]:
    """Pads a batch with the PRM's collate (or stacks the examples' cached ``features``, flattened in the same
    (example, step) order) and adds the targets and clean mask."""

    def collate(batch: Sequence[StepExample]) -> dict[str, torch.Tensor]:
        if all(b.features is not None for b in batch):
            out = {"features": torch.cat([b.features for b in batch])}  # type: ignore[misc]
        else:
            out = prm.collate([b.encoded for b in batch])
        out["targets"] = torch.tensor([y for b in batch for y in b.targets], dtype=torch.float32)
        out["clean"] = torch.tensor([c for b in batch for c in b.clean], dtype=torch.bool)
        out["index"] = torch.tensor([b.index for b in batch], dtype=torch.long)
        out["num_steps"] = torch.tensor([len(b.targets) for b in batch], dtype=torch.long)
        out["group"] = torch.tensor([b.group for b in batch], dtype=torch.long)
        out["outcome"] = torch.tensor([b.outcome for b in batch], dtype=torch.bool)
        return out

    return collate


def _step_logits(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """One logit per step of the batch, in (example, step) order. ``model`` is the PRM or the wrapper accelerate
    prepared around it (DDP, FSDP): the forward pass must go through the wrapper, or its gradient synchronisation
    never runs and each process trains its own replica."""
    device = next(model.parameters()).device
    if "features" in batch:  # head mode on cached trunk features: one logit per step already
        return model(features=batch["features"].to(device)).float()
    logits = model(batch["input_ids"].to(device), batch["attention_mask"].to(device))
    return logits[batch["marker_mask"].to(device)].float()


def _pointwise(logits: torch.Tensor, batch: dict[str, torch.Tensor],
               cfg: TrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean per-step loss against the smoothed labels (the paper's objective), and the step scores."""
    pred = torch.sigmoid(logits)
    target = smooth(batch["targets"].to(pred.device), cfg.label_smoothing)
    return per_sample_loss(pred, target, cfg.loss).mean(), pred


def candidate_logits(logits: torch.Tensor, num_steps: torch.Tensor, how: str = "min") -> torch.Tensor:
    """One score per candidate from its step logits, as best-of-N selection reads it: ``min`` (the default
    aggregation of ``dreamprm evaluate``, params.yaml ``evaluate.aggregation``) or ``last`` (the full program).

    Why the logit of these two: the sigmoid is monotone, so ordering candidates by their min (last) step logit is
    ordering them by the ``min`` (``last``) aggregation of :mod:`dreamprm.evaluate.aggregate`: the ranking term
    trains exactly the order the pick uses, without the sigmoid's vanishing gradient at confident scores. ``min``
    is the default because it is the evaluation's; its gradient reaches only each candidate's weakest step."""
    parts = logits.split([int(n) for n in num_steps])
    if how == "min":
        return torch.stack([p.min() for p in parts])
    if how == "last":
        return torch.stack([p[-1] for p in parts])
    raise ValueError(f"rank score must be one of {', '.join(RANK_SCORES)}, got {how!r}")


def rank_loss(scores: torch.Tensor, groups: torch.Tensor, outcomes: torch.Tensor,
              objective: str) -> tuple[torch.Tensor, int]:
    """The within-problem ranking term of a batch (module docstring) and the number of problems it averages: those
    with a passing and a failing candidate in the batch. With none, 0 (still attached to ``scores``, so a pure
    ranking run, ``rank_weight`` 1, can call backward on it)."""
    groups, outcomes = groups.to(scores.device), outcomes.to(scores.device)
    terms = []
    for g in torch.unique(groups):
        s, y = scores[groups == g], outcomes[groups == g]
        if bool(y.all()) or not bool(y.any()):
            continue
        if objective == "pairwise":
            terms.append(F.softplus(s[~y][None, :] - s[y][:, None]).mean())
        elif objective == "listwise":
            terms.append(torch.logsumexp(s, 0) - torch.logsumexp(s[y], 0))
        else:
            raise ValueError(f"no ranking term for objective {objective!r}")
    if not terms:
        return scores.sum() * 0.0, 0
    return torch.stack(terms).mean(), len(terms)


def step_loss(model: torch.nn.Module, batch: dict[str, torch.Tensor], cfg: TrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The training loss of a batch and the predicted step scores (detached): the mean per-step loss, mixed with
    the within-problem ranking term when ``cfg.objective`` is not pointwise."""
    logits = _step_logits(model, batch)
    loss, pred = _pointwise(logits, batch, cfg)
    if cfg.objective != "pointwise":
        scores = candidate_logits(logits, batch["num_steps"], cfg.rank_score)
        rank, _ = rank_loss(scores, batch["group"], batch["outcome"], cfg.objective)
        loss = (1.0 - cfg.rank_weight) * loss + cfg.rank_weight * rank
    return loss, pred.detach()


@torch.no_grad()
def evaluate(prm: ProcessRewardModel, loader: DataLoader, cfg: TrainConfig) -> dict[str, float]:
    """Loss over all steps; on clean (full-program) steps, accuracy of score > 0.5 and the Brier score. The loss is
    the pointwise one whatever the objective (comparable between objectives; the held-out batches are not grouped
    by problem)."""
    prm.eval()
    losses, n = 0.0, 0
    clean_pred: list[float] = []
    clean_true: list[float] = []
    for batch in loader:
        loss, pred = _pointwise(_step_logits(prm, batch), batch, cfg)
        k = int(batch["targets"].numel())
        losses += float(loss) * k
        n += k
        mask = batch["clean"].to(pred.device)
        clean_pred += pred[mask].cpu().tolist()
        clean_true += batch["targets"][batch["clean"]].tolist()
    prm.train()
    out = {"eval_loss": losses / max(n, 1)}
    if clean_pred:
        out["eval_clean_accuracy"] = sum((p > 0.5) == (t > 0.5) for p, t in zip(clean_pred, clean_true)) / len(clean_pred)
        out["eval_clean_brier"] = sum((p - t) ** 2 for p, t in zip(clean_pred, clean_true)) / len(clean_pred)
    return out


def init_head_to_prior(prm: ProcessRewardModel, dataset: StepLabelDataset) -> float:
    """Set the head's bias to the logit of the mean (smoothed) training target, so a fresh PRM starts from the label
    prior instead of 0.5. Without it a short warm-up spends its few steps learning the base rate (with 19 steps at
    lr 1e-4 it does not even get there, and every candidate scores the same). Returns the prior."""
    targets = [y for e in dataset.examples for y in e.targets]
    prior = float(smooth(torch.tensor(targets), True).mean()) if targets else 0.5
    prior = min(max(prior, 1e-3), 1 - 1e-3)
    with torch.no_grad():
        prm.head.bias.fill_(math.log(prior / (1 - prior)))
    return prior


def attach_features(prm: ProcessRewardModel, datasets: Sequence[StepLabelDataset | None],
                    feature_dir: str | Path | None, accelerator: Any) -> dict[str, float]:
    """Give every example of ``datasets`` its cached trunk features (head mode). The main process extracts what is
    missing; the others then read the same files. Returns the cache's stats (computed, seconds)."""
    from dreamprm.prm.features import FeatureCache

    prm.to(accelerator.device)  # extraction is the one trunk pass: on the accelerator where there is one
    cache = FeatureCache(prm, feature_dir)
    examples = [e for ds in datasets if ds is not None for e in ds.examples]
    feats: list[torch.Tensor] = []
    for rank_may_run in (accelerator.is_main_process, not accelerator.is_main_process):
        if rank_may_run:
            feats = cache.get([e.encoded for e in examples])
        accelerator.wait_for_everyone()
    for e, f in zip(examples, feats):
        e.features = f
    return {f"features_{k}": v for k, v in cache.stats.items()}


def latest_checkpoint(output_dir: Path) -> Path | None:
    ckpts = sorted((output_dir / "checkpoints").glob("step-*"), key=lambda p: int(p.name.split("-")[1]))
    return ckpts[-1] if ckpts else None


def _save_checkpoint(accelerator: Any, output_dir: Path, step: int, keep: int) -> Path:
    """accelerate state into a temporary folder, renamed into place: a kill never leaves a half checkpoint. Every
    process writes its part (RNG states); only the main process renames and prunes."""
    final = output_dir / "checkpoints" / f"step-{step}"
    tmp = output_dir / "checkpoints" / f".tmp-step-{step}"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (tmp / "trainer_state.json").write_text(json.dumps({"step": step}))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        ckpts = sorted((output_dir / "checkpoints").glob("step-*"), key=lambda p: int(p.name.split("-")[1]))
        for old in ckpts[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


IDENTITY_FILE = "identity.json"


def _seed_epoch(loader: Any, epoch: int) -> None:
    """Point the loader's seedable sampler at ``epoch`` (its order is a function of seed and epoch only)."""
    loader.set_epoch(epoch)
    obj: Any = loader
    for _ in range(4):  # DataLoaderShard -> BatchSamplerShard -> BatchSampler -> SeedableRandomSampler
        obj = getattr(obj, "batch_sampler", None) or getattr(obj, "sampler", None)
        if obj is None:
            return
        if hasattr(obj, "initial_seed") and hasattr(obj, "set_epoch"):
            obj.set_epoch(epoch)
            return


def training_identity(prm: ProcessRewardModel, train_rows: pd.DataFrame, eval_rows: pd.DataFrame | None,
                      cfg: TrainConfig) -> str:
    """The resume identity of a direct :func:`train_prm` call (the train stage passes its own stage identity
    instead): PRM and training config (seed included), the training and held-out rows' contents, and the version of
    the PRM code."""
    from dreamprm.identity import frame_digest, stage_identity

    inputs = {"train_rows": frame_digest(train_rows.astype(str))}
    if eval_rows is not None:
        inputs["eval_rows"] = frame_digest(eval_rows.astype(str))
    return stage_identity("train", {"prm": prm.config.to_dict(), "train": asdict(cfg)}, inputs)


def _check_resume_identity(output_dir: Path, identity: str) -> str | None:
    """Checkpoints of another identity (other labels, config or PRM code) must not be resumed: they are removed and
    the run starts fresh. Returns the reason, or None when there is nothing to discard."""
    if latest_checkpoint(output_dir) is None:
        return None
    try:
        old = json.loads((output_dir / IDENTITY_FILE).read_text()).get("identity")
    except (OSError, ValueError):
        old = None
    if old == identity:
        return None
    reason = (f"checkpoints in {output_dir / 'checkpoints'} belong to identity {old or 'unknown'}, this run is "
              f"{identity} (labels, config or PRM code changed): starting fresh")
    log.warning(reason)
    shutil.rmtree(output_dir / "checkpoints", ignore_errors=True)
    return reason


def train_prm(
    prm: ProcessRewardModel,
    train_rows: pd.DataFrame,
    eval_rows: pd.DataFrame | None,
    cfg: TrainConfig,
    output_dir: str | Path,
    *,
    resume: bool = True,
    log: LogFn | None = None,
    progress: Callable[[int, int], None] | None = None,
    feature_dir: str | Path | None = None,
    device: str = "auto",
    identity: str | None = None,
) -> dict[str, Any]:
    """Train ``prm`` in place; returns a summary (steps, examples/s, peak memory, last metrics; in head mode the
    feature extraction's count and seconds). ``feature_dir``: the trunk-feature cache (default: the settings').
    ``identity``: what a checkpoint must match to be resumed; the train stage passes its stage identity (the one
    behind its Prefect cache key and MLflow tag), a direct call gets :func:`training_identity` of its rows.
    ``device``: ``auto`` | ``cpu`` | ``cuda`` (:mod:`dreamprm.prm.device`); accelerate places the model and batches
    (under a distributed launch, each process on its own card)."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from transformers import get_linear_schedule_with_warmup

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    set_seed(cfg.seed)
    # split_batches: batch_size is the GLOBAL batch, divided among the processes, so one process and N processes
    # see the same batches and reach the same weights (tests/prm/test_distributed.py).
    # use_seedable_sampler: the shuffle order depends on the seed and epoch only, not on the process count.
    # A ranking objective keeps whole problems on one process instead (ProblemBatchSampler, split_batches=False):
    # each process takes whole batches in turn, so N processes with grad_accum g step on the same batches as one
    # process with grad_accum N * g.
    from accelerate.utils import DataLoaderConfiguration

    ranked = cfg.objective != "pointwise"
    from dreamprm.prm.device import resolve_device

    on_cpu = resolve_device(device).type == "cpu"  # "cuda" without a GPU fails here, before any work
    accelerator = Accelerator(cpu=on_cpu, gradient_accumulation_steps=cfg.grad_accum,
                              mixed_precision=cfg.mixed_precision,
                              dataloader_config=DataLoaderConfiguration(split_batches=not ranked,
                                                                        use_seedable_sampler=True))
    train_ds = StepLabelDataset(train_rows, prm, skip_too_long=cfg.skip_too_long)
    if len(train_ds) == 0:
        raise InputDataError("no training rows: the step-label table is empty", field="completions")
    eval_ds = (StepLabelDataset(eval_rows, prm, skip_too_long=cfg.skip_too_long)
               if eval_rows is not None and len(eval_rows) else None)
    extraction: dict[str, float] = {}
    if cfg.feature_cache and prm.config.finetune == "head":
        extraction = attach_features(prm, [train_ds, eval_ds], feature_dir, accelerator)
    collate = make_collate(prm)
    rank_stats: dict[str, int] = {}
    if ranked:
        problems = train_ds.problem_groups()
        sampler = ProblemBatchSampler(problems, cfg.batch_size, cfg.seed)
        train_dl = DataLoader(train_ds, batch_sampler=sampler, collate_fn=collate)
        rank_stats = ranking_counts(train_ds, problems, cfg.batch_size)
        batches = math.ceil(len(train_dl) / accelerator.num_processes)  # each process takes every N-th batch
    else:
        g = torch.Generator().manual_seed(cfg.seed)
        train_dl = DataLoader(train_ds, batch_size=cfg.batch_size, shuffle=True, collate_fn=collate, generator=g)
        batches = len(train_dl)  # split_batches: every process sees every batch, a slice of it
    eval_dl = DataLoader(eval_ds, batch_size=cfg.batch_size, collate_fn=collate) if eval_ds is not None else None
    steps_per_epoch = max(1, math.ceil(batches / cfg.grad_accum))
    total_steps = cfg.max_steps or cfg.epochs * steps_per_epoch
    identity = identity or training_identity(prm, train_rows, eval_rows, cfg)
    fresh_reason = _check_resume_identity(output_dir, identity) if resume and accelerator.is_main_process else None
    accelerator.wait_for_everyone()
    if cfg.init_head_bias and not (resume and latest_checkpoint(output_dir) is not None):
        init_head_to_prior(prm, train_ds)
    head = [p for p in prm.head.parameters() if p.requires_grad]
    body = [p for n, p in prm.named_parameters() if p.requires_grad and not n.startswith("head.")]
    groups = [{"params": body}] if body else []
    groups.append({"params": head, "lr": cfg.head_lr or cfg.lr})
    opt = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    # Without split_batches accelerate steps a prepared scheduler once per process at every optimiser step.
    ticks = 1 if not ranked else accelerator.num_processes
    sched = get_linear_schedule_with_warmup(opt, int(cfg.warmup_ratio * total_steps) * ticks, total_steps * ticks)
    prm, opt, train_dl, sched = accelerator.prepare(prm, opt, train_dl, sched)
    unwrapped: ProcessRewardModel = accelerator.unwrap_model(prm)

    step = 0
    ckpt = latest_checkpoint(output_dir) if resume else None
    if ckpt is not None:
        accelerator.load_state(str(ckpt))
        step = int(json.loads((ckpt / "trainer_state.json").read_text())["step"])
    if accelerator.is_main_process:
        write_text(json.dumps(asdict(cfg), indent=2), output_dir / "train_config.json")
        write_text(json.dumps({"identity": identity}) + "\n", output_dir / IDENTITY_FILE)

    start_step, seen, t0 = step, 0, time.perf_counter()
    metrics: dict[str, float] = {}
    unwrapped.train()
    epoch = step // steps_per_epoch
    while step < total_steps:
        # On resume, skip the batches of this epoch that the checkpointed steps had already consumed.
        skip = (step - epoch * steps_per_epoch) * cfg.grad_accum
        _seed_epoch(train_dl, epoch)  # the shuffle of epoch e is the same in a resumed run as in an unbroken one
        loader = accelerator.skip_first_batches(train_dl, skip) if skip > 0 else train_dl
        for batch in loader:
            with accelerator.accumulate(prm):
                loss, _ = step_loss(prm, batch, cfg)  # through the prepared (possibly DDP) model
                if not torch.isfinite(loss):
                    raise NonFiniteLoss(float(loss), batch_candidates(batch, train_ds), step)
                accelerator.backward(loss)
                opt.step()
                sched.step()
                opt.zero_grad(set_to_none=True)
            seen += int(batch["index"].shape[0])
            if accelerator.sync_gradients:
                step += 1
                metrics = {"train_loss": float(loss.detach()), "lr": sched.get_last_lr()[0], "epoch": float(epoch)}
                if eval_dl is not None and (step % cfg.eval_every == 0 or step == total_steps):
                    metrics.update(evaluate(unwrapped, eval_dl, cfg))
                if log:
                    log(metrics, step)
                if progress:
                    progress(step, total_steps)
                if step % cfg.save_every == 0 or step == total_steps:
                    _save_checkpoint(accelerator, output_dir, step, cfg.keep_checkpoints)
                if step >= total_steps:
                    break
        epoch += 1
    elapsed = time.perf_counter() - t0
    # Mixed precision wrapped the model's forward in autocast; it leaves training computing as it will once saved
    # and reloaded (in its own dtype), so scores taken in this process equal a reloaded model's. accelerate also
    # marked it prepared, which would make a later train_prm on the same model skip its precision and placement.
    trained = accelerator.unwrap_model(prm, keep_fp32_wrapper=False)
    trained.__dict__.pop("_is_accelerate_prepared", None)
    summary = {
        "identity": identity,
        "fresh_start_reason": fresh_reason,
        "steps": step,
        "resumed_from_step": start_step,
        "examples_seen": seen,
        "skipped_too_long": len(train_ds.skipped),
        **rank_stats,
        "examples_per_s": seen / elapsed if elapsed > 0 else 0.0,
        "train_seconds": elapsed,
        "peak_rss_mb": _peak_rss_mb(),
        "device": str(accelerator.device),
        **extraction,
        **metrics,
    }
    write_text(json.dumps(summary, indent=2), output_dir / "train_summary.json")
    return summary


def ranking_counts(dataset: StepLabelDataset, groups: Sequence[Sequence[int]], max_batch: int) -> dict[str, int]:
    """What the ranking term can use, for the summary: problems with both outcomes (``rank_problems``), problems
    with a single outcome class (``rank_problems_single_class``: no ranking term, pointwise loss only), and
    problems cut into several batches for having more than ``max_batch`` candidates (``rank_problems_split``: pairs
    across their chunks are never formed)."""
    mixed = [g for g in groups if len({dataset.examples[i].outcome for i in g}) == 2]
    return {"rank_problems": len(mixed), "rank_problems_single_class": len(groups) - len(mixed),
            "rank_problems_split": sum(len(g) > max_batch for g in groups)}


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def outcome_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """Step-label rows turned into outcome-only rows (the ORM baseline): the whole program as one step whose label is
    its clean final verdict; no Monte-Carlo step labels are used."""
    out = rows.copy()
    out["completions"] = [["".join(steps)] for steps in rows["completions"]]
    out["soft_labels"] = [[float(list(labels)[-1])] for labels in rows["soft_labels"]]
    out["clean"] = [[True] for _ in range(len(rows))]
    return out
