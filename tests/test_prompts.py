"""Chain-of-Function, plain and rollout prompts; template versioning."""

from __future__ import annotations

import re
import shutil

import pytest

from dreamprm.policy import SamplingParams
from dreamprm.prompts import (
    PROMPT_VERSION,
    TEMPLATE_DIR,
    build_prompt,
    build_rollout_prompt,
    problem_mode,
    prompt_version,
)
from dreamprm.steps import split_steps

STDIN = {"problem_id": "abc123_a", "statement": "Print A+B.\n\nInput\nA B", "starter_code": "", "test_type": "stdin",
         "func_name": "", "platform": "atcoder"}
LEETCODE = {"problem_id": "3000", "statement": "Return the sum of nums.", "test_type": "functional",
            "starter_code": "class Solution:\n    def sumIt(self, nums: List[int]) -> int:\n        ",
            "func_name": "sumIt", "platform": "leetcode"}
HUMANEVAL = {"problem_id": "HumanEval/0", "statement": 'def add(a, b):\n    """Add two numbers."""\n',
             "starter_code": 'def add(a, b):\n    """Add two numbers."""\n', "test_type": "assert",
             "func_name": "add", "platform": "humaneval"}


def user(p):
    assert [m.role for m in p.messages] == ["system", "user"]
    return p.messages[1].content


def test_modes():
    assert problem_mode(STDIN) == "stdin"
    assert problem_mode(LEETCODE) == "leetcode"
    assert problem_mode(HUMANEVAL) == "function"
    assert problem_mode({**LEETCODE, "starter_code": "def f(x):\n    "}) == "function"


def test_cof_stdin_prompt_has_rules_example_and_question_after():
    p = build_prompt(STDIN)
    text = user(p)
    assert p.kind == "cof_stdin" and p.problem_id == "abc123_a" and p.prompt_version == PROMPT_VERSION
    assert "main()" in text and "docstring" in text and "top level" in text and "helper" in text
    assert "solve the actual problem" in text
    # the CoF block comes before the plain LiveCodeBench-style block, which ends the prompt
    assert text.index("Example problem") < text.index("### Question:\nPrint A+B.") < text.index("### Answer:")
    assert "# YOUR CODE HERE" in text


def test_plain_prompt_is_the_baseline_without_cof():
    text = user(build_prompt(STDIN, style="plain"))
    assert text.startswith("### Question:\nPrint A+B.")
    assert "Chain-of-Function" not in text and "docstring" not in text
    assert build_prompt(STDIN, style="plain").kind == "plain_stdin"
    with pytest.raises(ValueError):
        build_prompt(STDIN, style="fancy")


def test_leetcode_prompt_uses_class_solution_methods_and_starter():
    text = user(build_prompt(LEETCODE))
    assert "method of `class Solution`" in text
    assert "```python\nclass Solution:\n    def sumIt(self, nums: List[int]) -> int:\n```" in text


def test_function_prompt_shows_humaneval_code_once():
    text = user(build_prompt(HUMANEVAL))
    assert text.count('def add(a, b):\n    """Add two numbers."""') == 1
    assert "the main function `add` with exactly the name and parameters" in text
    # no worked example: Qwen2.5-Coder-0.5B copied its helpers into 16 of 54 demo answers (README)
    assert "```python" not in (TEMPLATE_DIR / "cof_function.jinja").read_text()


def test_worked_examples_are_valid_cof_programs():
    for name in ("cof_stdin.jinja", "cof_leetcode.jinja"):
        code = re.search(r"```python\n(.*?)```", (TEMPLATE_DIR / name).read_text(), re.DOTALL).group(1)
        split = split_steps(code)
        assert split.rule == "ast" and len(split) >= 4, name


def test_rollout_prompt_puts_prefix_as_starter_code():
    prefix = 'import sys\n\n\ndef main():\n    """Read and print."""\n'
    p = build_rollout_prompt(STDIN, prefix)
    text = user(p)
    assert p.kind == "rollout_cof_stdin" and p.code_prefix == prefix
    assert "```python\n" + prefix.rstrip("\n") + "\n```" in text
    assert "start with exactly this code" in text
    assert "# YOUR CODE HERE" not in text
    lc = user(build_rollout_prompt(LEETCODE, "class Solution:\n    def sumIt(self, nums):\n", style="plain"))
    assert "def sumIt(self, nums):\n```" in lc and "List[int]" not in lc


def test_messages_deterministic_and_cache_key_changes_with_problem():
    assert build_prompt(STDIN).cache_key() == build_prompt(STDIN).cache_key()
    assert build_prompt(STDIN).cache_key() != build_prompt({**STDIN, "statement": "Print A-B."}).cache_key()
    assert build_prompt(STDIN).cache_key() != build_prompt(STDIN, style="plain").cache_key()


def test_template_change_changes_version_and_key(tmp_path):
    copy = tmp_path / "templates"
    shutil.copytree(TEMPLATE_DIR, copy)
    assert prompt_version(copy) == PROMPT_VERSION
    same = build_prompt(STDIN, template_dir=copy)
    assert same.cache_key() == build_prompt(STDIN).cache_key()
    # an edit to a template the stdin prompt does not even use still changes the version (whole-set hash)
    (copy / "cof_leetcode.jinja").write_text((copy / "cof_leetcode.jinja").read_text() + "\nOne more rule.\n")
    assert prompt_version(copy) != PROMPT_VERSION
    changed = build_prompt(STDIN, template_dir=copy)
    assert changed.messages == same.messages
    assert changed.cache_key() != same.cache_key()
    assert PROMPT_VERSION.startswith("cof-1+")


def test_statement_with_template_syntax_is_not_interpreted():
    p = build_prompt({**STDIN, "statement": "Print {{ x }} and {% raw %} literally."})
    assert "Print {{ x }} and {% raw %} literally." in user(p)


def test_missing_text_rejected_and_nan_tolerated():
    with pytest.raises(ValueError):
        build_prompt({**STDIN, "statement": ""})
    assert build_prompt({**STDIN, "starter_code": float("nan"), "func_name": None}).kind == "cof_stdin"


def test_sampling_params_cache_key():
    a = SamplingParams(n=4, temperature=0.3, seed=1)
    assert a.cache_key() == SamplingParams(n=4, temperature=0.3, seed=1).cache_key()
    assert a.cache_key() != SamplingParams(n=4, temperature=0.3, seed=2).cache_key()
    with pytest.raises(ValueError):
        SamplingParams(n=0)


def test_generation_key_names_prompt_version_model_and_params(tmp_path):
    import pandas as pd

    from dreamprm.policy import generation_key
    from dreamprm.policy.replay import ReplayPolicy

    backend = ReplayPolicy(pd.DataFrame({"problem_id": ["p"], "code": ["x"], "raw_output": ["x"]}), model="m")
    other = ReplayPolicy(pd.DataFrame({"problem_id": ["p"], "code": ["x"], "raw_output": ["x"]}), model="m2")
    params = SamplingParams(n=2, seed=0)
    key = generation_key(build_prompt(STDIN), backend, params)
    assert key == generation_key(build_prompt(STDIN), backend, SamplingParams(n=2, seed=0))
    assert key != generation_key(build_prompt(STDIN), other, params)
    assert key != generation_key(build_prompt(STDIN), backend, SamplingParams(n=2, seed=1))
    copy = tmp_path / "t"
    shutil.copytree(TEMPLATE_DIR, copy)
    (copy / "system.jinja").write_text((copy / "system.jinja").read_text() + " ")
    assert key != generation_key(build_prompt(STDIN, template_dir=copy), backend, params)


def test_rollout_prompt_keeps_a_code_only_statement() -> None:
    """HumanEval rows carry the stub as both statement and starter code; a rollout prompt replaces the starter code
    with the prefix, so the stub must still be shown as the question."""
    stub = 'def add(a, b):\n    """Return a + b."""\n'
    problem = {"problem_id": "HumanEval/x", "statement": stub, "starter_code": stub, "test_type": "assert",
               "func_name": "add"}
    rollout = build_prompt(problem, code_prefix="def helper():\n    return 0\n")
    text = rollout.as_messages()[-1]["content"]
    assert "def add(a, b)" in text and "def helper()" in text
