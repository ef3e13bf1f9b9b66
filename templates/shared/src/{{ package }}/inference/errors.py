"""Errors of the inference core; transports map them to their own status codes."""

from __future__ import annotations

from dataclasses import dataclass


class InferenceError(Exception):
    """Base class of everything the core raises on purpose."""


class ModelLoadError(InferenceError):
    """The model cannot be served: missing, tampered, unsafe or on a device that is absent."""


@dataclass(frozen=True)
class Problem:
    """One invalid input value: where it is (``instances[3].mean radius``) and what is wrong."""

    loc: tuple[str | int, ...]
    msg: str

    @property
    def where(self) -> str:
        text = ""
        for part in self.loc:
            text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
        return text

    def as_dict(self) -> dict[str, object]:
        return {"loc": list(self.loc), "msg": self.msg}

    def __str__(self) -> str:
        return f"{self.where}: {self.msg}"


class InputSchemaError(InferenceError):
    """Input that does not match the manifest's schema; carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))
