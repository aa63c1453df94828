"""The PRM as an MLflow pyfunc model: a DataFrame of (problem, code) in, step scores out.

Input columns: ``problem`` (the statement) and ``code`` (required); ``starter_code`` (optional); ``steps`` (optional,
a list of step strings whose concatenation is the code) skips the splitter. The PRM input is built by
:class:`dreamprm.prm.template.PRMInput`, as in training and evaluation. Output: a DataFrame with ``step_scores`` (list
of floats, one per step), ``num_steps``, the aggregates ``score_last``, ``score_min`` and ``score_mean``, and ``pick``
(True for each problem's best candidate by ``score_min``: send a problem's N candidates in one request). A
candidate whose code does not fit the PRM's context gets None in every column and ``too_long`` True (the one rule
of :data:`dreamprm.prm.template.TOO_LONG_RULE`), never an error for the whole request.

The splitter is a function ``code -> list[str]`` (or ``-> StepSplit``); by default :func:`dreamprm.steps.split_steps`
(functions as steps, at most 10). The PRM folder written by :meth:`ProcessRewardModel.save_pretrained` is the model's
only artifact; loading the model needs the ``dreamprm`` package importable.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd

Splitter = Callable[[str], Any]

ARTIFACT_KEY = "prm"


def default_splitter(code: str) -> list[str]:
    """Functions as steps, via :func:`dreamprm.steps.split_steps`."""
    from dreamprm.steps import split_steps

    return split_steps(code).steps


def _as_steps(value: Any) -> list[str]:
    steps = getattr(value, "steps", value)
    return [str(s) for s in steps]


class PRMPythonModel(mlflow.pyfunc.PythonModel):
    """pyfunc wrapper of a saved :class:`~dreamprm.prm.model.ProcessRewardModel` (artifact ``prm``)."""

    def __init__(self, splitter: Splitter | None = None, batch_size: int = 8) -> None:
        self.splitter = splitter
        self.batch_size = batch_size
        self.prm: Any = None

    def load_context(self, context: Any) -> None:
        """Load the PRM on the serving host's device (``DREAMPRM_PRM__DEVICE``, default: a GPU where there is one)."""
        from dreamprm.prm.device import load_prm

        self.prm = load_prm(context.artifacts[ARTIFACT_KEY])

    def _split(self, code: str) -> list[str]:
        fn = self.splitter or default_splitter
        steps = _as_steps(fn(code))
        return steps if steps else [code]

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        if not isinstance(model_input, pd.DataFrame):
            model_input = pd.DataFrame(model_input)
        missing = {"problem", "code"} - set(model_input.columns)
        if missing:
            raise ValueError(f"PRM pyfunc input needs columns problem and code; missing {sorted(missing)}")
        from dreamprm.prm.template import PRMInput

        items: list[PRMInput] = []
        has_steps = "steps" in model_input.columns
        has_starter = "starter_code" in model_input.columns
        for _, row in model_input.iterrows():
            steps = row["steps"] if has_steps else None
            if (
                isinstance(steps, str) or not hasattr(steps, "__len__") or len(steps) == 0
            ):  # None / NaN / empty
                steps = self._split(str(row["code"]))
            items.append(PRMInput.build(row["problem"], row["starter_code"] if has_starter else "",
                                        steps=_as_steps(steps)))
        scores = self.prm.score_batch(items, batch_size=self.batch_size, too_long="none")
        out = pd.DataFrame(
            {
                "step_scores": scores,
                "num_steps": [None if s is None else len(s) for s in scores],
                "score_last": [None if s is None else s[-1] for s in scores],
                "score_min": [None if s is None else min(s) for s in scores],
                "score_mean": [None if s is None else sum(s) / len(s) for s in scores],
                "too_long": [s is None for s in scores],
            }
        )
        # Best-of-N: per problem, the candidate with the highest score_min (the first on ties; never a too-long one).
        ranked = pd.to_numeric(out["score_min"], errors="coerce").fillna(float("-inf"))
        best = ranked.groupby(model_input["problem"].astype(str).to_numpy()).idxmax()
        out["pick"] = out.index.isin(best[(ranked[best] > float("-inf")).to_numpy()].to_numpy())
        return out


def default_pip_requirements() -> list[str]:
    """The installed versions of what loading the PRM needs (pinned, so MLflow skips its slow inference)."""
    from importlib.metadata import PackageNotFoundError, version

    reqs = []
    for pkg in ("mlflow", "torch", "transformers", "peft", "safetensors", "tokenizers", "pandas"):
        try:
            reqs.append(f"{pkg}=={version(pkg)}")
        except PackageNotFoundError:
            reqs.append(pkg)
    return reqs


def log_prm(
    prm: Any,
    *,
    name: str = "prm",
    registered_model_name: str | None = None,
    splitter: Splitter | None = None,
    input_example: pd.DataFrame | None = None,
    **kwargs: Any,
) -> Any:
    """Log a PRM (a :class:`ProcessRewardModel` or a folder it was saved to) as a pyfunc model into the active run
    (or a new one). Returns MLflow's ``ModelInfo``; load it back with ``mlflow.pyfunc.load_model(info.model_uri)``."""
    if (
        "pip_requirements" not in kwargs
        and "extra_pip_requirements" not in kwargs
        and "conda_env" not in kwargs
    ):
        kwargs["pip_requirements"] = default_pip_requirements()
    with tempfile.TemporaryDirectory(prefix="dreamprm-prm-") as tmp:
        if isinstance(prm, (str, Path)):
            folder = Path(prm)
        else:
            folder = Path(tmp) / "prm"
            prm.save_pretrained(folder)
        return mlflow.pyfunc.log_model(
            name=name,
            python_model=PRMPythonModel(splitter=splitter),
            artifacts={ARTIFACT_KEY: str(folder)},
            registered_model_name=registered_model_name,
            input_example=input_example,
            **kwargs,
        )
