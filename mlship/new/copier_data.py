"""The data handed to copier: one typed model whose fields are exactly ``copier.yml``'s keys.

mlship computes every value in Python (``mlship.new.plan``) and copier asks nothing, so
``copier.yml`` only declares the names and types the templates may use; a test checks
that the two lists match.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ModelFormat = Literal["onnx", "sklearn", "torch"]
PythonVersion = Literal["3.11", "3.12"]


class CopierData(BaseModel):
    """What every template may read; ``render`` passes ``model_dump()`` to copier."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    project_name: str = Field(description="Distribution name, e.g. fraud-scorer.")
    package: str = Field(description="Import package under src/, e.g. fraud_scorer.")
    description: str
    pattern: str
    kind: Literal["service", "job", "consumer", "export"] = Field(
        description="The pattern's kind from the knowledge base; shared files switch on it."
    )
    model_format: ModelFormat
    gpu: bool
    python_version: PythonVersion
    p99_ms: Annotated[float, Field(gt=0)] | None = Field(
        description="The resolved p99 budget; None where the pattern's budget has no p99 "
        "(a batch job)."
    )
    max_error_rate: Annotated[float, Field(ge=0, le=1)] | None = Field(
        description="The resolved error budget; None where the pattern's has none (edge)."
    )
    min_rps: Annotated[float, Field(ge=0)] = Field(description="Throughput floor; 0: none.")
    demo_model: bool = Field(description="The project builds its own demo model (no --model).")
    model_file: str = Field(description="File name of the user's model under models/, or ''.")
    mlship_version: str
    template_version: str
    cuda: dict[str, Any] = Field(description="The CUDA table entry for --gpu; {} without.")
    pins: dict[str, str] = Field(description="Exact versions the project pins.")
