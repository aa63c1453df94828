"""The evaluation frame: which verdict counts, and execution signatures for majority vote."""

from __future__ import annotations

import json

import pandas as pd

from dreamprm.evaluate.scoring import evaluation_frame, execution_signature


def _tables(official):
    problems = pd.DataFrame([{"problem_id": "p", "difficulty": "easy", "platform": "atcoder", "statement": "s"}])
    candidates = pd.DataFrame({"candidate_id": ["a", "b", "c"], "problem_id": "p", "sample_index": [0, 1, 2],
                               "code": "print(1)", "official_passed": official})
    executions = pd.DataFrame({"candidate_id": ["a", "b", "c"], "passed": [False, True, True],
                               "per_test": [json.dumps([{"stdout": "1\n"}]), json.dumps([{"stdout": "1\n"}]),
                                            json.dumps([{"stdout": ""}])], "public_tests": 1,
                               "num_tests": 3, "num_passed": [0, 3, 3]})  # `execute --tests all`: 1 public, 2 hidden
    return problems, candidates, executions


def test_official_verdict_wins_and_executions_fill_the_gaps() -> None:
    frame = evaluation_frame(*_tables([True, False, None]))
    # a and b keep their official verdicts (an execution must not replace them); c has none, and its run reached
    # the hidden tests, so the sandbox's verdict counts
    assert list(frame["passed"]) == [True, False, True]


def test_a_run_on_the_examples_alone_is_no_verdict() -> None:
    """`execute --tests public` runs only the statement's examples: passing them is what the example filter selects
    on, not correctness. A candidate without an official verdict stays without one (a missing verdict the report
    counts), instead of counting as passed."""
    problems, candidates, executions = _tables([True, None, None])
    executions["num_tests"] = 1  # every test of the run is public
    frame = evaluation_frame(problems, candidates, executions)
    assert frame["passed"].tolist() == [True, None, None]
    assert frame["examples_passed"].tolist() == [False, True, True]


def test_a_verdict_that_is_not_a_bool_is_refused() -> None:
    """bool("False") is True: a verdict stored as text must be an error naming the candidate, never a pass."""
    import pytest

    from dreamprm.errors import InputDataError

    with pytest.raises(InputDataError, match="candidate b: official_passed is 'False'"):
        evaluation_frame(*_tables([True, "False", None]))


def test_signatures_come_from_outputs_and_silent_programs_do_not_vote() -> None:
    frame = evaluation_frame(*_tables([None, None, None]))
    assert list(frame["passed"]) == [False, True, True]
    assert frame["signature"][0] == frame["signature"][1] is not None
    assert pd.isna(frame["signature"][2])
    assert execution_signature(None) is None and execution_signature("not json") is None


def test_signatures_never_see_hidden_tests() -> None:
    """With `execute --tests all` a candidate's records go on into the private tests until its first failure; two
    programs that print the same on the public test are one cluster however far they got through the hidden ones."""
    problems, candidates, _ = _tables([None, None, None])
    executions = pd.DataFrame({
        "candidate_id": ["a", "b", "c"], "passed": [False, True, False], "public_tests": 1, "num_tests": 3,
        "num_passed": [1, 3, 0],
        "per_test": [json.dumps([{"stdout": "1\n"}, {"stdout": "7\n"}]),                      # failed hidden test 1
                     json.dumps([{"stdout": "1\n"}, {"stdout": "8\n"}, {"stdout": "9\n"}]),  # passed them all
                     json.dumps([{"stdout": "2\n"}])]})
    frame = evaluation_frame(problems, candidates, executions)
    assert frame["signature"][0] == frame["signature"][1] != frame["signature"][2]
    assert frame["examples_passed"].tolist() == [True, True, False]  # a passed the public test, failed a hidden one
    # Without the public count every record would count and a and b would be split by their hidden-test outputs.
    assert execution_signature(executions["per_test"][0]) != execution_signature(executions["per_test"][1])
    import pytest

    from dreamprm.errors import InputDataError

    with pytest.raises(InputDataError, match="re-run `dreamprm execute`"):
        evaluation_frame(problems, candidates, executions.drop(columns="public_tests"))


def test_public_test_count_per_test_set() -> None:
    from dreamprm.execution import public_test_count

    problem = {"public_tests": json.dumps([{"input": "1", "output": "1", "testtype": "stdin"}] * 2),
               "private_tests": json.dumps([{"input": "2", "output": "2", "testtype": "stdin"}] * 5)}
    assert public_test_count(problem, "all") == 2
    assert public_test_count(problem, "public") == 2
    assert public_test_count(problem, "private") == 0
    assert public_test_count({"public_tests": "", "private_tests": problem["private_tests"]}, "all") == 0


def test_first_per_problem_is_balanced_over_models() -> None:
    from dreamprm.evaluate.scoring import first_per_problem

    cands = pd.DataFrame([{"candidate_id": f"{m}-{k}-{p}", "problem_id": p, "policy": m, "sample_index": k}
                          for p in ("p1", "p2") for m in ("A", "B", "C") for k in range(3)])
    sub = first_per_problem(cands, 4)
    assert sub.groupby("problem_id").size().to_dict() == {"p1": 4, "p2": 4}
    p1 = sub[sub["problem_id"] == "p1"]
    assert sorted(zip(p1["policy"], p1["sample_index"])) == [("A", 0), ("A", 1), ("B", 0), ("C", 0)]
