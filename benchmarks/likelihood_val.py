"""Does the backbone's own likelihood of a program rank the test's six models' programs? (eval-lcb-likelihood-val)

A validation for the PRM-alone goal (docs/lcb-best-of-n.md, section 18); no release_v6 candidate is read. The
frozen-trunk PRM reads the first 12 layers' hidden states and ranks the six models' programs near random at N=6;
reranking by the code model's own likelihood (the "coder" score of Coder-Reviewer reranking, Zhang et al. 2022)
needs no training at all. If the whole Qwen2.5-Coder-0.5B, LM head included, prefers the correct program of a
problem, the PRM's head has a signal to learn from that its pooled trunk vectors do not carry; if not, the trunk's
language-model knowledge is not where the missing signal is.

Run inside the eval-lcb project folder (after its label step, which names the problems the models trained on). The
set is the N=60 validation's 116 unseen train-side problems (``lcb_consensus_val.unseen_problem_candidates``) at
the test's N=6, sample 0 of each model, official verdicts. Each program is scored under the chat template with the
problem in the user turn and the code as the assistant's reply (its statement prefix run once per problem, the
programs continued from its key/value cache); each step (``dreamprm.steps.split_steps``, tokenized on its own as
the PRM input does) gets the mean log-probability of its tokens. Three scores, each ranking the problem's
programs: ``mean`` (mean log-probability of all code tokens: the length-normalized coder score), ``sum`` (total
log-probability) and ``min-step`` (the lowest step mean: a process view, the weakest step decides).

The rule, fixed in the commit that added this script, before its first run: ``mean`` is the primary score. If its
N=6 pick beats random with a 95% paired interval excluding zero and its within-problem AUC is at least 0.60, the
likelihood becomes a feature of the PRM's head (the next step, to be validated under its own rule); otherwise it
is not pursued. ``sum`` and ``min-step`` are reported beside it, not judged. Either way release_v6 is not
evaluated with it here. Writes reports-likelihood-val/scores.parquet and result.json (atomically); a rerun
reuses the scores of the problems already written (resumable).

Measured (section 18): ``mean`` +1.3 [-2.4, 5.2] against random, within-problem AUC 0.621: the rule fails.

``--direction reviewer`` scores the other way (the "reviewer" of Coder-Reviewer reranking): the program in the user
turn, the problem's statement (its first ``--max-statement-tokens`` tokens) as the assistant's reply, and the mean
log-probability of the statement's tokens given the program. Every program of a problem is then judged on the same
tokens, so the length and style of its code do not enter the score the way they enter the coder's. Its rule, fixed
in the commit that added it, before its first run: the same as above with ``reviewer`` as the primary score; the
sum of the two standardized scores (``coder+reviewer``, each z-scored within its problem) is reported beside it,
not judged. Writes reports-likelihood-val/reviewer-scores.parquet and reviewer-result.json.

Measured (section 18): ``reviewer`` -2.2 [-6.5, 2.2], AUC 0.547; ``coder+reviewer`` -0.4 [-4.6, 3.6], AUC 0.606:
the rule fails.

``--model qwen2.5-coder-1.5b --out reports-likelihood-val-1.5b`` (after `make model-1.5b`): does a model three
times larger prefer the correct programs? Its rule, fixed in the commit that added this paragraph, before its run:
the coder direction's rule above, ``mean`` primary, unchanged. Measured (section 18): +1.3 [-2.9, 5.5], AUC 0.595:
the rule fails.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lcb_consensus_val import unseen_problem_candidates
from policy_head_cv import evaluate_n6, n6_line, prior_scores

from dreamprm.io import read_parquet, write_json, write_parquet

if TYPE_CHECKING:
    from transformers import Cache

INSTRUCTION = ("Solve the following programming problem in Python. Reply with the complete program in one code "
               "block.")
CODE_OPEN = "```python\n"
REVIEW_INSTRUCTION = "Here is a Python program. State the programming problem it solves."


def user_message(problem: pd.Series) -> str:
    """The problem as the user turn: the statement, then the starter code when the statement lacks it. A bare
    instruction, not the project's policy prompts (``dreamprm.prompts``): the recorded programs were written under
    LiveCodeBench's own prompts, and the Chain-of-Function rules would make every program less likely alike."""
    text = f"{INSTRUCTION}\n\n{problem['statement'].strip()}"
    starter = (problem.get("starter_code") or "").strip()
    if starter and starter not in text:
        text += f"\n\nStarter code:\n```python\n{starter}\n```"
    return text


def chat_ids(tokenizer: Any, user: str) -> list[int]:
    """The ids of a user turn and the assistant's opening: the tokenizer's chat template, or, for a model without
    one (the tiny test model), a plain "User:/Assistant:" layout."""
    if getattr(tokenizer, "chat_template", None):
        ids = tokenizer.apply_chat_template([{"role": "user", "content": user}], add_generation_prompt=True,
                                            tokenize=True)
        return list(ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "input_ids") else ids)
    return tokenizer(f"User: {user}\nAssistant: ")["input_ids"]


def code_pieces(tokenizer: Any, code: str) -> list[list[int]]:
    """The ids of each step of ``code`` (``dreamprm.steps.split_steps``), each tokenized on its own as the PRM input
    does, empty pieces left out: what the coder score reads, and how many tokens each step mean averages."""
    from dreamprm.steps import split_steps

    pieces = [tokenizer(s, add_special_tokens=False)["input_ids"] for s in split_steps(code).steps]
    return [p for p in pieces if p]


class LikelihoodScorer:
    """Per-step mean log-probabilities of programs under a causal LM, the problem's prefix computed once."""

    def __init__(self, spec: str, max_code_tokens: int) -> None:
        from dreamprm.models.loading import load_causal_lm, load_tokenizer

        self.tokenizer = load_tokenizer(spec)
        self.model = load_causal_lm(spec, dtype=torch.float32)
        self.max_code_tokens = max_code_tokens

    def prefix(self, problem: pd.Series) -> tuple[Cache, torch.Tensor]:
        """The key/value cache of the chat prefix up to the code's first token, and the logits that predict it."""
        ids = chat_ids(self.tokenizer, user_message(problem))
        ids += self.tokenizer(CODE_OPEN, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            out = self.model(torch.tensor([ids]), use_cache=True)
        return out.cache, out.logits[0, -1]

    def step_means(self, cache: Cache, first_logits: torch.Tensor, code: str) -> list[float] | None:
        """Mean log-probability of each step's tokens; None when the code is empty or longer than the budget."""
        pieces = code_pieces(self.tokenizer, code)
        ids = [t for p in pieces for t in p]
        if not ids or len(ids) > self.max_code_tokens:
            return None
        with torch.no_grad():
            out = self.model(torch.tensor([ids]), cache=copy.deepcopy(cache), use_cache=True)
        logits = torch.cat([first_logits[None], out.logits[0, :-1]]).float()
        lp = torch.log_softmax(logits, -1).gather(1, torch.tensor(ids)[:, None])[:, 0]
        bounds = np.cumsum([0, *map(len, pieces)])
        return [float(lp[a:b].mean()) for a, b in zip(bounds[:-1], bounds[1:])]

    def statement_given_code(self, problem: pd.Series, code: str, max_statement_tokens: int) -> list[float] | None:
        """Mean log-probability of the statement's first tokens, the program shown first (one "step": the
        statement); None when the code is empty or longer than the budget."""
        code_ids = self.tokenizer(code, add_special_tokens=False)["input_ids"]
        if not code_ids or len(code_ids) > self.max_code_tokens:
            return None
        ids = chat_ids(self.tokenizer, f"{REVIEW_INSTRUCTION}\n\n```python\n{code}\n```")
        target = self.tokenizer(problem["statement"].strip(), add_special_tokens=False)["input_ids"]
        target = target[:max_statement_tokens]
        with torch.no_grad():
            logits = self.model(torch.tensor([ids + target])).logits[0, len(ids) - 1:-1].float()
        lp = torch.log_softmax(logits, -1).gather(1, torch.tensor(target)[:, None])[:, 0]
        return [float(lp.mean())]


def score_frame(frame: pd.DataFrame, problems: pd.DataFrame, scorer: LikelihoodScorer, done: pd.DataFrame,
                out: Path, reviewer_tokens: int = 0) -> pd.DataFrame:
    """One row per candidate (candidate_id, problem_id, step_means); the problems already in ``done`` are kept, the
    rest scored, the table rewritten after each problem (write, then rename), so an interrupted run resumes."""
    rows = done.to_dict("records")
    seen = set(done["problem_id"].astype(str)) if len(done) else set()
    by_id = problems.set_index("problem_id")
    todo = [(pid, g) for pid, g in frame.groupby("problem_id", sort=True) if str(pid) not in seen]
    for pid, group in tqdm(todo, desc="problems", unit="problem"):
        problem = by_id.loc[pid]
        cache, first = (None, None) if reviewer_tokens else scorer.prefix(problem)
        for cand in group.itertuples():
            means = (scorer.statement_given_code(problem, cand.code or "", reviewer_tokens) if reviewer_tokens
                     else scorer.step_means(cache, first, cand.code or ""))
            rows.append({"candidate_id": cand.candidate_id, "problem_id": str(pid), "step_means": means})
        write_parquet(pd.DataFrame(rows), out)
    return pd.DataFrame(rows)


UNSCORED = -1e9  # below any log-probability: an unscored program ranks last


def scores_from(step_means: pd.Series, step_tokens: pd.Series) -> dict[str, np.ndarray]:
    """The three rankings from each program's step means and the token count of each step: ``mean``, the mean
    log-probability over all its code tokens; ``sum``, their total; ``min-step``, its lowest step mean. An unscored
    program (None) ranks below every scored one."""
    def each(f: Callable[[np.ndarray, np.ndarray], float]) -> np.ndarray:
        return np.array([UNSCORED if m is None or len(m) == 0 else f(np.asarray(m), np.asarray(n, dtype=float))
                         for m, n in zip(step_means, step_tokens)])

    return {"mean": each(lambda m, n: float(m @ n / n.sum())), "sum": each(lambda m, n: float(m @ n)),
            "min-step": each(lambda m, n: float(m.min()))}


def check_settings(scores: Path, settings: dict[str, Any]) -> None:
    """Scores are resumed only under the settings that made them (``<table>.settings.json``, written beside the
    table on its first run): a table of another model or budget is refused, never mixed in."""
    record = scores.with_suffix(".settings.json")
    if record.exists():
        made = json.loads(record.read_text())
        if made != settings:
            raise SystemExit(f"{scores}: made with {made}, not {settings}; pass another --out")
    elif scores.exists():
        raise SystemExit(f"{scores} has no settings record ({record.name}); pass another --out")
    else:
        write_json(settings, record)


def within_problem_z(frame: pd.DataFrame, score: np.ndarray) -> np.ndarray:
    """A score standardized within each problem (unscored programs stay last), so two scores can be added."""
    s = pd.Series(np.where(score <= UNSCORED, np.nan, score), index=frame.index)
    g = s.groupby(frame["problem_id"])
    z = ((s - g.transform("mean")) / g.transform("std").replace(0, 1).fillna(1)).fillna(0)
    return np.where(s.isna(), UNSCORED, z.to_numpy())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="qwen2.5-coder-0.5b", help="the causal LM whose likelihood ranks")
    ap.add_argument("--max-code-tokens", type=int, default=4096)
    ap.add_argument("--resamples", type=int, default=10_000)
    ap.add_argument("--limit", type=int, default=0, help="score only the first K problems (a timing trial)")
    ap.add_argument("--out", default="reports-likelihood-val")
    ap.add_argument("--direction", choices=("coder", "reviewer"), default="coder",
                    help="coder: the program given the problem; reviewer: the statement given the program")
    ap.add_argument("--max-statement-tokens", type=int, default=512, help="reviewer: statement tokens scored")
    args = ap.parse_args(argv)
    from dreamprm.data.split import SplitManifest
    from dreamprm.evaluate.prior import TRAINING_SIDES

    torch.manual_seed(0)
    problems = read_parquet("data-train/problems.parquet")
    train_side = read_parquet("data-train/candidates.parquet")
    val = unseen_problem_candidates(train_side, read_parquet("data/step_labels.parquet"), 60)
    val = val[(val["sample_index"] == 0) & val["official_passed"].notna()]
    if args.limit:
        val = val[val["problem_id"].isin(sorted(val["problem_id"].unique())[: args.limit])]
    val = val.sort_values(["problem_id", "sample_index", "policy"]).reset_index(drop=True)
    val = val.assign(passed=val["official_passed"].astype(bool))
    training = SplitManifest.load("data-train/split_manifest.json").ids(*TRAINING_SIDES)
    six = set(val["policy"])
    other = train_side[train_side["policy"].isin(six) & ~train_side["problem_id"].isin(set(val["problem_id"]))
                       & train_side["problem_id"].astype(str).isin(training) & train_side["official_passed"].notna()]
    other = other.assign(passed=other["official_passed"].astype(bool))
    print(f"{val['problem_id'].nunique()} problems, {len(val)} candidates ({len(six)} models), N=6", flush=True)

    out = Path(args.out)
    reviewer = args.direction == "reviewer"
    prefix = "reviewer-" if reviewer else ""
    made_by = {"model": args.model, "max_code_tokens": args.max_code_tokens}
    check_settings(out / f"{prefix}scores.parquet",
                   made_by | ({"max_statement_tokens": args.max_statement_tokens} if reviewer else {}))
    scorer = LikelihoodScorer(args.model, args.max_code_tokens)
    tables: dict[str, pd.Series | None] = {}
    for name in ("", "reviewer-") if reviewer else ("",):  # the reviewer's run reads the coder's scores beside
        path = out / f"{name}scores.parquet"
        if name != prefix and path.exists():
            check_settings(path, made_by)
        done = read_parquet(path) if path.exists() else pd.DataFrame()
        if len(done):
            done = done[done["candidate_id"].isin(val["candidate_id"])]
        if name == prefix:
            done = score_frame(val, problems, scorer, done, path, args.max_statement_tokens if reviewer else 0)
        complete = len(done) and val["candidate_id"].isin(done["candidate_id"]).all()  # None: unscored, not absent
        tables[name] = val["candidate_id"].map(done.set_index("candidate_id")["step_means"]) if complete else None
    means = tables[prefix]
    if means is None:
        raise SystemExit(f"{out / f'{prefix}scores.parquet'} lacks some of the {len(val)} candidates")
    step_tokens = pd.Series([[len(p) for p in code_pieces(scorer.tokenizer, c or "")] for c in val["code"]])
    if reviewer:  # one "step", the statement: its mean is the score
        scores = {"reviewer": scores_from(means, pd.Series([[1]] * len(val)))["mean"]}
        if tables[""] is not None:
            scores["coder+reviewer"] = (within_problem_z(val, scores_from(tables[""], step_tokens)["mean"])
                                        + within_problem_z(val, scores["reviewer"]))
    else:
        scores = scores_from(means, step_tokens)
    unscored = int(sum(m is None or len(m) == 0 for m in means))
    scores["prior"] = prior_scores(other, val)
    result = {"settings": vars(args), "problems": int(val["problem_id"].nunique()), "candidates": len(val),
              "unscored_candidates": unscored, "n6": evaluate_n6(val, scores, args.resamples)}
    primary = result["n6"]["reviewer" if reviewer else "mean"]
    result["rule_passes"] = bool(primary["vs_random"][1] > 0 and primary["within_problem_auc"] >= 0.60)
    write_json(result, out / f"{prefix}result.json")
    for name, r in result["n6"].items():
        print(n6_line(name, r))
    print(json.dumps({"unscored": unscored, "rule_passes": result["rule_passes"],
                      "written": str(out / f"{prefix}result.json")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
