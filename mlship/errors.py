"""One error hierarchy for mlship, with the exit codes the CLI maps them to.

Core code raises these and never prints or exits; ``mlship.cli`` turns them into a
message on stderr and an exit code. A ``hint`` says how to fix the problem.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1  # the command ran and its verdict is negative (e.g. a spike missed its budget)
EXIT_BAD_INPUT = 2  # the user's input is wrong: nothing was done
EXIT_ENVIRONMENT = 3  # something outside mlship failed (a tool, a process, the file system)
EXIT_INTERRUPTED = 130  # stopped by Ctrl-C (128 + SIGINT, as shells report it)


class MlshipError(Exception):
    """Base of every error mlship reports to a person."""

    exit_code = EXIT_ENVIRONMENT

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\nhint: {self.hint}"


class InputError(MlshipError):
    """The user's input (a flag, an answers file, a model file, a name) is wrong."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str, hint: str | None = None, problems: list[str] | None = None):
        super().__init__(message, hint)
        self.problems = problems or []

    def __str__(self) -> str:
        lines = [self.message, *(f"  {p}" for p in self.problems)]
        if self.hint:
            lines.append(f"hint: {self.hint}")
        return "\n".join(lines)


class KnowledgeBaseError(MlshipError):
    """A pattern file or data table shipped with (or pointed at by) mlship is invalid."""

    exit_code = EXIT_BAD_INPUT


class ToolError(MlshipError):
    """An external tool or process that mlship drives failed."""

    exit_code = EXIT_ENVIRONMENT


class Interrupted(MlshipError):
    """Ctrl-C stopped the command before it had anything to show."""

    exit_code = EXIT_INTERRUPTED
