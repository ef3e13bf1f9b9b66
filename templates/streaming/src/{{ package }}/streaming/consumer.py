"""The consume -> score -> produce -> commit loop, with at-least-once delivery.

One thread does everything Kafka-related, so delivery reports and rebalance callbacks run
between loop steps and need no locks. The loop:

1. takes a batch sized, and waits for it as long as, a share of the latency budget and the
   measured arrival rate allow (``batching.BatchSizer``);
2. scores them in one model call (``scoring.Scorer``), bad events become dead letters;
3. hands every prediction and dead letter to the idempotent producer without waiting;
4. commits input offsets (every ``commit_interval_ms``) only for the prefix of batches whose
   outputs the broker has acknowledged, so a crash at any point re-delivers rather than
   loses events.

At most ``max_in_flight_batches`` batches wait for acknowledgements; beyond that (or when
the producer's queue is full) the partitions are paused while the loop keeps polling, so
the group membership and ``max.poll.interval.ms`` stay safe. When the model fails for a
whole batch (out of memory, a lost GPU), the batch is held, the partitions are paused and
``/ready`` fails while the loop retries with exponential backoff; nothing is dead-lettered
or committed for it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, cast

import numpy as np
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from ..inference.drift import DriftMonitor
from ..inference.predictor import Predictor
from .batching import BatchSizer
from .events import Event, RecordEncoder, dead_letter_headers
from .health import LoopState
from .inflight import Batch, InFlight, Partition
from .kafka_logs import kafka_logger
from .metrics import StreamMetrics
from .scoring import ModelUnavailable, Scorer
from .settings import StreamingSettings

log = logging.getLogger(__name__)
_REPEAT_LOG_S = 30.0
_SUMMARY_EVERY_S = 30.0
_CONNECTION_ERRORS = {KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT, KafkaError._RESOLVE}
# Longest wait for the first event of a batch: short while outputs await acknowledgement
# (their delivery reports are served between waits), longer when nothing is in flight.
_IDLE_WAIT_S = 0.1
_IDLE_WAIT_IN_FLIGHT_S = 0.005
# Backpressure shorter than this (acknowledgements a little slow) is waited out without
# polling the consumer; longer, the partitions are paused and polled.
_PAUSE_AFTER_S = 0.5
# Leaving the group takes a few milliseconds with a broker that answers: allowed even when
# flushing used up the drain timeout.
_CLOSE_AT_LEAST_S = 0.5


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
        self.scorer = Scorer(predictor)
        wait_ms = settings.max_batch_wait_ms
        self.sizer = BatchSizer(
            settings.latency_budget_ms / 1000,
            settings.max_batch_size,
            None if wait_ms is None else wait_ms / 1000,
            settings.batch_latency_share,
        )
        self.uncommitted: dict[Partition, int] = {}  # acknowledged, not yet committed
        self.last_commit = time.monotonic()
        metrics.consumed.labels(settings.input_topic)  # exported at 0 before the first event
        self.inflight = InFlight()
        self.held: list[Message] = []
        self.paused = False
        self.stopping = False
        self.drain_deadline: float | None = None
        self.retry_at: float | None = None
        self.retry_delay_s = 0.0
        self.blocked_s = 0.0
        self.room_wait_since: float | None = None
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
        """Not ready at once; finish the current batch, flush, commit and close within
        ``drain_timeout_s``."""
        if not self.stopping:
            self.drain_deadline = time.monotonic() + self.settings.drain_timeout_s
        self.stopping = True
        self.state.draining = True

    def run(self) -> int:
        s = self.settings
        log.info(
            "consuming %s -> %s (dead letters: %s) as group %s from %s",
            s.input_topic,
            s.output_topic,
            s.dlq_topic,
            s.group_id,
            s.bootstrap_servers,
            extra={
                "batch": s.max_batch_size,
                "in_flight": s.max_in_flight_batches,
                "budget_ms": s.latency_budget_ms,
            },
        )
        self.consumer.subscribe(
            [s.input_topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
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
                self.room_wait_since = self.room_wait_since or time.monotonic()
                self._wait_for_room("in_flight", self.room_wait_since)
                continue
            self.room_wait_since = None
            if self.retry_at is not None:
                self._retry_model()
                continue
            self._resume()
            # A rebalance inside _take (several polls) makes the whole batch uncommittable.
            generation = self.generation
            room = self.sizer.limit() - len(self.held)
            events = self.held + (self._take(room) if room > 0 else [])
            self.held = []
            if events:
                self._process(events, generation)
            self._log_summary()
        return self._shutdown()

    def _take(self, room: int) -> list[Message]:
        """Up to ``room`` events: what has arrived, plus what arrives within the sizer's
        wait when the arrival rate makes waiting worth it; otherwise it waits only for
        the first event (at most a short idle interval, so the loop keeps turning)."""
        events = self._consume(room, 0)
        wait_s = self.sizer.wait_s()
        if wait_s > 0:
            if len(events) < room:
                events += self._consume(room - len(events), wait_s)  # returns once full
            return events
        if not events:
            idle_s = _IDLE_WAIT_IN_FLIGHT_S if len(self.inflight) else _IDLE_WAIT_S
            events = self._consume(1, idle_s)
            if events and room > 1:
                events += self._consume(room - 1, 0)
        return events

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

    def _wait_for_room(self, cause: str, since: float) -> None:
        """Backpressure: serve acknowledgements; once it lasts, also pause and poll.

        Short waits do not poll the consumer, so nothing is paused and resumed (a pause
        drops the events fetched ahead, which are then fetched again). Long waits pause,
        so that polling (for the group's rebalances and ``max.poll.interval.ms``) returns
        no events.
        """
        self.producer.poll(0.05)
        if time.monotonic() - since >= _PAUSE_AFTER_S:
            self._pause(cause)
            self._keep_membership()

    def _keep_membership(self) -> None:
        """Poll while paused: serves rebalances and heartbeats; keeps anything returned."""
        room = max(1, self.settings.max_batch_size - len(self.held))
        self.held += self._consume(room, 0)

    def _process(self, events: list[Message], generation: int) -> None:
        """Score, produce and track one batch; ``generation`` is the assignment it was
        taken under (a batch that straddles a rebalance is produced but never committed)."""
        started = time.perf_counter()
        self.blocked_s = 0.0  # waits for room in the producer's queue (backpressure)
        offsets: dict[Partition, int] = {}
        consumed: list[Any] = events  # consumed messages always carry topic, partition, offset
        for message in consumed:
            offsets[(message.topic(), message.partition())] = message.offset() + 1
        batch_events = cast(list[Event], events)
        batch = Batch(next_offsets=offsets)
        try:
            scored = self.scorer.score(batch_events)
        except ModelUnavailable as error:
            # Held for a retry only if still ours: a batch taken across a rebalance is read
            # again from the last commit by whoever owns its partitions now.
            self._model_failed(events if generation == self.generation else [], str(error))
            return
        if self.state.model_failing_since is not None:
            self._model_recovered()
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
        seconds = time.perf_counter() - started
        m.batch_duration.observe(seconds)
        # The sizer learns what a batch costs, not how long the producer made it wait.
        self.sizer.observe(n, max(seconds - self.blocked_s, 0.0), time.monotonic())
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
        queue_full_since: float | None = None
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
                if self._drain_expired():
                    batch.pending -= 1
                    batch.failed = batch.failed or "drain timeout: not handed to the producer"
                    return
                waited = time.perf_counter()
                queue_full_since = queue_full_since or time.monotonic()
                self._wait_for_room("producer_queue", queue_full_since)
                self.state.turned()
                self.blocked_s += time.perf_counter() - waited
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

    # ------------------------------------------------------------------ a failing model

    def _model_failed(self, events: list[Message], problem: str) -> None:
        """Hold the batch (it is retried first), pause, back off, report not ready."""
        s, now = self.settings, time.monotonic()
        self.held = events + self.held
        self.retry_delay_s = min(
            max(2 * self.retry_delay_s, s.model_retry_backoff_ms / 1000),
            s.model_retry_backoff_max_ms / 1000,
        )
        self.retry_at = now + self.retry_delay_s
        if self.state.model_failing_since is None:
            self.state.model_failing_since = now
        self.metrics.model_failures.inc()
        self.metrics.ready.set(0)
        self._pause("model")
        log.error(
            "the model failed for a whole batch of %d events: %s; not dead-lettering them, "
            "nothing committed, partitions paused; retrying in %.1f s",
            len(events),
            problem,
            self.retry_delay_s,
            extra={"failing_s": round(self.state.model_failing_s(), 3)},
        )

    def _model_recovered(self) -> None:
        log.info(
            "the model scores again after %.1f s of failures; resuming",
            self.state.model_failing_s(),
        )
        self.state.model_failing_since = None
        self.retry_at = None
        self.retry_delay_s = 0.0
        self.metrics.ready.set(1)

    def _retry_model(self) -> None:
        """While backing off: keep polling (membership, acknowledgements); then retry the
        held batch, or probe the model when a rebalance took the batch away."""
        assert self.retry_at is not None
        wait_s = self.retry_at - time.monotonic()
        if wait_s > 0:
            self._pause("model")
            self.producer.poll(min(wait_s, 0.1))
            self._keep_membership()
            return
        events, self.held = self.held, []
        if events:
            self._process(events, self.generation)
            return
        problem = self.scorer.healthy()
        if problem is None:
            self._model_recovered()
        else:
            self._model_failed([], f"probe row: {problem}")

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
        self.uncommitted.update(offsets)
        if not self.uncommitted:
            return
        now = time.monotonic()
        if not sync and (now - self.last_commit) * 1000 < self.settings.commit_interval_ms:
            return
        partitions = [TopicPartition(t, p, o) for (t, p), o in self.uncommitted.items()]
        self.uncommitted = {}
        self.last_commit = now
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
                self._refetch(assignment)
            self.paused = False
            self.metrics.paused.set(0)

    def _refetch(self, partitions: list[TopicPartition]) -> None:
        """Fetch resumed partitions now: left alone, librdkafka took 0.4-0.9 s to fetch
        them again (measured against Tansu); a seek to where the loop stands restarts
        their fetch at once (15-20 ms). Nothing is skipped or read twice."""
        for position in self.consumer.position(partitions):
            if position.offset < 0:
                continue  # nothing read there yet: it fetches from the committed offset
            try:
                self.consumer.seek(position)
            except KafkaException as error:
                log.debug("no seek after resume for %s: %s", position, error)

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
        left = self.producer.flush(self._drain_left_s())
        self._commit_finished(sync=True)
        self._forget(f"revoked ({left} outputs unacknowledged)")

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.metrics.rebalances.labels("lost").inc()
        self._forget("lost (no commit possible)")

    def _forget(self, why: str) -> None:
        self.generation += 1
        dropped = self.inflight.clear() + len(self.held)
        self.held = []
        self.uncommitted = {}  # revoked: already committed; lost: no longer ours to commit
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

    def _drain_left_s(self) -> float:
        """Time left to wait for acknowledgements: until the drain deadline once stopping."""
        if self.drain_deadline is None:
            return self.settings.drain_timeout_s
        return max(0.0, self.drain_deadline - time.monotonic())

    def _drain_expired(self) -> bool:
        return self.drain_deadline is not None and time.monotonic() >= self.drain_deadline

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
        if self.drain_deadline is None:  # a fatal error: the same time limit as SIGTERM
            self.drain_deadline = time.monotonic() + self.settings.drain_timeout_s
        started = time.monotonic()
        if self.fatal:
            log.error("stopping after a fatal error: %s", self.fatal)
        else:
            log.info("stopping: flushing outputs and committing what is acknowledged")
        if self.held:
            log.info(
                "%d events taken but not scored stay uncommitted; the group reads them again",
                len(self.held),
            )
        left = self.producer.flush(self._drain_left_s())
        if left:
            log.warning(
                "%d outputs not acknowledged within the drain timeout (%g s); their events "
                "stay uncommitted and will be consumed again",
                left,
                self.settings.drain_timeout_s,
            )
        # A synchronous commit and leaving the group wait on the broker with librdkafka's
        # own request timeout (a minute): off the main thread, so the drain timeout holds.
        closing = threading.Thread(target=self._commit_and_close, name="close", daemon=True)
        closing.start()
        closing.join(max(self._drain_left_s(), _CLOSE_AT_LEAST_S))
        drain_s = round(time.monotonic() - started, 3)
        if closing.is_alive():
            log.warning(
                "the broker did not confirm the last commit and the group exit within the "
                "drain timeout (%g s); exiting without them: uncommitted events will be "
                "consumed again",
                self.settings.drain_timeout_s,
                extra={"drain_s": drain_s},
            )
        else:
            log.info("consumer closed", extra={"drain_s": drain_s})
        return 1 if self.fatal else 0

    def _commit_and_close(self) -> None:
        self._commit_finished(sync=True)
        self.consumer.close()  # leaves the group; the revocation callback commits again


def signal_handler(consumer: StreamConsumer) -> Callable[[int, Any], None]:
    """First SIGTERM/SIGINT: finish and leave cleanly; a second one: leave now."""

    def handle(signum: int, _frame: Any) -> None:
        if consumer.stopping:
            log.warning("second signal %d: leaving without waiting for acknowledgements", signum)
            raise SystemExit(130)
        log.info("signal %d: finishing the current batch, then stopping", signum)
        consumer.stop()

    return handle
