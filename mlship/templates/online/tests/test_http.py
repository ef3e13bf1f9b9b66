"""The HTTP contract: /v1/predict, the v2 protocol, probes, limits and metrics."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from project import module

app_module = module("serving.app")
ServingSettings = module("serving.settings").ServingSettings
v2 = module("serving.v2")


def make_settings(models_dir: Path, **overrides: Any) -> Any:
    return ServingSettings(models_dir=models_dir, device="cpu", **overrides)


@pytest.fixture
def client(models_dir: Path, predictor: Any) -> Iterator[TestClient]:
    app = app_module.create_app(make_settings(models_dir), predictor=predictor)
    with TestClient(app) as test_client:
        yield test_client


def test_predict_one_and_many(client: TestClient, instances: list[list[float]]) -> None:
    one = client.post("/v1/predict", json={"instances": instances[:1]})
    assert one.status_code == 200, one.text
    body = one.json()
    assert len(body["predictions"]) == 1
    assert set(body["model"]) == {"name", "version"}
    assert body["latency_ms"] >= 0
    assert one.headers["x-request-id"]
    many = client.post("/v1/predict", json={"instances": instances})
    assert many.status_code == 200
    assert len(many.json()["predictions"]) == len(instances)
    first = many.json()["predictions"][0]  # same answer alone or in a batch (up to rounding)
    assert first.get("label") == body["predictions"][0].get("label")
    assert first.get("scores") == pytest.approx(body["predictions"][0].get("scores"), abs=1e-6)


def test_request_id_is_echoed(client: TestClient, instances: list[list[float]]) -> None:
    response = client.post(
        "/v1/predict", json={"instances": instances[:1]}, headers={"X-Request-ID": "abc-123"}
    )
    assert response.headers["x-request-id"] == "abc-123"


def test_probes(client: TestClient) -> None:
    assert client.get("/health").status_code == 200
    assert client.get("/ready").json()["status"] == "ready"
    assert client.get("/v2/health/live").status_code == 200
    assert client.get("/v2/health/ready").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/predict", "/v2/models/{name}/infer", "/ready"} <= set(paths)


def test_schema_errors_are_422_naming_the_field(client: TestClient, predictor: Any) -> None:
    width = predictor.schema.n_features
    response = client.post("/v1/predict", json={"instances": [[0.0] * width, [0.0] * (width - 1)]})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "instances", 1]
    response = client.post("/v1/predict", json={"instances": [[0.0] * (width - 1) + ["x"]]})
    assert response.status_code == 422
    assert str(predictor.schema.field(width - 1)) in response.json()["error"]
    assert client.post("/v1/predict", json={"rows": []}).status_code == 422
    assert client.post("/v1/predict", content=b"{not json").status_code == 422


def test_body_and_batch_limits_give_413(models_dir: Path, predictor: Any) -> None:
    settings = make_settings(models_dir, max_body_bytes=2048, max_instances=2)
    width = predictor.schema.n_features
    with TestClient(app_module.create_app(settings, predictor=predictor)) as small:
        big = {"instances": [[0.123456789] * width] * 20}
        assert small.post("/v1/predict", json=big).status_code == 413
        three = {"instances": [[0.0] * width] * 3}
        assert small.post("/v1/predict", json=three).status_code == 413

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted while read
            yield json.dumps(big).encode()

        assert small.post("/v1/predict", content=chunks()).status_code == 413


def test_not_ready_is_503_with_retry_after(tmp_path: Path, instances: list[list[float]]) -> None:
    app = app_module.create_app(make_settings(tmp_path))  # empty folder: nothing to load
    with TestClient(app) as not_ready:
        response = not_ready.post("/v1/predict", json={"instances": instances})
        assert response.status_code == 503
        assert "retry-after" in response.headers
        assert not_ready.get("/ready").status_code == 503
        assert not_ready.get("/health").status_code == 503  # the load failed: restart me
        assert "manifest" in not_ready.get("/health").json()["error"]


def _slow_body(payload: bytes, pause: float) -> Any:
    async def body() -> AsyncIterator[bytes]:
        yield payload[:10]
        await asyncio.sleep(pause)
        yield payload[10:]

    return body()


def test_overload_is_shed_with_503(models_dir: Path, predictor: Any) -> None:
    app = app_module.create_app(make_settings(models_dir, max_concurrency=1), predictor=predictor)
    payload = json.dumps({"instances": [[0.0] * predictor.schema.n_features]}).encode()

    async def scenario() -> tuple[int, httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            slow = asyncio.create_task(http.post("/v1/predict", content=_slow_body(payload, 0.5)))
            await asyncio.sleep(0.1)
            shed = await http.post("/v1/predict", content=payload)
            return (await slow).status_code, shed

    slow_status, shed = asyncio.run(scenario())
    assert slow_status == 200
    assert shed.status_code == 503
    assert shed.headers["retry-after"] == "1"


def test_slow_requests_time_out_with_504(models_dir: Path, predictor: Any) -> None:
    settings = make_settings(models_dir, request_timeout_s=0.1)
    app = app_module.create_app(settings, predictor=predictor)
    payload = json.dumps({"instances": [[0.0] * predictor.schema.n_features]}).encode()

    async def scenario() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            return await http.post("/v1/predict", content=_slow_body(payload, 0.5))

    assert asyncio.run(scenario()).status_code == 504


def test_v2_metadata_and_json_inference(client: TestClient, predictor: Any) -> None:
    name = predictor.info.name
    metadata = client.get(f"/v2/models/{name}").json()
    assert metadata["inputs"][0]["shape"] == [-1, predictor.schema.n_features]
    assert client.get(f"/v2/models/{name}/ready").status_code == 200
    assert client.get("/v2/models/no-such-model").status_code == 404
    rows = np.zeros((2, predictor.schema.n_features), dtype=np.float32)
    request = {
        "id": "r1",
        "inputs": [
            {
                "name": metadata["inputs"][0]["name"],
                "shape": [2, predictor.schema.n_features],
                "datatype": "FP32",
                "data": rows.reshape(-1).tolist(),
            }
        ],
    }
    response = client.post(f"/v2/models/{name}/infer", json=request)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == "r1"
    assert body["model_name"] == name
    outputs = {o["name"]: o for o in body["outputs"]}
    scores_name = metadata["outputs"][0]["name"]
    expected = predictor.run(rows)
    got = np.asarray(outputs[scores_name]["data"], dtype=np.float32).reshape(expected.shape)
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_v2_binary_tensors(client: TestClient, predictor: Any) -> None:
    name = predictor.info.name
    rows = np.linspace(0, 1, 3 * predictor.schema.n_features, dtype=np.float32).reshape(3, -1)
    raw = rows.tobytes()
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": predictor.schema.name,
                    "shape": list(rows.shape),
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": len(raw)},
                }
            ],
            "parameters": {"binary_data_output": True},
        }
    ).encode()
    response = client.post(
        f"/v2/models/{name}/infer",
        content=header + raw,
        headers={"Inference-Header-Content-Length": str(len(header))},
    )
    assert response.status_code == 200, response.text
    length = int(response.headers["inference-header-content-length"])
    head = json.loads(response.content[:length])
    first = head["outputs"][0]
    size = first["parameters"]["binary_data_size"]
    scores = np.frombuffer(response.content[length : length + size], dtype=np.float32)
    np.testing.assert_allclose(scores.reshape(first["shape"]), predictor.run(rows), rtol=1e-5)


def test_v2_errors_use_the_error_field(client: TestClient, predictor: Any) -> None:
    name = predictor.info.name
    bad = {"inputs": [{"name": "nope", "shape": [1, 1], "datatype": "FP32", "data": [1.0]}]}
    response = client.post(f"/v2/models/{name}/infer", json=bad)
    assert response.status_code == 400
    assert "inputs[0].name" in response.json()["error"]


def test_metrics_expose_the_contract(client: TestClient, instances: list[list[float]]) -> None:
    client.post("/v1/predict", json={"instances": instances})
    text = client.get("/metrics").text
    for name in (
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "http_requests_in_flight",
        "http_requests_rejected_total",
        "model_predictions_total",
        "model_inference_duration_seconds_bucket",
        "model_batch_size_bucket",
        "model_prediction_score_bucket",
        "model_drift_psi",
        "model_ready 1.0",
        "model_info{",
    ):
        assert name in text, name
    assert 'http_requests_total{method="POST",route="/v1/predict",status="200"} 1.0' in text
    assert f'model_predictions_total{{model_version="{_version(client)}"}} {len(instances)}' in text


def _version(client: TestClient) -> str:
    version: str = client.get("/ready").json()["version"]
    return version


def test_micro_batching_shares_model_calls(models_dir: Path, predictor: Any) -> None:
    settings = make_settings(models_dir, micro_batching="on", inference_threads=1)
    app = app_module.create_app(settings, predictor=predictor)
    engine = app.state.engine
    rng = np.random.default_rng(1)
    rows = rng.normal(size=(40, predictor.schema.n_features)).astype(np.float32)

    async def scenario() -> list[np.ndarray]:
        return list(await asyncio.gather(*(engine.infer(rows[i : i + 1]) for i in range(40))))

    results = asyncio.run(scenario())
    np.testing.assert_allclose(np.concatenate(results), predictor.run(rows), rtol=1e-5, atol=1e-6)
    text = app.state.metrics.render().decode()
    calls = next(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("model_batch_size_count")
    )
    assert calls < 40  # queued requests were served together
    engine.close()


def test_a_failing_model_call_is_a_500_with_a_message(
    models_dir: Path, predictor: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = app_module.create_app(make_settings(models_dir), predictor=predictor)

    def broken(rows: np.ndarray) -> np.ndarray:
        raise RuntimeError("device lost")

    monkeypatch.setattr(app.state.engine, "_run", broken)
    monkeypatch.setattr(app.state.engine, "_batcher", None)
    with TestClient(app) as failing:
        width = predictor.schema.n_features
        response = failing.post("/v1/predict", json={"instances": [[0.0] * width]})
        assert response.status_code == 500
        assert "inference failed" in response.json()["error"]
        assert failing.get("/health").status_code == 200  # the process itself is fine
