"""The two ends of a spike: a sender that keeps its schedule, a reader that notes arrivals.

Both share one clock (``time.perf_counter`` from the start of the schedule). Keys carry the
event's index in the schedule (``<run prefix><index>``), so an arrival maps to its scheduled
time without parsing the prediction. Each event is produced with its scheduled time as the
Kafka timestamp, so the consumer's own end-to-end histogram measures from it as well.
Events go to the input partitions in turn, and only the last one per partition asks for a
delivery report (its offset is what the lag at the end is measured against): at tens of
thousands of events per second, a Python callback per event would slow the generator.
"""

from __future__ import annotations

import functools
import threading
import time
from typing import Any

import numpy as np
from confluent_kafka import (
    OFFSET_END,
    OFFSET_INVALID,
    Consumer,
    KafkaException,
    Producer,
    TopicPartition,
)

from ..kafka_logs import kafka_logger
from ..settings import StreamingSettings

_READ_WAIT_S = 0.002  # a consume call returns after this at most: arrival times stay exact
_READER_FETCH_WAIT_MS = 5


class SpikeError(Exception):
    """The spike cannot run here (no broker, no topic, no consumer); exit code 3."""


def schedule(events: int, rate: float, arrivals: str, seed: int = 0) -> np.ndarray:
    """Seconds from the start at which each event is due: uniform or Poisson arrivals."""
    if arrivals == "poisson":
        gaps = np.random.default_rng(seed).exponential(1.0 / rate, size=events)
        return np.concatenate(([0.0], np.cumsum(gaps[:-1])))
    return np.arange(events, dtype=np.float64) / rate


def _client_config(settings: StreamingSettings) -> dict[str, Any]:
    config = settings.common_config()
    config.pop("statistics.interval.ms", None)
    return config


class Sender:
    """Produces the schedule's events to the input topic, never waiting for the consumer."""

    def __init__(self, settings: StreamingSettings, payloads: list[bytes], prefix: bytes) -> None:
        config = settings.producer()
        config.pop("statistics.interval.ms", None)
        self.producer = Producer({**config, "logger": kafka_logger("spike-producer")})
        self.topic = settings.input_topic
        self.payloads = payloads
        self.prefix = prefix
        self.last_offsets: dict[int, int] = {}  # partition -> offset of the last event sent
        try:
            metadata = self.producer.list_topics(self.topic, timeout=30)
        except KafkaException as error:
            raise SpikeError(f"cannot reach the broker: {error}") from None
        described = metadata.topics.get(self.topic)
        if described is None or described.error is not None or not described.partitions:
            raise SpikeError(f"topic {self.topic} does not exist (make topics)")
        self.partitions = len(described.partitions)

    def warm_up(self, key: bytes, timeout_s: float) -> None:
        """One event through the producer before the clock starts: connections are up and
        the idempotent producer has its id (that alone can take half a second)."""
        self.producer.produce(self.topic, self.payloads[0], key)
        if self.producer.flush(timeout_s) != 0:
            raise SpikeError(f"the broker did not acknowledge an event within {timeout_s:g} s")

    def _delivered(self, error: object, message: Any) -> None:
        if error is None:
            self.last_offsets[message.partition()] = message.offset()

    def run(self, due_s: np.ndarray, clock_start: float, wall_start: float) -> np.ndarray:
        """Send event i at ``due_s[i]``; returns when each was handed to the producer."""
        sent_s = np.full(len(due_s), np.nan)
        poll, produce, payloads = self.producer.poll, self.producer.produce, self.payloads
        reported = functools.partial(produce, on_delivery=self._delivered)
        topic, prefix, count, partitions = self.topic, self.prefix, len(payloads), self.partitions
        now = time.perf_counter
        i, total = 0, len(due_s)
        last_round = total - partitions  # from here on, each event is its partition's last
        while i < total:
            ahead = due_s[i] - (now() - clock_start)
            if ahead > 0:
                poll(0)
                time.sleep(min(ahead, 0.001))
                continue
            while i < total and due_s[i] <= now() - clock_start:
                stamp_ms = int((wall_start + due_s[i]) * 1000)
                send = reported if i >= last_round else produce
                try:
                    send(
                        topic,
                        payloads[i % count],
                        prefix + str(i).encode(),
                        partition=i % partitions,
                        timestamp=stamp_ms,
                    )
                except BufferError:
                    poll(0.01)  # the producer's queue is full: this send (and later ones) is late
                    continue
                sent_s[i] = now() - clock_start
                i += 1
            poll(0)
        return sent_s

    def flush(self, timeout_s: float) -> int:
        left: int = self.producer.flush(timeout_s)
        return left


class Reader(threading.Thread):
    """Reads the output and dead-letter topics from their current end; notes arrivals."""

    def __init__(self, settings: StreamingSettings, prefix: bytes, events: int) -> None:
        super().__init__(name="spike-reader", daemon=True)
        config = _client_config(settings)
        config.update(
            {
                "group.id": f"spike-reader-{prefix.decode()}",
                "enable.auto.commit": False,
                "fetch.wait.max.ms": _READER_FETCH_WAIT_MS,
                "fetch.min.bytes": 1,
            }
        )
        self.consumer = Consumer({**config, "logger": kafka_logger("spike-reader")})
        self.output, self.dlq = settings.output_topic, settings.dlq_topic
        self.prefix = prefix
        self.arrived_s = np.full(events, np.nan)
        self.copies = np.zeros(events, dtype=np.int64)
        self.dead = np.zeros(events, dtype=bool)
        self.warmed = threading.Event()
        self.clock_start = 0.0
        self.stop_event = threading.Event()

    def assign_at_end(self, timeout_s: float) -> None:
        """Start at each partition's current end, so old predictions are not read.

        The end comes from a fetch response's high watermark: some brokers (Tansu) answer the
        offset lookup behind ``OFFSET_END`` wrongly, and a fetch is always right.
        """
        partitions = []
        for topic in (self.output, self.dlq):
            try:
                metadata = self.consumer.list_topics(topic, timeout=timeout_s)
            except KafkaException as error:
                raise SpikeError(f"cannot reach the broker: {error}") from None
            described = metadata.topics.get(topic)
            if described is None or described.error is not None or not described.partitions:
                raise SpikeError(f"topic {topic} does not exist (make topics)")
            partitions += [TopicPartition(topic, p) for p in described.partitions]
        self.consumer.assign(
            [TopicPartition(tp.topic, tp.partition, OFFSET_END) for tp in partitions]
        )
        deadline = time.monotonic() + timeout_s
        ends: dict[tuple[str, int], int] = {}
        while len(ends) < len(partitions) and time.monotonic() < deadline:
            self.consumer.consume(1000, 0.05)  # old records: only the watermarks matter
            for tp in partitions:
                _, high = self.consumer.get_watermark_offsets(tp, cached=True)
                if high != OFFSET_INVALID:
                    ends[(tp.topic, tp.partition)] = high
        if len(ends) < len(partitions):
            raise SpikeError(f"no fetch response from the broker within {timeout_s:g} s")
        for (topic, partition), high in ends.items():
            self.consumer.seek(TopicPartition(topic, partition, high))

    def received(self) -> int:
        return int(np.count_nonzero(~np.isnan(self.arrived_s) | self.dead))

    def run(self) -> None:
        prefix, width = self.prefix, len(self.prefix)
        arrived, copies, dead = self.arrived_s, self.copies, self.dead
        try:
            while not self.stop_event.is_set():
                messages = self.consumer.consume(1000, _READ_WAIT_S)
                at = time.perf_counter() - self.clock_start
                for message in messages:
                    key = message.key()
                    if message.error() is not None or not key or not key.startswith(prefix):
                        continue
                    tail = key[width:]
                    if not tail.isdigit():
                        self.warmed.set()  # the warm-up event's prediction (or dead letter)
                        continue
                    index = int(tail)
                    if index >= len(copies):
                        continue
                    if message.topic() == self.dlq:
                        dead[index] = True
                        continue
                    copies[index] += 1
                    if copies[index] == 1:
                        arrived[index] = at
        finally:
            self.consumer.close()


def lag_at_end(settings: StreamingSettings, sent: dict[int, int], timeout_s: float) -> int | None:
    """Events of this spike the consumer group has not committed yet; None if unknown.

    ``sent`` maps each input partition to the highest offset the spike wrote there (from
    the delivery reports, so no broker offset lookup is needed).
    """
    config = _client_config(settings)
    config.update({"group.id": settings.group_id, "enable.auto.commit": False})
    consumer = Consumer({**config, "logger": kafka_logger("spike-lag")})
    try:
        partitions = [TopicPartition(settings.input_topic, p) for p in sorted(sent)]
        committed = consumer.committed(partitions, timeout=timeout_s)
        return sum(max(0, sent[tp.partition] + 1 - max(tp.offset, 0)) for tp in committed)
    except KafkaException:
        return None
    finally:
        consumer.close()
