"""Frozen-trunk mode on cached trunk features, and shared-prefix scoring (tiny model): both give the results of full
forward passes with the same weights."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest
import torch

from dreamprm.prm.correct import CorrectConfig, correct_prm
from dreamprm.prm.features import FeatureCache, entry_key, trunk_key
from dreamprm.prm.model import PRMConfig, ProcessRewardModel, prefix_groups
from dreamprm.prm.template import PRMInput
from dreamprm.prm.train import TrainConfig, train_prm

STATEMENT = "Read n and print the sum of the first n squares. " * 3
STEPS = ["import sys\n\ndef main():\n", "    n = int(sys.stdin.readline())\n", "    print(n * (n + 1) // 2)\n",
         "\nmain()\n"]


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("model-cache")


def _tiny(model_cache: Path, finetune: str = "head", **kw: object) -> ProcessRewardModel:
    cfg = PRMConfig(backbone="tinycoder", num_layers=kw.pop("num_layers", None), finetune=finetune,  # type: ignore[arg-type]
                    max_length=kw.pop("max_length", 256), **kw)  # type: ignore[arg-type]
    prm = ProcessRewardModel.from_config(cfg, cache_dir=model_cache, seed=0)
    with torch.no_grad():  # scores spread out, so equality is not trivially 0.5 == 0.5
        prm.head.weight.normal_(0, 1.0)
        for name, p in prm.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    return prm


def _items() -> list[PRMInput]:
    """Two problems (one with starter code) with candidates of different lengths, and a problem with one."""
    out = [PRMInput.build(STATEMENT, "", steps=STEPS[:k]) for k in (1, 4, 2, 3)]
    out += [PRMInput.build("Print hello.", "def solve():\n    pass\n", steps=s)
            for s in (["print('hello')\n"], ["x = 'hello'\n", "print(x)\n"], STEPS)]
    return out + [PRMInput.build("Alone.", "", steps=["pass\n"])]


def _full_forward_scores(prm: ProcessRewardModel, item: PRMInput) -> list[float]:
    prm.eval()
    with torch.no_grad():
        return torch.sigmoid(prm.step_logits(prm.collate([prm.encoder.encode(item)]))).tolist()


def _rows() -> pd.DataFrame:
    out = []
    for p in range(4):
        for c in range(3):
            good = c != 1
            steps = ["def f(x):\n", f"    return x + {c}\n" if good else "    return None\n", "print(f(1))\n"][: 2 + c % 2]
            out.append({"candidate_id": f"p{p}c{c}", "problem_id": f"p{p}", "statement": f"Problem {p}: add one.",
                        "starter_code": "", "split": "meta" if p == 3 else "train", "completions": steps,
                        "soft_labels": [0.5, 0.75 if good else 0.25, 1.0 if good else 0.0][: len(steps)],
                        "clean": [False] * (len(steps) - 1) + [True]})
    return pd.DataFrame(out)


def test_feature_path_scores_equal_full_forward(model_cache: Path, tmp_path: Path) -> None:
    prm = _tiny(model_cache)
    items = _items()
    feats = FeatureCache(prm, tmp_path).get([prm.encoder.encode(x) for x in items])
    for item, f in zip(items, feats, strict=True):
        via_features = torch.sigmoid(prm(features=f)).tolist()
        full = _full_forward_scores(prm, item)
        assert len(via_features) == len(item.steps)
        assert max(abs(a - b) for a, b in zip(via_features, full)) < 1e-5
    assert max(max(s) - min(s) for s in (_full_forward_scores(prm, x) for x in items)) > 1e-3


@pytest.mark.parametrize("finetune", ["lora", "head"])
def test_shared_prefix_scores_equal_unshared(model_cache: Path, finetune: str) -> None:
    prm = _tiny(model_cache, finetune, max_length=136)
    items = _items()
    long = PRMInput.build(STATEMENT, "", steps=STEPS * 2)  # its statement is cut to fit: its prefix differs
    items.insert(2, long)
    encoded = [prm.encoder.encode(x) for x in items]
    assert encoded[2].problem_tokens_dropped > 0 and encoded[0].problem_tokens_dropped == 0
    groups = prefix_groups(encoded)
    assert sorted(map(sorted, groups)) == [[0, 1, 3, 4], [5, 6, 7]]  # the truncated one and the loner run whole
    unshared = prm.score_batch(items, batch_size=8, share_prefix=False)
    for batch_size in (1, 3, 8):  # groups split over several batches, suffixes of different lengths padded right
        shared = prm.score_batch(items, batch_size=batch_size)
        for got, want, item in zip(shared, unshared, items, strict=True):
            assert len(got) == len(want) == len(item.steps)
            assert max(abs(a - b) for a, b in zip(got, want)) < 1e-4
    assert prm.score_batch([items[1]])[0] == pytest.approx(_full_forward_scores(prm, items[1]), abs=1e-5)


def test_head_trained_on_features_equals_head_trained_by_full_forwards(model_cache: Path, tmp_path: Path) -> None:
    cfg = {"epochs": 2, "lr": 5e-2, "batch_size": 4, "grad_accum": 1, "eval_every": 3, "save_every": 100, "seed": 3}
    heads, summaries = [], []
    for use_features in (True, False):
        prm = _tiny(model_cache)
        rows = _rows()
        summaries.append(train_prm(prm, rows, rows.head(4), TrainConfig(feature_cache=use_features, **cfg),
                                   tmp_path / f"out-{use_features}", resume=False, feature_dir=tmp_path / "features"))
        heads.append((prm.head.weight.detach().clone(), prm.head.bias.detach().clone()))
    (w1, b1), (w2, b2) = heads
    assert summaries[0]["steps"] == summaries[1]["steps"] == 6
    assert summaries[0]["features_computed"] == len(_rows()) and "features_computed" not in summaries[1]
    assert (w1 - w2).abs().max() < 1e-5 and (b1 - b2).abs().max() < 1e-5
    assert summaries[0]["eval_loss"] == pytest.approx(summaries[1]["eval_loss"], abs=1e-6)
    moved = _tiny(model_cache).head.weight
    assert (w1 - moved).abs().max() > 1e-3  # it did train
    again = train_prm(_tiny(model_cache), _rows(), None, TrainConfig(**cfg), tmp_path / "out-again", resume=False,
                      feature_dir=tmp_path / "features")
    assert again["features_computed"] == 0  # every entry came from the cache


@pytest.mark.parametrize("mode", ["labels", "weights"])
def test_correction_on_features_equals_full_forwards(model_cache: Path, tmp_path: Path, mode: str) -> None:
    results = []
    for use_features in (True, False):
        prm = _tiny(model_cache)
        cfg = CorrectConfig(mode=mode, iterations=4, lr=1e-2, meta_lr=0.5, batch_size=3, meta_batch_size=2,
                            feature_cache=use_features)
        _, table = correct_prm(prm, _rows(), cfg, feature_dir=tmp_path)
        results.append((prm.head.weight.detach().clone(), table))
    (w1, t1), (w2, t2) = results
    assert (w1 - w2).abs().max() < 1e-5
    for col in ("corrected_label", "weight"):
        assert (t1[col] - t2[col]).abs().max() < 1e-5
    moved = (t1["corrected_label"] - t1["noisy_label"]).abs().max() if mode == "labels" else (t1["weight"] - 1).abs().max()
    assert moved > 0


def test_cache_key_follows_layers_weights_and_input(model_cache: Path, tmp_path: Path) -> None:
    prm = _tiny(model_cache)
    key = trunk_key(prm)
    assert trunk_key(_tiny(model_cache)) == key  # the same trunk (a new head does not matter)
    assert trunk_key(_tiny(model_cache, num_layers=1)) != key
    other = _tiny(model_cache)
    with torch.no_grad():
        next(other.backbone.parameters()).view(-1)[0] += 1e-3
    assert trunk_key(other) != key
    loaded = ProcessRewardModel.from_pretrained(prm.save_pretrained(tmp_path / "prm"))
    assert trunk_key(loaded) == key  # the saved format keeps the trunk: correction reuses warm-up's features
    a, b = (prm.encoder.encode(x) for x in _items()[:2])
    assert entry_key(a) != entry_key(b) and entry_key(a) == entry_key(prm.encoder.encode(_items()[0]))
    with pytest.raises(ValueError, match="frozen trunk"):
        FeatureCache(_tiny(model_cache, "lora"), tmp_path)


def test_damaged_or_missing_entries_are_recomputed(model_cache: Path, tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    prm = _tiny(model_cache)
    cache = FeatureCache(prm, tmp_path)
    examples = [prm.encoder.encode(x) for x in _items()]
    first = cache.get(examples)
    assert cache.stats["computed"] == len(examples)
    assert not list(tmp_path.rglob("*.tmp"))
    cache.path(examples[0]).write_bytes(b"not a safetensors file")
    cache.path(examples[3]).unlink()  # as after a kill before that entry was written
    with caplog.at_level(logging.WARNING, logger="dreamprm.prm.features"):
        again = cache.get(examples)
    assert str(cache.path(examples[0])) in caplog.text and "recomputing" in caplog.text
    assert cache.stats["computed"] == 2 and cache.stats["recomputed_damaged"] == 1
    assert all(torch.allclose(x, y, atol=1e-6) for x, y in zip(first, again))
    assert FeatureCache(prm, tmp_path).get(examples) and cache.stats["computed"] == 2


def test_mode_comes_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from dreamprm.settings import Settings

    monkeypatch.setenv("DREAMPRM_PRM__FINETUNE", "head")
    assert PRMConfig.from_settings(Settings()).finetune == "head"
    assert PRMConfig.from_settings(Settings(), finetune="lora").finetune == "lora"


def test_cached_scores_equal_score_batch_and_share_the_trunk(model_cache: Path, tmp_path: Path) -> None:
    """FeatureCache.score gives score_batch's scores; a second head on the same trunk computes nothing new."""
    first, second = _tiny(model_cache), _tiny(model_cache)
    with torch.no_grad():
        second.head.weight.normal_(0, 1.0)
    items = _items() + [PRMInput.build("Too long.", "", steps=["x = 1\n" * 400])]
    want = first.score_batch(items, too_long="none")
    a = FeatureCache(first, tmp_path)
    got = a.score(items)
    assert got[-1] is None and want[-1] is None
    for w, g in zip(want[:-1], got[:-1]):
        assert g == pytest.approx(w, abs=1e-5)
    assert a.stats["computed"] == len(items) - 1
    b = FeatureCache(second, tmp_path)
    assert b.key == a.key
    other = b.score(items)
    assert b.stats["computed"] == 0  # read from the first model's entries
    for w, g in zip(second.score_batch(items, too_long="none")[:-1], other[:-1]):
        assert g == pytest.approx(w, abs=1e-5)


def test_suffix_batches_bound_padding() -> None:
    from dreamprm.prm.model import suffix_batches

    assert suffix_batches([150, 200, 250, 400, 2500], 8, budget=2048) == [[0, 1, 2, 3], [4]]
    assert suffix_batches([10] * 5, 2, budget=2048) == [[0, 1], [2, 3], [4]]  # the row cap still holds
    assert suffix_batches([3000], 8, budget=2048) == [[0]]  # a row longer than the budget runs alone
    assert suffix_batches([], 8) == []
