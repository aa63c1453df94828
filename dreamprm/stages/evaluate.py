"""The evaluate stage as a plain function: best-of-N on the manifest's eval side with every saved PRM against the
baselines, paired-bootstrap intervals, plots, and champion promotion of the evaluated challenger version. The CLI
and the Prefect flow (``flows/evaluate.py``) are thin adapters over it."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dreamprm.io import read_parquet, write_json
from dreamprm.settings import get_settings

Progress = Callable[[int, int], None]

SCORER_DIRS = ("prm-warmup", "prm-none", "prm-labels", "prm-weights", "orm")


def discover_scorers(models_dir: Path) -> dict[str, str]:
    """Saved PRMs under models/: <variant>/final for each known variant that exists."""
    return {name: str(models_dir / name / "final") for name in SCORER_DIRS if (models_dir / name / "final").is_dir()}


def registered_prm_dir(name: str) -> str | None:
    """The local folder of the PRM behind the registry's `champion` alias (downloaded), or None without one."""
    from dreamprm.registry import CHAMPION, alias_version

    if alias_version(name, CHAMPION) is None:
        return None
    import mlflow

    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}@{CHAMPION}"))
    folder = local / "artifacts" / "prm"
    return str(folder) if folder.is_dir() else None


def run_evaluate(problems_path: str, candidates_path: str, executions_path: str | None, scorers: dict[str, str],
                  out_dir: str, split: str | None, challenger: str | None, aggregation: str,
                  n_resamples: int, per_problem: int = 0, progress: Progress | None = None) -> dict[str, Any]:
    import mlflow

    from dreamprm.data.split import check_disjoint, problems_on_sides
    from dreamprm.evaluate.report import build_report, dvc_metrics, render_markdown, write_plots
    from dreamprm.evaluate.scoring import add_prm_scores, evaluation_frame, first_per_problem
    from dreamprm.prm.model import ProcessRewardModel
    from dreamprm.registry import (
        CHAMPION,
        alias_version,
        apply_promotion,
        decide_promotion,
        registered_version,
    )
    from dreamprm.tracking import RunIdentity, configure_mlflow, stage_run

    s = get_settings()
    configure_mlflow(s)
    problems = read_parquet(problems_path)
    candidates = read_parquet(candidates_path)
    executions = read_parquet(executions_path) if executions_path and Path(executions_path).exists() else None
    from dreamprm.validation import validate_executions, validate_scores

    if executions is not None:
        validate_executions(executions)  # GX when read
    # Only the manifest's eval side (or the sides asked for), never a silent fall-back to every problem.
    problems, manifest, sides = problems_on_sides(problems, problems_path, split, "eval")
    candidates = candidates[candidates["problem_id"].isin(problems["problem_id"])]
    if per_problem:
        candidates = first_per_problem(candidates, per_problem)
    frame = evaluation_frame(problems, candidates, executions)
    loaded = {name: ProcessRewardModel.from_pretrained(path) for name, path in scorers.items()}
    model_name = s.tracking.registered_model_name
    # The challenger is the evaluated model folder's own registry version (registry.json beside it), so the version
    # that may move is the one whose scores are in this report.
    challenger_version = (registered_version(model_name, scorers[challenger])
                          if challenger and challenger in scorers else None)
    champion_version = alias_version(model_name, CHAMPION)
    champion_dir = (registered_prm_dir(model_name)
                    if challenger_version is not None and champion_version not in (None, challenger_version)
                    else None)
    if champion_dir is not None:
        loaded["champion"] = ProcessRewardModel.from_pretrained(champion_dir)
    check_disjoint(frame["problem_id"].astype(str), {n: m.seen_problems() for n, m in loaded.items()})
    frame = add_prm_scores(frame, loaded, progress=progress)
    validate_scores(frame)  # GX: the scores hand-off to selection
    # Every method against random, the strongest cheap baseline (majority vote) and, when trained, the ORM.
    references = ["random", "majority"] + ([f"orm:{aggregation}"] if "orm" in loaded else [])
    if "examples_passed" in frame and frame["examples_passed"].notna().any():
        references.append("filter:random")  # the execution-evidence filter any user can run (PAPER.md, last section)
    report = build_report(frame, n_resamples=n_resamples, seed=s.seed, references=references)
    out = Path(out_dir)
    write_json(report, out / "report.json")
    markdown = render_markdown(report)
    (out / "report.md").write_text(markdown + "\n")
    plots = write_plots(report, out)
    write_json(dvc_metrics(report), out / "metrics.json")
    eval_set = hashlib.sha256(json.dumps(sorted(frame["candidate_id"].astype(str))).encode()).hexdigest()[:16]
    ident = RunIdentity(stage="evaluate", data_version=eval_set, backbone=",".join(scorers) or "none", seed=s.seed)
    decision = None
    with stage_run(ident, params={"split": split, "scorers": json.dumps(scorers), "aggregation": aggregation,
                                  "n_resamples": n_resamples, "problems": len(problems), "per_problem": per_problem,
                                  "candidates": len(frame)}):
        for method, entry in report["methods"].items():
            # MLflow metric names allow alphanumerics, _ - . space : /; anything else becomes "_".
            key = re.sub(r"[^\w\-. /]", "_", method.replace(":", "."))
            mlflow.log_metric(f"pass_at_1.{key}", entry["pass_at_1"]["estimate"])
        mlflow.log_dict(report, "report.json")
        mlflow.log_text(markdown, "report.md")
        for p in plots.values():
            mlflow.log_artifact(str(p))
        method = f"{challenger}:{aggregation}" if challenger else None
        if method and method in report["methods"] and challenger_version is not None \
                and challenger_version != champion_version:
            from dreamprm.evaluate.select import CandidateTable

            methods = {method: (f"scores:{challenger}", aggregation)}
            if champion_dir is not None:
                methods["champion"] = ("scores:champion", aggregation)
            table = CandidateTable.from_frame(frame, score_methods=methods)
            values = table.per_problem([*methods, "random"])
            decision = decide_promotion(values[method].to_numpy(),
                                        values["champion"].to_numpy() if champion_dir is not None else None,
                                        random=values["random"].to_numpy(), n_resamples=n_resamples, seed=s.seed)
            apply_promotion(model_name, decision, eval_set, challenger_version)
            mlflow.set_tag("dreamprm.promotion", decision.reason)
            mlflow.log_dict({**decision.to_dict(), "version": challenger_version}, "promotion.json")
            print(f"promotion of {model_name} version {challenger_version}: "
                  f"{'promoted to champion' if decision.promote else 'not promoted'} ({decision.reason})")
    return {"report": str(out / "report.json"), "markdown": markdown, "eval_set": eval_set,
            "promotion": None if decision is None else decision.to_dict(),
            "methods": {m: e["pass_at_1"]["estimate"] for m, e in report["methods"].items()}}
