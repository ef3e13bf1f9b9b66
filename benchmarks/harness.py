"""What every benchmark shares: a generated project in a venv of its own, and the result file.

A benchmark measures a project as a user gets it: rendered by ``mlship new`` and installed
with its own pinned dependencies (and the extras it names) into a fresh virtual
environment, never borrowing packages from the environment that runs the benchmark. The
result is saved to ``benchmarks/results/<name>.json`` with the date, the machine and its
load, and the command that reproduces it; ``python -m benchmarks.docs`` turns the result
files into the tables the docs quote.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
CACHE = ROOT / ".bench"
INSTALL_TIMEOUT_S = 1800


@dataclass(frozen=True)
class Installed:
    """A rendered project and the venv its own dependencies were installed into."""

    path: Path
    package: str
    venv: Path

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def env(self, **extra: str) -> dict[str, str]:
        """The environment a user of this project has: its venv first on PATH."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("APP_", "VIRTUAL_ENV"))}
        env["PATH"] = f"{self.venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(self.venv)
        env.update(extra)
        return env

    def run(self, *args: str, timeout: float = 1800, **env: str) -> str:
        """Run a command in the project with its venv; raise with its output on failure."""
        done = subprocess.run(
            list(args),
            cwd=self.path,
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(args)} exited {done.returncode}\n{done.stdout[-3000:]}\n"
                f"{done.stderr[-3000:]}"
            )
        return done.stdout


def _extras_of(project: Path) -> list[str]:
    """The extras ``make install`` installs (``EXTRAS ?=`` in the Makefile)."""
    for line in (project / "Makefile").read_text().splitlines():
        if line.startswith("EXTRAS ?="):
            return [e.strip() for e in line.split("=", 1)[1].split(",") if e.strip()]
    return []


def make_venv(key_parts: Iterable[str], requirements: list[str]) -> Path:
    """A venv (no system site packages) with ``requirements``, cached by their content."""
    requirements = sorted(requirements)
    key = hashlib.sha256("\n".join([*key_parts, *requirements]).encode()).hexdigest()[:16]
    venv = CACHE / "venvs" / key
    if (venv / ".complete").is_file():
        return venv
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"],
        check=True,
        capture_output=True,
        timeout=INSTALL_TIMEOUT_S,
    )
    if requirements:
        done = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *requirements],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_S,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"pip install failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    (venv / ".complete").write_text("\n".join(requirements) + "\n")
    return venv


def new_project(
    pattern: str,
    dest: Path,
    *,
    name: str,
    extras: list[str] | None = None,
    packages: list[str] | None = None,
    options: list[str] | None = None,
) -> Installed:
    """``mlship new PATTERN DEST`` and its own dependencies (+ ``extras`` and ``packages``).

    ``extras`` defaults to what the project's ``make install`` installs. ``packages`` adds
    what a baseline needs beside the project (pinned by the caller). The venv is cached by
    its dependency set under ``.bench/venvs``; the project is installed into it editable.
    """
    subprocess.run(
        [sys.executable, "-m", "mlship", "new", pattern, str(dest), "--defaults", "--no-git",
         "--name", name, *(options or [])],
        check=True,
        capture_output=True,
    )  # fmt: skip
    chosen = _extras_of(dest) if extras is None else extras
    import tomllib

    meta = tomllib.loads((dest / "pyproject.toml").read_text())["project"]
    requirements = list(meta.get("dependencies", []))
    optional = meta.get("optional-dependencies", {})
    pending, seen = list(chosen), set()
    while pending:
        extra = pending.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for requirement in optional.get(extra, []):
            if requirement.startswith(f"{meta['name']}["):
                pending.extend(requirement[len(meta["name"]) + 1 : -1].split(","))
            else:
                requirements.append(requirement)
    venv = make_venv([pattern], [*requirements, *(packages or [])])
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", "-e", str(dest)],
        check=True,
        capture_output=True,
    )
    package = next(p.parent.name for p in sorted((dest / "src").glob("*/__init__.py")))
    return Installed(dest, package, venv)


def machine() -> dict[str, Any]:
    """What the figures were measured on, and how busy it was."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "commit": commit or None,
        "cpu_times": cpu_times(),
    }


def cpu_times() -> list[int]:
    """The machine's CPU time counters (``/proc/stat``: user ... steal), or [] elsewhere."""
    try:
        with open("/proc/stat") as stat:
            return [int(x) for x in stat.readline().split()[1:9]]
    except OSError:
        return []


def steal_share(before: list[int], after: list[int]) -> float | None:
    """The share of CPU time the hypervisor gave to other guests between two readings:
    a shared host's noise, which the load average does not show."""
    if len(before) < 8 or len(after) < 8:
        return None
    spent = [b - a for a, b in zip(before, after, strict=True)]
    total = sum(spent)
    return round(spent[7] / total, 3) if total > 0 else None


def save_result(name: str, result: dict[str, Any], before: dict[str, Any]) -> Path:
    """Write ``benchmarks/results/<name>.json``: the figures, the machine, the command."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    document = {
        "benchmark": name,
        "command": f"nox -s bench -- {name}",
        "machine": before,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "cpu_steal_share": steal_share(before.get("cpu_times", []), cpu_times()),
        "result": result,
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    return path


def load_result(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    if not path.is_file():
        return None
    document: dict[str, Any] = json.loads(path.read_text())
    return document
