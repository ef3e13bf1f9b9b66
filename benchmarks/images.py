"""The container image of each pattern: build time, size, size above the base, layers.

Each pattern's project is made by ``mlship new`` (its demo model built with ``make
model``), then its ``Dockerfile`` is built with podman exactly as the images suite does
(``--no-cache --network=host --format docker``; ``.ci/container-base.sh`` prepares podman
and the ``python:3.11-slim`` stand-in). Recorded per pattern: build seconds, image size,
size above the base image, each layer above the base with the instruction that made it,
the largest installed packages (what dominates), and the size budget from
``benchmarks/image_budgets.yaml`` with PASS or FAIL. Images are removed afterwards.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import yaml

from benchmarks.harness import ROOT, new_project

BUDGETS = ROOT / "benchmarks" / "image_budgets.yaml"
BUILD_FLAGS = ["--no-cache", "--network=host", "--format", "docker"]
BUILD_TIMEOUT_S = 1800
MB = 1_000_000
TOP_PACKAGES = 5
# Sizes of the top-level entries of the image's site-packages (what the wheels add).
PACKAGE_SIZES = r"""
import json, os, site
sizes = {}
for root in site.getsitepackages():
    if not os.path.isdir(root):
        continue
    for entry in os.scandir(root):
        total = entry.stat(follow_symlinks=False).st_size
        if entry.is_dir(follow_symlinks=False):
            for base, _, files in os.walk(entry.path):
                total += sum(os.lstat(os.path.join(base, f)).st_size for f in files)
        name = entry.name.split("-")[0] if entry.name.endswith(".dist-info") else entry.name
        sizes[name] = sizes.get(name, 0) + total
print(json.dumps(sizes))
"""


def podman(*args: str, timeout: float = 600) -> str:
    done = subprocess.run(
        ["podman", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args[:3])} ... failed:\n{done.stderr[-3000:]}")
    return done.stdout


def image_size(tag: str) -> int:
    return int(podman("image", "inspect", tag, "--format", "{{.Size}}").strip())


def layers_above(tag: str, base: str) -> list[dict[str, Any]]:
    """The layers of ``tag`` above ``base`` (history is newest first): size and the step."""
    below = len(json.loads(podman("history", "--format", "json", base)))
    history = json.loads(podman("history", "--format", "json", tag))
    found = []
    for layer in history[: len(history) - below]:
        created = " ".join(str(layer.get("CreatedBy", layer.get("createdBy", ""))).split())
        created = created.removeprefix("/bin/sh -c ").removeprefix("#(nop) ")
        found.append({"mb": round(int(layer["size"]) / MB, 1), "step": created[:90]})
    return [layer for layer in found if layer["mb"] > 0]


def package_sizes(tag: str) -> dict[str, int]:
    out = podman(
        "run", "--rm", "--network=none", "--entrypoint", "python", tag, "-c", PACKAGE_SIZES
    )
    sizes: dict[str, int] = json.loads(out.strip().splitlines()[-1])
    return sizes


def largest_packages(tag: str, base_sizes: dict[str, int]) -> list[dict[str, Any]]:
    """The installed packages that weigh most, leaving out those the base image has."""
    added = {k: v for k, v in package_sizes(tag).items() if base_sizes.get(k) != v}
    ranked = sorted(added.items(), key=lambda item: -item[1])[:TOP_PACKAGES]
    return [{"package": name, "mb": round(size / MB, 1)} for name, size in ranked]


def remove(tag: str, label: str) -> None:
    ids = subprocess.run(
        ["podman", "images", "--all", "-q", "--filter", f"label=ai.mlship.bench={label}"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    for ref in [tag, *dict.fromkeys(ids)]:
        subprocess.run(["podman", "rmi", "-f", ref], capture_output=True, check=False)


def measure(
    pattern: str, spec: dict[str, Any], base: str, base_sizes: dict[str, int], root: Path
) -> dict[str, Any]:
    name = f"bench-image-{pattern}"
    project = new_project(pattern, root / name, name=name, options=list(spec["options"]))
    project.run("make", "model", f"PYTHON={project.python}")
    tag, label = f"{name}:0.1.0", uuid.uuid4().hex[:12]
    started = time.perf_counter()
    try:
        subprocess.run(
            [
                "podman",
                "build",
                *BUILD_FLAGS,
                "--label",
                f"ai.mlship.bench={label}",
                "-t",
                tag,
                ".",
            ],
            cwd=project.path,
            check=True,
            capture_output=True,
            timeout=BUILD_TIMEOUT_S,
        )
        build_s = time.perf_counter() - started
        size = image_size(tag)
        above = (size - image_size(base)) / MB
        return {
            "build_s": round(build_s, 1),
            "size_mb": round(size / MB, 1),
            "above_base_mb": round(above, 1),
            "budget_mb": spec["budget_mb"],
            "within_budget": above <= spec["budget_mb"],
            "layers": layers_above(tag, base),
            "largest_packages": largest_packages(tag, base_sizes),
        }
    finally:
        remove(tag, label)


def main() -> dict[str, Any]:
    if shutil.which("podman") is None:
        raise RuntimeError("podman is not installed: run .ci/container-base.sh (as root) first")
    budgets = yaml.safe_load(BUDGETS.read_text())
    base = budgets["base_image"]
    base_bytes, base_sizes = image_size(base), package_sizes(base)
    patterns: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="mlship-bench-images-") as tmp:
        for pattern, spec in budgets["patterns"].items():
            print(f"   {pattern}", flush=True)
            patterns[pattern] = measure(pattern, spec, base, base_sizes, Path(tmp))
    return {
        "base_image": base,
        "base_mb": round(base_bytes / MB, 1),
        "patterns": patterns,
        "ok": all(p["within_budget"] for p in patterns.values()),
    }


def table(result: dict[str, Any]) -> str:
    lines = [
        "| pattern | build | image | above the base | budget | largest packages added (MB) |",
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]
    for pattern, row in result["patterns"].items():
        verdict = "PASS" if row["within_budget"] else "FAIL"
        largest = ", ".join(f"{p['package']} {p['mb']:.0f}" for p in row["largest_packages"][:3])
        lines.append(
            f"| {pattern} | {row['build_s']:.0f} s | {row['size_mb']:.0f} MB | "
            f"{row['above_base_mb']:.0f} MB | {row['budget_mb']} MB {verdict} | {largest} |"
        )
    lines.append("")
    lines.append(
        f"Sizes in MB (10^6 bytes); the base image `{result['base_image']}` is "
        f"{result['base_mb']:.0f} MB (a local stand-in built from Debian packages, bigger "
        "than the official image). Build: `podman build --no-cache` from a fresh `mlship new` "
        "project, wheels downloaded from the package index each time. Layers above the base "
        "and every package size are in the result file."
    )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
