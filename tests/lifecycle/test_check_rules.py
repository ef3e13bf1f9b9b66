"""Every rule of ``mlship check``: a fresh project of each pattern passes, and each rule
catches a project broken for it, with its rule id and file:line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.lifecycle.check_helpers import PATTERNS, copy_project, errors, found, line_of, run
from tests.lifecycle.conftest import commit_all, edit, git, snapshot


@pytest.mark.parametrize("name", [*PATTERNS, "online-gpu"])
def test_a_fresh_project_of_every_pattern_passes(
    fresh_projects: dict[str, Path], tmp_path: Path, name: str
) -> None:
    project = copy_project(fresh_projects, name, tmp_path)
    before, status = snapshot(project), git(project, "status", "--porcelain")

    result = run(project)

    assert result.ok, [f.model_dump() for f in result.findings]
    assert errors(result) == []
    assert {f.rule for f in result.findings} <= {"budget.spike-missing"}  # the only warning
    assert not result.template.outdated
    assert snapshot(project) == before and git(project, "status", "--porcelain") == status


# ---------------------------------------------------------------- template


def test_template_drift_names_the_owned_file_and_its_first_changed_line(
    fresh_projects: dict[str, Path], tmp_path: Path
) -> None:
    project = copy_project(fresh_projects, "online", tmp_path)
    dockerfile = project / "Dockerfile"
    edit(dockerfile, lambda t: t.replace("APP_WORKERS=2", "APP_WORKERS=8"))
    edit(project / "src" / "online" / "logs.py", lambda t: t + "\n# team code is free\n")
    (project / "k8s" / "hpa.yaml").unlink()
    commit_all(project, "team edits")

    drift = found(run(project), "template.drift")

    assert [(f.file, f.line, f.severity) for f in drift] == [
        ("Dockerfile", line_of(dockerfile, "APP_WORKERS=8"), "error"),
        ("k8s/hpa.yaml", None, "error"),
    ]
    assert "deleted" in drift[1].message

    record = project / "mlship.yaml"
    record.write_text(
        record.read_text() + "check:\n  files:\n    free: [Dockerfile, k8s/hpa.yaml]\n"
    )
    assert found(run(project), "template.drift") == []


def test_template_drift_sees_uncommitted_edits_and_compares_with_the_merged_render(
    fresh_projects: dict[str, Path], tmp_path: Path
) -> None:
    project = copy_project(fresh_projects, "batch", tmp_path)
    edit(project / "Makefile", lambda t: t + "\nextra:\n\techo extra\n")
    assert [f.file for f in found(run(project), "template.drift")] == ["Makefile"]


def test_template_drift_without_git_is_a_warning(
    fresh_projects: dict[str, Path], tmp_path: Path
) -> None:
    project = copy_project(fresh_projects, "edge", tmp_path)
    import shutil

    shutil.rmtree(project / ".git")
    result = run(project)
    assert [(f.rule, f.severity) for f in result.findings] == [
        ("template.drift", "warning"),
        ("budget.spike-missing", "warning"),  # every pattern's budget wants a spike
    ]
    assert result.ok


def test_an_outdated_template_warns_and_fails_with_strict(
    fresh_projects: dict[str, Path], tmp_path: Path
) -> None:
    project = copy_project(fresh_projects, "batch", tmp_path)
    answers = project / ".copier-answers.yml"
    answers.write_text(answers.read_text().replace("_commit: '0.2.0'", "_commit: '0.1.0'"))

    result = run(project)
    (outdated,) = found(result, "template.outdated")
    assert (outdated.severity, outdated.file, outdated.line) == (
        "warning",
        ".copier-answers.yml",
        line_of(answers, "_commit"),
    )
    assert result.ok and result.template.model_dump() == {
        "version": "0.1.0",
        "latest": "0.2.0",
        "outdated": True,
    }

    strict = run(project, strict=True)
    assert not strict.ok and found(strict, "template.outdated")[0].severity == "error"


# ---------------------------------------------------------------- container


def test_container_non_root(fresh_projects: dict[str, Path], tmp_path: Path) -> None:
    project = copy_project(fresh_projects, "online", tmp_path)
    dockerfile = project / "Dockerfile"
    edit(dockerfile, lambda t: t.replace("USER 10001:10001", "USER root"))
    (finding,) = found(run(project), "container.non-root")
    assert (finding.file, finding.line) == ("Dockerfile", line_of(dockerfile, "USER root"))

    edit(dockerfile, lambda t: t.replace("USER root\n", ""))
    (finding,) = found(run(project), "container.non-root")
    assert "no USER" in finding.message and finding.line == line_of(dockerfile, "AS runtime")


def test_container_rules_judge_the_edge_image_too(
    fresh_projects: dict[str, Path], tmp_path: Path
) -> None:
    """The edge export image: non-root and pinned like the others, no HEALTHCHECK asked
    of a job."""
    project = copy_project(fresh_projects, "edge", tmp_path)
    dockerfile = project / "Dockerfile"
    result = run(project)
    assert [f for f in result.findings if f.rule.startswith("container.")] == []
    edit(dockerfile, lambda t: t.replace("USER 10001:10001", "USER root"))
    (finding,) = found(run(project), "container.non-root")
    assert (finding.file, finding.line) == ("Dockerfile", line_of(dockerfile, "USER root"))


def test_container_healthcheck_where_the_pattern_serves(
    fresh_projects: dict[str, Path], tmp_path: Path
) -> None:
    project = copy_project(fresh_projects, "online", tmp_path)
    dockerfile = project / "Dockerfile"
    edit(dockerfile, lambda t: re.sub(r"HEALTHCHECK .*?\]\n", "", t, flags=re.S))
    (finding,) = found(run(project), "container.healthcheck")
    assert (finding.file, finding.line) == ("Dockerfile", line_of(dockerfile, "AS runtime"))

    batch = copy_project(fresh_projects, "batch", tmp_path)  # a job serves nothing
    assert "HEALTHCHECK" not in (batch / "Dockerfile").read_text()
    assert found(run(batch), "container.healthcheck") == []


@pytest.mark.parametrize("image", ["python", "python:latest", "registry.example:5000/python"])
def test_container_pinned_base(fresh_projects: dict[str, Path], tmp_path: Path, image: str) -> None:
    project = copy_project(fresh_projects, "streaming", tmp_path)
    dockerfile = project / "Dockerfile"
    edit(
        dockerfile,
        lambda t: t.replace("FROM python:3.11-slim AS runtime", f"FROM {image} AS runtime"),
    )
    (finding,) = found(run(project), "container.pinned-base")
    assert (finding.file, finding.line) == (
        "Dockerfile",
        line_of(dockerfile, f"FROM {image} AS runtime"),
    )

    edit(
        dockerfile,
        lambda t: t.replace(
            f"FROM {image} AS runtime", "FROM python@sha256:" + "a" * 64 + " AS runtime"
        ),
    )
    assert found(run(project), "container.pinned-base") == []


def test_container_secrets(fresh_projects: dict[str, Path], tmp_path: Path) -> None:
    project = copy_project(fresh_projects, "chained", tmp_path)
    dockerfile = project / "Dockerfile"
    edit(
        dockerfile,
        lambda t: t.replace(
            "USER 10001:10001",
            "COPY .env id_rsa ./\nENV API_TOKEN=s3cr3t APP_TOKEN_FILE=/run/secrets/token\nUSER 10001:10001",
        ),
    )
    findings = found(run(project), "container.secrets")
    assert [(f.file, f.line) for f in findings] == [
        ("Dockerfile", line_of(dockerfile, "COPY .env")),
        ("Dockerfile", line_of(dockerfile, "ENV API_TOKEN")),
    ]
    assert "API_TOKEN" in findings[1].message and "APP_TOKEN_FILE" not in findings[1].message


# ---------------------------------------------------------------- kubernetes


def test_k8s_resources(fresh_projects: dict[str, Path], tmp_path: Path) -> None:
    project = copy_project(fresh_projects, "online", tmp_path)
    manifest = project / "k8s" / "deployment.yaml"
    edit(
        manifest,
        lambda t: re.sub(
            r"\n            limits:\n              cpu: \S+\n              memory: \S+", "", t
        ),
    )
    (finding,) = found(run(project), "k8s.resources")
    assert (finding.file, finding.line) == ("k8s/deployment.yaml", line_of(manifest, "resources:"))
    assert "limits.memory" in finding.message


def test_k8s_probes(fresh_projects: dict[str, Path], tmp_path: Path) -> None:
    project = copy_project(fresh_projects, "streaming", tmp_path)
    manifest = project / "k8s" / "deployment.yaml"
    edit(manifest, lambda t: t.replace("readinessProbe:", "readinessProbeOff:"))
    (finding,) = found(run(project), "k8s.probes")
    assert finding.file == "k8s/deployment.yaml" and "readinessProbe" in finding.message
    assert finding.line == line_of(manifest, "- name: ")


def test_k8s_pdb(fresh_projects: dict[str, Path], tmp_path: Path) -> None:
    project = copy_project(fresh_projects, "chained", tmp_path)
    (project / "k8s" / "pdb.yaml").unlink()
    (finding,) = found(run(project), "k8s.pdb")
    assert (finding.file, finding.line) == (
        "k8s/deployment.yaml",
        line_of(project / "k8s" / "deployment.yaml", "kind: Deployment"),
    )
    assert "layout (k8s/)" in finding.message


def test_k8s_pdb_judges_the_split_layout_on_its_own(
    fresh_projects: dict[str, Path], tmp_path: Path
) -> None:
    project = copy_project(fresh_projects, "chained", tmp_path)
    split = project / "k8s" / "split"
    assert found(run(project), "k8s.pdb") == []
    # the default layout's PDB does not protect the split layout's Deployments
    (split / "pdb.yaml").unlink()
    findings = found(run(project), "k8s.pdb")
    assert sorted((f.file, f.line) for f in findings) == sorted(
        (f"k8s/split/{name}.yaml", line_of(split / f"{name}.yaml", "kind: Deployment"))
        for name in ("pipeline", "stage-intent", "stage-urgency", "stage-entities")
    )
    assert all("layout (k8s/split/)" in f.message for f in findings)


def test_k8s_gpu_limits_exactly_when_the_project_asks(
    fresh_projects: dict[str, Path], tmp_path: Path
) -> None:
    gpu = copy_project(fresh_projects, "online-gpu", tmp_path)
    manifest = gpu / "k8s" / "deployment.yaml"
    edit(manifest, lambda t: t.replace("nvidia.com/gpu: 1", "cpu: 4"))
    (finding,) = found(run(gpu), "k8s.gpu")
    assert finding.file == "k8s/deployment.yaml" and "no nvidia.com/gpu limit" in finding.message

    cpu = copy_project(fresh_projects, "online", tmp_path)
    manifest = cpu / "k8s" / "deployment.yaml"
    edit(
        manifest,
        lambda t: re.sub(
            r"(\n            limits:\n)", r"\1              nvidia.com/gpu: 1\n", t, count=1
        ),
    )
    (finding,) = found(run(cpu), "k8s.gpu")
    assert (finding.file, finding.line) == (
        "k8s/deployment.yaml",
        line_of(manifest, "nvidia.com/gpu: 1"),
    )


# ---------------------------------------------------------------- model


def _manifest(project: Path, artifact: bytes, sha: str | None = None) -> Path:
    import hashlib

    (project / "models" / "model.onnx").write_bytes(artifact)
    path = project / "models" / "manifest.json"
    document = {
        "name": "m",
        "version": "1",
        "framework": "onnx",
        "file": "model.onnx",
        "sha256": sha or hashlib.sha256(artifact).hexdigest(),
        "created": "2026-01-01T00:00:00+00:00",
    }
    path.write_text(json.dumps(document, indent=2))
    return path


def test_model_checksum(fresh_projects: dict[str, Path], tmp_path: Path) -> None:
    project = copy_project(fresh_projects, "online", tmp_path)
    manifest = _manifest(project, b"the validated model")
    assert found(run(project), "model.checksum") == []

    (project / "models" / "model.onnx").write_bytes(b"a different model")
    (finding,) = found(run(project), "model.checksum")
    assert (finding.file, finding.line) == (
        "models/manifest.json",
        line_of(manifest, '"model.onnx"'),
    )
    assert "sha256" in finding.message

    (project / "models" / "model.onnx").unlink()
    (finding,) = found(run(project), "model.checksum")
    assert "does not exist" in finding.message


def test_model_pickle_needs_the_recorded_opt_in(
    fresh_projects: dict[str, Path], tmp_path: Path
) -> None:
    project = copy_project(fresh_projects, "batch", tmp_path)
    (project / "models" / "model.joblib").write_bytes(b"\x80\x04pickle")
    (finding,) = found(run(project), "model.pickle")
    assert finding.file == "models/model.joblib"

    settings = project / "settings.yaml"
    settings.write_text(settings.read_text() + "\nallow_unsafe_joblib: true\n")
    assert found(run(project), "model.pickle") == []


# ---------------------------------------------------------------- budget


def _set_budget(project: Path, **values: object) -> None:
    record = yaml.safe_load((project / "mlship.yaml").read_text())
    record["budget"].update(values)
    (project / "mlship.yaml").write_text(yaml.safe_dump(record, sort_keys=False))


def test_budget_declared(fresh_projects: dict[str, Path], tmp_path: Path) -> None:
    project = copy_project(fresh_projects, "streaming", tmp_path)
    _set_budget(project, p99_ms=None)
    (finding,) = found(run(project), "budget.declared")
    assert (finding.file, finding.line) == (
        "mlship.yaml",
        line_of(project / "mlship.yaml", "budget:"),
    )
    assert "p99_ms" in finding.message

    edge = copy_project(fresh_projects, "edge", tmp_path)
    _set_budget(edge, max_error_rate=None)  # an export has no error rate to keep
    assert found(run(edge), "budget.declared") == []

    # what each pattern must declare is its knowledge base file's spike.declared
    batch = copy_project(fresh_projects, "batch", tmp_path)
    assert "p99_ms" not in yaml.safe_load((batch / "mlship.yaml").read_text())["budget"]
    assert found(run(batch), "budget.declared") == []  # a job has no p99 to declare
    _set_budget(batch, max_memory_mb=None)
    (finding,) = found(run(batch), "budget.declared")
    assert "declares no max_memory_mb for this job (batch pattern)" in finding.message

    stream = copy_project(fresh_projects, "streaming", tmp_path / "lag")
    _set_budget(stream, max_lag=None)
    (finding,) = found(run(stream), "budget.declared")
    assert "declares no max_lag" in finding.message


def _spike(project: Path, stamp: str, p99: float, error_rate: float = 0.0) -> Path:
    folder = project / "spikes" / stamp
    folder.mkdir(parents=True)
    report = {
        "schema_version": 1,
        "started": f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}T{stamp[9:11]}:00:00+00:00",
        "stats": {"latency_ms": {"p99": p99}, "error_rate": error_rate, "sustained_rps": 100.0},
    }
    (folder / "result.json").write_text(json.dumps(report))
    return folder / "result.json"


def test_budget_spike_missing_then_met_then_missed_then_stale(
    fresh_projects: dict[str, Path], tmp_path: Path
) -> None:
    project = copy_project(fresh_projects, "online", tmp_path)
    (missing,) = found(run(project), "budget.spike-missing")
    assert missing.severity == "warning"

    _spike(project, "20260301T100000Z", p99=40.0)
    result = run(project)
    assert found(result, "budget.spike-missing") == [] and found(result, "budget.spike") == []

    _spike(project, "20260302T100000Z", p99=180.0, error_rate=0.01)  # the newest one counts
    (missed,) = found(run(project), "budget.spike")
    assert missed.file == "spikes/20260302T100000Z/result.json"
    assert "p99 180 ms > 100 ms" in missed.message and "error rate 0.01 > 0.001" in missed.message

    _spike(project, "20260303T100000Z", p99=50.0)
    manifest = _manifest(project, b"retrained")
    document = json.loads(manifest.read_text())
    document["created"] = "2026-03-04T00:00:00+00:00"  # a model newer than the newest spike
    manifest.write_text(json.dumps(document))
    (stale,) = found(run(project), "budget.spike")
    assert "older than the model" in stale.message


# ---------------------------------------------------------------- observability


def test_observability_alert_on_a_metric_the_source_does_not_define(
    fresh_projects: dict[str, Path], tmp_path: Path
) -> None:
    project = copy_project(fresh_projects, "online", tmp_path)
    alerts = project / "observability" / "alerts.yml"
    edit(
        alerts, lambda t: t.replace("expr: model_drift_psi > 0.2", "expr: model_drift_score > 0.2")
    )
    (finding,) = found(run(project), "observability.metrics")
    assert (finding.file, finding.line) == (
        "observability/alerts.yml",
        line_of(alerts, "model_drift_score"),
    )
    assert "model_drift_score" in finding.message


def test_observability_reads_the_names_from_the_source(
    fresh_projects: dict[str, Path], tmp_path: Path
) -> None:
    """Renaming the metric in the code, not the alerts, breaks the alerts and the dashboard."""
    project = copy_project(fresh_projects, "streaming", tmp_path)
    metrics = project / "src" / "streaming" / "streaming" / "metrics.py"
    # a custom collector (ArrayHistogram) defines this one: its suffixes come from its type
    edit(
        metrics, lambda t: t.replace('"stream_end_to_end_latency_seconds"', '"stream_e2e_seconds"')
    )
    findings = found(run(project), "observability.metrics")
    assert {f.file for f in findings} == {
        "observability/alerts.yml",
        "observability/grafana/dashboard.json",
    }
    assert all("stream_end_to_end_latency_seconds_bucket" in f.message for f in findings)
    dashboard = project / "observability" / "grafana" / "dashboard.json"
    assert {f.line for f in findings if f.file.endswith(".json")} == {
        line_of(dashboard, "stream_end_to_end_latency_seconds_bucket")
    }


def test_observability_histogram_suffixes_come_from_the_type(
    fresh_projects: dict[str, Path], tmp_path: Path
) -> None:
    project = copy_project(fresh_projects, "chained", tmp_path)
    alerts = project / "observability" / "alerts.yml"
    edit(
        alerts,
        lambda t: t.replace(
            "http_request_duration_seconds_bucket", "http_request_duration_seconds", 1
        ),
    )
    (finding,) = found(run(project), "observability.metrics")
    assert (
        "http_request_duration_seconds," in finding.message
    )  # a histogram exports _bucket, not itself


# ---------------------------------------------------------------- ci


@pytest.mark.parametrize(
    ("step", "expected"),
    [("mlship check --sarif mlship-check.sarif", "mlship check"), ("make test", "tests")],
)
def test_ci_workflow_runs_the_tests_and_mlship_check(
    fresh_projects: dict[str, Path], tmp_path: Path, step: str, expected: str
) -> None:
    project = copy_project(fresh_projects, "edge", tmp_path)
    workflow = project / ".github" / "workflows" / "ci.yml"
    edit(workflow, lambda t: t.replace(f"run: {step}", "run: echo skipped"))
    (finding,) = found(run(project), "ci.workflow")
    assert finding.file == ".github/workflows/ci.yml" and expected in finding.message
