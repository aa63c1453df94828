"""One settings object for the whole system.

Values come, in increasing priority, from: the field defaults below, the profile file
(``dreamprm/profiles/<profile>.toml``, or the file named by ``DREAMPRM_PROFILE_FILE``), and environment variables
prefixed ``DREAMPRM_`` (nested fields with ``__``, e.g. ``DREAMPRM_SANDBOX__BACKEND=docker``). ``PREFECT_API_URL`` and
``MLFLOW_TRACKING_URI`` are honoured as well, because users of those tools already set them.

Profiles: ``demo`` (embedded defaults: ephemeral Prefect, sqlite MLflow, local DVC remote, Qwen2.5-Coder-0.5B
with a frozen trunk on the CPU) and ``production`` (servers, a vLLM/OpenAI-compatible policy endpoint, a Qwen-sized PRM backbone).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

PROFILE_DIR = Path(__file__).parent / "profiles"
PROFILES = ("demo", "production")


def project_root() -> Path:
    """The directory that holds data/, models/, mlflow.db: DREAMPRM_ROOT, else the current directory."""
    return Path(os.environ.get("DREAMPRM_ROOT", os.getcwd())).resolve()


class PathSettings(BaseModel):
    """Where artifacts live. Relative paths are resolved against the project root."""

    data_dir: Path = Path("data")
    models_dir: Path = Path("models")
    reports_dir: Path = Path("reports")
    cache_dir: Path = Path(".cache/dreamprm")
    shared_data_dir: Path = Path("../shared/data")

    def resolve(self, p: Path) -> Path:
        return p if p.is_absolute() else (project_root() / p)


class TrackingSettings(BaseModel):
    """MLflow: sqlite in the working directory by default, a server when a URI is given."""

    mlflow_tracking_uri: str = "sqlite:///mlflow.db"
    mlflow_experiment: str = "dreamprm-code"
    registered_model_name: str = "dreamprm-code-prm"


class LiveCodeBenchSettings(BaseModel):
    """Where LiveCodeBench release files come from."""

    source: Literal["hub", "local", "auto"] = "auto"
    hub_repo: str = "livecodebench/code_generation_lite"
    local_dir: Path | None = None
    hub_timeout_s: float = 10.0
    release: str = "release_v6"
    cutoff_date: str = "2024-08-01"


class SandboxSettings(BaseModel):
    """Untrusted-code execution; never unsandboxed."""

    backend: Literal["auto", "docker", "bwrap"] = "auto"
    image: str = "dreamprm-sandbox:latest"
    workers: int = 0  # 0 = number of cores
    memory_mb: int = 1024
    test_timeout_s: float = 6.0


class LlamaCppSettings(BaseModel):
    """The local llama.cpp server of the ``llamacpp`` policy backend (started and stopped by the stage that needs it).

    ``parallel`` slots decode together (total throughput grows with it on a CPU: 27/33/41 tokens/s at 4/8/16 for the
    0.5B on 2 cores); each slot gets ``ctx_per_slot`` tokens (prompt + completion). Threads: 0 = every core.
    ``port`` 0 takes a free port."""

    parallel: int = Field(default=4, ge=1)
    threads: int = Field(default=0, ge=0)
    threads_batch: int = Field(default=0, ge=0)
    poll: int = Field(default=50, ge=0, le=100)  # llama.cpp busy-wait level; 0 = idle threads sleep
    ctx_per_slot: int = Field(default=4096, ge=256)
    port: int = Field(default=0, ge=0, le=65535)
    request_timeout_s: float = Field(default=600.0, gt=0)
    startup_timeout_s: float = Field(default=120.0, gt=0)


class PolicySettings(BaseModel):
    """Which LLM writes candidates and rollouts."""

    backend: Literal["transformers", "openai", "llamacpp", "replay"] = "transformers"
    model: str = "smollm2"
    base_url: str | None = None
    temperature: float = 0.2
    max_tokens: int = 512
    llamacpp: LlamaCppSettings = Field(default_factory=LlamaCppSettings)


class PRMSettings(BaseModel):
    """The process reward model's backbone and fine-tuning mode."""

    backbone: str = "qwen2.5-coder-0.5b"  # Qwen2.5-Coder-0.5B-Instruct from its PyPI packages (README "Models")
    num_layers: int = 12  # keep the first k decoder layers; 0 keeps all
    # lora (GPUs) | full | top_k | head (frozen trunk: training reads cached trunk features, the mode for CPUs)
    finetune: Literal["lora", "full", "top_k", "head"] = "lora"
    feature_dir: Path | None = None  # the trunk-feature cache of head mode; None: <cache_dir>/features
    # auto (a GPU where torch sees one, else the CPU) | cpu | cuda (a GPU or an error): where training, correction,
    # fusion, evaluation and the served model run the PRM (dreamprm/prm/device.py)
    device: Literal["auto", "cpu", "cuda"] = "auto"  # = dreamprm.prm.device.DEVICE_SPECS


class DemoSettings(BaseModel):
    """The sizes of ``dreamprm demo`` (``make demo``): how much of the pipeline the demo runs, chosen so that it
    finishes within 25 minutes on 2 CPU cores with the demo profile's models (README "The demo")."""

    problems_limit: int = Field(default=15, ge=0)  # HumanEval problems, the train, meta and eval sides in turn; 0 = all
    n: int = Field(default=3, ge=1)  # candidates per problem
    gen_max_tokens: int = Field(default=512, ge=16)
    rollouts: int = Field(default=2, ge=1)  # Monte-Carlo rollouts per step prefix
    rollout_max_tokens: int = Field(default=192, ge=16)
    label_limit: int = Field(default=8, ge=0)  # candidates to Monte-Carlo label (0 = all)
    train_epochs: int = Field(default=2, ge=1)
    correct_iterations: int = Field(default=20, ge=1)


class Settings(BaseSettings):
    """All configuration in one place. See the module docstring for where values come from."""

    model_config = SettingsConfigDict(
        env_prefix="DREAMPRM_", env_nested_delimiter="__", extra="ignore", toml_file=None
    )

    profile: Literal["demo", "production"] = "demo"
    seed: int = 0
    paths: PathSettings = Field(default_factory=PathSettings)
    tracking: TrackingSettings = Field(default_factory=TrackingSettings)
    livecodebench: LiveCodeBenchSettings = Field(default_factory=LiveCodeBenchSettings)
    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)
    policy: PolicySettings = Field(default_factory=PolicySettings)
    prm: PRMSettings = Field(default_factory=PRMSettings)
    demo: DemoSettings = Field(default_factory=DemoSettings)
    prefect_api_url: str | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        profile_file = Path(
            os.environ.get("DREAMPRM_PROFILE_FILE")
            or PROFILE_DIR / f"{os.environ.get('DREAMPRM_PROFILE', 'demo')}.toml"
        )
        if not profile_file.is_file():
            raise FileNotFoundError(
                f"settings profile file {profile_file} does not exist; set DREAMPRM_PROFILE to one of "
                f"{PROFILES} or DREAMPRM_PROFILE_FILE to a TOML file"
            )
        toml = TomlConfigSettingsSource(settings_cls, toml_file=profile_file)
        return (init_settings, env_settings, toml, file_secret_settings)

    def model_post_init(self, __context: object) -> None:
        # The tools' own variables win, so a user who already exported them gets what they expect.
        if os.environ.get("MLFLOW_TRACKING_URI"):
            self.tracking.mlflow_tracking_uri = os.environ["MLFLOW_TRACKING_URI"]
        if os.environ.get("PREFECT_API_URL"):
            self.prefect_api_url = os.environ["PREFECT_API_URL"]

    # Convenience accessors, resolved against the project root.
    @property
    def data_dir(self) -> Path:
        return self.paths.resolve(self.paths.data_dir)

    @property
    def models_dir(self) -> Path:
        return self.paths.resolve(self.paths.models_dir)

    @property
    def reports_dir(self) -> Path:
        return self.paths.resolve(self.paths.reports_dir)

    @property
    def cache_dir(self) -> Path:
        return self.paths.resolve(self.paths.cache_dir)

    @property
    def shared_data_dir(self) -> Path:
        return self.paths.resolve(self.paths.shared_data_dir)


# Settings that cannot change what a stage computes: where things are stored or logged, how many workers share the
# work, the demo's sizes (``dvc.yaml`` passes its own from ``params.yaml``), a server's port, start-up wait and
# busy-wait level. The profile's name is left out too: its effect is in the values. Dotted paths into
# ``Settings.model_dump()``.
OUTPUT_NEUTRAL_SETTINGS: tuple[str, ...] = (
    "profile", "paths", "tracking", "prefect_api_url", "demo", "sandbox.workers", "prm.feature_dir",
    "policy.llamacpp.port", "policy.llamacpp.startup_timeout_s", "policy.llamacpp.poll",
)


def output_settings(settings: Settings) -> dict:
    """The resolved settings (defaults, profile, environment) minus :data:`OUTPUT_NEUTRAL_SETTINGS`: what DVC's
    always-run ``settings`` stage writes to ``data/settings.json``. Each other stage takes the sections it reads
    from there as params (``dreamprm.identity.STAGE_SETTINGS``), so ``dvc repro`` recomputes a stage when a
    default, the profile or a ``DREAMPRM_`` variable changes a value it reads, and skips it when nothing did."""
    values = settings.model_dump(mode="json")
    for dotted in OUTPUT_NEUTRAL_SETTINGS:
        *parents, leaf = dotted.split(".")
        node = values
        for key in parents:
            node = node[key]
        del node[leaf]
    return values


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; call ``get_settings.cache_clear()`` after changing the environment)."""
    return Settings()
