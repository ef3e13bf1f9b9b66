"""Render a project's pattern again from its recorded answers: the pristine tree ``update`` merges.

The answers file holds what the project was made with; the values mlship derives (the
pattern's kind, the pins, the CUDA entry, the template version) are computed again by
``plan_project``, exactly as ``mlship new`` would today. Model files and the decision
record are the project's, not the template's: they are not part of this render.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mlship.errors import InputError
from mlship.knowledge.budget import SERVICE_CRITERIA, criteria_of
from mlship.knowledge.patterns import load_named_pattern
from mlship.new.files import fix_answers_file
from mlship.new.plan import TEMPLATE_VERSION, plan_project
from mlship.new.render import render
from mlship.new.sources import resolve_source, source_text
from mlship.new.spec import ProjectSpec
from mlship.provenance import RenderedTemplate, RenderRequest
from mlship.validation import describe_validation_error

# Recorded answer -> the ProjectSpec field that sets it again.
SPEC_FIELD_OF = {
    "project_name": "name",
    "package": "package",
    "description": "description",
    "model_format": "model_format",
    "gpu": "gpu",
    "python_version": "python_version",
    "p99_ms": "p99_ms",
    "max_error_rate": "max_error_rate",
    "min_rps": "min_rps",
}
CHANGEABLE = frozenset({*SPEC_FIELD_OF, "cuda_version"})


def _check_changes(changes: dict[str, Any]) -> None:
    unknown = sorted(set(changes) - CHANGEABLE)
    if unknown:
        raise InputError(
            f"data: {', '.join(unknown)} cannot be changed by an update",
            hint=f"keys you can set: {', '.join(sorted(CHANGEABLE))}",
        )


def _recorded(request: RenderRequest) -> dict[str, Any]:
    """The recorded answers, less budget criteria the pattern's budget does not have
    (projects of mlship 0.2.0 and before recorded a p99 for a batch job)."""
    pattern = load_named_pattern(request.answers.pattern, request.patterns_dir)
    criteria = criteria_of(pattern)
    return {
        key: value
        for key, value in request.answers.data.items()
        if key not in SERVICE_CRITERIA or key in criteria
    }


def _spec(request: RenderRequest, overlay: str | None) -> ProjectSpec:
    values = {**_recorded(request), **request.changes}
    fields: dict[str, Any] = {
        field: values[key] for key, field in SPEC_FIELD_OF.items() if key in values
    }
    if not fields.get("min_rps"):
        fields["min_rps"] = None  # 0 records "no throughput floor"
    try:
        return ProjectSpec.model_validate(
            {
                **fields,
                "pattern": request.answers.pattern,
                "cuda_version": values.get("cuda_version", request.cuda_version),
                "templates": overlay,
                "trust": request.trust,
                "patterns_dir": request.patterns_dir,
                "git": False,
            }
        )
    except ValidationError as error:
        raise InputError(
            "data: the answers cannot render the template",
            problems=describe_validation_error(error),
        ) from None


def render_pristine(request: RenderRequest, into: Path) -> RenderedTemplate:
    """Render the project's pattern into the empty folder ``into`` with today's templates."""
    _check_changes(request.changes)
    overlay_text, overlay = None, None
    recorded = request.answers.overlay
    if recorded is not None:
        ref = request.overlay_ref if request.overlay_ref is not None else recorded.ref
        overlay = resolve_source(recorded.source, ref).record
        overlay_text = source_text(overlay)
    elif request.overlay_ref is not None:
        raise InputError(
            f"to: the project has no organisation template source, so {request.overlay_ref!r} "
            "names nothing",
            hint="--to takes a ref of the source given to `mlship new --templates`",
        )
    spec = _spec(request, overlay_text)
    plan = plan_project(spec, into)
    values = {**request.answers.data, **request.changes}
    data = plan.data.model_copy(
        update={
            "demo_model": bool(values.get("demo_model", True)),
            "model_file": str(values.get("model_file") or ""),
        }
    )
    render(spec.pattern, into, data, overlay_text, trust=request.trust, from_env=False)
    fix_answers_file(into, spec.pattern, TEMPLATE_VERSION, overlay)
    return RenderedTemplate(TEMPLATE_VERSION, overlay, data.model_dump())
