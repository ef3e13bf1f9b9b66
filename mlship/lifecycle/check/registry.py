"""Check functions by the name the rule table uses (``check:`` in checks.yaml)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from mlship.lifecycle.check import (
    check_budget,
    check_ci,
    check_container,
    check_generic,
    check_kubernetes,
    check_model,
    check_observability,
    check_template,
    check_waivers,
)
from mlship.lifecycle.check.context import Context
from mlship.lifecycle.check.findings import Finding
from mlship.lifecycle.check.rules import Rule

Check = Callable[[Context, Rule], Iterable[Finding]]

CHECKS: dict[str, Check] = {
    "template_drift": check_template.template_drift,
    "template_outdated": check_template.template_outdated,
    "dockerfile_non_root": check_container.dockerfile_non_root,
    "dockerfile_healthcheck": check_container.dockerfile_healthcheck,
    "dockerfile_pinned_base": check_container.dockerfile_pinned_base,
    "dockerfile_secrets": check_container.dockerfile_secrets,
    "k8s_resources": check_kubernetes.k8s_resources,
    "k8s_probes": check_kubernetes.k8s_probes,
    "k8s_pdb": check_kubernetes.k8s_pdb,
    "k8s_gpu": check_kubernetes.k8s_gpu,
    "model_checksum": check_model.model_checksum,
    "model_pickle": check_model.model_pickle,
    "budget_declared": check_budget.budget_declared,
    "budget_spike": check_budget.budget_spike,
    "budget_spike_missing": check_budget.budget_spike_missing,
    "observability_metrics": check_observability.observability_metrics,
    "ci_workflow": check_ci.ci_workflow,
    "waivers_valid": check_waivers.waivers_valid,
    "waivers_current": check_waivers.waivers_current,
    "file_exists": check_generic.file_exists,
    "file_matches": check_generic.file_matches,
    "file_lacks": check_generic.file_lacks,
}
