"""Champion promotion: refuses a challenger that is not better, accepts one that is (constructed score tables), and
moves the registry alias accordingly."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dreamprm.registry import CHAMPION, alias_version, apply_promotion, decide_promotion


def test_first_challenger_becomes_champion() -> None:
    d = decide_promotion([1, 0, 1], None)
    assert d.promote and "no champion" in d.reason


def test_clearly_better_challenger_is_promoted() -> None:
    rng = np.random.default_rng(0)
    champion = (rng.random(200) < 0.4).astype(float)
    challenger = np.maximum(champion, (rng.random(200) < 0.5).astype(float))  # never worse, often better
    d = decide_promotion(challenger, champion)
    assert d.promote and d.diff_low > 0


def test_equal_or_worse_challenger_is_refused() -> None:
    rng = np.random.default_rng(1)
    champion = (rng.random(200) < 0.5).astype(float)
    assert not decide_promotion(champion, champion).promote
    worse = champion * (rng.random(200) < 0.7)
    d = decide_promotion(worse, champion)
    assert not d.promote and "champion stays" in d.reason


def test_small_noisy_gain_is_refused() -> None:
    champion = np.array([1, 0, 0, 1, 0, 1, 0, 0, 1, 0], dtype=float)
    challenger = champion.copy()
    challenger[1] = 1.0  # one problem better out of ten: the interval still reaches zero
    d = decide_promotion(challenger, champion)
    assert d.challenger_pass_at_1 > d.champion_pass_at_1
    assert not d.promote


def test_apply_moves_the_champion_alias(project_root: Path) -> None:
    import mlflow
    from mlflow import MlflowClient

    from dreamprm.tracking import configure_mlflow

    configure_mlflow()

    class Echo(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):  # noqa: ANN001
            return model_input

    with mlflow.start_run():
        mlflow.pyfunc.log_model(name="m", python_model=Echo(), registered_model_name="prm-test",
                                pip_requirements=["mlflow"])
        mlflow.pyfunc.log_model(name="m2", python_model=Echo(), registered_model_name="prm-test",
                                pip_requirements=["mlflow"])
    client = MlflowClient()
    client.set_registered_model_alias("prm-test", "challenger", "1")
    apply_promotion("prm-test", decide_promotion([1.0], None), "set-a")
    assert alias_version("prm-test", CHAMPION) == "1"
    client.set_registered_model_alias("prm-test", "challenger", "2")
    apply_promotion("prm-test", decide_promotion([0.0] * 50, [1.0] * 50), "set-a")
    assert alias_version("prm-test", CHAMPION) == "1"  # refused
    assert "champion stays" in client.get_model_version("prm-test", "2").tags["promotion"]
    apply_promotion("prm-test", decide_promotion([1.0] * 50, [0.0] * 50), "set-a")
    assert alias_version("prm-test", CHAMPION) == "2"
