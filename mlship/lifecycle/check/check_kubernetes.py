"""Rules on the Kubernetes manifests: resources, probes, disruption budgets, GPU limits."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mlship.lifecycle.check.context import Context, Unreadable
from mlship.lifecycle.check.findings import Finding
from mlship.lifecycle.check.rules import Rule
from mlship.lifecycle.check.yaml_lines import line_of

SKIPPED_KINDS = {"Kustomization", "Component"}


@dataclass(frozen=True)
class Workload:
    file: str
    kind: str
    name: str
    line: int | None
    document: dict[str, Any]
    containers: list[dict[str, Any]]  # app containers (not init containers)
    init_containers: list[dict[str, Any]]


def _containers(node: Any, key: str) -> list[dict[str, Any]]:
    """Every list under ``key`` anywhere in ``node`` (pod specs sit at different depths)."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key and isinstance(v, list):
                found += [c for c in v if isinstance(c, dict)]
            else:
                found += _containers(v, key)
    elif isinstance(node, list):
        for item in node:
            found += _containers(item, key)
    return found


def workloads(ctx: Context, rule: Rule) -> Iterator[Workload | Finding]:
    """Objects with containers in the rule's manifests (or a finding for a broken file)."""
    for rel in ctx.files(rule.params.get("manifests", ["k8s/**/*.yaml"])):
        try:
            documents = ctx.documents(rel)
        except Unreadable as problem:
            yield rule.finding(problem.message, rel, problem.line)
            continue
        for doc in documents:
            if not isinstance(doc, dict) or "kind" not in doc or doc["kind"] in SKIPPED_KINDS:
                continue
            containers = _containers(doc, "containers")
            if containers:
                name = str((doc.get("metadata") or {}).get("name", "?"))
                yield Workload(
                    rel,
                    str(doc["kind"]),
                    name,
                    line_of(doc, "kind"),
                    doc,
                    containers,
                    _containers(doc, "initContainers"),
                )


def _label(workload: Workload, container: dict[str, Any]) -> str:
    return f"{workload.kind} {workload.name}, container {container.get('name', '?')}"


def k8s_resources(ctx: Context, rule: Rule) -> Iterator[Finding]:
    requests = rule.params.get("requests", ["cpu", "memory"])
    limits = rule.params.get("limits", ["memory"])
    for item in workloads(ctx, rule):
        if isinstance(item, Finding):
            yield item
            continue
        for container in item.containers + item.init_containers:
            resources = container.get("resources") or {}
            missing = [
                f"requests.{r}" for r in requests if r not in (resources.get("requests") or {})
            ]
            missing += [f"limits.{r}" for r in limits if r not in (resources.get("limits") or {})]
            if missing:
                line = line_of(container, "resources") if resources else line_of(container, "name")
                yield rule.finding(
                    f"{_label(item, container)} has no {', '.join(missing)}", item.file, line
                )


def k8s_probes(ctx: Context, rule: Rule) -> Iterator[Finding]:
    kinds = set(rule.params.get("workloads", ["Deployment"]))
    probes = rule.params.get("probes", ["readinessProbe", "livenessProbe"])
    for item in workloads(ctx, rule):
        if isinstance(item, Finding):
            yield item
            continue
        if item.kind not in kinds:
            continue
        for container in item.containers:
            missing = [p for p in probes if p not in container]
            if missing:
                yield rule.finding(
                    f"{_label(item, container)} has no {', '.join(missing)}",
                    item.file,
                    line_of(container, "name"),
                )


def _pod_labels(document: dict[str, Any]) -> dict[str, Any]:
    template = ((document.get("spec") or {}).get("template") or {}).get("metadata") or {}
    return dict(template.get("labels") or {})


def _layout(rel: str) -> str:
    """The folder a manifest sits in: one kustomize layout (k8s/, k8s/split/, ...)."""
    return rel.rsplit("/", 1)[0] if "/" in rel else ""


def k8s_pdb(ctx: Context, rule: Rule) -> Iterator[Finding]:
    """Each layout on its own: a Deployment of k8s/split/ needs a PDB in k8s/split/, since
    ``kubectl apply -k`` of one layout does not apply the other's."""
    kinds = set(rule.params.get("workloads", ["Deployment"]))
    selectors: dict[str, list[dict[str, Any]]] = {}
    for rel in ctx.files(rule.params.get("manifests", ["k8s/**/*.yaml"])):
        try:
            documents = ctx.documents(rel)
        except Unreadable:
            continue  # reported once, by workloads() below
        for doc in documents:
            if isinstance(doc, dict) and doc.get("kind") == "PodDisruptionBudget":
                selector = ((doc.get("spec") or {}).get("selector") or {}).get("matchLabels")
                selectors.setdefault(_layout(rel), []).append(dict(selector or {}))
    for item in workloads(ctx, rule):
        if isinstance(item, Finding):
            yield item
            continue
        if item.kind not in kinds:
            continue
        labels = _pod_labels(item.document)
        layout = selectors.get(_layout(item.file), [])
        if not any(s and all(labels.get(k) == v for k, v in s.items()) for s in layout):
            where = _layout(item.file) or "."
            yield rule.finding(
                f"{item.kind} {item.name} has no PodDisruptionBudget selecting its pods "
                f"in its layout ({where}/)",
                item.file,
                item.line,
            )


def k8s_gpu(ctx: Context, rule: Rule) -> Iterator[Finding]:
    resource = str(rule.params.get("resource", "nvidia.com/gpu"))
    for item in workloads(ctx, rule):
        if isinstance(item, Finding):
            yield item
            continue
        asking = [
            c
            for c in item.containers
            if resource in ((c.get("resources") or {}).get("limits") or {})
        ]
        if ctx.gpu and not asking:
            yield rule.finding(
                f"{item.kind} {item.name} has no {resource} limit, but the project "
                "asks for a GPU (gpu: true)",
                item.file,
                item.line,
            )
        if not ctx.gpu:
            for container in item.containers + item.init_containers:
                resources = container.get("resources") or {}
                for block in ("limits", "requests"):
                    if resource in (resources.get(block) or {}):
                        yield rule.finding(
                            f"{_label(item, container)} asks for {resource}, but the project does "
                            "not ask for a GPU (gpu: false)",
                            item.file,
                            line_of(resources.get(block), resource),
                        )
