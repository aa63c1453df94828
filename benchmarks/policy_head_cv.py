"""Can a head on the frozen trunk rank the test's six models' programs when it learns from those models' code?

`make eval-lcb-policy-head-cv`, in the eval-lcb folder after `make eval-lcb-consensus-val` (which writes
data-train/val60-candidates.parquet) and the train step (models/prm-none/final names the trunk). A diagnosis for
the PRM-alone goal, on validation data only (no release_v6 candidate is read):

The PRMs train on the train side's labelled candidates, mostly other models' (Qwen2.5-7B, Qwen3-8B, O1), and rank
release_v6's six open models' programs below random. The train side holds only 157 Codeforces problems of those six
models: 116 are the N=60 validation set (no model trained on them), 41 are labelled. This script measures, with the
trunk's cached step-end vectors (mean over steps and the last step) and a within-problem pairwise logistic head
(RankNet over the pass/fail pairs of each problem, L2, on a PCA of the standardized vectors):

- ``cv``: grouped 5-fold cross-validation over the 116 validation problems (samples < ``--samples`` of each model),
  i.e. a head that learns from ~93 problems of the six models' code;
- ``transfer``: a head trained on the six models' other train-side problems (the 41 labelled ones; samples <
  ``--samples`` + 1; the manifest's train and meta sides only) and tested on the 116;

each against random and the generator prior (each model's pass rate on the training problems of the same run), at
the test's N=6 (sample 0 of each model): pass@1 of the pick, paired bootstrap against random, and the
within-problem AUC. Writes reports-policy-head-cv/result.json (atomically).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from dreamprm.evaluate.stats import paired_difference, ranking_quality
from dreamprm.io import read_parquet, write_json


def pooled_features(frame: pd.DataFrame, problems: pd.DataFrame, model_dir: str) -> np.ndarray:
    """(candidates x 2·hidden): the mean and the last of each candidate's step-end trunk vectors, read from (or
    written to) the project's feature cache through the same PRM input the models train and score on."""
    from dreamprm.evaluate.scoring import evaluation_frame, prm_inputs
    from dreamprm.prm.features import FeatureCache
    from dreamprm.prm.model import ProcessRewardModel

    prm = ProcessRewardModel.from_pretrained(model_dir)
    encoded = prm.encode_items(prm_inputs(evaluation_frame(problems, frame, None)), too_long="none")
    missing = [i for i, e in enumerate(encoded) if e is None]
    if missing:
        raise SystemExit(f"{len(missing)} candidates are too long for the PRM input (e.g. "
                         f"{frame['candidate_id'].iloc[missing[0]]}); this diagnosis needs every one")
    feats = FeatureCache(prm).get(encoded)
    return torch.stack([torch.cat([f.float().mean(0), f[-1].float()]) for f in feats]).numpy().astype(np.float64)


def fit_pairwise_head(x: np.ndarray, frame: pd.DataFrame, components: int, l2: float) -> np.ndarray:
    """Weights w (in the original space) such that w·x ranks each training problem's passing programs above its
    failing ones: standardize, project on the top principal components, minimise the mean RankNet loss over all
    within-problem (pass, fail) pairs plus ``l2``·|w|², by L-BFGS."""
    mu, sd = x.mean(0), x.std(0) + 1e-6
    z = torch.from_numpy((x - mu) / sd)
    v = torch.linalg.svd(z, full_matrices=False).Vh[:components].T  # exact (no random projection): reproducible
    zp = z @ v
    passed = frame["passed"].to_numpy()
    pairs = [(a, b) for _, g in frame.reset_index(drop=True).groupby("problem_id").groups.items()
             for a in g[passed[g]] for b in g[~passed[g]]]
    if not pairs:
        raise SystemExit("no problem with a passing and a failing candidate to learn from")
    diff = torch.stack([zp[a] - zp[b] for a, b in pairs])
    w = torch.zeros(components, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w], max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.softplus(-(diff @ w)).mean() + l2 * (w @ w)
        loss.backward()
        return loss

    opt.step(closure)
    return ((v @ w.detach()).numpy() / sd)  # a score w·(x - mu)/sd ranks alike as (w/sd)·x within a problem


def evaluate_n6(frame: pd.DataFrame, scores: dict[str, np.ndarray], n_resamples: int) -> dict[str, dict]:
    """At N=6 (sample 0 of each model): pass@1 of each score's pick (ties: the earliest row), the paired bootstrap
    against random's exact expectation, and the within-problem AUC."""
    n6 = frame[frame["sample_index"] == 0]
    groups = list(n6.groupby("problem_id").indices.values())
    passed = n6["passed"].to_numpy()
    rand = np.array([passed[g].mean() for g in groups])
    out = {"random": {"pass_at_1": float(rand.mean())}}
    width = max(len(g) for g in groups)
    for name, s in scores.items():
        s6 = s[(frame["sample_index"] == 0).to_numpy()]
        pick = np.array([float(passed[g][np.argmax(s6[g])]) for g in groups])
        grid, ok, y = np.full((len(groups), width), np.nan), np.zeros((len(groups), width), bool), np.zeros(
            (len(groups), width), bool)
        for i, g in enumerate(groups):
            grid[i, : len(g)], ok[i, : len(g)], y[i, : len(g)] = s6[g], True, passed[g]
        d = paired_difference(pick, rand, n_resamples=n_resamples)
        q = ranking_quality(grid, y, ok)
        gap = d.interval
        out[name] = {"pass_at_1": float(pick.mean()), "vs_random": [gap.estimate, gap.low, gap.high],
                     "within_problem_auc": q.within_problem_auc, "problems_with_pass_and_fail": q.n_problems_within}
    return out


def n6_line(name: str, r: dict) -> str:
    """One printed line of an :func:`evaluate_n6` entry: pass@1, and for a score its gap to random and AUC."""
    gap = (f"  vs random {100 * r['vs_random'][0]:+.1f} [{100 * r['vs_random'][1]:.1f}, "
           f"{100 * r['vs_random'][2]:.1f}]  within-problem AUC {r['within_problem_auc']:.3f} "
           f"({r['problems_with_pass_and_fail']})") if "vs_random" in r else ""
    return f"{name:>6}: {100 * r['pass_at_1']:.1f}{gap}"


def prior_scores(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    """Each test candidate's model's pass rate on the training rows: the generator prior of
    :mod:`dreamprm.evaluate.prior` itself (a model without a rate there ranks last)."""
    from dreamprm.evaluate.prior import GeneratorPrior

    prior = GeneratorPrior.from_table(train.assign(official_passed=train["passed"]), test["problem_id"], "folds")
    return np.array([-1.0 if s is None else s[0] for s in prior.score_lists(test["policy"])])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=2, help="samples of each model per validation problem")
    ap.add_argument("--components", type=int, default=64)
    ap.add_argument("--l2", type=float, default=1.0, help="weight of |w|² (on standardized components)")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--model", default="models/prm-none/final", help="a saved head-mode PRM: its trunk's features")
    ap.add_argument("--resamples", type=int, default=10_000)
    ap.add_argument("--out", default="reports-policy-head-cv")
    args = ap.parse_args(argv)
    from dreamprm.data.split import SplitManifest
    from dreamprm.evaluate.prior import TRAINING_SIDES

    problems = read_parquet("data-train/problems.parquet")
    training = SplitManifest.load("data-train/split_manifest.json").ids(*TRAINING_SIDES)  # never an eval-side problem
    val = read_parquet("data-train/val60-candidates.parquet")
    train_side = read_parquet("data-train/candidates.parquet")
    six = set(val["policy"])
    other = train_side[train_side["policy"].isin(six) & ~train_side["problem_id"].isin(set(val["problem_id"]))
                       & train_side["problem_id"].astype(str).isin(training)]
    if not set(val["problem_id"].astype(str)) <= set(training):
        raise SystemExit("data-train/val60-candidates.parquet holds problems off the train side's train/meta sides")
    raw = {"val": val[val["sample_index"] < args.samples], "other": other[other["sample_index"] <= args.samples]}
    frames = {}
    for k, f in raw.items():
        known = f["official_passed"].notna()
        if not known.all():
            print(f"{k}: {int((~known).sum())} candidates without a recorded verdict left out")
        f = f[known].sort_values(["problem_id", "sample_index", "policy"]).reset_index(drop=True)
        frames[k] = f.assign(passed=f["official_passed"].astype(bool))
    print(f"{len(six)} models; validation {frames['val']['problem_id'].nunique()} problems, "
          f"{len(frames['val'])} candidates; other train-side problems of those models "
          f"{frames['other']['problem_id'].nunique()}, {len(frames['other'])} candidates")
    feats = {k: pooled_features(f, problems, args.model) for k, f in frames.items()}
    val, xv = frames["val"], feats["val"]

    ids = np.array(sorted(val["problem_id"].unique()))
    fold_of = dict(zip(np.random.default_rng(0).permutation(ids), np.arange(len(ids)) % args.folds))
    fold = val["problem_id"].map(fold_of).to_numpy()
    head, prior = np.zeros(len(val)), np.zeros(len(val))
    for k in range(args.folds):
        tr, te = fold != k, fold == k
        w = fit_pairwise_head(xv[tr], val[tr], args.components, args.l2)
        head[te] = xv[te] @ w
        prior[te] = prior_scores(val[tr], val[te])
    w = fit_pairwise_head(feats["other"], frames["other"], args.components, args.l2)
    result = {
        "settings": vars(args),
        "validation_problems": len(ids), "other_problems": int(frames["other"]["problem_id"].nunique()),
        "cv": evaluate_n6(val, {"head": head, "prior": prior}, args.resamples),
        "transfer": evaluate_n6(val, {"head": xv @ w, "prior": prior_scores(frames["other"], val)}, args.resamples),
    }
    write_json(result, Path(args.out) / "result.json")
    for part in ("cv", "transfer"):
        for name, r in result[part].items():
            print(f"{part:>8} {n6_line(name, r)}")
    print(json.dumps({"written": str(Path(args.out) / "result.json")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
