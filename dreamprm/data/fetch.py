"""The fetch stage as plain functions: load every requested source, merge into one problem table and one candidate
table, split (:mod:`dreamprm.data.split`), validate, and write ``problems.parquet``, ``candidates.parquet``,
``split_manifest.json`` and ``fetch_summary.json`` (all four or none).

``run_fetch(config)`` composes the building blocks below; ``flows/fetch.py`` composes the same blocks as cached
Prefect tasks. Merge priority when a problem id comes from several sources: LiveCodeBench release files (they carry
the tests) > HumanEval / MBPP adapters > recorded generations.

``exclude_recorded`` folders name problems to leave out (every problem their recorded files answer), with their
candidates: the validation window (LiveCodeBench problems after the cutoff, ``make eval-lcb-window``) is the
after-cutoff problems of the other recorded sets minus release_v6's 175 test problems, built this way.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, Field

from dreamprm.data.livecodebench import load_problems, parse_date, problems_frame, resolve_release_files
from dreamprm.data.recorded import candidates_frame, import_recorded
from dreamprm.data.schema import CANDIDATE_COLUMNS, PROBLEM_COLUMNS
from dreamprm.data.split import MANIFEST_FILE, SplitConfig, SplitManifest, assign_split
from dreamprm.errors import InputDataError
from dreamprm.io import atomic_path

PROBLEMS_FILE = "problems.parquet"
CANDIDATES_FILE = "candidates.parquet"
SUMMARY_FILE = "fetch_summary.json"


class FetchConfig(BaseModel):
    """What the fetch stage loads and where it writes. ``release`` None loads no LiveCodeBench release files
    (``from_settings`` fills it from the settings when a local LiveCodeBench folder is configured)."""

    release: str | None = None
    lcb_dir: Path | None = None
    lcb_source: str = "auto"
    hub_repo: str = "livecodebench/code_generation_lite"
    hub_timeout_s: float = 10.0
    since: str | None = None
    until: str | None = None
    humaneval: bool = True
    mbpp: Path | None = None
    recorded: list[Path] = Field(default_factory=list)
    exclude_recorded: list[Path] = Field(default_factory=list)
    cutoff: str = "2024-08-01"
    meta_fraction: float = 0.2
    undated_eval_fraction: float = 0.25
    split_seed: int = 0
    out_dir: Path = Path("data")

    def split_config(self) -> SplitConfig:
        return SplitConfig(cutoff=self.cutoff, meta_fraction=self.meta_fraction,
                           undated_eval_fraction=self.undated_eval_fraction, seed=self.split_seed)

    @classmethod
    def from_settings(cls, settings: Any = None, **overrides: Any) -> FetchConfig:
        """Defaults from the settings (LiveCodeBench section, data dir); ``None`` overrides are ignored."""
        from dreamprm.settings import get_settings

        s = settings or get_settings()
        lcb = s.livecodebench
        values: dict[str, Any] = {
            "lcb_dir": lcb.local_dir, "lcb_source": lcb.source, "hub_repo": lcb.hub_repo,
            "hub_timeout_s": lcb.hub_timeout_s, "cutoff": lcb.cutoff_date, "out_dir": s.data_dir,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        if values.get("release") is None and (values.get("lcb_dir") or lcb.source == "hub"):
            values["release"] = lcb.release
        return cls(**values)


    def check(self) -> FetchConfig:
        """Fail fast on names and paths (before any work): unknown release, missing folders or files."""
        from dreamprm.data.livecodebench import release_versions

        if self.release:
            release_versions(self.release)
            if self.lcb_dir is not None and not Path(self.lcb_dir).is_dir():
                raise InputDataError("LiveCodeBench folder does not exist", path=self.lcb_dir, field="lcb_dir")
        if self.mbpp is not None and not Path(self.mbpp).is_file():
            raise InputDataError("MBPP file does not exist", path=self.mbpp, field="mbpp")
        for name in ("recorded", "exclude_recorded"):
            for d in getattr(self, name):
                if not Path(d).is_dir():
                    raise InputDataError("recorded-generations folder does not exist", path=d, field=name)
        for name in ("since", "until", "cutoff"):
            if getattr(self, name):
                parse_date(getattr(self, name), field=name)
        return self


@dataclass
class FetchResult:
    problems: pd.DataFrame
    candidates: pd.DataFrame
    summary: dict[str, Any]
    paths: dict[str, Path] = field(default_factory=dict)


@dataclass
class Parts:
    """What each source gave, before merging."""

    livecodebench: pd.DataFrame | None = None
    humaneval: pd.DataFrame | None = None
    mbpp: pd.DataFrame | None = None
    recorded_problems: pd.DataFrame | None = None
    recorded_candidates: pd.DataFrame | None = None
    recorded_stats: dict[str, Any] = field(default_factory=dict)
    excluded_ids: set[str] = field(default_factory=set)  # problems to leave out (``exclude_recorded``)


# --------------------------------------------------------------------------------------------------------------
# Building blocks (each one is a Prefect task in flows/fetch.py)
# --------------------------------------------------------------------------------------------------------------

def lcb_files(config: FetchConfig) -> list[Path]:
    """The local paths of the requested LiveCodeBench release files (downloading from the hub when needed)."""
    if not config.release:
        return []
    return resolve_release_files(config.release, source=config.lcb_source, local_dir=config.lcb_dir,
                                 repo=config.hub_repo, timeout_s=config.hub_timeout_s)


def load_parts(config: FetchConfig, files: list[Path] | None = None) -> Parts:
    """Load every requested source (no merging)."""
    from dreamprm.data.humaneval import load_humaneval, load_mbpp

    parts = Parts()
    files = lcb_files(config) if files is None else files
    if files:
        parts.livecodebench = load_problems(files, since=config.since, until=config.until)
    he = load_humaneval() if config.humaneval or config.recorded else None
    parts.humaneval = he if config.humaneval else None
    if config.mbpp:
        parts.mbpp = load_mbpp(config.mbpp)
    if config.recorded:
        rec = import_recorded(config.recorded, humaneval=he)
        parts.recorded_problems, parts.recorded_candidates, parts.recorded_stats = (
            rec.problems, rec.candidates, rec.stats)
    if config.exclude_recorded:
        from dreamprm.data.recorded import recorded_problem_ids

        parts.excluded_ids = recorded_problem_ids(config.exclude_recorded)
    return parts


def assemble(parts: Parts, *, cutoff: str | SplitConfig, since: str | None = None,
             until: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Merge the parts (first source wins per problem id), drop the excluded problems, apply the date window to
    LiveCodeBench problems, drop candidates whose problem fell out, and assign the split."""
    frames = [f for f in (parts.livecodebench, parts.humaneval, parts.mbpp, parts.recorded_problems)
              if f is not None and len(f)]
    problems = (pd.concat(frames, ignore_index=True) if frames else problems_frame([]))
    problems = problems.drop_duplicates(subset="problem_id", keep="first")
    problems = problems[~problems["problem_id"].astype(str).isin(parts.excluded_ids)]
    if since or until:
        dates = pd.to_datetime(problems["contest_date"], utc=True).dt.normalize()
        keep = pd.Series(True, index=problems.index)
        if since:
            keep &= ~(dates < parse_date(since, field="since").normalize()).fillna(False)
        if until:
            keep &= ~(dates > parse_date(until, field="until").normalize()).fillna(False)
        problems = problems[keep]
    problems = assign_split(problems, cutoff)
    problems = problems.sort_values(["source", "problem_id"], kind="stable").reset_index(drop=True)
    problems = problems[list(PROBLEM_COLUMNS)]
    candidates = parts.recorded_candidates if parts.recorded_candidates is not None else candidates_frame([])
    candidates = candidates[candidates["problem_id"].isin(set(problems["problem_id"]))]
    candidates = candidates.reset_index(drop=True)[list(CANDIDATE_COLUMNS)]
    return problems, candidates


def validate(problems: pd.DataFrame, candidates: pd.DataFrame) -> dict[str, Any]:
    """Run both Great Expectations suites; raises ValidationFailed with the report when one fails."""
    from dreamprm.validation import validate_candidates, validate_problems

    p = validate_problems(problems)
    c = validate_candidates(candidates, problems["problem_id"])
    return {"success": p.success and c.success, "problems": p.to_dict(), "candidates": c.to_dict()}


def data_hash(problems: pd.DataFrame, candidates: pd.DataFrame) -> str:
    """A content hash of both tables (row order included)."""
    h = hashlib.sha256()
    for df in (problems, candidates):
        h.update(",".join(df.columns).encode())
        h.update(pd.util.hash_pandas_object(df.astype(str), index=False).values.tobytes())
    return h.hexdigest()


def summarize(problems: pd.DataFrame, candidates: pd.DataFrame, config: FetchConfig,
              validation: dict[str, Any], recorded_stats: dict[str, Any] | None = None) -> dict[str, Any]:
    """Counts for the CLI table, the MLflow run and fetch_summary.json."""
    src = candidates["problem_id"].map(problems.set_index("problem_id")["source"])
    passed = candidates["official_passed"].fillna(False).astype(bool)
    lcb_gen = (src == "livecodebench") & (candidates["scenario"] == "codegeneration")
    per_problem = candidates[lcb_gen].groupby("problem_id")["official_passed"].agg(["min", "max"])
    digest = data_hash(problems, candidates)
    return {
        "data_hash": digest,
        "data_version": f"{config.release or 'recorded'}-{digest[:8]}",
        "config": json.loads(config.model_dump_json()),
        "split": asdict(config.split_config()),
        "problems_by_split": {str(k): int(v) for k, v in problems["split"].value_counts().sort_index().items()},
        "problems": len(problems),
        "problems_by_source": {str(k): int(v) for k, v in problems["source"].value_counts().sort_index().items()},
        "problems_by_source_difficulty": {
            f"{s}/{d}": int(n) for (s, d), n in problems.groupby(["source", "difficulty"]).size().items()},
        "problems_by_source_split": {
            f"{s}/{d}": int(n) for (s, d), n in problems.groupby(["source", "split"]).size().items()},
        "problems_with_tests": int(problems["has_tests"].sum()),
        "candidates": len(candidates),
        "candidates_passing": int(passed.sum()),
        "candidates_by_source": {str(k): int(v) for k, v in src.value_counts().sort_index().items()},
        "passing_by_source": {str(k): int(v) for k, v in src[passed].value_counts().sort_index().items()},
        "candidates_by_scenario": {str(k): int(v) for k, v in candidates["scenario"].value_counts().sort_index().items()},
        "lcb_codegeneration_candidates": int(lcb_gen.sum()),
        "lcb_codegeneration_passing": int((lcb_gen & passed).sum()),
        "lcb_problems_with_pass_and_fail": int(((per_problem["min"] == False) & (per_problem["max"] == True)).sum()),
        "recorded": recorded_stats or {},
        "validation": validation,
    }


def write_outputs(problems: pd.DataFrame, candidates: pd.DataFrame, summary: dict[str, Any],
                  out_dir: Path) -> dict[str, Path]:
    """Write the three files atomically and together: on any error none of them is replaced."""
    out_dir = Path(out_dir)
    paths = {"problems": out_dir / PROBLEMS_FILE, "candidates": out_dir / CANDIDATES_FILE,
             "manifest": out_dir / MANIFEST_FILE, "summary": out_dir / SUMMARY_FILE}
    manifest = SplitManifest.from_problems(problems, SplitConfig(**summary["split"]))
    with contextlib.ExitStack() as stack:
        tmp = {k: stack.enter_context(atomic_path(p)) for k, p in paths.items()}
        problems.to_parquet(tmp["problems"], index=False)
        candidates.to_parquet(tmp["candidates"], index=False)
        tmp["manifest"].write_text(manifest.to_json())
        tmp["summary"].write_text(json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n")
    return paths


def publish(staged: dict[str, Path], summary: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """Copy already written tables (``staged``: problems, candidates) into out_dir with a fresh summary, all three
    atomically and together."""
    import shutil

    out_dir = Path(out_dir)
    paths = {"problems": out_dir / PROBLEMS_FILE, "candidates": out_dir / CANDIDATES_FILE,
             "manifest": out_dir / MANIFEST_FILE, "summary": out_dir / SUMMARY_FILE}
    with contextlib.ExitStack() as stack:
        tmp = {k: stack.enter_context(atomic_path(p)) for k, p in paths.items()}
        for name in ("problems", "candidates", "manifest"):
            shutil.copyfile(staged[name], tmp[name])
        tmp["summary"].write_text(json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n")
    return paths


def outputs_current(out_dir: Path, digest: str) -> bool:
    """True when out_dir already holds the tables of this data hash (a repeat run need not rewrite them)."""
    out_dir = Path(out_dir)
    try:
        old = json.loads((out_dir / SUMMARY_FILE).read_text())
    except (OSError, ValueError):
        return False
    return old.get("data_hash") == digest and all((out_dir / f).is_file()
                                                  for f in (PROBLEMS_FILE, CANDIDATES_FILE, MANIFEST_FILE))


def build(parts: Parts, config: FetchConfig) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """assemble + validate + summarize."""
    problems, candidates = assemble(parts, cutoff=config.split_config(), since=config.since, until=config.until)
    loaded = {str(pid) for f in (parts.livecodebench, parts.humaneval, parts.mbpp, parts.recorded_problems)
              if f is not None for pid in f["problem_id"]}
    if problems.empty:
        raise InputDataError("nothing to fetch: no source gave any problem", field="sources",
                             expected="--release with --lcb-dir, --humaneval, --mbpp PATH or --recorded DIR")
    validation = validate(problems, candidates)
    summary = summarize(problems, candidates, config, validation, parts.recorded_stats)
    summary["problems_excluded"] = len(loaded & parts.excluded_ids)
    recorded = 0 if parts.recorded_candidates is None else len(parts.recorded_candidates)
    # Recorded candidates whose problem was excluded or fell outside the date window leave with it: counted.
    summary["candidates_left_out_with_their_problem"] = recorded - len(candidates)
    return problems, candidates, summary


def run_fetch(config: FetchConfig) -> FetchResult:
    """The whole fetch stage without Prefect or MLflow: load, merge, split, validate, write."""
    problems, candidates, summary = build(load_parts(config), config)
    paths = write_outputs(problems, candidates, summary, config.out_dir)
    return FetchResult(problems, candidates, summary, paths)
