"""The wire format: input events, prediction records and dead letters.

An input event's value is one instance as JSON: a list of numbers in the model's feature
order, or an object keyed by feature name. A prediction record keeps the input's key and
says which model produced it from which input (topic, partition, offset, timestamp). A
dead letter keeps the original key, value and headers byte for byte and adds ``dlq.*``
headers with the reason, so it can be inspected and replayed.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

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


_SCAN = json.JSONDecoder().scan_once  # the C scanner, without json.loads' wrappers
_ENCODE = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


def decode(value: bytes | None) -> Any:
    """The instance in an event's value; PoisonEvent("unparseable") if it is not JSON."""
    if value is None:
        raise PoisonEvent("unparseable", "empty value (tombstone)")
    try:
        text = value.decode().strip()
        instance, end = _SCAN(text, 0)
    except UnicodeDecodeError as error:
        raise PoisonEvent("unparseable", f"not UTF-8: {error}") from None
    except StopIteration:
        raise PoisonEvent("unparseable", "not JSON: no value at the start") from None
    except ValueError as error:
        raise PoisonEvent("unparseable", f"not JSON: {error}") from None
    if end != len(text):
        raise PoisonEvent("unparseable", f"not JSON: extra data at character {end}")
    return instance


def event_timestamp_ms(event: Event) -> int | None:
    """The producer's or broker's timestamp in epoch ms, None when the event has none."""
    kind, value = event.timestamp()
    return value if kind != 0 and value > 0 else None


class RecordEncoder:
    """Encodes prediction records; the parts that never change are encoded once."""

    def __init__(self, model_name: str, model_version: str) -> None:
        self._model = _ENCODE({"name": model_name, "version": model_version})
        self._topics: dict[str | None, str] = {}

    def record(self, event: Event, prediction: dict[str, Any]) -> tuple[bytes, int | None]:
        """The output value and the input's timestamp (ms), for latency accounting.

        ``{"prediction": {...}, "model": {"name", "version"}, "source": {"topic",
        "partition", "offset", "timestamp_ms"}}``
        """
        topic = event.topic()
        quoted = self._topics.get(topic)
        if quoted is None:
            quoted = self._topics[topic] = _ENCODE(topic)
        timestamp = event_timestamp_ms(event)
        text = (
            f'{{"prediction":{_ENCODE(prediction)},"model":{self._model},"source":'
            f'{{"topic":{quoted},"partition":{event.partition()},"offset":{event.offset()},'
            f'"timestamp_ms":{"null" if timestamp is None else timestamp}}}}}'
        )
        return text.encode(), timestamp


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
