"""The pipeline: declaration checks, executor semantics, versioning and the HTTP service.

Executor tests drive the real executor and adapters with scripted stand-ins for the stage
*transport* (a stage that is slow, down or flaky on cue); the service tests use the real
stage models built by ``make model``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from project import (
    MODELS,
    adapters,
    app,
    breaker,
    build,
    executor,
    inference,
    metrics,
    pipeline_manifest,
    pipeline_settings,
    spec,
    stages,
    tracing,
)
from prometheus_client import CollectorRegistry

HEADER = 'name: test\nversion: "1"\nstages:\n'
INTENT = """
  - name: intent
    adapter: text_classifier
    model: intent
    endpoint: http://127.0.0.1:9
    inputs: [request.text]
    timeout_ms: {intent_timeout}
    retries: 0
    fallback: {intent_fallback}
"""
URGENCY = """
  - name: urgency
    adapter: text_classifier
    model: urgency
    endpoint: http://127.0.0.1:9
    inputs: [request.text]
    timeout_ms: 200
    fallback: default
    default: {label: normal}
"""
ENTITIES = """
  - name: entities
    adapter: token_tagger
    model: entities
    endpoint: http://127.0.0.1:9
    inputs: [request.text, intent]
    timeout_ms: {entities_timeout}
    retries: {retries}
    backoff_ms: 2
    backoff_max_ms: 10
    fallback: skip
    circuit: {{failures: 3, reset_s: {reset_s}}}
"""


def write_pipeline(tmp_path: Path, **values: Any) -> Path:
    options = {
        "intent_timeout": 200,
        "intent_fallback": "fail",
        "entities_timeout": 200,
        "retries": 0,
        "reset_s": 60,
    }
    options.update(values)
    text = HEADER + INTENT.format(**options) + URGENCY + ENTITIES.format(**options)
    path = tmp_path / "pipeline.yaml"
    path.write_text(text)
    return path


class Scripted:
    """A stage transport that answers uniform scores after ``delay_s``, failing on cue."""

    location = "remote"

    def __init__(self, classes: int, delay_s: float = 0.0, fail: int = 0, error: Any = None):
        self.classes = classes
        self.delay_s = delay_s
        self.fail = fail  # the first `fail` calls fail; -1: every call
        self.error = error or executor.StageUnavailable
        self.calls: list[tuple[float, float]] = []  # (start, timeout_s)
        self.info = {"name": "scripted", "version": "0", "sha256": "0" * 64, "framework": "onnx"}

    async def call(self, rows: np.ndarray, timeout_s: float, request_id: str) -> np.ndarray:
        self.calls.append((time.monotonic(), timeout_s))
        await asyncio.sleep(self.delay_s)
        if self.fail < 0 or len(self.calls) <= self.fail:
            raise self.error("scripted failure")
        return np.full((len(rows), self.classes), 1.0 / self.classes, dtype=np.float32)

    async def probe(self) -> bool:
        return True

    async def close(self) -> None:
        return None


def make_executor(path: Path, stages: dict[str, Scripted]) -> tuple[Any, Any]:
    pipeline_spec, order = spec.load_spec(path)
    manifest = pipeline_manifest.load_pipeline_manifest(MODELS)
    registry_metrics = metrics.Metrics(100, CollectorRegistry())
    bound = {
        s.name: executor.BoundStage(
            s,
            adapters.build_adapter(s, manifest),
            stages[s.name],
            executor.breaker_for(s, registry_metrics),
        )
        for s in pipeline_spec.stages
    }
    return executor.Executor(
        pipeline_spec, order, bound, registry_metrics, random.Random(0)
    ), registry_metrics


def stand_ins(**overrides: Scripted) -> dict[str, Scripted]:
    stages = {"intent": Scripted(4), "urgency": Scripted(2), "entities": Scripted(5)}
    stages.update(overrides)
    return stages


def run(ex: Any, deadline_ms: float = 1000.0, texts: tuple[str, ...] = ("fly to Oslo",)) -> Any:
    async def go() -> Any:
        return await ex.run(list(texts), time.monotonic() + deadline_ms / 1000, "test")

    return asyncio.run(go())


def sample(m: Any, name: str, labels: dict[str, str]) -> float:
    value = m.registry.get_sample_value(name, labels)
    return float(value or 0.0)


# ------------------------------------------------------------------ declaration


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("inputs: [request.text, intent]", "inputs: [request.text, ranker]"), "unknown stage"),
        (("inputs: [request.text, intent]", "inputs: [request.body, intent]"), "request field"),
        (("inputs: [request.text, intent]", "inputs: [request.text, entities]"), "own output"),
        (("default: {label: normal}", "default: null"), "default value"),
        (("name: urgency", "name: intent"), "unique"),
        (("    model: urgency\n    endpoint: http://127.0.0.1:9\n", ""), "model"),
        (
            ("timeout_ms: 200\n    fallback: default", "timeout_ms: -1\n    fallback: default"),
            "timeout_ms",
        ),
        (("adapter: token_tagger", "adapter: reranker"), "adapter"),
    ],
)
def test_bad_declarations_are_named(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    path = write_pipeline(tmp_path)
    path.write_text(path.read_text().replace(*change, 1))
    with pytest.raises(spec.SpecError, match=message):
        spec.load_spec(path)


def test_a_cycle_is_named(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.yaml"
    stage = """
  - name: {name}
    adapter: token_tagger
    model: entities
    inputs: [request.text, {other}]
    timeout_ms: 10
"""
    path.write_text(HEADER + stage.format(name="a", other="b") + stage.format(name="b", other="a"))
    with pytest.raises(spec.SpecError, match=r"cycle: a -> b -> a"):
        spec.load_spec(path)


def test_the_shipped_pipeline_is_valid_and_ordered(pipeline_yaml: Path) -> None:
    pipeline_spec, order = spec.load_spec(pipeline_yaml)
    assert order.index("intent") < order.index("entities")
    assert {s.name for s in pipeline_spec.stages} == set(order)


def test_a_timeout_over_the_deadline_is_refused(pipeline_yaml: Path) -> None:
    settings = pipeline_settings.PipelineSettings(
        pipeline_file=pipeline_yaml, models_dir=MODELS, deadline_ms=1, device="cpu"
    )
    with pytest.raises(spec.SpecError, match="exceeds the request deadline"):
        build.build_pipeline(settings, metrics.Metrics(100, CollectorRegistry()))


# ------------------------------------------------------------------ versioning


def test_stages_that_do_not_fit_are_refused(pipeline_models: Path, pipeline_yaml: Path) -> None:
    path = pipeline_models / "pipeline.json"
    document = json.loads(path.read_text())
    document["conditions"]["entities"] = ["weather", "shopping"]
    path.write_text(json.dumps(document))
    settings = pipeline_settings.PipelineSettings(
        pipeline_file=pipeline_yaml, models_dir=pipeline_models, device="cpu"
    )
    with pytest.raises(adapters.CompatibilityError, match="trained for conditions"):
        build.build_pipeline(settings, metrics.Metrics(100, CollectorRegistry()))


def test_a_stage_model_other_than_the_recorded_one_is_refused(
    pipeline_models: Path, pipeline_yaml: Path
) -> None:
    path = pipeline_models / "pipeline.json"
    document = json.loads(path.read_text())
    document["stages"]["urgency"]["version"] = "0.9.0"
    path.write_text(json.dumps(document))
    settings = pipeline_settings.PipelineSettings(
        pipeline_file=pipeline_yaml, models_dir=pipeline_models, device="cpu"
    )
    with pytest.raises(adapters.CompatibilityError, match=r"records urgency-classifier 0\.9\.0"):
        build.build_pipeline(settings, metrics.Metrics(100, CollectorRegistry()))


def test_a_tampered_stage_model_is_refused(pipeline_models: Path, pipeline_yaml: Path) -> None:
    record = json.loads((pipeline_models / "pipeline.json").read_text())["stages"]["entities"]
    artifact = pipeline_models / record["dir"] / record["file"]
    artifact.write_bytes(artifact.read_bytes() + b"\0")
    settings = pipeline_settings.PipelineSettings(
        pipeline_file=pipeline_yaml, models_dir=pipeline_models, device="cpu"
    )
    with pytest.raises(inference.ModelLoadError, match="sha256 mismatch"):
        build.build_pipeline(settings, metrics.Metrics(100, CollectorRegistry()))


# ------------------------------------------------------------------ executor


def test_independent_stages_run_concurrently(tmp_path: Path) -> None:
    stages = stand_ins(intent=Scripted(4, delay_s=0.08), urgency=Scripted(2, delay_s=0.08))
    ex, _ = make_executor(write_pipeline(tmp_path), stages)
    started = time.monotonic()
    outcome = run(ex)
    elapsed = time.monotonic() - started
    assert elapsed < 0.15, f"took {elapsed:.3f} s: intent and urgency did not overlap"
    assert abs(stages["intent"].calls[0][0] - stages["urgency"].calls[0][0]) < 0.03
    assert {r.status for r in outcome.reports.values()} == {"ok"}


def test_a_stage_waits_for_its_inputs(tmp_path: Path) -> None:
    stages = stand_ins(intent=Scripted(4, delay_s=0.05))
    ex, _ = make_executor(write_pipeline(tmp_path), stages)
    started = time.monotonic()
    run(ex)
    assert stages["entities"].calls[0][0] - started >= 0.05


def test_the_deadline_is_split_along_the_chain(tmp_path: Path) -> None:
    ex, _ = make_executor(
        write_pipeline(tmp_path, intent_timeout=40, entities_timeout=60), stand_ins()
    )
    outcome = run(ex, deadline_ms=50)
    # intent's share: 50 ms x 40 / (40 + 60); entities then gets what is left
    assert outcome.reports["intent"].budget_ms == pytest.approx(20, abs=2)
    assert outcome.reports["entities"].budget_ms <= 50 - outcome.reports["intent"].latency_ms
    assert stages_timeout(ex, "entities") <= 0.05


def stages_timeout(ex: Any, name: str) -> float:
    return float(ex.bound[name].stage.calls[0][1])


def test_retries_recover_a_flaky_stage(tmp_path: Path) -> None:
    flaky = Scripted(5, fail=2)
    ex, m = make_executor(write_pipeline(tmp_path, retries=2), stand_ins(entities=flaky))
    outcome = run(ex)
    report = outcome.reports["entities"]
    assert (report.status, report.attempts) == ("ok", 3)
    assert sample(m, "pipeline_stage_retries_total", {"stage": "entities"}) == 2
    assert (
        sample(m, "pipeline_stage_errors_total", {"stage": "entities", "reason": "unavailable"})
        == 2
    )


def test_retries_stay_inside_the_stage_time(tmp_path: Path) -> None:
    slow = Scripted(5, delay_s=1.0)
    ex, m = make_executor(
        write_pipeline(tmp_path, entities_timeout=30, retries=5), stand_ins(entities=slow)
    )
    started = time.monotonic()
    outcome = run(ex)
    elapsed = time.monotonic() - started
    report = outcome.reports["entities"]
    assert report.status == "skipped" and "timeout" in (report.error or "")
    assert elapsed < 0.1, f"{elapsed:.3f} s: the stage ran past its 30 ms"
    assert report.attempts == 1  # a timeout used the whole stage time: no room for a retry
    assert sample(m, "pipeline_stage_errors_total", {"stage": "entities", "reason": "timeout"}) == 1
    assert outcome.reports["entities"].output is None


def test_the_circuit_opens_and_the_fallback_answers_fast(tmp_path: Path) -> None:
    down = Scripted(5, fail=-1)
    ex, m = make_executor(write_pipeline(tmp_path, reset_s=0.2), stand_ins(entities=down))
    for _ in range(3):
        assert run(ex).reports["entities"].status == "skipped"
    assert sample(m, "pipeline_circuit_state", {"stage": "entities"}) == 2
    started = time.monotonic()
    outcome = run(ex)
    assert time.monotonic() - started < 0.02
    assert len(down.calls) == 3  # the open circuit sent nothing
    assert "circuit_open" in (outcome.reports["entities"].error or "")
    assert (
        sample(m, "pipeline_stage_fallbacks_total", {"stage": "entities", "fallback": "skip"}) == 4
    )
    time.sleep(0.25)
    down.fail = 0  # the dependency is back: the half-open probe closes the circuit
    assert run(ex).reports["entities"].status == "ok"
    assert sample(m, "pipeline_circuit_state", {"stage": "entities"}) == 0
    assert sample(m, "pipeline_circuit_opened_total", {"stage": "entities"}) == 1


def test_a_failing_required_stage_fails_the_request(tmp_path: Path) -> None:
    ex, _ = make_executor(write_pipeline(tmp_path), stand_ins(intent=Scripted(4, fail=-1)))
    with pytest.raises(executor.PipelineFailed) as caught:
        run(ex)
    assert (caught.value.status, caught.value.stage) == (503, "intent")
    slow, _ = make_executor(
        write_pipeline(tmp_path, intent_timeout=20), stand_ins(intent=Scripted(4, delay_s=1))
    )
    with pytest.raises(executor.PipelineFailed) as caught:
        run(slow)
    assert caught.value.status == 504


def test_default_and_skip_fallbacks(tmp_path: Path) -> None:
    ex, _ = make_executor(
        write_pipeline(tmp_path, intent_fallback="skip"),
        stand_ins(intent=Scripted(4, fail=-1), urgency=Scripted(2, fail=-1)),
    )
    outcome = run(ex)
    assert outcome.reports["urgency"].status == "default"
    assert outcome.reports["urgency"].output == [{"label": "normal"}]
    assert outcome.reports["intent"].status == "skipped"
    entities = outcome.reports["entities"]
    assert entities.status == "skipped" and "input_unavailable" in (entities.error or "")


def test_breaker_half_open_allows_one_probe() -> None:
    now = [0.0]
    circuit = breaker.CircuitBreaker(2, 1.0, clock=lambda: now[0])
    circuit.failure()
    assert circuit.state == breaker.State.CLOSED
    circuit.failure()
    assert circuit.state == breaker.State.OPEN and not circuit.allow()
    now[0] = 1.5
    assert circuit.allow() and circuit.state == breaker.State.HALF_OPEN
    assert not circuit.allow()  # one probe at a time
    circuit.failure()
    assert circuit.state == breaker.State.OPEN


# ------------------------------------------------------------------ the service


@pytest.fixture(scope="module")
def client() -> Any:
    settings = pipeline_settings.PipelineSettings(
        pipeline_file=Path(__file__).parent.parent / "pipeline.yaml",
        models_dir=MODELS,
        device="cpu",
        latency_budget_ms=500,
    )
    registry_metrics = metrics.Metrics(500, CollectorRegistry())
    service = app.create_pipeline_app(
        settings, build.build_pipeline(settings, registry_metrics), registry_metrics
    )
    with TestClient(service) as test_client:
        yield test_client


def test_real_predictions_from_every_stage(client: Any) -> None:
    texts = [
        "book a flight from Paris to Tokyo tomorrow",
        "play some Daft Punk right now",
        "what is the weather in Lisbon today",
        "wake me up at 7:30",
    ]
    response = client.post("/v1/predict", json={"instances": [{"text": t} for t in texts]})
    assert response.status_code == 200, response.text
    body = response.json()
    intents = [p["intent"]["label"] for p in body["predictions"]]
    assert intents == ["book_flight", "play_music", "weather", "set_alarm"]
    first = {(e["type"], e["text"]) for e in body["predictions"][0]["entities"]}
    assert {("CITY", "Paris"), ("CITY", "Tokyo"), ("DATE", "tomorrow")} <= first
    assert body["predictions"][1]["urgency"]["label"] == "urgent"
    recorded = json.loads((MODELS / "pipeline.json").read_text())["stages"]
    for name, stage in body["stages"].items():
        assert stage["status"] == "ok" and stage["latency_ms"] >= 0
        assert stage["model"]["sha256"] == recorded[name]["sha256"]
        assert stage["model"]["version"] == recorded[name]["version"]


def test_the_intent_selects_the_entity_types(client: Any) -> None:
    """Entity types an intent never has are masked out, whatever the token looks like."""
    texts = ["play Paris at 7:30", "weather in Adele at noon", "book a flight at 9 pm to Rome"]
    response = client.post("/v1/predict", json={"instances": [{"text": t} for t in texts]})
    masks = json.loads((MODELS / "pipeline.json").read_text())["label_mask"]
    for prediction in response.json()["predictions"]:
        allowed = masks[prediction["intent"]["label"]]
        assert all(e["type"] in allowed for e in prediction["entities"]), prediction
    assert masks["play_music"] == ["ARTIST"]


@pytest.mark.parametrize(
    ("body", "status", "where"),
    [
        ({"instances": [{"text": 3}]}, 422, ["instances", 0, "text"]),
        ({"instances": [{"txt": "hi"}]}, 422, ["instances", 0, "text"]),
        ({"instances": []}, 422, ["instances"]),
        ({"instances": [{"text": "x"}] * 300}, 413, None),
    ],
)
def test_bad_requests_are_refused_with_the_field(
    client: Any, body: Any, status: int, where: Any
) -> None:
    response = client.post("/v1/predict", json=body)
    assert response.status_code == status
    if where is not None:
        assert next(p["loc"][: len(where)] for p in response.json()["detail"]) == where


def test_readiness_and_metrics_name_every_stage(client: Any) -> None:
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert set(ready.json()["stages"]) == {"intent", "urgency", "entities"}
    client.post("/v1/predict", json={"instances": [{"text": "play adele"}]})
    text = client.get("/metrics").text
    for name in (
        'pipeline_stage_duration_seconds_bucket{le="0.005",location="local",stage="entities"}',
        "model_info{framework=",
        'http_requests_total{method="POST",route="/v1/predict",status="200"}',
    ):
        assert name in text


def test_attempt_timeouts_leave_room_for_retries(tmp_path: Path) -> None:
    path = write_pipeline(tmp_path, entities_timeout=90, retries=2)
    capped = path.read_text().replace("retries: 2", "retries: 2\n    attempt_timeout_ms: 20")
    path.write_text(capped)
    slow = Scripted(5, delay_s=1.0)
    ex, m = make_executor(path, stand_ins(entities=slow))
    outcome = run(ex)
    report = outcome.reports["entities"]
    assert (report.status, report.attempts) == ("skipped", 3)
    assert all(timeout <= 0.0201 for _, timeout in slow.calls)
    assert sample(m, "pipeline_stage_retries_total", {"stage": "entities"}) == 2
    assert sample(m, "pipeline_stage_errors_total", {"stage": "entities", "reason": "timeout"}) == 3
    assert report.latency_ms < 90


def test_stages_are_traced_when_tracing_is_on(tmp_path: Path) -> None:
    sdk = pytest.importorskip("opentelemetry.sdk.trace", reason="the otel extra is not installed")
    from opentelemetry import propagate
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = sdk.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    traced = tracing.Tracing(provider.get_tracer("test"), propagate)
    ex, _ = make_executor(write_pipeline(tmp_path), stand_ins(urgency=Scripted(2, fail=-1)))
    ex.tracing = traced
    with traced.span("request") as parent:
        run(ex)
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert {"stage intent", "stage urgency", "stage entities"} <= set(spans)
    assert spans["stage urgency"].attributes["stage.status"] == "default"
    assert spans["stage entities"].parent.span_id == parent.get_span_context().span_id
    headers: dict[str, str] = {}
    with traced.span("outgoing"):
        traced.inject(headers)
    assert headers["traceparent"].startswith("00-")


def test_a_cancelled_probe_does_not_wedge_the_circuit(tmp_path: Path) -> None:
    """A request failing elsewhere cancels a half-open probe; the next call still probes."""
    down = Scripted(5, fail=-1)
    ex, m = make_executor(write_pipeline(tmp_path, reset_s=0.05), stand_ins(entities=down))
    for _ in range(3):
        run(ex)
    time.sleep(0.06)
    down.fail, down.delay_s = 0, 1.0

    async def cancelled_probe() -> None:
        task = asyncio.create_task(ex.run(["fly to Oslo"], time.monotonic() + 1, "t"))
        await asyncio.sleep(0.05)  # the probe is in flight
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(cancelled_probe())
    down.delay_s = 0.0
    assert run(ex).reports["entities"].status == "ok"
    assert sample(m, "pipeline_circuit_state", {"stage": "entities"}) == 0


def test_a_defect_in_a_stage_is_logged_and_falls_back(tmp_path: Path, caplog: Any) -> None:
    broken = Scripted(3)  # three columns where the tagger has five tags
    ex, m = make_executor(write_pipeline(tmp_path, retries=2), stand_ins(entities=broken))
    outcome = run(ex)
    assert outcome.reports["entities"].status == "skipped"
    assert outcome.reports["entities"].attempts == 1  # defects are not retried
    assert sample(m, "pipeline_stage_errors_total", {"stage": "entities", "reason": "error"}) == 1
    assert "stage entities raised" in caplog.text


def test_a_tighter_caller_deadline_is_honoured(client: Any) -> None:
    body = {"instances": [{"text": "play adele"}]}
    answer = client.post("/v1/predict", json=body, headers={"X-Deadline-Ms": "80"}).json()
    assert answer["deadline_ms"] == 80
    assert all(s["budget_ms"] <= 80 for s in answer["stages"].values())
    late = client.post("/v1/predict", json=body, headers={"X-Deadline-Ms": "0"})
    assert late.status_code == 504 and late.json()["stage"] == "intent"


def test_a_stage_service_speaks_v1_and_stops_at_the_callers_deadline() -> None:
    record = pipeline_manifest.load_pipeline_manifest(MODELS).stages["urgency"]
    settings = pipeline_settings.PipelineSettings(models_dir=MODELS / record.dir, device="cpu")
    predictor = inference.load_predictor(settings)
    service = app.create_stage_app(
        settings, "urgency", predictor, metrics.Metrics(100, CollectorRegistry())
    )
    rows = [[0.0] * record.n_features, [1.0] * record.n_features]
    with TestClient(service) as stage_client:
        answer = stage_client.post("/v1/predict", json={"instances": rows})
        assert answer.status_code == 200
        body = answer.json()
        assert body["model"] == {"name": record.name, "version": record.version}
        assert [p["label"] for p in body["predictions"]] == [
            record.classes[int(np.argmax(p["scores"]))] for p in body["predictions"]
        ]
        late = stage_client.post(
            "/v1/predict", json={"instances": rows}, headers={"X-Deadline-Ms": "0"}
        )
        assert late.status_code == 504
        bad = stage_client.post("/v1/predict", json={"instances": [[1.0]]})
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["instances", 0]


@pytest.mark.parametrize("protocol", ["v1", "v2"])
def test_a_remote_stage_gives_the_local_scores_over_either_protocol(protocol: str) -> None:
    import httpx

    record = pipeline_manifest.load_pipeline_manifest(MODELS).stages["intent"]
    settings = pipeline_settings.PipelineSettings(models_dir=MODELS / record.dir, device="cpu")
    predictor = inference.load_predictor(settings)
    service = app.create_stage_app(
        settings, "intent", predictor, metrics.Metrics(100, CollectorRegistry())
    )
    remote = stages.RemoteStage(
        record, "http://stage", protocol=protocol, transport=httpx.ASGITransport(app=service)
    )
    rows = np.random.default_rng(0).poisson(0.2, (3, record.n_features)).astype(np.float32)

    async def call() -> np.ndarray:
        try:
            return await remote.call(rows, 5.0, "test")
        finally:
            await remote.close()

    np.testing.assert_allclose(asyncio.run(call()), predictor.run(rows), rtol=1e-5, atol=1e-6)


def test_an_in_process_timeout_is_not_retried(tmp_path: Path) -> None:
    slow = Scripted(5, delay_s=1.0)
    slow.location = "local"
    path = write_pipeline(tmp_path, entities_timeout=90, retries=2)
    path.write_text(
        path.read_text().replace("retries: 2", "retries: 2\n    attempt_timeout_ms: 20")
    )
    ex, _ = make_executor(path, stand_ins(entities=slow))
    assert run(ex).reports["entities"].attempts == 1


def test_a_required_remote_stage_that_is_down_makes_the_service_unready(
    pipeline_yaml: Path,
) -> None:
    settings = pipeline_settings.PipelineSettings(
        pipeline_file=pipeline_yaml,
        models_dir=MODELS,
        device="cpu",
        endpoints={"intent": "http://127.0.0.1:9"},  # nothing listens on the discard port
    )
    registry_metrics = metrics.Metrics(100, CollectorRegistry())
    service = app.create_pipeline_app(
        settings, build.build_pipeline(settings, registry_metrics), registry_metrics
    )
    with TestClient(service) as down:
        ready = down.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["stages"]["intent"] == {
            "location": "remote",
            "ready": False,
            "fallback": "fail",
            "circuit": "closed",
        }
        answer = down.post("/v1/predict", json={"instances": [{"text": "play adele"}]})
        assert answer.status_code == 503 and answer.headers["retry-after"] == "1"
        assert answer.json()["stage"] == "intent"
        described = down.get("/v1/pipeline").json()
        assert described["stages"]["intent"]["location"] == "remote"
        assert described["order"].index("intent") < described["order"].index("entities")
