"""Rollouts per minute with the local SmolLM2 policy on this machine's cores: batched sampling (many rollout prompts
per policy call, as the labeler does) against unbatched (one prompt per call), the same prompts, one run.

    .venv/bin/python benchmarks/bench_rollouts.py --prompts 8 --rollouts 2 --max-tokens 64
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", type=int, default=8, help="rollout prompts (HumanEval problems x prefixes)")
    ap.add_argument("--rollouts", type=int, default=2, help="samples per prompt (the paper's M)")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--batch", type=int, default=8, help="prompts per call in the batched run")
    ap.add_argument("--model", default="smollm2")
    args = ap.parse_args()

    import torch

    from dreamprm.data.humaneval import load_humaneval
    from dreamprm.policy.base import SamplingParams
    from dreamprm.policy.transformers_local import TransformersPolicy
    from dreamprm.prompts import build_rollout_prompt
    from dreamprm.steps import split_steps

    problems = load_humaneval().sort_values("problem_id").to_dict("records")
    prompts = []
    for p in problems:
        code = p["starter_code"] + "    pass\n"
        for prefix in split_steps(code).prefixes[:-1] or [p["starter_code"]]:
            prompts.append(build_rollout_prompt(p, prefix))
        if len(prompts) >= args.prompts:
            break
    prompts = prompts[: args.prompts]
    policy = TransformersPolicy(model=args.model, batch_size=args.batch)
    params = SamplingParams(n=args.rollouts, temperature=0.3, max_tokens=args.max_tokens, seed=0)
    policy.generate(prompts[:1], SamplingParams(n=1, max_tokens=4, seed=0))  # warm-up

    t0 = time.perf_counter()
    for prompt in prompts:
        policy.generate([prompt], params)
    unbatched = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i in range(0, len(prompts), args.batch):
        policy.generate(prompts[i : i + args.batch], params)
    batched = time.perf_counter() - t0

    n = len(prompts) * args.rollouts
    print(f"{n} rollouts ({len(prompts)} prompts x {args.rollouts}), max_tokens={args.max_tokens}, "
          f"model={args.model}, torch threads={torch.get_num_threads()}")
    print(f"unbatched: {unbatched:7.1f} s  {60 * n / unbatched:6.1f} rollouts/min")
    print(f"batched:   {batched:7.1f} s  {60 * n / batched:6.1f} rollouts/min  (batch {args.batch} prompts)")
    print(f"speed-up:  {unbatched / batched:.2f}x")


if __name__ == "__main__":
    main()
