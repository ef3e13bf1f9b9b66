"""The typer application object that every command module registers on."""

from __future__ import annotations

import typer

from mlship.version import __version__

app = typer.Typer(
    name="mlship",
    help=(
        "From a trained model to a deployed, observable, load-tested project.\n\n"
        "recommend picks a deployment pattern from your constraints, new renders a runnable "
        "project for it, spike load-tests a service against its latency budget."
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mlship {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """mlship: the golden path from a trained model to production."""
