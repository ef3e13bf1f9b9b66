"""Fixtures for end-to-end tests that render, install and run generated projects.

Stable names other test modules rely on (keep them):

- ``template_data(**overrides) -> dict``: the copier data of a project; the ONE place that
  builds it (pins from ``mlship/data/pins.yaml``). Switch it to ``mlship.new.project`` here only.
- ``render_project(dest, pattern="online", **overrides) -> Path``: render into ``dest``.
- ``venv_for(project) -> Venv`` (session fixture returning a function): a venv with the
  project's dependencies, shared by every project with the same dependency set, and the
  project itself installed (editable). ``Venv.python``, ``Venv.bin``, ``Venv.env()``.
- ``online_project`` (session): ``Project`` of the default online project (onnx, logistic
  regression) rendered, installed with ``make install`` and with ``make model`` done.
- ``project_venv`` (session): the ``Venv`` of ``online_project``.
- ``free_port() -> int``: a free TCP port on 127.0.0.1.
- ``serve(project, venv, env=None, port=None, command=None)``: context manager that starts
  ``make serve`` (or ``command``) in its own process group, waits for ``/ready`` and always
  stops it; yields a ``Service`` (``url``, ``process``, ``output()``).
- ``running_service`` (session): base URL (``http://127.0.0.1:PORT``) of ``online_project``
  served by ``make serve``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from mlship.new.copier_data import CopierData
from mlship.new.render import render

READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 20.0


# ---------------------------------------------------------------- rendering


# copier keys that are `mlship new` options; the rest of an override is applied as data
SPEC_FIELDS = {
    "project_name": "name",
    "package": "package",
    "description": "description",
    "pattern": "pattern",
    "model_format": "model_format",
    "gpu": "gpu",
    "python_version": "python_version",
    "p99_ms": "p99_ms",
    "max_error_rate": "max_error_rate",
    "min_rps": "min_rps",
}


def template_data(**overrides: Any) -> dict[str, Any]:
    """Copier data for a project exactly as ``mlship new`` computes it (default: online,
    onnx, named demo-service); keys that are not ``mlship new`` options override the data."""
    from mlship.new.plan import plan_project
    from mlship.new.spec import ProjectSpec

    values = {"project_name": "demo-service", "pattern": "online", **overrides}
    spec = ProjectSpec(**{SPEC_FIELDS[k]: v for k, v in values.items() if k in SPEC_FIELDS})
    data = plan_project(
        spec, Path(tempfile.gettempdir()) / values["project_name"]
    ).data.model_dump()
    data.update({k: v for k, v in overrides.items() if k not in SPEC_FIELDS})
    return data


def render_project(dest: Path, pattern: str = "online", **overrides: Any) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    render(pattern, dest, CopierData(**template_data(pattern=pattern, **overrides)))
    return dest


# ---------------------------------------------------------------- environments


@dataclass(frozen=True)
class Venv:
    path: Path

    @property
    def bin(self) -> Path:
        return self.path / "bin"

    @property
    def python(self) -> Path:
        return self.bin / "python"

    def env(self, **extra: str) -> dict[str, str]:
        """Environment that runs this venv's tools first, with no user config leaking in."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("APP_", "VIRTUAL_ENV"))}
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(self.path)
        env["PYTHON"] = str(self.python)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.update(extra)
        return env


@dataclass(frozen=True)
class Project:
    path: Path
    package: str
    venv: Venv

    def run(self, *args: str, timeout: float = 600, **env: str) -> subprocess.CompletedProcess[str]:
        """Run a command in the project with its venv; fail the test with its output."""
        result = subprocess.run(
            list(args),
            cwd=self.path,
            env=self.venv.env(**env),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            pytest.fail(
                f"{' '.join(args)} exited {result.returncode}\n"
                f"--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}"
            )
        return result


def requirements(project: Path, extras: list[str]) -> list[str]:
    """The project's dependencies plus the given extras, self-references resolved."""
    meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    optional = meta.get("optional-dependencies", {})
    name = meta["name"]
    found: list[str] = list(meta.get("dependencies", []))
    pending = list(extras)
    seen: set[str] = set()
    while pending:
        extra = pending.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for requirement in optional.get(extra, []):
            if requirement.startswith(f"{name}["):
                pending.extend(requirement[len(name) + 1 : -1].split(","))
            else:
                found.append(requirement)
    return sorted(set(found))


def make_extras(project: Path) -> list[str]:
    """The extras ``make install`` installs (EXTRAS in the Makefile)."""
    for line in (project / "Makefile").read_text().splitlines():
        if line.startswith("EXTRAS ?="):
            return [e.strip() for e in line.split("=", 1)[1].split(",") if e.strip()]
    return ["dev"]


@pytest.fixture(scope="session")
def venv_for(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Path], Venv]:
    """Venvs keyed by dependency set; the first project of a set installs with ``make install``."""
    root = tmp_path_factory.mktemp("venvs")
    made: dict[str, Venv] = {}

    def get(project: Path) -> Venv:
        reqs = requirements(project, make_extras(project))
        key = hashlib.sha256("\n".join(reqs).encode()).hexdigest()[:12]
        venv = made.get(key)
        if venv is None:
            venv = Venv(root / key)
            subprocess.run([sys.executable, "-m", "venv", str(venv.path)], check=True)
            # the real install path a user takes: dependencies and the project in one go
            _check(["make", "install"], project, venv, timeout=1200)
            made[key] = venv
        else:
            _check(
                [str(venv.python), "-m", "pip", "install", "-q", "--no-deps", "-e", "."],
                project,
                venv,
            )
        return venv

    return get


def _check(command: list[str], cwd: Path, venv: Venv, timeout: float = 600) -> None:
    result = subprocess.run(
        command, cwd=cwd, env=venv.env(), capture_output=True, text=True, timeout=timeout
    )
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(command)} failed in {cwd}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )


def prepare_project(
    dest: Path, venv_for: Callable[[Path], Venv], build_model: bool = True, **overrides: Any
) -> Project:
    """Render, install and (by default) ``make model``: a project ready to test and serve."""
    data = template_data(**overrides)
    render_project(dest, **overrides)
    project = Project(dest, data["package"], venv_for(dest))
    if build_model:
        project.run("make", "model", timeout=900)
    return project


@pytest.fixture(scope="session")
def online_project(
    tmp_path_factory: pytest.TempPathFactory, venv_for: Callable[[Path], Venv]
) -> Project:
    return prepare_project(tmp_path_factory.mktemp("online") / "demo-service", venv_for)


@pytest.fixture(scope="session")
def project_venv(online_project: Project) -> Venv:
    return online_project.venv


# ---------------------------------------------------------------- services


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Service:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    extra: dict[str, Any] = field(default_factory=dict)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


def stop_group(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
    """Signal the process group, wait, and kill it if it does not stop in time."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    try:
        return process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        return process.wait(timeout=STOP_TIMEOUT_S)


def start_process(
    project: Project, command: list[str], env: dict[str, str], log_path: Path
) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as log:
        return subprocess.Popen(
            command,
            cwd=project.path,
            env=project.venv.env(**env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: stopped as a whole
        )


def wait_ready(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"service exited {process.returncode} before ready:\n{log_path.read_text()[-4000:]}"
            )
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"service not ready in {READY_TIMEOUT_S} s:\n{log_path.read_text()[-4000:]}")


@contextlib.contextmanager
def serve(
    project: Project,
    env: dict[str, str] | None = None,
    port: int | None = None,
    command: list[str] | None = None,
) -> Iterator[Service]:
    """Start the project's service on 127.0.0.1, wait for /ready, always stop it."""
    port = port or free_port()
    log_path = project.path / f".serve-{port}.log"
    run_env = {"HOST": "127.0.0.1", "PORT": str(port), **(env or {})}
    if command is None:
        command = ["make", "serve", f"PYTHON={project.venv.python}"]
    process = start_process(project, command, run_env, log_path)
    service = Service(f"http://127.0.0.1:{port}", process, log_path)
    try:
        wait_ready(service.url, process, log_path)
        yield service
    finally:
        stop_group(process)


@pytest.fixture(scope="session")
def running_service(online_project: Project) -> Iterator[str]:
    with serve(online_project) as service:
        yield service.url
