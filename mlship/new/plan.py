"""What a new project will be, computed once from a ``ProjectSpec`` before anything is written.

``plan_project`` validates the names, reads the user's model, resolves the budget, the
GPU entry and the pins, and builds the copier data and the decision record. It writes
nothing, so ``mlship new`` can fail on bad input before touching the file system, and
tests can render a template with exactly the data ``mlship new`` would pass.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlship.contracts import Budget, DecisionRecord, TemplateOverlay
from mlship.errors import InputError, KnowledgeBaseError
from mlship.knowledge.budget import SERVICE_CRITERIA, BudgetFlags, criteria_of, resolve_budget
from mlship.knowledge.patterns import Pattern, load_named_pattern
from mlship.new import gpu, naming
from mlship.new.copier_data import CopierData, ModelFormat
from mlship.new.model_import import ImportedModel, inspect_model
from mlship.new.render import available_templates, chosen_overlay
from mlship.new.sources import resolve_source
from mlship.new.spec import ProjectSpec
from mlship.resources import data_file
from mlship.version import __version__
from mlship.yaml_io import load_yaml

TEMPLATE_VERSION = __version__  # templates ship with mlship and share its version for now

RUNTIME_FORMATS: dict[str, ModelFormat] = {
    "onnxruntime": "onnx",
    "onnx": "onnx",
    "sklearn": "sklearn",
    "scikit-learn": "sklearn",
    "torch": "torch",
    "pytorch": "torch",
    "torchscript": "torch",
}


def load_pins() -> dict[str, str]:
    """Exact versions the generated projects pin (``mlship/data/pins.yaml``)."""
    raw = load_yaml(data_file("pins.yaml").read_text(encoding="utf-8"))
    if not isinstance(raw, dict) or not all(isinstance(k, str) for k in raw):
        raise InputError("mlship/data/pins.yaml must map package names to versions")
    return {name: str(version) for name, version in raw.items()}


def pattern_of(spec: ProjectSpec) -> Pattern:
    """The spec's pattern from the knowledge base, with a template to render it."""
    try:
        knowledge = load_named_pattern(spec.pattern, spec.patterns_dir)
    except KnowledgeBaseError as error:
        if "is not in the knowledge base" not in error.message:
            raise
        raise InputError(
            f"pattern: {spec.pattern!r} is not a deployment pattern", hint=error.hint
        ) from None
    available = available_templates(spec.templates)
    if spec.pattern not in available:
        raise InputError(
            f"pattern: this mlship has no template for {spec.pattern!r} yet",
            hint=f"available templates: {', '.join(available) or 'none'}",
        )
    return knowledge


def _budget(spec: ProjectSpec, knowledge: Pattern) -> Budget:
    """Flags first, then the decision record's budget, then its answers, then defaults."""
    flags = BudgetFlags(spec.p99_ms, spec.max_error_rate, spec.min_rps)
    criteria = criteria_of(knowledge)
    stray = [n for n in SERVICE_CRITERIA if getattr(flags, n) is not None and n not in criteria]
    if stray:
        article = "an" if spec.pattern[:1] in "aeiou" else "a"
        raise InputError(
            f"{stray[0]}: {article} {spec.pattern} project's budget has no {stray[0]} "
            f"(its criteria: {', '.join(criteria)})",
            hint="docs/spike.md lists what each pattern is judged on",
        )
    return resolve_budget(flags, spec.decision, pattern=knowledge).budget


def _check_pattern_options(spec: ProjectSpec, knowledge: Pattern) -> None:
    """Refuse options the pattern's template cannot honour instead of ignoring them."""
    if spec.model is not None and not knowledge.takes_user_model:
        raise InputError(
            f"model: a {spec.pattern} project trains its own models; --model does not apply",
            hint="create the project without --model; its README says how to bring your own "
            "models into the pipeline",
        )
    if spec.gpu and not knowledge.runs_on_gpu:
        raise InputError(f"gpu: the {spec.pattern} template has no GPU variant; drop --gpu")


def _gpu_wanted(spec: ProjectSpec, knowledge: Pattern) -> bool:
    if spec.gpu is not None:
        return spec.gpu
    record = spec.decision
    if record is None or not knowledge.runs_on_gpu:
        return False
    recommended = record.stack.get("gpu")
    if isinstance(recommended, bool) and record.pattern == spec.pattern:
        return recommended
    return bool(record.answers and record.answers.hardware.accelerator == "gpu")


def _model_format(
    spec: ProjectSpec, imported: ImportedModel | None, knowledge: Pattern
) -> ModelFormat:
    if spec.model_format is not None:
        return spec.model_format
    if imported is not None:
        return imported.framework
    stack = spec.decision.stack if spec.decision else {}
    named = str(stack.get("model_format") or stack.get("runtime") or "").lower()
    return RUNTIME_FORMATS.get(named, knowledge.project.model_format)


def overlay_of(spec: ProjectSpec) -> TemplateOverlay | None:
    """How the project records its organisation template source (None: mlship's only)."""
    chosen = chosen_overlay(spec.templates)
    return resolve_source(chosen).record if chosen is not None else None


def _decision_record(
    spec: ProjectSpec, budget: Budget, project: dict[str, Any], warnings: list[str]
) -> DecisionRecord:
    """The project's ``mlship.yaml``: why this pattern, the budget, what was generated."""
    source = spec.decision
    same = source is not None and source.pattern == spec.pattern
    if source is not None and not same:
        warnings.append(
            f"pattern {spec.pattern!r} differs from the recommendation {source.pattern!r} "
            "in the decision record"
        )
    return DecisionRecord(
        mlship_version=__version__,
        pattern=spec.pattern,
        answers=source.answers if source else None,
        reasons=list(source.reasons) if source and same else [],
        ranking=list(source.ranking) if source else [],
        warnings=list(source.warnings) if source else [],
        stack=dict(source.stack) if source and same else {},
        budget=budget,
        template_version=TEMPLATE_VERSION,
        template_overlay=overlay_of(spec),
        project=project,
    )


@dataclass(frozen=True)
class ProjectPlan:
    """Everything ``new_project`` writes, decided before it writes anything."""

    dest: Path
    project_name: str
    package: str
    model_format: ModelFormat
    gpu: bool
    cuda: dict[str, Any]
    imported: ImportedModel | None
    data: CopierData
    record: DecisionRecord
    warnings: list[str]
    knowledge: Pattern


def plan_project(spec: ProjectSpec, dest: Path) -> ProjectPlan:
    """Validate ``spec`` and compute the project's data; raise ``InputError`` on bad input."""
    dest = Path(os.path.abspath(Path(dest).expanduser()))
    knowledge = pattern_of(spec)
    if spec.input_schema is not None and spec.model is None:
        raise InputError("input-schema: only used with --model (it describes that model)")
    _check_pattern_options(spec, knowledge)
    project_name, package = naming.resolve_names(spec.name, spec.package, dest.name)
    imported = None
    if spec.model is not None:
        imported = inspect_model(
            spec.model, spec.model_format, spec.input_schema, spec.trust_pickle
        )
    warnings = list(imported.warnings) if imported else []
    model_format = _model_format(spec, imported, knowledge)
    use_gpu = _gpu_wanted(spec, knowledge)
    if spec.cuda_version is not None and not use_gpu:
        raise InputError("cuda: a CUDA version only applies with --gpu")
    if use_gpu and model_format == "sklearn":
        warnings.append(
            "--gpu with a scikit-learn model: scikit-learn runs on the CPU, so the GPU image "
            "brings no speed-up (convert the model to ONNX to use the GPU)"
        )
    pins = load_pins()
    cuda: dict[str, Any] = {}
    if use_gpu:
        if "torch" not in pins:
            raise InputError("gpu: mlship/data/pins.yaml pins no torch version")
        cuda = gpu.select(pins["torch"], spec.python_version, spec.cuda_version).model_dump()
    budget = _budget(spec, knowledge)
    unset = [name for name in knowledge.spike.declared if getattr(budget, name) is None]
    if unset:  # the defaults always set the criteria a project must declare
        raise KnowledgeBaseError(
            f"pattern {spec.pattern}: no default for {', '.join(unset)} (spike.declared)",
            hint="set spike.defaults in its knowledge base file, or default_p99_ms",
        )
    data = CopierData(
        project_name=project_name,
        package=package,
        description=spec.description or knowledge.project.description,
        pattern=spec.pattern,
        kind=knowledge.kind,
        model_format=model_format,
        gpu=use_gpu,
        python_version=spec.python_version,
        p99_ms=budget.p99_ms,
        max_error_rate=budget.max_error_rate,
        min_rps=float(budget.min_rps or 0),
        demo_model=imported is None,
        model_file=imported.file_name if imported else "",
        mlship_version=__version__,
        template_version=TEMPLATE_VERSION,
        cuda=cuda,
        pins=pins,
    )
    project_block: dict[str, Any] = {
        "name": project_name,
        "package": package,
        "model_format": model_format,
        "gpu": use_gpu,
        "python_version": spec.python_version,
        "model_file": data.model_file or None,
        "cuda_version": cuda.get("cuda_version"),
    }
    record = _decision_record(spec, budget, project_block, warnings)
    return ProjectPlan(
        dest=dest,
        project_name=project_name,
        package=package,
        model_format=model_format,
        gpu=use_gpu,
        cuda=cuda,
        imported=imported,
        data=data,
        record=record,
        warnings=warnings,
        knowledge=knowledge,
    )
