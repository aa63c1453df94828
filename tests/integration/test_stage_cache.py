"""The train stage's Prefect cache is keyed by its identity: nothing changed -> served from the cache; another
learning rate, seed or PRM code version -> recomputed (real Prefect ephemeral API, MLflow sqlite, tiny model)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.integration


def _labels(path: Path) -> str:
    rows = [{"candidate_id": f"c{i}", "problem_id": f"p{i % 3}", "prompt": "Add.", "statement": "Add.",
             "starter_code": "", "completions": ["def f(x):\n", f"    return x + {i}\n"], "split": "train",
             "labels": [True, bool(i % 2)], "soft_labels": [0.5, float(i % 2)], "clean": [False, True],
             "rollout_counts": [2, 0], "rollout_passes": [1, 0]} for i in range(6)]
    pd.DataFrame(rows).to_parquet(path)
    return str(path)


def test_train_recomputes_exactly_when_its_identity_changes(project_root: Path, monkeypatch: pytest.MonkeyPatch):
    import mlflow

    from dreamprm import identity
    from dreamprm.settings import get_settings

    monkeypatch.setenv("DREAMPRM_PRM__BACKBONE", "tinycoder")
    monkeypatch.setenv("DREAMPRM_PRM__NUM_LAYERS", "0")
    get_settings.cache_clear()
    from flows.train import train_flow

    labels = _labels(project_root / "labels.parquet")
    kw = dict(labels_path=labels, out_dir=str(project_root / "m"), epochs=1, batch_size=2, grad_accum=1,
              finetune="head", eval_fraction=0.0)

    def train_runs() -> int:
        return len(mlflow.search_runs(search_all_experiments=True, filter_string="tags.`dreamprm.stage` = 'train'"))

    first = train_flow(lr=1e-3, **kw)
    assert train_runs() == 1
    # One identity: the MLflow tag is the one the resume check compared checkpoints against.
    assert mlflow.get_run(first["mlflow_run_id"]).data.tags["dreamprm.identity"] == first["identity"]
    again = train_flow(lr=1e-3, **kw)  # nothing changed: the cached result, no new run
    assert train_runs() == 1 and again["mlflow_run_id"] == first["mlflow_run_id"]
    other_lr = train_flow(lr=2e-3, **kw)
    assert train_runs() == 2 and other_lr["mlflow_run_id"] != first["mlflow_run_id"]
    monkeypatch.setattr(identity, "code_version", lambda stage: "edited-prm-code")  # as after editing prm/model.py
    edited = train_flow(lr=2e-3, **kw)
    assert train_runs() == 3 and edited["mlflow_run_id"] != other_lr["mlflow_run_id"]
    # The backbone was converted once into <cache>/models/<name>, never a second time into <cache>/models/models.
    cache = Path(get_settings().cache_dir)
    assert (cache / "models" / "tinycoder").is_dir() and not (cache / "models" / "models").exists()
