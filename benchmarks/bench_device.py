"""The LoRA PRM on the CPU and on a CUDA GPU, side by side in one run: scoring candidates/s, warm-up examples/s
(fp32 and bf16 mixed precision on the GPU) and bi-level correction iterations/s, with the GPU's peak memory and the
largest score difference between the two devices.

This is the setup the README gives for a GPU (``LCB_LAYERS=0 LCB_FINETUNE=lora``): LoRA adapters over every layer,
a full forward (and for training a backward; for the correction a double backward) at every step. The workload is
real: recorded release_v6 candidates with their statements, as :mod:`benchmarks.bench_modes` picks them (problems
with two or more functions first, the last quarter of the problems the correction's meta side, outcome labels).

``--random-weights`` builds the backbone from a model folder's ``config.json`` and tokenizer with random weights
instead of loading them: the speed of a forward does not depend on the weights' values, so a machine that cannot
receive the 2.4 GB of Qwen2.5-Coder-0.5B weights (a lent GPU takes 64 MiB of files) still measures that
architecture's cost. Scores are then meaningless as scores, but the CPU and the GPU must still agree on them.

    # here (needs ../shared/data): save the workload, or run it on this machine's CPU (no GPU: CPU figures only)
    .venv/bin/python benchmarks/bench_device.py --save-workload .bench-workload
    # on a GPU machine, with a folder holding Qwen2.5-Coder-0.5B's config.json and tokenizer files
    python benchmarks/bench_device.py --workload .bench-workload --backbone qwen-config --random-weights
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

WORKLOAD_FILES = ("problems.parquet", "candidates.parquet", "rows.parquet")


def load_workload(args: argparse.Namespace):
    """(problems, candidates, step-label rows): from ``--workload`` if given, else from ../shared/data."""
    import pandas as pd

    if args.workload:
        d = Path(args.workload)
        missing = [f for f in WORKLOAD_FILES if not (d / f).is_file()]
        if missing:
            raise SystemExit(f"{d} lacks {missing}: write it with --save-workload")
        return tuple(pd.read_parquet(d / f) for f in WORKLOAD_FILES)
    from bench_modes import workload

    return workload(args.problems, args.per_problem, args.seed)


def build_prm(args: argparse.Namespace):
    """The LoRA PRM over every layer: pretrained weights, or (``--random-weights``) the architecture alone."""
    import torch

    from dreamprm.prm.model import PRMConfig, ProcessRewardModel

    cfg = PRMConfig(backbone=args.backbone, num_layers=None, finetune="lora", max_length=args.max_length,
                    lora_dropout=0.0)
    if not args.random_weights:
        return ProcessRewardModel.from_config(cfg, seed=args.seed)
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    torch.manual_seed(args.seed)
    backbone = AutoModel.from_config(AutoConfig.from_pretrained(args.backbone), dtype=torch.float32)
    return ProcessRewardModel(backbone, AutoTokenizer.from_pretrained(args.backbone), cfg)


def measure(prm, device: str, items: list, rows, args: argparse.Namespace, tmp: Path) -> dict:
    """Scoring, warm-up and correction rates of ``prm`` (moved to ``device``); training and correction work on
    copies, so every device starts from the same weights."""
    import torch
    from accelerate.state import AcceleratorState

    from dreamprm.prm.correct import CorrectConfig, correct_prm
    from dreamprm.prm.train import TrainConfig, train_prm

    gpu = device == "cuda"
    n = args.gpu_candidates if gpu else args.cpu_candidates
    prm.to(device)

    def sync() -> None:
        if gpu:
            torch.cuda.synchronize()

    out: dict[str, object] = {"device": torch.cuda.get_device_name() if gpu else f"cpu ({torch.get_num_threads()} "
                                                                                   "threads)"}
    prm.score_batch(items[:2], batch_size=2, too_long="none")  # warm-up (kernels, allocator)
    sync()
    t0 = time.perf_counter()
    scores = prm.score_batch(items[:n], batch_size=args.batch_size, too_long="none")
    sync()
    out["scoring"] = {"candidates": n, "per_s": round(n / (time.perf_counter() - t0), 3)}

    train_runs = [("fp32", "no")] + ([("bf16", "bf16")] if gpu else [])
    for label, precision in train_runs:
        steps = args.gpu_train_steps if gpu else args.cpu_train_steps
        cfg = TrainConfig(epochs=1000, max_steps=steps, batch_size=args.train_batch, grad_accum=1, lr=1e-4,
                          head_lr=1e-3, eval_every=10**6, save_every=10**6, seed=args.seed,
                          mixed_precision=precision)  # type: ignore[arg-type]
        s = train_prm(copy.deepcopy(prm), rows, None, cfg, tmp / f"train-{device}-{label}", resume=False,
                      device=device)
        AcceleratorState._reset_state(reset_partial_state=True)  # the next run may change the precision
        out[f"warmup_{label}"] = {"steps": s["steps"], "examples_per_s": round(s["examples_per_s"], 3)}

    iterations = args.gpu_iterations if gpu else args.cpu_iterations
    ticks: list[float] = []
    t0 = time.perf_counter()
    correct_prm(copy.deepcopy(prm), rows, CorrectConfig(mode="weights", iterations=iterations,
                                                        batch_size=args.train_batch,
                                                        meta_batch_size=args.train_batch, seed=args.seed),
                progress=lambda i, total: (sync(), ticks.append(time.perf_counter())))
    rate = (iterations - 1) / (ticks[-1] - ticks[0]) if iterations > 1 else 1 / (ticks[-1] - t0)
    out["correct_weights"] = {"iterations": iterations, "per_s": round(rate, 4)}
    if gpu:
        out["peak_gpu_memory_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    prm.to("cpu")
    return {"figures": out, "scores": scores}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbone", default="qwen2.5-coder-0.5b", help="model spec or local Hugging Face folder")
    ap.add_argument("--random-weights", action="store_true", help="the backbone folder's architecture, random weights")
    ap.add_argument("--workload", help="a folder written by --save-workload (default: read ../shared/data)")
    ap.add_argument("--save-workload", help="write the workload's tables to this folder and stop")
    ap.add_argument("--problems", type=int, default=8)
    ap.add_argument("--per-problem", type=int, default=4)
    ap.add_argument("--max-length", type=int, default=1024)
    ap.add_argument("--batch-size", type=int, default=8, help="scoring batch")
    ap.add_argument("--train-batch", type=int, default=4)
    ap.add_argument("--cpu-candidates", type=int, default=8, help="candidates scored on the CPU (the first ones)")
    ap.add_argument("--gpu-candidates", type=int, default=32)
    ap.add_argument("--cpu-train-steps", type=int, default=1)
    ap.add_argument("--gpu-train-steps", type=int, default=10)
    ap.add_argument("--cpu-iterations", type=int, default=1)
    ap.add_argument("--gpu-iterations", type=int, default=6)
    ap.add_argument("--out", help="also write the JSON here")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    problems, cands, rows = load_workload(args)
    if args.save_workload:
        from dreamprm.io import write_parquet

        d = Path(args.save_workload)
        for name, df in zip(WORKLOAD_FILES, (problems, cands, rows)):
            write_parquet(df, d / name)  # written, then renamed into place
        print(f"wrote {len(cands)} candidates of {problems['problem_id'].isin(cands['problem_id']).sum()} problems "
              f"to {d}")
        return

    import torch
    from bench_modes import prm_items

    items = prm_items(problems, cands)
    prm = build_prm(args)
    enc = [prm.encoder.encode(x) for x in items]
    result: dict[str, object] = {
        "backbone": args.backbone, "random_weights": args.random_weights, "layers": prm.backbone_config.num_hidden_layers,
        "parameters": prm.parameter_counts(), "candidates": len(items), "mean_tokens": round(sum(map(len, enc)) / len(enc)),
        "load_avg_1m_at_start": round(os.getloadavg()[0], 2),
    }
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for device in devices:
            runs[device] = measure(prm, device, items, rows, args, Path(tmp))
    for device in devices:
        result[device] = runs[device]["figures"]
    if "cuda" in runs:
        cpu_f, gpu_f = runs["cpu"]["figures"], runs["cuda"]["figures"]
        k = args.cpu_candidates
        diff = max(abs(a - b) for x, y in zip(runs["cpu"]["scores"], runs["cuda"]["scores"][:k]) if x
                   for a, b in zip(x, y))
        result["gpu_over_cpu"] = {
            "scoring": round(gpu_f["scoring"]["per_s"] / cpu_f["scoring"]["per_s"], 1),
            "warmup_fp32": round(gpu_f["warmup_fp32"]["examples_per_s"] / cpu_f["warmup_fp32"]["examples_per_s"], 1),
            "warmup_bf16": round(gpu_f["warmup_bf16"]["examples_per_s"] / cpu_f["warmup_fp32"]["examples_per_s"], 1),
            "correct": round(gpu_f["correct_weights"]["per_s"] / cpu_f["correct_weights"]["per_s"], 1),
        }
        result["max_score_difference_cpu_gpu"] = diff
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
