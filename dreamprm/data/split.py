"""The split manifest: every problem on exactly one side, ``train`` | ``meta`` | ``eval``, written once per dataset by
the fetch stage (``data/split_manifest.json``, a DVC out) and read by every later stage.

- ``train``: what the warm-up trains on (the label stage labels train and meta problems);
- ``meta``: the bi-level correction's upper level (clean verdicts of problems the lower level never sees);
- ``eval``: best-of-N evaluation only; evaluate refuses a model whose recorded training or correction problems meet
  it (:func:`check_disjoint`).

The rule (:func:`assign_sides`): a problem with a contest date is ``eval`` when dated after the cutoff day (a day:
``2024-08-01`` puts every problem of 2024-08-01, any hour, before the cutoff) and otherwise ``meta`` or ``train``
by a seeded hash of its id; an undated problem (HumanEval, MBPP, recorded Codeforces problems) goes to ``eval`` with
probability ``undated_eval_fraction`` and otherwise to ``meta``/``train`` the same way. The hash makes a problem's
side independent of which other problems are in the table, so adding problems never moves an old one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from dreamprm.data.livecodebench import parse_date
from dreamprm.errors import InputDataError

SIDES = ("train", "meta", "eval")
MANIFEST_FILE = "split_manifest.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class SplitConfig:
    """How problems are put on sides (see the module docstring)."""

    cutoff: str = "2024-08-01"
    meta_fraction: float = 0.2  # of the problems not on the eval side
    undated_eval_fraction: float = 0.25  # of the undated problems
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("meta_fraction", "undated_eval_fraction"):
            v = getattr(self, name)
            if not 0.0 <= v < 1.0:
                raise InputDataError(f"{name} must be in [0, 1), got {v}", field=name)
        parse_date(self.cutoff, field="cutoff")


def _unit(problem_id: str, seed: int, salt: str) -> float:
    """A uniform number in [0, 1) from the id alone (seeded), the same on every machine and run."""
    digest = hashlib.sha256(f"{seed}:{salt}:{problem_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_sides(problems: pd.DataFrame, config: SplitConfig = SplitConfig()) -> pd.Series:
    """The side of every problem (indexed like ``problems``)."""
    day = parse_date(config.cutoff, field="cutoff").normalize()
    dates = pd.to_datetime(problems["contest_date"], utc=True).dt.normalize()
    sides = []
    for pid, date in zip(problems["problem_id"].astype(str), dates):
        if pd.notna(date) and date > day:
            sides.append("eval")
        elif pd.isna(date) and _unit(pid, config.seed, "eval") < config.undated_eval_fraction:
            sides.append("eval")
        else:
            sides.append("meta" if _unit(pid, config.seed, "meta") < config.meta_fraction else "train")
    return pd.Series(sides, index=problems.index, dtype=object)


def assign_split(problems: pd.DataFrame, config: SplitConfig | str = SplitConfig()) -> pd.DataFrame:
    """A copy of ``problems`` with its ``split`` column set to each problem's side."""
    cfg = SplitConfig(cutoff=config) if isinstance(config, str) else config
    out = problems.copy()
    out["split"] = assign_sides(out, cfg)
    return out


@dataclass
class SplitManifest:
    """problem id -> side, with the rule that made it. Build with :meth:`from_problems`, read with :meth:`load`."""

    sides: dict[str, str]
    config: dict[str, Any] = field(default_factory=dict)
    source: str | None = None

    @classmethod
    def from_problems(cls, problems: pd.DataFrame, config: SplitConfig) -> SplitManifest:
        sides = problems["split"] if "split" in problems else assign_sides(problems, config)
        return cls(dict(zip(problems["problem_id"].astype(str), sides)), asdict(config))

    def ids(self, *wanted: str) -> set[str]:
        for w in wanted:
            if w not in SIDES:
                raise InputDataError(f"unknown split side {w!r}", path=self.source, field="split",
                                     expected=" | ".join(SIDES))
        return {pid for pid, side in self.sides.items() if side in wanted}

    def counts(self) -> dict[str, int]:
        return {side: sum(1 for s in self.sides.values() if s == side) for side in SIDES}

    @property
    def digest(self) -> str:
        """A content hash of the assignment (every stage's identity that reads the manifest includes it)."""
        return hashlib.sha256(json.dumps(sorted(self.sides.items())).encode()).hexdigest()[:16]

    def to_json(self) -> str:
        body = {"format_version": FORMAT_VERSION, "config": self.config, "counts": self.counts(),
                "digest": self.digest, **{side: sorted(self.ids(side)) for side in SIDES}}
        return json.dumps(body, indent=1, sort_keys=True) + "\n"

    def write(self, path: Path) -> Path:
        from dreamprm.io import atomic_path

        with atomic_path(Path(path)) as tmp:
            Path(tmp).write_text(self.to_json())
        return Path(path)

    @classmethod
    def load(cls, path: Path | str) -> SplitManifest:
        """Read and check a manifest: each side a list of ids, no id on two sides (errors name the file and ids)."""
        path = Path(path)
        if not path.is_file():
            raise InputDataError("no split manifest (written by `dreamprm fetch`)", path=path,
                                 expected=f"{MANIFEST_FILE} beside problems.parquet")
        try:
            body = json.loads(path.read_text())
        except ValueError as exc:
            raise InputDataError(f"not JSON: {exc}", path=path) from None
        if not isinstance(body, dict) or body.get("format_version") != FORMAT_VERSION:
            raise InputDataError("not a split manifest of this format", path=path, field="format_version",
                                 expected=str(FORMAT_VERSION))
        sides: dict[str, str] = {}
        clashes: dict[str, list[str]] = {}
        for side in SIDES:
            ids = body.get(side)
            if not isinstance(ids, list):
                raise InputDataError(f"side {side!r} is missing or not a list", path=path, field=side,
                                     expected="a list of problem ids")
            for pid in map(str, ids):
                if pid in sides:
                    clashes.setdefault(pid, [sides[pid]]).append(side)
                sides[pid] = side
        if clashes:
            shown = ", ".join(f"{pid} ({' and '.join(s)})" for pid, s in sorted(clashes.items())[:10])
            raise InputDataError(f"{len(clashes)} problem(s) on two sides: {shown}", path=path, field="split",
                                 expected="every problem on exactly one side")
        return cls(sides, dict(body.get("config") or {}), str(path))

    def check_problems(self, problem_ids: Iterable[str], *, what: str = "problems") -> None:
        """Every id of ``problem_ids`` must be in the manifest (an unknown id names the file and the ids)."""
        unknown = sorted(set(map(str, problem_ids)) - set(self.sides))
        if unknown:
            raise InputDataError(f"{len(unknown)} {what} not in the split manifest: {unknown[:10]}",
                                 path=self.source, field="problem_id",
                                 expected="a manifest written by the same fetch as the problems table")


def problems_on_sides(problems: pd.DataFrame, problems_path: Path | str, split: str | None,
                      default: str) -> tuple[pd.DataFrame, SplitManifest, list[str]]:
    """The problems on the manifest sides named by ``split`` (comma list; ``default`` when None), with the manifest
    beside ``problems_path`` checked against the table. No problem on those sides is an error naming the file and
    the sides that have problems: never a silent fall-back to every problem."""
    manifest = SplitManifest.load(manifest_path_for(problems_path))
    manifest.check_problems(problems["problem_id"])
    sides = [x.strip() for x in (split or default).split(",") if x.strip()]
    wanted = manifest.ids(*sides)
    chosen = problems[problems["problem_id"].astype(str).isin(wanted)]
    if chosen.empty:
        raise InputDataError(f"no problem on side(s) {sides}", path=manifest.source, field="split",
                             expected=f"sides with problems: {manifest.counts()}")
    return chosen, manifest, sides


def manifest_path_for(problems_path: Path | str) -> Path:
    """The manifest beside a problems table (fetch writes both into the same folder)."""
    return Path(problems_path).with_name(MANIFEST_FILE)


def check_disjoint(evaluated: Iterable[str], seen: Mapping[str, Iterable[str]]) -> None:
    """Refuse to evaluate on problems a model trained or was corrected on. ``seen``: model name -> problem ids it
    saw (its recorded provenance)."""
    ev = set(map(str, evaluated))
    clashes = {name: sorted(ev & set(map(str, ids))) for name, ids in seen.items()}
    clashes = {k: v for k, v in clashes.items() if v}
    if clashes:
        detail = "; ".join(f"{name} saw {len(ids)} of them (e.g. {ids[:5]})" for name, ids in sorted(clashes.items()))
        raise InputDataError(f"refusing to evaluate on problems a model was trained or corrected on: {detail}",
                             field="split", expected="evaluate the manifest's eval side (--split eval)")


def select_splits(problems: pd.DataFrame, splits: str, *, source: str | None = None) -> pd.DataFrame:
    """The problems in any of ``splits`` (comma-separated, e.g. ``"train,meta"``). A name with no problem is an
    error naming it and ``source`` (the problems file), so a typo never selects an empty table."""
    wanted = [x.strip() for x in splits.split(",") if x.strip()]
    present = sorted(set(problems["split"])) if "split" in problems else []
    expected = " | ".join(present) or "a problems table with a split column"
    if not wanted:
        raise InputDataError(f"no split named in {splits!r}", path=source, field="split", expected=expected)
    missing = [w for w in wanted if w not in present]
    if missing:
        raise InputDataError(f"no problem in split(s) {missing}", path=source, field="split", expected=expected)
    return problems[problems["split"].isin(wanted)]


def split_ids(problems: pd.DataFrame) -> dict[str, set[str]]:
    """The problem ids on each side."""
    return {s: set(problems.loc[problems["split"] == s, "problem_id"]) for s in SIDES}


def sample_by_problem(frame: pd.DataFrame, sides: Mapping[str, str], per_problem: int, limit: int) -> pd.DataFrame:
    """At most ``per_problem`` candidates of each problem (the first in candidate-id order: ids are content hashes,
    so a uniform sample), whole problems taken in a hashed problem order, the sides in turn, until ``limit`` rows
    (0 = all). Why: a within-problem (pairwise) objective needs several candidates of one problem, and a problem's
    statement is encoded once for all its candidates, so a few problems with many candidates each cost far less
    than as many candidates scattered over many problems."""
    if per_problem <= 0:
        return interleave_sides(frame, sides, "candidate_id", limit)
    capped = frame.sort_values("candidate_id", kind="stable").groupby("problem_id", sort=False).head(per_problem)
    key = capped["problem_id"].astype(str).map(lambda p: hashlib.sha256(p.encode()).hexdigest())
    ordered = capped.assign(_key=key + "/" + capped["candidate_id"].astype(str))
    picked = interleave_sides(ordered, sides, "_key", limit)
    return picked.drop(columns=["_key"]).sort_values("candidate_id", kind="stable")


def interleave_sides(frame: pd.DataFrame, sides: Mapping[str, str], order_by: str, limit: int) -> pd.DataFrame:
    """The first ``limit`` rows (0 = all) taking the sides in turn (rows in ``order_by`` order within a side), so
    a small run still has rows on every side it asked for (training, correction's meta set and evaluation)."""
    if not limit:
        return frame
    side = frame["problem_id"].astype(str).map(sides).fillna("")
    ordered = frame.assign(_side=side).sort_values([order_by], kind="stable")
    ordered["_rank"] = ordered.groupby("_side").cumcount()
    ordered["_order"] = ordered["_side"].map({s: i for i, s in enumerate(SIDES)})
    picked = ordered.sort_values(["_rank", "_order"], kind="stable").head(limit)
    return picked.drop(columns=["_side", "_rank", "_order"]).sort_values(order_by, kind="stable")
