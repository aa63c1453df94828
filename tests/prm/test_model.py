"""The PRM: single-pass scoring equals per-prefix scoring, fine-tuning modes, save/load, the MLflow pyfunc."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from dreamprm.errors import InputDataError
from dreamprm.prm import CandidateTooLong, PRMConfig, ProcessRewardModel, StepEncoder, steps_from_prefixes

REPO_ROOT = Path(__file__).resolve().parents[2]
SMOL_CACHE = Path(os.environ.get("DREAMPRM_TEST_MODEL_CACHE", REPO_ROOT / ".cache" / "dreamprm"))

PROBLEM = "Read n and print the sum of the first n squares."
STEPS = [
    "import sys\n\ndef main():\n",
    '    """Read n, print the answer."""\n',
    "    n = int(sys.stdin.readline())\n    print(sum_squares(n))\n",
    "\ndef sum_squares(n):\n",
    '    """Closed form n(n+1)(2n+1)/6."""\n',
    "    return n * (n + 1) * (2 * n + 1) // 6\n",
    "\nif __name__ == '__main__':\n    main()\n",
]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


def _tiny(cache: Path, **kw: object) -> ProcessRewardModel:
    cfg = PRMConfig(backbone="tinycoder", num_layers=None, **kw)  # type: ignore[arg-type]
    prm = ProcessRewardModel.from_config(cfg, cache_dir=cache, seed=0)
    with torch.no_grad():  # a head that spreads scores out, so equality is not trivially 0.5 == 0.5
        prm.head.weight.normal_(0, 1.0)
    return prm


def _perturb_lora(prm: ProcessRewardModel) -> None:
    with torch.no_grad():
        for name, p in prm.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)


def test_marker_positions_and_identical_prefix_ids(cache: Path) -> None:
    prm = _tiny(cache)
    enc = prm.encoder
    full = enc.encode(PROBLEM, STEPS)
    assert full.num_steps == len(STEPS)
    assert all(full.input_ids[p] == enc.marker_id for p in full.marker_positions)
    for k in range(1, len(STEPS) + 1):
        pre = enc.encode_prefix(PROBLEM, STEPS, k)
        assert pre.input_ids == full.input_ids[: full.marker_positions[k - 1] + 1]


@pytest.mark.parametrize("finetune", ["lora", "full", "top_k", "head"])
def test_single_pass_equals_per_prefix_tinycoder(cache: Path, finetune: str) -> None:
    prm = _tiny(cache, finetune=finetune)
    _perturb_lora(prm)
    single = prm.score_steps(PROBLEM, STEPS)
    separate = prm.score_prefixes_separately(PROBLEM, STEPS)
    batched = prm.score_prefixes_separately(PROBLEM, STEPS, batch_size=4)
    assert len(single) == len(STEPS) and all(0.0 <= s <= 1.0 for s in single)
    assert max(abs(a - b) for a, b in zip(single, separate)) < 1e-4
    assert max(abs(a - b) for a, b in zip(single, batched)) < 1e-4
    assert max(single) - min(single) > 1e-3  # the scores do differ between steps


def test_score_batch_padding_does_not_change_scores(cache: Path) -> None:
    prm = _tiny(cache)
    items = [(PROBLEM, STEPS), ("Print hello.", ["print('hello')\n"]), (PROBLEM, STEPS[:3])]
    alone = [prm.score_steps(p, s) for p, s in items]
    for batch_size in (1, 2, 3):  # batches are formed by length: scores must still come back in item order
        batch = prm.score_batch(items, batch_size=batch_size)
        for got, want in zip(batch, alone, strict=True):
            assert len(got) == len(want)
            assert max(abs(a - b) for a, b in zip(got, want)) < 1e-5


def test_finetune_modes_choose_trainable_parameters(cache: Path) -> None:
    counts = {m: _tiny(cache, finetune=m).parameter_counts() for m in ("lora", "full", "top_k", "head")}
    assert counts["head"]["trainable"] == 16 + 1
    assert counts["head"]["trainable"] < counts["lora"]["trainable"] < counts["full"]["trainable"]
    assert counts["head"]["trainable"] < counts["top_k"]["trainable"] <= counts["full"]["trainable"]
    assert counts["full"]["trainable"] == counts["full"]["total"]
    lora = _tiny(cache, finetune="lora", lora_r=2, lora_target_modules=["q_proj"])
    names = [n for n, p in lora.named_parameters() if p.requires_grad]
    assert all("q_proj" in n or n.startswith("head.") for n in names)


def test_gradients_flow_at_markers(cache: Path) -> None:
    prm = _tiny(cache, finetune="lora")
    prm.train()
    batch = prm.collate([prm.encoder.encode(PROBLEM, STEPS), prm.encoder.encode("x", ["a = 1\n"])])
    logits = prm.step_logits(batch)
    assert logits.shape == (len(STEPS) + 1,)
    torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.full_like(logits, 0.7)).backward()
    assert prm.head.weight.grad is not None
    assert any(p.grad is not None for n, p in prm.named_parameters() if "lora_A" in n)


def test_bad_input(cache: Path) -> None:
    prm = _tiny(cache)
    with pytest.raises(InputDataError, match="empty step list"):
        prm.score_steps(PROBLEM, [])
    with pytest.raises(TypeError):
        prm.encoder.encode(PROBLEM, "def f(): pass")  # type: ignore[arg-type]
    small = StepEncoder(prm.tokenizer, max_length=64)
    with pytest.raises(CandidateTooLong):
        small.encode(PROBLEM, ["x = 1\n" * 100])
    ex = StepEncoder(prm.tokenizer, max_length=120).encode("word " * 200, STEPS[:2])
    assert ex.problem_tokens_dropped > 0 and len(ex) <= 120
    with pytest.raises(ValueError, match="not a single token"):
        StepEncoder(prm.tokenizer, step_marker="<definitely not a token>")
    with pytest.raises(ValueError, match="finetune"):
        PRMConfig(finetune="bogus")  # type: ignore[arg-type]


def test_steps_from_prefixes() -> None:
    prefixes = ["".join(STEPS[: k + 1]) for k in range(len(STEPS))]
    assert steps_from_prefixes(prefixes) == STEPS
    with pytest.raises(InputDataError):
        steps_from_prefixes(["abc", "xyz"])


def test_save_and_load_roundtrip(cache: Path, tmp_path: Path) -> None:
    prm = _tiny(cache, finetune="lora", lora_r=4)
    _perturb_lora(prm)
    before = prm.score_steps(PROBLEM, STEPS)
    d = prm.save_pretrained(tmp_path / "prm")
    assert {"prm_config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in d.iterdir()}
    assert (d / "backbone" / "config.json").is_file()
    loaded = ProcessRewardModel.from_pretrained(d)
    assert loaded.config == prm.config
    after = loaded.score_steps(PROBLEM, STEPS)
    assert max(abs(a - b) for a, b in zip(before, after)) < 1e-6


def test_config_from_settings() -> None:
    from dreamprm.settings import Settings

    s = Settings()
    cfg = PRMConfig.from_settings(s, finetune="top_k")
    assert cfg.backbone == s.prm.backbone and cfg.num_layers == s.prm.num_layers and cfg.finetune == "top_k"
    assert PRMConfig.from_dict(cfg.to_dict()) == cfg


def test_pyfunc_predict_without_mlflow_store(cache: Path, tmp_path: Path) -> None:
    import pandas as pd

    from dreamprm.prm.pyfunc import PRMPythonModel

    prm = _tiny(cache)
    model = PRMPythonModel()
    model.prm = prm
    code = "".join(STEPS)
    df = pd.DataFrame({"problem": [PROBLEM, PROBLEM], "code": [code, code], "steps": [STEPS, None]})
    out = model.predict(None, df)
    assert out.loc[0, "step_scores"] == pytest.approx(prm.score_steps(PROBLEM, STEPS), abs=1e-5)
    assert out.loc[1, "num_steps"] >= 1  # split by dreamprm.steps.split_steps
    assert set(out.columns) >= {"step_scores", "num_steps", "score_last", "score_min", "score_mean"}


def test_pyfunc_logs_and_loads_with_mlflow(cache: Path, tmp_path: Path) -> None:
    import mlflow
    import pandas as pd

    from dreamprm.prm.pyfunc import log_prm

    prm = _tiny(cache)
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_experiment("prm-test")
    with mlflow.start_run():
        info = log_prm(prm, name="prm", registered_model_name="prm-test")
    loaded = mlflow.pyfunc.load_model(info.model_uri)
    df = pd.DataFrame({"problem": [PROBLEM], "code": ["".join(STEPS)]})
    out = loaded.predict(df)
    assert len(out) == 1 and out.loc[0, "num_steps"] >= 1
    from dreamprm.steps import split_steps

    expected = prm.score_steps(PROBLEM, split_steps("".join(STEPS)).steps)
    assert list(out.loc[0, "step_scores"]) == pytest.approx(expected, abs=1e-5)
    by_name = mlflow.pyfunc.load_model("models:/prm-test/1")
    assert list(by_name.predict(df).loc[0, "step_scores"]) == pytest.approx(expected, abs=1e-5)


@pytest.mark.slow
def test_single_pass_equals_per_prefix_smollm2_truncated() -> None:
    cfg = PRMConfig(backbone="smollm2", num_layers=4, finetune="lora")
    prm = ProcessRewardModel.from_config(cfg, cache_dir=SMOL_CACHE, seed=0)
    _perturb_lora(prm)
    with torch.no_grad():
        prm.head.weight.normal_(0, 0.05)
    single = prm.score_steps(PROBLEM, STEPS)
    separate = prm.score_prefixes_separately(PROBLEM, STEPS)
    assert max(abs(a - b) for a, b in zip(single, separate)) < 1e-4
    assert prm.encoder.marker == "<|im_end|>"
