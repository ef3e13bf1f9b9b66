"""Helpers for spike's tests: test projects, test servers and the real CLI in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

SERVERS = Path(__file__).with_name("servers.py")
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_http(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1.0):
                return
        except urllib.error.HTTPError:
            return  # it answers (e.g. 503 on /ready): that is enough here
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def stop_group(process: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]

    def stats(self) -> dict[str, float]:
        with urllib.request.urlopen(self.url + "/stats", timeout=5) as response:
            data: dict[str, float] = json.load(response)
            return data


@dataclass
class CliRun:
    code: int
    stdout: str
    stderr: str
    seconds: float

    def json(self) -> dict:  # type: ignore[type-arg]
        return json.loads(self.stdout)  # type: ignore[no-any-return]


def spike_cli(*args: str, cwd: Path | None = None, timeout: float = 240) -> CliRun:
    """Run ``mlship spike ARGS`` as a user would (a fresh process, no terminal)."""
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "mlship", "spike", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
    )
    return CliRun(result.returncode, result.stdout, result.stderr, time.monotonic() - start)


def write_payloads(path: Path, n_features: int = 4, count: int = 20) -> Path:
    lines = [
        json.dumps({"instances": [[float(i + j) for j in range(n_features)]]}) for i in range(count)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def make_project(
    folder: Path,
    serve: str,
    budget: dict[str, float] | None = None,
    n_features: int = 4,
) -> Path:
    """A minimal project as spike sees one: a Makefile with ``serve``, a manifest, mlship.yaml."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Makefile").write_text(
        "HOST ?= 127.0.0.1\nPORT ?= 8000\n.PHONY: serve\nserve:\n\t" + serve + "\n"
    )
    (folder / "models").mkdir(exist_ok=True)
    manifest = {
        "schema_version": 1,
        "name": "test-model",
        "version": "1.0.0",
        "framework": "onnx",
        "file": "model.onnx",
        "input": {
            "name": "input",
            "dtype": "float32",
            "shape": [None, n_features],
            "features": None,
        },
        "output": {"name": "probabilities", "classes": [0, 1]},
    }
    (folder / "models" / "manifest.json").write_text(json.dumps(manifest))
    if budget is not None:
        import yaml

        record = {"mlship_version": "0.1.0", "pattern": "online", "budget": budget}
        (folder / "mlship.yaml").write_text(yaml.safe_dump(record))
    return folder


def server_command(mode: str, *args: str) -> str:
    """The ``make serve`` recipe line that starts a test server on $(HOST):$(PORT)."""
    extra = " ".join(args)
    return f"{sys.executable} {SERVERS} --port $(PORT) --mode {mode} {extra}".strip()
