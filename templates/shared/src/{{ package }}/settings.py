"""Settings shared by every transport, read from the environment and a settings file.

Precedence, highest first: explicit arguments, ``APP_*`` environment variables, a ``.env``
file, the YAML settings file (``APP_SETTINGS_FILE``, default ``settings.yaml``), defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

ENV_PREFIX = "APP_"
DEFAULT_SETTINGS_FILE = "settings.yaml"


def available_cores() -> int:
    """CPU cores this process may use (honours affinity masks and container cpusets)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def settings_file() -> Path:
    return Path(os.environ.get(f"{ENV_PREFIX}SETTINGS_FILE", DEFAULT_SETTINGS_FILE))


class AppSettings(BaseSettings):
    """What the inference core needs, whatever the transport."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        extra="ignore",
        protected_namespaces=(),
    )

    models_dir: Path = Field(Path("models"), description="folder with manifest.json and the model")
    device: Literal["cpu", "cuda", "auto"] = Field(
        "auto",
        description="cuda refuses to start without a visible GPU; auto falls back to CPU",
    )
    half_precision: bool = Field(False, description="torch on CUDA only: run in float16")
    intra_op_threads: int = Field(
        1, ge=0, description="threads inside one model call (0 = runtime default)"
    )
    inter_op_threads: int = Field(
        1, ge=0, description="threads across graph branches (0 = runtime default)"
    )
    warmup_runs: int = Field(3, ge=0, description="model calls made before reporting ready")
    allow_unsafe_joblib: bool = Field(
        False, description="allow joblib/pickle models; loading them executes code from the file"
    )
    torch_model_factory: str | None = Field(
        None,
        description="'module:function' building the nn.Module for a torch state dict",
    )
    log_level: str = "INFO"
    log_json: bool = True

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, dotenv_settings]
        path = settings_file()
        if path.is_file():
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=path))
        sources.append(file_secret_settings)
        return tuple(sources)
