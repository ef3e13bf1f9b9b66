"""The data contracts of mlship: answers in, recommendations and decision records out.

Every model is strict and forbids unknown keys, so a typo in an answers file or a
pattern file fails loudly with the field named instead of being silently ignored.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

# A pattern is whatever the knowledge base holds (mlship's five, or an organisation's own);
# its name is also the template folder's name and a YAML file name.
PatternName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,39}$")]

Arrival = Literal["requests", "events", "datasets", "on-device"]
TrafficShape = Literal["steady", "bursty", "spiky"]
Freshness = Literal["realtime", "seconds", "minutes", "hours", "days"]
Sensitivity = Literal["public", "internal", "pii", "regulated"]
Target = Literal["server", "mobile", "browser", "embedded"]
Accelerator = Literal["none", "gpu"]
Framework = Literal["sklearn", "pytorch", "onnx", "tensorflow", "other"]
OpsCapacity = Literal["small", "platform"]

# Every number that enters mlship is finite and within a range no real deployment leaves:
# an upper bound keeps an absurd answer (1e308 requests a second) from turning into
# estimates with hundreds of digits or records that no later command can use.
MAX_RPS = 10_000_000  # peak requests or events per second (far beyond one deployment)
MAX_P99_MS = 86_400_000  # one day
MAX_SIZE_MB = 10_485_760  # 10 TiB
MAX_GPU_MEMORY_GB = 4096
MAX_DEVICE_MEMORY_MB = 1_048_576  # 1 TiB
MAX_STAGES = 50
MAX_ROWS_PER_RUN = 10**12
MAX_WINDOW_MINUTES = 10_080  # one week
MAX_MIN_RPS = 10**11  # a throughput floor, also derived from rows per run over a window
MAX_LAG = 10**12  # events a consumer may be behind

Rps = Annotated[float, Field(gt=0, le=MAX_RPS)]
Milliseconds = Annotated[float, Field(gt=0, le=MAX_P99_MS)]
SizeMb = Annotated[float, Field(gt=0, le=MAX_SIZE_MB)]
GpuMemoryGb = Annotated[float, Field(gt=0, le=MAX_GPU_MEMORY_GB)]
DeviceMemoryMb = Annotated[float, Field(gt=0, le=MAX_DEVICE_MEMORY_MB)]
Stages = Annotated[int, Field(gt=0, le=MAX_STAGES)]
Rows = Annotated[int, Field(gt=0, le=MAX_ROWS_PER_RUN)]
Minutes = Annotated[float, Field(ge=1, le=MAX_WINDOW_MINUTES)]  # shorter runs are a stream
MinRps = Annotated[float, Field(gt=0, le=MAX_MIN_RPS)]
ErrorRate = Annotated[float, Field(ge=0, le=1)]


class Strict(BaseModel):
    """Base for every contract: unknown keys are errors, types are not coerced, numbers are
    finite."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


class Traffic(Strict):
    arrival: Arrival = Field(description="How work reaches the model.")
    peak_rps: Rps | None = Field(None, description="Peak requests or events per second.")
    pattern: TrafficShape = Field("steady", description="Shape of the load over time.")
    rows_per_run: Rows | None = Field(
        None, description="Rows one run of a batch job scores (datasets); null: not stated."
    )


class Latency(Strict):
    p99_ms: Milliseconds | None = Field(
        None, description="End-to-end p99 budget for one prediction in ms; null: no real-time need."
    )
    freshness: Freshness | None = Field(
        None, description="How stale a prediction may be when it is used; null: not stated."
    )
    window_minutes: Minutes | None = Field(
        None, description="How long one batch run may take, in minutes; null: not stated."
    )


class Data(Strict):
    sensitivity: Sensitivity = Field("internal", description="Most sensitive data the model sees.")
    must_stay_on_device: bool = Field(False, description="Input data may not leave the device.")
    audit_trail: bool = Field(
        False, description="Every prediction must be reproducible and auditable."
    )


class Hardware(Strict):
    target: Target = Field("server", description="Where the model runs.")
    accelerator: Accelerator = Field("none", description="Accelerator available for inference.")
    gpu_memory_gb: GpuMemoryGb | None = Field(None, description="Memory of one GPU in GiB.")
    device_memory_mb: DeviceMemoryMb | None = Field(
        None, description="Memory available to the model on an edge device, in MiB."
    )
    offline: bool = Field(False, description="Must work without a network connection.")


class ModelInfo(Strict):
    framework: Framework = Field("sklearn", description="Framework the model was trained with.")
    size_mb: SizeMb | None = Field(None, description="Size of the model artifact in MiB.")
    stages: Stages = Field(1, description="Number of models that feed each other.")


class Team(Strict):
    ops_capacity: OpsCapacity = Field(
        "small", description="Who runs it: a small product team or a platform team."
    )
    kubernetes: bool = Field(False, description="The team already runs Kubernetes.")


class Answers(Strict):
    """The questionnaire's answers: only ``traffic.arrival`` is required."""

    traffic: Traffic
    latency: Latency = Latency()
    data: Data = Data()
    hardware: Hardware = Hardware()
    model: ModelInfo = ModelInfo()
    team: Team = Team()

    @model_validator(mode="after")
    def _consistent(self) -> Answers:
        on_device_target = self.hardware.target != "server"
        if self.traffic.arrival == "on-device" and not on_device_target:
            raise ValueError(
                "traffic.arrival 'on-device' contradicts hardware.target 'server' "
                "(use target mobile, browser or embedded, or another arrival)"
            )
        if self.data.must_stay_on_device and not on_device_target:
            raise ValueError(
                "data.must_stay_on_device is true but hardware.target is 'server' "
                "(use target mobile, browser or embedded, or let the data leave the device)"
            )
        if self.hardware.gpu_memory_gb is not None and self.hardware.accelerator != "gpu":
            raise ValueError("hardware.gpu_memory_gb is set but hardware.accelerator is 'none'")
        return self


class Budget(Strict):
    """What a spike and the alert rules judge a project against.

    ``None`` means "not stated here": ``mlship.knowledge.budget`` resolves every criterion
    from flags, this record, its answers and the pattern's defaults, in that order.
    ``min_rps`` is the throughput floor in the unit of the pattern's load: requests/s for a
    service, rows/s for a batch job, events/s for a consumer (records of mlship 0.1.0 call
    it ``target_rps``). ``max_memory_mb`` is the peak memory of a job, or the memory the
    model may take on a device; ``max_model_mb`` the size of an exported model file;
    ``max_lag`` the events a consumer may still be behind when a spike ends. Those three
    are written only where a pattern's budget has them.
    """

    p99_ms: Milliseconds | None = None
    max_error_rate: ErrorRate | None = None
    min_rps: MinRps | None = None
    max_memory_mb: DeviceMemoryMb | None = None
    max_model_mb: SizeMb | None = None
    max_lag: Annotated[int, Field(ge=0, le=MAX_LAG)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _legacy_names(cls, data: Any) -> Any:
        if isinstance(data, dict) and "target_rps" in data and "min_rps" not in data:
            data = {("min_rps" if k == "target_rps" else k): v for k, v in data.items()}
        return data

    @model_serializer(mode="wrap")
    def _omit_unstated_extras(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {k: v for k, v in data.items() if v is not None or k not in PATTERN_CRITERIA}


# Budget criteria that only some patterns have (the rest every record shows, null or not).
PATTERN_CRITERIA = ("max_memory_mb", "max_model_mb", "max_lag")


class RankedPattern(Strict):
    pattern: PatternName
    score: Annotated[float, Field(ge=0, le=1)]
    reasons: list[str]


class ExcludedPattern(Strict):
    pattern: PatternName
    why: str


class Recommendation(Strict):
    """Output of the decision engine; its JSON form is a public contract.

    ``feasible`` is false when the answers rule out every pattern: ``pattern`` is then the
    closest one (ruled out by the fewest constraints) and ``relax`` names, for each pattern
    one change away, the constraint that would bring it back.
    """

    pattern: PatternName
    ranking: list[RankedPattern]
    excluded: list[ExcludedPattern]
    warnings: list[str]
    stack: dict[str, str | int | float | bool | None]
    next: str
    feasible: bool = True
    relax: list[str] = []


class TemplateOverlay(Strict):
    """An organisation's template source laid over mlship's, as a project records it.

    ``source`` is a folder or a git repository (path or URL); ``ref`` the tag, branch or
    commit asked for (``None``: the repository's HEAD, or a plain folder); ``commit`` what
    that ref resolved to when the project was rendered (``None`` for a plain folder).
    """

    source: Annotated[str, Field(min_length=1)]
    ref: str | None = None
    commit: str | None = None


class Waiver(Strict):
    """A finding of ``mlship check`` accepted on purpose: the rule, why, and until when.

    A waiver without a reason, or past its date, is reported by ``mlship check`` itself.
    """

    rule: Annotated[str, Field(min_length=1)]
    reason: str = ""
    until: Annotated[date, Field(strict=False)] | None = None


class FilePolicy(Strict):
    """Which files the templates own (``mlship check`` compares them with the pristine
    render) and which were only seeded (free to edit); globs relative to the project."""

    owned: list[str] = []
    free: list[str] = []


class CheckPolicy(Strict):
    """The ``check:`` block of ``mlship.yaml``."""

    waive: list[Waiver] = []
    files: FilePolicy = FilePolicy()


class DecisionRecord(Strict):
    """``mlship.yaml``: why a project follows its pattern, and the budget it must meet."""

    mlship_version: str
    pattern: PatternName
    answers: Answers | None = None
    reasons: list[str] = []
    ranking: list[RankedPattern] = []
    warnings: list[str] = []
    stack: dict[str, str | int | float | bool | None] = {}
    budget: Budget = Budget()
    template_version: str | None = None
    template_overlay: TemplateOverlay | None = None
    project: dict[str, str | int | float | bool | None] = {}
    check: CheckPolicy = CheckPolicy()
