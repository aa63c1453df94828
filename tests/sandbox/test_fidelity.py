"""Fidelity of the Docker sandbox against LiveCodeBench's recorded verdicts and HumanEval (reads ../shared/data).

A bounded, deterministic version of ``benchmarks/fidelity.py`` (a few minutes on 2 cores):

1. all 164 HumanEval canonical solutions pass;
2. every 2nd officially passing candidate (in file order) passes its problem's release_v1 public tests;
3. on every 8th recorded first-failing test (time-limit cases left out: 6 s each), plus every case of the problems
   in the allow-list, the failing candidate fails that test here too and the problem's officially passing
   candidates pass it.

Every disagreement must be listed in an allow-list below, with its reason and the verdict it is allowed to have, so a
harness regression (a new disagreement, or a known one changing kind) fails the test.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

pytestmark = [pytest.mark.integration, pytest.mark.shared_data]

PUBLIC_EVERY = 2
FAILING_EVERY = 8

_MUTATED = ("the failing candidate mutates its arguments in place and LiveCodeBench records str(arguments) after the "
            "call, so the rebuilt test pairs mutated inputs with the original expected value: not a real test "
            "(benchmarks/fidelity.py proves each one by running the failing candidate on the problem's example in "
            "the sandbox and getting exactly the recorded inputs back)")
_SLOW = ("slow but correct solution near LiveCodeBench's 6 s per-test limit: within it on the official (faster, "
         "unloaded) grader, over it on a loaded 2-core machine")

# (question_id, source of the officially PASSING candidate) -> (allowed verdict here, reason)
PUBLIC_ALLOWED: dict[tuple[str, str], tuple[str, str]] = {
    ("abc328_e", "O1-Mini-2024-09-12__Scenario.codegeneration"): ("time_limit", _SLOW),
    ("abc311_e", "O1-Preview-2024-09-12__Scenario.codegeneration"): ("time_limit", _SLOW),
}

# Recorded failing tests on which an officially passing candidate fails here:
# (question_id, source of the officially failing candidate whose metadata gave the test) -> reason.
# All officially passing candidates of the problem may fail that rebuilt test (wrong_answer or runtime_error).
FAILING_TEST_ALLOWED: dict[tuple[str, str], str] = {
    (q, src): _MUTATED for q, src in [
        ("2730", "O1-Mini-2024-09-12__Scenario.codegeneration"),
        ("2872", "Qwen2.5-Ins-7B__Scenario.codegeneration"),
        ("2872", "O1-Mini-2024-09-12__Scenario.codegeneration"),
        ("2878", "Qwen-3-8B__Scenario.codegeneration"),
        ("3226", "Qwen2.5-Ins-7B__Scenario.codegeneration"),
        ("3454", "Qwen2.5-Ins-7B__Scenario.codegeneration"),
        ("3471", "Qwen-3-8B__Scenario.codegeneration"),
        ("3475", "Qwen-3-8B__Scenario.codegeneration"),
        ("3518", "Qwen-3-8B__Scenario.codegeneration"),
        ("3531", "Qwen-3-8B__Scenario.codegeneration"),
        ("3562", "Qwen2.5-Ins-7B__Scenario.codegeneration"),
        ("3562", "Qwen-3-8B__Scenario.codegeneration"),
        ("3607", "Qwen2.5-Ins-7B__Scenario.codegeneration"),
        ("3607", "Qwen2.5-Ins-7B__Scenario.selfrepair"),
        ("3616", "Qwen2.5-Ins-7B__Scenario.codegeneration"),
        ("3616", "Qwen-3-8B__Scenario.codegeneration"),
    ]
}

_THREAD_RACE = ("the program prints from a threading.Thread(target=solve) and returns at once; LiveCodeBench's "
                "grader stops capturing stdout when the wrapped function returns, so the recorded output is '' "
                "whenever the thread had not printed yet (a race: the same pattern passes officially elsewhere, e.g. "
                "abc338_c O1-Preview). This harness waits for the program's non-daemon threads, as Python does "
                "before a program exits, and the program's real output passes")

# Officially failing candidates that pass their recorded failing test here: (question_id, source) -> reason.
FAILS_OFFICIALLY_PASSES_HERE: dict[tuple[str, str], str] = {
    ("abc338_d", "O1-Preview-2024-09-12__Scenario.codegeneration"): _THREAD_RACE,
    ("abc364_f", "O1-Preview-2024-09-12__Scenario.codegeneration"): _THREAD_RACE,
    ("abc374_c", "O1-Preview-2024-09-12__Scenario.codegeneration"): _THREAD_RACE,
    ("abc382_c", "O1-Mini-2024-09-12__Scenario.codegeneration"): _THREAD_RACE,
    ("3438", "Qwen2.5-Ins-7B__Scenario.codegeneration"): _MUTATED + " (here the candidate itself passes it)",
    ("3438", "Qwen-3-8B__Scenario.codegeneration"): _MUTATED + " (here the candidate itself passes it)",
    ("abc344_b", "Qwen2.5-Ins-7B__Scenario.codegeneration"): (
        "grader difference between the recorded sources: this candidate does int(line) for line in "
        "sys.stdin.readlines(); the fork's grader (Qwen files) evidently returned inputs.split('\\n') (a trailing '' "
        "-> ValueError, the recorded error), while a direct reproduction of LiveCodeBench's patch stack (and the official "
        "O1 submissions that pass only if readline()/read() consume the input) gives a plain StringIO, which this "
        "harness follows"),
    ("abc374_g", "O1-Preview-2024-09-12__Scenario.codegeneration"): (
        "nondeterministic candidate: fails most reruns here with the recorded wrong answer (4 != 3), passes some"),
    ("3235", "Qwen-3-8B__Scenario.codegeneration"): (
        "nondeterministic candidate: its Dijkstra builds dist from a set of str, whose order follows the per-process "
        "hash seed; it raises KeyError('b') (the official verdict) in some runs and passes in others"),
    ("3453", "Qwen2.5-Ins-7B__Scenario.codegeneration"): (
        "nondeterministic candidate: it returns list(set_of_str), whose order follows the per-process hash seed; "
        "the test wants the sorted order, so it gets the recorded wrong answer in nearly every run (40 of 40 reruns "
        "here) and passed once in CI"),
}

# The harness reruns every officially failing candidate that passed here (benchmarks/fidelity.py,
# flakiness_evidence); one that fails some of those reruns is nondeterministic (set order, thread timing), not a
# harness disagreement, so it is allowed even when not listed above.
_NONDETERMINISTIC = "nondeterministic candidate"


def src(c: dict) -> str:
    return c["source"].split("_1_0.2")[0]


@pytest.fixture(scope="module")
def fid(shared_data):
    import fidelity

    return fidelity


@pytest.fixture(scope="module")
def cands(fid, shared_data):
    return fid.load_candidates(shared_data)


@pytest.fixture(scope="module")
def backend(docker_client):
    from sandbox.docker_backend import DockerBackend

    with DockerBackend(workers=2, client=docker_client) as b:
        yield b


def test_humaneval_canonical_solutions_pass(fid, shared_data, backend):
    r = fid.check_humaneval(backend, shared_data)
    assert r["cases"] == 164
    assert r["exceptions"] == [], [(t, x["verdict"], x["error"][:200]) for t, x in r["exceptions"]]


def test_public_tests_officially_passing_candidates_pass(fid, shared_data, cands, backend):
    pub = fid.v1_public_tests(shared_data)
    todo = [c for c in cands if c["passed"] and c["qid"] in pub][::PUBLIC_EVERY]
    assert len(todo) > 400
    jobs = [{"code": c["code"], "tests": pub[c["qid"]]["tests"], "func_name": pub[c["qid"]]["func_name"]}
            for c in todo]
    res = fid.run_all(backend, jobs, "public")
    bad = []
    for c, r in zip(todo, res):
        if r["verdict"] == "passed":
            continue
        allowed = PUBLIC_ALLOWED.get((c["qid"], src(c)))
        if not allowed or allowed[0] != r["verdict"]:
            bad.append((c["qid"], src(c), r["verdict"], r["error"][:160], r["per_test"][-1]["stdout"][:160]))
    assert not bad, bad


def test_recorded_failing_tests_agree(fid, cands, backend):
    allowed_q = {q for q, _ in FAILING_TEST_ALLOWED} | {q for q, _ in FAILS_OFFICIALLY_PASSES_HERE}
    every = fid.check_failing(backend, cands, None, skip_tle=True, every=FAILING_EVERY)
    known = fid.check_failing(backend, cands, None, skip_tle=True, qids=allowed_q)
    assert every["cases"] > 200 and known["cases"] > 30
    bad = []
    for r in (every, known):
        for c, x, why in r["exc_fail"]:
            if (c["qid"], src(c)) not in FAILS_OFFICIALLY_PASSES_HERE and not why.startswith(_NONDETERMINISTIC):
                bad.append(("fails officially, passes here", c["qid"], src(c)))
        for p, c, x, _why in r["exc_pass"]:
            if (c["qid"], src(c)) not in FAILING_TEST_ALLOWED or x["verdict"] not in ("wrong_answer", "runtime_error"):
                bad.append(("passes officially, fails here", p["qid"], src(p), "on the test of", src(c),
                            x["verdict"], x["error"][:160]))
    assert not bad, bad
    # the failure kind matches the official one on nearly all cases (kinds differ where e.g. a recursion limit or a
    # timing makes a runtime error into a time limit); guard against a systematic shift
    assert every["kind_agree"] >= 0.97 * every["cases"], Counter(x["verdict"] for _, x, _ in every["exc_fail"])
