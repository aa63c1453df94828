"""The generate stage: N Chain-of-Function candidates per problem from a policy backend.

For each problem the prompt is built (:mod:`dreamprm.prompts`), the policy samples ``n`` completions, the program is
extracted (:mod:`dreamprm.extract`) and cut into steps (:mod:`dreamprm.steps`). Generations are cached by content
hash (prompt + template version + policy identity + sampling parameters): a re-run, or a run that was killed,
repeats none of the finished problems.

Output rows follow ``dreamprm.data.schema.CANDIDATE_COLUMNS`` plus ``step_offsets``, ``split_rule``,
``extract_rule``, ``prompt_version`` and ``sampling`` (JSON).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import pandas as pd

from dreamprm.cache import ContentCache, content_key
from dreamprm.data.schema import candidate_id
from dreamprm.extract import extract_code
from dreamprm.policy.base import (
    FENCE_CLOSE,
    ChatPrompt,
    PolicyBackend,
    SamplingParams,
    prefilled_text,
    uses_prefill,
    with_prefill,
)
from dreamprm.prompts import answer_opening, build_prompt
from dreamprm.steps import DEFAULT_MAX_STEPS, split_steps


@dataclass(frozen=True)
class GenerateConfig:
    """How many candidates, sampled how (paper: one CoF solution per training problem at temperature 0.2)."""

    n: int = 4
    temperature: float = 0.2
    top_p: float = 0.95
    max_tokens: int = 512
    seed: int = 0
    style: str = "cof"  # cof | plain
    max_steps: int = DEFAULT_MAX_STEPS
    batch_size: int = 8  # prompts per policy call (enough to keep a llama.cpp server's parallel slots busy)
    # Prefill the mode's answer opening (templates/*_opening.jinja) where the backend continues an assistant turn.
    prefill_opening: bool = True

    def __post_init__(self) -> None:
        """Checked when the config is built, before a policy server is started for it."""
        from dreamprm.errors import OptionError, check_choice
        from dreamprm.prompts import STYLES

        check_choice("style", self.style, STYLES)
        for name in ("n", "max_tokens", "batch_size"):
            if getattr(self, name) < 1:
                raise OptionError(name, getattr(self, name), "an integer >= 1")

    def sampling(self) -> SamplingParams:
        return SamplingParams(n=self.n, temperature=self.temperature, top_p=self.top_p,
                              max_tokens=self.max_tokens, seed=self.seed)


def generate_candidates(
    problems: pd.DataFrame,
    policy: PolicyBackend,
    cache: ContentCache,
    config: GenerateConfig = GenerateConfig(),
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Candidates for every problem row (see the module docstring)."""
    plain_params = config.sampling()
    # A prefilled answer is code: it stops at its closing fence instead of decoding the prose after it. Only those
    # prompts get the stop string (an answer that opens its own fence would stop right there).
    fenced_params = replace(plain_params, stop=plain_params.stop + (FENCE_CLOSE,))
    prefill = uses_prefill(policy, config.prefill_opening)
    records = problems.to_dict("records")
    rows = []
    for start in range(0, len(records), config.batch_size):
        chunk = records[start : start + config.batch_size]
        prompts = [generation_prompt(p, config.style, prefill) for p in chunk]
        params = [fenced_params if is_prefilled(pr) else plain_params for pr in prompts]
        keys = [content_key("generate", pr.cache_key(), policy.identity(), pa.cache_key())
                for pr, pa in zip(prompts, params)]
        cached = [cache.get("generate", k) for k in keys]
        for group in (plain_params, fenced_params):
            todo = [i for i, c in enumerate(cached) if c is None and params[i] is group]
            if not todo:
                continue
            fresh = policy.generate([prompts[i] for i in todo], group)
            for i, completions in zip(todo, fresh):
                cached[i] = [{"text": c.text, "error": c.error} for c in completions]
                # Failed samples are not cached, so a later run retries them.
                if all(c.ok for c in completions):
                    cache.put("generate", keys[i], cached[i])
        for problem, prompt, outs in zip(chunk, prompts, cached):
            assert outs is not None
            for idx, out in enumerate(outs):
                extracted = extract_code(answer_text(prompt, out["text"]) if out["text"] else out["text"])
                split = split_steps(extracted.code, k=config.max_steps)
                scenario = f"{config.style}"
                rows.append({
                    "candidate_id": candidate_id(str(problem["problem_id"]), policy.model, scenario, idx,
                                                 extracted.code),
                    "problem_id": str(problem["problem_id"]),
                    "policy": policy.model,
                    "scenario": scenario,
                    "sample_index": idx,
                    "source_file": "",
                    "raw_output": out["text"],
                    "code": extracted.code,
                    "official_passed": None,
                    "official_error_code": None,
                    "official_metadata": json.dumps({"generation_error": out["error"]} if out["error"] else {}),
                    "official_test_results": None,
                    "step_offsets": json.dumps(list(split.offsets)),
                    "split_rule": split.rule,
                    "extract_rule": extracted.rule,
                    "prompt_version": prompt.prompt_version,
                    "sampling": json.dumps(asdict(config), sort_keys=True),
                })
        if progress:
            progress(min(start + config.batch_size, len(records)), len(records))
    return pd.DataFrame(rows)


def generation_prompt(problem: dict, style: str, prefill: bool) -> ChatPrompt:
    """The problem's prompt; with ``prefill`` (a backend that continues an assistant turn) and a mode that has an
    answer opening (:func:`dreamprm.prompts.answer_opening`), that opening as the prefilled start of the answer."""
    prompt = build_prompt(problem, style=style)  # type: ignore[arg-type]
    opening = answer_opening(problem, style=style) if prefill else None  # type: ignore[arg-type]
    return with_prefill(prompt, opening) if opening else prompt


def is_prefilled(prompt: ChatPrompt) -> bool:
    return prompt.messages[-1].role == "assistant"


def answer_text(prompt: ChatPrompt, text: str) -> str:
    """The whole answer: for a prefilled prompt the opening, its continuation, and the closing fence that the stop
    string removed (so the program is extracted as a fenced block)."""
    if not is_prefilled(prompt):
        return text
    whole = prefilled_text(prompt.messages[-1].content, text)
    return whole if whole.count(FENCE_CLOSE) % 2 == 0 else whole.rstrip() + "\n" + FENCE_CLOSE


def count_functions(code: str) -> int:
    """Top-level functions plus methods of ``class Solution`` (the CoF units); 0 when the code does not parse."""
    import ast

    try:
        tree = ast.parse(code)
    except SyntaxError:
        return 0
    n = 0
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            n += 1
        elif isinstance(node, ast.ClassDef) and node.name == "Solution":
            n += sum(isinstance(b, (ast.FunctionDef, ast.AsyncFunctionDef)) for b in node.body)
    return n
