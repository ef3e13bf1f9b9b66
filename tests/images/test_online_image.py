"""The online pattern's image, built and run with the README's own commands.

The container turns ready, answers v1 and v2 predictions with the bundled model, runs as a
non-root user, passes its own HEALTHCHECK, and on ``podman stop`` drains: every request
sent on a kept-alive connection is answered, none fails.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from ..e2e.conftest import free_port
from ..e2e.keepalive import KeepAliveClient
from .conftest import ImageProject
from .podman import Image, ReadmeCommands, detached, env_flags, podman

pytestmark = pytest.mark.images

READY_TIMEOUT_S = 90.0
DRAIN_S = 10  # APP_DRAIN_TIMEOUT_S for the stop test; podman stop waits longer than this


@pytest.fixture(scope="module")
def commands(image_project: ImageProject) -> ReadmeCommands:
    return image_project("online")


@pytest.fixture(scope="module")
def image(commands: ReadmeCommands, built: Callable[[ReadmeCommands], Image]) -> Image:
    return built(commands)


def rows(count: int) -> list[list[float]]:
    from sklearn.datasets import load_breast_cancer

    return [[float(v) for v in row] for row in load_breast_cancer().data[:count]]


def test_runtime_image_carries_no_compiler_cache_or_tests(image: Image) -> None:
    assert image.lean_findings() == []


def test_container_serves_v1_and_v2_as_non_root_and_is_healthy(
    commands: ReadmeCommands, image: Image, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = env_flags({"APP_HOST": "127.0.0.1", "APP_PORT": str(port), "APP_WORKERS": "1"})
    line = commands.line("docker run ")
    with detached(commands, line, *env, log_dir=tmp_path) as container:
        container.wait_answering(f"{url}/ready", READY_TIMEOUT_S)
        assert container.exec("id", "-u").strip() == "10001"
        user = podman("inspect", container.name, "--format", "{{.Config.User}}").strip()
        assert user == "10001:10001"
        manifest = json.loads((commands.project / "models" / "manifest.json").read_text())
        sample = rows(3)
        v1 = httpx.post(f"{url}/v1/predict", json={"instances": sample}, timeout=10)
        assert v1.status_code == 200, v1.text
        assert v1.json()["model"]["sha256"] == manifest["sha256"]
        labels = [p["label"] for p in v1.json()["predictions"]]
        assert labels == [0, 0, 0]  # the first rows of the dataset are malignant
        request = {
            "inputs": [
                {
                    "name": "input",
                    "shape": [3, len(sample[0])],
                    "datatype": "FP32",
                    "data": [v for row in sample for v in row],
                }
            ]
        }
        v2 = httpx.post(f"{url}/v2/models/{manifest['name']}/infer", json=request, timeout=10)
        assert v2.status_code == 200, v2.text
        outputs = {o["name"]: o["data"] for o in v2.json()["outputs"]}
        assert outputs["label"] == labels
        healthcheck = podman("healthcheck", "run", container.name, check=False)
        assert healthcheck.strip() in ("", "healthy"), healthcheck
        health = podman("inspect", container.name, "--format", "{{.Config.Healthcheck.Test}}")
        assert "/health" in health


def test_podman_stop_drains_in_flight_requests(
    commands: ReadmeCommands, image: Image, tmp_path: Path
) -> None:
    """16 keep-alive clients send predictions back to back while ``podman stop`` runs: each
    request sent is answered (the last ones with Connection: close), none is lost."""
    port = free_port()
    env = {
        "APP_HOST": "127.0.0.1",
        "APP_PORT": str(port),
        "APP_DRAIN_TIMEOUT_S": str(DRAIN_S),
    }
    stop = threading.Event()
    body = json.dumps({"instances": rows(1)}).encode()
    clients = [KeepAliveClient(port, body, stop) for _ in range(16)]
    line = commands.line("docker run ")
    with detached(commands, line, *env_flags(env), log_dir=tmp_path) as container:
        container.wait_answering(f"http://127.0.0.1:{port}/ready", READY_TIMEOUT_S)
        deadline = time.monotonic() + READY_TIMEOUT_S  # both workers up, not just the first
        while container.logs().count("sha256 verified") < 2:
            assert time.monotonic() < deadline, container.logs()[-3000:]
            time.sleep(0.2)
        for client in clients:
            client.start()
        time.sleep(1.5)
        assert all(c.answered > 0 for c in clients)
        started = time.monotonic()
        code = container.stop(DRAIN_S + 20)
        took = time.monotonic() - started
        stop.set()
        for client in clients:
            client.join(timeout=15)
        logs = container.logs()
    assert sum(c.lost for c in clients) == 0, [e for c in clients for e in c.errors]
    assert sum(c.told_to_close for c in clients) == len(clients)
    assert sum(c.refused for c in clients) == len(clients)
    assert code in (0, 143), logs[-3000:]  # exited on its own, not killed (137)
    assert took < DRAIN_S + 5, logs[-3000:]


def test_readme_lists_only_commands_this_suite_ran(commands: ReadmeCommands) -> None:
    assert commands.not_run() == []
