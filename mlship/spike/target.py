"""What a spike loads: a running service at a URL, or a project that spike starts itself.

A service project is started with its own run command (``make serve``) and its own
interpreter on a free loopback port, in a process group of its own, so that stopping it
stops everything it spawned. The wait for readiness is bounded; when the service fails,
the error carries its log tail.
"""

from __future__ import annotations

import shlex
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

from mlship.errors import InputError, ToolError
from mlship.spike import processes
from mlship.spike.interrupts import shielded
from mlship.spike.project import Interpreter, project_interpreter

DEFAULT_PATH = "/v1/predict"
READY_PATH = "/ready"
LOG_TAIL_LINES = 30


@dataclass(frozen=True)
class Target:
    """Where requests go (``base_url`` + ``path``) and the project that owns the service."""

    base_url: str
    path: str
    project: Path | None
    start: bool


def resolve(target: str, path: str | None) -> Target:
    """A URL (``http://host:port[/path]``) or a project directory."""
    if target.startswith(("http://", "https://")):
        url = urlsplit(target)
        if not url.hostname:
            raise InputError(f"target: {target!r} has no host")
        if url.scheme == "https":
            raise InputError(f"target: {target!r}: spike speaks plain HTTP only")
        try:
            port = url.port
        except ValueError:
            raise InputError(f"target: {target!r} has an invalid port") from None
        host = f"[{url.hostname}]" if ":" in url.hostname else url.hostname
        base = f"http://{host}:{port or 80}"
        chosen = path or (url.path if url.path not in ("", "/") else DEFAULT_PATH)
        cwd = Path.cwd()
        is_project = any(
            (cwd / name).is_file()
            for name in ("mlship.yaml", "models/manifest.json", "models/pipeline.json")
        )
        return Target(base_url=base, path=chosen, project=cwd if is_project else None, start=False)
    folder = Path(target)
    if not folder.is_dir():
        raise InputError(
            f"target: {target!r} is neither a URL (http://...) nor a project directory",
        )
    if not (folder / "Makefile").is_file():
        raise InputError(
            f"target: {folder.resolve()} has no Makefile, so spike cannot run the project",
            hint="run spike in a project made by `mlship new`, or give a running service's URL",
        )
    return Target(base_url="", path=path or DEFAULT_PATH, project=folder.resolve(), start=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _get_status(url: str, timeout: float) -> int | None:
    """HTTP status of a GET, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, OSError):
        return None


def wait_until_reachable(base_url: str, ready_timeout: float) -> None:
    """Check a running service before loading it: it must answer, and be ready if it says."""
    deadline = time.monotonic() + ready_timeout
    status = _get_status(base_url + READY_PATH, timeout=2.0)
    if status is None:
        raise ToolError(
            f"target {base_url} is unreachable (nothing answered GET {READY_PATH})",
            hint="start the service first, or give a project directory and spike starts it",
        )
    while status == 503 and time.monotonic() < deadline:
        time.sleep(0.25)
        status = _get_status(base_url + READY_PATH, timeout=2.0)
    if status == 503:
        raise ToolError(f"target {base_url} stayed not ready (503) for {ready_timeout:g} s")


def log_tail(path: Path, lines: int = processes.LOG_TAIL_LINES) -> str:
    return processes.log_tail(path, lines)


class Service:
    """A project's service, started on a free loopback port and stopped on exit.

    It runs with the project's own interpreter (``.venv`` when there is one): ``make
    serve`` reads ``PYTHON`` from the environment, and the venv comes first on ``PATH``.
    """

    def __init__(
        self,
        project: Path,
        log_path: Path,
        ready_timeout: float,
        command: str | None = None,
        interpreter: Interpreter | None = None,
    ) -> None:
        self.project = project
        self.log_path = log_path
        self.ready_timeout = ready_timeout
        self.port = free_port()
        self.interpreter = interpreter or project_interpreter(project)
        self.command = shlex.split(command) if command else ["make", "serve"]
        if not command:
            self.command += [
                "HOST=127.0.0.1",
                f"PORT={self.port}",
                f"PYTHON={self.interpreter.python}",
            ]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Service:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            with shielded():
                self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with shielded():
            self.stop()

    def start(self) -> None:
        env = self.interpreter.env(HOST="127.0.0.1", PORT=str(self.port))
        self.process = processes.start(self.command, self.project, env, self.log_path)

    def _failure(self, message: str) -> ToolError:
        return processes.failure(message, self.log_path, self.command, self.project)

    def wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                raise self._failure(f"the service exited with code {code} before it was ready")
            if _get_status(self.base_url + READY_PATH, timeout=1.0) == 200:
                return
            time.sleep(0.2)
        raise self._failure(
            f"the service did not become ready within {self.ready_timeout:g} s "
            f"(GET {self.base_url}{READY_PATH} never answered 200)"
        )

    def stop(self) -> None:
        """SIGTERM to the whole process group, then SIGKILL if it lingers."""
        processes.stop(self.process)
