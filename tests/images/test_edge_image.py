"""The edge pattern's image, built and run with the README's own commands.

The image runs the export pipeline as a job, as uid 10001, into a mounted folder: the
source model becomes a checked, quantized bundle with the browser page (onnxruntime-web
baked into the image, no npm at run time, no network); a second run gives the same model.
The same image serves that bundle (``serve``) for the browser target.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import yaml

from ..e2e.conftest import free_port
from .conftest import ImageProject
from .podman import Image, ReadmeCommands, detached, env_flags, podman

pytestmark = pytest.mark.images

READY_TIMEOUT_S = 60.0
EXPORT_TIMEOUT_S = 600.0
DEVICE = {"target": "browser", "device_memory_mb": 512, "offline": True}


@pytest.fixture(scope="module")
def commands(image_project: ImageProject) -> ReadmeCommands:
    made = image_project("edge", model_format="onnx", p99_ms=20.0)
    record_path = made.project / "mlship.yaml"
    record = yaml.safe_load(record_path.read_text())
    record["answers"] = {"traffic": {"arrival": "on-device"}, "hardware": DEVICE}
    record_path.write_text(yaml.safe_dump(record, sort_keys=False))
    return made


@pytest.fixture(scope="module")
def image(commands: ReadmeCommands, built: Callable[[ReadmeCommands], Image]) -> Image:
    return built(commands)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_runtime_image_carries_no_compiler_node_cache_or_tests(image: Image) -> None:
    assert image.lean_findings() == []
    out = podman(
        "run", "--rm", "--network=none", "--entrypoint", "sh", image.tag, "-c",
        "command -v node npm || true; ls /tmp/.npm 2>/dev/null || true",
    )  # fmt: skip
    assert out.strip() == ""


def test_export_job_writes_a_checked_bundle_as_non_root_and_again_the_same(
    commands: ReadmeCommands, image: Image
) -> None:
    commands.run(commands.line("chmod a+rwx out"))
    job = commands.line("docker run ", '"$PWD/out:/out"')
    first = commands.run(job, "--network=none", timeout=EXPORT_TIMEOUT_S)
    dist = commands.project / "out" / "dist"
    manifest = json.loads((dist / "manifest.json").read_text())
    assert sha256(dist / "model.onnx") == manifest["sha256"], first.stdout[-2000:]
    assert manifest["edge"]["variant"] != "fp32"  # quantized: int8 pays off on the demo MLP
    report = json.loads((dist / "report.json").read_text())
    assert report["budget"]["target"] == "browser", report["budget"]
    web = sorted(p.name for p in (dist / "web" / "ort").iterdir())
    assert any(name.endswith(".wasm") for name in web)
    assert (dist / "manifest.json").stat().st_uid == 10001
    model = sha256(dist / "model.onnx")
    commands.run(job, "--network=none", timeout=EXPORT_TIMEOUT_S)
    assert sha256(dist / "model.onnx") == model, "the same image and model, the same bundle"


def test_the_image_serves_the_bundle_for_the_browser(
    commands: ReadmeCommands, image: Image, tmp_path: Path
) -> None:
    dist = commands.project / "out" / "dist"
    assert (dist / "manifest.json").is_file(), "runs after the export test"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    line = commands.line("docker run ", " serve ")
    env = env_flags({"APP_HOST": "127.0.0.1", "APP_PORT": str(port)})
    with detached(commands, line, *env, log_dir=tmp_path) as container:
        container.wait_answering(f"{url}/manifest.json", READY_TIMEOUT_S)
        assert container.exec("id", "-u").strip() == "10001"
        page = httpx.get(f"{url}/web/index.html", timeout=10)
        assert page.status_code == 200 and page.text == (dist / "web" / "index.html").read_text()
        served = httpx.get(f"{url}/model.onnx", timeout=10).content
        assert hashlib.sha256(served).hexdigest() == sha256(dist / "model.onnx")
        wasm = next((dist / "web" / "ort").glob("*.wasm"))
        answer = httpx.get(f"{url}/web/ort/{wasm.name}", timeout=10)
        assert answer.content == wasm.read_bytes()
        assert answer.headers["content-type"] == "application/wasm"
        code = container.stop(10)
    assert code == 0, container.logs()[-2000:]


def test_readme_lists_only_commands_this_suite_ran(commands: ReadmeCommands) -> None:
    assert commands.not_run() == []
