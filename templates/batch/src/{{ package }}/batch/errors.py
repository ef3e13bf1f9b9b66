"""Errors of the batch job, each with the exit code the command line returns."""

from __future__ import annotations


class JobError(Exception):
    """A run that cannot start or cannot finish; the message says what to do."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        self.hint = hint
        super().__init__(message)


class JobConfigError(JobError):
    """Bad options, an input that cannot be read, or an output that belongs to another run."""

    exit_code = 2


class RejectRateExceeded(JobError):
    """More records were rejected than ``max_reject_rate`` allows."""

    exit_code = 3


class CountMismatch(JobError):
    """Scored plus rejected records do not add up to the records read: never ignore this."""

    exit_code = 4
