"""The streaming pattern's image, built and run with the README's own commands.

The container consumes from a Kafka-protocol broker on loopback (Tansu) and produces one
prediction per event, as a non-root user and healthy. ``podman stop`` mid-stream finishes,
flushes and commits: the group's committed offsets cover exactly the events that have a
prediction, and a second container picks up the rest with no loss and no duplicate.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ..e2e.conftest import free_port
from ..e2e.kafka_broker import TansuBroker, TopicReader, create_topics, produce, running_broker
from ..e2e.kafka_broker import unique as unique_topic
from .conftest import ImageProject
from .podman import Image, ReadmeCommands, detached, env_flags, podman

pytestmark = pytest.mark.images

WIDTH = 30  # the demo model's features
EVENTS = 20_000
PARTITIONS = 3
READY_TIMEOUT_S = 90.0
READ_TIMEOUT_S = 120.0
DRAIN_S = 30  # the consumer's default drain_timeout_s


@pytest.fixture(scope="module")
def commands(image_project: ImageProject) -> ReadmeCommands:
    return image_project("streaming", p99_ms=1000.0)


@pytest.fixture(scope="module")
def image(commands: ReadmeCommands, built: Callable[[ReadmeCommands], Image]) -> Image:
    return built(commands)


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TansuBroker]:
    with running_broker(tmp_path_factory.mktemp("tansu") / "tansu.log") as running:
        yield running


def committed(bootstrap: str, group: str, topic: str) -> int:
    """How many events of ``topic`` the group has committed (offsets summed)."""
    from confluent_kafka import Consumer, TopicPartition

    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        offsets = reader.committed(
            [TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=30
        )
    finally:
        reader.close()
    return sum(max(o.offset, 0) for o in offsets)


def keys(records: list[Any]) -> Counter[bytes]:
    return Counter(r.key() for r in records)


def test_runtime_image_carries_no_compiler_cache_or_tests(image: Image) -> None:
    assert image.lean_findings() == []


def test_consumes_predicts_and_commits_on_podman_stop(
    commands: ReadmeCommands, image: Image, broker: TansuBroker, tmp_path: Path
) -> None:
    source, sink, dlq, group = (unique_topic(p) for p in ("events", "predictions", "dlq", "group"))
    create_topics(broker.bootstrap, [source, sink, dlq], partitions=PARTITIONS)
    sent = [(f"k-{i}".encode(), json.dumps([float(i % 7)] * WIDTH).encode()) for i in range(EVENTS)]
    produce(broker.bootstrap, source, sent)
    health = free_port()
    settings = {
        "APP_BOOTSTRAP_SERVERS": broker.bootstrap,
        "APP_INPUT_TOPIC": source,
        "APP_OUTPUT_TOPIC": sink,
        "APP_DLQ_TOPIC": dlq,
        "APP_GROUP_ID": group,
        "APP_HEALTH_HOST": "127.0.0.1",
        "APP_HEALTH_PORT": str(health),
        "APP_SESSION_TIMEOUT_MS": "3000",
        "APP_HEARTBEAT_INTERVAL_MS": "1000",
        "APP_MAX_BATCH_SIZE": "100",
        "APP_MAX_IN_FLIGHT_BATCHES": "4",
    }
    # Outputs wait a second in the producer: at the stop, batches are in flight (produced,
    # not yet acknowledged), which the drain must flush before it commits.
    lingering = {**settings, "APP_PRODUCER_CONFIG": json.dumps({"linger.ms": 1000})}
    line = commands.line("docker run ", "APP_BOOTSTRAP_SERVERS")
    with TopicReader(broker.bootstrap, sink) as reader:
        with detached(commands, line, *env_flags(lingering), log_dir=tmp_path) as container:
            container.wait_answering(f"http://127.0.0.1:{health}/ready", READY_TIMEOUT_S)
            assert container.exec("id", "-u").strip() == "10001"
            out = podman("healthcheck", "run", container.name, check=False)
            assert out.strip() in ("", "healthy"), out
            reader.read_until(EVENTS // 10, READ_TIMEOUT_S)
            code = container.stop(DRAIN_S + 10)
            logs = container.logs()
        assert code == 0, logs[-3000:]
        assert "consumer closed" in logs, logs[-3000:]
        done = keys(reader.read_until(EVENTS, 5.0, settle_s=3.0))
        assert 0 < len(done) < EVENTS, "stopped with nothing done or nothing left"
        assert max(done.values()) == 1
        assert committed(broker.bootstrap, group, source) == len(done), "acknowledged = committed"

        with detached(commands, line, *env_flags(settings), log_dir=tmp_path) as again:
            again.wait_answering(f"http://127.0.0.1:{health}/ready", READY_TIMEOUT_S)
            records = reader.read_until(EVENTS, READ_TIMEOUT_S, settle_s=2.0)
            again.stop(DRAIN_S + 10)
    counts = keys(records)
    assert set(counts) == {key for key, _ in sent}, "no loss"
    assert max(counts.values()) == 1, "no duplicates after a graceful stop"


def test_readme_lists_only_commands_this_suite_ran(commands: ReadmeCommands) -> None:
    assert commands.not_run() == []
