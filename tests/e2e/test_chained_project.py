"""The chained pattern end to end: render, install, build the real stage models, test, serve.

Co-located pipeline, then the split variant with a real remote stage on 127.0.0.1: the stage
service stopped (circuit opens, answers stay inside the deadline with the fallback), and
made slow through a delaying proxy (timeouts and retries as configured, visible in metrics).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from .api_fuzz import schemathesis
from .conftest import (
    Project,
    Service,
    Venv,
    free_port,
    prepare_project,
    render_project,
    serve,
    start_process,
    stop_group,
    wait_ready,
)
from .packaging_helpers import (
    PROMETHEUS_SERIES,
    SUFFIXES,
    grafana_exprs,
    promql_metric_names,
    series_names,
)

pytestmark = pytest.mark.e2e

TEXTS = [
    "book a flight from Paris to Tokyo tomorrow",
    "play some Daft Punk right now",
    "what is the weather in Lisbon today",
    "wake me up at 7:30",
]
BODY = {"instances": [{"text": t} for t in TEXTS]}
# Generous for a loaded 2-core CI machine; the shipped pipeline derives its own from p99_ms.
DEADLINE_MS = 400.0
ATTEMPT_MS, STAGE_MS, RETRIES = 60.0, 200.0, 2


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, venv_for: Callable[[Path], Venv]) -> Project:
    dest = tmp_path_factory.mktemp("chained") / "assistant"
    return prepare_project(
        dest, venv_for, pattern="chained", project_name="assistant", package="assistant"
    )


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one series in Prometheus text format (0 when absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_project_tests_lint_and_check_pass(project: Project) -> None:
    result = project.run("make", "test", f"PYTHON={project.venv.python}", timeout=600)
    assert " passed" in result.stdout and "failed" not in result.stdout
    project.run("make", "lint", f"PYTHON={project.venv.python}")
    assert "pipeline ok" in project.run("make", "check", f"PYTHON={project.venv.python}").stdout
    recorded = json.loads((project.path / "models" / "pipeline.json").read_text())
    assert set(recorded["stages"]) == {"intent", "urgency", "entities"}
    assert recorded["stages"]["intent"]["holdout_accuracy"] > 0.9


def test_a_bad_pipeline_stops_the_start_with_the_stage_named(project: Project) -> None:
    bad = project.path / "bad-pipeline.yaml"
    spec = yaml.safe_load((project.path / "pipeline.yaml").read_text())
    spec["stages"][2]["inputs"] = ["request.text", "ranker"]
    bad.write_text(yaml.safe_dump(spec))
    result = subprocess.run(
        [str(project.venv.python), "-m", "assistant.pipeline", "--check"],
        cwd=project.path,
        env=project.venv.env(APP_PIPELINE_FILE=str(bad), APP_LOG_JSON="false"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "stage 'entities': input 'ranker' is an unknown stage" in result.stderr
    assert "Traceback" not in result.stderr


def test_colocated_pipeline_serves_every_stage(project: Project) -> None:
    with serve(project) as service:
        ready = httpx.get(f"{service.url}/ready").json()
        assert ready["ready"] and not ready["degraded"]
        response = httpx.post(f"{service.url}/v1/predict", json=BODY, timeout=10)
        assert response.status_code == 200, response.text
        body = response.json()
        assert [p["intent"]["label"] for p in body["predictions"]] == [
            "book_flight",
            "play_music",
            "weather",
            "set_alarm",
        ]
        cities = {e["text"] for e in body["predictions"][0]["entities"] if e["type"] == "CITY"}
        assert cities == {"Paris", "Tokyo"}
        recorded = json.loads((project.path / "models" / "pipeline.json").read_text())["stages"]
        for name, stage in body["stages"].items():
            assert (stage["status"], stage["location"]) == ("ok", "local")
            assert stage["model"]["sha256"] == recorded[name]["sha256"]
        metrics = httpx.get(f"{service.url}/metrics").text
        assert metric(metrics, "pipeline_stage_duration_seconds_count", stage="entities") >= 1
    exported = set()  # every family declared on /metrics, whether it has samples yet or not
    for line in metrics.splitlines():
        if line.startswith("# TYPE"):
            _, _, name, kind = line.split()
            family = name.removesuffix("_total") if kind == "counter" else name
            exported |= series_names({family: kind}) if kind in SUFFIXES else {name}
    read = set()
    observability = project.path / "observability"
    for group in yaml.safe_load((observability / "alerts.yml").read_text())["groups"]:
        for rule in group["rules"]:
            read |= promql_metric_names(rule["expr"])
    dashboard = json.loads((observability / "grafana" / "dashboard.json").read_text())
    for expr in grafana_exprs(dashboard):
        read |= promql_metric_names(expr)
    assert read - PROMETHEUS_SERIES - exported == set()


# ------------------------------------------------------------------ split variant


@contextlib.contextmanager
def stage_service(project: Project, stage: str, port: int) -> Iterator[Service]:
    log_path = project.path / f".stage-{stage}-{port}.log"
    command = ["make", "serve-stage", f"STAGE={stage}", f"PYTHON={project.venv.python}"]
    process = start_process(project, command, {"HOST": "127.0.0.1", "PORT": str(port)}, log_path)
    service = Service(f"http://127.0.0.1:{port}", process, log_path)
    try:
        wait_ready(service.url, process, log_path)
        yield service
    finally:
        stop_group(process)


class DelayingProxy:
    """Forwards to a stage service on loopback; slow_every=1: every call waits, 2: every other."""

    def __init__(self, target: str, delay_s: float) -> None:
        import uvicorn
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import Response
        from starlette.routing import Route

        self.target = target
        self.delay_s = delay_s
        self.slow_every = 1  # 1: every call is slow; 2: every other call
        self.calls = 0
        self.port = free_port()

        clients: list[httpx.AsyncClient] = []

        async def forward(request: Request) -> Response:
            self.calls += 1
            body = await request.body()
            if self.slow_every == 1 or self.calls % self.slow_every == 1:
                await asyncio.sleep(self.delay_s)
            if not clients:
                clients.append(httpx.AsyncClient(base_url=self.target, trust_env=False))
            upstream = await clients[0].request(
                request.method,
                request.url.path,
                content=body,
                headers={"content-type": "application/json"},
                timeout=10,
            )
            return Response(upstream.content, upstream.status_code, media_type="application/json")

        app = Starlette(routes=[Route("/{path:path}", forward, methods=["GET", "POST"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> DelayingProxy:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "proxy did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def split_pipeline(project: Project, reset_s: float, failures: int = 3) -> Path:
    """The shipped pipeline with test timings and a short circuit reset (to see it close)."""
    spec = yaml.safe_load((project.path / "pipeline.yaml").read_text())
    for stage in spec["stages"]:
        if stage["name"] == "entities":
            stage["circuit"] = {"failures": failures, "reset_s": reset_s}
            stage.update(attempt_timeout_ms=ATTEMPT_MS, timeout_ms=STAGE_MS, retries=RETRIES)
    path = project.path / f"pipeline-test-{reset_s}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def predict_timed(url: str) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    response = httpx.post(f"{url}/v1/predict", json=BODY, timeout=10)
    elapsed_ms = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, response.text
    return response.json(), elapsed_ms


def test_schemathesis_finds_no_failure(project: Project, tmp_path: Path) -> None:
    """Every check of schemathesis against the pipeline's published OpenAPI document."""
    with serve(project) as service:
        output = schemathesis(service.url, tmp_path, max_examples=25)
    assert "5 selected / 5 total" in output


def test_split_stage_fails_over_to_the_fallback_and_recovers(project: Project) -> None:
    port = free_port()
    env = {
        "APP_PIPELINE_FILE": str(split_pipeline(project, reset_s=1.0)),
        "APP_ENDPOINTS": json.dumps({"entities": f"http://127.0.0.1:{port}"}),
        "APP_DEADLINE_MS": str(DEADLINE_MS),
        "APP_PROBE_INTERVAL_S": "0.2",
    }
    with stage_service(project, "entities", port) as stage, serve(project, env=env) as pipeline:
        for _ in range(2):  # warm the connection and the stage service
            predict_timed(pipeline.url)
        body, _ = predict_timed(pipeline.url)
        entities = body["stages"]["entities"]
        assert (entities["status"], entities["location"]) == ("ok", "remote")
        cities = {e["text"] for e in body["predictions"][0]["entities"] if e["type"] == "CITY"}
        assert cities == {"Paris", "Tokyo"}

        stop_group(stage.process)  # the remote stage goes away
        latencies = []
        for _ in range(8):
            body, elapsed_ms = predict_timed(pipeline.url)
            latencies.append(elapsed_ms)
            assert body["stages"]["entities"]["status"] == "skipped"
            assert body["predictions"][0]["entities"] is None
            assert body["predictions"][0]["intent"]["label"] == "book_flight"
        assert max(latencies) < DEADLINE_MS + 50, latencies
        metrics = httpx.get(f"{pipeline.url}/metrics").text
        assert metric(metrics, "pipeline_circuit_state", stage="entities") == 2
        assert metric(metrics, "pipeline_circuit_opened_total", stage="entities") == 1
        assert (
            metric(metrics, "pipeline_stage_errors_total", stage="entities", reason="circuit_open")
            >= 4
        )
        assert (
            metric(metrics, "pipeline_stage_fallbacks_total", stage="entities", fallback="skip")
            == 8
        )
        ready = httpx.get(f"{pipeline.url}/ready")
        assert ready.status_code == 200 and ready.json()["degraded"]  # skip keeps it serving

        with stage_service(project, "entities", port):  # back on the same port
            time.sleep(1.2)  # past reset_s: the next call is the half-open probe
            body, _ = predict_timed(pipeline.url)
            assert body["stages"]["entities"]["status"] == "ok"
            metrics = httpx.get(f"{pipeline.url}/metrics").text
            assert metric(metrics, "pipeline_circuit_state", stage="entities") == 0


def test_a_slow_stage_times_out_and_retries_as_configured(project: Project) -> None:
    port = free_port()
    retries = RETRIES
    with (
        stage_service(project, "entities", port) as stage,
        DelayingProxy(stage.url, delay_s=ATTEMPT_MS / 1000 * 3) as proxy,
    ):
        env = {
            # every failed attempt counts towards the circuit: keep it closed here
            "APP_PIPELINE_FILE": str(split_pipeline(project, reset_s=60.0, failures=10)),
            "APP_ENDPOINTS": json.dumps({"entities": proxy.url}),
            "APP_DEADLINE_MS": str(DEADLINE_MS),
            "APP_PROBE_INTERVAL_S": "60",
        }
        with serve(project, env=env) as pipeline:
            # every call slow: each attempt times out, all retries are spent, then skip
            body, _ = predict_timed(pipeline.url)
            report = body["stages"]["entities"]
            assert report["status"] == "skipped" and "timeout" in report["error"]
            assert report["attempts"] == retries + 1
            assert report["latency_ms"] <= STAGE_MS + 50  # the stage's cap, not 3 slow attempts
            metrics = httpx.get(f"{pipeline.url}/metrics").text
            assert metric(metrics, "pipeline_stage_retries_total", stage="entities") == retries
            assert (
                metric(metrics, "pipeline_stage_errors_total", stage="entities", reason="timeout")
                == retries + 1
            )
            # every other call slow: the first attempt times out, the retry answers
            proxy.slow_every, proxy.calls = 2, 0
            body, _ = predict_timed(pipeline.url)
            report = body["stages"]["entities"]
            assert (report["status"], report["attempts"]) == ("ok", 2), report
            assert body["predictions"][0]["entities"]


# ------------------------------------------------------------------ packaging (render only)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render_project(
        tmp_path_factory.mktemp("chained-files") / "assistant",
        pattern="chained",
        project_name="assistant",
        package="assistant",
    )


def tool(*command: str, cwd: Path) -> str:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def test_dockerfile_and_kubernetes_manifests_pass_their_linters(rendered: Path) -> None:
    tool("hadolint", "--failure-threshold", "warning", "Dockerfile", cwd=rendered)
    manifests = sorted(
        str(p.relative_to(rendered))
        for p in (rendered / "k8s").rglob("*.yaml")
        if p.name != "kustomization.yaml"
    )
    assert any("split/stage-entities" in m for m in manifests)
    tool("kubernetes-validate", "--strict", *manifests, cwd=rendered)
    for kustomization in ("k8s/kustomization.yaml", "k8s/split/kustomization.yaml"):
        listed = yaml.safe_load((rendered / kustomization).read_text())["resources"]
        assert all((rendered / kustomization).parent.joinpath(r).is_file() for r in listed)


def test_alert_rules_and_prometheus_config_pass_promtool(rendered: Path) -> None:
    observability = rendered / "observability"
    tool("promtool", "check", "config", "prometheus.yml", cwd=observability)
    assert "SUCCESS" in tool("promtool", "test", "rules", "alerts.test.yml", cwd=observability)


def test_compose_split_profile_points_at_its_stage_services(rendered: Path) -> None:
    compose = yaml.safe_load((rendered / "docker-compose.yml").read_text())
    services = compose["services"]
    split = services["pipeline-split"]["environment"]
    endpoints = json.loads(split["APP_ENDPOINTS"])
    assert split["APP_SPLIT"] == "true"
    for stage, url in endpoints.items():
        name = url.removeprefix("http://").split(":")[0]
        assert services[name]["environment"]["APP_SERVE_STAGE"] == stage
        assert services[name]["profiles"] == ["split"]
    stages = {s["name"] for s in yaml.safe_load((rendered / "pipeline.yaml").read_text())["stages"]}
    assert set(endpoints) == stages
    assert all(
        p.startswith("127.0.0.1:") for svc in services.values() for p in svc.get("ports", [])
    )


@pytest.mark.slow
def test_tracing_and_the_load_test_with_their_extras(project: Project) -> None:
    """The otel and loadtest extras installed: stage spans are recorded, and a short load test
    against the co-located pipeline is judged within the budget."""
    project.run(
        str(project.venv.python),
        "-m",
        "pip",
        "install",
        "-q",
        "-e",
        ".[otel,loadtest]",
        timeout=900,
    )
    traced = project.run(
        str(project.venv.python),
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "tests/test_pipeline.py",
        "-k",
        "traced",
        "-rs",
    )
    assert "1 passed" in traced.stdout and "skipped" not in traced.stdout
    with serve(project) as service:
        port = service.url.rsplit(":", 1)[1]
        result = project.run(
            "make",
            "loadtest",
            f"PYTHON={project.venv.python}",
            "HOST=127.0.0.1",
            f"PORT={port}",
            "RATE=20",
            "DURATION=5",
            timeout=120,
        )
    verdict = result.stdout + result.stderr
    assert "within budget: 100 requests at" in verdict  # open-model: 20 per second for 5 s
    assert "exact, from the scheduled send" in verdict
