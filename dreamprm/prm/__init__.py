"""The process reward model (issue 5): single-pass step scoring, save/load, MLflow pyfunc."""

from dreamprm.prm.model import PRMConfig, ProcessRewardModel
from dreamprm.prm.template import (
    DEFAULT_TEMPLATE,
    CandidateTooLong,
    EncodedExample,
    StepEncoder,
    steps_from_prefixes,
)

__all__ = [
    "DEFAULT_TEMPLATE",
    "CandidateTooLong",
    "EncodedExample",
    "PRMConfig",
    "ProcessRewardModel",
    "StepEncoder",
    "steps_from_prefixes",
]
