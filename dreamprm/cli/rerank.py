"""Pick the best of your own LiveCodeBench-format generations with the champion PRM."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from dreamprm.cli._common import console, handle_errors, print_summary


@handle_errors
def rerank(
    paths: List[Path] = typer.Argument(..., help="*_eval_all.json files, or folders of them"),
    model: Optional[str] = typer.Option(None, help="MLflow model URI (default: models:/<registered name>@champion)"),
    aggregation: str = typer.Option("min", help="min | mean | last | product | log_odds_sum"),
    output: Path = typer.Option(Path("reports/rerank.csv"), help="where the picks go"),
) -> None:
    """Pick the best of your own LiveCodeBench-format generations with the champion PRM; pass@1 where the files
    carry verdicts."""
    import mlflow

    from dreamprm.io import atomic_path
    from dreamprm.rerank import load_generations, rerank as do_rerank
    from dreamprm.settings import get_settings
    from dreamprm.tracking import configure_mlflow

    s = get_settings()
    configure_mlflow(s)
    uri = model or f"models:/{s.tracking.registered_model_name}@champion"
    try:
        pyfunc = mlflow.pyfunc.load_model(uri)
    except Exception as exc:  # noqa: BLE001 - MLflow raises several kinds for a missing model or alias
        from dreamprm.errors import ServiceUnavailable

        raise ServiceUnavailable(f"cannot load the PRM {uri} from {s.tracking.mlflow_tracking_uri} ({exc}); run the "
                                 "pipeline first (`make demo`) or pass --model") from None
    problems, candidates = load_generations(list(paths))
    picks, summary = do_rerank(problems, candidates, pyfunc.predict, aggregation)
    with atomic_path(output) as tmp:
        picks.to_csv(tmp, index=False)
    print_summary(f"rerank with {uri}", {**summary, "picks": str(output)})
    console.print(picks[["problem_id", "sample_index", "score", "official_passed"]].head(20).to_string(index=False))
