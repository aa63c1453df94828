"""benchmarks/consensus_ablation.py: the probe table cut to a run without wide probes is a valid executions table
(evaluate checks it on read), with the counts and verdict that shorter run would have had."""

import json
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from consensus_ablation import without_wide  # noqa: E402

from dreamprm.execution import ExecuteConfig, execution_row, problem_tests  # noqa: E402
from dreamprm.validation import validate_executions  # noqa: E402

PROBLEM = {"problem_id": "p1", "statement": "Given N (1 <= N <= 100) and N integers, print their sum.\n",
           "public_tests": json.dumps([{"input": "3\n1 2 3\n", "output": "6\n", "testtype": "stdin"}]),
           "private_tests": "[]", "test_type": "stdin", "func_name": "", "starter_code": ""}


def test_without_wide_keeps_the_table_valid() -> None:
    cfg = ExecuteConfig()
    kept = len(problem_tests(PROBLEM, "probes", cfg.probes, cfg.grown_probes, 0))
    total = kept + 2  # two wide probes after the kept ones

    def run(cid: str, failed_at: int | None) -> dict:
        n_ok = total if failed_at is None else failed_at
        records = [{"verdict": "passed", "stdout": "6"}] * n_ok + ([] if failed_at is None else
                                                                   [{"verdict": "runtime_error", "stdout": ""}])
        result = {"verdict": "passed" if failed_at is None else "runtime_error", "num_tests": total,
                  "num_passed": n_ok, "per_test": records}
        return execution_row({"candidate_id": cid, "problem_id": "p1"}, result, "docker", public_tests=total)

    probes = pd.DataFrame([run("all-pass", None), run("fails-on-a-wide-probe", kept + 1),
                           run("fails-on-probe-2", 2)])
    cut = without_wide(probes, pd.DataFrame([PROBLEM])).set_index("candidate_id")
    assert validate_executions(cut.reset_index(), raise_on_failure=False).success
    assert cut["num_tests"].tolist() == [kept] * 3 and cut["public_tests"].tolist() == [kept] * 3
    assert cut["num_passed"].tolist() == [kept, kept, 2]
    assert cut["verdict"].tolist() == ["passed", "passed", "runtime_error"]  # the wide probe it failed is cut
    assert [len(json.loads(r)) for r in cut["per_test"]] == [kept, kept, 3]
