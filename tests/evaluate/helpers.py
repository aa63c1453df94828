"""Helpers shared by the evaluate tests."""

from __future__ import annotations

from pathlib import Path


def saved_head_prm(folder: Path, model_cache: Path, seed: int, trained_on: list[str] | None = None) -> str:
    """A tiny frozen-trunk PRM with a random head, saved as the train stage saves one (``trained_on``: the problem
    ids its provenance names)."""
    import torch

    from dreamprm.prm.model import PRMConfig, ProcessRewardModel

    prm = ProcessRewardModel.from_config(PRMConfig(backbone="tinycoder", num_layers=None, finetune="head",
                                                                   max_length=256),
                                         cache_dir=model_cache, seed=0)
    with torch.no_grad():
        torch.manual_seed(seed)
        prm.head.weight.normal_(0, 1.0)
    if trained_on is not None:
        prm.provenance = {**prm.provenance, "trained_on": list(trained_on)}
    prm.save_pretrained(folder)
    return str(folder)
