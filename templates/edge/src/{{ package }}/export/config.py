"""Pipeline settings (``export.yaml``) and the device budget (``mlship.yaml``).

``export.yaml`` holds how the pipeline works (opset, tolerances, variants, benchmark
sizes, device factors); ``mlship.yaml`` (the decision record written by ``mlship new``)
says what the device is and what it must meet. Command-line options win over both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

Target = Literal["browser", "mobile", "android", "ios", "embedded", "server"]
Variant = Literal["dynamic", "static", "fp16"]
# onnx: the reference export (+ ORT format on phones and boards); onnx-web: onnx plus the
# browser page; litert, executorch, coreml: the on-device runtimes of Android, PyTorch, iOS.
Runtime = Literal["onnx", "onnx-web", "litert", "executorch", "coreml"]
DEFAULT_TARGET: Target = "mobile"


class Tolerance(BaseModel):
    """How far a variant may drift from the source model and still ship."""

    model_config = ConfigDict(extra="forbid")

    max_abs_diff: float | None = Field(None, ge=0, description="largest score difference")
    min_label_agreement: float = Field(1.0, ge=0, le=1)
    max_accuracy_drop: float | None = Field(None, ge=0, description="in accuracy points, 0-1")
    # Outputs without classes (regression, unknown): largest difference as a share of the
    # source's value range, since label agreement says nothing there.
    max_range_diff: float | None = Field(None, ge=0)


class BenchmarkConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    threads: int = Field(1, ge=1, description="intra-op threads, pinned for every variant")
    batch_size: int = Field(256, ge=1, le=1024)
    seconds_per_case: float = Field(1.5, gt=0, description="time spent timing one case")
    max_runs: int = Field(2000, ge=10)
    load_repeats: int = Field(3, ge=1)
    # Every case is timed in this many interleaved rounds, so a burst of load on the machine
    # hits all variants alike; the spread of the per-round ratios is reported.
    rounds: int = Field(5, ge=1)
    warmup_seconds: float = Field(0.2, ge=0)


class BudgetConfig(BaseModel):
    """Fallbacks when ``mlship.yaml`` is silent; null means 'not given'."""

    model_config = ConfigDict(extra="forbid")

    target: Target | None = None
    device_memory_mb: float | None = Field(None, gt=0)
    p99_ms: float | None = Field(None, gt=0)
    # Share of device memory the model file may take; the rest is the app and the runtime.
    memory_share: float = Field(0.5, gt=0, le=1)
    # How many times slower than this machine the target runs the same model.
    device_factors: dict[str, float] = {
        "server": 1.0,
        "browser": 2.0,
        "mobile": 3.0,
        "android": 3.0,
        "ios": 3.0,
        "embedded": 8.0,
    }


class ExportConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    opset: int = Field(17, ge=13, le=23)
    # Runtimes to build; empty: the device's default set below.
    targets: list[Runtime] = []
    default_targets: dict[str, list[Runtime]] = {
        "android": ["onnx", "litert"],
        "ios": ["onnx", "coreml"],
        "mobile": ["onnx", "litert", "executorch", "coreml"],
        "browser": ["onnx-web"],
        "embedded": ["onnx", "litert"],
        "server": ["onnx"],
    }
    # Quantized variants next to fp32; null: the device's default set below.
    variants: list[Variant] | None = None
    default_variants: dict[str, list[Variant]] = {
        "embedded": ["dynamic", "static"],
        "default": ["dynamic"],
    }
    tolerances: dict[str, Tolerance] = {
        "fp32": Tolerance(max_abs_diff=1e-4, min_label_agreement=1.0, max_accuracy_drop=0.0),
        "dynamic": Tolerance(min_label_agreement=0.97, max_accuracy_drop=0.02, max_range_diff=0.05),
        "static": Tolerance(min_label_agreement=0.95, max_accuracy_drop=0.03, max_range_diff=0.08),
        "fp16": Tolerance(
            max_abs_diff=1e-2, min_label_agreement=0.99, max_accuracy_drop=0.01, max_range_diff=0.01
        ),
    }
    calibration_rows: int = Field(200, ge=1)
    benchmark: BenchmarkConfig = BenchmarkConfig()
    budget: BudgetConfig = BudgetConfig()


class ConfigError(ValueError):
    """A settings file that cannot be used; the message names the file and the field."""


def targets_for(config: ExportConfig, device: str) -> list[str]:
    """The runtimes to build: ``targets`` when set, else the device's default set."""
    if config.targets:
        return list(dict.fromkeys(config.targets))
    return list(config.default_targets.get(device, ["onnx"]))


def variants_for(config: ExportConfig, device: str) -> list[str]:
    """The quantized variants: ``variants`` when set, else the device's default set."""
    if config.variants is not None:
        return list(config.variants)
    chosen = config.default_variants.get(device, config.default_variants.get("default", []))
    return list(chosen)


def load_config(path: Path) -> ExportConfig:
    if not path.is_file():
        return ExportConfig()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return ExportConfig.model_validate(raw)
    except (yaml.YAMLError, ValidationError) as error:
        raise ConfigError(f"{path}: {error}") from error


class DeviceBudget(BaseModel):
    """What the target must meet, and where each number came from."""

    target: Target
    device_memory_mb: float | None
    p99_ms: float | None
    device_factor: float
    memory_share: float
    sources: dict[str, str]


def _record(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not readable YAML ({error})") from error
    return loaded if isinstance(loaded, dict) else {}


def device_budget(
    config: ExportConfig,
    record_path: Path,
    target: str | None = None,
    device_factor: float | None = None,
) -> DeviceBudget:
    """Merge the command line, ``mlship.yaml`` and ``export.yaml``, in that order."""
    record = _record(record_path)
    hardware = ((record.get("answers") or {}).get("hardware")) or {}
    budget = record.get("budget") or {}
    sources: dict[str, str] = {}

    def pick(name: str, *candidates: tuple[str, Any]) -> Any:
        for source, value in candidates:
            if value is not None:
                sources[name] = source
                return value
        sources[name] = "not given"
        return None

    chosen_target = pick(
        "target",
        ("command line", target),
        (f"{record_path.name} answers.hardware.target", hardware.get("target")),
        ("export.yaml budget.target", config.budget.target),
        ("default", DEFAULT_TARGET),
    )
    if chosen_target not in config.budget.device_factors:
        raise ConfigError(
            f"target {chosen_target!r} has no device factor "
            f"(known: {', '.join(sorted(config.budget.device_factors))})"
        )
    memory = pick(
        "device_memory_mb",
        (f"{record_path.name} answers.hardware.device_memory_mb", hardware.get("device_memory_mb")),
        ("export.yaml budget.device_memory_mb", config.budget.device_memory_mb),
    )
    p99 = pick(
        "p99_ms",
        (f"{record_path.name} budget.p99_ms", budget.get("p99_ms")),
        ("export.yaml budget.p99_ms", config.budget.p99_ms),
    )
    factor = pick(
        "device_factor",
        ("command line", device_factor),
        (f"export.yaml budget.device_factors.{chosen_target}", None),
    )
    if factor is None:
        factor = config.budget.device_factors[chosen_target]
        sources["device_factor"] = f"export.yaml budget.device_factors.{chosen_target}"
    return DeviceBudget(
        target=chosen_target,
        device_memory_mb=memory,
        p99_ms=p99,
        device_factor=float(factor),
        memory_share=config.budget.memory_share,
        sources=sources,
    )
