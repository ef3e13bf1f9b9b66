"""``mlship spike``: load a project the way its pattern is used, judge it against its budget.

Exit code for CI: 0 PASS, 1 FAIL, 2 bad input, 3 environment, 130 interrupted.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from mlship.cli.app import app
from mlship.cli.errors import reported_errors
from mlship.errors import EXIT_FAILED, EXIT_INTERRUPTED

if TYPE_CHECKING:
    from mlship.spike.result import SpikeResult

LOAD = "Load"
BUDGET = "Budget"
CLIENT = "Load generator"
PATTERNS = "Batch, streaming and edge"


@app.command(no_args_is_help=False)
def spike(
    target: str = typer.Argument(
        ".",
        help="A project directory (spike runs it itself, with its own .venv) or the URL of a "
        "service that is already running (spike only loads it).",
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
        help="Open model: requests (streaming: events) per second on a fixed schedule.",
        rich_help_panel=LOAD,
    ),
    duration: str | None = typer.Option(
        None,
        "--duration",
        "-t",
        help="How long: 30, 30s, 2m (default 30s); edge: each variant and call size (2s).",
        rich_help_panel=LOAD,
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
    input_rows: int | None = typer.Option(
        None,
        "--input-rows",
        help="Batch: rows of generated input (100000); --payloads gives a file or folder instead.",
        rich_help_panel=PATTERNS,
    ),
    bootstrap: str | None = typer.Option(
        None,
        "--bootstrap",
        help="Streaming: a running broker (host:port); default: spike starts one of its own.",
        rich_help_panel=PATTERNS,
    ),
    device_factor: float | None = typer.Option(
        None,
        "--device-factor",
        help="Edge: how many times slower the device runs the model than this machine "
        "(default: the project's export.yaml, else the knowledge base).",
        rich_help_panel=PATTERNS,
    ),
    p99_ms: float | None = typer.Option(
        None,
        "--p99-ms",
        help="p99 budget in ms of the latency the pattern is about: per request, end to end "
        "per event, per call on the device (overrides mlship.yaml).",
        rich_help_panel=BUDGET,
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
        help="Throughput floor: requests/s for a service, rows/s for a batch job, events/s for "
        "a consumer (overrides mlship.yaml).",
        rich_help_panel=BUDGET,
    ),
    max_memory_mb: float | None = typer.Option(
        None,
        "--max-memory-mb",
        help="Batch: peak memory of the job; edge: memory the model takes (MiB).",
        rich_help_panel=BUDGET,
    ),
    max_model_mb: float | None = typer.Option(
        None, "--max-model-mb", help="Edge: size of the model file (MiB).", rich_help_panel=BUDGET
    ),
    max_lag: int | None = typer.Option(
        None,
        "--max-lag",
        help="Streaming: events the consumer may still be behind at the end.",
        rich_help_panel=BUDGET,
    ),
    workers: int = typer.Option(
        1, "--workers", help="Locust worker processes (distributed mode).", rich_help_panel=CLIENT
    ),
    timeout: str | None = typer.Option(
        None,
        "--timeout",
        help="Per-request timeout (5s); batch: the job's time limit (10m); streaming: the "
        "wait for the last predictions (30s).",
        rich_help_panel=CLIENT,
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
        None,
        "--serve-command",
        help="Command that runs the project (default: its main command, e.g. make serve, "
        "make run).",
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Folder for the run folders (default: <project>/spikes)."
    ),
    compare: tuple[Path, Path] | None = typer.Option(
        None, "--compare", help="Show the difference between two saved runs A and B, then exit."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Load a project the way its pattern is used and judge it against its budget.

    `mlship spike .` runs the project in this folder itself, with its own .venv: it serves
    a service (online, chained) on a free port, runs a batch job on generated rows, starts a
    broker and the consumer of a streaming project, or runs an edge project's exported
    model variants as the target device would; then it stops everything it started.
    `mlship spike http://127.0.0.1:8000` only loads a service that is already running (a
    `make serve` you started yourself), judged by the mlship.yaml of the current folder.

    Exit code: 0 PASS (or no budget), 1 FAIL, 2 bad input, 3 the project, the service or
    the load generator failed, 130 interrupted (Ctrl-C; the partial result is saved).
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
            input_rows=input_rows,
            p99_ms=p99_ms,
            max_error_rate=max_error_rate,
            min_rps=min_rps,
            max_memory_mb=max_memory_mb,
            max_model_mb=max_model_mb,
            max_lag=max_lag,
            out=out,
            ready_timeout=ready_timeout,
            serve_command=serve_command,
            bootstrap=bootstrap,
            device_factor=device_factor,
        )
        from mlship.cli._spike_view import LiveView

        try:
            with LiveView(enabled=not as_json) as view:
                result = run_spike(options, progress=view.update)
        except KeyboardInterrupt:
            from mlship.cli.output import print_error

            print_error("interrupted: stopped what spike had started; nothing was measured")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        _show(result, as_json)
    if result.interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)
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
