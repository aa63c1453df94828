"""How much a repeated fetch saves: the fetch flow over ../shared/data run twice into one fresh project folder, the
second run served from Prefect's task cache, timed side by side.

    python benchmarks/bench_fetch_cache.py [--data ../shared/data] [--repeats 3]

Each repeat runs in a child process with a new project folder (own Prefect home and result cache, own MLflow store),
so every "first" run builds the tables and every "cached" run reads them back. Prints both times per repeat and the
median ratio cached/first; the target is a ratio under 0.2 (the tests check that the repeat is a cache hit, not how
fast it is, because a wall-clock ratio depends on the machine's load).
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
    PREFECT_HOME is inside ``root`` (Prefect reads its settings once, at import)."""
    from dreamprm.data.fetch import FetchConfig
    from flows.fetch import fetch_flow

    cfg = FetchConfig(recorded=[data], out_dir=root / "out")
    t = time.perf_counter()
    first = fetch_flow(cfg)
    first_s = time.perf_counter() - t
    t = time.perf_counter()
    cached = fetch_flow(cfg)
    cached_s = time.perf_counter() - t
    if cached["data_hash"] != first["data_hash"]:
        raise SystemExit("the cached repeat returned other data than the first run")
    return {"first_s": first_s, "cached_s": cached_s}


def in_fresh_project(data: Path) -> dict[str, float]:
    """One repeat in a child process with a new project folder: own Prefect home and result cache, own MLflow store."""
    with tempfile.TemporaryDirectory(prefix="bench-fetch-", dir=REPO.parent) as tmp:
        root = Path(tmp)
        env = {**os.environ, "DREAMPRM_ROOT": str(root), "PREFECT_HOME": str(root / ".prefect"),
               "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        out = subprocess.run([sys.executable, __file__, "--data", str(data), "--child", str(root)], env=env,
                             cwd=root, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(one_repeat(args.data, args.child)))
        return
    if not args.data.is_dir():
        raise SystemExit(f"benchmark data folder {args.data} is absent (../shared/data beside the repo)")
    ratios = []
    for i in range(args.repeats):
        times = in_fresh_project(args.data.resolve())
        first_s, cached_s = times["first_s"], times["cached_s"]
        ratios.append(cached_s / first_s)
        print(f"repeat {i + 1}: first {first_s:.2f} s, cached {cached_s:.2f} s, ratio {ratios[-1]:.3f}", flush=True)
    median = statistics.median(ratios)
    verdict = "meets" if median < TARGET_RATIO else "misses"
    print(f"median ratio cached/first {median:.3f} ({verdict} the target < {TARGET_RATIO})")


if __name__ == "__main__":
    main()
