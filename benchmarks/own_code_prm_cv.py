"""Does the project's PRM rank the test's six models' programs when it trains on those models' own code?

`make eval-lcb-own-code-cv`, in the eval-lcb folder after its fetch step (data/candidates.parquet names the test's
six models: only its ``policy`` column is used; the PRM's configuration comes from the settings). A validation for
the PRM-alone goal; no release_v6 verdict or score is read.

The pipeline's PRMs train on the train side's labelled candidates, mostly other models' (Qwen2.5-7B, Qwen3-8B, O1),
and rank release_v6's six open models' programs below random at N=6. The train side holds 157 Codeforces problems
of those six models (10 samples of each model per problem). This script trains the PRM exactly as `dreamprm train`
does in `make eval-lcb` (frozen trunk, the same head, objective and optimiser settings: ``--epochs`` etc. default to
the Makefile's LCB_TRAIN_ARGS; outcome step labels from the official verdicts, as `dreamprm label --method outcome`
writes them) on those models' own programs, in a grouped k-fold cross-validation over the 157 problems (samples <
``--samples`` of each model, of the training folds' problems on the manifest's train side: what the train stage
reads), and scores every held-out problem's N=6 (sample 0 of each
model) with the mean step score, the aggregation of the reported PRM rows. Reported against random and the
generator prior (each model's pass rate on the training folds): pass@1, paired bootstrap, within-problem AUC.
Writes reports-own-code-cv/result.json (atomically).

The rule, fixed in the commit that added this script, before its ``--samples 5`` run (a scratch ``--samples 2`` run,
1,884 candidates, had given +2.1 [-1.7, 6.1] against random; the prior +4.7): if the cross-validated PRM's N=6 pick
beats random with a 95% paired interval excluding zero, `make eval-lcb` trains this PRM on the six models' own
train-side code (`label --policies-of data/candidates.parquet --per-policy 5` into data/step_labels-own.parquet,
`train` with LCB_TRAIN_ARGS into models/prm-own) and release_v6 reports it once at N=6, as the PRM-alone row of the
goal, against random and the ORM. Otherwise release_v6 is not evaluated with it.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from policy_head_cv import evaluate_n6, n6_line, prior_scores

from dreamprm.io import read_parquet, write_json

EVAL_FRACTION = 0.2  # flows/train.py's default: the problems the train stage holds out for its eval metrics


def own_code_frame(samples: int) -> pd.DataFrame:
    """The test models' train-side candidates (manifest train/meta sides, verdict known), chosen as `dreamprm label
    --policies-of data/candidates.parquet --per-policy <samples>` chooses them, with ``passed`` and ``side``."""
    from dreamprm.data.policies import policies_of, select_policies
    from dreamprm.data.split import SplitManifest
    from dreamprm.evaluate.prior import TRAINING_SIDES

    manifest = SplitManifest.load("data-train/split_manifest.json")
    training = manifest.ids(*TRAINING_SIDES)
    c = read_parquet("data-train/candidates.parquet")
    c = c[c["problem_id"].astype(str).isin(training)]
    c = select_policies(c, policies_of(read_parquet("data/candidates.parquet"), "data/candidates.parquet"), samples,
                        "data-train/candidates.parquet")
    known = c["official_passed"].notna()
    if not known.all():
        print(f"{int((~known).sum())} candidates without a recorded verdict left out")
    c = c[known].sort_values(["problem_id", "sample_index", "policy"]).reset_index(drop=True)
    return c.assign(passed=c["official_passed"].astype(bool), side=c["problem_id"].astype(str).map(manifest.sides))


def train_and_score(train: pd.DataFrame, test: pd.DataFrame, problems: pd.DataFrame, cfg_kwargs: dict) -> np.ndarray:
    """A fresh PRM of the settings' configuration (the Makefile's LCB_ENV: backbone, layers, fine-tuning mode; the
    settings' seed and device) trained on ``train``'s outcome labels as the train stage trains it, then the mean
    step score of every ``test`` candidate, scored as the evaluate stage scores (NaN where it gives none)."""
    from dreamprm.evaluate.aggregate import aggregate
    from dreamprm.evaluate.scoring import add_prm_scores, evaluation_frame
    from dreamprm.labeling.outcome import outcome_step_labels
    from dreamprm.prm.correct import split_by_problem
    from dreamprm.prm.model import PRMConfig, ProcessRewardModel
    from dreamprm.prm.train import TrainConfig, train_prm
    from dreamprm.settings import get_settings

    s = get_settings()
    cfg = TrainConfig(**{"seed": s.seed, **cfg_kwargs})
    prm = ProcessRewardModel.from_config(PRMConfig.from_settings(), cache_dir=s.cache_dir, seed=cfg.seed)
    rows = outcome_step_labels(problems, train, dict(zip(train["candidate_id"].astype(str), train["passed"])))
    train_rows, eval_rows = split_by_problem(rows, EVAL_FRACTION, cfg.seed)  # as the train stage holds out problems
    with tempfile.TemporaryDirectory() as out:
        train_prm(prm, train_rows, eval_rows, cfg, out, resume=False, device=s.prm.device)
    prm.eval()
    scored = add_prm_scores(evaluation_frame(problems, test, None), {"prm": prm})
    return np.array([aggregate(x, "mean") for x in scored["scores:prm"]])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=5, help="samples of each model per training problem")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--objective", default="pairwise")
    ap.add_argument("--rank-weight", type=float, default=0.5)
    ap.add_argument("--resamples", type=int, default=10_000)
    ap.add_argument("--out", default="reports-own-code-cv")
    args = ap.parse_args(argv)
    cfg_kwargs = {"epochs": args.epochs, "lr": args.lr, "batch_size": args.batch_size, "grad_accum": 1,
                  "objective": args.objective, "rank_weight": args.rank_weight, "save_every": 10**9}

    problems = read_parquet("data-train/problems.parquet")
    frame = own_code_frame(args.samples)
    ids = np.array(sorted(frame["problem_id"].astype(str).unique()))
    print(f"{frame['policy'].nunique()} models, {len(ids)} problems, {len(frame)} candidates "
          f"({int(frame['passed'].sum())} pass)")
    fold_of = dict(zip(np.random.default_rng(0).permutation(ids), np.arange(len(ids)) % args.folds))
    fold = frame["problem_id"].astype(str).map(fold_of).to_numpy()
    n6 = (frame["sample_index"] == 0).to_numpy()
    prm, prior = np.full(len(frame), np.nan), np.full(len(frame), np.nan)
    for k in range(args.folds):
        # the train stage reads the train side's rows only (the meta side is the correction's)
        tr, te = (fold != k) & (frame["side"] == "train").to_numpy(), (fold == k) & n6
        print(f"fold {k + 1}/{args.folds}: training on {int(tr.sum())} candidates, scoring {int(te.sum())}",
              flush=True)
        prm[te] = train_and_score(frame[tr], frame[te], problems, cfg_kwargs)
        prior[te] = prior_scores(frame[tr], frame[te])
    unscored = int(np.isnan(prm[n6]).sum())  # empty code or too long: ranked below the scored, as evaluate does
    print(f"{unscored} N=6 candidates without a PRM score (empty or too long), ranked last")
    result = {"settings": vars(args), "problems": len(ids), "candidates": len(frame), "unscored_n6": unscored,
              "cv": evaluate_n6(frame, {"prm": np.nan_to_num(prm, nan=-1.0), "prior": prior}, args.resamples)}
    write_json(result, Path(args.out) / "result.json")
    for name, r in result["cv"].items():
        print(n6_line(name, r))
    print(json.dumps({"written": str(Path(args.out) / "result.json")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
