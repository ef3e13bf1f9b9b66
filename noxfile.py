"""Developer tasks. Each session installs what it needs and passes ``posargs`` on."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "types", "tests"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = "3.11"


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The default test run (unit, CLI and end-to-end tests of generated projects)."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON)
def e2e(session: nox.Session) -> None:
    """Only the end-to-end tests, the slow suites included."""
    session.install("-e", ".[test]")
    session.run("pytest", "-m", "e2e or slow", *session.posargs)


@nox.session(python=PYTHON)
def images(session: nox.Session) -> None:
    """Every pattern's container image built and run with podman (``pytest -m images``).

    Needs podman and the local ``python:3.11-slim``: run ``.ci/container-base.sh`` as root
    once (CI does).
    """
    session.install("-e", ".[test]")
    session.run("pytest", "-m", "images", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff (lint and format) and the import-layering contracts."""
    session.install("-e", ".[test]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("lint-imports")


@nox.session(python=PYTHON)
def types(session: nox.Session) -> None:
    """mypy in strict mode with the pydantic plugin."""
    session.install("-e", ".[test]")
    session.run("mypy", *session.posargs)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Performance measurements, ratios against a baseline of the same run.

    Each benchmark installs the generated project it measures into a venv of its own
    (``.bench/venvs``); results go to ``benchmarks/results/`` and the docs' tables are
    regenerated from them.
    """
    session.install("-e", ".[test]")
    session.run("python", "-m", "benchmarks", *session.posargs)
    session.run("python", "-m", "benchmarks.docs")


@nox.session(name="wheel-smoke", python=PYTHON)
def wheel_smoke(session: nox.Session) -> None:
    """Build the wheel, install it alone into this session's venv and run the CLI on it."""
    session.install("build")
    tmp = session.create_tmp()
    session.run("python", "-m", "build", "--wheel", "--outdir", tmp, ".")
    import glob

    (wheel,) = glob.glob(f"{tmp}/mlship-*.whl")
    session.install("--force-reinstall", wheel)
    with session.chdir(tmp):
        session.run("mlship", "patterns", "--json", silent=True)
        session.run(
            "mlship",
            "recommend",
            "--answers",
            f"{session.invoked_from}/examples/checkout-fraud.yaml",
            "--json",
        )
