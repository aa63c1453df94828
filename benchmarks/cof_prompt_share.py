"""How many Chain-of-Function candidates have two or more functions, and how many pass, for a prompt variant.

Samples Qwen2.5-Coder-0.5B (llama.cpp backend) on TRAINING-side HumanEval problems only (the split manifest's rule,
so the prompt is never chosen on held-out problems), executes the programs in the sandbox and prints one JSON line:
pass rate, share with two or more top-level functions, per-candidate function counts.

    python benchmarks/cof_prompt_share.py --problems 8 --samples 2             # the generate stage's own prompt
    python benchmarks/cof_prompt_share.py --problems 12 --samples 2 --no-prefill   # the CoF prompt alone
    python benchmarks/cof_prompt_share.py --templates DIR                      # a variant template folder
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from dreamprm.data.humaneval import load_humaneval
from dreamprm.data.split import assign_sides
from dreamprm.execution import ExecuteConfig, SandboxJudge
from dreamprm.extract import extract_code
from dreamprm.generation import answer_text, count_functions
from dreamprm.policy.base import FENCE_CLOSE, SamplingParams, with_prefill
from dreamprm.policy.llamacpp import LlamaCppPolicy
from dreamprm.prompts import answer_opening, build_prompt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", type=int, default=8)
    ap.add_argument("--samples", type=int, default=2)
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--max-tokens", type=int, default=384)
    ap.add_argument("--templates", type=Path, default=None, help="a template folder (default: the project's)")
    ap.add_argument("--no-prefill", action="store_true", help="no prefilled answer opening")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    problems = load_humaneval()
    problems = problems[assign_sides(problems).eq("train")].head(args.problems)
    records = problems.to_dict("records")
    prompts = []
    for r in records:
        prompt = build_prompt(r, template_dir=args.templates)
        opening = None if args.no_prefill else answer_opening(r, template_dir=args.templates)
        prompts.append(with_prefill(prompt, opening) if opening else prompt)
    stop = () if args.no_prefill else (FENCE_CLOSE,)
    t0 = time.time()
    with LlamaCppPolicy("qwen2.5-coder-0.5b", parallel=8, threads=args.threads, threads_batch=args.threads) as pol:
        outs = pol.generate(prompts, SamplingParams(n=args.samples, temperature=args.temperature,
                                                    max_tokens=args.max_tokens, seed=0, stop=stop))
    seconds = time.time() - t0
    jobs, funcs = [], []
    for r, prompt, completions in zip(records, prompts, outs):
        for c in completions:
            code = extract_code(answer_text(prompt, c.text) if c.text else "").code
            jobs.append((r, code))
            funcs.append(count_functions(code))
    judge = SandboxJudge(ExecuteConfig.from_settings())
    try:
        passed = judge(jobs)
    finally:
        judge.close()
    print(json.dumps({"templates": str(args.templates or "project"), "prefill": not args.no_prefill,
                      "candidates": len(jobs), "generate_s": round(seconds), "pass": round(sum(passed) / len(jobs), 3),
                      "two_or_more_functions": round(sum(f >= 2 for f in funcs) / len(funcs), 3),
                      "functions": funcs}))


if __name__ == "__main__":
    main()
