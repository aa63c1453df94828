"""Probe inputs: new test inputs derived from a problem's examples, without expected outputs.

Candidates that pass the statement's examples often still differ on inputs the examples do not cover. Running the
survivors of one problem on a few more inputs and comparing what they print (``dreamprm.evaluate.consensus``) tells
the programs that agree with most others from the odd ones out, with no hidden test involved: AlphaCode's clustering
and CodeT's dual agreement rest on the same observation. There is no reference solution, so a probe has no expected
output (``"output": None``: the sandbox harness only records the candidate's output, see ``sandbox.harness``).

A probe keeps the example's shape so that it stays a valid input as often as possible:

- stdin: the first line (sizes, counts) and every one-token integer line (a test case's size, a query count) are
  kept; on every other line the tokens are either shuffled (``permute``: a permutation stays a permutation, sizes stay
  right) or redrawn (``redraw``: positive integers uniformly between 1 and the larger of the line's and the first
  line's largest value, as values are often bounded by a size; other integers between the line's extremes; words
  letter by letter from their own letters). A one-line input is redrawn token by token between 1 and its largest
  value, the line's shape kept.
- functional (one JSON argument per line): lists are shuffled or their numbers redrawn between the list's own
  extremes (nested lists element-wise, rows kept), strings shuffled or redrawn from their own letters; scalars are
  kept (they are often bounds such as ``k <= len(nums)``).
- grown (:func:`grown_probes`): the input's size raised to the bound the statement's constraints give
  (:func:`size_bound`, at most :data:`GROW_CAP`), the lines (or list and string arguments) of that size regrown in
  kind; hidden tests are large, examples small, and a program too slow for the bound times out here.

Invalid probes happen (a redrawn graph may have a self loop, a sorted array stops being sorted); they cost little,
as every survivor sees the same input and an input on which the survivors disagree at random weighs on all of them
alike. Probes are deterministic per problem (seeded by the problem id), so the execution cache serves a re-run.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Mapping
from typing import Any

DEFAULT_PROBES = 8
DEFAULT_GROWN = 2
GROW_CAP = 20_000  # the largest size a grown probe gets: quadratic programs time out there, n log n ones do not
_INT = re.compile(r"-?\d+\Z")
_WORD = re.compile(r"[A-Za-z.#*]+\Z")
_LEQ = r"(?:\\leq|\\le|<=|≤)"
_BOUND = re.compile(_LEQ + r"\s*(?P<var>[A-Za-z]\w*(?:\.length)?)\s*(?:\([^)]*\))?\s*" + _LEQ
                    + r"\s*\$?(?P<num>\d[\d,]*(?:\s*(?:\\times|\\cdot|\*|·)?\s*10\s*\^\s*\{?\d+\}?)?|10\s*\^\s*\{?\d+\}?)")
_POWER = re.compile(r"(?:(?P<a>\d+)\s*(?:\\times|\\cdot|\*|·)?\s*)?10\s*\^\s*\{?(?P<b>\d+)\}?")


def _bound_value(text: str) -> int | None:
    m = _POWER.fullmatch(text.strip())
    if m:
        return int(m["a"] or 1) * 10 ** int(m["b"])
    digits = text.replace(",", "").strip()
    return int(digits) if digits.isdigit() else None


def size_bound(statement: str, functional: bool) -> int | None:
    """The statement's upper bound on the input's size: the largest bound on an ``x.length`` (functional) or on ``N``
    / ``n`` (stdin), from constraints written ``1 <= n <= 2 * 10^5`` or ``1 \\leq N \\leq 2\\times 10^5``; None when
    the statement states none (a grown probe is then not made)."""
    bounds = []
    for m in _BOUND.finditer(statement or ""):
        var, value = m["var"], _bound_value(m["num"])
        if value is None:
            continue
        if (functional and var.endswith(".length")) or var in ("N", "n"):
            bounds.append(value)
    return max(bounds) if bounds else None


def _grown_values(values: list[int], size: int, target: int, rng: random.Random) -> list[int]:
    """``target`` values shaped like ``values`` (of a size-``size`` input): a permutation of 1..size becomes one of
    1..target, values within 1..size are drawn in 1..target, any other values within their own extremes."""
    if sorted(values) == list(range(1, size + 1)):
        return _shuffled(list(range(1, target + 1)), rng)
    if values and 1 <= min(values) and max(values) <= size:
        return [rng.randint(1, target) for _ in range(target)]
    lo, hi = min(values), max(values)
    return [rng.randint(lo, hi) for _ in range(target)]


def _grow_stdin(text: str, target_cap: int, rng: random.Random) -> str | None:
    """The input with its size (the first line's integer that is the length of a later line) raised to
    ``target_cap``, every line of that length regrown; None when no such size is found or it is already as large."""
    lines = text.split("\n")
    body = [i for i, line in enumerate(lines) if line.strip()]
    if len(body) < 2:
        return None
    first = lines[body[0]].split()
    rows = {i: lines[i].split() for i in body[1:]}
    for j, token in enumerate(first):
        if not _INT.match(token) or int(token) < 2 or int(token) >= target_cap:
            continue
        size = int(token)
        hits = [i for i, tokens in rows.items()
                if (len(tokens) == size and all(_INT.match(t) for t in tokens))
                or (len(tokens) == 1 and _WORD.match(tokens[0]) and len(tokens[0]) == size)]
        if not hits:
            continue
        first[j] = str(target_cap)
        lines[body[0]] = " ".join(first)
        for i in hits:
            tokens = rows[i]
            if len(tokens) == 1 and not _INT.match(tokens[0]):
                letters = sorted(set(tokens[0]))
                lines[i] = "".join(rng.choice(letters) for _ in range(target_cap))
            else:
                lines[i] = " ".join(map(str, _grown_values([int(t) for t in tokens], size, target_cap, rng)))
        return "\n".join(lines)
    return None


def _grow_functional(text: str, target_cap: int, rng: random.Random) -> str | None:
    """Every flat list or string argument (two or more items) regrown to ``target_cap`` items; None when none is."""
    try:
        args = [json.loads(line) for line in text.split("\n") if line.strip()]
    except ValueError:
        return None
    grew = False
    out = []
    for a in args:
        if isinstance(a, list) and 2 <= len(a) < target_cap and all(
                isinstance(v, int) and not isinstance(v, bool) for v in a):
            a, grew = _grown_values(a, len(a), target_cap, rng), True
        elif isinstance(a, str) and 2 <= len(a) < target_cap:
            letters = sorted(set(a))
            a, grew = "".join(rng.choice(letters) for _ in range(target_cap)), True
        out.append(a)
    return "\n".join(json.dumps(a) for a in out) if grew else None


def _rng(problem_id: str, k: int) -> random.Random:
    return random.Random(int(hashlib.sha256(f"{problem_id}\x00{k}".encode()).hexdigest()[:16], 16))


def _redraw_word(word: str, rng: random.Random) -> str:
    letters = sorted(set(word))
    return "".join(rng.choice(letters) for _ in word)


def _shuffled(items: list, rng: random.Random) -> list:
    out = list(items)
    rng.shuffle(out)
    return out


def _mutate_line(tokens: list[str], how: str, rng: random.Random, top: int = 0) -> list[str]:
    if how == "permute":
        if len(tokens) == 1 and _WORD.match(tokens[0]):
            return ["".join(_shuffled(list(tokens[0]), rng))]
        return _shuffled(tokens, rng)
    ints = [int(t) for t in tokens if _INT.match(t)]
    lo, hi = (min(ints), max(ints)) if ints else (0, 0)
    if ints and lo >= 1:  # positive values: often bounded by a size on the first line, rarely by their own extremes
        lo, hi = 1, max(hi, top)
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
    if not body:
        return text
    if len(body) == 1:  # a one-line input: every integer redrawn in [1, its max], words redrawn
        tokens = lines[body[0]].split()
        ints = [int(t) for t in tokens if _INT.match(t)]
        top = max([1, *ints])
        lines[body[0]] = " ".join(str(rng.randint(1, top)) if _INT.match(t) else
                                  _redraw_word(t, rng) if _WORD.match(t) else t for t in tokens)
        return "\n".join(lines)
    first = [int(t) for t in lines[body[0]].split() if _INT.match(t)]
    top = max(first, default=0)
    for i in body[1:]:
        tokens = lines[i].split()
        if len(tokens) == 1 and _INT.match(tokens[0]):
            continue  # a size or a count
        lines[i] = " ".join(_mutate_line(tokens, how, rng, top))
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


def grown_probes(problem: Mapping[str, Any], examples: list[dict], n_grown: int = DEFAULT_GROWN,
                 cap: int = GROW_CAP) -> list[dict]:
    """Up to ``n_grown`` probes of the largest size the statement allows (at most ``cap``), grown from the first
    example that has a recognisable size: they separate the programs that are fast enough from those that are not
    (LiveCodeBench's hidden tests are large, its examples small)."""
    pid = str(problem.get("problem_id", ""))
    out: list[dict] = []
    for example in [t for t in examples if t.get("testtype", "stdin") in ("stdin", "functional")]:
        kind = example.get("testtype", "stdin")
        bound = size_bound(str(problem.get("statement") or ""), kind == "functional")
        if bound is None:
            return []
        target = min(cap, bound)
        for k in range(n_grown):
            rng = _rng(pid, 10_000 + k)
            text = str(example.get("input", ""))
            probe = _grow_functional(text, target, rng) if kind == "functional" else _grow_stdin(text, target, rng)
            if probe is None:
                break
            out.append({"input": probe, "output": None, "testtype": kind})
        if out:
            return out
    return out


def probe_tests(problem: Mapping[str, Any], examples: list[dict], n_probes: int = DEFAULT_PROBES,
                n_grown: int = 0) -> list[dict]:
    """Up to ``n_probes`` probe tests for ``problem``, derived from its ``examples`` (the public tests or the
    statement's examples) in turn, alternating permute / redraw; duplicates of an example or of each other dropped;
    then up to ``n_grown`` grown probes (:func:`grown_probes`). An empty list when there are no examples to derive
    from."""
    pid = str(problem.get("problem_id", ""))
    # assert tests (HumanEval, MBPP) are programs, not inputs: nothing to derive a probe from
    examples = [t for t in examples if t.get("testtype", "stdin") in ("stdin", "functional")]
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
    return out + (grown_probes(problem, examples, n_grown) if n_grown else [])
