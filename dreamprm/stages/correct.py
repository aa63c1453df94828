"""The correct stage as a plain function: bi-level meta-correction of the warmed-up PRM (lower level on the
manifest's train problems, upper level on its meta problems) into ``out_dir``, registered as `challenger`. The CLI
and the Prefect flow (``flows/correct.py``) are thin adapters over it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from dreamprm.identity import StageParameters, task_call
from dreamprm.io import write_parquet
from dreamprm.settings import get_settings

Progress = Callable[[int, int], None]

# How run_correct's parameters (the names of flows/correct.py's task too) enter the stage identity: the labels and
# the warm-up folder by content, the config overrides as given (defaults they leave out are code, so part of the
# code version); where the model goes and whether it is registered not at all.
CORRECT_PARAMETERS = StageParameters("correct", inputs=("labels_path", "warmup_dir"), neutral=("out_dir", "register"))


def run_correct(labels_path: str, warmup_dir: str, out_dir: str, overrides: dict[str, Any],
                 register: bool, progress: Progress | None = None) -> dict[str, Any]:
    """``overrides`` carry the resolved CorrectConfig (seed included); the warm-up folder's contents (its config and
    weights) are an input, so a changed backbone or warm-up recomputes."""
    call = task_call(locals())  # first: the task's parameters, for the stage identity
    import mlflow
    from mlflow import MlflowClient

    from dreamprm.plots import corrections_scatter
    from dreamprm.prm.correct import CorrectConfig, correct_prm
    from dreamprm.prm.device import load_prm
    from dreamprm.prm.pyfunc import log_prm
    from dreamprm.tracking import RunIdentity, stage_run

    s = get_settings()
    cfg = CorrectConfig(**overrides)
    from dreamprm.validation import read_validated, validate_step_labels

    rows = read_validated(labels_path, validate_step_labels)  # GX when read
    prm = load_prm(warmup_dir)
    ident = RunIdentity(stage="correct", data_version=Path(labels_path).stem, backbone=prm.config.backbone,
                        seed=s.seed)
    name = s.tracking.registered_model_name
    with stage_run(ident, params={f"correct.{k}": v for k, v in asdict(cfg).items()} | {"warmup": warmup_dir}) as run:
        mlflow.set_tag("dreamprm.identity", CORRECT_PARAMETERS.identity(call))
        mlflow.set_tag("dreamprm.device", str(prm.device))
        summary, table = correct_prm(prm, rows, cfg, log=lambda m, step: mlflow.log_metrics(m, step=step),
                                     progress=progress)
        out = Path(out_dir)
        prm.save_pretrained(out / "final")
        write_parquet(table, out / "corrections.parquet")
        plot = corrections_scatter(table["noisy_label"], table["corrected_label"], table["weight"], cfg.mode,
                                   out / "corrections.png")
        mlflow.log_artifact(str(plot))
        mlflow.log_artifact(str(out / "corrections.parquet"))
        mlflow.log_metrics({k: float(v) for k, v in summary.items()
                            if isinstance(v, (int, float)) and not k.startswith("config_")})
        if register:
            from dreamprm.registry import CHALLENGER, write_registration

            info = log_prm(prm, registered_model_name=name)
            version = str(info.registered_model_version)
            MlflowClient().set_registered_model_alias(name, CHALLENGER, version)
            MlflowClient().set_model_version_tag(name, version, "correction_mode", cfg.mode)
            write_registration(out / "final", name, version, run.info.run_id)
            summary["registered_version"] = int(version)
        summary["mlflow_run_id"] = run.info.run_id
    summary["model_dir"] = str(out / "final")
    return summary
