"""Fixtures of the images suite: a project made by ``mlship new``, its venv, its image.

``image_project(pattern, **spec)`` renders a fresh project the way ``mlship new`` does (the
decision record included), gives it the venv its README's ``make install`` makes (shared by
projects with the same dependencies, see ``tests/e2e/conftest.py``) and returns
``ReadmeCommands`` over its README's container section, run in that venv's shell.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ..e2e import conftest as e2e
from ..e2e.conftest import Venv
from .podman import Image, ReadmeCommands, host_env, podman_or_fail, tag_of, unique_name

ImageProject = Callable[..., ReadmeCommands]
venv_for = e2e.venv_for  # the e2e suite's venvs (one per dependency set), a fixture here too


@pytest.fixture(scope="session", autouse=True)
def podman_ready() -> None:
    podman_or_fail()


@pytest.fixture(scope="module")
def image_project(
    tmp_path_factory: pytest.TempPathFactory, venv_for: Callable[[Path], Venv]
) -> ImageProject:
    from mlship.new.project import new_project
    from mlship.new.spec import ProjectSpec

    def make(pattern: str, **spec: Any) -> ReadmeCommands:
        name = unique_name(f"img-{pattern}")
        dest = tmp_path_factory.mktemp(pattern) / name
        new_project(ProjectSpec(pattern=pattern, name=name, git=False, **spec), dest)
        venv = venv_for(dest)
        return ReadmeCommands.of(dest, host_env(venv.bin))

    return make


@pytest.fixture(scope="module")
def built() -> Iterator[Callable[..., Image]]:
    """Builds from README lines; every image built is removed at the end of the module."""
    images: list[Image] = []

    def make(commands: ReadmeCommands, line: str | None = None) -> Image:
        line = line or next(x for x in commands.lines if "docker build " in x and " -f " not in x)
        image = Image(tag_of(line))
        images.append(image)  # removed even when the build fails half way
        return image.build(commands, line)

    yield make
    for image in images:
        image.remove()
