"""The online project, for real: render, install, lint, build the demo model, run its own
tests, serve it on 127.0.0.1 and call it over HTTP (v1, v2 and a Triton client), push it
into its limits, tamper with its model, stop it while requests are in flight.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.api_fuzz import schemathesis
from tests.e2e.conftest import (
    Project,
    Venv,
    free_port,
    prepare_project,
    render_project,
    serve,
    start_process,
    stop_group,
    template_data,
    wait_ready,
)
from tests.e2e.keepalive import KeepAliveClient

pytestmark = pytest.mark.e2e


# ---------------------------------------------------------------- helpers


def manifest_of(project: Project) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((project.path / "models" / "manifest.json").read_text())
    return document


def dataset_rows(count: int) -> list[list[float]]:
    """Real rows of the demo dataset (scikit-learn ships it)."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    return [[float(v) for v in row] for row in data.data[:count]]


def metric_value(text: str, prefix: str) -> float:
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{prefix} not in /metrics")


class PartialRequest:
    """A POST whose body is sent in two parts, holding a request in flight in between."""

    def __init__(self, url: str, path: str, body: bytes, split: int = 5) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=15)
        self.body = body
        self.split = split
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        self.sock.sendall(head + body[:split])

    def finish(self) -> tuple[int, bytes]:
        """Send the rest, read the whole response: (status, body)."""
        try:
            self.sock.sendall(self.body[self.split :])
            data = b""
            while chunk := self.sock.recv(65536):
                data += chunk
        finally:
            self.sock.close()
        head, _, content = data.partition(b"\r\n\r\n")
        return int(head.split()[1]), content


def predict_body(rows: list[list[float]]) -> bytes:
    return json.dumps({"instances": rows}).encode()


# ---------------------------------------------------------------- every combination renders


@pytest.mark.parametrize("model_format", ["onnx", "sklearn", "torch"])
@pytest.mark.parametrize("gpu", [False, True])
def test_every_combination_renders_lint_clean(tmp_path: Path, model_format: str, gpu: bool) -> None:
    project = render_project(tmp_path / "p", model_format=model_format, gpu=gpu)
    for args in (["check", "."], ["format", "--check", "."]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *args], cwd=project, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr
    meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    pins = template_data()["pins"]
    runtime = {"onnx": "onnxruntime", "sklearn": "skops", "torch": "torch"}[model_format]
    declared = meta["dependencies"] + [r for v in meta["optional-dependencies"].values() for r in v]
    assert f"{runtime}=={pins[runtime]}" in declared
    assert all("==" in r or r.startswith(meta["name"]) for r in declared)
    settings = (project / "settings.yaml").read_text()
    assert f"device: {'auto' if gpu else 'cpu'}" in settings


# ---------------------------------------------------------------- the default project


def test_default_project_lints_and_passes_its_own_tests(online_project: Project) -> None:
    online_project.run("make", "lint")
    result = online_project.run("make", "test", timeout=900)
    assert " passed" in result.stdout
    assert " failed" not in result.stdout


def test_demo_manifest_describes_the_model(online_project: Project) -> None:
    manifest = manifest_of(online_project)
    assert manifest["framework"] == "onnx"
    assert manifest["source"] == "demo"
    assert manifest["input"]["shape"] == [None, 30]
    assert len(manifest["input"]["features"]) == 30
    assert manifest["output"]["classes"] == [0, 1]
    histogram = manifest["baseline"]["score_histogram"]
    assert len(histogram["edges"]) == len(histogram["counts"]) + 1
    assert manifest["metrics"]["parity_max_abs_diff"] < 1e-4
    assert manifest["metrics"]["holdout_accuracy"] > 0.9


def test_make_model_leaves_a_user_model_alone(online_project: Project, tmp_path: Path) -> None:
    models = tmp_path / "models"
    shutil.copytree(online_project.path / "models", models)
    manifest = manifest_of(online_project) | {"source": "user"}
    (models / "manifest.json").write_text(json.dumps(manifest))
    before = {p.name: p.read_bytes() for p in models.iterdir()}
    result = online_project.run(
        str(online_project.venv.python),
        "-m",
        f"{online_project.package}.demo_model",
        "--models-dir",
        str(models),
    )
    assert "user model" in result.stdout
    assert {p.name: p.read_bytes() for p in models.iterdir()} == before


def test_real_predictions_over_v1_and_v2(running_service: str, online_project: Project) -> None:
    manifest = manifest_of(online_project)
    rows = dataset_rows(4)
    response = httpx.post(f"{running_service}/v1/predict", json={"instances": rows}, timeout=10)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == {
        "name": manifest["name"],
        "version": manifest["version"],
        "sha256": manifest["sha256"],
    }
    assert body["latency_ms"] > 0
    labels = [p["label"] for p in body["predictions"]]
    assert labels == [0, 0, 0, 0]  # the first rows of the dataset are malignant (class 0)
    keyed = [dict(zip(manifest["input"]["features"], row, strict=True)) for row in rows]
    by_name = httpx.post(f"{running_service}/v1/predict", json={"instances": keyed}, timeout=10)
    assert by_name.json()["predictions"] == body["predictions"]

    name = manifest["name"]
    meta = httpx.get(f"{running_service}/v2/models/{name}", timeout=10).json()
    assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 30]}]
    request = {
        "inputs": [
            {
                "name": "input",
                "shape": [4, 30],
                "datatype": "FP32",
                "data": [v for row in rows for v in row],
            }
        ]
    }
    v2 = httpx.post(f"{running_service}/v2/models/{name}/infer", json=request, timeout=10)
    assert v2.status_code == 200, v2.text
    outputs = {o["name"]: o for o in v2.json()["outputs"]}
    assert outputs["label"]["data"] == labels
    scores = outputs["probabilities"]["data"]
    expected = [s for p in body["predictions"] for s in p["scores"]]
    assert scores == pytest.approx(expected, abs=1e-6)
    for probe in ("/health", "/ready", "/v2/health/live", "/v2/health/ready"):
        assert httpx.get(f"{running_service}{probe}", timeout=10).status_code == 200


@pytest.mark.slow
def test_schemathesis_finds_no_failure(running_service: str, tmp_path: Path) -> None:
    """Every check of schemathesis against the published OpenAPI: no 5xx on any input, every
    status and body documented, schema-valid requests answered, invalid ones refused."""
    output = schemathesis(running_service, tmp_path, max_examples=15)
    assert "13 selected / 13 total" in output  # every route, the v2 ones included


def test_metrics_after_traffic(running_service: str) -> None:
    rows = dataset_rows(3)
    for _ in range(5):
        httpx.post(f"{running_service}/v1/predict", json={"instances": rows}, timeout=10)
    text = httpx.get(f"{running_service}/metrics", timeout=10).text
    assert metric_value(text, 'model_predictions_total{model_version="1.0.0"}') >= 15
    assert metric_value(text, "model_ready") == 1.0
    assert 'model_info{device="cpu",framework="onnx"' in text
    assert 'http_requests_total{method="POST",route="/v1/predict",status="200"}' in text
    assert metric_value(text, 'model_drift_psi{model_version="1.0.0"}') >= 0.0
    assert "model_prediction_score_bucket" in text


def test_a_triton_client_calls_it_unchanged(running_service: str, online_project: Project) -> None:
    """tritonclient[http] sends binary tensors by default; both ways must work."""
    venv = online_project.venv
    pins = template_data()["pins"]
    online_project.run(
        str(venv.python),
        "-m",
        "pip",
        "install",
        "-q",
        f"tritonclient[http]=={pins['tritonclient']}",
    )
    script = textwrap.dedent(
        f"""
        import json, numpy as np, tritonclient.http as http
        client = http.InferenceServerClient(url={running_service.removeprefix("http://")!r})
        assert client.is_server_live() and client.is_server_ready()
        meta = client.get_model_metadata("breast-cancer-classifier")
        rows = np.asarray({dataset_rows(2)!r}, dtype=np.float32)
        out = {{}}
        for binary in (True, False):
            tensor = http.InferInput("input", list(rows.shape), "FP32")
            tensor.set_data_from_numpy(rows, binary_data=binary)
            wanted = [http.InferRequestedOutput("probabilities", binary_data=binary),
                      http.InferRequestedOutput("label", binary_data=binary)]
            result = client.infer("breast-cancer-classifier", [tensor], outputs=wanted)
            out[str(binary)] = [result.as_numpy("probabilities").tolist(),
                                result.as_numpy("label").tolist()]
        plain = client.infer("breast-cancer-classifier", [tensor])  # no outputs: all, binary
        out["default"] = [plain.as_numpy("probabilities").tolist(), plain.as_numpy("label").tolist()]
        print(json.dumps({{"meta": meta, "out": out}}))
        """
    )
    result = online_project.run(str(venv.python), "-c", script)
    report = json.loads(result.stdout)
    assert report["meta"]["inputs"][0]["shape"] == [-1, 30]
    assert report["out"]["True"] == report["out"]["False"] == report["out"]["default"]
    assert report["out"]["True"][1] == [0, 0]


def test_several_workers_share_one_view_of_metrics(online_project: Project) -> None:
    """APP_WORKERS=2 (the image's default): every worker ready, metrics summed across them."""
    with serve(online_project, env={"APP_WORKERS": "2"}) as service:
        deadline = time.monotonic() + 60  # /ready answered from the first worker up
        while service.output().count("sha256 verified") < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        body = predict_body(dataset_rows(1))
        statuses = [
            httpx.post(f"{service.url}/v1/predict", content=body, timeout=10).status_code
            for _ in range(20)
        ]
        assert statuses == [200] * 20
        text = httpx.get(f"{service.url}/metrics", timeout=10).text
        assert metric_value(text, 'model_predictions_total{model_version="1.0.0"}') == 20
        assert metric_value(text, "model_ready") == 1.0
        assert service.output().count("sha256 verified") == 2


def test_tracing_sends_spans_when_switched_on(online_project: Project) -> None:
    """APP_TRACING=true with the otel extra: one server span per request, over OTLP/HTTP."""
    online_project.run(
        str(online_project.venv.python), "-m", "pip", "install", "-q", "-e", ".[otel]"
    )
    received: list[bytes] = []

    class Collector(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(self.rfile.read(int(self.headers["content-length"])))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    collector = http.server.HTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=collector.serve_forever, daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{collector.server_port}/v1/traces"
    try:
        env = {"APP_TRACING": "true", "APP_OTLP_ENDPOINT": endpoint}
        with serve(online_project, env=env) as service:
            trace_id = "0af7651916cd43dd8448eb211c80319c"
            response = httpx.post(
                f"{service.url}/v1/predict",
                content=predict_body(dataset_rows(1)),
                headers={"traceparent": f"00-{trace_id}-b7ad6b7169203331-01"},
                timeout=10,
            )
            assert response.status_code == 200
        # the batch processor flushes on shutdown
        exported = b"".join(received)
        assert b"POST /v1/predict" in exported
        assert bytes.fromhex(trace_id) in exported  # the caller's trace continues
    finally:
        collector.shutdown()
        collector.server_close()


def test_a_user_model_from_mlship_new(
    online_project: Project, tmp_path: Path, venv_for: Callable[[Path], Venv]
) -> None:
    """``mlship new --model``: no feature names, source user; tests pass, service answers."""
    model = online_project.path / "models" / manifest_of(online_project)["file"]
    dest = tmp_path / "user-svc"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "mlship",
            "new",
            "online",
            str(dest),
            "--model",
            str(model),
            "--no-git",
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    project = Project(dest, "user_svc", venv_for(dest))
    assert "user model" in project.run("make", "model").stdout
    assert " passed" in project.run("make", "test").stdout
    with serve(project) as service:
        response = httpx.post(
            f"{service.url}/v1/predict", json={"instances": dataset_rows(1)}, timeout=10
        )
        assert response.status_code == 200, response.text
        keyed = httpx.post(
            f"{service.url}/v1/predict", json={"instances": [{"mean radius": 1.0}]}, timeout=10
        )
        assert keyed.status_code == 422
        assert "no feature names" in keyed.json()["error"]


# ---------------------------------------------------------------- protection


@pytest.fixture(scope="module")
def limited_service(online_project: Project) -> Iterator[str]:
    env = {"APP_MAX_CONCURRENCY": "2", "APP_MAX_BODY_BYTES": "4096", "APP_MAX_INSTANCES": "8"}
    with serve(online_project, env=env) as service:
        yield service.url


def test_too_large_is_413_and_too_many_instances_422(limited_service: str) -> None:
    big = {"instances": dataset_rows(40)}
    response = httpx.post(f"{limited_service}/v1/predict", json=big, timeout=10)
    assert response.status_code == 413
    many = {"instances": [[0.0] * 30] * 9}  # small body, too many instances
    response = httpx.post(f"{limited_service}/v1/predict", json=many, timeout=10)
    assert response.status_code == 422
    assert "9 instances, at most 8" in response.json()["error"]


def test_schema_errors_are_422_naming_the_field(limited_service: str) -> None:
    row = dataset_rows(1)[0]
    bad = [*row[:3], "high", *row[4:]]
    response = httpx.post(
        f"{limited_service}/v1/predict", json={"instances": [row, bad]}, timeout=10
    )
    assert response.status_code == 422
    assert "instances[1].mean area: must be a number" in response.json()["error"]
    missing = {"instances": [{"mean radius": 1.0}]}
    response = httpx.post(f"{limited_service}/v1/predict", json=missing, timeout=10)
    assert response.status_code == 422
    assert "instances[0].mean texture: field required" in response.json()["error"]


def test_overload_is_shed_with_503_and_retry_after(limited_service: str) -> None:
    body = predict_body(dataset_rows(1))
    held = [PartialRequest(limited_service, "/v1/predict", body) for _ in range(2)]
    time.sleep(0.3)  # both are in flight now: the limit of 2 is reached
    shed = httpx.post(f"{limited_service}/v1/predict", content=body, timeout=10)
    assert shed.status_code == 503
    assert shed.headers["retry-after"] == "1"
    assert [request.finish()[0] for request in held] == [200, 200]
    assert httpx.post(f"{limited_service}/v1/predict", content=body, timeout=10).status_code == 200
    text = httpx.get(f"{limited_service}/metrics", timeout=10).text
    assert metric_value(text, 'http_requests_rejected_total{reason="overload"}') >= 1


def test_shed_requests_are_counted_not_logged_one_by_one(
    online_project: Project, tmp_path: Path
) -> None:
    """A flood past the cap: every refusal is a 503 with Retry-After, counted in metrics;
    the log says so in one summary line, not one line per request."""
    env = {"APP_MAX_CONCURRENCY": "1", "APP_ADMISSION": "concurrency", "APP_LOG_JSON": "false"}
    env["APP_REQUEST_TIMEOUT_S"] = "120"  # the held request keeps its slot all along
    with serve(online_project, env=env) as service:
        body = predict_body(dataset_rows(1))
        held = PartialRequest(service.url, "/v1/predict", body)  # takes the only slot
        time.sleep(0.3)
        with httpx.Client(base_url=service.url, timeout=10) as client:
            statuses = [client.post("/v1/predict", content=body).status_code for _ in range(300)]
        assert held.finish()[0] == 200
        assert statuses == [503] * 300
        text = httpx.get(f"{service.url}/metrics", timeout=10).text
        assert metric_value(text, 'http_requests_rejected_total{reason="overload"}') == 300
        assert 'http_requests_total{method="POST",route="/v1/predict",status="503"} 300' in text
        log = service.output()
    assert log.count("shedding load") == 1
    assert "/v1/predict 503" not in log


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_under_keep_alive_load_leaves_no_request_unanswered(
    online_project: Project, tmp_path: Path, workers: str
) -> None:
    """Readiness fails, every request sent is answered (the last ones with Connection: close),
    clients are refused only when they open a new connection, the process exits in time;
    with one process and with several (the image's default) sharing the listening socket."""
    port = free_port()
    log = tmp_path / "serve.log"
    command = [str(online_project.venv.python), "-m", f"{online_project.package}.serving"]
    env = {"APP_PORT": str(port), "APP_DRAIN_TIMEOUT_S": "10", "APP_WORKERS": workers}
    process = start_process(online_project, command, env, log)
    stop = threading.Event()
    clients = [KeepAliveClient(port, predict_body(dataset_rows(1)), stop) for _ in range(16)]
    try:
        wait_ready(f"http://127.0.0.1:{port}", process, log)
        deadline = time.monotonic() + 60  # every worker up, not just the first
        while log.read_text().count("sha256 verified") < int(workers):
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        for client in clients:
            client.start()
        time.sleep(1.5)  # continuous load on 16 keep-alive connections
        assert all(c.answered > 0 for c in clients)
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=20)
        took = time.monotonic() - signalled
    finally:
        stop.set()
        for client in clients:
            client.join(timeout=15)
        stop_group(process)
    lost = sum(c.lost for c in clients)
    assert lost == 0, [e for c in clients for e in c.errors]
    assert sum(c.told_to_close for c in clients) == len(clients)  # each heard Connection: close
    assert sum(c.refused for c in clients) == len(clients)  # and none got in afterwards
    assert code in (0, -signal.SIGTERM)
    assert took < 10


def test_tampered_model_stops_the_start(online_project: Project, tmp_path: Path) -> None:
    models = tmp_path / "models"
    shutil.copytree(online_project.path / "models", models)
    manifest = manifest_of(online_project)
    artifact = models / manifest["file"]
    data = bytearray(artifact.read_bytes())
    data[-1] ^= 0xFF
    artifact.write_bytes(bytes(data))
    log = tmp_path / "serve.log"
    process = start_process(
        online_project,
        ["make", "serve", f"PYTHON={online_project.venv.python}"],
        {"PORT": str(free_port()), "APP_MODELS_DIR": str(models)},
        log,
    )
    try:
        code = process.wait(timeout=60)
    finally:
        stop_group(process)
    output = log.read_text()
    assert code != 0
    assert "sha256 mismatch" in output
    assert str(artifact) in output
    assert manifest["sha256"] in output
    assert hashlib.sha256(bytes(data)).hexdigest() in output


def test_sigterm_drains_requests_in_flight(online_project: Project, tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    command = [str(online_project.venv.python), "-m", f"{online_project.package}.serving"]
    process = start_process(online_project, command, {"APP_PORT": str(port)}, log)
    try:
        wait_ready(url, process, log)
        body = predict_body(dataset_rows(2))
        in_flight = [PartialRequest(url, "/v1/predict", body) for _ in range(3)]
        time.sleep(0.3)
        process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert process.poll() is None, "exited with requests in flight"
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/health", timeout=2)  # no new connections while draining
        results = [request.finish() for request in in_flight]
        assert [status for status, _ in results] == [200, 200, 200]
        assert all(len(json.loads(content)["predictions"]) == 2 for _, content in results)
        # uvicorn re-raises the signal once drained: "terminated by SIGTERM", not a crash
        assert process.wait(timeout=20) in (0, -signal.SIGTERM)
    finally:
        stop_group(process)


# ---------------------------------------------------------------- other options


@pytest.fixture(scope="module")
def forest_project(
    tmp_path_factory: pytest.TempPathFactory, venv_for: Callable[[Path], Venv]
) -> Project:
    project = prepare_project(
        tmp_path_factory.mktemp("forest") / "forest-service",
        venv_for,
        build_model=False,
        project_name="forest-service",
        package="forest_service",
    )
    project.run("make", "model", DEMO_MODEL="forest")
    return project


def test_forest_batches_concurrent_requests(forest_project: Project) -> None:
    # the fixed cap only: on a loaded test machine the budget would rightly shed some of
    # these, and this test is about batching (shedding has tests of its own)
    with serve(forest_project, env={"APP_ADMISSION": "concurrency"}) as service:
        assert "micro-batching on" in service.output()
        body = predict_body(dataset_rows(1))

        def call(_: int) -> int:
            with httpx.Client(timeout=10) as client:
                return sum(
                    client.post(f"{service.url}/v1/predict", content=body).status_code == 200
                    for _ in range(25)
                )

        with ThreadPoolExecutor(16) as pool:
            ok = sum(pool.map(call, range(16)))
        assert ok == 400
        text = httpx.get(f"{service.url}/metrics", timeout=10).text
        calls = metric_value(text, "model_batch_size_count")
        rows = metric_value(text, "model_batch_size_sum")
        assert rows >= 400
        assert rows / calls > 1  # mean batch size: concurrent requests shared model calls
        assert metric_value(text, 'model_predictions_total{model_version="1.0.0"}') >= 400


@pytest.fixture(scope="module")
def sklearn_project(
    tmp_path_factory: pytest.TempPathFactory, venv_for: Callable[[Path], Venv]
) -> Project:
    return prepare_project(
        tmp_path_factory.mktemp("sklearn") / "skops-service",
        venv_for,
        project_name="skops-service",
        package="skops_service",
        model_format="sklearn",
    )


def test_sklearn_project_serves_its_skops_model_converted_to_onnx(
    sklearn_project: Project,
) -> None:
    pyproject = (sklearn_project.path / "pyproject.toml").read_text()
    assert "onnxruntime==" in pyproject and "skops==" in pyproject  # both runtimes
    manifest = manifest_of(sklearn_project)
    assert (manifest["framework"], manifest["file"]) == ("onnx", "model.onnx")
    assert manifest["source_model"]["file"] == "model.skops"
    assert manifest["conversion"]["parity"]["labels_equal"] is True
    sklearn_project.run("make", "lint")
    assert " passed" in sklearn_project.run("make", "test").stdout
    with serve(sklearn_project) as service:
        rows = dataset_rows(2)
        response = httpx.post(f"{service.url}/v1/predict", json={"instances": rows}, timeout=10)
        assert response.status_code == 200, response.text
        assert [p["label"] for p in response.json()["predictions"]] == [0, 0]


@pytest.fixture(scope="module")
def gpu_project(
    tmp_path_factory: pytest.TempPathFactory, venv_for: Callable[[Path], Venv]
) -> Project:
    return prepare_project(
        tmp_path_factory.mktemp("gpu") / "gpu-service",
        venv_for,
        project_name="gpu-service",
        package="gpu_service",
        gpu=True,
    )


def test_gpu_project_runs_on_cpu_in_auto_and_refuses_cuda(gpu_project: Project) -> None:
    assert "device: auto" in (gpu_project.path / "settings.yaml").read_text()
    with serve(gpu_project) as service:
        output = service.output()
        assert "no usable GPU" in output and "running on the CPU" in output
        assert "model device cpu" in output
        text = httpx.get(f"{service.url}/metrics", timeout=10).text
        assert 'device="cpu"' in text
    log = gpu_project.path / "cuda.log"
    process = start_process(
        gpu_project,
        ["make", "serve", f"PYTHON={gpu_project.venv.python}"],
        {"PORT": str(free_port()), "APP_DEVICE": "cuda"},
        log,
    )
    try:
        assert process.wait(timeout=60) != 0
    finally:
        stop_group(process)
    output = log.read_text()
    assert "refusing to start" in output
    assert "APP_DEVICE=cuda but no usable GPU" in output


@pytest.mark.slow
def test_torch_project(
    tmp_path_factory: pytest.TempPathFactory, venv_for: Callable[[Path], Venv]
) -> None:
    project = prepare_project(
        tmp_path_factory.mktemp("torch") / "torch-service",
        venv_for,
        project_name="torch-service",
        package="torch_service",
        model_format="torch",
    )
    assert (
        f"torch=={template_data()['pins']['torch']}"
        in (project.path / "pyproject.toml").read_text()
    )
    manifest = manifest_of(project)
    assert manifest["framework"] == "torch"
    project.run("make", "lint")
    assert " passed" in project.run("make", "test", timeout=900).stdout
    with serve(project) as service:
        assert "micro-batching on" in service.output()
        rows = dataset_rows(3)
        response = httpx.post(f"{service.url}/v1/predict", json={"instances": rows}, timeout=10)
        assert response.status_code == 200, response.text
        assert [p["label"] for p in response.json()["predictions"]] == [0, 0, 0]
