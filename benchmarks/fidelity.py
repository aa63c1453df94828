"""Sandbox fidelity against LiveCodeBench's recorded verdicts and HumanEval (reads ../shared/data).

    python benchmarks/fidelity.py [--shared-data DIR] [--limit N] [--skip-tle] [--workers N]

Three checks, each printed with its agreement and every exception:
1. release_v1 public tests: every officially passing candidate (LCB generation files + official submissions) passes
   the problem's public examples here (stdin tests, or the LeetCode asserts parsed into functional calls).
2. recorded first failing tests: a failing candidate whose metadata records the failing test (inputs/expected, not
   truncated) fails it here too; the problem's officially passing candidates pass it.
3. HumanEval: canonical solutions pass their check().
4. Recorded HumanEval generations (8 models x 10 samples, LiveCodeBench format, ``class Solution``): agreement of
   HumanEval's own check() here with the verdicts the fork's grader recorded, with the disagreements broken down by
   the recorded error (the fork graded converted functional tests, not check()).
"""

from __future__ import annotations

import argparse
import ast
import gzip
import json
import os
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

GEN_FILES = [
    "lcb_v6_generations_xiangww0108/Qwen2.5-Ins-7B__Scenario.codegeneration_1_0.2_eval_all.json",
    "lcb_v6_generations_xiangww0108/Qwen-3-8B__Scenario.codegeneration_1_0.2_eval_all.json",
    "lcb_v6_generations_xiangww0108/Qwen2.5-Ins-7B__Scenario.selfrepair_1_0.2_eval_all.json",
    "lcb_submissions_official/O1-Mini-2024-09-12__Scenario.codegeneration_1_0.2_eval_all.json",
    "lcb_submissions_official/O1-Preview-2024-09-12__Scenario.codegeneration_1_0.2_eval_all.json",
]


def shared_data_dir(arg: str | None = None) -> Path:
    if arg:
        return Path(arg)
    env = os.environ.get("SHARED_DATA") or os.environ.get("DREAMPRM_PATHS__SHARED_DATA_DIR")
    return Path(env) if env else (REPO / ".." / "shared" / "data").resolve()


def _lit(v):
    if not isinstance(v, str):
        return v
    try:
        return json.loads(v)
    except ValueError:
        return ast.literal_eval(v)


def load_candidates(shared: Path) -> list[dict]:
    """Every recorded candidate: problem id, code, official verdict, metadata, starter code."""
    out = []
    for rel in GEN_FILES:
        p = shared / rel
        if not p.exists():
            continue
        for row in json.loads(p.read_text()):
            codes, graded, metas = _lit(row["code_list"]), _lit(row["graded_list"]), _lit(row["metadata"])
            for k, (code, ok, meta) in enumerate(zip(codes, graded, metas)):
                out.append({"qid": row["question_id"], "code": code, "passed": bool(ok),
                            "meta": json.loads(meta) if isinstance(meta, str) else meta,
                            "starter": row.get("starter_code") or "", "source": f"{p.name}#{k}",
                            "content": row.get("question_content") or ""})
    return out


def func_name_from_starter(starter: str) -> str:
    names = re.findall(r"def\s+(\w+)\s*\(", starter)
    return names[-1] if names else ""


def return_annotation(starter: str) -> str:
    """The starter's return annotation ('str', 'List[int]', ...), '' when there is none."""
    found = re.findall(r"\)\s*->\s*([^:]+?)\s*:\s*$", starter, flags=re.M)
    return found[-1].strip() if found else ""


def _py_lit(v: str):
    """A value LiveCodeBench recorded with str(): Python literal syntax first, JSON as a fallback."""
    try:
        return ast.literal_eval(v)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return json.loads(v)


def functional_test_from_metadata(meta: dict, starter: str) -> dict:
    """Rebuild a functional test from LiveCodeBench's failure metadata.

    grade_call_based records ``truncatefn(gt_inp)`` and ``truncatefn(gt_out)``, i.e. ``str()`` of the parsed
    argument list and of the parsed expected value: Python reprs, not JSON. A ``str`` return value therefore loses
    its quotes (``'43520'`` is the string, not the int), so the starter's return annotation decides how the expected
    value is read. Raises ValueError/SyntaxError when a value cannot be read back.
    """
    args = _py_lit(meta["inputs"])
    if not isinstance(args, list):
        raise ValueError("recorded inputs are not an argument list")
    ret = return_annotation(starter)
    expected = meta["expected"] if ret == "str" else _py_lit(meta["expected"])
    return {"input": "\n".join(json.dumps(a) for a in args), "output": json.dumps(expected),
            "testtype": "functional"}


def v1_public_tests(shared: Path) -> dict[str, dict]:
    """question_id -> {tests, func_name}; LeetCode asserts parsed into functional tests."""
    out = {}
    for line in (shared / "lcb_v1_public_tests_swebench_selfrepair/lcb_v1_public_tests.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row["testtype"] == "stdin":
            out[row["question_id"]] = {"tests": row["public_test_cases"], "func_name": ""}
            continue
        tests, fname = [], ""
        for node in ast.parse(row["starter_and_public_asserts"]).body:
            if not isinstance(node, ast.Assert):
                continue
            cmp = node.test
            assert isinstance(cmp, ast.Compare) and isinstance(cmp.ops[0], ast.Eq)
            call = cmp.left
            fname = call.func.attr if isinstance(call.func, ast.Attribute) else call.func.id
            args = [ast.literal_eval(a) for a in call.args]
            expected = ast.literal_eval(cmp.comparators[0])
            tests.append({"input": "\n".join(json.dumps(a) for a in args), "output": json.dumps(expected),
                          "testtype": "functional"})
        out[row["question_id"]] = {"tests": tests, "func_name": fname}
    return out


def failing_test_cases(cands: list[dict]) -> list[dict]:
    """Failing candidates whose recorded first failing test is complete."""
    out = []
    for c in cands:
        m = c["meta"]
        if c["passed"] or "inputs" not in m or "expected" not in m:
            continue
        if "truncated" in str(m["inputs"]) or "truncated" in str(m["expected"]):
            continue
        fn = func_name_from_starter(c["starter"])
        if fn:
            try:
                test = functional_test_from_metadata(m, c["starter"])
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                continue
        else:
            test = {"input": m["inputs"], "output": m["expected"], "testtype": "stdin"}
        out.append({**c, "test": test, "func_name": fn, "code_kind": m.get("error_code")})
    return out


KIND = {-2: "wrong_answer", -3: "time_limit", -4: "runtime_error"}

# Exceptions with no mechanical probe, explained by reading the candidate (question_id, source prefix) -> reason.
KNOWN = {
    ("abc344_b", "Qwen2.5-Ins-7B__Scenario.codegeneration"):
        "grader difference between the recorded sources: the candidate does int(line) for line in "
        "sys.stdin.readlines(); the fork's grader returned inputs.split('\\n') (trailing '' -> the recorded "
        "ValueError), while LiveCodeBench's patch stack reproduced directly, and the official O1 submissions that "
        "pass only when readline()/read() consume the input, give a plain StringIO, which the harness follows",
}


def known_reason(c: dict) -> str:
    if "threading.Thread" in (c.get("code") or "") and str(c.get("meta", {}).get("output", "x")) == "":
        return ("thread race in LiveCodeBench's grader: the program prints from a solve thread and returns at once; "
                "the grader stopped capturing before the thread printed (recorded output ''); the harness waits for "
                "the program's non-daemon threads, as Python does at exit")
    return KNOWN.get((c["qid"], c["source"].split("_1_0.2")[0]), "")

# Appended to a failing candidate: returns its arguments as they are after the call. LiveCodeBench records
# str(gt_inp) AFTER the call, so for a candidate that mutates its arguments in place the recorded "inputs" are the
# mutated arguments, not the test's inputs, and a test rebuilt from them (mutated inputs, original expected value)
# is not a real test.
MUTATION_PROBE = """

def _fidelity_args_after_call(self, *args):
    try:
        getattr(self, {name!r})(*args)
    except BaseException:
        pass
    return list(args)


Solution._fidelity_args_after_call = _fidelity_args_after_call
"""


def example_inputs(content: str) -> list[list]:
    """The argument lists of a LeetCode statement's examples ('Input: a = [1,2], b = "x"')."""
    out = []
    for line in re.findall(r"^\s*Input:?\s*(.+)$", content, flags=re.M):
        parts = re.split(r"(?:^|,\s*)([A-Za-z_]\w*)\s*=\s*", line.strip())
        vals = [v.strip().rstrip(",") for v in parts[2::2]]
        try:
            out.append([_py_lit(v.replace("true", "True").replace("false", "False").replace("null", "None"))
                        for v in vals])
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
    return out


def mutation_evidence(backend, c: dict) -> str:
    """Sandboxed evidence that the failing candidate `c` produced its recorded inputs by mutating an example's
    arguments in place; '' when there is none."""
    if not c["func_name"] or "class Solution" not in c["code"]:
        return ""
    recorded = json.loads("[" + ",".join(c["test"]["input"].split("\n")) + "]")
    code = c["code"] + MUTATION_PROBE.format(name=c["func_name"])
    for args in example_inputs(c.get("content", "")):
        if args == recorded:
            continue
        job = {"code": code, "func_name": "_fidelity_args_after_call",
               "tests": [{"input": "\n".join(json.dumps(a) for a in args), "output": json.dumps(recorded),
                          "testtype": "functional"}]}
        if backend.run(job)["verdict"] == "passed":
            return (f"recorded inputs are the failing candidate's in-place mutation of the example input "
                    f"{json.dumps(args)[:80]} (LiveCodeBench records the arguments after the call)")
    return ""


def run_all(backend, jobs: list[dict], label: str) -> list[dict]:
    from sandbox import run_batch

    results: list[dict | None] = [None] * len(jobs)
    t0 = time.monotonic()
    for n, (i, r) in enumerate(run_batch(backend, jobs), start=1):
        results[i] = r
        if n % 200 == 0:
            print(f"  [{label}] {n}/{len(jobs)} ({time.monotonic() - t0:.0f} s)", file=sys.stderr, flush=True)
    return results  # type: ignore[return-value]


def check_public(backend, shared: Path, cands: list[dict], limit: int | None) -> dict:
    pub = v1_public_tests(shared)
    todo = [c for c in cands if c["passed"] and c["qid"] in pub][: limit or None]
    jobs = [{"code": c["code"], "tests": pub[c["qid"]]["tests"], "func_name": pub[c["qid"]]["func_name"]}
            for c in todo]
    res = run_all(backend, jobs, "public")
    exceptions = [(c, r) for c, r in zip(todo, res) if r["verdict"] != "passed"]
    return {"cases": len(todo), "agree": len(todo) - len(exceptions), "exceptions": exceptions}


def flakiness_evidence(backend, c: dict, reruns: int = 12) -> str:
    """Rerun a failing candidate that passed here; a candidate whose outcome depends on the run (e.g. on the
    iteration order of a set of str, which follows the per-process hash seed) fails some reruns."""
    job = {"code": c["code"], "tests": [c["test"]], "func_name": c["func_name"]}
    runs = [r for _, r in run_batch_nocache(backend, [job] * reruns)]
    bad = [r for r in runs if r["verdict"] != "passed"]
    if not bad:
        return ""
    return (f"nondeterministic candidate: {len(bad)}/{reruns} reruns fail here too ({bad[0]['verdict']}: "
            f"{bad[0]['error'][:80]!r}); its outcome varies between runs (e.g. with the hash seed)")


def run_batch_nocache(backend, jobs: list[dict]):
    from sandbox import run_batch

    return run_batch(backend, jobs, share_identical=False)  # each rerun really runs


def check_failing(backend, cands: list[dict], limit: int | None, skip_tle: bool, qids: set[str] | None = None,
                  every: int = 1) -> dict:
    """`every`: keep every N-th case (deterministic subsample); `qids`: only these problems."""
    cases = failing_test_cases(cands)
    if skip_tle:
        cases = [c for c in cases if c["code_kind"] != -3]
    if qids:
        cases = [c for c in cases if c["qid"] in qids]
    cases = cases[::every][: limit or None]
    passing_by_q = defaultdict(list)
    for c in cands:
        if c["passed"]:
            passing_by_q[c["qid"]].append(c)
    jobs, tags = [], []
    for k, c in enumerate(cases):
        jobs.append({"code": c["code"], "tests": [c["test"]], "func_name": c["func_name"]})
        tags.append(("fail", k, None))
        for p in passing_by_q[c["qid"]]:
            jobs.append({"code": p["code"], "tests": [c["test"]], "func_name": c["func_name"]})
            tags.append(("pass", k, p))
    res = run_all(backend, jobs, "failing")
    fail_ok = kind_ok = pass_ok = pass_n = 0
    exc_fail, exc_pass = [], []
    for (what, k, p), r in zip(tags, res):
        c = cases[k]
        if what == "fail":
            if r["verdict"] != "passed":
                fail_ok += 1
                kind_ok += KIND.get(c["code_kind"]) == r["verdict"]
            else:
                exc_fail.append((c, r))
        else:
            pass_n += 1
            if r["verdict"] == "passed":
                pass_ok += 1
            else:
                exc_pass.append((p, c, r))
    # Explain: did the failing candidate (whose call produced the recorded inputs) mutate them in place?
    probed: dict[int, str] = {}
    explained = []
    for p, c, r in exc_pass:
        k = next(i for i, x in enumerate(cases) if x is c)
        if k not in probed:
            probed[k] = mutation_evidence(backend, c)
        explained.append((p, c, r, probed[k]))
    exc_fail = [(c, r, known_reason(c) or mutation_evidence(backend, c) or flakiness_evidence(backend, c))
                for c, r in exc_fail]
    return {"cases": len(cases), "fail_agree": fail_ok, "kind_agree": kind_ok, "exc_fail": exc_fail,
            "pass_cases": pass_n, "pass_agree": pass_ok, "exc_pass": explained}


def check_humaneval(backend, shared: Path) -> dict:
    rows = [json.loads(x) for x in gzip.open(shared / "humaneval_openai_pypi/HumanEval.jsonl.gz", "rt")]
    jobs = [{"code": r["prompt"] + r["canonical_solution"], "func_name": r["entry_point"],
             "tests": [{"input": r["test"], "output": "", "testtype": "assert"}]} for r in rows]
    res = run_all(backend, jobs, "humaneval")
    exc = [(r["task_id"], x) for r, x in zip(rows, res) if x["verdict"] != "passed"]
    return {"cases": len(rows), "agree": len(rows) - len(exc), "exceptions": exc}


def check_humaneval_generations(backend, shared: Path) -> dict:
    """Each recorded candidate runs against HumanEval's check(); the entry point is bound to its Solution method."""
    from collections import Counter

    tests = {r["task_id"]: r for r in map(json.loads, gzip.open(shared / "humaneval_openai_pypi/HumanEval.jsonl.gz",
                                                                  "rt"))}
    cases, jobs = [], []
    for f in sorted((shared / "lcb_fork_gu-ni_n10_generations/output_humaneval").glob("*_eval_all.json")):
        for row in json.loads(f.read_text()):
            t = tests.get(row["question_id"])
            if t is None:
                continue
            ep = t["entry_point"]
            for k, (code, ok, meta) in enumerate(zip(_lit(row["code_list"]), _lit(row["graded_list"]),
                                                     _lit(row["metadata"]))):
                adapter = f"\n\n{ep} = Solution().{ep}\n" if "class Solution" in code else ""
                jobs.append({"code": code + adapter, "func_name": ep,
                             "tests": [{"input": t["test"], "output": "", "testtype": "assert"}]})
                meta = json.loads(meta) if isinstance(meta, str) else meta
                cases.append({"model": f.name.split("__")[0], "official": bool(ok),
                              "official_error": str((meta or {}).get("error_message") or (meta or {}).get("error") or "")})
    res = run_all(backend, jobs, "humaneval-generations")
    agree = sum(c["official"] == (x["verdict"] == "passed") for c, x in zip(cases, res))
    kinds = Counter((("fails officially, passes here" if not c["official"] else "passes officially, fails here"),
                     c["official_error"][:60] if not c["official"] else x["verdict"])
                    for c, x in zip(cases, res) if c["official"] != (x["verdict"] == "passed"))
    per_model = Counter(c["model"] for c in cases)
    per_model_agree = Counter(c["model"] for c, x in zip(cases, res) if c["official"] == (x["verdict"] == "passed"))
    return {"cases": len(cases), "agree": agree, "kinds": kinds.most_common(12),
            "per_model": {m: (per_model_agree[m], n) for m, n in sorted(per_model.items())},
            "passed_here": sum(x["verdict"] == "passed" for x in res), "passed_official": sum(c["official"] for c in cases)}


def _pct(a: int, n: int) -> str:
    return f"{a}/{n} ({100 * a / n:.2f}%)" if n else "0/0"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared-data", default=None)
    ap.add_argument("--limit", type=int, default=None, help="at most N cases per check")
    ap.add_argument("--skip-tle", action="store_true", help="skip recorded time-limit cases (6 s each)")
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--only", choices=("public", "failing", "humaneval", "humaneval-generations"), default=None)
    ap.add_argument("--qids", default="", help="comma-separated question ids (failing check only)")
    ap.add_argument("--every", type=int, default=1, help="keep every N-th failing case (deterministic subsample)")
    args = ap.parse_args(argv)
    shared = shared_data_dir(args.shared_data)
    if not shared.is_dir():
        print(f"shared data not found at {shared}; pass --shared-data or set SHARED_DATA", file=sys.stderr)
        return 2
    from sandbox import get_backend

    cands = load_candidates(shared)
    print(f"{len(cands)} recorded candidates ({sum(c['passed'] for c in cands)} officially passing)")
    with get_backend(args.backend, workers=args.workers) as backend:
        if args.only in (None, "public"):
            r = check_public(backend, shared, cands, args.limit)
            print(f"\n[1] release_v1 public tests, officially passing candidates pass: {_pct(r['agree'], r['cases'])}")
            for c, x in r["exceptions"]:
                why = (f" -> slow, not wrong: over the {x['per_test'][-1].get('time_s', 0):.1f} s it was given on "
                       f"this machine (LiveCodeBench's 6 s per-test limit was met on its grader)"
                       if x["verdict"] == "time_limit" else known_reason(c))
                print(f"  - {c['qid']} {c['source']}: {x['verdict']} {x['error'][:160]!r}; printed "
                      f"{x['per_test'][-1]['stdout'][:160]!r}" + (f" {why}" if why else ""))
        if args.only in (None, "failing"):
            r = check_failing(backend, cands, args.limit, args.skip_tle,
                              set(filter(None, args.qids.split(","))) or None, args.every)
            print(f"\n[2] recorded first failing tests: failing candidates fail here too: "
                  f"{_pct(r['fail_agree'], r['cases'])}; same failure kind: {_pct(r['kind_agree'], r['cases'])}")
            print(f"    officially passing candidates of those problems pass that test: "
                  f"{_pct(r['pass_agree'], r['pass_cases'])}")
            for c, x, why in r["exc_fail"]:
                print(f"  - fails officially, passes here: {c['qid']} {c['source']} (official {c['code_kind']}: "
                      f"{c['meta'].get('error_message', '')[:100]!r})" + (f" -> {why}" if why else ""))
            mutated = [e for e in r["exc_pass"] if e[3]]
            print(f"    of the {len(r['exc_pass'])} exceptions, {len(mutated)} are on a rebuilt test whose recorded "
                  f"inputs the failing candidate mutated in place (not a real test; shown by a sandboxed probe)")
            for p, c, x, why in r["exc_pass"]:
                print(f"  - passes officially, fails here: {p['qid']} {p['source']} on the test of {c['source']}: "
                      f"{x['verdict']} {x['error'][:120]!r}" + (f" -> {why}" if why else ""))
        if args.only in (None, "humaneval"):
            r = check_humaneval(backend, shared)
            print(f"\n[3] HumanEval canonical solutions pass: {_pct(r['agree'], r['cases'])}")
            for tid, x in r["exceptions"]:
                print(f"  - {tid}: {x['verdict']} {x['error'][:200]!r}")
        if args.only in (None, "humaneval-generations"):
            r = check_humaneval_generations(backend, shared)
            print(f"\n[4] recorded HumanEval generations, check() here vs the recorded verdict: "
                  f"{_pct(r['agree'], r['cases'])} agree; passing here {r['passed_here']}, officially "
                  f"{r['passed_official']}")
            for m, (a, n) in r["per_model"].items():
                print(f"    {m}: {_pct(a, n)}")
            for (direction, why), n in r["kinds"]:
                print(f"  - {n} x {direction}: {why!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
