"""The edge project's Dockerfile, for every model format: hadolint, and the shape of its
stages (Node.js only in the stage that fetches onnxruntime-web, a non-root runtime that
runs the export). The image itself is built and run by the images suite
(``tests/images/test_edge_image.py``).
"""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

from .conftest import render_project
from .packaging_helpers import exec_form, parse_dockerfile

pytestmark = pytest.mark.e2e


def ort_web_files(project: Path, package: str) -> set[str]:
    """``ORT_WEB_FILES`` of the rendered bundle module (the files the page needs)."""
    source = (project / "src" / package / "export" / "bundle.py").read_text()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "ORT_WEB_FILES":
            return set(ast.literal_eval(node.value))
    raise AssertionError("no ORT_WEB_FILES in bundle.py")


@pytest.mark.parametrize("model_format", ["onnx", "sklearn", "torch"])
def test_edge_dockerfile_passes_hadolint_and_keeps_node_out_of_the_runtime(
    tmp_path: Path, model_format: str
) -> None:
    project = render_project(
        tmp_path / "digits", "edge", project_name="digits", model_format=model_format
    )
    done = subprocess.run(
        ["hadolint", "--failure-threshold", "warning", "Dockerfile"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    builder, web, runtime = parse_dockerfile(project / "Dockerfile")
    assert (builder.name, web.name, runtime.name) == ("builder", "web", "runtime")
    assert runtime.base == builder.base == web.base == "python:3.11-slim"
    assert "nodejs npm" in " ".join(web.all("RUN"))
    assert not any("apt-get" in run or "npm" in run for run in runtime.all("RUN"))
    copied = " ".join(runtime.all("COPY"))
    vendored = {word.rsplit("/", 1)[1] for word in copied.split() if "/dist/" in word}
    assert vendored - {""} == ort_web_files(project, "digits")
    assert runtime.all("USER")[-1] == "10001:10001"
    assert exec_form(runtime.all("ENTRYPOINT")[-1]) == ["python", "-m", "digits.export"]
    assert exec_form(runtime.all("CMD")[-1]) == ["run", "--dist", "/out/dist"]
    extras = next(a for a in builder.all("ARG") if a.startswith("EXTRAS="))
    assert ("torch" in extras) == (model_format == "torch")
