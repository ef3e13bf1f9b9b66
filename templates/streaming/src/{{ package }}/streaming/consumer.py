"""The consume -> score -> produce -> commit loop, with at-least-once delivery.

One thread does everything Kafka-related, so delivery reports and rebalance callbacks run
between loop steps and need no locks. The loop:

1. takes up to ``max_batch_size`` events, waiting at most ``max_batch_wait_ms``;
2. scores them in one model call (``scoring.score``), bad events become dead letters;
3. hands every prediction and dead letter to the idempotent producer without waiting;
4. commits input offsets only for the prefix of batches whose outputs the broker has
   acknowledged, so a crash at any point re-delivers rather than loses events.

At most ``max_in_flight_batches`` batches wait for acknowledgements; beyond that (or when
the producer's queue is full) the partitions are paused while the loop keeps polling, so
the group membership and ``max.poll.interval.ms`` stay safe.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any, cast

import numpy as np
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from ..inference.drift import DriftMonitor
from ..inference.predictor import Predictor
from .events import Event, RecordEncoder, dead_letter_headers
from .health import LoopState
from .inflight import Batch, InFlight, Partition
from .kafka_logs import kafka_logger
from .metrics import StreamMetrics
from .scoring import score
from .settings import StreamingSettings

log = logging.getLogger(__name__)
_REPEAT_LOG_S = 30.0
_SUMMARY_EVERY_S = 30.0
_CONNECTION_ERRORS = {KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT, KafkaError._RESOLVE}


class StreamConsumer:
    """Owns the Kafka clients; ``run()`` until ``stop()``; returns an exit code."""

    def __init__(
        self,
        settings: StreamingSettings,
        predictor: Predictor,
        metrics: StreamMetrics,
        state: LoopState,
    ) -> None:
        self.settings = settings
        self.predictor = predictor
        self.metrics = metrics
        self.state = state
        self.version = predictor.info.version
        self.encoder = RecordEncoder(predictor.info.name, self.version)
        metrics.consumed.labels(settings.input_topic)  # exported at 0 before the first event
        self.inflight = InFlight()
        self.held: list[Message] = []
        self.paused = False
        self.stopping = False
        self.fatal: str | None = None
        self.generation = 0
        self.connected_since = time.monotonic()
        self._last_logged: dict[int, float] = {}
        self._summary = {"consumed": 0, "produced": 0, "dead": 0, "since": time.monotonic()}
        baseline = predictor.manifest.baseline
        histogram = baseline.score_histogram if baseline else None
        self.drift = DriftMonitor(histogram, settings.drift_window) if histogram else None
        self.consumer = Consumer(
            {
                **settings.consumer(),
                "error_cb": self._on_error,
                "stats_cb": self._on_stats,
                "on_commit": self._on_commit,
                "logger": kafka_logger("consumer"),
            }
        )
        self.producer = self._new_producer()

    def _new_producer(self) -> Producer:
        config = self.settings.producer()
        config.pop("statistics.interval.ms", None)
        return Producer({**config, "error_cb": self._on_error, "logger": kafka_logger("producer")})

    # ------------------------------------------------------------------ the loop

    def stop(self) -> None:
        """Ask the loop to finish its current batch, flush, commit and close."""
        self.stopping = True

    def run(self) -> int:
        s = self.settings
        log.info(
            "consuming %s -> %s (dead letters: %s) as group %s from %s",
            s.input_topic,
            s.output_topic,
            s.dlq_topic,
            s.group_id,
            s.bootstrap_servers,
            extra={"batch": s.max_batch_size, "in_flight": s.max_in_flight_batches},
        )
        self.consumer.subscribe(
            [s.input_topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        wait_s = s.max_batch_wait_ms / 1000
        while not self.stopping and self.fatal is None:
            self.state.turned()
            self.producer.poll(0)
            self._commit_finished(sync=False)
            failure = self.inflight.failure()
            if failure is not None:
                self.fatal = f"the broker refused an output for good: {failure}"
                break
            # Count a stall from the later of the batch and the last reconnection: after an
            # outage the old producer gets its chance to deliver first.
            stalled = min(self.inflight.oldest_age_s(), time.monotonic() - self.connected_since)
            if stalled > s.stall_timeout_s and self.state.broker_connected:
                self._replace_producer(stalled)
            if len(self.inflight) >= s.max_in_flight_batches:
                self._pause("in_flight")
                self.producer.poll(0.05)  # wait for acknowledgements, not for events
                self._keep_membership()
                continue
            self._resume()
            room = s.max_batch_size - len(self.held)
            events = self.held + (self._consume(room, wait_s) if room > 0 else [])
            self.held = []
            if events:
                self._process(events)
            self._log_summary()
        return self._shutdown()

    def _consume(self, count: int, timeout_s: float) -> list[Message]:
        events: list[Message] = []
        for message in self.consumer.consume(count, timeout_s):
            error = message.error()
            if error is None:
                events.append(message)
            elif error.fatal():
                self.fatal = f"consumer: {error.str()}"
            else:
                self._log_error(error, "consumer")
        return events

    def _keep_membership(self) -> None:
        """Poll while paused: serves rebalances and heartbeats; keeps anything returned."""
        room = max(1, self.settings.max_batch_size - len(self.held))
        self.held += self._consume(room, 0)

    def _process(self, events: list[Message]) -> None:
        started = time.perf_counter()
        generation = self.generation
        offsets: dict[Partition, int] = {}
        consumed: list[Any] = events  # consumed messages always carry topic, partition, offset
        for message in consumed:
            offsets[(message.topic(), message.partition())] = message.offset() + 1
        batch_events = cast(list[Event], events)
        batch = Batch(next_offsets=offsets)
        scored = score(self.predictor, batch_events)
        s, version, m = self.settings, self.version, self.metrics
        record, timestamps = self.encoder.record, batch.timestamps_ms
        produce, delivered, topic = self.producer.produce, batch.on_delivery, s.output_topic
        outputs = batch.outputs
        for event, prediction in scored.predictions:
            value, ts = record(event, prediction)
            key = event.key()
            try:  # the common case inline: this loop runs once per event
                produce(topic, value, key, on_delivery=delivered)
                batch.pending += 1
                outputs.append((topic, key, value, None))
            except (BufferError, KafkaException):
                self._produce(batch, topic, key, value)
            if ts is not None:
                timestamps.append(ts)
        batch.produced = len(scored.predictions)
        for event, poison in scored.dead:
            m.dead_lettered.labels(poison.reason).inc()
            self._produce(
                batch,
                s.dlq_topic,
                event.key(),
                event.value(),
                dead_letter_headers(event, poison.reason, poison.detail, version),
            )
            log.warning(
                "dead letter: %s at %s[%s]@%s: %s",
                poison.reason,
                event.topic(),
                event.partition(),
                event.offset(),
                poison.detail,
                extra={"reason": poison.reason},
            )
        batch.sealed = True
        if generation != self.generation:
            # A rebalance happened while this batch was produced: its partitions may belong
            # to another consumer now, which re-reads them from the last commit.
            log.info("batch of %d events straddled a rebalance; not committing it", len(events))
        else:
            self.inflight.add(batch)
        n = len(events)
        m.consumed.labels(s.input_topic).inc(n)
        m.batch_size.observe(n)
        if scored.scores is not None:
            rows = len(scored.predictions)
            m.model_batch.observe(rows)
            m.predictions.labels(version).inc(rows)
            m.inference.labels(version).observe(scored.model_seconds)
            if self.drift is not None:
                self.drift.observe(self.predictor.drift_scores(scored.scores))
                psi = self.drift.value()
                if psi is not None:
                    m.drift.labels(version).set(psi)
        m.batch_duration.observe(time.perf_counter() - started)
        m.in_flight.set(len(self.inflight))
        self._summary["consumed"] += n
        self._summary["dead"] += len(scored.dead)

    def _produce(
        self,
        batch: Batch,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        """Hand one record to the producer; wait (paused, polling) while its queue is full."""
        batch.pending += 1
        batch.outputs.append((topic, key, value, headers))
        while True:
            try:
                if headers is None:
                    self.producer.produce(topic, value, key, on_delivery=batch.on_delivery)
                else:
                    self.producer.produce(
                        topic, value, key, headers=headers, on_delivery=batch.on_delivery
                    )
                return
            except BufferError:
                self._pause("producer_queue")
                self.producer.poll(0.05)
                self._keep_membership()
                self.state.turned()
            except KafkaException as error:
                batch.pending -= 1
                batch.failed = batch.failed or f"{topic}: {error}"
                return

    def _replace_producer(self, stalled_s: float) -> None:
        """Acknowledgements stopped while a broker is reachable (e.g. it lost the idempotent
        producer's state): send the unacknowledged outputs again from a fresh producer.
        Duplicates are possible, loss is not; offsets still wait for the new acknowledgements.
        """
        batches = self.inflight.take_all()
        log.error(
            "no acknowledgement for %.0f s with a broker reachable: replacing the producer and "
            "sending %d unacknowledged batches again (duplicates possible, nothing is lost)",
            stalled_s,
            len(batches),
        )
        self.metrics.producer_restarts.inc()
        old, self.producer = self.producer, self._new_producer()
        old.purge(True, True)  # their reports go to the old batches, which nobody reads
        old.poll(0)
        for stale in batches:
            fresh = Batch(
                next_offsets=stale.next_offsets,
                timestamps_ms=stale.timestamps_ms,
                produced=stale.produced,
            )
            for topic, key, value, headers in stale.outputs:
                self._produce(fresh, topic, key, value, headers)
            fresh.sealed = True
            self.inflight.add(fresh)

    # ------------------------------------------------------------------ commits

    def _commit_finished(self, sync: bool) -> None:
        offsets, finished = self.inflight.pop_committable()
        if finished:
            now_ms = time.time() * 1000
            observe = self.metrics.end_to_end.observe_many
            produced = 0
            for batch in finished:
                stamps = np.asarray(batch.timestamps_ms, dtype=np.float64)
                observe(np.maximum(0.0, (now_ms - stamps) / 1000))
                produced += batch.produced
            self.metrics.produced.labels(self.version).inc(produced)
            self._summary["produced"] += produced
            self.metrics.in_flight.set(len(self.inflight))
        if not offsets:
            return
        partitions = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
        try:
            if sync:
                self.consumer.commit(offsets=partitions, asynchronous=False)
                self.metrics.commits.labels("ok").inc()
            else:
                self.consumer.commit(offsets=partitions, asynchronous=True)
        except KafkaException as error:
            # Not fatal: the events are re-delivered and scored again (at-least-once).
            self.metrics.commits.labels("failed").inc()
            log.warning("offset commit failed: %s", error)

    def _on_commit(self, error: KafkaError | None, partitions: list[TopicPartition]) -> None:
        if error is None or error.code() == KafkaError._NO_OFFSET:
            self.metrics.commits.labels("ok").inc()
            return
        self.metrics.commits.labels("failed").inc()
        log.warning("offset commit failed: %s", error.str())

    # ------------------------------------------------------------------ backpressure

    def _pause(self, cause: str) -> None:
        if not self.paused:
            self.metrics.pauses.labels(cause).inc()
            assignment = self.consumer.assignment()
            if assignment:
                self.consumer.pause(assignment)
            self.paused = True
            self.metrics.paused.set(1)

    def _resume(self) -> None:
        if self.paused:
            assignment = self.consumer.assignment()
            if assignment:
                self.consumer.resume(assignment)
            self.paused = False
            self.metrics.paused.set(0)

    # ------------------------------------------------------------------ rebalances

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.metrics.rebalances.labels("assign").inc()
        self.state.assigned = [f"{p.topic}[{p.partition}]" for p in partitions]
        if not self.state.broker_connected:
            self.connected_since = time.monotonic()
        self.state.broker_connected = True
        self.metrics.assigned.set(len(partitions))
        self.paused = False
        self.metrics.paused.set(0)
        log.info("partitions assigned: %s", ", ".join(self.state.assigned) or "none")

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Finish what is done (flush, commit), drop what is not: the next owner redoes it."""
        self.metrics.rebalances.labels("revoke").inc()
        left = self.producer.flush(self.settings.drain_timeout_s)
        self._commit_finished(sync=True)
        self._forget(f"revoked ({left} outputs unacknowledged)")

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.metrics.rebalances.labels("lost").inc()
        self._forget("lost (no commit possible)")

    def _forget(self, why: str) -> None:
        self.generation += 1
        dropped = self.inflight.clear() + len(self.held)
        self.held = []
        self.state.assigned = []
        self.metrics.assigned.set(0)
        self.metrics.lag.clear()
        self.metrics.in_flight.set(0)
        log.info("partitions %s; %d uncommitted batches/events will be re-read", why, dropped)

    # ------------------------------------------------------------------ broker state

    def _on_error(self, error: KafkaError) -> None:
        if error.fatal():
            self.fatal = error.str()
            return
        if error.code() == KafkaError._ALL_BROKERS_DOWN and self.state.broker_connected:
            self.state.broker_connected = False
            self.metrics.broker_up.set(0)
        self._log_error(error, "client")

    def _log_error(self, error: KafkaError, where: str) -> None:
        now = time.monotonic()
        code = error.code()
        if now - self._last_logged.get(code, -1e9) < _REPEAT_LOG_S:
            return
        self._last_logged[code] = now
        if code in _CONNECTION_ERRORS:
            log.warning(
                "broker unavailable (%s): retrying with backoff up to %d ms; nothing is "
                "committed until outputs are acknowledged",
                error.str(),
                self.settings.reconnect_backoff_max_ms,
                extra={"kafka_error": error.name(), "where": where},
            )
        else:
            log.warning("%s error: %s", where, error.str(), extra={"kafka_error": error.name()})

    def _on_stats(self, raw: str) -> None:
        """librdkafka statistics: broker connection state and per-partition lag."""
        stats: dict[str, Any] = json.loads(raw)
        up = any(b.get("state") == "UP" for b in stats.get("brokers", {}).values())
        if up and not self.state.broker_connected:
            log.info("broker connection up")
            self.connected_since = time.monotonic()
            self._last_logged.clear()
        self.state.broker_connected = up
        self.metrics.broker_up.set(1 if up else 0)
        topic = stats.get("topics", {}).get(self.settings.input_topic, {})
        for partition, data in topic.get("partitions", {}).items():
            lag = data.get("consumer_lag", -1)
            if partition != "-1" and lag >= 0:
                self.metrics.lag.labels(self.settings.input_topic, partition).set(lag)

    # ------------------------------------------------------------------ shutdown

    def _log_summary(self) -> None:
        summary = self._summary
        elapsed = time.monotonic() - summary["since"]
        if elapsed < _SUMMARY_EVERY_S:
            return
        if summary["consumed"] or summary["produced"]:
            log.info(
                "last %.0f s: consumed %d, produced %d predictions, %d dead letters",
                elapsed,
                summary["consumed"],
                summary["produced"],
                summary["dead"],
                extra={k: v for k, v in summary.items() if k != "since"},
            )
        self._summary = {"consumed": 0, "produced": 0, "dead": 0, "since": time.monotonic()}

    def _shutdown(self) -> int:
        if self.fatal:
            log.error("stopping after a fatal error: %s", self.fatal)
        else:
            log.info("stopping: flushing outputs and committing what is acknowledged")
        left = self.producer.flush(self.settings.drain_timeout_s)
        self._commit_finished(sync=True)
        if left:
            log.warning(
                "%d outputs not acknowledged within %.0f s; their events stay uncommitted and "
                "will be consumed again",
                left,
                self.settings.drain_timeout_s,
            )
        self.consumer.close()
        log.info("consumer closed")
        return 1 if self.fatal else 0


def signal_handler(consumer: StreamConsumer) -> Callable[[int, Any], None]:
    """First SIGTERM/SIGINT: finish and leave cleanly; a second one: leave now."""

    def handle(signum: int, _frame: Any) -> None:
        if consumer.stopping:
            log.warning("second signal %d: leaving without waiting for acknowledgements", signum)
            raise SystemExit(130)
        log.info("signal %d: finishing the current batch, then stopping", signum)
        consumer.stop()

    return handle
