"""Consensus among the example survivors: how often a candidate's output on the probe inputs agrees with the others'.

Passing the statement's examples leaves, at N=60 on LiveCodeBench, a pool of survivors of which about two thirds are
correct; the wrong ones mostly fail on inputs the examples do not cover. Every survivor of a problem runs on the same
probe inputs (``dreamprm execute --tests probes``, :mod:`dreamprm.data.probes`), and a survivor's consensus score is

    consensus(c) = mean over probes j of |{k in pool : out_k[j] == out_c[j]}| / |pool|

with ``pool`` the problem's probed survivors of the evaluated set. A probe that did not run to completion counts as
its verdict (``time_limit``, ``runtime_error``; ``not_run`` after the run stopped): survivors that fail a probe the
same way agree on it. A probe input may be invalid (it is generated, :mod:`dreamprm.data.probes`), and then correct
programs tend to fail it together; counting a failure as agreeing with nobody made one robust wrong program win
over 28 correct ones on a training-side problem. The expected pick is the candidate whose behaviour most others share
(AlphaCode's clustering, MBR-exec); a wrong program only wins where most survivors are wrong in the same way.

The score depends on the pool, so it is computed per evaluated set: best-of-6 compares the survivors among the first
six only, never with candidates outside them. ``add_consensus_scores(..., tie_breakers=...)`` combines it with a
model's score lexicographically: consensus first, the model's within-problem rank breaks its ties (often all
survivors agree on every probe). A problem whose examples give no probe (scalar arguments only, count lines only)
scores all its probed survivors alike, so the tie-breaking model decides there.

Speed is a second kind of tie-breaker, with no model: ``consensus>speed`` ranks the survivors that agree equally by
the seconds their probe runs took in all (:func:`probe_seconds`; fewer first). LiveCodeBench's hidden tests are
judged under a time limit, and programs that print the same on the probes often differ in how their running time
grows: the grown probes are at the statement's size bound, so a quadratic program is slower there by orders of
magnitude, while two programs of the same complexity differ by noise and the order between them is as good as
random. ``consensus>speedbin>m`` keeps the complexity signal and drops that noise: the survivors that agree equally
are ordered by their speed bin, ``floor(log2(seconds / fastest))`` with ``fastest`` the problem's fastest complete
probe run in the evaluated pool (so every survivor within a factor of 2 of the fastest shares bin 0), and model m
breaks the ties left within a bin.

Speed is measured in the candidate process's own CPU seconds (``cpu_s``, :data:`SPEED_CLOCK`, recorded since
harness version 7 by :func:`sandbox.harness.process_cpu_seconds`), which do not include waiting for a core or the
harness's exchange with the process; ``dreamprm evaluate --speed-clock wall`` ranks by wall-clock seconds
(``time_s``) instead. Both choices were made by rules written down before the test set was evaluated with them (the
experiment record, docs/lcb-best-of-n.md, sections 14 and 16). On either clock about a third of the consensus-tied
pairs swap order between two runs of the same probes, which is why ``consensus>speedbin>m`` compares speed only in
factors of 2; on the wall clock even those bins changed order for 32-40% of the tied pairs, and the adopted hybrid's
validation pass@1 moved by up to 1.8 points between runs, while on the CPU clock 3-17% changed and its picks changed
in a fifth to a half as many problems, so the CPU clock replaced the wall clock (section 16).
``benchmarks/speed_clock.py`` repeats the comparison.

Outputs are compared whole: the sandbox records, per probe, the sha256 of the entire output in normalized form
(``stdout_sha256``; :func:`sandbox.harness.normalize_probe_output`: lines stripped, blank lines at either end dropped,
decimals with a point rounded to 6 places), beside the first 4,096 characters it keeps for people to read. That is
close to, not the same as, LiveCodeBench's token-wise Decimal comparison (``2`` and ``2.0`` differ here). Probe
records of harness version 5 and older carry no digest; there the kept text is compared, so two long outputs equal
in their first 4,096 characters and in length agree (:func:`consensus_coverage` counts the survivors compared so, the
report shows it).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterator, Mapping

import numpy as np
import pandas as pd

from dreamprm.errors import InputDataError
from sandbox.harness import normalize_probe_output

CONSENSUS_COLUMN = "scores:consensus"
# Columns computed from the evaluated pool itself: the pass@1-vs-N curve's subsets would need them recomputed.
POOL_DEPENDENT_PREFIX = CONSENSUS_COLUMN
_TIE_STEP = 1e-6  # weight of the tie-breaking model rank: far below any consensus step


def normalize_output(text: str | None) -> str | None:
    """Output in the form consensus compares (the sandbox's :func:`~sandbox.harness.normalize_probe_output`, which
    its digests are taken of); None stays None."""
    return None if text is None else normalize_probe_output(text)


def _probe_value(record: dict) -> str:
    """What one probe record is compared by: the whole output's digest where the sandbox recorded one, else the
    normalized kept text; ``"\\x00<verdict>"`` for a probe that did not run to completion."""
    if record.get("verdict") != "passed":
        return f"\x00{record.get('verdict')}"
    digest = record.get("stdout_sha256")
    return f"\x01{digest}" if digest else normalize_output(record.get("stdout") or "")


NOT_RUN = "\x00not_run"
SPEED = "speed"  # the name of the speed tie-breaker (``scores:consensus>speed``)
SPEED_BIN = "speedbin"  # speed by factors of 2, then a model (``scores:consensus>speedbin>m``)
_MIN_SECONDS = 1e-3  # a total probe time below the clock's resolution counts as this (no log of zero)
_STOPPED_BIN = 1e6  # the speed bin of a stopped run: below every complete run's (finite, so a model still orders them)


def _probe_rows(probes: pd.DataFrame, path: str | None) -> Iterator[tuple[int, str, list[dict], int]]:
    """(row, candidate_id, per-test records, number of probes) per row of a ``dreamprm execute --tests probes``
    table; a missing column or a per_test that is not a JSON list is an error naming the row."""
    missing = [c for c in ("candidate_id", "per_test", "num_tests") if c not in probes]
    if missing:
        raise InputDataError(f"the probe executions lack columns {missing}", path=path, field=missing[0],
                             expected="a `dreamprm execute --tests probes` output")
    for row, (cid, raw, n) in enumerate(zip(probes["candidate_id"], probes["per_test"], probes["num_tests"])):
        try:
            records = json.loads(raw) if raw else []
        except ValueError as exc:
            records = exc
        if not isinstance(records, list):
            raise InputDataError(f"row {row} (candidate {cid}): per_test is not a JSON list ({records})", path=path,
                                 field="per_test", expected="the sandbox's per-test records")
        yield row, str(cid), [r for r in records if isinstance(r, dict)], int(n)


def probe_outputs(probes: pd.DataFrame, path: str | None = None) -> dict[str, list[str]]:
    """candidate_id -> per probe, the normalized output, or ``"\\x00<verdict>"`` where the probe did not run to
    completion (:data:`NOT_RUN` after the run stopped), from an executions table of ``dreamprm execute --tests
    probes``."""
    out: dict[str, list[str]] = {}
    for _, cid, records, n in _probe_rows(probes, path):
        outs = [_probe_value(r) for r in records]
        out[cid] = outs + [NOT_RUN] * max(0, n - len(outs))
    return out


SPEED_CLOCKS = {"cpu": "cpu_s", "wall": "time_s"}  # clock -> the per-test record's field that holds it
SPEED_CLOCK = "cpu"  # the clock the speed keys rank by: chosen on validation (docs/lcb-best-of-n.md, section 16)


def probe_seconds(probes: pd.DataFrame, path: str | None = None, clock: str = SPEED_CLOCK) -> dict[str, float]:
    """candidate_id -> the seconds its probe runs took in all on ``clock`` (``"cpu"`` or ``"wall"``,
    :data:`SPEED_CLOCKS`; a run stopped at the time limit counts the time it took); infinite where fewer records
    than probes were kept (the run stopped), so such a candidate ranks last. A complete run's record without a
    number in the clock's field is an error naming the row."""
    if clock not in SPEED_CLOCKS:
        raise ValueError(f"unknown speed clock {clock!r}: expected one of {sorted(SPEED_CLOCKS)}")
    field = SPEED_CLOCKS[clock]
    out: dict[str, float] = {}
    for row, cid, records, n in _probe_rows(probes, path):
        if len(records) < n:
            out[cid] = float("inf")
            continue
        try:
            times = [float(r[field]) for r in records]
            if not all(math.isfinite(t) and t >= 0 for t in times):  # NaN would sort like a stopped run, uncounted
                raise ValueError(f"{field} values {times}")
        except (KeyError, TypeError, ValueError) as exc:
            hint = ("; probes run before harness version 7 have no cpu_s: run them again, or rank by "
                    "--speed-clock wall") if clock == "cpu" and isinstance(exc, KeyError) else ""
            raise InputDataError(f"row {row} (candidate {cid}): a probe record's {field} is not a finite number of "
                                 f"seconds >= 0 ({exc!r})", path=path, field="per_test",
                                 expected=f"the sandbox's per-test records with {field}{hint}") from exc
        out[cid] = sum(times)
    return out


def consensus_scores(frame: pd.DataFrame, outputs: Mapping[str, list[str]]) -> pd.Series:
    """Consensus score per row of ``frame`` (see module docstring), among each problem's survivors
    (``examples_passed``) that have probe outputs; NaN for every other row (not a survivor, not probed)."""
    if "examples_passed" not in frame:
        raise InputDataError("consensus needs the candidates' executions on their statement examples",
                             field="examples_passed", expected="`dreamprm execute --tests public` first")
    ids = frame["candidate_id"].astype(str)
    pool = (frame["examples_passed"] == True).to_numpy() & ids.isin(outputs.keys()).to_numpy()
    scores = np.full(len(frame), np.nan)
    positions = pd.Series(np.arange(len(frame)), index=frame.index)
    for _, rows in frame[pool].groupby("problem_id", sort=False):
        members = [outputs[c] for c in rows["candidate_id"].astype(str)]
        width = max(len(o) for o in members)
        if width == 0:  # no probe could be derived for this problem: the survivors are alike
            scores[positions[rows.index].to_numpy()] = 1.0
            continue
        if width * len(members) * _TIE_STEP >= 1:
            raise ValueError(f"{width} probes x {len(members)} survivors: consensus steps would fall below the "
                             f"tie-break weight {_TIE_STEP}")
        agree = np.zeros(len(members))
        for j in range(width):
            column = [o[j] if j < len(o) else NOT_RUN for o in members]
            counts = Counter(column)
            agree += np.array([counts[v] for v in column], dtype=float)
        scores[positions[rows.index].to_numpy()] = agree / (width * len(members))
    return pd.Series(scores, index=frame.index)


def _as_score_lists(values: pd.Series) -> pd.Series:
    """Scores as one-element score lists (the frame's score-column format), None where missing."""
    return pd.Series([None if np.isnan(v) else [float(v)] for v in values], index=values.index, dtype=object)


def _rank_in_problem(frame: pd.DataFrame, values: pd.Series) -> pd.Series:
    """Each row's within-problem rank by ``values`` (higher = better), scaled into (0, 1); 0 where NaN, below every
    ranked row."""
    ranks = values.groupby(frame["problem_id"]).rank(method="average")
    sizes = frame.groupby("problem_id")["candidate_id"].transform("size")
    return (ranks / (sizes + 1)).fillna(0.0)


def _model_rank(frame: pd.DataFrame, column: str, aggregation: str) -> pd.Series:
    """Each row's within-problem rank by the model's aggregated score (:func:`_rank_in_problem`)."""
    from dreamprm.evaluate.aggregate import aggregate

    agg = pd.Series([np.nan if s is None or (isinstance(s, float) and np.isnan(s)) or len(s) == 0
                     else float(aggregate(s, aggregation)) for s in frame[column]], index=frame.index)
    return _rank_in_problem(frame, agg)


def _speed_rank(frame: pd.DataFrame, seconds: Mapping[str, float]) -> pd.Series:
    """Each row's within-problem rank by its total probe time, fastest highest (:func:`_rank_in_problem`); a run
    that stopped (infinite time) ranks below every complete one, an unprobed row at 0."""
    return _rank_in_problem(frame, -frame["candidate_id"].astype(str).map(seconds).astype(float))


def speed_bins(frame: pd.DataFrame, seconds: Mapping[str, float]) -> pd.Series:
    """Each row's speed bin, ``floor(log2(seconds / fastest))`` with ``fastest`` the problem's fastest complete run
    among the rows (so bin 0 holds every run within a factor of 2 of it); a stopped run (infinite time) gets a bin
    above every complete one, an unprobed row NaN."""
    t = frame["candidate_id"].astype(str).map(seconds).astype(float).clip(lower=_MIN_SECONDS)
    fastest = t.where(np.isfinite(t)).groupby(frame["problem_id"]).transform("min")
    return np.floor(np.log2(t / fastest)).mask(np.isinf(t), _STOPPED_BIN)


def _speed_bin_rank(frame: pd.DataFrame, seconds: Mapping[str, float], model_rank: pd.Series) -> pd.Series:
    """Each row's within-problem rank by (:func:`speed_bins`, model rank): lower bins first, the model's rank
    (in [0, 1)) ordering each bin and the stopped runs, which rank below every complete one; an unprobed row at 0."""
    return _rank_in_problem(frame, -speed_bins(frame, seconds) + 0.5 * model_rank)


def add_consensus_scores(frame: pd.DataFrame, outputs: Mapping[str, list[str]],
                         tie_breakers: Mapping[str, str] | None = None, aggregation: str = "mean",
                         seconds: Mapping[str, float] | None = None) -> pd.DataFrame:
    """``frame`` with ``scores:consensus`` and, per ``tie_breakers`` entry name -> model score column,
    ``scores:consensus>name``: the consensus plus the model's rank scaled below the smallest consensus step
    (1 / (probes x pool) >= 1 / 10^4 here), so the sum orders exactly as (consensus, model rank) and stays a
    probability in [0, 1]. With ``seconds`` (:func:`probe_seconds`), ``scores:consensus>speed`` likewise breaks the
    ties by total probe time, fastest first, and per model m ``scores:consensus>speedbin>m`` by the speed bin, then
    m (module docstring)."""
    out = frame.copy()
    base = consensus_scores(frame, outputs)
    out[CONSENSUS_COLUMN] = _as_score_lists(base)
    ranks = {name: _model_rank(frame, column, aggregation) for name, column in (tie_breakers or {}).items()}
    if seconds is not None:
        for reserved in (SPEED, SPEED_BIN):
            if reserved in ranks:
                raise ValueError(f"a model may not be named {reserved!r}: a speed tie-breaker has that name")
        ranks |= {f"{SPEED_BIN}>{name}": _speed_bin_rank(frame, seconds, rank) for name, rank in ranks.items()}
        ranks[SPEED] = _speed_rank(frame, seconds)
    for name, rank in ranks.items():
        out[f"{CONSENSUS_COLUMN}>{name}"] = _as_score_lists((1 - _TIE_STEP) * base + _TIE_STEP * rank)
    return out


def consensus_coverage(frame: pd.DataFrame, outputs: Mapping[str, list[str]]) -> dict[str, int]:
    """What the consensus was computed on, for the report: problems with two or more survivors, their survivors, how
    many of those have no probe record (a probe table older than the executions: they rank below the probed ones,
    so the number is reported, never silently absorbed), how many were compared by their kept 4,096 characters
    because their records carry no whole-output digest (a probe table from harness version 5 or older), and the
    problems whose examples gave no probe (their survivors tie; the tie-breaking model decides)."""
    survivors = frame[(frame["examples_passed"] == True)]  # object column, None = unknown
    sizes = survivors.groupby("problem_id")["candidate_id"].transform("size")
    compared = survivors[sizes >= 2]
    ids = compared["candidate_id"].astype(str)
    missing = ~ids.isin(outputs.keys())
    no_probe = compared[ids.map(lambda c: c in outputs and len(outputs[c]) == 0).astype(bool)]
    by_text = sum(any(not v.startswith(("\x00", "\x01")) for v in outputs.get(c, ())) for c in ids)
    return {"n_problems_compared": int(compared["problem_id"].nunique()), "n_survivors_compared": len(compared),
            "n_survivors_not_probed": int(missing.sum()),
            "n_survivors_compared_by_kept_text": int(by_text),
            "n_problems_without_probes": int(no_probe["problem_id"].nunique())}


def tie_break_ceiling(frame: pd.DataFrame) -> dict[str, float | int]:
    """How much any tie-breaker could add to consensus, measured with the selector itself: ``filter:consensus>m``
    with m = the official verdict (a perfect tie-breaker) and with m = its opposite (the worst one). The first's
    pass@1 is the ceiling no model or speed key can lift a consensus hybrid above (a correct program outside the top
    consensus group is out of its reach; only a different grouping, i.e. other probes, or a selector that leaves the
    top group can get it); the problems where the two differ are the only ones a tie-breaker decides. The selector's
    own rules hold: a problem without survivors, or whose survivors have no probe record, submits its earliest
    candidate whatever the tie-breaker says. Needs ``scores:consensus`` (:func:`add_consensus_scores`), the
    official ``passed`` verdicts (missing: a failure, as in pass@1) and the columns every selector needs."""
    from dreamprm.evaluate.aggregate import aggregate_many
    from dreamprm.evaluate.select import CandidateTable

    for col in (CONSENSUS_COLUMN, "passed", "examples_passed"):
        if col not in frame:
            raise InputDataError(f"the tie-break ceiling needs a {col!r} column", field=col,
                                 expected="an evaluation frame with consensus scores (add_consensus_scores)")
    base = pd.Series(aggregate_many(frame[CONSENSUS_COLUMN], "min"), index=frame.index)  # one score each; NaN: none
    verdict = (frame["passed"] == True).astype(float)  # object column, None = no verdict = not passed
    probe = frame.assign(**{"scores:_best": _as_score_lists((1 - _TIE_STEP) * base + _TIE_STEP * verdict),
                            "scores:_worst": _as_score_lists((1 - _TIE_STEP) * base + _TIE_STEP * (1 - verdict))})
    table = CandidateTable.from_frame(probe, score_methods={"best": ("scores:_best", "min"),
                                                            "worst": ("scores:_worst", "min")}, group_columns=())
    best, worst = table.pass_values("filter:best"), table.pass_values("filter:worst")
    return {"tie_break_ceiling": float(best.mean()), "tie_break_floor": float(worst.mean()),
            "n_problems_top_reachable": int(best.sum()), "n_problems_top_mixed": int((best > worst).sum())}
