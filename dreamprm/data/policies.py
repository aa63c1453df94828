"""Which policies' candidates a stage takes: the programs of the models a PRM will rank.

A PRM ranks the programs of the policies it is deployed with, and what it can learn about their mistakes comes from
their own code: on LiveCodeBench release_v6 the six open models' programs are ranked below random by PRMs trained
on other models' candidates (README, "A PRM trained on the ranked models' own code"). ``dreamprm label
--policies-of TABLE --per-policy K`` labels only the candidates of the policies named in TABLE (e.g. the test
candidates, whose labels it never reads), at most K samples of each policy per problem.
"""

from __future__ import annotations

from collections.abc import Collection

import pandas as pd

from dreamprm.errors import InputDataError


def policies_of(table: pd.DataFrame, path: str | None = None) -> list[str]:
    """The distinct ``policy`` values of a candidates table, sorted; an error names a table without any."""
    if "policy" not in table:
        raise InputDataError("the table has no 'policy' column", path=path, field="policy",
                             expected="a candidates table (dreamprm fetch writes one)")
    names = sorted({str(p) for p in table["policy"].dropna() if str(p)})
    if not names:
        raise InputDataError("the table names no policy", path=path, field="policy",
                             expected="candidates with their generating policy")
    return names


def select_policies(candidates: pd.DataFrame, policies: Collection[str], per_policy: int = 0,
                    source: str | None = None) -> pd.DataFrame:
    """The candidates written by ``policies`` (every candidate when it is empty), at most ``per_policy`` of each
    policy per problem, the lowest ``sample_index`` first (0 = all). The samples of a policy are exchangeable, so
    the lowest indices are a uniform sample and keep the choice the same when more samples are recorded later.
    An error names the table when a needed column is missing or no candidate is left."""
    if per_policy < 0:
        raise InputDataError(f"per_policy must be 0 (all) or more, got {per_policy}", field="per_policy",
                             expected="at most this many samples of each policy per problem")
    if not policies and per_policy == 0:
        return candidates
    for col in ("policy", "problem_id") + (("sample_index",) if per_policy > 0 else ()):
        if col not in candidates:
            raise InputDataError(f"the candidates have no {col!r} column, needed to select policies", path=source,
                                 field=col, expected="a candidates table written by dreamprm fetch")
    out = candidates
    if policies:
        out = out[out["policy"].astype(str).isin(set(policies))]
        if out.empty:
            found = sorted({str(p) for p in candidates["policy"].dropna()})
            raise InputDataError(f"no candidate was written by {sorted(policies)}; the table's policies are {found}",
                                 path=source, field="policy", expected="candidates of the named policies")
    if per_policy > 0:
        out = (out.sort_values(["problem_id", "policy", "sample_index"], kind="stable")
               .groupby(["problem_id", "policy"], sort=False).head(per_policy))
        out = out.sort_index()
    return out
