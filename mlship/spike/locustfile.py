"""The locustfile spike runs: closed users in a loop, or an open-model schedule.

Only ever loaded by locust in its own process (``locust -f`` with ``MLSHIP_SPIKE_CONFIG``
naming the run's config): importing locust monkey-patches the whole process, so no
other mlship module imports this one.

Every request is timed here with ``perf_counter`` and appended to the run's records
file (see :mod:`mlship.spike.records`); locust's request events are fired as well, so
its own console and distributed statistics keep working.

Open model: one scheduler greenlet per user computes the send times up front (uniform
or Poisson arrivals) and spawns one greenlet per send, never waiting for answers. The
latency is measured from the *scheduled* time, so a stalled service shows up as queueing
delay instead of silently slowing the generator (coordinated omission). Sends that
would exceed ``max_outstanding`` are recorded as ``dropped``; sends that left later than
``late_threshold_ms`` after their time are flagged ``late``.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import random
import socket
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import gevent  # type: ignore[import-untyped]
from gevent.pool import Group  # type: ignore[import-untyped]
from geventhttpclient import HTTPClient
from locust import User, constant, events, task
from locust.exception import StopUser

from mlship.spike.records import format_line

CONFIG: dict[str, Any] = json.loads(Path(os.environ["MLSHIP_SPIKE_CONFIG"]).read_text())
RAW_DIR = Path(CONFIG["raw_dir"])
VALID: list[bytes] = [
    line.encode() for line in Path(CONFIG["valid_file"]).read_text().splitlines() if line
]
INVALID: list[bytes] = [
    line.encode() for line in Path(CONFIG["invalid_file"]).read_text().splitlines() if line
]
HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}

_buffer: list[str] = []
_flusher: dict[int, gevent.Greenlet] = {}
_user_ids = itertools.count()


def _flush() -> None:
    if not _buffer:
        return
    lines = "".join(_buffer)
    _buffer.clear()
    with (RAW_DIR / f"records-{os.getpid()}.csv").open("a", encoding="utf-8") as handle:
        handle.write(lines)


def _flush_forever() -> None:
    while True:
        gevent.sleep(0.25)
        _flush()


def _record(t: float, latency_ms: float | None, outcome: str, valid: bool, late: bool) -> None:
    # the process id is read here, not at import: locust forks workers after importing us
    pid = os.getpid()
    if pid not in _flusher:
        _flusher[pid] = gevent.spawn(_flush_forever)
    _buffer.append(format_line(t, latency_ms, outcome, valid, late))


@events.test_stop.add_listener  # type: ignore[untyped-decorator]
def _on_test_stop(**_: Any) -> None:
    _flush()


@events.quitting.add_listener  # type: ignore[untyped-decorator]
def _on_quitting(**_: Any) -> None:
    _flush()


def _outcome(error: BaseException) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "refused"
    if isinstance(error, TimeoutError | socket.timeout | gevent.Timeout):
        return "timeout"
    if isinstance(error, ConnectionResetError | BrokenPipeError):
        return "reset"
    name = type(error).__name__
    if name == "HTTPConnectionClosed":
        return "reset"
    return f"error:{name}"


class SpikeUser(User):
    """One closed-model client, or one open-model scheduler (then one per worker)."""

    wait_time = constant(0)

    def on_start(self) -> None:
        url = urlsplit(self.host or "")
        self.index = next(_user_ids)
        self.rng = random.Random(f"{os.getpid()}-{self.index}")
        self.path = CONFIG["path"]
        self.sent = 0
        timeout = float(CONFIG["timeout_s"])
        concurrency = int(CONFIG["max_outstanding"]) if CONFIG["mode"] == "open" else 1
        self.http = HTTPClient(
            url.hostname or "127.0.0.1",
            url.port,
            concurrency=concurrency,
            network_timeout=timeout,
            connection_timeout=timeout,
        )

    def on_stop(self) -> None:
        _flush()
        self.http.close()

    def _body(self) -> tuple[bytes, bool]:
        """The next body: the invalid share is spread evenly over the sequence of sends."""
        share = float(CONFIG["invalid_share"])
        k = self.sent
        self.sent += 1
        if INVALID and math.floor((k + 1) * share) > math.floor(k * share):
            return self.rng.choice(INVALID), False
        return self.rng.choice(VALID), True

    def _send(self, due: float, due_wall: float, body: bytes, valid: bool, late: bool) -> None:
        """Send one request; latency runs from ``due`` (scheduled or actual send time)."""
        error: BaseException | None = None
        outcome = "error"
        length = 0
        try:
            response = self.http.request("POST", self.path, body=body, headers=HEADERS)
            try:
                length = len(response.read())
            finally:
                response.release()
            outcome = str(response.status_code)
        except gevent.GreenletExit:
            # open model: still unanswered when the drain time was up, a timeout; closed
            # model: cut off by the end of the run, not a result at all
            if CONFIG["mode"] != "open":
                due_wall = math.nan
            outcome = "timeout"
            raise
        except Exception as exc:
            error = exc
            outcome = _outcome(exc)
        finally:
            latency_ms = (time.perf_counter() - due) * 1000.0
            if not math.isnan(due_wall):
                _record(due_wall, latency_ms, outcome, valid, late)
        failure = error or (None if outcome.startswith("2") else RuntimeError(f"HTTP {outcome}"))
        self.environment.events.request.fire(
            request_type="POST",
            name=self.path,
            response_time=latency_ms,
            response_length=length,
            exception=failure,
            context={},
        )

    @task
    def work(self) -> None:
        if CONFIG["mode"] == "open":
            self._run_schedule()
            return
        body, valid = self._body()
        self._send(time.perf_counter(), time.time(), body, valid, late=False)

    def _run_schedule(self) -> None:
        """Send on schedule for the run's duration, drain, mark this user done, then idle."""
        rate = float(CONFIG["rate_per_user"])
        duration = float(CONFIG["duration_s"])
        limit = int(CONFIG["max_outstanding"])
        late_s = float(CONFIG["late_threshold_ms"]) / 1000.0
        poisson = CONFIG["arrivals"] == "poisson"
        group = Group()
        perf0, wall0 = time.perf_counter(), time.time()
        offset, n = 0.0, 0
        while offset < duration:
            due = perf0 + offset
            wait = due - time.perf_counter()
            if wait > 0:
                gevent.sleep(wait)
            late = time.perf_counter() - due > late_s
            body, valid = self._body()
            if len(group) >= limit:
                _record(wall0 + offset, None, "dropped", valid, late)
            else:
                group.spawn(self._send, due, wall0 + offset, body, valid, late)
            n += 1
            offset = offset + self.rng.expovariate(rate) if poisson else n / rate
        group.join(timeout=float(CONFIG["timeout_s"]) + 1.0)
        group.kill(block=True, timeout=2.0)
        _flush()
        (RAW_DIR / f"done-{os.getpid()}-{self.index}").write_text(str(n))
        raise StopUser()  # the parent stops locust once every scheduler is done
