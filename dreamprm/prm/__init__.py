"""The process reward model: single-pass step scoring, save/load, MLflow pyfunc.

The model classes are imported lazily so that :mod:`dreamprm.prm.template` (the PRM input builder, which the label
stage uses without a model) does not pull in torch.
"""

from __future__ import annotations

from typing import Any

from dreamprm.prm.template import (
    DEFAULT_TEMPLATE,
    CandidateTooLong,
    EncodedExample,
    PRMInput,
    StepEncoder,
    steps_from_prefixes,
)

_LAZY = {"PRMConfig", "ProcessRewardModel"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from dreamprm.prm import model

        return getattr(model, name)
    raise AttributeError(f"module 'dreamprm.prm' has no attribute {name!r}")


__all__ = [
    "DEFAULT_TEMPLATE",
    "CandidateTooLong",
    "EncodedExample",
    "PRMConfig",
    "PRMInput",
    "ProcessRewardModel",
    "StepEncoder",
    "steps_from_prefixes",
]
