"""Monte-Carlo step labels.

For each candidate program and each of its step prefixes except the last, the policy is asked ``rollouts`` times
(paper: 16, temperature 0.3) to finish the program from the prefix: as a prefilled assistant turn where the backend
continues it exactly (llama.cpp), else with the prefix as its starter code (:mod:`dreamprm.labeling.rollouts` says
why); every finished program is executed (in the sandbox, through a :class:`Judge`), and the prefix's soft label is
the fraction that pass (samples that failed as requests, e.g. a timeout, are left out of the count). The full
program is not rolled out: its label is its own clean verdict.

Output rows follow TRL's stepwise-supervision layout (``prompt``, ``completions`` = the step texts, ``labels``) plus
``soft_labels`` (all of them), ``rollout_counts``/``rollout_passes`` per step, ``clean`` (True for the full-program
step), offsets and provenance. Rollouts and their executions are cached by content hash (:mod:`dreamprm.cache`):
a killed run started again repeats none of the finished rollouts.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Callable, Mapping, Protocol, Sequence

import pandas as pd

from dreamprm.cache import ContentCache, content_key
from dreamprm.data.schema import STEP_LABEL_COLUMNS
from dreamprm.errors import InputDataError
from dreamprm.labeling.rollouts import FAILED, rollout_params, rollout_program, rollout_prompt, uses_prefill
from dreamprm.policy.base import PolicyBackend, SamplingParams
from dreamprm.prompts import build_prompt
from dreamprm.steps import DEFAULT_MAX_STEPS, split_steps


def prm_problem_fields(problem: Mapping[str, Any]) -> dict[str, str]:
    """The problem columns of a step-label row: ``statement`` and ``starter_code`` (what the PRM reads, see
    :class:`dreamprm.prm.template.PRMInput`) and ``prompt``, the TRL layout's problem text made from them. The
    policy's Chain-of-Function prompt is NOT stored here: the PRM must read the same input in training and scoring."""
    from dreamprm.prm.template import PRMInput

    inp = PRMInput.from_problem(problem, steps=["-"])
    return {"prompt": inp.problem_text, "statement": inp.statement, "starter_code": inp.starter_code}


class Judge(Protocol):
    """Runs programs against their problem's tests, in the sandbox; returns one pass/fail per job, in order. A judge
    may name which of the problem's tests it runs in a ``tests`` attribute (``all`` when absent), so verdicts on
    different tests never share a cache entry."""

    def __call__(self, jobs: Sequence[tuple[Mapping[str, Any], str]]) -> list[bool]: ...


@dataclass(frozen=True)
class MCLabelConfig:
    """Monte-Carlo labeling settings (defaults: the paper's M=16 rollouts at temperature 0.3, at most 10 steps)."""

    rollouts: int = 16
    temperature: float = 0.3
    top_p: float = 1.0
    max_tokens: int = 1024
    max_steps: int = DEFAULT_MAX_STEPS
    seed: int = 0
    style: str = "cof"
    # A rollout whose answer rewrote the prefix: "count" runs it as written; "fail" counts it as a failure.
    rewritten: str = "count"
    prompt_batch: int = 8  # rollout prompts per policy call
    # Where the backend supports it (llama.cpp), continue the prefix as a prefilled assistant turn (exact); else the
    # prefix is starter code. See dreamprm.labeling.rollouts.
    prefill: bool = True

    def sampling(self) -> SamplingParams:
        return SamplingParams(n=self.rollouts, temperature=self.temperature, top_p=self.top_p,
                              max_tokens=self.max_tokens, seed=self.seed)


def _rollout_key(policy: PolicyBackend, prompt: Any, params: SamplingParams) -> str:
    return content_key("rollout", prompt.cache_key(), policy.identity(), params.cache_key())


def _fill_rollouts(policy: PolicyBackend, cache: ContentCache, jobs: list[tuple[Mapping[str, Any], str]],
                   cfg: MCLabelConfig) -> int:
    """Sample (and cache) the rollouts of every (problem, prefix) job that the cache does not hold yet, in batches
    of ``cfg.prompt_batch`` prompts: one policy call serves many prefixes, which is what makes local models fast.
    Returns the number of rollouts sampled now (0 when the cache held them all)."""
    params = rollout_params(policy, cfg.sampling(), cfg.prefill)
    prefilled = uses_prefill(policy, cfg.prefill)
    todo = []
    for problem, prefix in jobs:
        prompt = rollout_prompt(policy, problem, prefix, style=cfg.style, prefill=cfg.prefill)
        key = _rollout_key(policy, prompt, params)
        if cache.get("rollout", key) is None and key not in {k for k, _, _ in todo}:
            todo.append((key, prompt, prefix))
    for start in range(0, len(todo), cfg.prompt_batch):
        chunk = todo[start : start + cfg.prompt_batch]
        outs = policy.generate([p for _, p, _ in chunk], params)
        for (key, _, prefix), completions in zip(chunk, outs):
            programs = [list(rollout_program(prefix, c, prefilled)) for c in completions]
            if all(c.ok for c in completions):  # failed samples are retried by a later run, not cached
                cache.put("rollout", key, programs)
            else:
                cache.put("rollout-failed", key, programs)
    return len(todo) * params.n


def _rollout_programs(policy: PolicyBackend, cache: ContentCache, problem: Mapping[str, Any], prefix: str,
                      cfg: MCLabelConfig) -> list[tuple[str, str]]:
    """The ``cfg.rollouts`` programs that continue ``prefix`` (from the cache that _fill_rollouts filled)."""
    prompt = rollout_prompt(policy, problem, prefix, style=cfg.style, prefill=cfg.prefill)
    key = _rollout_key(policy, prompt, rollout_params(policy, cfg.sampling(), cfg.prefill))
    hit = cache.get("rollout", key) or cache.get("rollout-failed", key)
    if hit is None:
        _fill_rollouts(policy, cache, [(problem, prefix)], cfg)
        hit = cache.get("rollout", key) or cache.get("rollout-failed", key)
    return [tuple(x) for x in hit]  # type: ignore[misc]


def _judge_key(problem: Mapping[str, Any], program: str, which: str = "all") -> str:
    tests_key = content_key(problem.get("public_tests"), problem.get("private_tests"), problem.get("func_name"),
                            problem.get("test_type"))
    if which != "all":  # keys of all-test verdicts stay as they were, so existing caches remain valid
        tests_key = content_key(tests_key, which)
    return content_key("judge", tests_key, program)


def _judge_cached(judge: Judge, cache: ContentCache, jobs: Sequence[tuple[Mapping[str, Any], str]]) -> list[bool]:
    """Pass/fail of each (problem, program), reusing cached verdicts; the misses go to the judge in ONE batch so the
    sandbox pool runs them in parallel."""
    which = str(getattr(judge, "tests", "all"))
    keys = [_judge_key(p, code, which) for p, code in jobs]
    out: list[bool | None] = [cache.get("judge", k) for k in keys]
    todo: dict[str, int] = {}
    for i, v in enumerate(out):
        if v is None and keys[i] not in todo:
            todo[keys[i]] = i
    if todo:
        results = judge([jobs[i] for i in todo.values()])
        for key, ok in zip(todo, results):
            cache.put("judge", key, bool(ok))
        out = [cache.get("judge", k) for k in keys]
    return [bool(v) for v in out]


def label_candidates(
    problems: pd.DataFrame,
    candidates: pd.DataFrame,
    clean_verdicts: Mapping[str, bool],
    policy: PolicyBackend,
    judge: Judge,
    cache: ContentCache,
    config: MCLabelConfig = MCLabelConfig(),
    progress: Callable[[int, int], None] | None = None,
    stats: dict[str, int] | None = None,
) -> pd.DataFrame:
    """Monte-Carlo step labels for every candidate (see the module docstring). ``clean_verdicts`` maps candidate_id
    to the full program's own verdict (from the execute stage, or the official verdict of imported candidates).
    ``stats``, when given, receives ``new_rollouts``: rollouts sampled by this call (0 on a fully cached re-run), and
    ``rollouts_<rule>``: how many rollouts became programs by each rule (e.g. ``rollouts_refused``: the policy added
    no code to the prefix)."""
    new_rollouts = 0
    by_id = {str(r["problem_id"]): r for r in problems.to_dict("records")}
    rows = []
    records = candidates.to_dict("records")
    total = len(records)
    # Sample every missing rollout first, batched across candidates and prefixes.
    jobs = []
    for cand in records:
        problem = by_id.get(str(cand["problem_id"]))
        if problem is not None:
            jobs += [(problem, p) for p in split_steps(str(cand["code"]), k=config.max_steps).prefixes[:-1]]
    for start in range(0, len(jobs), config.prompt_batch):
        new_rollouts += _fill_rollouts(policy, cache, jobs[start : start + config.prompt_batch], config)
        if progress:
            progress(min(start + config.prompt_batch, len(jobs)), len(jobs) + total)
    # Then run every rollout program in the sandbox, in one batch.
    plans = []
    rules: dict[str, int] = {}  # how each rollout became a program (rollouts.py): refused, prefilled, kept, ...
    all_jobs: list[tuple[Mapping[str, Any], str]] = []
    for cand in records:
        cid = str(cand["candidate_id"])
        problem = by_id.get(str(cand["problem_id"]))
        if problem is None:
            raise InputDataError(f"candidate {cid} names problem {cand['problem_id']!r}, which is not in the problems "
                                 "table", field="problem_id")
        if cid not in clean_verdicts:
            raise InputDataError(f"candidate {cid} has no verdict; run `dreamprm execute` first", field="candidate_id")
        split = split_steps(str(cand["code"]), k=config.max_steps)
        per_prefix = []
        for prefix in split.prefixes[:-1]:
            # A failed sample (timeout, server error) says nothing about the prefix: left out of the count, its
            # reason kept in the rollout cache (and the prompt retried by a later run).
            sampled = _rollout_programs(policy, cache, problem, prefix, config)
            for _, rule in sampled:
                key = "failed" if rule.startswith(FAILED) else rule
                rules[key] = rules.get(key, 0) + 1
            programs = [(p, rule) for p, rule in sampled if not rule.startswith(FAILED)]
            runnable = [p for p, rule in programs if not (rule == "rewritten" and config.rewritten == "fail")]
            per_prefix.append((len(programs), len(all_jobs), len(runnable)))
            all_jobs += [(problem, p) for p in runnable]
        plans.append((cand, problem, split, per_prefix))
    if stats is not None:
        stats["new_rollouts"] = new_rollouts
        stats.update({f"rollouts_{rule}": n for rule, n in sorted(rules.items())})
    verdicts = _judge_cached(judge, cache, all_jobs) if all_jobs else []
    for done, (cand, problem, split, per_prefix) in enumerate(plans):
        cid = str(cand["candidate_id"])
        counts, passes, soft = [], [], []
        for n_programs, first, n_run in per_prefix:
            counts.append(n_programs)
            passes.append(int(sum(verdicts[first : first + n_run])))
            soft.append(passes[-1] / n_programs if n_programs else 0.0)
        final = 1.0 if clean_verdicts[cid] else 0.0
        soft.append(final)
        counts.append(0)
        passes.append(int(final))
        steps = split.steps
        prompt = build_prompt(problem, style=config.style)  # type: ignore[arg-type]
        rows.append({
            "candidate_id": cid,
            "problem_id": str(cand["problem_id"]),
            **prm_problem_fields(problem),
            "completions": steps,
            "labels": [s >= 0.5 for s in soft],
            "soft_labels": soft,
            "clean": [False] * (len(steps) - 1) + [True],
            "rollout_counts": counts,
            "rollout_passes": passes,
            "step_offsets": list(split.offsets),
            "split_rule": split.rule,
            "policy": json.dumps(policy.identity(), sort_keys=True),
            "prompt_version": prompt.prompt_version,
            "sampling": json.dumps(asdict(config), sort_keys=True),
        })
        if progress:
            progress(len(jobs) + done + 1, len(jobs) + total)
    return pd.DataFrame(rows, columns=list(STEP_LABEL_COLUMNS))
