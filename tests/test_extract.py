"""Code extraction from model answers and joining rollouts onto prefixes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dreamprm.extract import extract_code, join_rollout


def test_last_python_block_wins():
    text = "First try:\n```python\nprint(1)\n```\nBetter:\n```python\nprint(2)\n```\nDone."
    r = extract_code(text)
    assert (r.code, r.rule) == ("print(2)\n", "fenced_python")


def test_python_block_preferred_over_later_other_language():
    text = "```py\nx = 1\n```\nRun it with:\n```bash\npython main.py\n```\n"
    assert extract_code(text).code == "x = 1\n"
    assert extract_code("```Python3\nx = 3\n```").rule == "fenced_python"


def test_untagged_block_and_four_backticks():
    assert extract_code("Answer:\n```\ny = 2\n```").rule == "fenced_any"
    r = extract_code("````python\ns = '```'\n```\nstill inside\n````\n")
    assert r.code == "s = '```'\n```\nstill inside\n"


def test_unterminated_fence_when_cut_off():
    r = extract_code("Here is the code:\n```python\ndef f():\n    return 1\n")
    assert (r.code, r.rule) == ("def f():\n    return 1\n", "unterminated_fence")
    # a complete block beats a later cut-off one
    assert extract_code("```python\na = 1\n```\nimproved:\n```python\na = 2\nb = (").code == "a = 1\n"


def test_no_fence_whole_text_and_code_region():
    assert extract_code("import sys\nprint(sys.argv)\n").rule == "whole_text"
    r = extract_code("Sure! Here it is\nimport sys\n\ndef main():\n    print(1)\nmain()\nThis prints 1.")
    assert r.rule == "code_region"
    assert r.code == "import sys\n\ndef main():\n    print(1)\nmain()\n"
    assert r.parses


def test_no_code():
    for text in ["", None, "   ", "Sure.", "I cannot help with that request, sorry!", "42"]:
        r = extract_code(text)
        assert r.rule == "none" and r.code == "" and not r.found


def test_crlf_fences():
    assert extract_code("```python\r\nx = 1\r\n```\r\n").code == "x = 1\r\n"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_extract_never_crashes(text):
    r = extract_code(text)
    assert isinstance(r.code, str) and r.rule in {
        "fenced_python", "fenced_any", "unterminated_fence", "whole_text", "code_region", "none"}


PREFIX = 'import sys\n\n\ndef main():\n    """Read and print."""\n'


def test_join_rollout_kept():
    generated = 'import sys\n\n\ndef main():  \n    """Read and print."""\n    print(sys.stdin.read())\n\nmain()\n'
    program, rule = join_rollout(PREFIX, generated)
    assert rule == "kept"
    assert program == PREFIX + "    print(sys.stdin.read())\n\nmain()\n"


def test_join_rollout_appended_and_rewritten_and_empty():
    program, rule = join_rollout(PREFIX, "    print(1)\n\nmain()\n")
    assert (program, rule) == (PREFIX + "    print(1)\n\nmain()\n", "appended")
    program, rule = join_rollout(PREFIX, "print(input())\n")
    assert rule == "rewritten" and program == "print(input())\n"
    assert join_rollout(PREFIX, "") == (PREFIX, "empty")
