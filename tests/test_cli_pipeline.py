"""`dreamprm pipeline` offers every parameter the pipeline flow takes; execute, label and evaluate read the same
candidates table by default."""

from __future__ import annotations

import inspect
from pathlib import Path

from dreamprm.cli.pipeline import pipeline
from dreamprm.data.schema import default_candidates_path


def test_pipeline_cli_exposes_every_flow_parameter() -> None:
    from flows.pipeline import pipeline_flow

    flow_params = set(inspect.signature(pipeline_flow.fn).parameters)
    cli_params = set(inspect.signature(pipeline).parameters)
    assert flow_params <= cli_params, sorted(flow_params - cli_params)


def test_one_default_candidates_table(tmp_path: Path) -> None:
    assert default_candidates_path(tmp_path) == tmp_path / "candidates.parquet"
    (tmp_path / "generated.parquet").write_bytes(b"")
    assert default_candidates_path(tmp_path) == tmp_path / "generated.parquet"
