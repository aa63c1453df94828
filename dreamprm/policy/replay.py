"""A policy that answers with recorded candidates (the ``candidates`` table from fetch/import), so that labeling and
evaluation can run on recorded generations without any model.

For a prompt about problem P (``ChatPrompt.problem_id``) it returns the recorded candidates of P in
``sample_index`` order (then table order), the first ``n`` of them; when fewer than ``n`` are recorded the missing
samples come back as failed completions (``error="no_recording"``), never invented. The text of each completion is the
recorded ``raw_output`` (or, when that is empty, the ``code`` in a python fence), so the usual extraction applies;
``meta`` carries ``candidate_id``, ``code``, ``policy``, ``sample_index`` where the table has them.

It cannot continue a code prefix: a rollout prompt (``code_prefix`` set) raises :class:`DreamPRMError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from dreamprm.errors import DreamPRMError, InputDataError
from dreamprm.policy.base import ChatPrompt, Completion, PolicyBackend, PromptLike, SamplingParams

REQUIRED_COLUMNS = ("problem_id", "code", "raw_output")
_META_COLUMNS = ("candidate_id", "policy", "scenario", "sample_index", "official_passed")


def _load(candidates: pd.DataFrame | str | Path) -> pd.DataFrame:
    if isinstance(candidates, pd.DataFrame):
        return candidates
    path = Path(candidates)
    if not path.is_file():
        raise InputDataError("candidates table does not exist; run `dreamprm fetch` (or generate) first", path=path)
    if path.suffix in (".jsonl", ".json"):
        return pd.read_json(path, lines=path.suffix == ".jsonl")
    return pd.read_parquet(path)


class ReplayPolicy(PolicyBackend):
    """Serves recorded candidates. ``policy`` / ``scenario`` keep only rows whose column equals that value
    (e.g. one recorded model); ``model`` names this backend in cache keys (default: ``replay:<policy or all>``)."""

    name = "replay"

    def __init__(
        self,
        candidates: pd.DataFrame | str | Path,
        model: str | None = None,
        *,
        policy: str | None = None,
        scenario: str | None = None,
    ) -> None:
        df = _load(candidates)
        missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
        if missing:
            src = candidates if not isinstance(candidates, pd.DataFrame) else None
            raise InputDataError(
                f"candidates table lacks columns {missing}", path=src, expected=f"columns {list(REQUIRED_COLUMNS)}"
            )
        for column, value in (("policy", policy), ("scenario", scenario)):
            if value is not None:
                if column not in df.columns:
                    raise InputDataError(f"cannot filter on {column}={value!r}: no such column", field=column)
                df = df[df[column] == value]
        df = df.reset_index(drop=True).assign(_row=lambda d: range(len(d)))
        order = ["problem_id", "sample_index", "_row"] if "sample_index" in df.columns else ["problem_id", "_row"]
        df = df.sort_values(order, kind="stable")
        self._by_problem: dict[str, list[dict[str, Any]]] = {
            str(pid): group.to_dict("records") for pid, group in df.groupby("problem_id", sort=False)
        }
        self.model = model or f"replay:{policy or 'all'}"
        self.filters = {"policy": policy, "scenario": scenario}

    def problem_ids(self) -> list[str]:
        return sorted(self._by_problem)

    def count(self, problem_id: str) -> int:
        """How many recorded candidates the problem has."""
        return len(self._by_problem.get(str(problem_id), []))

    def identity(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model, **self.filters}

    @staticmethod
    def _completion(row: dict[str, Any]) -> Completion:
        raw = row.get("raw_output")
        code = row.get("code") or ""
        if isinstance(raw, str) and raw.strip():
            text = raw
        else:
            text = "```python\n" + code.rstrip("\n") + "\n```" if code else ""
        meta = {c: row[c] for c in _META_COLUMNS if c in row}
        meta["code"] = code
        return Completion(text=text, finish_reason="recorded", error=None if text else "empty", meta=meta)

    def generate(self, prompts: Sequence[PromptLike], params: SamplingParams) -> list[list[Completion]]:
        out: list[list[Completion]] = []
        for prompt in prompts:
            if not isinstance(prompt, ChatPrompt) or not prompt.problem_id:
                raise DreamPRMError(
                    "the replay policy needs ChatPrompt objects with problem_id set (build them with "
                    "dreamprm.prompts.build_prompt)"
                )
            if prompt.code_prefix is not None:
                raise DreamPRMError(
                    "the replay policy serves recorded candidates only and cannot continue a code prefix; "
                    "Monte-Carlo rollouts need the transformers or openai policy backend"
                )
            rows = self._by_problem.get(prompt.problem_id, [])[: params.n]
            completions = [self._completion(r) for r in rows]
            completions += [
                Completion(text="", error=f"no_recording: {len(rows)} recorded for {prompt.problem_id!r}")
                for _ in range(params.n - len(rows))
            ]
            out.append(completions)
        return out
