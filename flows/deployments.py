"""Prefect deployments: the pipeline, each stage, and the scheduled release watcher, served from one process.

    export PREFECT_API_URL=http://127.0.0.1:4200/api     # make services starts the server
    python -m flows.deployments                           # serves the deployments (Ctrl-C stops)
    prefect deployment run pipeline/pipeline              # or from the UI, with editable parameters

``--cron`` sets the watcher's schedule (default: every 6 hours). For work pools (process / docker / kubernetes) use
``prefect deploy`` with infra/prefect.yaml instead of serving.
"""

from __future__ import annotations

import argparse


def deployments(cron: str = "0 */6 * * *") -> list:
    from flows.correct import correct_flow
    from flows.evaluate import evaluate_flow
    from flows.execute import execute_flow
    from flows.fetch import fetch_flow
    from flows.generate import generate_flow
    from flows.label import label_flow
    from flows.pipeline import pipeline_flow
    from flows.release_watcher import release_watcher_flow
    from flows.train import train_flow

    stages = [fetch_flow, generate_flow, execute_flow, label_flow, train_flow, correct_flow, evaluate_flow]
    out = [pipeline_flow.to_deployment(name="pipeline", tags=["dreamprm"]),
           release_watcher_flow.to_deployment(name="release-watcher", cron=cron, tags=["dreamprm"],
                                              parameters={"in_process": False})]
    out += [f.to_deployment(name=f.name, tags=["dreamprm", "stage"]) for f in stages]
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cron", default="0 */6 * * *", help="release watcher schedule")
    args = parser.parse_args(argv)
    from prefect import serve

    serve(*deployments(args.cron))


if __name__ == "__main__":
    main()
