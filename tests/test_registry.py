"""Champion promotion: a challenger must beat random (and the champion, when there is one) with the paired-bootstrap
lower bound above zero (constructed score tables); the alias moves to the evaluated model's own version."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dreamprm.errors import InputDataError
from dreamprm.registry import (CHAMPION, alias_version, apply_promotion, decide_promotion, registered_version,
                               write_registration)

RNG = np.random.default_rng(0)
RANDOM = np.full(200, 0.3)


def test_first_challenger_must_beat_random() -> None:
    good = (RNG.random(200) < 0.7).astype(float)
    d = decide_promotion(good, None, random=RANDOM)
    assert d.promote and "no champion" in d.reason and d.random_diff_low > 0
    at_chance = (RNG.random(200) < 0.3).astype(float)
    d = decide_promotion(at_chance, None, random=RANDOM)
    assert not d.promote and "missed the random bar" in d.reason
    zero = decide_promotion(np.zeros(4), None, random=np.full(4, 0.5))  # the demo's old case: pass@1 0.0
    assert not zero.promote and "random bar" in zero.reason


def test_clearly_better_challenger_is_promoted() -> None:
    champion = (RNG.random(200) < 0.5).astype(float)
    challenger = np.maximum(champion, (RNG.random(200) < 0.5).astype(float))  # never worse, often better
    d = decide_promotion(challenger, champion, random=RANDOM)
    assert d.promote and d.diff_low > 0


def test_equal_or_worse_challenger_is_refused() -> None:
    champion = (RNG.random(200) < 0.6).astype(float)
    assert not decide_promotion(champion, champion, random=RANDOM).promote
    worse = champion * (RNG.random(200) < 0.9)
    d = decide_promotion(worse, champion, random=RANDOM)
    assert not d.promote and "champion stays" in d.reason


def test_small_noisy_gain_is_refused() -> None:
    champion = np.array([1, 0, 0, 1, 0, 1, 0, 0, 1, 0] * 3, dtype=float)
    challenger = champion.copy()
    challenger[1] = 1.0  # one problem better out of thirty: the interval still reaches zero
    d = decide_promotion(challenger, champion, random=np.zeros(30))
    assert d.challenger_pass_at_1 > d.champion_pass_at_1
    assert not d.promote and "champion bar" in d.reason


def _two_versions() -> tuple[str, str]:
    import mlflow

    from dreamprm.tracking import configure_mlflow

    configure_mlflow()

    class Echo(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):  # noqa: ANN001
            return model_input

    runs = []
    for i in range(2):
        with mlflow.start_run() as run:
            mlflow.pyfunc.log_model(name="m", python_model=Echo(), registered_model_name="prm-test",
                                    pip_requirements=["mlflow"])
            runs.append(run.info.run_id)
    return runs[0], runs[1]


def test_apply_moves_the_champion_alias_to_the_evaluated_version(project_root: Path) -> None:
    from mlflow import MlflowClient

    run1, run2 = _two_versions()
    client = MlflowClient()
    client.set_registered_model_alias("prm-test", "challenger", "2")  # points elsewhere: must not matter
    good = np.ones(50)
    apply_promotion("prm-test", decide_promotion(good, None, random=np.full(50, 0.2)), "set-a", "1")
    assert alias_version("prm-test", CHAMPION) == "1"
    apply_promotion("prm-test", decide_promotion(np.zeros(50), good, random=np.full(50, 0.2)), "set-a", "2")
    assert alias_version("prm-test", CHAMPION) == "1"  # refused
    assert "random bar" in client.get_model_version("prm-test", "2").tags["promotion"]


def test_registration_record_is_checked_against_the_registry(project_root: Path) -> None:
    run1, _ = _two_versions()
    model_dir = project_root / "models" / "prm-weights" / "final"
    model_dir.mkdir(parents=True)
    assert registered_version("prm-test", model_dir) is None
    write_registration(model_dir, "prm-test", "1", run1)
    assert registered_version("prm-test", model_dir) == "1"
    write_registration(model_dir, "prm-test", "7", run1)
    with pytest.raises(InputDataError, match=r"registry.json.*version 7, which the registry does not have"):
        registered_version("prm-test", model_dir)
    (model_dir / "registry.json").write_text(json.dumps({"name": "prm-test", "version": "2", "run_id": run1}))
    with pytest.raises(InputDataError, match="belongs to run"):
        registered_version("prm-test", model_dir)
