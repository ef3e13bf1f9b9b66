"""librdkafka's own log lines, routed through our JSON logs with repeats held back.

Without this, librdkafka prints to stderr in its own format, and a missing broker yields a
"Connect ... failed" line per reconnect attempt. The loop reports outages itself; here each
kind of librdkafka message is let through at most once per interval.
"""

from __future__ import annotations

import logging
import time

REPEAT_INTERVAL_S = 30.0


class RepeatFilter(logging.Filter):
    """Pass a record only if the same facility and level was not seen recently."""

    def __init__(self, interval_s: float = REPEAT_INTERVAL_S) -> None:
        super().__init__()
        self.interval_s = interval_s
        self._seen: dict[tuple[str, int], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        text = str(record.msg)
        facility = text.split(" ", 1)[0]
        key = (facility, record.levelno)
        now = time.monotonic()
        if now - self._seen.get(key, -1e9) < self.interval_s:
            return False
        self._seen[key] = now
        return True


def kafka_logger(name: str) -> logging.Logger:
    """A logger for one librdkafka client (pass it as the ``logger`` config)."""
    logger = logging.getLogger(f"{__package__}.librdkafka.{name}")
    if not any(isinstance(f, RepeatFilter) for f in logger.filters):
        logger.addFilter(RepeatFilter())
    return logger
