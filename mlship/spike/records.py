"""The raw record of every request a spike sent: one CSV line each, exact to the microsecond.

The load generator (inside locust, possibly several processes) appends lines while it
runs; spike reads them for the live view and, at the end, for every figure it reports.
Locust's own statistics round response times to about two significant digits, so the
verdict never uses them.

A line is ``t,latency_ms,outcome,valid,late``:

- ``t``: when the request was due (open model: the scheduled time) or sent (closed
  model), in seconds since the epoch;
- ``latency_ms``: from ``t`` to the end of the response; empty when nothing was sent;
- ``outcome``: the HTTP status code, or ``timeout``, ``refused``, ``reset``, ``dropped``
  (not sent: too many requests outstanding) or ``error:<Type>``; for events through a
  broker (written by a streaming project's own load generator): ``ok`` (a prediction
  came back), ``dlq`` (the event went to the dead-letter topic) or ``missing``;
- ``valid``: 1 for a valid body, 0 for a deliberately invalid one;
- ``late``: 1 when the request went out later than the late threshold after ``t``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

HEADER = "t,latency_ms,outcome,valid,late"
RECORD_GLOB = "records-*.csv"
DONE_GLOB = "done-*"
EVENT_OUTCOMES = ("ok", "dlq", "missing")


@dataclass(frozen=True, slots=True)
class Record:
    t: float
    latency_ms: float | None
    outcome: str
    valid: bool
    late: bool

    @property
    def status(self) -> int | None:
        return int(self.outcome) if self.outcome.isdigit() else None

    @property
    def ok(self) -> bool:
        """A valid body must get a 2xx; an invalid one a 4xx (rejected, not crashed).

        An event must get a prediction; an invalid one belongs in the dead-letter topic.
        """
        if self.outcome in EVENT_OUTCOMES:
            return self.outcome == ("ok" if self.valid else "dlq")
        code = self.status
        if code is None:
            return False
        return 200 <= code < 300 if self.valid else 400 <= code < 500

    @property
    def error_kind(self) -> str | None:
        """Why this request counts as an error, in words a report can show; None if ok."""
        if self.ok:
            return None
        code = self.status
        if code is not None:
            if not self.valid and 200 <= code < 300:
                return "invalid body accepted (2xx)"
            return f"status {code}"
        if self.outcome == "ok":
            return "invalid event predicted"
        return {
            "dlq": "dead-lettered",
            "missing": "missing (no prediction)",
            "timeout": "timeout",
            "refused": "connection refused",
            "reset": "connection reset",
            "dropped": "dropped (max outstanding)",
        }.get(self.outcome, self.outcome)


def format_line(t: float, latency_ms: float | None, outcome: str, valid: bool, late: bool) -> str:
    latency = "" if latency_ms is None else f"{latency_ms:.3f}"
    return f"{t:.6f},{latency},{outcome},{int(valid)},{int(late)}\n"


def parse_line(line: str) -> Record | None:
    """One record, or None for the header or a torn last line of a file still being written."""
    parts = line.rstrip("\n").split(",")
    if len(parts) != 5 or parts[0] == "t":
        return None
    try:
        return Record(
            t=float(parts[0]),
            latency_ms=float(parts[1]) if parts[1] else None,
            outcome=parts[2],
            valid=parts[3] == "1",
            late=parts[4] == "1",
        )
    except ValueError:
        return None


class RecordReader:
    """Reads every records file of a run incrementally: only complete new lines each time."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._offsets: dict[Path, int] = {}

    def read_new(self) -> list[Record]:
        out: list[Record] = []
        for path in sorted(self.folder.glob(RECORD_GLOB)):
            offset = self._offsets.get(path, 0)
            with path.open("rb") as handle:
                handle.seek(offset)
                chunk = handle.read()
            end = chunk.rfind(b"\n") + 1
            if end == 0:
                continue
            self._offsets[path] = offset + end
            for line in chunk[:end].decode("utf-8").splitlines():
                record = parse_line(line)
                if record is not None:
                    out.append(record)
        return out


def read_all(folder: Path) -> list[Record]:
    return RecordReader(folder).read_new()


def merge_into(folder: Path, target: Path) -> int:
    """Write every record of a run into one file, sorted by time; returns the count."""
    records = sorted(read_all(folder), key=lambda r: r.t)
    with target.open("w", encoding="utf-8") as handle:
        handle.write(HEADER + "\n")
        for r in records:
            handle.write(format_line(r.t, r.latency_ms, r.outcome, r.valid, r.late))
    return len(records)
