"""The generated streaming project, run for real against a Kafka-protocol broker (Tansu).

The consumer runs as its own process from the project's venv, exactly as ``make run``
starts it, and is judged only by what reaches the broker: predictions with the input's
key, dead letters with reasons, offsets that survive crashes and restarts. Packaging
files are judged by the tools that consume them (hadolint, kubernetes-validate, promtool).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from .conftest import Project, Venv, prepare_project, render_project, stop_group
from .kafka_broker import (
    TansuBroker,
    TopicReader,
    create_topics,
    free_port,
    produce,
    running_broker,
    unique,
)
from .packaging_helpers import (
    PROMETHEUS_SERIES,
    grafana_exprs,
    parse_dockerfile,
    promql_metric_names,
    series_names,
)

pytestmark = pytest.mark.e2e

PACKAGE = "demo_stream"
WIDTH = 30  # the demo model's features
START_TIMEOUT_S = 60.0
READ_TIMEOUT_S = 90.0
K8S_VERSION = "1.37.0"
# The metric families the consumer exports (the names alerts and the dashboard rely on).
FAMILIES = {
    "stream_events_consumed": "counter",
    "stream_predictions_produced": "counter",
    "stream_dead_letters": "counter",
    "stream_produce_errors": "counter",
    "stream_commits": "counter",
    "stream_producer_restarts": "counter",
    "stream_model_failures": "counter",
    "stream_rebalances": "counter",
    "stream_batch_size": "histogram",
    "stream_batch_duration_seconds": "histogram",
    "stream_end_to_end_latency_seconds": "histogram",
    "stream_consumer_lag": "gauge",
    "stream_in_flight_batches": "gauge",
    "stream_consumer_paused": "gauge",
    "stream_pauses": "counter",
    "stream_broker_connected": "gauge",
    "stream_assigned_partitions": "gauge",
    "model_predictions": "counter",
    "model_inference_duration_seconds": "histogram",
    "model_batch_size": "histogram",
    "model_prediction_score": "histogram",
    "model_drift_psi": "gauge",
    "model_ready": "gauge",
    "model_info": "gauge",
}


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, venv_for: Callable[[Path], Venv]) -> Project:
    dest = tmp_path_factory.mktemp("streaming") / "demo-stream"
    return prepare_project(
        dest,
        venv_for,
        pattern="streaming",
        project_name="demo-stream",
        package=PACKAGE,
        p99_ms=1000.0,
    )


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TansuBroker]:
    log = tmp_path_factory.mktemp("tansu") / "tansu.log"
    with running_broker(log) as running:
        yield running


@dataclass
class Topics:
    input: str
    output: str
    dlq: str
    group: str


@pytest.fixture
def topics(broker: TansuBroker) -> Topics:
    names = Topics(unique("events"), unique("predictions"), unique("dlq"), unique("group"))
    create_topics(broker.bootstrap, [names.input, names.output, names.dlq], partitions=3)
    return names


@dataclass
class Running:
    process: subprocess.Popen[bytes]
    health: str
    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def metrics(self) -> dict[str, float]:
        text = urllib.request.urlopen(f"{self.health}/metrics", timeout=5).read().decode()
        values: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                values[name] = float(value)
        return values


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return 0


def wait_for(check: Callable[[], bool], timeout_s: float, what: str, running: Running) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if running.process.poll() is not None:
            pytest.fail(
                f"consumer exited {running.process.returncode}:\n{running.output()[-4000:]}"
            )
        if check():
            return
        time.sleep(0.1)
    pytest.fail(f"{what} not within {timeout_s} s:\n{running.output()[-4000:]}")


@contextlib.contextmanager
def consumer(
    project: Project,
    bootstrap: str,
    topics: Topics,
    wait: str = "ready",
    use_make: bool = False,
    **settings: str,
) -> Iterator[Running]:
    """Start the project's consumer in its own process group; always stop it."""
    port = free_port()
    env = {
        "APP_BOOTSTRAP_SERVERS": bootstrap,
        "APP_INPUT_TOPIC": topics.input,
        "APP_OUTPUT_TOPIC": topics.output,
        "APP_DLQ_TOPIC": topics.dlq,
        "APP_GROUP_ID": topics.group,
        "APP_HEALTH_PORT": str(port),
        "APP_SESSION_TIMEOUT_MS": "3000",
        "APP_HEARTBEAT_INTERVAL_MS": "1000",
        "APP_STATS_INTERVAL_MS": "500",
        "APP_FETCH_WAIT_MAX_MS": "10",
        "APP_RECONNECT_BACKOFF_MAX_MS": "1000",
        **{f"APP_{k.upper()}": v for k, v in settings.items()},
    }
    log_path = project.path / f".consumer-{port}.log"
    command = (
        ["make", "run", f"PYTHON={project.venv.python}"]
        if use_make
        else [str(project.venv.python), "-m", f"{PACKAGE}.streaming"]
    )
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=project.path,
            env=project.venv.env(**env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = Running(process, f"http://127.0.0.1:{port}", log_path)
    try:
        wait_for(lambda: status(f"{running.health}/{wait}") == 200, START_TIMEOUT_S, wait, running)
        yield running
    finally:
        if process.poll() is None:
            stop_group(process)


def events(n: int, prefix: str = "k") -> list[tuple[bytes | None, bytes | None]]:
    return [
        (f"{prefix}-{i}".encode(), json.dumps([float(i % 7)] * WIDTH).encode()) for i in range(n)
    ]


def keys_of(records: list[Any]) -> Counter[bytes]:
    return Counter(record.key() for record in records)


def terminate(running: Running, timeout_s: float = 30) -> int:
    os.killpg(running.process.pid, signal.SIGTERM)
    return running.process.wait(timeout_s)


# ---------------------------------------------------------------- the project itself


def test_project_tests_and_lint_pass(project: Project) -> None:
    project.run("make", "lint")
    project.run("make", "test", timeout=600)


# ---------------------------------------------------------------- delivery


def test_every_event_gets_one_prediction_with_its_key(
    project: Project, broker: TansuBroker, topics: Topics
) -> None:
    sent = events(3000)
    produce(broker.bootstrap, topics.input, sent)
    with (
        consumer(project, broker.bootstrap, topics, use_make=True) as running,
        TopicReader(broker.bootstrap, topics.output) as reader,
    ):
        records = reader.read_until(len(sent), READ_TIMEOUT_S, settle_s=1.0)
        wait_for(
            lambda: (
                running.metrics().get('stream_predictions_produced_total{model_version="1.0.0"}')
                == len(sent)
            ),
            10,
            "produced counter",
            running,
        )
        metrics = running.metrics()
    counts = keys_of(records)
    assert counts == Counter(key for key, _ in sent), "exactly one prediction per event"
    first = json.loads(records[0].value())
    assert first["model"] == {"name": "breast-cancer-classifier", "version": "1.0.0"}
    assert set(first["prediction"]) == {"label", "scores"}
    source = first["source"]
    assert source["topic"] == topics.input and source["offset"] >= 0
    assert source["timestamp_ms"] > 0
    by_key = {r.key(): json.loads(r.value()) for r in records}
    assert by_key[b"k-0"]["prediction"] == by_key[b"k-7"]["prediction"]  # same input
    assert metrics[f'stream_events_consumed_total{{topic="{topics.input}"}}'] == len(sent)
    assert metrics["stream_end_to_end_latency_seconds_count"] == len(sent)
    lags = [v for k, v in metrics.items() if k.startswith("stream_consumer_lag{")]
    assert len(lags) == 3 and all(v >= 0 for v in lags)
    assert metrics["stream_assigned_partitions"] == 3
    assert metrics["model_ready"] == 1


def test_poison_events_go_to_the_dead_letter_topic_with_reasons(
    project: Project, broker: TansuBroker, topics: Topics
) -> None:
    good = events(50, "ok")
    poison = [
        (b"bad-json", b"{not json"),
        (b"bad-utf8", b"\xff\xfe"),
        (b"tombstone", None),
        (b"too-short", json.dumps([1.0] * (WIDTH - 1)).encode()),
        (b"a-string", json.dumps(["x"] * WIDTH).encode()),
        (b"a-bool", json.dumps([True] * WIDTH).encode()),
        (b"not-a-row", b'"hello"'),
    ]
    produce(
        broker.bootstrap,
        topics.input,
        good[:25] + poison + good[25:],
        headers=[("trace-id", b"abc123")],
    )
    with consumer(project, broker.bootstrap, topics) as running:
        with TopicReader(broker.bootstrap, topics.dlq) as reader:
            dead = reader.read_until(len(poison), READ_TIMEOUT_S, settle_s=0.5)
        with TopicReader(broker.bootstrap, topics.output) as reader:
            outputs = reader.read_until(len(good), READ_TIMEOUT_S, settle_s=0.5)
        metrics = running.metrics()
        assert "dead letter: schema" in running.output()
    assert keys_of(outputs) == Counter(key for key, _ in good), "the good events still flow"
    by_key = {record.key(): record for record in dead}
    assert set(by_key) == {key for key, _ in poison}
    expected_reason = {
        b"bad-json": "unparseable",
        b"bad-utf8": "unparseable",
        b"tombstone": "unparseable",
        b"too-short": "schema",
        b"a-string": "schema",
        b"a-bool": "schema",
        b"not-a-row": "schema",
    }
    originals = dict(poison)
    for key, record in by_key.items():
        headers = {name: value for name, value in record.headers() or []}
        assert headers["dlq.reason"].decode() == expected_reason[key], key
        assert headers["dlq.detail"], key
        assert headers["trace-id"] == b"abc123", "original headers are kept"
        assert headers["dlq.source.topic"].decode() == topics.input
        assert int(headers["dlq.source.offset"]) >= 0
        assert record.value() == originals[key], "original payload byte for byte"
    assert "has 29 values, expected 30" in by_key[b"too-short"].headers()[-6][1].decode()
    assert metrics['stream_dead_letters_total{reason="schema"}'] == 4
    assert metrics['stream_dead_letters_total{reason="unparseable"}'] == 3


def test_a_full_producer_queue_pauses_and_loses_nothing(
    project: Project, broker: TansuBroker, topics: Topics
) -> None:
    """A producer queue of 400 records that sends once a second, batches of 200: batches
    wait for room long enough to pause the partitions; nothing is lost."""
    sent = events(2000)
    produce(broker.bootstrap, topics.input, sent)
    tiny_queue = json.dumps({"queue.buffering.max.messages": 400, "linger.ms": 1000})
    with (
        consumer(
            project,
            broker.bootstrap,
            topics,
            producer_config=tiny_queue,
            max_batch_size="200",
            max_in_flight_batches="1000",
        ) as running,
        TopicReader(broker.bootstrap, topics.output) as reader,
    ):
        records = reader.read_until(len(sent), READ_TIMEOUT_S, settle_s=1.0)
        metrics = running.metrics()
    assert keys_of(records) == Counter(key for key, _ in sent)
    assert metrics['stream_pauses_total{cause="producer_queue"}'] > 0


@pytest.mark.slow
def test_sigkill_mid_stream_then_restart_loses_nothing(
    project: Project, broker: TansuBroker, topics: Topics, record_property: Any
) -> None:
    sent = events(40_000)
    produce(broker.bootstrap, topics.input, sent)
    small = {"max_batch_size": "100", "max_in_flight_batches": "2"}
    with TopicReader(broker.bootstrap, topics.output) as reader:
        with consumer(project, broker.bootstrap, topics, **small) as running:
            reader.read_until(len(sent) // 10, READ_TIMEOUT_S)
            os.killpg(running.process.pid, signal.SIGKILL)
            running.process.wait(10)
        with consumer(project, broker.bootstrap, topics) as restarted:
            records = reader.read_until(len(sent), READ_TIMEOUT_S, settle_s=1.0)
            redone = consumed(restarted, topics)
    counts = keys_of(records)
    missing = {key for key, _ in sent} - set(counts)
    duplicates = sum(c - 1 for c in counts.values())
    record_property("duplicates_after_sigkill", duplicates)
    print(f"SIGKILL, restart consumed {redone:.0f} of {len(sent)}: {duplicates} duplicates")
    assert redone > 0, "killed with work left"
    assert not missing, f"{len(missing)} events without a prediction"
    assert duplicates < len(sent) // 2, "redelivery is bounded by uncommitted batches"


def consumed(running: Running, topics: Topics) -> float:
    return running.metrics()[f'stream_events_consumed_total{{topic="{topics.input}"}}']


def assigned(running: Running) -> float:
    return running.metrics().get("stream_assigned_partitions", 0.0)


# ---------------------------------------------------------------- scale-out


@pytest.mark.slow
def test_two_consumers_in_one_group_a_join_revokes_mid_batch_and_a_kill_loses_nothing(
    project: Project, broker: TansuBroker, topics: Topics, record_property: Any
) -> None:
    """Scale-out is the consumer group: A works alone, B joins (the rebalance revokes A's
    partitions while A is in the middle of a batch), then A is SIGKILLed mid-stream and B
    takes every partition. Every event gets a prediction; duplicates are counted."""
    sent = events(12_000)
    produce(broker.bootstrap, topics.input, sent)
    # A hands outputs to a producer queue of 50 records that sends once a second: each
    # batch of 200 waits about 4 s for room (the in-flight limit is out of reach), and a
    # wait that long polls the group, so the rebalance reaches A in the middle of a batch.
    slow = json.dumps({"queue.buffering.max.messages": 50, "linger.ms": 1000})
    with (
        TopicReader(broker.bootstrap, topics.output) as reader,
        consumer(
            project,
            broker.bootstrap,
            topics,
            producer_config=slow,
            max_batch_size="200",
            max_in_flight_batches="1000",
        ) as a,
    ):
        wait_for(lambda: assigned(a) == 3, START_TIMEOUT_S, "A owns every partition", a)
        wait_for(lambda: consumed(a, topics) > 0, 30, "A at work", a)
        for _attempt in range(3):  # each join and each leave of B is a revocation for A
            with consumer(project, broker.bootstrap, topics) as b:
                wait_for(lambda: assigned(b) > 0, START_TIMEOUT_S, "B gets partitions", b)
                wait_for(lambda: 0 < assigned(a) < 3, 30, "A keeps the rest", a)
                if not eventually(lambda: "straddled a rebalance" in a.output(), 20):
                    continue  # A was between batches this time: B leaves, A is revoked again
                a_metrics, a_log = a.metrics(), a.output()
                os.killpg(a.process.pid, signal.SIGKILL)
                a.process.wait(10)
                wait_for(lambda: assigned(b) == 3, 60, "B takes over A's partitions", b)
                records = reader.read_until(len(sent), READ_TIMEOUT_S, settle_s=2.0)
                b_metrics = b.metrics()
                break
        else:
            pytest.fail(f"no revocation reached A mid-batch:\n{a.output()[-4000:]}")
    counts = keys_of(records)
    missing = {key for key, _ in sent} - set(counts)
    duplicates = sum(c - 1 for c in counts.values())
    record_property("duplicates_after_rebalance_and_kill", duplicates)
    print(f"two consumers, one killed: {duplicates} duplicates of {len(sent)}")
    assert not missing, f"{len(missing)} events without a prediction"
    assert "straddled a rebalance; not committing it" in a_log
    assert a_metrics['stream_rebalances_total{kind="revoke"}'] >= 1
    assert b_metrics['stream_rebalances_total{kind="assign"}'] >= 2, "B was assigned again"
    assert b_metrics[f'stream_events_consumed_total{{topic="{topics.input}"}}'] > 0
    assert duplicates < len(sent), "redelivery is bounded by uncommitted batches"


def eventually(check: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def test_sigterm_finishes_flushes_and_commits_no_duplicates(
    project: Project, broker: TansuBroker, topics: Topics
) -> None:
    sent = events(40_000)
    produce(broker.bootstrap, topics.input, sent)
    small = {"max_batch_size": "100", "max_in_flight_batches": "4"}
    with TopicReader(broker.bootstrap, topics.output) as reader:
        with consumer(project, broker.bootstrap, topics, **small) as running:
            reader.read_until(len(sent) // 10, READ_TIMEOUT_S)
            code = terminate(running)
            log = running.output()
        assert code == 0, log[-3000:]
        assert "stopping: flushing outputs" in log and "consumer closed" in log
        with consumer(project, broker.bootstrap, topics) as restarted:
            records = reader.read_until(len(sent), READ_TIMEOUT_S, settle_s=2.0)
            redone = consumed(restarted, topics)
    assert 0 < redone < len(sent), "stopped with work left"
    counts = keys_of(records)
    assert set(counts) == {key for key, _ in sent}, "no loss"
    assert max(counts.values()) == 1, "no duplicates after a graceful stop"


# Outputs wait a second in the producer before they are sent: batches are in flight
# (produced, not yet acknowledged) nearly all the time, so a frozen broker catches some.
LINGERING = {
    "producer_config": json.dumps({"linger.ms": 1000}),
    "max_batch_size": "100",
    "max_in_flight_batches": "4",
    "drain_timeout_s": "30",
}


def test_sigterm_turns_not_ready_at_once_and_drains_in_flight_work(
    project: Project, tmp_path: Path
) -> None:
    """The broker freezes with outputs in flight; SIGTERM: /ready is 503 while the
    consumer waits, and once the broker answers it flushes, commits and exits 0. The
    restart then redoes nothing: what was in flight was finished and committed."""
    topics = Topics(unique("events"), unique("predictions"), unique("dlq"), unique("group"))
    with TansuBroker(log_path=tmp_path / "tansu.log") as broker:
        create_topics(broker.bootstrap, [topics.input, topics.output, topics.dlq])
        sent = events(20_000)
        produce(broker.bootstrap, topics.input, sent)
        with TopicReader(broker.bootstrap, topics.output) as reader:
            with consumer(project, broker.bootstrap, topics, **LINGERING) as running:
                reader.read_until(1000, READ_TIMEOUT_S)
                time.sleep(0.5)  # halfway through the next batches' linger
                with broker.frozen() as thaw:
                    assert running.metrics()["stream_in_flight_batches"] > 0
                    os.killpg(running.process.pid, signal.SIGTERM)
                    wait_for(
                        lambda: status(f"{running.health}/ready") == 503, 5, "not ready", running
                    )
                    probe = json.loads(
                        urllib.request.urlopen(f"{running.health}/health", timeout=2).read()
                    )
                    assert probe["draining"] is True and probe["live"] is True
                    assert running.process.poll() is None, "still draining: the broker is frozen"
                    thaw()
                    code = running.process.wait(60)
                log = running.output()
            assert code == 0, log[-3000:]
            assert "consumer closed" in log and "within the drain timeout" not in log
            with consumer(project, broker.bootstrap, topics) as restarted:
                records = reader.read_until(len(sent), READ_TIMEOUT_S, settle_s=2.0)
                redone = consumed(restarted, topics)
    counts = keys_of(records)
    assert 0 < redone < len(sent), "stopped with work left"
    assert set(counts) == {key for key, _ in sent}, "no loss"
    assert max(counts.values()) == 1, "in-flight work was committed before exit: no duplicates"


@pytest.mark.slow
def test_sigterm_with_the_broker_gone_exits_after_the_drain_timeout_and_loses_nothing(
    project: Project, tmp_path: Path
) -> None:
    """The broker stays frozen past drain_timeout_s: the consumer gives up waiting, leaves
    what is unacknowledged uncommitted and exits; the restart redoes it (no loss)."""
    topics = Topics(unique("events"), unique("predictions"), unique("dlq"), unique("group"))
    with TansuBroker(log_path=tmp_path / "tansu.log") as broker:
        create_topics(broker.bootstrap, [topics.input, topics.output, topics.dlq])
        sent = events(20_000)
        produce(broker.bootstrap, topics.input, sent)
        with TopicReader(broker.bootstrap, topics.output) as reader:
            with consumer(
                project, broker.bootstrap, topics, **{**LINGERING, "drain_timeout_s": "2"}
            ) as running:
                reader.read_until(1000, READ_TIMEOUT_S)
                time.sleep(0.5)  # halfway through the next batches' linger
                with broker.frozen():
                    assert running.metrics()["stream_in_flight_batches"] > 0
                    os.killpg(running.process.pid, signal.SIGTERM)
                    code = running.process.wait(60)  # a drain_timeout_s of 2 s, not a minute
                log = running.output()
            assert code == 0, log[-3000:]
            assert "outputs not acknowledged within the drain timeout (2 s)" in log, log[-3000:]
            with consumer(project, broker.bootstrap, topics):
                records = reader.read_until(len(sent), READ_TIMEOUT_S, settle_s=1.0)
    assert set(keys_of(records)) == {key for key, _ in sent}, "no loss"


def test_consumer_started_before_the_broker_connects_and_catches_up(
    project: Project, tmp_path: Path
) -> None:
    broker = TansuBroker(log_path=tmp_path / "tansu.log")
    topics = Topics(unique("events"), unique("predictions"), unique("dlq"), unique("group"))
    refresh = json.dumps({"topic.metadata.refresh.interval.ms": 1000})
    with consumer(
        project, broker.bootstrap, topics, wait="health", consumer_config=refresh
    ) as running:
        time.sleep(2)
        assert status(f"{running.health}/ready") == 503, "not ready without a broker"
        assert status(f"{running.health}/health") == 200, "alive: no crash loop"
        assert running.process.poll() is None
        with broker:
            create_topics(broker.bootstrap, [topics.input, topics.output, topics.dlq])
            sent = events(2000)
            produce(broker.bootstrap, topics.input, sent)
            with TopicReader(broker.bootstrap, topics.output) as reader:
                records = reader.read_until(len(sent), READ_TIMEOUT_S, settle_s=0.5)
            wait_for(lambda: status(f"{running.health}/ready") == 200, 10, "ready", running)
            log = running.output()
    assert keys_of(records) == Counter(key for key, _ in sent)
    assert "broker unavailable" in log
    assert log.count("Connect to") <= 3, "librdkafka's reconnect lines are held back"


@pytest.mark.slow
def test_broker_lost_mid_run_the_consumer_waits_and_resumes(
    project: Project, tmp_path: Path
) -> None:
    """Tansu keeps nothing across a restart: the group, the offsets and the idempotent
    producer's state are gone, so acknowledgements stall until the producer is replaced.
    The no-loss side of an outage is the SIGKILL/SIGTERM tests' commit discipline."""
    broker = TansuBroker(log_path=tmp_path / "tansu.log").start()
    topics = Topics(unique("events"), unique("predictions"), unique("dlq"), unique("group"))
    refresh = json.dumps({"topic.metadata.refresh.interval.ms": 1000})
    try:
        create_topics(broker.bootstrap, [topics.input, topics.output, topics.dlq])
        with consumer(
            project, broker.bootstrap, topics, consumer_config=refresh, stall_timeout_s="5"
        ) as running:
            produce(broker.bootstrap, topics.input, events(500, "before"))
            with TopicReader(broker.bootstrap, topics.output) as reader:
                assert len(reader.read_until(500, READ_TIMEOUT_S)) == 500
            broker.stop()
            wait_for(lambda: status(f"{running.health}/ready") == 503, 20, "not ready", running)
            time.sleep(3)  # several reconnect attempts with backoff
            assert status(f"{running.health}/health") == 200, "alive: no crash loop"
            broker.start()  # same port, empty (memory storage)
            create_topics(broker.bootstrap, [topics.input, topics.output, topics.dlq])
            after = events(500, "after")
            produce(broker.bootstrap, topics.input, after)
            with TopicReader(broker.bootstrap, topics.output) as reader:
                records = reader.read_until(len(after), READ_TIMEOUT_S, settle_s=0.5)
            wait_for(lambda: status(f"{running.health}/ready") == 200, 20, "ready", running)
            log = running.output()
    finally:
        broker.stop()
    assert keys_of(records) == Counter(key for key, _ in after)
    assert log.count("broker unavailable") >= 1
    assert "broker connection up" in log
    assert "replacing the producer" in log


def test_bad_model_refuses_to_start(project: Project, tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    for item in (project.path / "models").iterdir():
        (models / item.name).write_bytes(item.read_bytes())
    manifest = json.loads((models / "manifest.json").read_text())
    (models / manifest["file"]).write_bytes(b"tampered")
    result = subprocess.run(
        [str(project.venv.python), "-m", f"{PACKAGE}.streaming"],
        cwd=project.path,
        env=project.venv.env(APP_MODELS_DIR=str(models), APP_HEALTH_PORT=str(free_port())),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "sha256 mismatch" in result.stderr
    assert "Traceback" not in result.stderr


def test_metrics_endpoint_exports_exactly_the_documented_families(
    project: Project, broker: TansuBroker, topics: Topics
) -> None:
    with consumer(project, broker.bootstrap, topics) as running:
        names = {name.split("{")[0] for name in running.metrics()}
    exported = {n for n in names if n.startswith(("stream_", "model_"))}
    assert exported <= series_names(FAMILIES)
    families = {f for f in FAMILIES if any(n.startswith(f) for n in exported)}
    # the lag gauge appears once partitions are owned; drift once scores were seen
    assert set(FAMILIES) - families <= {"stream_consumer_lag", "model_drift_psi"}


# ---------------------------------------------------------------- the project's spike


def spike_command(project: Project, *args: str) -> list[str]:
    return [str(project.venv.python), "-m", f"{PACKAGE}.streaming.spike", "--json", *args]


def spike_env(project: Project, broker: TansuBroker, topics: Topics) -> dict[str, str]:
    return project.venv.env(
        APP_BOOTSTRAP_SERVERS=broker.bootstrap,
        APP_INPUT_TOPIC=topics.input,
        APP_OUTPUT_TOPIC=topics.output,
        APP_DLQ_TOPIC=topics.dlq,
        APP_GROUP_ID=topics.group,
    )


def test_spike_measures_from_the_scheduled_send_time_and_counts_late_sends(
    project: Project, broker: TansuBroker, topics: Topics, tmp_path: Path
) -> None:
    """The spike itself is frozen for a second mid-run (as a starved load generator would
    be): the events due meanwhile go out late and their latency includes the stall, so the
    run fails its budget instead of reporting the consumer's speed as if nothing happened."""
    records_path = tmp_path / "records.csv"
    with (
        consumer(project, broker.bootstrap, topics) as running,
        TopicReader(broker.bootstrap, topics.output) as reader,
    ):
        wait_for(lambda: assigned(running) == 3, START_TIMEOUT_S, "partitions", running)
        plain = subprocess.run(
            spike_command(project, "--events", "200", "--rate", "100", "--p99-ms", "60000"),
            cwd=project.path,
            env=spike_env(project, broker, topics),
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert plain.returncode == 0, plain.stdout + plain.stderr
        result = json.loads(plain.stdout)
        assert result["schema_version"] == 1 and result["ok"] is True
        assert (result["events"], result["received"], result["missing"]) == (200, 200, 0)
        assert result["lag_at_end"] == 0 and result["dead_lettered"] == 0
        assert result["schedule"]["offered_rps"] == 100.0 and result["schedule"]["sent"] == 200
        assert 0 < result["latency_ms"]["p50"] <= result["latency_ms"]["p99"]
        stalled = subprocess.Popen(
            spike_command(
                project,
                "--events",
                "600",
                "--rate",
                "200",
                "--p99-ms",
                "500",
                "--records",
                str(records_path),
            ),
            cwd=project.path,
            env=spike_env(project, broker, topics),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            # the plain run's 200 + its warm-up, this run's warm-up, then 50 scheduled events
            reader.read_until(202 + 50, READ_TIMEOUT_S)
            os.killpg(stalled.pid, signal.SIGSTOP)
            time.sleep(1.0)
            os.killpg(stalled.pid, signal.SIGCONT)
            out, err = stalled.communicate(timeout=180)
        finally:
            if stalled.poll() is None:
                stop_group(stalled)  # type: ignore[arg-type]
    assert stalled.returncode == 1, out + err
    result = json.loads(out)
    assert result["received"] == 600 and result["missing"] == 0
    assert result["schedule"]["late"] >= 100, "the sends due during the stall left late"
    assert result["latency_ms"]["max"] >= 900, "the stall is in the latency, not hidden"
    assert any(reason.startswith("p99 ") for reason in result["reasons"])
    lines = records_path.read_text().splitlines()
    assert lines[0] == "t,latency_ms,outcome,valid,late" and len(lines) == 601
    assert sum(line.endswith(",1") for line in lines[1:]) == result["schedule"]["late"]
    assert all(",ok,1," in line for line in lines[1:])


def test_spike_without_a_consumer_says_so(
    project: Project, broker: TansuBroker, topics: Topics
) -> None:
    done = subprocess.run(
        spike_command(project, "--events", "10", "--rate", "10", "--timeout", "5"),
        cwd=project.path,
        env=spike_env(project, broker, topics),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 3, done.stdout + done.stderr
    assert "is the consumer running (make run)" in done.stderr
    assert "Traceback" not in done.stderr
    bad = subprocess.run(
        spike_command(project, "--rate", "0"),
        cwd=project.path,
        env=spike_env(project, broker, topics),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "--rate: must be above 0, got 0" in bad.stderr


# ---------------------------------------------------------------- packaging (static)


def run_tool(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{command}: {result.stdout}{result.stderr}"
    return result


@pytest.fixture(scope="module", params=[False, True], ids=["cpu", "gpu"])
def rendered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("streaming-files") / "fraud-stream"
    return render_project(
        dest,
        pattern="streaming",
        project_name="fraud-stream",
        package="fraud_stream",
        gpu=request.param,
        p99_ms=800.0,
        max_error_rate=0.002,
    )


def is_gpu(rendered: Path) -> bool:
    return bool(load_yaml(rendered / ".copier-answers.yml")["gpu"])


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_dockerfiles_pass_hadolint_and_run_the_consumer(rendered: Path) -> None:
    files = sorted(p.name for p in rendered.glob("Dockerfile*"))
    gpu = is_gpu(rendered)
    assert files == (["Dockerfile", "Dockerfile.gpu"] if gpu else ["Dockerfile"])
    for name in files:
        run_tool(["hadolint", "--failure-threshold", "warning", name], rendered)
        runtime = parse_dockerfile(rendered / name)[-1]
        assert runtime.all("USER") == ["10001:10001"]
        assert runtime.all("CMD") == ['["python", "-m", "fraud_stream.streaming"]']
        assert runtime.env()["APP_HEALTH_HOST"] == "0.0.0.0"
        assert "/health" in runtime.all("HEALTHCHECK")[0]


def test_deployment_passes_strict_validation_and_respects_partitions(rendered: Path) -> None:
    files = ["k8s/deployment.yaml", "k8s/pdb.yaml"]
    result = run_tool(["kubernetes-validate", "--strict", "-k", K8S_VERSION, *files], rendered)
    assert result.stdout.count("passed") == len(files), result.stdout
    for name in files:  # the Python API raises on anything the CLI would only warn about
        kubernetes_validate.validate(load_yaml(rendered / name), K8S_VERSION, strict=True)
    deployment = load_yaml(rendered / "k8s/deployment.yaml")
    partitions = 3  # make topics and docker-compose create 3 partitions
    assert deployment["spec"]["replicas"] <= partitions
    assert "replicas beyond it get no partition" in (rendered / "k8s/deployment.yaml").read_text()
    keda = load_yaml(rendered / "k8s/keda-scaledobject.yaml")
    assert keda["spec"]["maxReplicaCount"] <= partitions
    assert keda["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert keda["spec"]["triggers"][0]["metadata"]["consumerGroup"] == "fraud-stream"
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert pod["terminationGracePeriodSeconds"] > 30, "longer than the drain timeout"
    gpu = is_gpu(rendered)
    assert ("nvidia.com/gpu" in container["resources"]["limits"]) is gpu
    kustomization = load_yaml(rendered / "k8s/kustomization.yaml")
    assert sorted(kustomization["resources"]) == ["deployment.yaml", "pdb.yaml"]


def test_promtool_checks_and_unit_tests_the_alerts(rendered: Path) -> None:
    observability = rendered / "observability"
    run_tool(["promtool", "check", "config", "prometheus.yml"], observability)
    out = run_tool(["promtool", "check", "rules", "alerts.yml"], observability).stdout
    assert "SUCCESS: 11 rules found" in out
    result = run_tool(["promtool", "test", "rules", "alerts.test.yml"], observability)
    assert "SUCCESS" in result.stdout + result.stderr


def test_alerts_and_dashboard_read_only_exported_metrics(rendered: Path) -> None:
    groups = load_yaml(rendered / "observability/alerts.yml")["groups"]
    rules = {rule["alert"]: rule for group in groups for rule in group["rules"]}
    assert rules["DeadLetterRateOverBudget"]["expr"].rstrip().endswith("> 0.002")
    assert rules["EndToEndLatencyP99OverBudget"]["expr"].rstrip().endswith("> 0.8")
    allowed = series_names(FAMILIES) | PROMETHEUS_SERIES
    for name, rule in rules.items():
        assert promql_metric_names(rule["expr"]) <= allowed, name
    dashboard = json.loads((rendered / "observability/grafana/dashboard.json").read_text())
    used = set().union(*(promql_metric_names(e) for e in grafana_exprs(dashboard)))
    assert used <= series_names(FAMILIES)
    shown = {f for f in FAMILIES if any(u.startswith(f) for u in used)}
    assert {
        "stream_events_consumed",
        "stream_predictions_produced",
        "stream_dead_letters",
        "stream_batch_size",
        "stream_end_to_end_latency_seconds",
        "stream_consumer_lag",
    } <= shown


def test_compose_has_a_broker_and_mounts_existing_files(rendered: Path) -> None:
    run_tool(
        ["check-jsonschema", "--builtin-schema", "vendor.compose-spec", "docker-compose.yml"],
        rendered,
    )
    services = load_yaml(rendered / "docker-compose.yml")["services"]
    assert {"kafka", "topics", "app", "prometheus", "grafana"} <= set(services)
    assert services["app"]["environment"]["APP_BOOTSTRAP_SERVERS"] == "kafka:9092"
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert (rendered / source).exists(), source
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), port
