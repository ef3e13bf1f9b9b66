"""An open-model HTTP load generator: requests leave on schedule, whatever the answers.

Run as a script with the interpreter of the project under test (uvloop when it has it)::

    python open_loop.py --url http://127.0.0.1:8000/v1/predict --body-file body.json \\
        --rate 2000 --duration 10 --out result.json

``--rate`` requests per second are scheduled for ``--duration`` seconds and handed to a pool
of keep-alive connections; each latency runs from the scheduled time, so time spent waiting
for a free connection counts (no coordinated omission). ``--rate 0`` makes it closed-loop
(each connection sends its next request when the last is answered) to measure capacity.
Every outcome is kept: status code, ``timeout``, ``reset`` (sent, no answer) or ``refused``.
The result is a JSON summary with exact nearest-rank percentiles per status.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

LATE = [0]


class Connection:
    """One keep-alive HTTP/1.1 connection, reopened after a close or an error."""

    def __init__(self, host: str, port: int, request: bytes, timeout_s: float) -> None:
        self.host, self.port = host, port
        self.request = request
        self.timeout_s = timeout_s
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def call(self) -> str:
        """One request: its status code as text, or what went wrong."""
        if self.writer is None:
            try:
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            except ConnectionRefusedError:
                return "refused"
            except OSError:
                return "connect_error"
        assert self.reader is not None
        try:
            self.writer.write(self.request)
            status, close = await asyncio.wait_for(self._response(self.reader), self.timeout_s)
        except TimeoutError:
            self.close()
            return "timeout"
        except (OSError, asyncio.IncompleteReadError, ValueError):
            self.close()
            return "reset"
        if close:
            self.close()
        return str(status)

    @staticmethod
    async def _response(reader: asyncio.StreamReader) -> tuple[int, bool]:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length, close = 0, False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection":
                close = value.strip().lower() == "close"
        if length:
            await reader.readexactly(length)
        return status, close

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def percentile(ordered: list[float], p: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered), max(1, math.ceil(p / 100 * len(ordered)))) - 1]


def summary(
    records: list[tuple[float, float, str]], duration_s: float, budget_ms: float
) -> dict[str, Any]:
    """Counts and exact latency percentiles (ms) per outcome; 200s within the budget."""
    by_outcome: dict[str, list[float]] = {}
    for _, latency, outcome in records:
        by_outcome.setdefault(outcome, []).append(latency * 1000)
    outcomes = {}
    for outcome, values in sorted(by_outcome.items()):
        values.sort()
        outcomes[outcome] = {
            "count": len(values),
            "p50_ms": round(percentile(values, 50) or 0, 3),
            "p99_ms": round(percentile(values, 99) or 0, 3),
            "max_ms": round(values[-1], 3),
        }
    ok = by_outcome.get("200", [])
    return {
        "sent": len(records),
        "duration_s": duration_s,
        "ok_within_budget": sum(1 for v in ok if v <= budget_ms),
        "outcomes": outcomes,
    }


async def open_model(args: argparse.Namespace, request: bytes) -> list[tuple[float, float, str]]:
    url = urlsplit(args.url)
    records: list[tuple[float, float, str]] = []
    queue: asyncio.Queue[float | None] = asyncio.Queue()

    async def worker() -> None:
        connection = Connection(url.hostname or "127.0.0.1", url.port or 80, request, args.timeout)
        due: float | None = None
        try:
            while (due := await queue.get()) is not None:
                outcome = await connection.call()
                records.append((due, time.perf_counter() - due, outcome))
                due = None
        except asyncio.CancelledError:
            if due is not None:  # still unanswered when the run gave up on it
                records.append((due, time.perf_counter() - due, "timeout"))
        finally:
            connection.close()

    workers = [asyncio.create_task(worker()) for _ in range(args.connections)]
    start = time.perf_counter() + 0.05
    total = math.floor(args.rate * args.duration)
    for n in range(total):
        due = start + n / args.rate
        wait = due - time.perf_counter()
        if wait > 0.0005:
            await asyncio.sleep(wait)
        elif wait < -0.005:
            LATE[0] += 1  # the generator itself fell behind its schedule
        queue.put_nowait(due)
    for _ in workers:
        queue.put_nowait(None)
    _, pending = await asyncio.wait(workers, timeout=args.timeout + 5)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    now = time.perf_counter()
    while not queue.empty():  # never sent: the whole pool was stuck
        due = queue.get_nowait()
        if due is not None:
            records.append((due, now - due, "timeout"))
    return records


async def closed_model(args: argparse.Namespace, request: bytes) -> list[tuple[float, float, str]]:
    url = urlsplit(args.url)
    records: list[tuple[float, float, str]] = []
    end = time.perf_counter() + args.duration

    async def worker() -> None:
        connection = Connection(url.hostname or "127.0.0.1", url.port or 80, request, args.timeout)
        while (sent := time.perf_counter()) < end:
            outcome = await connection.call()
            records.append((sent, time.perf_counter() - sent, outcome))
        connection.close()

    await asyncio.gather(*(worker() for _ in range(args.connections)))
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--body-file", type=Path, required=True)
    parser.add_argument("--rate", type=float, required=True, help="per second; 0: closed loop")
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--connections", type=int, default=256)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--budget-ms", type=float, default=100.0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    url = urlsplit(args.url)
    body = args.body_file.read_bytes()
    request = (
        f"POST {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    run = open_model if args.rate > 0 else closed_model
    records = asyncio.run(run(args, request))
    result = summary(records, args.duration, args.budget_ms)
    result["rate"] = args.rate
    result["generator_late"] = LATE[0]
    result["connections"] = args.connections
    args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
