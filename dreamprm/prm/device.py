"""Which device a PRM runs on: one rule for warm-up training (:func:`dreamprm.prm.train.train_prm` tells accelerate),
the correct, fuse and evaluate stages and the served pyfunc model (:func:`load_prm`).

``settings.prm.device`` (``DREAMPRM_PRM__DEVICE``): ``auto`` takes the first CUDA device where torch sees one and the
CPU otherwise; ``cpu`` forces the CPU on a GPU machine; ``cuda`` demands a GPU and fails with a clear error where
there is none, instead of quietly running a 0.5B backbone on the CPU for hours. Pick a card with
``CUDA_VISIBLE_DEVICES``, as for any torch program.

The device is not part of a stage's identity: a model trained, corrected or scored on a GPU gives the same results
as on the CPU up to float rounding (``tests/gpu/test_cuda_path.py`` measures how close), so a cached stage is reused
whatever device computed it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from dreamprm.prm.model import ProcessRewardModel

DEVICE_SPECS: tuple[str, ...] = ("auto", "cpu", "cuda")  # settings.PRMSettings.device's values (a test keeps them equal)


def resolve_device(spec: str = "auto") -> torch.device:
    """The torch device for ``spec`` (``auto`` | ``cpu`` | ``cuda``); ``cuda`` without a visible GPU is an error."""
    if spec not in DEVICE_SPECS:
        raise ValueError(f"PRM device must be one of {', '.join(DEVICE_SPECS)}; got {spec!r} "
                         "(choose a card with CUDA_VISIBLE_DEVICES)")
    if spec == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda")
    if spec == "cuda":
        raise RuntimeError("PRM device 'cuda' was asked for (settings prm.device / DREAMPRM_PRM__DEVICE) but torch "
                           f"sees no CUDA device (torch {torch.__version__}); use 'auto' or 'cpu'")
    return torch.device("cpu")


def settings_device() -> torch.device:
    """The device the project's settings ask for (``prm.device``)."""
    from dreamprm.settings import get_settings

    return resolve_device(get_settings().prm.device)


def load_prm(directory: str | Path) -> ProcessRewardModel:
    """A saved PRM folder, loaded onto the settings' device."""
    from dreamprm.prm.model import ProcessRewardModel

    return ProcessRewardModel.from_pretrained(directory, device=str(settings_device()))
