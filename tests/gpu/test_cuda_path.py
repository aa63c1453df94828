"""The PRM on a CUDA device, checked against the same computation on the CPU: warm-up training (LoRA, bf16 mixed
precision, the pairwise objective), scoring with and without the shared prefix, the frozen trunk's cached features,
and the bi-level correction (torch.func hypergradients through the backbone, SparseAdam on the GPU).

Skipped where torch sees no GPU (CI has none); run them on a GPU machine with ``make test-gpu``. The backbone is the
tiny fixture model (``tinycoder``) unless ``DREAMPRM_TEST_BACKBONE`` names another spec or a local Hugging Face
folder (a GPU machine without the model package gets a converted copy that way: ``python -c "from
dreamprm.models.loading import ensure_plain_model as f; print(f('tinycoder', 'carry'))"`` writes one under
``carry/models/tinycoder``, 7.5 MB). The README's "PRM modes" section records the last run on a GPU.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pandas as pd
import pytest
import torch

from dreamprm.prm.correct import CorrectConfig, correct_prm
from dreamprm.prm.features import FeatureCache, trunk_key
from dreamprm.prm.meta import BilevelCorrector, MetaConfig, functional_predict
from dreamprm.prm.model import PRMConfig, ProcessRewardModel
from dreamprm.prm.template import PRMInput
from dreamprm.prm.train import TrainConfig, train_prm

# DREAMPRM_TEST_DEVICE=cpu runs the same tests with the CPU standing in for the GPU: a dry run of the test code on a
# machine without one (what it compares is then the CPU with itself).
DEVICE = os.environ.get("DREAMPRM_TEST_DEVICE", "cuda")
BACKBONE = os.environ.get("DREAMPRM_TEST_BACKBONE", "tinycoder")

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(DEVICE == "cuda" and not torch.cuda.is_available(),
                       reason="needs a CUDA device (run `make test-gpu` on a GPU machine)"),
    pytest.mark.usefixtures("fresh_accelerate_state"),  # tests/conftest.py: these change device and precision
]


def rows() -> pd.DataFrame:
    """Three-step candidates of five problems (two on the meta side), right and wrong in each."""
    out = []
    for p in range(5):
        for c in range(4):
            good = c % 2 == 0
            out.append({"candidate_id": f"p{p}c{c}", "problem_id": f"p{p}", "prompt": f"Problem {p}: add {c}.",
                        "statement": f"Problem {p}: add {c}.", "starter_code": "",
                        "split": "meta" if p >= 3 else "train",
                        "completions": ["def f(x):\n", f"    return x + {c}\n" if good else "    return None\n",
                                        "print(f(1))\n"],
                        "soft_labels": [0.5, 0.75 if good else 0.25, 1.0 if good else 0.0],
                        "clean": [False, False, True]})
    return pd.DataFrame(out)


def items() -> list[PRMInput]:
    return [PRMInput.from_label_row(r) for r in rows().to_dict("records")]


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("model-cache")


def build(finetune: str, model_cache: Path) -> ProcessRewardModel:
    """A fresh PRM on the CPU; no dropout, so the CPU and the GPU compute the same function."""
    cfg = PRMConfig(backbone=BACKBONE, num_layers=None, finetune=finetune, lora_dropout=0.0, max_length=256)
    return ProcessRewardModel.from_config(cfg, cache_dir=model_cache, seed=0)


def on_device(prm: ProcessRewardModel) -> bool:
    return all(p.device.type == DEVICE for p in prm.parameters())


def max_score_difference(a: list, b: list) -> float:
    assert [x is None for x in a] == [y is None for y in b]
    return max(abs(u - v) for x, y in zip(a, b) if x for u, v in zip(x, y))


@pytest.mark.parametrize("share_prefix", [True, False])
def test_scores_on_cuda_match_the_cpu(model_cache: Path, share_prefix: bool) -> None:
    cpu = build("lora", model_cache)
    gpu = copy.deepcopy(cpu).to(DEVICE)
    a = cpu.score_batch(items(), batch_size=4, share_prefix=share_prefix)
    b = gpu.score_batch(items(), batch_size=4, share_prefix=share_prefix)
    assert max_score_difference(a, b) < 1e-4


def test_trunk_features_from_the_gpu_serve_the_cpu(model_cache: Path, tmp_path: Path) -> None:
    """The cache key does not depend on the device, and features extracted on the GPU equal the CPU's: a GPU
    extraction can be reused by a CPU run (and the other way round)."""
    cpu = build("head", model_cache)
    gpu = copy.deepcopy(cpu).to(DEVICE)
    assert trunk_key(cpu) == trunk_key(gpu)
    enc = [cpu.encoder.encode(x) for x in items()]
    from_gpu = FeatureCache(gpu, tmp_path / "gpu").get(enc, progress=False)
    from_cpu = FeatureCache(cpu, tmp_path / "cpu").get(enc, progress=False)
    scale = max(float(c.abs().max()) for c in from_cpu)  # a real backbone's final-norm states are large
    assert max(float((g - c).abs().max()) for g, c in zip(from_gpu, from_cpu)) <= 1e-4 * max(scale, 1.0)
    reread = FeatureCache(cpu, tmp_path / "gpu")
    reread.get(enc, progress=False)
    assert reread.stats["computed"] == 0


@pytest.mark.parametrize(("finetune", "objective", "precision"),
                         [("lora", "pointwise", "bf16"), ("lora", "pairwise", "bf16"), ("full", "pointwise", "no"),
                          ("head", "pairwise", "no")])
def test_warmup_trains_on_cuda_and_reloads_on_the_cpu(model_cache: Path, tmp_path: Path, finetune: str,
                                                      objective: str, precision: str) -> None:
    prm = build(finetune, model_cache)
    data = rows()
    before = prm.score_batch(items())
    cfg = TrainConfig(epochs=50, max_steps=12, lr=1e-2, batch_size=4, grad_accum=1, eval_every=6, save_every=6,
                      mixed_precision=precision, objective=objective)  # type: ignore[arg-type]
    first = train_prm(prm, data, data, TrainConfig(**{**cfg.__dict__, "max_steps": 1}), tmp_path / "probe",
                      resume=False, feature_dir=tmp_path / "features", device=DEVICE)
    autocast: list[bool] = []  # whether each step of the second run goes through accelerate's autocast wrapper
    summary = train_prm(prm, data, data, cfg, tmp_path / "out", resume=False, feature_dir=tmp_path / "features",
                        device=DEVICE, log=lambda m, step: autocast.append("_original_forward" in prm.__dict__))
    assert autocast == [precision != "no"] * 12  # a second run on the same model is prepared afresh
    assert "_original_forward" not in prm.__dict__  # and none is left after it
    assert summary["device"].startswith(DEVICE) and on_device(prm)
    assert summary["steps"] == 12 and summary["eval_loss"] < first["eval_loss"]
    assert (tmp_path / "out" / "checkpoints").is_dir()
    after = prm.score_batch(items())
    assert max_score_difference(before, after) > 1e-3  # it learned something
    prm.save_pretrained(tmp_path / "final")
    reloaded = ProcessRewardModel.from_pretrained(tmp_path / "final", device="cpu")
    assert max_score_difference(after, reloaded.score_batch(items())) < 1e-4


def test_training_can_be_kept_on_the_cpu_of_a_gpu_machine(model_cache: Path, tmp_path: Path) -> None:
    prm = build("lora", model_cache)
    summary = train_prm(prm, rows(), None, TrainConfig(max_steps=2, batch_size=4, grad_accum=1), tmp_path / "out",
                        resume=False, device="cpu")
    assert summary["device"] == "cpu" and all(p.device.type == "cpu" for p in prm.parameters())


@pytest.mark.parametrize(("finetune", "mode"), [("lora", "labels"), ("lora", "weights"), ("full", "labels"),
                                                ("head", "weights")])
def test_correction_on_cuda_matches_the_cpu(model_cache: Path, tmp_path: Path, finetune: str, mode: str) -> None:
    """What the first iteration computes before its meta update (the clean loss after the virtual step and the
    hypergradient's norm) agrees between the devices to 1e-3 relative; later values may not, since SparseAdam's
    first steps follow the gradients' signs, which rounding may flip for components near zero. Three iterations on
    the GPU keep every variable bounded and move some."""
    cpu = build(finetune, model_cache)
    gpu = copy.deepcopy(cpu).to(DEVICE)
    cfg = CorrectConfig(mode=mode, iterations=3, lr=1e-3, meta_lr=0.5, virtual_lr=0.5)  # type: ignore[arg-type]
    logs: dict[str, list[dict]] = {"cpu": [], "gpu": []}
    correct_prm(cpu, rows(), cfg, log=lambda m, s: logs["cpu"].append(m), feature_dir=tmp_path / "cpu")
    _, table = correct_prm(gpu, rows(), cfg, log=lambda m, s: logs["gpu"].append(m), feature_dir=tmp_path / "gpu")
    assert len(logs["gpu"]) == 3
    for key in ("clean_loss", "hypergrad_norm"):
        c, g = logs["cpu"][0][key], logs["gpu"][0][key]
        assert c > 1e-5 and abs(c - g) <= 1e-3 * c, (key, c, g)
    assert table["weight"].between(0, 2).all()
    moved = (table["corrected_label"] - table["noisy_label"]).abs() if mode == "labels" else (table["weight"] - 1).abs()
    assert moved.max() > 0


def test_hypergradient_on_cuda_equals_the_cpu_in_float64() -> None:
    """The bare corrector on a small float64 model: the same hypergradient to 1e-10 on both devices, and a step
    given batch indices on the CPU (as the correct stage builds them) updates the GPU's variables."""
    torch.manual_seed(0)
    x, x_clean = torch.randn(16, 6, dtype=torch.float64), torch.randn(8, 6, dtype=torch.float64)
    y, y_clean = torch.rand(16, dtype=torch.float64), (torch.rand(8) > 0.5).double()
    model = torch.nn.Sequential(torch.nn.Linear(6, 1), torch.nn.Flatten(0)).double()

    def corrector(device: str) -> BilevelCorrector:
        m = copy.deepcopy(model).to(device)
        forward = functional_predict(m, torch.sigmoid)
        return BilevelCorrector(m, forward, y.to(device), MetaConfig(mode="weights", lr=0.1, virtual_lr=0.5))

    idx = torch.arange(16)
    g_cpu, _ = corrector("cpu").hypergradient(idx, x, x_clean, y_clean)
    gpu = corrector(DEVICE)
    g_gpu, _ = gpu.hypergradient(idx.to(DEVICE), x.to(DEVICE), x_clean.to(DEVICE), y_clean.to(DEVICE))
    assert g_cpu.dtype == torch.float64 and float(g_cpu.abs().max()) > 1e-3
    assert torch.allclose(g_cpu, g_gpu.cpu(), rtol=0, atol=1e-10)
    before = gpu.phi.detach().clone()
    gpu.step(idx[:4], x[:4].to(DEVICE), x_clean.to(DEVICE), y_clean.to(DEVICE))
    assert gpu.phi.device.type == DEVICE and not torch.equal(before, gpu.phi.detach())
