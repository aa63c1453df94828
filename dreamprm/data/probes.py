"""Probe inputs: new test inputs derived from a problem's examples, without expected outputs.

Candidates that pass the statement's examples often still differ on inputs the examples do not cover. Running the
survivors of one problem on a few more inputs and comparing what they print (``dreamprm.evaluate.consensus``) tells
the programs that agree with most others from the odd ones out, with no hidden test involved: AlphaCode's clustering
and CodeT's dual agreement rest on the same observation. There is no reference solution, so a probe has no expected
output (``"output": None``: the sandbox harness only records the candidate's output, see ``sandbox.harness``).

A probe keeps the example's shape so that it stays a valid input as often as possible:

- stdin: the first line (sizes, counts) and every one-token integer line (a test case's size, a query count) are
  kept; on every other line the tokens are either shuffled (``permute``: a permutation stays a permutation, sizes stay
  right) or redrawn (``redraw``: integers uniformly between the smallest and largest integer of that line, words
  letter by letter from their own letters). A one-line input is redrawn token by token between 1 and its largest
  value, the line's shape kept.
- functional (one JSON argument per line): lists are shuffled or their numbers redrawn between the list's own
  extremes (nested lists element-wise, rows kept), strings shuffled or redrawn from their own letters; scalars are
  kept (they are often bounds such as ``k <= len(nums)``).

Invalid probes happen (a redrawn graph may have a self loop, a sorted array stops being sorted); they cost little,
as every survivor sees the same input and an input on which the survivors disagree at random weighs on all of them
alike. Probes are deterministic per problem (seeded by the problem id), so the execution cache serves a re-run.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from typing import Any, Mapping

DEFAULT_PROBES = 8
_INT = re.compile(r"-?\d+\Z")
_WORD = re.compile(r"[A-Za-z.#*]+\Z")


def _rng(problem_id: str, k: int) -> random.Random:
    return random.Random(int(hashlib.sha256(f"{problem_id}\x00{k}".encode()).hexdigest()[:16], 16))


def _redraw_word(word: str, rng: random.Random) -> str:
    letters = sorted(set(word))
    return "".join(rng.choice(letters) for _ in word)


def _shuffled(items: list, rng: random.Random) -> list:
    out = list(items)
    rng.shuffle(out)
    return out


def _mutate_line(tokens: list[str], how: str, rng: random.Random) -> list[str]:
    if how == "permute":
        if len(tokens) == 1 and _WORD.match(tokens[0]):
            return ["".join(_shuffled(list(tokens[0]), rng))]
        return _shuffled(tokens, rng)
    ints = [int(t) for t in tokens if _INT.match(t)]
    lo, hi = (min(ints), max(ints)) if ints else (0, 0)
    out = []
    for t in tokens:
        if _INT.match(t):
            out.append(str(rng.randint(lo, hi)))
        elif _WORD.match(t):
            out.append(_redraw_word(t, rng))
        else:
            out.append(t)
    return out


def _mutate_stdin(text: str, how: str, rng: random.Random) -> str:
    lines = text.split("\n")
    body = [i for i, line in enumerate(lines) if line.strip()]
    if len(body) == 1:  # a one-line input: every integer redrawn in [1, its max], words redrawn
        tokens = lines[body[0]].split()
        ints = [int(t) for t in tokens if _INT.match(t)]
        top = max([1, *ints])
        lines[body[0]] = " ".join(str(rng.randint(1, top)) if _INT.match(t) else
                                  _redraw_word(t, rng) if _WORD.match(t) else t for t in tokens)
        return "\n".join(lines)
    for i in body[1:]:
        tokens = lines[i].split()
        if len(tokens) == 1 and _INT.match(tokens[0]):
            continue  # a size or a count
        lines[i] = " ".join(_mutate_line(tokens, how, rng))
    return "\n".join(lines)


def _mutate_value(value: Any, how: str, rng: random.Random) -> Any:
    if isinstance(value, str):
        return "".join(_shuffled(list(value), rng)) if how == "permute" else _redraw_word(value, rng) if value else value
    if isinstance(value, list):
        if not value:
            return value
        if all(isinstance(v, list) for v in value):  # rows: shuffled, or each row mutated
            return _shuffled(value, rng) if how == "permute" else [_mutate_value(v, how, rng) for v in value]
        if how == "permute":
            return _shuffled(value, rng)
        nums = [v for v in value if isinstance(v, int) and not isinstance(v, bool)]
        if len(nums) == len(value):
            return [rng.randint(min(nums), max(nums)) for _ in value]
        return [_mutate_value(v, how, rng) for v in value]
    return value  # scalars: often bounds on the other arguments


def _mutate_functional(text: str, how: str, rng: random.Random) -> str | None:
    try:
        args = [json.loads(line) for line in text.split("\n") if line.strip()]
    except ValueError:
        return None
    return "\n".join(json.dumps(_mutate_value(a, how, rng)) for a in args)


def probe_tests(problem: Mapping[str, Any], examples: list[dict], n_probes: int = DEFAULT_PROBES) -> list[dict]:
    """Up to ``n_probes`` probe tests for ``problem``, derived from its ``examples`` (the public tests or the
    statement's examples) in turn, alternating permute / redraw; duplicates of an example or of each other dropped.
    An empty list when there are no examples to derive from."""
    pid = str(problem.get("problem_id", ""))
    seen = {str(t.get("input", "")) for t in examples}
    out: list[dict] = []
    attempts = 0
    while examples and len(out) < n_probes and attempts < 4 * n_probes:
        example = examples[attempts % len(examples)]
        how = "permute" if (attempts // len(examples)) % 2 == 0 else "redraw"
        rng = _rng(pid, attempts)
        attempts += 1
        kind = example.get("testtype", "stdin")
        text = str(example.get("input", ""))
        probe = _mutate_functional(text, how, rng) if kind == "functional" else _mutate_stdin(text, how, rng)
        if probe is None or probe in seen:
            continue
        seen.add(probe)
        out.append({"input": probe, "output": None, "testtype": kind})
    return out
