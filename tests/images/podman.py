"""Podman for the images suite: the README's container commands, run as written.

Each generated README has a "Container image" section whose first fenced block holds the
commands a user types (``docker build``, ``docker run``, and the shell lines around them).
The suite runs exactly those lines in the project folder with ``docker`` replaced by
``podman`` and only the flags this machine needs added (``MACHINE_BUILD_FLAGS``; for a
run, ``--network=host`` and the test's own ``-e``/``--name``/``-d`` placed just before the
image, so they win over the README's; a test may pass its own ``--network``).
``ReadmeCommands`` remembers which lines ran, so a test can check that the README lists
nothing the suite did not run, and that each Dockerfile's header shows the same commands.

Every image and container a test makes is removed again (``Image.remove``,
``Container.remove``), the build stage's untagged image included (found by its label).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

BUILD_TIMEOUT_S = 900.0
RUN_TIMEOUT_S = 300.0
# --no-cache: this buildah keys a cached `RUN --mount=...,from=builder` layer without the
# mounted stage's content (another project's wheels); --format docker keeps HEALTHCHECK;
# --network=host: the build's pip reaches the index through this machine.
MACHINE_BUILD_FLAGS = ("--no-cache", "--network=host", "--format", "docker")
LABEL = "ai.mlship.test"  # marks every image (and build stage) a test builds
SECTION = "## Container image"
# What a runtime image must not carry: compilers, pip caches, tests, the build stage.
LEAN_CHECK = r"""
import json, os, shutil
found = [c for c in ("gcc", "cc", "c++", "g++", "clang", "make") if shutil.which(c)]
home = os.path.expanduser("~")
for path in ("/root/.cache/pip", os.path.join(home, ".cache", "pip"), "/wheels", "/build",
             "/app/tests", "/app/src"):
    if os.path.exists(path):
        found.append(path)
for root, dirs, _ in os.walk("/app"):
    found += [os.path.join(root, d) for d in dirs if d in ("tests", "__pycache__", ".git")]
print(json.dumps(found))
"""


def podman_or_fail() -> str:
    path = shutil.which("podman")
    if path is None:
        pytest.fail("podman is not installed: run .ci/container-base.sh (as root) first")
    done = subprocess.run(
        [path, "image", "exists", "python:3.11-slim"], capture_output=True, timeout=60
    )
    if done.returncode != 0:
        pytest.fail("no python:3.11-slim image: run .ci/container-base.sh (as root) first")
    return path


def podman(*args: str, timeout: float = RUN_TIMEOUT_S, check: bool = True) -> str:
    done = subprocess.run(
        ["podman", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and done.returncode != 0:
        pytest.fail(f"podman {' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return done.stdout


def readme_block(readme: str) -> list[str]:
    """The commands of the README's container section: its first fenced block, one command a
    line, comments and blank lines left out."""
    _, found, rest = readme.partition(SECTION + "\n")
    assert found, f"the README has no {SECTION!r} section"
    match = re.search(r"```(?:bash)?\n(.*?)```", rest, re.DOTALL)
    assert match, f"no command block under {SECTION!r}"
    lines = []
    for raw in match.group(1).splitlines():
        line = raw.split("  #", 1)[0].strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def header_commands(dockerfile: str) -> list[str]:
    """The docker commands a Dockerfile's leading comment shows (continuations joined)."""
    commands, pending = [], ""
    for raw in dockerfile.splitlines():
        if not raw.startswith("#"):
            break
        text = raw.lstrip("#").strip()
        if pending or re.match(r"(make model && )?docker (build|run) ", text):
            pending += text
            if pending.endswith("\\"):
                pending = pending[:-1].rstrip() + " "
            else:
                commands.append(" ".join(pending.split()))
                pending = ""
    return commands


def tag_of(build_line: str) -> str:
    words = shlex.split(build_line.split("docker build ", 1)[1])
    return words[words.index("-t") + 1]


def to_podman(line: str, tags: list[str], run_flags: list[str], build_flags: list[str]) -> str:
    """A README line as this machine runs it: docker -> podman, the machine's flags added."""
    build = "docker build "
    if build in line:
        flags = shlex.join([*MACHINE_BUILD_FLAGS, *build_flags])
        return line.replace(build, f"podman build {flags} ", 1)
    if line.startswith("docker run "):
        network = [] if any(f.startswith("--network") for f in run_flags) else ["--network=host"]
        flags = shlex.join([*network, *run_flags])
        (image,) = [tag for tag in tags if f" {tag}" in line]
        head, sep, tail = line.partition(f" {image}")
        return f"podman run {head.removeprefix('docker run ')} {flags}{sep}{tail}"
    assert "docker" not in line, f"a docker command the suite does not know: {line!r}"
    return line


@dataclass
class ReadmeCommands:
    """The README's container commands, and which of them a test ran."""

    project: Path
    env: Mapping[str, str]
    lines: list[str] = field(default_factory=list)
    ran: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, project: Path, env: Mapping[str, str]) -> ReadmeCommands:
        readme = (project / "README.md").read_text()
        lines = readme_block(readme)
        elsewhere = [
            line.strip()
            for line in readme.splitlines()
            if re.match(r"\s*(make model && )?docker (build|run) ", line)
            and line.strip() not in lines
        ]
        assert elsewhere == [], f"docker commands outside {SECTION!r}: {elsewhere}"
        for dockerfile in sorted(project.glob("Dockerfile*")):
            header = header_commands(dockerfile.read_text())
            assert set(header) <= set(lines), f"{dockerfile.name}'s header: {header} vs {lines}"
        tags = [tag_of(line) for line in lines if "docker build " in line]
        assert tags, f"no docker build line in {lines}"
        return cls(project, env, lines, [], tags)

    def line(self, *needles: str) -> str:
        """The one README line that contains every needle."""
        found = [line for line in self.lines if all(n in line for n in needles)]
        assert len(found) == 1, f"{needles}: {found} in {self.lines}"
        return found[0]

    def run(
        self,
        line: str,
        *run_flags: str,
        build_flags: tuple[str, ...] = (),
        timeout: float = RUN_TIMEOUT_S,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Run one README line (docker -> podman, the machine's flags) in the project."""
        assert line in self.lines, line
        command = to_podman(line, self.tags, list(run_flags), list(build_flags))
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", command],
            cwd=self.project,
            env=dict(self.env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        self.ran.append(line)
        if check and done.returncode != 0:
            pytest.fail(
                f"{command}\nexited {done.returncode}\n--- stdout\n{done.stdout[-4000:]}"
                f"\n--- stderr\n{done.stderr[-4000:]}"
            )
        return done

    def not_run(self) -> list[str]:
        return [line for line in self.lines if line not in self.ran]


@dataclass
class Image:
    """An image a test builds from a README build line; ``remove()`` takes its build stage too."""

    tag: str
    label: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    build_seconds: float = 0.0

    def build(self, commands: ReadmeCommands, line: str) -> Image:
        """Run the README's build line (``make model`` before it, as written)."""
        assert tag_of(line) == self.tag, (line, self.tag)
        started = time.monotonic()
        flags = ("--label", f"{LABEL}={self.label}")
        commands.run(line, build_flags=flags, timeout=BUILD_TIMEOUT_S)
        self.build_seconds = time.monotonic() - started
        return self

    def size_bytes(self) -> int:
        return int(podman("image", "inspect", self.tag, "--format", "{{.Size}}").strip())

    def lean_findings(self) -> list[str]:
        """Compilers, caches, tests or build leftovers found inside the image."""
        out = podman(
            "run", "--rm", "--network=none", "--entrypoint", "python", self.tag, "-c", LEAN_CHECK
        )
        found: list[str] = json.loads(out.strip().splitlines()[-1])
        return found

    def remove(self) -> None:
        ids = podman(
            "images", "--all", "-q", "--filter", f"label={LABEL}={self.label}", check=False
        )
        podman("rmi", "-f", self.tag, check=False)
        for image_id in set(ids.split()):
            podman("rmi", "-f", image_id, check=False)


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class Container:
    """A detached container started from a README run line; ``logs()`` outlive ``--rm``."""

    name: str
    log_path: Path
    follower: subprocess.Popen[bytes] | None = None
    waiter: subprocess.Popen[str] | None = None

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def exec(self, *args: str) -> str:
        return podman("exec", self.name, *args)

    def wait_answering(self, url: str, timeout_s: float) -> None:
        """Poll ``url`` until it answers 200; fail with the log tail as soon as the
        container has exited, or when ``timeout_s`` has passed."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert self.waiter is None or self.waiter.poll() is None, self.logs()
            time.sleep(0.3)
        pytest.fail(f"{url} did not answer 200 in {timeout_s} s:\n{self.logs()[-3000:]}")

    def stop(self, timeout_s: int) -> int:
        """``podman stop -t``: SIGTERM, SIGKILL after ``timeout_s``; the exit code."""
        assert self.waiter is not None
        podman("stop", "-t", str(timeout_s), self.name, timeout=timeout_s + 60)
        code = self.wait(timeout_s + 30)
        if self.follower is not None:
            self.follower.wait(timeout=30)
        return code

    def wait(self, timeout_s: float) -> int:
        assert self.waiter is not None
        out, _ = self.waiter.communicate(timeout=timeout_s)
        return int(out.strip().splitlines()[-1])

    def remove(self) -> None:
        podman("rm", "-f", "-t", "0", self.name, check=False)
        for process in (self.follower, self.waiter):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(timeout=30)


@contextlib.contextmanager
def detached(
    commands: ReadmeCommands, line: str, *run_flags: str, log_dir: Path
) -> Iterator[Container]:
    """Start a README run line detached (``-d --name``); always remove the container."""
    name = unique_name("mlship-test")
    container = Container(name, log_dir / f"{name}.log")
    try:
        commands.run(line, "-d", "--name", name, *run_flags)
        with container.log_path.open("wb") as log:
            container.follower = subprocess.Popen(
                ["podman", "logs", "-f", name], stdout=log, stderr=subprocess.STDOUT
            )
        container.waiter = subprocess.Popen(
            ["podman", "wait", name], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        yield container
    finally:
        container.remove()


def env_flags(values: Mapping[str, str]) -> list[str]:
    return [arg for key, value in values.items() for arg in ("-e", f"{key}={value}")]


def host_env(venv_bin: Path) -> dict[str, str]:
    """The shell environment of a user with the project's venv active."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APP_", "VIRTUAL_ENV"))}
    env["PATH"] = f"{venv_bin}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv_bin.parent)
    return env
