"""``mlship spike``: load-test a service against its budget; exit code for CI."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from mlship.cli.app import app
from mlship.cli.errors import reported_errors
from mlship.errors import EXIT_FAILED

if TYPE_CHECKING:
    from mlship.spike.result import SpikeResult

LOAD = "Load"
BUDGET = "Budget"
CLIENT = "Load generator"


@app.command(no_args_is_help=False)
def spike(
    target: str = typer.Argument(
        ".", help="URL of a running service, or a project directory that spike starts itself."
    ),
    path: str | None = typer.Option(
        None, "--path", help="Request path (default /v1/predict, or the URL's own path)."
    ),
    users: int | None = typer.Option(
        None, "--users", "-u", help="Closed model: clients in a loop.", rich_help_panel=LOAD
    ),
    spawn_rate: float | None = typer.Option(
        None, "--spawn-rate", help="Closed model: users started per second.", rich_help_panel=LOAD
    ),
    rate: float | None = typer.Option(
        None,
        "--rate",
        help="Open model: requests per second on a fixed schedule.",
        rich_help_panel=LOAD,
    ),
    duration: str | None = typer.Option(
        None, "--duration", "-t", help="How long: 30, 30s, 2m (default 30s).", rich_help_panel=LOAD
    ),
    arrivals: str = typer.Option(
        "uniform", "--arrivals", help="Open model: uniform or poisson.", rich_help_panel=LOAD
    ),
    find_capacity: bool = typer.Option(
        False,
        "--find-capacity",
        help="Step the open-model rate up to the highest rate within the p99 budget.",
        rich_help_panel=LOAD,
    ),
    start_rate: float | None = typer.Option(
        None, "--start-rate", help="Capacity search: first rate (10).", rich_help_panel=LOAD
    ),
    max_rate: float | None = typer.Option(
        None, "--max-rate", help="Capacity search: highest rate tried.", rich_help_panel=LOAD
    ),
    step_duration: str | None = typer.Option(
        None, "--step-duration", help="Capacity search: each step (3s).", rich_help_panel=LOAD
    ),
    max_search_time: str | None = typer.Option(
        None, "--max-search-time", help="Capacity search: time limit (3m).", rich_help_panel=LOAD
    ),
    payloads: Path | None = typer.Option(
        None,
        "--payloads",
        help="NDJSON file: one JSON request body per line (default: built from the manifest).",
        rich_help_panel=LOAD,
    ),
    invalid_share: float = typer.Option(
        0.0,
        "--invalid-share",
        help="Share of deliberately invalid bodies (0.1 = 10 %); a 4xx is their right answer.",
        rich_help_panel=LOAD,
    ),
    rows: int = typer.Option(
        1, "--rows", help="Rows per generated request body.", rich_help_panel=LOAD
    ),
    p99_ms: float | None = typer.Option(
        None, "--p99-ms", help="p99 budget in ms (overrides mlship.yaml).", rich_help_panel=BUDGET
    ),
    max_error_rate: float | None = typer.Option(
        None,
        "--max-error-rate",
        help="Highest error rate, 0..1 (overrides mlship.yaml).",
        rich_help_panel=BUDGET,
    ),
    min_rps: float | None = typer.Option(
        None,
        "--min-rps",
        help="Lowest throughput in req/s (overrides the target in mlship.yaml).",
        rich_help_panel=BUDGET,
    ),
    workers: int = typer.Option(
        1, "--workers", help="Locust worker processes (distributed mode).", rich_help_panel=CLIENT
    ),
    timeout: str | None = typer.Option(
        None, "--timeout", help="Per-request timeout (5s).", rich_help_panel=CLIENT
    ),
    max_outstanding: int = typer.Option(
        1000,
        "--max-outstanding",
        help="Open model: requests in flight before sends are dropped.",
        rich_help_panel=CLIENT,
    ),
    late_threshold_ms: float = typer.Option(
        20.0,
        "--late-threshold-ms",
        help="Open model: a send this much behind schedule counts as late.",
        rich_help_panel=CLIENT,
    ),
    ready_timeout: str | None = typer.Option(
        None, "--ready-timeout", help="Wait for GET /ready at most this long (60s)."
    ),
    serve_command: str | None = typer.Option(
        None, "--serve-command", help="Command that starts the project (default: make serve)."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Folder for the run folders (default: <project>/spikes)."
    ),
    compare: tuple[Path, Path] | None = typer.Option(
        None, "--compare", help="Show the difference between two saved runs A and B, then exit."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Load-test a service and judge its tail latency, errors and throughput against the budget.

    Exit code: 0 PASS (or no budget), 1 FAIL, 2 bad input, 3 the service or the load
    generator failed.
    """
    with reported_errors():
        if compare is not None:
            _compare(compare, as_json)
            return
        from mlship.spike.session import SpikeOptions, run_spike

        options = SpikeOptions(
            target=target,
            path=path,
            users=users,
            spawn_rate=spawn_rate,
            rate=rate,
            duration=duration,
            arrivals=arrivals,
            find_capacity=find_capacity,
            start_rate=start_rate,
            max_rate=max_rate,
            step_duration=step_duration,
            max_search_time=max_search_time,
            workers=workers,
            timeout=timeout,
            max_outstanding=max_outstanding,
            late_threshold_ms=late_threshold_ms,
            payloads=payloads,
            invalid_share=invalid_share,
            rows=rows,
            p99_ms=p99_ms,
            max_error_rate=max_error_rate,
            min_rps=min_rps,
            out=out,
            ready_timeout=ready_timeout,
            serve_command=serve_command,
        )
        from mlship.cli._spike_view import LiveView

        with LiveView(enabled=not as_json) as view:
            result = run_spike(options, progress=view.update)
        _show(result, as_json)
    if result.verdict == "FAIL":
        raise typer.Exit(EXIT_FAILED)


def _show(result: SpikeResult, as_json: bool) -> None:
    from mlship.cli.output import print_json

    if as_json:
        print_json(result.model_dump(mode="json"))
        return
    from mlship.cli._spike_view import render_result

    render_result(result)


def _compare(paths: tuple[Path, Path], as_json: bool) -> None:
    from mlship.cli.output import print_json
    from mlship.spike.compare import compare_paths

    data: dict[str, Any] = compare_paths(*paths)
    if as_json:
        print_json(data)
        return
    from mlship.cli._spike_view import render_compare

    render_compare(data)
