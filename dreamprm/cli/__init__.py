"""The ``dreamprm`` command line: one command per stage, plus ``info``.

Each stage's command lives in ``dreamprm/cli/<stage>.py`` and is registered below. Commands run the stage's Prefect
flow (imported lazily: ``dreamprm --help`` stays fast), so the CLI, ``dvc repro`` and ``prefect deployment run``
produce the same artifacts.
"""

from __future__ import annotations

import typer

from dreamprm.cli import correct, evaluate, execute, fetch, fuse, generate, info, label, pipeline, rerank, train

app = typer.Typer(
    name="dreamprm",
    help="DreamPRM-Code: train process reward models for code and pick the best of N candidate programs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

@app.callback()
def _global_options(debug: bool = typer.Option(False, "--debug", help="show the traceback of expected errors "
                                               "(bad input, failed validation) too")) -> None:
    import os

    if debug:
        os.environ["DREAMPRM_DEBUG"] = "1"


app.command("demo", help=pipeline.demo.__doc__)(pipeline.demo)
app.command("pipeline", help=pipeline.__doc__)(pipeline.pipeline)
app.command("info", help=info.__doc__)(info.info)
app.command("fetch", help=fetch.__doc__)(fetch.fetch)
app.command("generate", help=generate.__doc__)(generate.generate)
app.command("execute", help=execute.__doc__)(execute.execute)
app.command("label", help=label.__doc__)(label.label)
app.command("train", help=train.__doc__)(train.train)
app.command("correct", help=correct.__doc__)(correct.correct)
app.command("fuse", help=fuse.__doc__)(fuse.fuse)
app.command("evaluate", help=evaluate.__doc__)(evaluate.evaluate)
app.command("rerank", help=rerank.__doc__)(rerank.rerank)


def main() -> None:  # pragma: no cover - console entry point
    app()
