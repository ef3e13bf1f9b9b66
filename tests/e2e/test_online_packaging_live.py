"""The packaging files of a generated online project, exercised against the running service.

- The Dockerfile's steps run for real in venvs (no Docker engine here): its builder RUN
  makes the wheels, its runtime RUN installs them into a fresh venv, its ENV and CMD start
  the service and its HEALTHCHECK command judges it.
- A real Prometheus (Debian's binary) loads the project's prometheus.yml and alert rules,
  scrapes the service, and a request count sent by the test is read back through PromQL;
  every dashboard and alert expression is evaluated by that server.
- The project's locustfile runs headless and bounded against the service.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from .conftest import (
    Project,
    Venv,
    free_port,
    render_project,
    serve,
    stop_group,
    template_data,
)
from .packaging_helpers import (
    CONTRACT_METRICS,
    PROMETHEUS_SERIES,
    exec_form,
    grafana_exprs,
    parse_dockerfile,
    promql_metric_names,
    series_names,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # minutes: CI runs it with -m slow

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
BOUND_S = 60.0  # every wait below gives up after this long


def rows(project: Path, count: int) -> list[list[float]]:
    manifest = json.loads((project / "models" / "manifest.json").read_text(encoding="utf-8"))
    width = len(manifest["input"]["features"] or []) or manifest["input"]["shape"][1]
    return [[float(i % 7) + 0.5 * j for j in range(width)] for i in range(count)]


def predict(url: str, project: Path, times: int) -> None:
    with httpx.Client(base_url=url, timeout=10) as client:
        for i in range(times):
            response = client.post("/v1/predict", json={"instances": rows(project, 1 + i % 3)})
            assert response.status_code == 200, response.text


def exported_families(url: str) -> dict[str, str]:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return {f.name: f.type for f in text_string_to_metric_families(text)}


def metric_value(url: str, name: str, **labels: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


# --- the Dockerfile, step by step ---------------------------------------------------


def substitute(command: str, wheels: Path) -> str:
    return command.replace("/wheels", str(wheels))


@pytest.fixture(scope="module")
def image_app(online_project: Project, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The image's /app: wheels built and installed as the Dockerfile says, files copied."""
    work = tmp_path_factory.mktemp("image")
    builder, runtime = parse_dockerfile(online_project.path / "Dockerfile")
    wheels = work / "wheels"
    build_dir = work / "build"
    build_dir.mkdir()
    for args in builder.all("COPY"):
        *sources, _target = args.split()
        for source in sources:
            origin = online_project.path / source
            if origin.is_dir():
                shutil.copytree(origin, build_dir / source, ignore=shutil.ignore_patterns("*.pyc"))
            else:
                shutil.copy2(origin, build_dir / source)
    for stage_dir, stage, venv in (
        (build_dir, builder, work / "builder-venv"),
        (work / "app", runtime, work / "runtime-venv"),
    ):
        stage_dir.mkdir(exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
        env = Venv(venv).env(PIP_DISABLE_PIP_VERSION_CHECK="1")
        for command in stage.all("RUN"):
            if command.startswith(("groupadd", "useradd")):
                continue  # creates the image's user: nothing to do for a venv
            command = command.split(" ", 1)[1] if command.startswith("--mount") else command
            result = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", substitute(command, wheels)],
                cwd=stage_dir,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert result.returncode == 0, f"RUN {command}\n{result.stdout}\n{result.stderr}"
    app = work / "app"
    for args in runtime.all("COPY"):
        *sources, target = [a for a in args.split() if not a.startswith("--")]
        for source in sources:
            origin = online_project.path / source
            if origin.is_dir():
                shutil.copytree(origin, app / target, dirs_exist_ok=True)
            else:
                shutil.copy2(origin, app / target / origin.name)
    return app


def test_image_installs_only_the_built_wheels(image_app: Path) -> None:
    python = image_app.parent / "runtime-venv" / "bin" / "python"
    check = subprocess.run(
        [str(python), "-m", "pip", "check"], capture_output=True, text=True, timeout=120
    )
    assert check.returncode == 0, check.stdout + check.stderr
    listed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    installed = {p["name"].lower().replace("_", "-") for p in json.loads(listed.stdout)}
    # The runtime carries what serving needs and none of the dev or demo tools.
    assert {"fastapi", "uvicorn", "onnxruntime", "prometheus-client", "demo-service"} <= installed
    assert not {"pytest", "ruff", "scikit-learn", "skl2onnx", "locust"} & installed
    assert sorted(p.name for p in image_app.iterdir()) == ["models", "settings.yaml"]


def test_image_command_serves_and_passes_its_healthcheck(
    image_app: Path, online_project: Project
) -> None:
    runtime = parse_dockerfile(online_project.path / "Dockerfile")[-1]
    venv = Venv(image_app.parent / "runtime-venv")
    port = free_port()
    # The image's environment, with the one change a test must make: loopback only.
    env = venv.env(**{**runtime.env(), "APP_HOST": "127.0.0.1", "APP_PORT": str(port)})
    env["HOME"] = str(image_app.parent)
    assert env["APP_WORKERS"] == "2"
    command = exec_form(runtime.all("CMD")[-1])
    health = exec_form(runtime.all("HEALTHCHECK")[-1])
    log_path = image_app.parent / "service.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=image_app,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + BOUND_S
        healthy = False
        while time.monotonic() < deadline and process.poll() is None:
            probe = subprocess.run(health, env=env, capture_output=True, timeout=10)
            if probe.returncode == 0:
                healthy = True
                break
            time.sleep(0.5)
        assert healthy, f"HEALTHCHECK never passed:\n{log_path.read_text()[-3000:]}"
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                    break
            time.sleep(0.2)
        predict(url, online_project.path, 20)
        # Two workers behind one port: /metrics adds up every worker's requests.
        assert metric_value(url, "model_predictions_total") == sum(1 + i % 3 for i in range(20))
        assert metric_value(url, "model_ready") == 1
    finally:
        code = stop_group(process, signal.SIGTERM)
    assert code == 0, log_path.read_text()[-3000:]


# --- a real Prometheus ---------------------------------------------------------------


@contextlib.contextmanager
def prometheus_for(project: Path, target: str, work: Path) -> Iterator[str]:
    """Prometheus with the project's config and rules, pointed at ``target``, on loopback."""
    config = yaml.safe_load((project / "observability" / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(project / "observability" / name) for name in config["rule_files"]]
    (job,) = config["scrape_configs"]
    job["scrape_timeout"] = "1s"
    job["static_configs"][0]["targets"] = [target]
    config_path = work / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config))
    port = free_port()
    log_path = work / "prometheus.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={config_path}",
                f"--storage.tsdb.path={work / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: httpx.get(f"{url}/-/ready", timeout=2).status_code == 200, log_path)
        yield url
    finally:
        stop_group(process)


def wait_for(check: Any, log_path: Path | None = None) -> None:
    deadline = time.monotonic() + BOUND_S
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, KeyError, IndexError):
            if check():
                return
        time.sleep(0.25)
    detail = log_path.read_text()[-3000:] if log_path else ""
    raise AssertionError(f"gave up after {BOUND_S} s\n{detail}")


def query(prometheus: str, expr: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10)
    body = response.json()
    assert body["status"] == "success", f"{expr}: {body}"
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


@pytest.fixture(scope="module")
def prometheus(
    online_project: Project, running_service: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    target = running_service.removeprefix("http://")
    with prometheus_for(online_project.path, target, tmp_path_factory.mktemp("prom")) as url:
        yield url


def test_prometheus_scrapes_the_service_and_reads_back_the_count(
    prometheus: str, running_service: str, online_project: Project
) -> None:
    def target_up() -> bool:
        targets = httpx.get(f"{prometheus}/api/v1/targets", timeout=5).json()
        active = targets["data"]["activeTargets"]
        return bool(active) and all(t["health"] == "up" for t in active)

    wait_for(target_up)
    selector = 'http_requests_total{route="/v1/predict", status="200"}'
    before = metric_value(running_service, "http_requests_total", route="/v1/predict", status="200")
    sent = 25
    predict(running_service, online_project.path, sent)
    expected = before + sent
    assert (
        metric_value(running_service, "http_requests_total", route="/v1/predict", status="200")
        == expected
    )

    def read_back() -> bool:
        result = query(prometheus, f"sum({selector})")
        return bool(result) and float(result[0]["value"][1]) == expected

    wait_for(read_back)
    (series,) = query(prometheus, selector)
    assert series["metric"]["job"] == "demo-service"
    assert float(series["value"][1]) == expected
    assert float(query(prometheus, "model_ready")[0]["value"][1]) == 1


def test_prometheus_loads_the_alert_rules_and_none_fires(prometheus: str) -> None:
    def rules_loaded() -> list[dict[str, Any]]:
        groups = httpx.get(f"{prometheus}/api/v1/rules", timeout=5).json()["data"]["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        return rules if len(rules) == 6 and all(r["health"] == "ok" for r in rules) else []

    wait_for(rules_loaded)
    firing = [r["name"] for r in rules_loaded() if r["state"] == "firing"]
    assert firing == []


def test_every_dashboard_and_alert_expression_evaluates(
    prometheus: str, online_project: Project, running_service: str
) -> None:
    dashboard = json.loads(
        (online_project.path / "observability/grafana/dashboard.json").read_text()
    )
    alerts = yaml.safe_load((online_project.path / "observability/alerts.yml").read_text())
    exprs = [e.replace("$__rate_interval", "1m") for e in grafana_exprs(dashboard)]
    exprs += [rule["expr"] for group in alerts["groups"] for rule in group["rules"]]
    for expr in exprs:
        query(prometheus, expr)  # a syntax or type error fails here
    # The names they read are the names the running service exports.
    exported = exported_families(running_service)
    assert set(CONTRACT_METRICS) <= set(exported)
    served = series_names({name: CONTRACT_METRICS[name] for name in CONTRACT_METRICS})
    for expr in exprs:
        assert promql_metric_names(expr) <= served | PROMETHEUS_SERIES, expr
    # Data reaches the panels: the request-rate panel has a series after traffic.
    wait_for(lambda: bool(query(prometheus, exprs[0])))


# --- the locustfile ------------------------------------------------------------------


@pytest.fixture(scope="module")
def loadtest_python(online_project: Project) -> Path:
    """The project's venv with its loadtest extra, as its README installs it."""
    online_project.run(
        str(online_project.venv.python), "-m", "pip", "install", "-q", "-e", ".[loadtest]"
    )
    return online_project.venv.python


def run_loadtest(
    project: Path, python: Path, url: str, budget: dict[str, Any], work: Path, **make: str
) -> subprocess.CompletedProcess[str]:
    """``make loadtest`` against ``url`` with the budget given, bounded in time."""
    record = work / "mlship.yaml"
    record.write_text(
        yaml.safe_dump({"mlship_version": "0.1.0", "pattern": "online", "budget": budget})
    )
    run_env = {k: v for k, v in os.environ.items() if not k.startswith(("APP_", "LOADTEST_"))}
    run_env.update(LOADTEST_BUDGET=str(record), LOADTEST_SEED="7")
    host, port = url.removeprefix("http://").split(":")
    variables = [
        f"{k}={v}" for k, v in {"PYTHON": str(python), "HOST": host, "PORT": port, **make}.items()
    ]
    return subprocess.run(
        ["make", "loadtest", *variables],
        cwd=project,
        env=run_env,
        capture_output=True,
        text=True,
        timeout=BOUND_S,
    )


def summary(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if "within budget:" in line]
    lines += [line for line in result.stderr.splitlines() if "over budget:" in line]
    assert lines, result.stdout[-2000:] + result.stderr[-3000:]
    return lines[-1]


def test_make_loadtest_is_open_model_and_within_budget(
    online_project: Project, loadtest_python: Path, running_service: str, tmp_path: Path
) -> None:
    budget = {"p99_ms": 5000, "max_error_rate": 0.0}
    result = run_loadtest(
        online_project.path, loadtest_python, running_service, budget, tmp_path,
        RATE="40", DURATION="3",
    )  # fmt: skip
    line = summary(result)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "within budget: 120 requests at" in line  # 40 per second for 3 s, on schedule
    assert "(asked 40)" in line and "exact, from the scheduled send" in line
    assert "failures 0.0000%" in line
    assert "/v2/models/[name]/infer" in result.stdout + result.stderr  # every form was sent


def test_make_loadtest_fails_the_run_over_budget(
    online_project: Project, loadtest_python: Path, running_service: str, tmp_path: Path
) -> None:
    budget = {"p99_ms": 0.001, "max_error_rate": 0.0}
    result = run_loadtest(
        online_project.path, loadtest_python, running_service, budget, tmp_path,
        RATE="20", DURATION="2",
    )  # fmt: skip
    assert result.returncode != 0
    assert "over budget: p99" in summary(result)


def test_make_loadtest_counts_refusals_as_failures(
    online_project: Project, loadtest_python: Path, tmp_path: Path
) -> None:
    """A service that sheds: every 503 is a failure of the run, none goes unnoticed."""
    env = {"APP_MAX_CONCURRENCY": "1", "APP_ADMISSION": "concurrency"}
    env["APP_REQUEST_TIMEOUT_S"] = "60"  # the held request keeps its slot all along
    with serve(online_project, env=env) as service:
        held = [hold_a_slot(service.url)]  # the only slot is taken: everything else is shed
        try:
            budget = {"p99_ms": 5000, "max_error_rate": 0.01}
            result = run_loadtest(
                online_project.path, loadtest_python, service.url, budget, tmp_path,
                RATE="20", DURATION="2",
            )  # fmt: skip
        finally:
            for sock in held:
                sock.close()
    line = summary(result)
    assert result.returncode != 0
    assert "failures 100.0000% (HTTP 503 40)" in line


def hold_a_slot(url: str) -> socket.socket:
    """A request whose body never finishes: it holds an inference slot until closed."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(
        b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n{"
    )
    time.sleep(0.3)
    return sock


# --- the GPU image's dependency set (resolved, not installed: no GPU here) -------------


@pytest.mark.slow
def test_gpu_image_requirements_resolve_with_cuda_wheels(tmp_path: Path) -> None:
    """The builder's one resolution holds the project, onnxruntime-gpu and its CUDA wheels."""
    data = template_data(gpu=True)
    render_project(tmp_path / "project", gpu=True)
    project = tmp_path / "project"
    builder = parse_dockerfile(project / "Dockerfile.gpu")[0]
    (wheel_step,) = [c for c in builder.all("RUN") if c.startswith("pip wheel")]
    build, _, cleanup = wheel_step.partition("&&")
    args = shlex.split(build)[2:]
    requirements = [
        a for i, a in enumerate(args) if not a.startswith("-") and args[i - 1] != "--wheel-dir"
    ]
    report = tmp_path / "report.json"
    pip = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "-q"]
    result = subprocess.run(
        [*pip, "--report", str(report), *requirements],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    resolved = {
        i["metadata"]["name"].lower(): i["metadata"]["version"]
        for i in json.loads(report.read_text())["install"]
    }
    assert resolved["onnxruntime-gpu"] == data["pins"]["onnxruntime-gpu"]
    cuda_major = data["cuda"]["cuda_version"].split(".")[0]
    assert resolved["nvidia-cuda-runtime"].split(".")[0] == cuda_major
    assert f"nvidia-cudnn-cu{cuda_major}" in resolved
    # The cleanup removes the CPU build's wheel and nothing else.
    pattern = shlex.split(cleanup)[1].removeprefix("/wheels/")
    wheels = {
        f"{name.replace('-', '_')}-{version}-py3-none-any.whl" for name, version in resolved.items()
    }
    assert {w for w in wheels if fnmatch.fnmatch(w, pattern)} == {
        f"onnxruntime-{resolved['onnxruntime']}-py3-none-any.whl"
    }
