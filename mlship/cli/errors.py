"""The one place that turns mlship errors into a message on stderr and an exit code."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer

from mlship.cli.output import print_error
from mlship.errors import EXIT_BAD_INPUT, MlshipError


@contextmanager
def reported_errors() -> Iterator[None]:
    """Run a command body; report MlshipError (and invalid input) without a traceback."""
    from pydantic import ValidationError

    try:
        yield
    except MlshipError as error:
        print_error(str(error))
        raise typer.Exit(error.exit_code) from None
    except ValidationError as error:
        from mlship.validation import describe_validation_error

        lines = "\n".join(f"  {line}" for line in describe_validation_error(error))
        print_error(f"invalid input:\n{lines}")
        raise typer.Exit(EXIT_BAD_INPUT) from None
