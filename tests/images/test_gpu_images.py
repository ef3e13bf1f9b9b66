"""The GPU variants' images (``Dockerfile.gpu``), built from the README's GPU lines.

No machine here has a GPU, so these tests stop short of CUDA: the image builds with the
real CUDA wheels (onnxruntime-gpu with its cuda and cudnn extras, from the package index),
its runtime imports and offers the CUDA provider, the README's GPU run line refuses to
start without a GPU under ``APP_DEVICE=cuda`` (the services' default: no silent CPU
fallback), and under ``APP_DEVICE=auto`` (the batch image's default) the same image falls
back to the CPU and does its work. This
podman accepts ``--gpus all`` with no GPU and ignores it, so the README line runs as written.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from ..e2e.conftest import free_port
from ..e2e.kafka_broker import TansuBroker, create_topics, running_broker, unique
from .conftest import ImageProject
from .podman import Image, ReadmeCommands, detached, env_flags, podman, unique_name

pytestmark = pytest.mark.images

READY_TIMEOUT_S = 120.0
REFUSE_TIMEOUT_S = 120.0
# The services refuse to start without a GPU; the batch job's image may fall back to the CPU
# (its CronJob sets APP_DEVICE=cuda).
DEFAULT_DEVICE = {"online": "cuda", "batch": "auto", "streaming": "cuda"}
PROVIDERS = "import json, onnxruntime; print(json.dumps(onnxruntime.get_available_providers()))"


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TansuBroker]:
    with running_broker(tmp_path_factory.mktemp("tansu") / "tansu.log") as running:
        yield running


@pytest.fixture(scope="module", params=["online", "batch", "streaming"])
def gpu(
    request: pytest.FixtureRequest,
    image_project: ImageProject,
    built: Callable[..., Image],
) -> Iterator[tuple[str, ReadmeCommands, Image]]:
    pattern: str = request.param
    commands = image_project(pattern, gpu=True, model_format="onnx")
    image = built(commands, commands.line("docker build ", "-f Dockerfile.gpu"))
    yield pattern, commands, image
    image.remove()  # one CUDA image (GBs) on disk at a time


def image_device(image: Image) -> str:
    env = json.loads(podman("image", "inspect", image.tag, "--format", "{{json .Config.Env}}"))
    (device,) = [v.split("=", 1)[1] for v in env if v.startswith("APP_DEVICE=")]
    return device


def gpu_run_line(commands: ReadmeCommands) -> str:
    return commands.line("docker run ", "--gpus all")


def test_gpu_image_offers_cuda_and_carries_no_compiler_or_cache(
    gpu: tuple[str, ReadmeCommands, Image],
) -> None:
    pattern, _, image = gpu
    out = podman(
        "run", "--rm", "--network=none", "--entrypoint", "python", image.tag, "-c", PROVIDERS
    )
    providers = json.loads(out.strip().splitlines()[-1])
    assert "CUDAExecutionProvider" in providers and "CPUExecutionProvider" in providers
    assert image.lean_findings() == []
    assert image_device(image) == DEFAULT_DEVICE[pattern]


def test_without_a_gpu_cuda_refuses_and_auto_falls_back_to_the_cpu(
    gpu: tuple[str, ReadmeCommands, Image], broker: TansuBroker, tmp_path: Path
) -> None:
    pattern, commands, image = gpu
    line = gpu_run_line(commands)
    port = free_port()
    settings: dict[str, str] = {}
    if pattern == "online":
        settings = {"APP_HOST": "127.0.0.1", "APP_PORT": str(port), "APP_WORKERS": "1"}
    elif pattern == "streaming":
        source, sink, dlq = unique("events"), unique("predictions"), unique("dlq")
        create_topics(broker.bootstrap, [source, sink, dlq], partitions=1)
        settings = {
            "APP_BOOTSTRAP_SERVERS": broker.bootstrap,
            "APP_INPUT_TOPIC": source,
            "APP_OUTPUT_TOPIC": sink,
            "APP_DLQ_TOPIC": dlq,
            "APP_GROUP_ID": unique("group"),
            "APP_HEALTH_HOST": "127.0.0.1",
            "APP_HEALTH_PORT": str(port),
        }
    else:
        commands.run(commands.line("make sample"), timeout=600)
        commands.run(commands.line("chmod a+rwx output"))

    name = unique_name("mlship-test")
    try:
        flags = ("--name", name, *env_flags({**settings, "APP_DEVICE": "cuda"}))
        refused = commands.run(line, *flags, timeout=REFUSE_TIMEOUT_S, check=False)
    finally:
        podman("rm", "-f", "-t", "0", name, check=False)
    assert refused.returncode != 0
    assert "APP_DEVICE=cuda but no usable GPU" in refused.stdout + refused.stderr

    # the README line as written where the image allows the CPU (batch), else with auto
    allow_cpu = {} if image_device(image) == "auto" else {"APP_DEVICE": "auto"}
    auto = env_flags({**settings, **allow_cpu})
    if pattern == "batch":
        done = commands.run(line, *auto, timeout=600)
        manifest = json.loads((commands.project / "output" / "run.json").read_text())
        assert manifest["status"] == "succeeded", done.stderr[-3000:]
        assert "running on the CPU" in done.stdout + done.stderr
        return
    with detached(commands, line, *auto, log_dir=tmp_path) as container:
        container.wait_answering(f"http://127.0.0.1:{port}/ready", READY_TIMEOUT_S)
        assert "running on the CPU" in container.logs()
        if pattern == "online":
            width = len(
                json.loads((commands.project / "models" / "manifest.json").read_text())["input"][
                    "features"
                ]
            )
            answer = httpx.post(
                f"http://127.0.0.1:{port}/v1/predict",
                json={"instances": [[1.0] * width]},
                timeout=10,
            )
            assert answer.status_code == 200, answer.text


def test_readme_gpu_lines_all_ran(gpu: tuple[str, ReadmeCommands, Image]) -> None:
    _, commands, image = gpu
    assert [line for line in commands.not_run() if image.tag in line] == []
