"""The wire format: input events, prediction records and dead letters.

An input event's value is one instance as JSON: a list of numbers in the model's feature
order, or an object keyed by feature name. A prediction record keeps the input's key and
says which model produced it from which input (topic, partition, offset, timestamp). A
dead letter keeps the original key, value and headers byte for byte and adds ``dlq.*``
headers with the reason, so it can be inspected and replayed.
"""

from __future__ import annotations

from typing import Any, Protocol

import orjson

REASONS = ("unparseable", "schema", "inference")
_MAX_DETAIL = 1000


class Event(Protocol):
    """What the code reads from a consumed message (confluent_kafka.Message has it all)."""

    def key(self) -> bytes | None: ...
    def value(self) -> bytes | None: ...
    def headers(self) -> list[tuple[str, bytes | None]] | None: ...
    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def timestamp(self) -> tuple[int, int]: ...


class PoisonEvent(Exception):
    """An event that cannot be scored; it goes to the dead-letter topic with this reason."""

    def __init__(self, reason: str, detail: str) -> None:
        assert reason in REASONS, reason
        super().__init__(detail)
        self.reason = reason
        self.detail = detail[:_MAX_DETAIL]


def decode(value: bytes | None) -> Any:
    """The instance in an event's value; PoisonEvent("unparseable") if it is not JSON.

    Strict JSON (RFC 8259): NaN and Infinity literals are refused here, like trailing data.
    """
    if value is None:
        raise PoisonEvent("unparseable", "empty value (tombstone)")
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError as error:
        raise PoisonEvent("unparseable", f"not JSON: {error}") from None


def event_timestamp_ms(event: Event) -> int | None:
    """The producer's or broker's timestamp in epoch ms, None when the event has none."""
    kind, value = event.timestamp()
    return value if kind != 0 and value > 0 else None


class RecordEncoder:
    """Encodes prediction records (one small dict and one ``orjson.dumps`` per event)."""

    def __init__(self, model_name: str, model_version: str) -> None:
        self._model = {"name": model_name, "version": model_version}

    def record(self, event: Event, prediction: dict[str, Any]) -> tuple[bytes, int | None]:
        """The output value and the input's timestamp (ms), for latency accounting.

        ``{"prediction": {...}, "model": {"name", "version"}, "source": {"topic",
        "partition", "offset", "timestamp_ms"}}``
        """
        timestamp = event_timestamp_ms(event)
        source = {
            "topic": event.topic(),
            "partition": event.partition(),
            "offset": event.offset(),
            "timestamp_ms": timestamp,
        }
        value = orjson.dumps({"prediction": prediction, "model": self._model, "source": source})
        return value, timestamp


def dead_letter_headers(
    event: Event, reason: str, detail: str, model_version: str
) -> list[tuple[str, bytes]]:
    """The original headers plus ``dlq.*`` headers that say why and where from."""
    headers: list[tuple[str, bytes]] = [
        (name, value if value is not None else b"") for name, value in (event.headers() or [])
    ]
    timestamp = event_timestamp_ms(event)
    headers += [
        ("dlq.reason", reason.encode()),
        ("dlq.detail", detail[:_MAX_DETAIL].encode()),
        ("dlq.source.topic", str(event.topic()).encode()),
        ("dlq.source.partition", str(event.partition()).encode()),
        ("dlq.source.offset", str(event.offset()).encode()),
        ("dlq.source.timestamp_ms", str(timestamp if timestamp is not None else "").encode()),
        ("dlq.model_version", model_version.encode()),
    ]
    return headers
