"""Rollouts per minute on this machine's cores, side by side in one run: the llama.cpp backend (a local server on the
GGUF, its parallel slots decoding together) against the transformers backend (the same model converted to fp32,
batched sampling of many rollout prompts per call, as the labeler does), with the same rollout prompts and sampling
parameters. Also reports completion tokens/s, how the starter-code answers joined their prefix (kept / appended /
rewritten / empty), and with --prefill the llama.cpp rollouts from a prefilled assistant turn (what the labeler uses
on that backend; they stop at the closing fence, so they are shorter).

    .venv/bin/python benchmarks/bench_rollouts.py --prompts 6 --rollouts 4 --max-tokens 96
    .venv/bin/python benchmarks/bench_rollouts.py --backends transformers --model smollm2 --unbatched
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from typing import Any


def _rollout_prompts(count: int) -> list[tuple[dict[str, Any], str]]:
    from dreamprm.data.humaneval import load_humaneval
    from dreamprm.steps import split_steps

    problems = load_humaneval().sort_values("problem_id").to_dict("records")
    jobs: list[tuple[dict[str, Any], str]] = []
    for p in problems:
        code = p["starter_code"] + "    pass\n"
        for prefix in split_steps(code).prefixes[:-1] or [p["starter_code"]]:
            jobs.append((p, prefix))
        if len(jobs) >= count:
            break
    return jobs[:count]


def _tokens(outs: list[list[Any]], prefixes: list[str], prefilled: bool, tokenizer: Any) -> int:
    """Completion tokens, counted the same way for every backend: the model's tokenizer over each returned text (the
    continuation only, for prefilled answers). OpenAI-style usage cannot be used: llama.cpp reports one choice's
    count for an n-choice request."""
    from dreamprm.labeling.rollouts import FENCE_OPEN

    total = 0
    for prefix, group in zip(prefixes, outs):
        for c in group:
            text = c.text
            if prefilled and text.startswith(FENCE_OPEN + prefix):
                text = text[len(FENCE_OPEN + prefix):]
            total += len(tokenizer(text, add_special_tokens=False)["input_ids"]) if text else 0
    return total


def _report(label: str, outs: list[list[Any]], seconds: float, prefixes: list[str], prefilled: bool,
            tokenizer: Any) -> dict[str, Any]:
    from dreamprm.labeling.rollouts import rollout_program

    n = sum(len(g) for g in outs)
    rules = Counter(rollout_program(prefix, c, prefilled)[1] for prefix, g in zip(prefixes, outs) for c in g)
    tokens = _tokens(outs, prefixes, prefilled, tokenizer)
    row = {"run": label, "rollouts": n, "seconds": seconds, "per_min": 60 * n / seconds, "tokens": tokens,
           "tok_s": tokens / seconds, "rules": dict(rules)}
    print(f"{label:<28} {seconds:7.1f} s  {row['per_min']:6.1f} rollouts/min  {tokens:6d} tokens  "
          f"{row['tok_s']:5.1f} tokens/s  {dict(rules)}", flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", type=int, default=6, help="rollout prompts (HumanEval problems x prefixes)")
    ap.add_argument("--rollouts", type=int, default=4, help="samples per prompt (the paper's M)")
    ap.add_argument("--max-tokens", type=int, default=96)
    ap.add_argument("--model", default="qwen2.5-coder-0.5b")
    ap.add_argument("--backends", default="llamacpp,transformers", help="comma list: llamacpp, transformers")
    ap.add_argument("--batch", type=int, default=8, help="transformers: prompts per call")
    ap.add_argument("--parallel", type=int, default=8, help="llamacpp: server slots")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--poll", type=int, default=50, help="llamacpp: busy-wait level 0-100 (0: idle threads sleep)")
    ap.add_argument("--unbatched", action="store_true", help="transformers: also one prompt per call")
    ap.add_argument("--prefill", action="store_true", help="llamacpp: also the prefilled-turn rollouts")
    args = ap.parse_args()

    from dreamprm.labeling.rollouts import rollout_params, rollout_prompt
    from dreamprm.models import load_tokenizer
    from dreamprm.policy.base import SamplingParams

    tokenizer = load_tokenizer(args.model)

    jobs = _rollout_prompts(args.prompts)
    prefixes = [prefix for _, prefix in jobs]
    params = SamplingParams(n=args.rollouts, temperature=0.3, max_tokens=args.max_tokens, seed=0)
    warm = SamplingParams(n=1, max_tokens=4, seed=0)
    print(f"{len(jobs) * args.rollouts} rollouts per run ({len(jobs)} HumanEval rollout prompts x {args.rollouts}), "
          f"max_tokens={args.max_tokens}, temperature 0.3, model={args.model}, {args.threads} threads", flush=True)
    rows = []
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        t0 = time.perf_counter()
        if backend == "llamacpp":
            from dreamprm.policy.llamacpp import LlamaCppPolicy

            policy: Any = LlamaCppPolicy(args.model, parallel=args.parallel, threads=args.threads,
                                         threads_batch=args.threads, poll=args.poll, ctx_per_slot=2048)
        elif backend == "transformers":
            import torch

            from dreamprm.policy.transformers_local import TransformersPolicy

            torch.set_num_threads(args.threads)
            policy = TransformersPolicy(model=args.model, batch_size=args.batch)
        else:
            raise SystemExit(f"unknown backend {backend!r}")
        with policy:
            starter = [rollout_prompt(policy, p, prefix, prefill=False) for p, prefix in jobs]
            policy.generate(starter[:1], warm)
            print(f"{backend}: loaded and warmed up in {time.perf_counter() - t0:.1f} s", flush=True)
            if backend == "transformers" and args.unbatched:
                t0 = time.perf_counter()
                outs = [policy.generate([p], params)[0] for p in starter]
                rows.append(_report("transformers unbatched", outs, time.perf_counter() - t0, prefixes, False,
                                    tokenizer))
            t0 = time.perf_counter()
            if backend == "transformers":
                outs = []
                for i in range(0, len(starter), args.batch):
                    outs += policy.generate(starter[i : i + args.batch], params)
                label = f"transformers batch {args.batch}"
            else:
                outs = policy.generate(starter, params)
                label = f"llamacpp {args.parallel} slots"
            rows.append(_report(label, outs, time.perf_counter() - t0, prefixes, False, tokenizer))
            if backend == "llamacpp" and args.prefill:
                prefilled = [rollout_prompt(policy, p, prefix) for p, prefix in jobs]
                t0 = time.perf_counter()
                outs = policy.generate(prefilled, rollout_params(policy, params))
                rows.append(_report("llamacpp prefilled", outs, time.perf_counter() - t0, prefixes, True, tokenizer))
    ll = next((r for r in rows if r["run"].startswith("llamacpp") and "prefilled" not in r["run"]), None)
    tf = next((r for r in rows if r["run"].startswith("transformers batch")), None)
    if ll and tf:
        print(f"llama.cpp / transformers: {ll['per_min'] / tf['per_min']:.2f}x rollouts/min, "
              f"{ll['tok_s'] / max(tf['tok_s'], 1e-9):.2f}x tokens/s")


if __name__ == "__main__":
    main()
