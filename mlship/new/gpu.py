"""The CUDA compatibility table: which torch CUDA build a GPU project uses, and what it needs.

The facts live in ``mlship/data/cuda.yaml`` (like the compatibility matrices that serving
tools ship), so moving to a new torch or CUDA release is a data change. ``select`` turns
the table and the pinned torch version into the ``cuda`` mapping the templates receive.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mlship.errors import InputError, KnowledgeBaseError
from mlship.resources import data_file
from mlship.validation import describe_validation_error
from mlship.yaml_io import load_yaml

TABLE = "cuda.yaml"
_VERSION = r"^\d+\.\d+$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CudaRuntime(_Strict):
    """One CUDA release: the driver it needs and NVIDIA's runtime image for it."""

    min_driver: Annotated[str, Field(pattern=r"^\d+\.\d+(\.\d+)?$")]
    runtime_image: Annotated[str, Field(pattern=r"^nvidia/cuda:\d+\.\d+\.\d+-.*runtime-")]


class TorchBuilds(_Strict):
    """The CUDA builds published for one torch minor version, the default first."""

    cuda: Annotated[list[Annotated[str, Field(pattern=_VERSION)]], Field(min_length=1)]


class CudaTable(_Strict):
    schema_version: Literal[1]
    slim_base_image: Annotated[str, Field(pattern=r"\{python\}")]
    torch_index: Annotated[str, Field(pattern=r"^https://.*\{tag\}")]
    cuda: dict[Annotated[str, Field(pattern=_VERSION)], CudaRuntime]
    torch: dict[Annotated[str, Field(pattern=_VERSION)], TorchBuilds]

    @model_validator(mode="after")
    def _consistent(self) -> CudaTable:
        for version, runtime in self.cuda.items():
            if not runtime.runtime_image.startswith(f"nvidia/cuda:{version}."):
                raise ValueError(f"cuda.{version}.runtime_image is for another CUDA version")
        for minor, builds in self.torch.items():
            unknown = [c for c in builds.cuda if c not in self.cuda]
            if unknown:
                raise ValueError(f"torch.{minor}.cuda names unknown CUDA versions {unknown}")
        return self


class CudaEntry(_Strict):
    """What the templates receive as ``cuda``: one torch build and what it needs."""

    torch_version: str
    cuda_version: str
    cuda_tag: str
    torch_index_url: str
    min_driver: str
    base_image: str
    runtime_image: str
    available_cuda: list[str]


def parse_table(text: str, source: str = TABLE) -> CudaTable:
    """Validate a table's text; errors name the file and the field."""
    try:
        return CudaTable.model_validate(load_yaml(text))
    except ValidationError as error:
        raise KnowledgeBaseError(
            f"{source} is invalid", hint="; ".join(describe_validation_error(error))
        ) from error
    except yaml.YAMLError as error:
        raise KnowledgeBaseError(f"{source} is not valid YAML: {error}") from error


@cache
def load_table() -> CudaTable:
    """The table shipped with mlship."""
    return parse_table(data_file(TABLE).read_text(encoding="utf-8"))


def torch_minor(version: str) -> str:
    """``2.13.0`` -> ``2.13`` (local tags such as ``+cpu`` are ignored)."""
    match = re.match(r"^(\d+)\.(\d+)", version)
    if not match:
        raise InputError(f"torch version: {version!r} is not a version number")
    return f"{match.group(1)}.{match.group(2)}"


def select(
    torch_version: str,
    python_version: str,
    cuda_version: str | None = None,
    table: CudaTable | None = None,
) -> CudaEntry:
    """The CUDA build of ``torch_version`` to use (the table's default unless asked)."""
    table = table or load_table()
    minor = torch_minor(torch_version)
    builds = table.torch.get(minor)
    if builds is None:
        known = ", ".join(sorted(table.torch, key=lambda v: tuple(map(int, v.split(".")))))
        raise InputError(
            f"gpu: torch {torch_version} is not in mlship's CUDA table",
            hint=f"known torch versions: {known}",
        )
    chosen = cuda_version or builds.cuda[0]
    if chosen not in builds.cuda:
        raise InputError(
            f"cuda: torch {minor} has no CUDA {chosen} build",
            hint=f"builds for torch {minor}: {', '.join(builds.cuda)}",
        )
    runtime = table.cuda[chosen]
    tag = "cu" + chosen.replace(".", "")
    return CudaEntry(
        torch_version=torch_version,
        cuda_version=chosen,
        cuda_tag=tag,
        torch_index_url=table.torch_index.format(tag=tag),
        min_driver=runtime.min_driver,
        base_image=table.slim_base_image.format(python=python_version),
        runtime_image=runtime.runtime_image,
        available_cuda=list(builds.cuda),
    )
