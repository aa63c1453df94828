"""The evaluate stage as a plain function: best-of-N on the manifest's eval side with every saved PRM against the
baselines, paired-bootstrap intervals, plots, and champion promotion of the evaluated challenger version. The CLI
and the Prefect flow (``flows/evaluate.py``) are thin adapters over it."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from dreamprm.identity import StageParameters, task_call
from dreamprm.io import atomic_entries, read_parquet, write_json, write_parquet, write_text
from dreamprm.settings import get_settings

Progress = Callable[[int, int], None]
log = logging.getLogger(__name__)

SCORER_DIRS = ("prm-warmup", "prm-none", "prm-labels", "prm-weights", "orm", "prm-own")
# Evaluate's identity, its MLflow tag: the models (scorers, name -> folder), tables and fitted models by content, the
# report's folder not at all. Its Prefect task is not cached (a promotion reads the registry's state).
EVALUATE_PARAMETERS = StageParameters("evaluate", inputs=(
    "problems_path", "candidates_path", "executions_path", "scorers", "fusion_dir", "probes_path", "prior_path"),
    neutral=("out_dir",))


def discover_scorers(models_dir: Path, only: str | None = None) -> dict[str, str]:
    """Saved PRMs under models/: <variant>/final for each known variant that exists. ``only``: a comma list of
    variants to take instead of all (e.g. leaving out a model trained on the problems being evaluated); a name that
    is not a saved variant is an error naming the saved ones."""
    from dreamprm.errors import InputDataError

    saved = {name: str(models_dir / name / "final") for name in SCORER_DIRS if (models_dir / name / "final").is_dir()}
    if only is None:
        return saved
    wanted = [n.strip() for n in only.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in saved]
    if not wanted or unknown:
        raise InputDataError(f"no saved model named {unknown or only!r}; saved under {models_dir}: "
                             f"{', '.join(saved) or 'none'}", path=str(models_dir), field="scorers",
                             expected=f"a comma list of {' | '.join(SCORER_DIRS)}")
    return {n: saved[n] for n in wanted}


def scorers_unseen_by(scorers: dict[str, str], problem_ids: set[str]) -> tuple[dict[str, str], list[str]]:
    """(the scorers that trained and were corrected on none of ``problem_ids``, the names of the others), read from
    each saved folder's provenance without loading a model: what a validation on train-side problems may use (the
    PRM trained on the ranked models' own code has seen them; evaluate would refuse it, by name)."""
    from dreamprm.prm.model import provenance_problems, saved_provenance

    kept, left_out = {}, []
    for name, folder in scorers.items():
        if provenance_problems(saved_provenance(folder)) & problem_ids:
            left_out.append(name)
        else:
            kept[name] = folder
    return kept, left_out


def discover_fusion(models_dir: Path) -> str | None:
    """models/fusion/ when ``dreamprm fuse`` wrote a fusion model there, else None."""
    from dreamprm.evaluate.fusion import FUSION_FILE

    folder = models_dir / "fusion"
    return str(folder) if (folder / FUSION_FILE).is_file() else None


def registered_prm_dir(name: str) -> str | None:
    """The local folder of the PRM behind the registry's `champion` alias (downloaded), or None without one."""
    from dreamprm.registry import CHAMPION, alias_version

    if alias_version(name, CHAMPION) is None:
        return None
    import mlflow

    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}@{CHAMPION}"))
    folder = local / "artifacts" / "prm"
    return str(folder) if folder.is_dir() else None


def parse_sizes(per_problem: int | str | Sequence[int]) -> list[int]:
    """Best-of-N sizes from ``6``, ``"0,6"`` or ``[0, 6]`` (0 = every candidate), in the order given, without
    repeats; a negative or unparsable size is an error naming the option."""
    from dreamprm.errors import InputDataError

    raw = per_problem.split(",") if isinstance(per_problem, str) else (
        [per_problem] if isinstance(per_problem, int) else list(per_problem))
    try:
        sizes = [int(str(x).strip()) for x in raw if str(x).strip()]
    except ValueError:
        raise InputDataError(f"per-problem sizes must be integers, got {per_problem!r}", field="per_problem",
                             expected="e.g. 0 (all), 6, or 0,6") from None
    if not sizes or any(n < 0 for n in sizes):
        raise InputDataError(f"per-problem sizes must be >= 0, got {per_problem!r}", field="per_problem",
                             expected="e.g. 0 (all), 6, or 0,6")
    return list(dict.fromkeys(sizes))


def size_label(n: int) -> str:
    """The folder (and MLflow prefix) of a best-of-N size's report: ``per-problem-6``; 0 (all) is ``all``."""
    return "all" if n == 0 else f"per-problem-{n}"


def rows_of_other_candidates(table: Any, candidates: Any, path: str | None) -> int:
    """How many rows of an executions or probes table name no candidate of the evaluated table; they are not read
    (one executions table may serve several candidate tables), and a warning names the file and an example."""
    if table is None:
        return 0
    other = ~table["candidate_id"].astype(str).isin(set(candidates["candidate_id"].astype(str)))
    if other.any():
        log.warning("%d rows of %s name no candidate of the evaluated table (e.g. %s): not read",
                    int(other.sum()), path, table.loc[other, "candidate_id"].iloc[0])
    return int(other.sum())


REPORT_FILES = ("report.json", "report.md", "picks.parquet", "metrics.json", "pass_at_n.png", "by_difficulty.png",
                "calibration.png")


def is_report_entry(name: str) -> bool:
    """Whether a file or folder of an output folder is evaluate's own: its report files, and one folder per further
    best-of-N size (``all``, ``per-problem-N``). Anything else there (a rerank table, a results summary) is not."""
    return name in REPORT_FILES or name == size_label(0) or name.startswith("per-problem-")


def run_evaluate(problems_path: str, candidates_path: str, executions_path: str | None, scorers: dict[str, str],
                  out_dir: str, split: str | None, challenger: str | None, aggregation: str,
                  n_resamples: int, per_problem: int | str | Sequence[int] = 0, progress: Progress | None = None,
                  execution_only: bool = False, hybrid_only_above: int = 0,
                  fusion_dir: str | None = None, probes_path: str | None = None,
                  speed_clock: str = "cpu", prior_path: str | None = None) -> dict[str, Any]:
    """Evaluate at every best-of-N size of ``per_problem`` (``"0,6"``: all candidates and the first 6 of each
    problem). The candidates are scored once (the largest size); the first size's report is written into
    ``out_dir`` (report.json, report.md, metrics.json, plots) and decides promotion, every further size's into
    ``out_dir/per-problem-<n>/``; report.md in ``out_dir`` holds every size's tables.

    ``execution_only`` evaluates without any PRM or ORM (the execution-evidence baselines: random, first, majority,
    the example filter and its variants, oracle), even when models are saved; it needs an executions table. Without
    it, having no model to evaluate is an error: a missing model is skipped only when asked.

    ``hybrid_only_above`` K > 0 makes large sizes affordable (scoring, not execution, is what costs): at every size
    above K (and at 0 = all, when that is more than K) the PRMs and the ORM are reported only inside the example-filter
    hybrids (``filter:<model>``), so only what those need is scored: the candidates that pass their examples, plus the
    first K candidates of every problem (where a problem has no survivor, the hybrid ranks those K by the model, the
    rest unscored below them). Sizes <= K report every method on fully scored candidates. The report says which.

    ``fusion_dir``: a fusion model (``dreamprm fuse``) over one of the scorers; it adds the method ``fusion`` and its
    hybrid ``filter:fusion``, and its weights go into the report (``fusion``).

    ``probes_path``: the survivors' executions on probe inputs (``dreamprm execute --tests probes``); adds
    ``filter:consensus``, per model m ``filter:consensus>m`` (consensus, ties broken by m) and
    ``filter:consensus>speed`` (ties broken by total probe time, fastest first) and per model m
    ``filter:consensus>speedbin>m`` (ties broken by speed in factors of 2, then m), each computed
    within every evaluated size's own candidates (:mod:`dreamprm.evaluate.consensus`). ``speed_clock`` (``"cpu"``,
    the validated default :data:`~dreamprm.evaluate.consensus.SPEED_CLOCK`, or ``"wall"``) is the clock both speed keys
    read; the report names it.

    ``prior_path``: a candidates table with recorded verdicts (the train side's) for the generator prior
    (:mod:`dreamprm.evaluate.prior`): each candidate ranked by its policy's pass rate there, the evaluated problems
    left out; adds ``prior``, ``filter:prior`` and, with probes, ``filter:consensus>prior`` and
    ``filter:consensus>speedbin>prior``. It needs no model, so it is evaluated with ``execution_only`` too and
    reported alone at every size.

    The evaluation set is the problems of the evaluated sides that the candidates table covers: a run generates
    for a chosen subset (the demo's ``problems_limit``, a validation set's unseen problems), and a problem nobody
    attempted is not a failed one. The report counts the sides' problems left out that way
    (``n_problems_on_sides_without_candidates``), so a smaller set is never a silent one."""
    call = task_call(locals())
    import mlflow
    import pandas as pd

    from dreamprm.data.split import check_disjoint, problems_on_sides
    from dreamprm.errors import InputDataError
    from dreamprm.evaluate.report import (
        build_report,
        dvc_metrics,
        render_markdown,
        selection_picks,
        write_plots,
    )
    from dreamprm.evaluate.scoring import add_prm_scores, evaluation_frame, first_per_problem
    from dreamprm.registry import (
        CHAMPION,
        alias_version,
        apply_promotion,
        decide_promotion,
        registered_version,
    )
    from dreamprm.tracking import RunIdentity, configure_mlflow, stage_run

    sizes = parse_sizes(per_problem)
    # The identity counts what is computed, not how it was spelled: the parsed sizes, "none" as no file, the clock
    # only where probes are read.
    call |= {"per_problem": sizes} | {k: None for k in ("probes_path", "prior_path", "fusion_dir")
                                      if str(call[k] or "").lower() == "none"}
    call["speed_clock"] = speed_clock if call["probes_path"] else None
    from dreamprm.evaluate.aggregate import get_aggregation

    get_aggregation(aggregation)  # an unknown one fails before any scoring, not after it
    if execution_only:  # what it ignores is not part of its identity either
        scorers, challenger, fusion_dir = {}, None, None
        call |= {"scorers": scorers, "challenger": challenger, "fusion_dir": fusion_dir}
        if not (executions_path and Path(executions_path).exists()):
            raise InputDataError("--execution-only needs the executions table of the candidates on their "
                                 "statement examples", path=executions_path, field="executions",
                                 expected="`dreamprm execute --tests public` first")
    elif not scorers:
        raise InputDataError("no PRM or ORM to evaluate (none saved under the models folder: "
                             f"{' | '.join(SCORER_DIRS)} with a final/ folder)", field="models",
                             expected="train one first (dreamprm train / correct), or pass --execution-only for "
                                      "the execution-evidence baselines alone")
    if challenger and scorers and challenger not in scorers:
        log.warning("the challenger %r is not among the evaluated models (%s): no promotion decision this run",
                    challenger, ", ".join(scorers))
    s = get_settings()
    configure_mlflow(s)
    problems = read_parquet(problems_path)
    from dreamprm.validation import read_validated, validate_candidate_pool, validate_executions, validate_scores

    candidates = read_validated(candidates_path, validate_candidate_pool)  # GX when read
    # An execution row of one of these candidates must be on its problem; rows of other candidates are not read,
    # and are counted (rows_of_other_candidates) and said.
    of_candidates = partial(validate_executions, candidates=candidates)
    executions = (read_validated(executions_path, of_candidates)  # GX when read
                  if executions_path and Path(executions_path).exists() else None)
    other_rows = {"executions": rows_of_other_candidates(executions, candidates, executions_path)}
    # Only the manifest's eval side (or the sides asked for), never a silent fall-back to every problem.
    problems, _, _ = problems_on_sides(problems, problems_path, split, "eval")
    candidates = candidates[candidates["problem_id"].isin(problems["problem_id"])]
    left_out = int((~problems["problem_id"].isin(candidates["problem_id"])).sum())
    subsets = {n: None if n == 0 else set(first_per_problem(candidates, n)["candidate_id"].astype(str))
               for n in sizes}
    if 0 not in sizes:  # score only what some size evaluates
        candidates = first_per_problem(candidates, max(sizes))
    frame = evaluation_frame(problems, candidates, executions)
    hybrid_sizes = {n for n in sizes if hybrid_only_above > 0 and (n == 0 or n > hybrid_only_above)
                    and (n != 0 or frame.groupby("problem_id").size().max() > hybrid_only_above)}
    if hybrid_sizes and "examples_passed" not in frame:
        raise InputDataError("--hybrid-only-above needs the candidates' executions on their statement examples "
                             "(the hybrids rank the survivors)", path=executions_path, field="executions",
                             expected="`dreamprm execute --tests public` first")
    to_score = None
    if hybrid_sizes and not execution_only:
        head = set(first_per_problem(candidates, hybrid_only_above)["candidate_id"].astype(str))
        ids = frame["candidate_id"].astype(str)
        to_score = (frame["examples_passed"] == True) | ids.isin(head)  # object column, None = unknown
    loaded: dict[str, Any] = {}
    if scorers:
        from dreamprm.prm.device import load_prm  # imports torch: only when a model is evaluated

        loaded = {name: load_prm(path) for name, path in scorers.items()}
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
        from dreamprm.prm.device import load_prm

        loaded["champion"] = load_prm(champion_dir)
    fusion = None
    if fusion_dir and fusion_dir.lower() != "none":
        from dreamprm.evaluate.fusion import FusionModel

        fusion = FusionModel.load(fusion_dir)
        if fusion.scorer not in loaded:
            raise InputDataError(f"the fusion model fuses the scores of {fusion.scorer!r}, which is not evaluated",
                                 path=fusion_dir, field="scorer", expected=" | ".join(loaded) or "a saved model")
        if "examples_passed" not in frame:
            raise InputDataError("the fusion needs the candidates' executions on their statement examples",
                                 path=executions_path, field="executions",
                                 expected="`dreamprm execute --tests public` first")
    seen = {n: m.seen_problems() for n, m in loaded.items()} | ({"fusion": fusion.seen_problems()} if fusion else {})
    check_disjoint(frame["problem_id"].astype(str), seen)
    if to_score is not None:  # the hybrids' candidates only; the others keep no score (ranked below scored ones)
        scored = add_prm_scores(frame[to_score.to_numpy()], loaded, progress=progress)
        for col in [c for c in scored.columns if c.startswith("scores:")]:
            frame[col] = pd.Series(scored[col].to_list(), index=scored.index).reindex(frame.index)
            frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
    else:
        frame = add_prm_scores(frame, loaded, progress=progress)
    if fusion is not None:
        from dreamprm.evaluate.fusion import add_fusion_scores

        frame = add_fusion_scores(frame, fusion)
    prior = None
    if prior_path and prior_path.lower() != "none":
        from dreamprm.evaluate.prior import GeneratorPrior, add_prior_scores

        prior = GeneratorPrior.load(prior_path, frame["problem_id"].astype(str).unique())
        frame = add_prior_scores(frame, prior, candidates_path)
    validate_scores(frame)  # GX: the scores hand-off to selection
    outputs = None
    if probes_path and probes_path.lower() != "none":
        from dreamprm.evaluate.consensus import probe_outputs, probe_seconds

        if not Path(probes_path).exists():
            raise InputDataError("no probe executions at this path", path=probes_path, field="probes",
                                 expected="`dreamprm execute --tests probes --survivors-of <executions>` first")
        if "examples_passed" not in frame:
            raise InputDataError("consensus needs the candidates' executions on their statement examples",
                                 path=executions_path, field="executions",
                                 expected="`dreamprm execute --tests public` first")
        probe_table = read_validated(probes_path, of_candidates)  # GX when read, as execute wrote it
        other_rows["probes"] = rows_of_other_candidates(probe_table, candidates, probes_path)
        outputs = probe_outputs(probe_table, probes_path)
        seconds = probe_seconds(probe_table, probes_path, speed_clock)
    # Every method against random, the strongest cheap baseline (majority vote) and, when trained, the ORM.
    references = ["random", "majority"] + ([f"orm:{aggregation}"] if "orm" in loaded else [])
    if "examples_passed" in frame and frame["examples_passed"].notna().any():
        references.append("filter:random")  # the execution-evidence filter any user can run (PAPER.md, last section)
    out = Path(out_dir)
    frames = {n: frame if subsets[n] is None else frame[frame["candidate_id"].astype(str).isin(subsets[n])]
              for n in sizes}
    if outputs is not None:  # the consensus of each size's own pool of survivors
        from dreamprm.evaluate.consensus import add_consensus_scores

        breakers = {name: f"scores:{name}" for name in [*loaded, *(["prior"] if prior is not None else [])]
                    if f"scores:{name}" in frame}
        frames = {n: add_consensus_scores(f, outputs, breakers, aggregation, seconds) for n, f in frames.items()}
    primary = frames[sizes[0]]  # its report decides promotion and names the evaluation set
    reports: dict[int, dict[str, Any]] = {}
    sections: list[str] = []
    plots: dict[int, dict[str, Path]] = {}
    # Every size is written into a staging folder first (io.atomic_entries): a failure leaves the previous
    # reports as they were, and no report file of an earlier run survives beside the new ones.
    with atomic_entries(out, owns=is_report_entry) as staging:
        for i, n in enumerate(sizes):
            folder = staging if i == 0 else staging / size_label(n)
            hybrid_only = n in hybrid_sizes and bool(loaded)
            refs = [f"filter:{r}" if hybrid_only and r.startswith("orm:") else r for r in references]
            reports[n] = build_report(frames[n], n_resamples=n_resamples, seed=s.seed, references=refs,
                                      hybrid_only=hybrid_only)
            reports[n]["n_problems_on_sides_without_candidates"] = left_out  # not attempted: outside the set
            reports[n]["n_rows_of_other_candidates"] = other_rows  # not read: another candidates table's
            if fusion is not None:
                from dreamprm.evaluate.report import _json_safe

                reports[n]["fusion"] = _json_safe(fusion.summary())
            trained = {name: m.provenance["step_labels"] for name, m in loaded.items()
                       if "step_labels" in m.provenance}
            if trained:  # what each model learned from, by label kind (models trained before this was recorded: none)
                reports[n]["training_labels"] = trained
            if prior is not None:
                reports[n]["prior"] = prior.summary(frames[n]["policy"])
            if outputs is not None:
                from dreamprm.evaluate.consensus import consensus_coverage, tie_break_ceiling

                reports[n]["consensus"] = {"probes": probes_path, "speed_clock": speed_clock,
                                           **consensus_coverage(frames[n], outputs), **tie_break_ceiling(frames[n])}
            write_json(reports[n], folder / "report.json")
            write_parquet(selection_picks(frames[n], hybrid_only=hybrid_only), folder / "picks.parquet")
            md = render_markdown(reports[n])
            write_text(md + "\n", folder / "report.md")
            plots[n] = {name: out / path.relative_to(staging) for name, path in write_plots(reports[n], folder).items()}
            write_json(dvc_metrics(reports[n]), folder / "metrics.json")
            top = reports[n]["candidates_per_problem"]["max"]
            what = "every candidate" if n == 0 else f"the first {n} of each problem (sample 0 of every model first)"
            sections.append(f"## best-of-{top}: {what}\n\n{md}")
        markdown = sections[0].split("\n\n", 1)[1] if len(sizes) == 1 else "\n\n".join(sections)
        if len(sizes) > 1:
            write_text(markdown + "\n", staging / "report.md")
    folders = {n: out if i == 0 else out / size_label(n) for i, n in enumerate(sizes)}
    report = reports[sizes[0]]
    eval_set = hashlib.sha256(json.dumps(sorted(primary["candidate_id"].astype(str))).encode()).hexdigest()[:16]
    ident = RunIdentity(stage="evaluate", data_version=eval_set, backbone=",".join(scorers) or "none", seed=s.seed)
    from dreamprm.data.split import manifest_path_for

    identity = EVALUATE_PARAMETERS.identity(
        call, read_beside={"manifest": manifest_path_for(problems_path), "champion": champion_dir},
        derived={"registered_model": model_name, "challenger_version": challenger_version,
                 "champion_version": champion_version})
    decision = None
    with stage_run(ident, params={"split": split, "scorers": json.dumps(scorers), "aggregation": aggregation,
                                  "fusion": fusion_dir, "probes": probes_path, "prior": prior_path,
                                  "speed_clock": speed_clock if probes_path else None,
                                  "n_resamples": n_resamples, "problems": len(problems),
                                  "per_problem": ",".join(map(str, sizes)), "execution_only": execution_only,
                                  "hybrid_only_above": hybrid_only_above,
                                  "device": ",".join(sorted({str(m.device) for m in loaded.values()})) or None,
                                  "candidates": len(primary)}):
        mlflow.set_tag("dreamprm.identity", identity)  # the same tag: the same settings, inputs, models and code
        for i, n in enumerate(sizes):
            prefix = "" if i == 0 else f"{size_label(n).replace('-', '_')}."
            for method, entry in reports[n]["methods"].items():
                # MLflow metric names allow alphanumerics, _ - . space : /; anything else becomes "_".
                key = re.sub(r"[^\w\-. /]", "_", method.replace(":", "."))
                mlflow.log_metric(f"{prefix}pass_at_1.{key}", entry["pass_at_1"]["estimate"])
            if "tie_break_ceiling" in (reports[n].get("consensus") or {}):
                mlflow.log_metric(f"{prefix}consensus.tie_break_ceiling", reports[n]["consensus"]["tie_break_ceiling"])
            where = None if i == 0 else size_label(n)
            mlflow.log_dict(reports[n], "report.json" if i == 0 else f"{where}/report.json")
            for path in [*plots[n].values(), folders[n] / "picks.parquet"]:
                mlflow.log_artifact(str(path), artifact_path=where)
        mlflow.log_text(markdown, "report.md")
        method = f"{challenger}:{aggregation}" if challenger else None
        if method and method in report["methods"] and challenger_version is not None \
                and challenger_version != champion_version:
            from dreamprm.evaluate.select import CandidateTable

            methods = {method: (f"scores:{challenger}", aggregation)}
            if champion_dir is not None:
                methods["champion"] = ("scores:champion", aggregation)
            table = CandidateTable.from_frame(primary, score_methods=methods)
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
            "methods": {m: e["pass_at_1"]["estimate"] for m, e in report["methods"].items()},
            "sizes": {size_label(n): {m: e["pass_at_1"]["estimate"] for m, e in r["methods"].items()}
                      for n, r in reports.items()}}
