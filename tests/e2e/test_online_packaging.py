"""The packaging, deployment and observability files of a generated online project.

Each file is judged by the tool that consumes it (hadolint, kubernetes-validate, promtool)
and checked against the others: the probes hit routes the service has, the alerts and the
dashboard read metrics it exports, compose mounts files that exist. There is no Docker
engine or cluster here, so nothing is built or applied; the live checks are in
test_online_packaging_live.py.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from mlship.new.copier_data import CopierData
from mlship.new.render import available_templates, render

from .conftest import render_project, template_data
from .packaging_helpers import (
    CONTRACT_METRICS,
    PROMETHEUS_SERIES,
    exec_form,
    grafana_exprs,
    parse_dockerfile,
    promql_metric_names,
    series_names,
)

pytestmark = pytest.mark.e2e

K8S_VERSION = "1.37.0"
PORT = 8000
P99_MS = 80.0
MAX_ERROR_RATE = 0.002


def data(gpu: bool, model_format: str = "onnx") -> dict[str, Any]:
    """Distinct names and budget, so that a value copied instead of rendered shows."""
    return template_data(
        project_name="fraud-scorer",
        package="fraud_scorer",
        model_format=model_format,
        gpu=gpu,
        p99_ms=P99_MS,
        max_error_rate=MAX_ERROR_RATE,
    )


@pytest.fixture(
    scope="module",
    params=[(False, "onnx"), (True, "onnx"), (True, "torch")],
    ids=["cpu-onnx", "gpu-onnx", "gpu-torch"],
)
def project(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    gpu, model_format = request.param
    dest = tmp_path_factory.mktemp(f"{'gpu' if gpu else 'cpu'}-{model_format}")
    render("online", dest, CopierData(**data(gpu, model_format)))
    return dest


def answers(project: Path) -> dict[str, Any]:
    return yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))


def is_gpu(project: Path) -> bool:
    return bool(answers(project)["gpu"])


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{' '.join(cmd)}:\n{result.stdout}\n{result.stderr}"
    return result


# --- Dockerfiles ----------------------------------------------------------------------


def dockerfiles(project: Path) -> list[Path]:
    return sorted(project.glob("Dockerfile*"))


def test_gpu_dockerfile_only_when_asked(project: Path) -> None:
    names = [p.name for p in dockerfiles(project)]
    assert names == (["Dockerfile", "Dockerfile.gpu"] if is_gpu(project) else ["Dockerfile"])


def test_dockerfiles_pass_hadolint(project: Path) -> None:
    for path in dockerfiles(project):
        run(["hadolint", "--failure-threshold", "warning", path.name], cwd=project)


def test_dockerfiles_are_multi_stage_slim_and_non_root(project: Path) -> None:
    for path in dockerfiles(project):
        builder, runtime = parse_dockerfile(path)
        assert builder.name == "builder"
        assert runtime.base == "python:3.11-slim", path.name
        user = runtime.all("USER")[-1]
        uid = user.split(":")[0]
        assert uid.isdigit() and int(uid) >= 1000, f"{path.name}: USER {user}"
        assert runtime.all("EXPOSE") == [str(PORT)]
        health = exec_form(runtime.all("HEALTHCHECK")[-1])
        assert health[0] == "python" and "/health" in health[-1]
        assert exec_form(runtime.all("CMD")[-1]) == ["python", "-m", "fraud_scorer.serving"]
        env = runtime.env()
        assert int(env["APP_WORKERS"]) >= 1 and env["APP_PORT"] == str(PORT)
        # Only wheels built from the pinned project enter the runtime stage.
        installs = " ".join(runtime.all("RUN"))
        assert "--no-index" in installs and "/wheels/*.whl" in installs


def test_gpu_dockerfile_takes_cuda_from_wheels(project: Path) -> None:
    if not is_gpu(project):
        assert not (project / "Dockerfile.gpu").exists(), "a CPU project has no GPU image"
        return
    values = data(True)
    cuda, pins = values["cuda"], values["pins"]
    text = (project / "Dockerfile.gpu").read_text(encoding="utf-8")
    builder, runtime = parse_dockerfile(project / "Dockerfile.gpu")
    assert builder.base == runtime.base == cuda["base_image"]
    builds = " ".join(builder.all("RUN"))
    if answers(project)["model_format"] == "torch":
        assert f"--index-url {cuda['torch_index_url']} torch=={cuda['torch_version']}" in builds
        assert '".[torch]"' in builds
    else:
        assert f'"onnxruntime-gpu[cuda,cudnn]=={pins["onnxruntime-gpu"]}"' in builds
        # The CPU onnxruntime must not end up next to the GPU build.
        assert "rm /wheels/onnxruntime-[0-9]*.whl" in builds
    assert f'min_driver="{cuda["min_driver"]}"' in text
    env = runtime.env()
    assert env["APP_DEVICE"] == "cuda" and env["APP_WORKERS"] == "1"
    assert env["NVIDIA_VISIBLE_DEVICES"] == "all"


def test_cpu_dockerfile_never_pulls_cuda_torch(tmp_path: Path) -> None:
    render("online", tmp_path, CopierData(**data(False, "torch")))
    builder, _ = parse_dockerfile(tmp_path / "Dockerfile")
    builds = " ".join(builder.all("RUN"))
    assert "--index-url https://download.pytorch.org/whl/cpu torch==" in builds
    run(["hadolint", "--failure-threshold", "warning", "Dockerfile"], cwd=tmp_path)


def test_dockerignore_keeps_the_model_and_drops_secrets(project: Path) -> None:
    ignored = (project / ".dockerignore").read_text(encoding="utf-8").split()
    assert ".env" in ignored and ".git" in ignored and ".venv" in ignored
    copied = {"models", "src", "pyproject.toml", "README.md"}
    assert not copied & set(ignored)


# --- Kubernetes -----------------------------------------------------------------------


def manifests(project: Path) -> dict[str, Any]:
    return {
        p.name: load_yaml(p)
        for p in sorted((project / "k8s").glob("*.yaml"))
        if p.name != "kustomization.yaml"
    }


def test_k8s_manifests_pass_strict_validation(project: Path) -> None:
    files = sorted(f"k8s/{name}" for name in manifests(project))
    assert files == ["k8s/deployment.yaml", "k8s/hpa.yaml", "k8s/pdb.yaml", "k8s/service.yaml"]
    result = run(["kubernetes-validate", "--strict", "-k", K8S_VERSION, *files], cwd=project)
    assert result.stdout.count("passed") == len(files), result.stdout


def test_k8s_objects_agree_with_each_other(project: Path) -> None:
    objs = manifests(project)
    deployment, service = objs["deployment.yaml"], objs["service.yaml"]
    hpa, pdb = objs["hpa.yaml"], objs["pdb.yaml"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    for selector in (
        deployment["spec"]["selector"]["matchLabels"],
        service["spec"]["selector"],
        pdb["spec"]["selector"]["matchLabels"],
    ):
        assert selector.items() <= pod_labels.items()
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert hpa["spec"]["minReplicas"] > pdb["spec"]["minAvailable"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": PORT}
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    kustomization = load_yaml(project / "k8s" / "kustomization.yaml")
    assert sorted(kustomization["resources"]) == sorted(objs)
    assert kustomization["images"][0]["name"] == container["image"].split(":")[0]


def test_deployment_probes_resources_and_security(project: Path) -> None:
    pod = manifests(project)["deployment.yaml"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["startupProbe"]["httpGet"]["path"] == "/health"
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    env = {e["name"]: e["value"] for e in container["env"]}
    # Graceful drain: the pre-stop pause plus uvicorn's drain fit in the grace period.
    pause = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pause[0] == "sleep"
    drain = float(env["APP_DRAIN_TIMEOUT_S"])
    assert pod["terminationGracePeriodSeconds"] > float(pause[1]) + drain
    assert env["APP_PORT"] == str(PORT) and env["APP_WORKERS"] == "1"
    annotations = manifests(project)["deployment.yaml"]["spec"]["template"]["metadata"]
    assert annotations["annotations"]["prometheus.io/path"] == "/metrics"
    gpu = is_gpu(project)
    assert env["APP_DEVICE"] == ("cuda" if gpu else "cpu")
    assert ("nvidia.com/gpu" in container["resources"]["limits"]) is gpu
    assert ("nodeSelector" in pod) is gpu
    if gpu:
        assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
            "tolerations"
        ]


# The fields of KServe's v1beta1 InferenceService that the template emits, with their
# types (from KServe's API reference). Everything else under the predictor is a PodSpec,
# which kubernetes-validate checks below.
KSERVE_COMPONENT_FIELDS = {
    "minReplicas": {"type": "integer", "minimum": 0},
    "maxReplicas": {"type": "integer", "minimum": 1},
    "scaleMetric": {"enum": ["cpu", "memory", "concurrency", "rps"]},
    "scaleTarget": {"type": "integer", "minimum": 1},
    "containerConcurrency": {"type": "integer", "minimum": 0},
    "timeout": {"type": "integer", "minimum": 1},
}
KSERVE_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "serving.kserve.io/v1beta1"},
        "kind": {"const": "InferenceService"},
        "metadata": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "pattern": "^[a-z]([-a-z0-9]*[a-z0-9])?$"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
            },
            "additionalProperties": False,
        },
        "spec": {
            "type": "object",
            "required": ["predictor"],
            "additionalProperties": False,
            "properties": {
                "predictor": {
                    "type": "object",
                    "required": ["containers"],
                    "properties": {
                        **KSERVE_COMPONENT_FIELDS,
                        "containers": {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": 1,
                            "items": {
                                "type": "object",
                                "required": ["name", "image"],
                                "properties": {"name": {"const": "kserve-container"}},
                            },
                        },
                    },
                }
            },
        },
    },
}


def test_kserve_inference_service(project: Path) -> None:
    service = load_yaml(project / "k8s" / "kserve" / "inferenceservice.yaml")
    # kubernetes-validate has no schema for the CRD; say so, then validate our own way.
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        kubernetes_validate.validate(service, K8S_VERSION, strict=True)
    jsonschema.validate(service, KSERVE_SCHEMA)
    predictor = dict(service["spec"]["predictor"])
    for key in KSERVE_COMPONENT_FIELDS:
        predictor.pop(key, None)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": predictor}
    kubernetes_validate.validate(pod, K8S_VERSION, strict=True)
    (container,) = predictor["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert container["ports"][0]["containerPort"] == PORT
    assert ("nvidia.com/gpu" in container["resources"]["limits"]) is is_gpu(project)


# --- Prometheus, alerts, Grafana --------------------------------------------------------


def test_promtool_checks_the_config_and_rules(project: Path) -> None:
    observability = project / "observability"
    run(["promtool", "check", "config", "prometheus.yml"], cwd=observability)
    out = run(["promtool", "check", "rules", "alerts.yml"], cwd=observability).stdout
    assert "SUCCESS: 6 rules found" in out


def test_promtool_unit_tests_of_the_alerts_pass(project: Path) -> None:
    out = run(["promtool", "test", "rules", "alerts.test.yml"], cwd=project / "observability")
    assert "SUCCESS" in out.stdout + out.stderr


def alert_rules(project: Path) -> dict[str, dict[str, Any]]:
    groups = load_yaml(project / "observability" / "alerts.yml")["groups"]
    return {rule["alert"]: rule for group in groups for rule in group["rules"]}


def test_alerts_cover_the_budget_and_read_exported_metrics(project: Path) -> None:
    rules = alert_rules(project)
    assert {"ErrorRateOverBudget", "LatencyP99OverBudget", "ModelNotReady"} <= set(rules)
    assert {"PredictionDrift", "LoadShedding"} <= set(rules)
    assert rules["ErrorRateOverBudget"]["expr"].rstrip().endswith(f"> {MAX_ERROR_RATE}")
    assert rules["LatencyP99OverBudget"]["expr"].rstrip().endswith(f"> {P99_MS / 1000}")
    assert "http_request_duration_seconds_bucket" in rules["LatencyP99OverBudget"]["expr"]
    assert rules["ModelNotReady"]["expr"] == "model_ready == 0"
    assert rules["PredictionDrift"]["expr"] == "model_drift_psi > 0.2"
    allowed = series_names(CONTRACT_METRICS) | PROMETHEUS_SERIES
    for name, rule in rules.items():
        assert promql_metric_names(rule["expr"]) <= allowed, name


def test_dashboard_reads_only_exported_metrics(project: Path) -> None:
    dashboard = json.loads(
        (project / "observability" / "grafana" / "dashboard.json").read_text(encoding="utf-8")
    )
    exprs = grafana_exprs(dashboard)
    used = set().union(*(promql_metric_names(e) for e in exprs))
    assert used <= series_names(CONTRACT_METRICS)
    # Every exported family appears on the dashboard.
    families = {name for name in CONTRACT_METRICS if any(name in used_name for used_name in used)}
    assert families == set(CONTRACT_METRICS)
    assert {t["datasource"]["uid"] for p in dashboard["panels"] for t in p["targets"]} == {
        "prometheus"
    }
    datasource = load_yaml(
        project / "observability/grafana/provisioning/datasources/prometheus.yml"
    )["datasources"][0]
    assert datasource["uid"] == "prometheus"


# --- docker-compose and CI ------------------------------------------------------------


def test_compose_and_ci_files_match_their_published_schemas(project: Path) -> None:
    # check-jsonschema ships the compose-spec and GitHub workflow schemas: no network.
    for schema, path in (
        ("vendor.compose-spec", "docker-compose.yml"),
        ("vendor.github-workflows", ".github/workflows/ci.yml"),
    ):
        run(["check-jsonschema", "--builtin-schema", schema, path], cwd=project)


def test_compose_stack_refers_to_existing_files(project: Path) -> None:
    compose = load_yaml(project / "docker-compose.yml")
    services = compose["services"]
    assert set(services) == {"app", "prometheus", "grafana"}
    build = services["app"]["build"]
    assert (project / build["context"] / build["dockerfile"]).is_file()
    assert build["dockerfile"] == ("Dockerfile.gpu" if is_gpu(project) else "Dockerfile")
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert (project / source).exists(), source
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), port
    scrape = load_yaml(project / "observability" / "prometheus.yml")["scrape_configs"][0]
    assert scrape["static_configs"][0]["targets"] == [f"app:{PORT}"]
    devices = services["app"].get("deploy", {}).get("resources", {}).get("reservations", {})
    assert bool(devices) is is_gpu(project)


def test_ci_workflow_runs_the_project_tasks(project: Path) -> None:
    workflow = load_yaml(project / ".github" / "workflows" / "ci.yml")
    jobs = workflow["jobs"]
    assert set(jobs) == {"test", "golden-path", "packaging", "image"}
    assert "mlship check" in "\n".join(s.get("run", "") for s in jobs["golden-path"]["steps"])
    test_steps = [s.get("run", "") for s in jobs["test"]["steps"]]
    assert test_steps[-4:] == ["make install", "make model", "make lint", "make test"]
    packaging = "\n".join(s.get("run", "") for s in jobs["packaging"]["steps"])
    for tool in ("hadolint --failure-threshold warning", "kubernetes-validate --strict"):
        assert tool in packaging
    assert "promtool test rules" in packaging
    image = "\n".join(s.get("run", "") for s in jobs["image"]["steps"])
    assert "docker build" in image and "make loadtest" in image


def test_ci_packaging_job_passes_here(project: Path) -> None:
    """The packaging job's own steps, run as GitHub runs them (the tools are installed here)."""
    job = load_yaml(project / ".github" / "workflows" / "ci.yml")["jobs"]["packaging"]
    steps = [s for s in job["steps"] if "run" in s and not s["name"].startswith("Install")]
    assert len(steps) == 3
    for step in steps:
        run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], cwd=project)


@pytest.mark.parametrize("pattern", available_templates())
def test_shared_ci_workflow_and_dockerignore_fit_every_pattern(
    pattern: str, tmp_path: Path
) -> None:
    project = render_project(tmp_path / "project", pattern=pattern)
    run(
        [
            "check-jsonschema",
            "--builtin-schema",
            "vendor.github-workflows",
            ".github/workflows/ci.yml",
        ],
        cwd=project,
    )
    jobs = load_yaml(project / ".github" / "workflows" / "ci.yml")["jobs"]
    assert [s.get("run") for s in jobs["test"]["steps"]][-4:] == [
        "make install", "make model", "make lint", "make test"
    ]  # fmt: skip
    # Without a Dockerfile the image job does nothing instead of failing.
    for step in jobs["image"]["steps"]:
        if "run" in step:
            assert "hashFiles('Dockerfile') != ''" in step["if"], step["name"]
    assert (project / ".dockerignore").is_file()
