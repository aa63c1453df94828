"""The correct stage: bi-level meta-correction of a warmed-up PRM (see :mod:`dreamprm.prm.meta` for the maths).

Data: step-label rows (TRL layout + ``soft_labels`` + ``clean``). Problems are split into a lower set and a meta set
(held apart by problem, so the upper level judges the PRM on programs of problems it does not train on):
- the NOISY set: every non-clean step (a Monte-Carlo prefix label) of the lower set's candidates;
- the CLEAN meta set: the full-program step (its unit-test verdict) of the meta set's candidates.

Each candidate is encoded once; a batch's forward pass reads the scores at the selected markers only, so a noisy
sample is one (candidate, step) pair with its own correction variable.

In ``head`` mode (frozen trunk) every candidate's step-end trunk vectors come from the feature cache
(:mod:`dreamprm.prm.features`), extracted once before the first iteration; an iteration, hypergradient included, then
differentiates only the head over a few vectors, so thousands of iterations take minutes on a CPU. The results equal
those of full forwards (``feature_cache=False``; tests/prm/test_features.py).
"""

from __future__ import annotations

import logging
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Literal

import pandas as pd
import torch
from torch.func import functional_call
from torch.nn.attention import SDPBackend, sdpa_kernel

from dreamprm.errors import InputDataError, OptionError, check_choice
from dreamprm.prm.meta import BilevelCorrector, MetaConfig, MetaMode
from dreamprm.prm.model import ProcessRewardModel
from dreamprm.prm.template import CandidateTooLong, EncodedExample, PRMInput

log = logging.getLogger(__name__)


@dataclass
class CorrectConfig:
    """Correct-stage settings (paper: Adam lr 1e-4 for the PRM, 1e-2 for the meta variables)."""

    mode: MetaMode = "weights"
    iterations: int = 100
    batch_size: int = 4
    meta_batch_size: int = 4
    lr: float = 1e-4
    meta_lr: float = 1e-2
    virtual_lr: float | None = None
    loss: Literal["mse", "bce"] = "mse"
    label_smoothing: bool = True
    seed: int = 0
    feature_cache: bool = True  # head mode: iterate on cached trunk features (False: full forwards, same result)

    def __post_init__(self) -> None:
        """Checked here, before the stage reads labels or loads the PRM (MetaConfig checks again, later)."""
        check_choice("mode", self.mode, ("labels", "weights", "none"))
        check_choice("loss", self.loss, ("mse", "bce"))
        for name in ("iterations", "batch_size", "meta_batch_size"):
            if getattr(self, name) < 1:
                raise OptionError(name, getattr(self, name), "an integer >= 1")


def rows_by_side(rows: pd.DataFrame, *, source: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(lower rows, meta rows) by the split manifest's side stamped on each step-label row by the label stage:
    the lower level trains on ``train`` problems, the upper level measures on ``meta`` problems, so the meta set
    never shares a problem with the warm-up's training data."""
    if "split" not in rows:
        raise InputDataError("step-label rows have no 'split' column (the manifest side); re-run `dreamprm label`",
                             path=source, field="split", expected="train | meta per row")
    side = rows["split"].astype(str)
    lower, meta = rows[side == "train"].reset_index(drop=True), rows[side == "meta"].reset_index(drop=True)
    if meta.empty:
        raise InputDataError("no step-label rows on the meta side: the correction's upper level would be empty",
                             path=source, field="split", expected="label problems of the meta side (--split train,meta)")
    return lower, meta


def split_by_problem(rows: pd.DataFrame, meta_fraction: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(lower rows, meta rows): whole problems go to one side; both sides are non-empty when there are >= 2 problems."""
    problems = sorted(rows["problem_id"].astype(str).unique())
    if len(problems) < 2:
        raise InputDataError(
            f"bi-level correction needs candidates of at least 2 problems (found {len(problems)}): the clean meta set "
            "is held apart by problem", field="problem_id")
    rng = random.Random(seed)
    rng.shuffle(problems)
    k = min(len(problems) - 1, max(1, round(meta_fraction * len(problems))))
    meta = set(problems[:k])
    is_meta = rows["problem_id"].astype(str).isin(meta)
    return rows[~is_meta].reset_index(drop=True), rows[is_meta].reset_index(drop=True)


@dataclass
class _Encoded:
    ids: list[int]
    markers: list[int]  # marker positions of the selected steps
    labels: list[float]
    global_idx: list[int]  # index of each selected step in the noisy set (unused for the meta set)
    candidate_id: str
    step_index: list[int]
    example: EncodedExample
    features: torch.Tensor | None = None  # head mode: the trunk's vectors at the selected steps


def _encode(prm: ProcessRewardModel, rows: pd.DataFrame, clean: bool,
            too_long: list[str] | None = None) -> list[_Encoded]:
    """The rows' steps of one kind (clean or noisy) encoded with the PRM's one input builder. A candidate too long
    for the PRM is left out, as in warm-up training, and its id appended to ``too_long`` for the summary."""
    out: list[_Encoded] = []
    counter = 0
    for row in rows.to_dict("records"):
        flags = [bool(x) for x in row["clean"]]
        labels = [float(x) for x in row["soft_labels"]]
        try:
            enc = prm.encoder.encode(PRMInput.from_label_row(row))
        except CandidateTooLong:
            if too_long is not None:
                too_long.append(str(row["candidate_id"]))
            continue
        chosen = [i for i, f in enumerate(flags) if f == clean]
        if not chosen:
            continue
        out.append(_Encoded(
            ids=enc.input_ids,
            markers=[enc.marker_positions[i] for i in chosen],
            labels=[labels[i] for i in chosen],
            global_idx=list(range(counter, counter + len(chosen))),
            candidate_id=str(row["candidate_id"]),
            step_index=chosen,
            example=enc,
        ))
        counter += len(chosen)
    return out


def _collate(prm: ProcessRewardModel, items: list[_Encoded]) -> dict[str, torch.Tensor]:
    """A batch's inputs, on the PRM's device."""
    if all(e.features is not None for e in items):
        return {"features": torch.cat([e.features for e in items]).to(prm.device)}  # type: ignore[misc]
    width = max(len(e.ids) for e in items)
    pad = int(prm.tokenizer.pad_token_id)
    ids = torch.full((len(items), width), pad, dtype=torch.long)
    attn = torch.zeros((len(items), width), dtype=torch.long)
    mask = torch.zeros((len(items), width), dtype=torch.bool)
    for i, e in enumerate(items):
        ids[i, : len(e.ids)] = torch.tensor(e.ids)
        attn[i, : len(e.ids)] = 1
        mask[i, e.markers] = True
    return {"input_ids": ids.to(prm.device), "attention_mask": attn.to(prm.device),
            "marker_mask": mask.to(prm.device)}


def correct_prm(
    prm: ProcessRewardModel,
    rows: pd.DataFrame,
    cfg: CorrectConfig,
    *,
    log: Callable[[dict[str, float], int], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
    feature_dir: str | Path | None = None,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Run ``cfg.iterations`` bi-level iterations on ``prm`` (in place). Returns a summary and the corrections table
    (candidate_id, step_index, noisy_label, corrected_label, weight) of the noisy set. ``feature_dir``: the
    trunk-feature cache of head mode (default: the settings'). It runs on the device ``prm`` is on."""
    torch.manual_seed(cfg.seed)
    lower_rows, meta_rows = rows_by_side(rows)
    noisy_too_long: list[str] = []
    meta_too_long: list[str] = []
    noisy = _encode(prm, lower_rows, clean=False, too_long=noisy_too_long)
    clean = _encode(prm, meta_rows, clean=True, too_long=meta_too_long)
    if noisy_too_long or meta_too_long:
        log.warning("left out as too long for the PRM: %d lower-level and %d meta candidates (e.g. %s)",
                    len(noisy_too_long), len(meta_too_long), (noisy_too_long + meta_too_long)[:3])
    if not noisy:
        raise InputDataError("no noisy step labels in the lower set: every candidate has a single step",
                             field="clean")
    if not clean:
        raise InputDataError("no clean full-program labels in the meta set", field="clean")
    # Everything the correction computes lives on the PRM's device (the stage loads it on settings.prm.device).
    noisy_labels = torch.tensor([y for e in noisy for y in e.labels], dtype=torch.float32, device=prm.device)
    extraction: dict[str, float] = {}
    if cfg.feature_cache and prm.config.finetune == "head":
        from dreamprm.prm.features import FeatureCache

        cache = FeatureCache(prm, feature_dir)
        for e, f in zip(noisy + clean, cache.get([e.example for e in noisy + clean])):
            e.features = f[e.step_index]
        extraction = {f"features_{k}": v for k, v in cache.stats.items()}

    def predict(params: dict[str, torch.Tensor], inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        if "features" in inputs:
            return torch.sigmoid(functional_call(prm, params, (), {"features": inputs["features"]},
                                                 strict=False).float())
        # The hypergradient differentiates a gradient: the fused SDPA kernels have no double backward, the math
        # kernel has (same results, a little slower).
        with sdpa_kernel(SDPBackend.MATH):
            logits = functional_call(prm, params, (inputs["input_ids"], inputs["attention_mask"]), strict=False)
        return torch.sigmoid(logits[inputs["marker_mask"]].float())

    meta_cfg = MetaConfig(mode=cfg.mode, lr=cfg.lr, meta_lr=cfg.meta_lr, virtual_lr=cfg.virtual_lr, loss=cfg.loss,
                          label_smoothing=cfg.label_smoothing)
    corrector = BilevelCorrector(prm, predict, noisy_labels, meta_cfg)
    rng = random.Random(cfg.seed)
    prm.train()
    last: dict[str, float] = {}
    for it in range(1, cfg.iterations + 1):
        batch = rng.sample(noisy, min(cfg.batch_size, len(noisy)))
        meta_batch = rng.sample(clean, min(cfg.meta_batch_size, len(clean)))
        idx = torch.tensor([g for e in batch for g in e.global_idx])
        clean_labels = torch.tensor([y for e in meta_batch for y in e.labels], dtype=torch.float32,
                                    device=prm.device)
        res = corrector.step(idx, _collate(prm, batch), _collate(prm, meta_batch), clean_labels)
        last = {"noisy_loss": res.noisy_loss}
        if res.clean_loss is not None:
            last["clean_loss"] = res.clean_loss
        if res.hypergrad_norm is not None:
            last["hypergrad_norm"] = res.hypergrad_norm
        if log:
            log(last, it)
        if progress:
            progress(it, cfg.iterations)
    corrected = corrector.corrected_labels().tolist()
    weights = corrector.sample_weights().tolist()
    table = pd.DataFrame([
        {"candidate_id": e.candidate_id, "step_index": s, "noisy_label": y,
         "corrected_label": corrected[g], "weight": weights[g]}
        for e in noisy for s, y, g in zip(e.step_index, e.labels, e.global_idx)
    ])
    prm.provenance = {**prm.provenance,
                      "corrected_on": sorted(set(lower_rows["problem_id"].astype(str))
                                             | set(meta_rows["problem_id"].astype(str)))}
    summary = {
        **{f"config_{k}": v for k, v in asdict(cfg).items()},
        "noisy_samples": len(noisy_labels),
        "meta_candidates": len(clean),
        "noisy_skipped_too_long": len(noisy_too_long),
        "meta_skipped_too_long": len(meta_too_long),
        "lower_problems": int(lower_rows["problem_id"].nunique()),
        "meta_problems": int(meta_rows["problem_id"].nunique()),
        "mean_abs_correction": float((table["corrected_label"] - table["noisy_label"]).abs().mean()),
        "mean_weight": float(table["weight"].mean()),
        **extraction,
        **last,
    }
    return summary, table
