"""The generate stage with a scripted policy double (the SmolLM2 run is an integration test)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from dreamprm.cache import ContentCache
from dreamprm.generation import GenerateConfig, count_functions, generate_candidates
from dreamprm.policy.base import Completion, PolicyBackend, SamplingParams

ANSWER = '''Here you go:
```python
def main():
    """Read, solve, print."""
    print(solve(int(input())))

def solve(n):
    """Square it."""
    return n * n

main()
```'''


class Scripted(PolicyBackend):
    name = "scripted"
    model = "scripted-v1"

    def __init__(self, fail: bool = False) -> None:
        self.prompts: list[Any] = []
        self.fail = fail

    def generate(self, prompts: Sequence[Any], params: SamplingParams) -> list[list[Completion]]:
        self.prompts += list(prompts)
        return [[Completion("", error="timeout") if self.fail else Completion(ANSWER) for _ in range(params.n)]
                for _ in prompts]


PROBLEMS = pd.DataFrame([
    {"problem_id": f"p{i}", "statement": "Print n squared.", "starter_code": "", "test_type": "stdin",
     "func_name": "", "platform": "atcoder"} for i in range(3)
])


def test_candidates_have_code_steps_and_ids(tmp_path: Path) -> None:
    with ContentCache(tmp_path / "c.sqlite") as cache:
        out = generate_candidates(PROBLEMS, Scripted(), cache, GenerateConfig(n=2, batch_size=2))
    assert len(out) == 6
    assert out.groupby("problem_id")["sample_index"].apply(list).tolist() == [[0, 1]] * 3
    assert out["code"].str.startswith("def main").all()
    assert (out["extract_rule"] == "fenced_python").all()
    assert out["candidate_id"].nunique() == 6
    assert count_functions(out["code"].iloc[0]) == 2


def test_rerun_is_served_from_cache_and_failures_are_retried(tmp_path: Path) -> None:
    cfg = GenerateConfig(n=2)
    with ContentCache(tmp_path / "c.sqlite") as cache:
        generate_candidates(PROBLEMS, Scripted(), cache, cfg)
        again = Scripted()
        generate_candidates(PROBLEMS, again, cache, cfg)
        assert again.prompts == []
    with ContentCache(tmp_path / "d.sqlite") as cache:
        failing = Scripted(fail=True)
        out = generate_candidates(PROBLEMS, failing, cache, cfg)
        assert (out["code"] == "").all()
        retry = Scripted()
        generate_candidates(PROBLEMS, retry, cache, cfg)
        assert len(retry.prompts) == 3


def test_count_functions() -> None:
    assert count_functions("class Solution:\n    def a(self): pass\n    def b(self): pass\n") == 2
    assert count_functions("def broken(:\n") == 0


class Prefilling(PolicyBackend):
    """A double of a backend that continues a final assistant turn: answers with the continuation only (vLLM's
    continue_final_message) or, with ``echo``, the prefilled text followed by it (llama.cpp)."""

    name = "prefilling"
    model = "prefilling-v1"
    supports_prefill = True
    CONTINUATION = (' helper(xs):\n    """Sum."""\n    return sum(xs)\n\n\ndef total(xs):\n    """Main."""\n'
                    "    return helper(xs)\n")

    def __init__(self, echo: bool) -> None:
        self.echo = echo
        self.seen: list[Any] = []
        self.stops: dict[str, tuple[str, ...]] = {}

    def generate(self, prompts: Sequence[Any], params: SamplingParams) -> list[list[Completion]]:
        self.seen += list(prompts)
        self.stops.update({p.problem_id: params.stop for p in prompts})
        out = []
        for p in prompts:
            opening = p.messages[-1].content if p.messages[-1].role == "assistant" else ""
            out.append([Completion((opening if self.echo else "") + self.CONTINUATION) for _ in range(params.n)])
        return out


FUNCTION_PROBLEMS = pd.DataFrame([
    {"problem_id": "f0", "statement": "def total(xs):\n    \"\"\"Sum of xs.\"\"\"\n",
     "starter_code": "def total(xs):\n    \"\"\"Sum of xs.\"\"\"\n", "test_type": "assert", "func_name": "total",
     "platform": "humaneval"},
    {"problem_id": "s0", "statement": "Print n squared.", "starter_code": "", "test_type": "stdin", "func_name": "",
     "platform": "atcoder"},
])


def test_function_mode_answers_are_prefilled_with_the_cof_opening(tmp_path: Path) -> None:
    from dreamprm.prompts import answer_opening

    opening = answer_opening(FUNCTION_PROBLEMS.iloc[0].to_dict())
    assert opening and opening.startswith("```python\n") and opening.endswith("def") and "`total`" in opening
    for echo in (True, False):
        policy = Prefilling(echo=echo)
        with ContentCache(tmp_path / f"c{echo}.sqlite") as cache:
            out = generate_candidates(FUNCTION_PROBLEMS, policy, cache, GenerateConfig(n=1)).set_index("problem_id")
        by_id = {p.problem_id: p for p in policy.seen}
        # Function mode ends with the prefilled opening; stdin mode (no opening template) does not.
        assert by_id["f0"].messages[-1].role == "assistant" and by_id["f0"].kind == "prefill_cof_function"
        assert by_id["s0"].messages[-1].role == "user"
        # Only the prefilled prompt stops at the closing fence; an answer that opens its own fence must not stop there.
        assert policy.stops == {"f0": ("```",), "s0": ()}
        code = out.loc["f0", "code"]
        assert code.startswith("import math\nfrom typing import *\n") and "def helper(xs):" in code
        assert out.loc["f0", "extract_rule"] == "fenced_python" and count_functions(code) == 2
        assert out.loc["f0", "raw_output"].endswith(Prefilling.CONTINUATION)


def test_backends_without_prefill_get_the_plain_prompt(tmp_path: Path) -> None:
    policy = Scripted()
    with ContentCache(tmp_path / "c.sqlite") as cache:
        generate_candidates(FUNCTION_PROBLEMS, policy, cache, GenerateConfig(n=1))
    assert all(p.messages[-1].role == "user" for p in policy.prompts)
    policy = Prefilling(echo=True)
    with ContentCache(tmp_path / "d.sqlite") as cache:
        generate_candidates(FUNCTION_PROBLEMS, policy, cache, GenerateConfig(n=1, prefill_opening=False))
    assert all(p.messages[-1].role == "user" for p in policy.seen)


def test_generated_and_recorded_candidates_share_one_id_contract() -> None:
    """Non-ASCII code (a '≤' in a comment is common in recorded LiveCodeBench answers) gets the id the recorded
    import gives it: one implementation, UTF-8 JSON of (problem_id, policy, scenario, sample_index, code)."""
    import hashlib
    import json

    from dreamprm import generation
    from dreamprm.data import recorded
    from dreamprm.data.schema import candidate_id

    code = 'print("≤ é")  # n ≤ 10^5\n'
    want = hashlib.sha256(json.dumps(["p", "pol", "cof", 0, code], ensure_ascii=False).encode()).hexdigest()[:16]
    assert candidate_id("p", "pol", "cof", 0, code) == want
    assert generation.candidate_id is candidate_id and recorded.candidate_id is candidate_id


def test_generate_stage_takes_its_sides_from_the_split_manifest(project_root: Path, monkeypatch) -> None:
    """The problems table may carry a stale split column; the stage reads the sides from the manifest beside it,
    the one every stage reads, and tags its MLflow run with an identity that includes that manifest."""
    import mlflow

    from dreamprm.data.split import SplitConfig, SplitManifest, manifest_path_for
    from dreamprm.stages.generate import run_generate

    data = project_root / "data"
    data.mkdir(exist_ok=True)
    problems = PROBLEMS.assign(split=["meta", "train", "eval"], has_tests=True)
    problems.to_parquet(data / "problems.parquet", index=False)
    SplitManifest.from_problems(problems.assign(split=["train", "meta", "eval"]), SplitConfig()).write(
        manifest_path_for(data / "problems.parquet"))
    monkeypatch.setattr("dreamprm.policy.get_policy", lambda *_a, **_k: Scripted())
    out = data / "generated.parquet"
    config = GenerateConfig(n=1, batch_size=1)
    run_generate(str(data / "problems.parquet"), str(out), config, None, 0, "train")
    assert sorted(pd.read_parquet(out)["problem_id"]) == ["p0"]  # the manifest's train side, not the column's
    from dreamprm.stages.generate import GENERATE_PARAMETERS

    runs = mlflow.search_runs(search_all_experiments=True, filter_string="tags.`dreamprm.stage` = 'generate'")
    call = {"problems_path": str(data / "problems.parquet"), "out_path": "elsewhere", "config": config,
            "source": None, "limit": 0, "split": "train"}
    manifest = {"manifest": manifest_path_for(data / "problems.parquet")}
    assert runs["tags.dreamprm.identity"].tolist() == [GENERATE_PARAMETERS.identity(call, read_beside=manifest)]
    other = {**call, "config": GenerateConfig(n=2, batch_size=1)}
    assert GENERATE_PARAMETERS.identity(other, read_beside=manifest) != runs["tags.dreamprm.identity"][0]
