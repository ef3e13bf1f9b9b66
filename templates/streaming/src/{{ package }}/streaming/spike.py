"""``python -m <package>.streaming.spike``: a bounded load test through the broker.

Produces ``--events`` events at ``--rate`` per second to the input topic, reads the
predictions back from the output topic (from its current end, so old records do not count)
and reports end-to-end latency (event timestamp to the prediction arriving at a reader),
throughput, missing and duplicate predictions. Exit code 0 when every event got a
prediction and p99 is within ``--p99-ms``; 1 otherwise. The consumer must be running.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import orjson
from confluent_kafka import OFFSET_END, Consumer, Producer, TopicPartition

from ..inference.manifest import load_manifest
from ..logs import configure_logging
from .kafka_logs import kafka_logger
from .settings import StreamingSettings


@dataclass
class SpikeResult:
    events: int
    rate_target: float
    rate_sent: float
    received: int
    missing: int
    duplicates: int
    throughput: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    budget_p99_ms: float
    ok: bool


class OutputReader(threading.Thread):
    """Reads the output topic from its end on; records the arrival time per key."""

    def __init__(self, settings: StreamingSettings, prefix: bytes) -> None:
        super().__init__(name="spike-reader", daemon=True)
        config = settings.common_config()
        config.pop("statistics.interval.ms", None)
        config.update(
            {
                "group.id": f"spike-reader-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "fetch.wait.max.ms": 10,
                "fetch.min.bytes": 1,
            }
        )
        self.consumer = Consumer({**config, "logger": kafka_logger("spike-reader")})
        self.topic = settings.output_topic
        self.prefix = prefix
        self.arrivals: dict[bytes, list[tuple[float, int | None]]] = {}
        self.ready = threading.Event()
        self.stop_event = threading.Event()
        self.error: str | None = None

    def run(self) -> None:
        try:
            metadata = self.consumer.list_topics(self.topic, timeout=30)
            partitions = metadata.topics[self.topic].partitions
            if not partitions:
                raise RuntimeError(f"topic {self.topic} does not exist (make topics)")
        except Exception as error:
            self.error = f"cannot read {self.topic} from the broker: {error}"
            self.ready.set()
            self.consumer.close()
            return
        self.consumer.assign([TopicPartition(self.topic, p, OFFSET_END) for p in partitions])
        self.ready.set()
        while not self.stop_event.is_set():
            for message in self.consumer.consume(1000, 0.05):
                if message.error() is not None:
                    continue
                key = message.key() or b""
                if not key.startswith(self.prefix):
                    continue
                now = time.time() * 1000
                source = orjson.loads(message.value() or b"{}").get("source", {})
                self.arrivals.setdefault(key, []).append((now, source.get("timestamp_ms")))
        self.consumer.close()


def run_spike(
    settings: StreamingSettings, events: int, rate: float, timeout_s: float, budget_ms: float
) -> SpikeResult:
    width = load_manifest(settings.models_dir).input.n_features
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(min(events, 1000), width)).round(4).tolist()
    payloads = [json.dumps(row).encode() for row in rows]
    prefix = f"spike-{uuid.uuid4().hex[:8]}-".encode()
    reader = OutputReader(settings, prefix)
    reader.start()
    if not reader.ready.wait(90) or reader.error:
        raise RuntimeError(reader.error or f"output topic {settings.output_topic} not readable")
    time.sleep(0.5)  # let the reader's fetches start at the end of the topic
    producer_config = settings.producer()
    producer_config.pop("statistics.interval.ms", None)
    producer = Producer({**producer_config, "logger": kafka_logger("spike-producer")})
    started = time.monotonic()
    sent = 0
    while sent < events:
        due = min(events, int((time.monotonic() - started) * rate) + 1)
        while sent < due:
            try:
                producer.produce(
                    settings.input_topic,
                    payloads[sent % len(payloads)],
                    prefix + str(sent).encode(),
                )
                sent += 1
            except BufferError:
                producer.poll(0.01)
        producer.poll(0)
        time.sleep(0.001)
    send_seconds = time.monotonic() - started
    producer.flush(60)
    deadline = time.monotonic() + timeout_s
    while len(reader.arrivals) < events and time.monotonic() < deadline:
        time.sleep(0.05)
    reader.stop_event.set()
    reader.join(30)
    return summarise(reader.arrivals, events, rate, send_seconds, budget_ms)


def summarise(
    arrivals: dict[bytes, list[tuple[float, int | None]]],
    events: int,
    rate: float,
    send_seconds: float,
    budget_ms: float,
) -> SpikeResult:
    latencies = np.array(
        [first[0] - first[1] for first, *_ in arrivals.values() if first[1] is not None]
    )
    duplicates = sum(len(times) - 1 for times in arrivals.values())
    firsts = [times[0] for times in arrivals.values() if times[0][1] is not None]
    span_s = (
        (max(a for a, _ in firsts) - min(t for _, t in firsts if t is not None)) / 1000
        if firsts
        else 0.0
    )

    def pct(q: float) -> float | None:
        return round(float(np.percentile(latencies, q)), 2) if len(latencies) else None

    missing = events - len(arrivals)
    p99 = pct(99)
    return SpikeResult(
        events=events,
        rate_target=rate,
        rate_sent=round(events / send_seconds, 1) if send_seconds > 0 else 0.0,
        received=len(arrivals),
        missing=missing,
        duplicates=duplicates,
        throughput=round(len(arrivals) / span_s, 1) if span_s > 0 else 0.0,
        p50_ms=pct(50),
        p95_ms=pct(95),
        p99_ms=p99,
        max_ms=round(float(latencies.max()), 2) if len(latencies) else None,
        budget_p99_ms=budget_ms,
        ok=missing == 0 and p99 is not None and p99 <= budget_ms,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Load test the running consumer via Kafka")
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=1_000.0, help="events per second")
    parser.add_argument("--timeout", type=float, default=60.0, help="wait for the last outputs")
    parser.add_argument("--p99-ms", type=float, help="budget; default APP_LATENCY_BUDGET_MS")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    settings = StreamingSettings()
    configure_logging(settings.log_level, json_logs=False)
    budget = args.p99_ms or settings.latency_budget_ms
    try:
        result = run_spike(settings, args.events, args.rate, args.timeout, budget)
    except RuntimeError as error:
        print(f"spike: {error}", file=sys.stderr)
        return 2
    report: dict[str, Any] = asdict(result)
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key:>14}: {value}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
