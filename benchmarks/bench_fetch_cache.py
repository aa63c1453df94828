"""How much a repeated fetch saves: the fetch flow over ../shared/data run twice into one fresh project folder, the
second run served from Prefect's task cache, timed side by side.

    python benchmarks/bench_fetch_cache.py [--data ../shared/data] [--repeats 3]

Each repeat runs in a child process with a new project folder (own Prefect home and result cache, own MLflow store),
so every "first" run builds the tables and every "cached" run reads them back. Prints both times per repeat and the
median ratio cached/first, and the same net of what an empty cached Prefect flow run costs in the same process
(about a second: the run's API calls and joining its heartbeat thread, whatever the flow does). The target is a
ratio under 0.2. The tests check that the repeat is a cache hit, not how fast it is: a wall-clock ratio depends on
the machine's load.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
TARGET_RATIO = 0.2


def one_repeat(data: Path, root: Path) -> dict[str, float]:
    """(first, cached) seconds of fetch_flow on ``data`` in project folder ``root``; run in a child process whose
    PREFECT_HOME is inside ``root`` (Prefect reads its settings once, at import). A warm-up fetch of HumanEval alone
    (another cache key) first pays the one-off costs that are not the fetch's: starting the ephemeral Prefect API
    and migrating its database, creating the MLflow store, the first imports of MLflow and Great Expectations. (It
    also leaves HumanEval's loading task cached, a small part of the timed first run.)"""
    from dreamprm.data.fetch import FetchConfig
    from flows.fetch import fetch_flow

    fetch_flow(FetchConfig(humaneval=True, out_dir=root / "warm-up"))
    cfg = FetchConfig(recorded=[data], out_dir=root / "out")
    t = time.perf_counter()
    first = fetch_flow(cfg)
    first_s = time.perf_counter() - t
    t = time.perf_counter()
    cached = fetch_flow(cfg)
    cached_s = time.perf_counter() - t
    if cached["data_hash"] != first["data_hash"]:
        raise SystemExit("the cached repeat returned other data than the first run")
    return {"first_s": first_s, "cached_s": cached_s, "floor_s": prefect_floor_s()}


def prefect_floor_s() -> float:
    """Seconds of a flow run that does nothing but read one cached task: what any cached flow run costs in Prefect
    (creating the run and its states over the API, joining its heartbeat thread) before the fetch's own work."""
    from prefect import flow, task
    from prefect.cache_policies import INPUTS

    @task(cache_policy=INPUTS, persist_result=True)
    def constant(x: int) -> int:
        return x

    @flow(name="bench-empty")
    def empty() -> int:
        return constant(1)

    empty()
    t = time.perf_counter()
    empty()
    return time.perf_counter() - t


def in_fresh_project(data: Path) -> dict[str, float]:
    """One repeat in a child process with a new project folder: own Prefect home and result cache (never a Prefect
    server the caller's environment points at), own MLflow store."""
    with tempfile.TemporaryDirectory(prefix="bench-fetch-") as tmp:
        root = Path(tmp)
        env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
        env |= {"DREAMPRM_ROOT": str(root), "PREFECT_HOME": str(root / ".prefect"),
                "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        out = subprocess.run([sys.executable, __file__, "--data", str(data), "--child", str(root)], env=env,
                             cwd=root, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"the fetch in the child process failed (exit {out.returncode}):\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=None, help="default: the settings' shared_data_dir (../shared/data)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.data is None:
        from dreamprm.settings import get_settings

        args.data = get_settings().shared_data_dir
    if args.child:
        print(json.dumps(one_repeat(args.data, args.child)))
        return
    if not args.data.is_dir():
        raise SystemExit(f"benchmark data folder {args.data} is absent (it sits beside the repo as ../shared/data)")
    ratios, net = [], []
    for i in range(args.repeats):
        t = in_fresh_project(args.data.resolve())
        ratios.append(t["cached_s"] / t["first_s"])
        net.append((t["cached_s"] - t["floor_s"]) / (t["first_s"] - t["floor_s"]))
        print(f"repeat {i + 1}: first {t['first_s']:.2f} s, cached {t['cached_s']:.2f} s (ratio {ratios[-1]:.3f}); "
              f"an empty cached Prefect flow run {t['floor_s']:.2f} s; net of it {net[-1]:.3f}", flush=True)
    median = statistics.median(ratios)
    verdict = "meets" if median < TARGET_RATIO else "misses"
    print(f"median ratio cached/first {median:.3f} ({verdict} the target < {TARGET_RATIO}); "
          f"net of Prefect's per-run cost {statistics.median(net):.3f}")


if __name__ == "__main__":
    main()
