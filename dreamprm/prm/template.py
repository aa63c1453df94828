"""The PRM's one input template, and the encoding that makes single-pass scoring exact.

An example is a problem and a candidate program cut into steps (consecutive pieces of the code: ``"".join(steps)`` is
the code, and step k's prefix is ``"".join(steps[:k + 1])``). It is encoded as::

    ids(header_before_problem, with the tokenizer's special tokens, e.g. BOS)
    + ids(problem)
    + ids(header_after_problem)
    + ids(step_1) + [MARKER] + ids(step_2) + [MARKER] + ... + ids(step_K) + [MARKER]

Every piece is tokenized *on its own* and the ids are concatenated, so the ids of a prefix are exactly the first ids
of the whole sequence (tokenizing the joined text instead would let a BPE merge cross a step boundary and change
them). The score of step k is read at the k-th marker; with a causal backbone the hidden state there sees only its
prefix, so one forward pass over the whole sequence gives the same scores as one pass per prefix.

The marker is one existing token of the vocabulary (default: the tokenizer's eos token, ``<|im_end|>`` for
SmolLM2-Instruct), so no embedding has to be added or trained.

Overflow (more than ``max_length`` tokens): the problem statement is truncated from its end, with a logged warning,
and the count of dropped problem tokens is recorded on the example; if the code alone does not fit,
:class:`CandidateTooLong` is raised (steps are never dropped silently).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dreamprm.errors import DreamPRMError, InputDataError

log = logging.getLogger(__name__)

PROBLEM_SLOT = "{problem}"
DEFAULT_TEMPLATE = (
    "You are grading a partial solution to a programming problem, one step at a time.\n\n"
    "### Problem\n{problem}\n\n### Solution (Python)\n"
)


class CandidateTooLong(DreamPRMError):
    """The code of a candidate does not fit into the PRM's context even with the problem statement dropped."""


@dataclass
class EncodedExample:
    """Token ids of one (problem, steps) example and the positions of its step-end markers (one per step)."""

    input_ids: list[int]
    marker_positions: list[int]
    problem_tokens_dropped: int = 0

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def num_steps(self) -> int:
        return len(self.marker_positions)


def resolve_marker_id(tokenizer: Any, marker: str | None) -> tuple[str, int]:
    """The marker token and its id: ``marker`` if given, else the tokenizer's eos token. It must be exactly one
    token of the vocabulary."""
    token = marker if marker is not None else tokenizer.eos_token
    if token is None:
        raise ValueError(
            "the tokenizer has no eos token; set PRMConfig.step_marker to a token of its vocabulary"
        )
    tid = tokenizer.convert_tokens_to_ids(token)
    if (
        isinstance(tid, list)
        or tid is None
        or (tid == tokenizer.unk_token_id and token != tokenizer.unk_token)
    ):
        raise ValueError(f"step marker {token!r} is not a single token of the tokenizer's vocabulary")
    return token, int(tid)


class StepEncoder:
    """Encodes (problem, steps) with :data:`DEFAULT_TEMPLATE` (or another template with one ``{problem}`` slot)."""

    def __init__(
        self,
        tokenizer: Any,
        *,
        template: str = DEFAULT_TEMPLATE,
        step_marker: str | None = None,
        max_length: int = 2048,
    ) -> None:
        if template.count(PROBLEM_SLOT) != 1:
            raise ValueError(f"the PRM template must contain {PROBLEM_SLOT} exactly once")
        if max_length < 8:
            raise ValueError(f"max_length must be >= 8, got {max_length}")
        self.tokenizer = tokenizer
        self.template = template
        self.max_length = max_length
        self.marker, self.marker_id = resolve_marker_id(tokenizer, step_marker)
        before, _, after = template.partition(PROBLEM_SLOT)
        self._before = self._ids(before, special=True)
        self._after = self._ids(after, special=False)

    def _ids(self, text: str, *, special: bool = False) -> list[int]:
        if not text:
            if special:
                return list(self.tokenizer("", add_special_tokens=True)["input_ids"])
            return []
        return list(self.tokenizer(text, add_special_tokens=special)["input_ids"])

    def encode(self, problem: str, steps: Sequence[str]) -> EncodedExample:
        """Encode one example; one marker after each step. Raises InputDataError for an empty step list."""
        if isinstance(steps, str):
            raise TypeError("steps must be a sequence of step strings, not one string")
        if len(steps) == 0:
            raise InputDataError("empty step list: a candidate needs at least one step", field="steps")
        body: list[int] = []
        positions: list[int] = []
        step_ids = [self._ids(s) for s in steps]
        header_len = len(self._before) + len(self._after)
        code_len = sum(len(s) + 1 for s in step_ids)
        problem_ids = self._ids(problem)
        budget = self.max_length - header_len - code_len
        dropped = 0
        if budget < 0:
            raise CandidateTooLong(
                f"candidate too long for the PRM: {code_len} code tokens in {len(steps)} steps plus a "
                f"{header_len}-token template exceed max_length={self.max_length}"
            )
        if len(problem_ids) > budget:
            dropped = len(problem_ids) - budget
            log.warning(
                "PRM input over max_length=%d: truncating the problem statement by %d of %d tokens",
                self.max_length,
                dropped,
                len(problem_ids),
            )
            problem_ids = problem_ids[:budget]
        ids = self._before + problem_ids + self._after
        for s in step_ids:
            ids.extend(s)
            positions.append(len(ids))
            ids.append(self.marker_id)
        body = ids
        return EncodedExample(input_ids=body, marker_positions=positions, problem_tokens_dropped=dropped)

    def encode_prefix(self, problem: str, steps: Sequence[str], k: int) -> EncodedExample:
        """The example for the prefix made of the first ``k`` steps (1 <= k <= len(steps))."""
        if not 1 <= k <= len(steps):
            raise ValueError(f"prefix length must be in [1, {len(steps)}], got {k}")
        return self.encode(problem, list(steps)[:k])


def steps_from_prefixes(prefixes: Sequence[str]) -> list[str]:
    """Turn growing prefixes (each one extends the previous one) into the step pieces that the PRM takes."""
    out: list[str] = []
    prev = ""
    for i, p in enumerate(prefixes):
        if not p.startswith(prev):
            raise InputDataError(f"prefix {i} does not extend prefix {i - 1}", field="steps")
        out.append(p[len(prev) :])
        prev = p
    return out
