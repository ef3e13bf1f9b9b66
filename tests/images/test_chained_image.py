"""The chained pattern's image, built and run with the README's own commands.

One image, both deployments: a stage container (``APP_SERVE_STAGE``) answers v1 and v2, a
pipeline container calls it over loopback and answers v1 with every stage, both as a
non-root user and healthy; ``podman stop`` of the pipeline under keep-alive load loses no
request in flight.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from ..e2e.conftest import free_port
from ..e2e.keepalive import KeepAliveClient
from .conftest import ImageProject
from .podman import Container, Image, ReadmeCommands, detached, env_flags, podman

pytestmark = pytest.mark.images

READY_TIMEOUT_S = 90.0
TEXTS = ["book a flight from Paris to Tokyo tomorrow", "play some Daft Punk right now"]
DRAIN_S = 10  # the pipeline's default drain_timeout_s


@pytest.fixture(scope="module")
def commands(image_project: ImageProject) -> ReadmeCommands:
    return image_project("chained")


@pytest.fixture(scope="module")
def image(commands: ReadmeCommands, built: Callable[[ReadmeCommands], Image]) -> Image:
    return built(commands)


def stage_manifest(project: Path, stage: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((project / "models" / stage / "manifest.json").read_text())
    return found


def assert_non_root_and_healthy(container: Container) -> None:
    assert container.exec("id", "-u").strip() == "10001"
    out = podman("healthcheck", "run", container.name, check=False)
    assert out.strip() in ("", "healthy"), out


def test_runtime_image_carries_no_compiler_cache_or_tests(image: Image) -> None:
    assert image.lean_findings() == []


def test_a_stage_container_and_a_pipeline_container_calling_it(
    commands: ReadmeCommands, image: Image, tmp_path: Path
) -> None:
    stage_port, pipeline_port = free_port(), free_port()
    stage_url, pipeline_url = f"http://127.0.0.1:{stage_port}", f"http://127.0.0.1:{pipeline_port}"
    stage_line = commands.line("docker run ", "APP_SERVE_STAGE=entities")
    pipeline_line = commands.line("docker run ", "8000:8000")
    stage_env = env_flags({"APP_HOST": "127.0.0.1", "APP_PORT": str(stage_port)})
    pipeline_env = env_flags(
        {
            "APP_HOST": "127.0.0.1",
            "APP_PORT": str(pipeline_port),
            "APP_ENDPOINTS": json.dumps({"entities": stage_url}),
        }
    )
    with detached(commands, stage_line, *stage_env, log_dir=tmp_path) as stage:
        stage.wait_answering(f"{stage_url}/ready", READY_TIMEOUT_S)
        assert_non_root_and_healthy(stage)
        manifest = stage_manifest(commands.project, "entities")
        width = manifest["input"]["shape"][1]
        row = [0.5] * width
        v1 = httpx.post(f"{stage_url}/v1/predict", json={"instances": [row, row]}, timeout=10)
        assert v1.status_code == 200, v1.text
        assert v1.json()["model"]["sha256"] == manifest["sha256"]
        request = {"inputs": [{"name": "input", "shape": [2, width], "datatype": "FP32"}]}
        request["inputs"][0]["data"] = row + row
        v2 = httpx.post(f"{stage_url}/v2/models/{manifest['name']}/infer", json=request, timeout=10)
        assert v2.status_code == 200, v2.text
        (output,) = v2.json()["outputs"]
        scores = [p["scores"] for p in v1.json()["predictions"]]
        assert output["shape"][0] == 2
        assert len(output["data"]) == output["shape"][0] * output["shape"][1]
        assert len(scores) == 2

        with detached(commands, pipeline_line, *pipeline_env, log_dir=tmp_path) as pipeline:
            pipeline.wait_answering(f"{pipeline_url}/ready", READY_TIMEOUT_S)
            assert_non_root_and_healthy(pipeline)
            body = {"instances": [{"text": t} for t in TEXTS]}
            answer = httpx.post(f"{pipeline_url}/v1/predict", json=body, timeout=10)
            assert answer.status_code == 200, answer.text
            predictions = answer.json()["predictions"]
            assert [p["intent"]["label"] for p in predictions] == ["book_flight", "play_music"]
            cities = {e["text"] for e in predictions[0]["entities"] if e["type"] == "CITY"}
            assert cities == {"Paris", "Tokyo"}
            stages = answer.json()["stages"]
            assert (stages["entities"]["status"], stages["entities"]["location"]) == (
                "ok",
                "remote",
            )
            assert stages["intent"]["location"] == "local"


def test_podman_stop_drains_in_flight_requests(
    commands: ReadmeCommands, image: Image, tmp_path: Path
) -> None:
    port = free_port()
    env = env_flags({"APP_HOST": "127.0.0.1", "APP_PORT": str(port)})
    stop = threading.Event()
    body = json.dumps({"instances": [{"text": TEXTS[0]}]}).encode()
    clients = [KeepAliveClient(port, body, stop) for _ in range(8)]
    line = commands.line("docker run ", "8000:8000")
    with detached(commands, line, *env, log_dir=tmp_path) as container:
        container.wait_answering(f"http://127.0.0.1:{port}/ready", READY_TIMEOUT_S)
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
    assert code in (0, 143), logs[-3000:]
    assert took < DRAIN_S + 5, logs[-3000:]


def test_readme_lists_only_commands_this_suite_ran(commands: ReadmeCommands) -> None:
    assert commands.not_run() == []
