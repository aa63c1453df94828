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
- wide (:func:`wide_probes`): the example's free values (stdin lines whose values exceed every size on the first
  line, a one-line input's values, a functional argument's integers) carried by a random increasing map up to the
  largest value bound the statement gives (:func:`value_bound`, e.g. ``1 <= A_i <= 10^9``): order and equality
  between values are kept, so the input stays valid as often as its example was, while a program that forgets a
  modulus, loops up to a value or keeps a value-sized table behaves differently from one that does not. Examples
  are small in value as well as in size.

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
DEFAULT_WIDE = 2
SIZE_LIMIT = 10**7  # an N bounded above this is a value, not a count of items
GROW_CAP = 20_000  # the largest size a grown probe gets: quadratic programs time out there, n log n ones do not
_INT = re.compile(r"-?\d+\Z")
_WORD = re.compile(r"[A-Za-z.#*]+\Z")
_LEQ = r"(?:\\leq|\\le|<=|≤)"
# The power form first: ``10^5`` must not stop at its leading ``10``.
_BOUND = re.compile(_LEQ + r"\s*(?P<var>[A-Za-z]\w*(?:\.length|(?:\[\w+\])+)?)\s*(?:\([^)]*\))?\s*" + _LEQ
                    + r"\s*\$?(?P<num>(?:\d+\s*(?:\\times|\\cdot|\*|·)?\s*)?10\s*\^\s*\{?\d+\}?|\d[\d,]*)")
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


def value_bound(statement: str) -> int | None:
    """The statement's largest upper bound on a value other than the input's size (``N``, ``n``, ``x.length``):
    ``1 <= A_i <= 10^9`` or ``1 <= nums[i] <= 10^9`` give 10^9; an ``N`` bounded above :data:`SIZE_LIMIT` is a
    value (``1 <= N <= 10^18``: no input has that many items). None when the statement states none."""
    bounds = [value for m in _BOUND.finditer(statement or "")
              if (value := _bound_value(m["num"])) is not None and not m["var"].endswith(".length")
              and (m["var"] not in ("N", "n") or value > SIZE_LIMIT)]
    return max(bounds) if bounds else None


def _widening(values: list[int], bound: int, rng: random.Random) -> dict[int, int] | None:
    """A random increasing map of the non-negative ``values`` into ``[0, bound]`` that sends their maximum near
    ``bound`` (``v -> v * f - r_v`` with ``f = bound // max``, ``0 <= r_v < f`` drawn once per distinct value,
    ``r_0 = 0``): strict order and equality kept. None when the values cannot grow (negative, or already near)."""
    if not values or min(values) < 0 or max(values) == 0:
        return None
    f = bound // max(values)
    if f < 2:
        return None
    return {v: v * f - (rng.randrange(f) if v else 0) for v in sorted(set(values))}


def _widen_stdin(text: str, bound: int, rng: random.Random) -> str | None:
    """The input with its free values widened (see :func:`wide_probes`); None when it has none."""
    lines = text.split("\n")
    body = [i for i, line in enumerate(lines) if line.strip()]
    if not body:
        return None
    if len(body) == 1:
        free = body
    else:
        sizes = [int(t) for t in lines[body[0]].split() if _INT.match(t)]
        free = [i for i in body[1:] if len(lines[i].split()) > 1 or not _INT.match(lines[i].strip())]
        free = [i for i in free if (ints := [int(t) for t in lines[i].split() if _INT.match(t)])
                and max(ints) > max(sizes, default=0)]
    values = [int(t) for i in free for t in lines[i].split() if _INT.match(t)]
    mapping = _widening(values, bound, rng)
    if mapping is None:
        return None
    for i in free:
        lines[i] = " ".join(str(mapping[int(t)]) if _INT.match(t) else t for t in lines[i].split())
    return "\n".join(lines)


def _int_leaves(value: Any) -> list[int]:
    if isinstance(value, list):
        return [v for item in value for v in _int_leaves(item)]
    return [value] if isinstance(value, int) and not isinstance(value, bool) else []


def _apply(value: Any, mapping: dict[int, int]) -> Any:
    if isinstance(value, list):
        return [_apply(v, mapping) for v in value]
    return mapping.get(value, value) if isinstance(value, int) and not isinstance(value, bool) else value


def _widen_functional(text: str, bound: int, rng: random.Random) -> str | None:
    """Every list argument's integers widened by one map (scalars kept: they are often sizes or bounds such as
    ``k <= len(nums)``); None when no list has integers that can grow."""
    try:
        args = [json.loads(line) for line in text.split("\n") if line.strip()]
    except ValueError:
        return None
    values = [v for a in args if isinstance(a, list) for v in _int_leaves(a)]
    mapping = _widening(values, bound, rng)
    if mapping is None:
        return None
    return "\n".join(json.dumps(_apply(a, mapping) if isinstance(a, list) else a) for a in args)


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


def wide_probes(problem: Mapping[str, Any], examples: list[dict], n_wide: int = DEFAULT_WIDE) -> list[dict]:
    """Up to ``n_wide`` probes whose free values are widened to the statement's value bound (:func:`value_bound`),
    taken from the examples in turn (a second draw of the same example where there is only one); none when the
    statement states no value bound or no example has values that can grow."""
    bound = value_bound(str(problem.get("statement") or ""))
    examples = [t for t in examples if t.get("testtype", "stdin") in ("stdin", "functional")]
    if bound is None or not examples:
        return []
    pid = str(problem.get("problem_id", ""))
    out: list[dict] = []
    seen: set[str] = set()
    for k in range(2 * n_wide):
        if len(out) >= n_wide:
            break
        example = examples[k % len(examples)]
        kind = example.get("testtype", "stdin")
        text = str(example.get("input", ""))
        rng = _rng(pid, 20_000 + k)
        probe = _widen_functional(text, bound, rng) if kind == "functional" else _widen_stdin(text, bound, rng)
        if probe is not None and probe not in seen:
            seen.add(probe)
            out.append({"input": probe, "output": None, "testtype": kind})
    return out


def probe_tests(problem: Mapping[str, Any], examples: list[dict], n_probes: int = DEFAULT_PROBES,
                n_grown: int = 0, n_wide: int = 0) -> list[dict]:
    """Up to ``n_probes`` probe tests for ``problem``, derived from its ``examples`` (the public tests or the
    statement's examples) in turn, alternating permute / redraw; duplicates of an example or of each other dropped;
    then up to ``n_grown`` grown probes (:func:`grown_probes`) and up to ``n_wide`` wide ones (:func:`wide_probes`),
    in that order (a probe table's records follow it). An empty list when there are no examples to derive from."""
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
    return (out + (grown_probes(problem, examples, n_grown) if n_grown else [])
            + (wide_probes(problem, examples, n_wide) if n_wide else []))
