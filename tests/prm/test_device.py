"""Where the PRM runs: the ``prm.device`` rule, and a bf16-trained model that scores in-process as it will reloaded.

The GPU itself is exercised by tests/gpu (skipped without one); these run everywhere.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
from pydantic import ValidationError

from dreamprm.prm.device import resolve_device, settings_device
from dreamprm.prm.model import PRMConfig, ProcessRewardModel
from dreamprm.prm.template import PRMInput
from dreamprm.prm.train import TrainConfig, train_prm


def test_auto_takes_a_gpu_only_where_torch_sees_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cpu") == torch.device("cpu")  # forced, even with a GPU


def test_cuda_without_a_gpu_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="DREAMPRM_PRM__DEVICE.*no CUDA device"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="one of auto, cpu, cuda; got 'gpu'"):
        resolve_device("gpu")


def test_the_setting_comes_from_the_environment(project_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dreamprm.settings import get_settings

    monkeypatch.setenv("DREAMPRM_PRM__DEVICE", "cpu")
    get_settings.cache_clear()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert settings_device() == torch.device("cpu")
    monkeypatch.setenv("DREAMPRM_PRM__DEVICE", "gpu")
    get_settings.cache_clear()
    with pytest.raises(ValidationError, match="device"):
        get_settings()


def rows() -> pd.DataFrame:
    return pd.DataFrame([{"candidate_id": f"c{i}", "prompt": "Add one.", "statement": "Add one.", "starter_code": "",
                          "completions": ["def f(x):\n", f"    return x + {i % 2}\n"],
                          "soft_labels": [0.5, float(i % 2)], "clean": [False, True]} for i in range(8)])


def test_training_asked_for_a_missing_gpu_fails_before_any_work(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    prm = ProcessRewardModel.from_config(PRMConfig(backbone="tinycoder", num_layers=None, max_length=256),
                                         cache_dir=tmp_path / "models", seed=0)
    with pytest.raises(RuntimeError, match="no CUDA device"):
        train_prm(prm, rows(), None, TrainConfig(max_steps=1), tmp_path / "out", device="cuda")
    assert not (tmp_path / "out" / "checkpoints").exists()


@pytest.mark.usefixtures("fresh_accelerate_state")  # bf16 here, fp32 in the process's other tests
def test_a_bf16_trained_model_scores_as_it_will_reloaded(tmp_path: Path) -> None:
    """Mixed precision wraps the forward in autocast while training; afterwards the model computes in its own
    dtype, so the scores a process takes right after training equal those of the saved and reloaded model (before
    the fix they differed by 8e-5 on this fixture)."""
    prm = ProcessRewardModel.from_config(PRMConfig(backbone="tinycoder", num_layers=None, max_length=256,
                                                   lora_dropout=0.0), cache_dir=tmp_path / "models", seed=0)
    summary = train_prm(prm, rows(), None, TrainConfig(max_steps=4, lr=1e-2, batch_size=4, grad_accum=1,
                                                       mixed_precision="bf16"), tmp_path / "out", device="cpu")
    assert summary["device"] == "cpu"
    items = [PRMInput.from_label_row(r) for r in rows().to_dict("records")]
    prm.save_pretrained(tmp_path / "final")
    in_process = prm.score_batch(items)
    reloaded = ProcessRewardModel.from_pretrained(tmp_path / "final").score_batch(items)
    assert max(abs(a - b) for x, y in zip(in_process, reloaded) for a, b in zip(x, y)) < 1e-5


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown where torch sees no GPU")
def test_info_says_where_the_prm_runs(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "DREAMPRM_ROOT": str(tmp_path), "DREAMPRM_PRM__DEVICE": "cuda", "COLUMNS": "200"}
    out = subprocess.run([str(Path(sys.executable).with_name("dreamprm")), "info"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr
    assert "PRM device: cuda -> PRM device 'cuda' was asked for" in out.stdout
    assert "sees no CUDA device" in " ".join(out.stdout.split())


def test_the_setting_accepts_exactly_the_rule_s_values() -> None:
    from typing import get_args

    from dreamprm.prm.device import DEVICE_SPECS
    from dreamprm.settings import PRMSettings

    assert get_args(PRMSettings.model_fields["device"].annotation) == DEVICE_SPECS


def test_mixed_precision_is_chosen_from_the_cli_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    import dreamprm.cli.train as cli_train
    from dreamprm.cli import app

    seen: dict = {}
    monkeypatch.setattr(cli_train, "stage_flow", lambda name: lambda **kw: seen.update(kw) or {"steps": 0})
    res = CliRunner().invoke(app, ["train", "--mixed-precision", "bf16"])
    assert res.exit_code == 0, res.output
    assert seen["mixed_precision"] == "bf16"
    with pytest.raises(ValueError, match=r"field 'mixed_precision': .*'fp8' \(expected no \| bf16 \| fp16\)"):
        TrainConfig(mixed_precision="fp8")  # type: ignore[arg-type]
