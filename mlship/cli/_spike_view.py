"""How ``mlship spike`` looks to a person: the live view while it runs, the final tables."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from rich.console import Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from mlship.cli.output import console, err_console
from mlship.spike.report import nouns, target_line
from mlship.spike.result import SpikeResult

VERDICT_STYLE = {"PASS": "bold green", "FAIL": "bold red", None: "bold yellow"}


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


class LiveView:
    """Elapsed time, throughput, p50/p99 so far and errors, redrawn on stderr."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and err_console().is_terminal
        self.live: Live | None = None
        self.step: str = ""

    def __enter__(self) -> LiveView:
        if self.enabled:
            self.live = Live(
                Text("starting ..."), console=err_console(), refresh_per_second=4, transient=True
            )
            self.live.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.live is not None:
            self.live.__exit__(exc_type, exc, tb)

    def update(self, snapshot: dict[str, Any]) -> None:
        if self.live is None:
            return
        if "line" in snapshot:
            self.live.update(Text(str(snapshot["line"])))
            return
        if "step" in snapshot:
            self.step = f"capacity step {snapshot['step']} at {snapshot['rate']:g} req/s  "
            return
        rps = snapshot.get("rps")
        line = (
            f"{self.step}[bold]{snapshot['elapsed']:5.1f}[/] / {snapshot['duration']:g} s  "
            f"requests {snapshot['requests']}  "
            f"req/s {'-' if rps is None else f'{rps:.1f}'}  "
            f"p50 {_ms(snapshot.get('p50'))} ms  p99 {_ms(snapshot.get('p99'))} ms  "
            f"errors {snapshot['errors']}"
        )
        self.live.update(Text.from_markup(line))


def render_result(result: SpikeResult) -> None:
    out = console()
    style = "bold yellow" if result.interrupted else VERDICT_STYLE[result.verdict]
    if result.interrupted:
        head = "INTERRUPTED (partial figures, no verdict)"
    else:
        head = result.verdict or "NO VERDICT"
    out.print(
        f"[{style}]{head}[/]  {escape(target_line(result))}  {escape(result.profile.description)}"
    )
    parts: list[Any] = [*_stats_parts(result), *_batch_parts(result), *_edge_parts(result)]
    if result.capacity is not None:
        parts.append(_capacity_table(result))
    if result.criteria:
        criteria = Table(title="Budget", title_justify="left")
        for column in ("criterion", "budget", "measured", "result"):
            criteria.add_column(column)
        for c in result.criteria:
            criteria.add_row(
                c.name,
                f"{c.limit:g}",
                "-" if c.measured is None else f"{c.measured:g}",
                Text(("PASS: " if c.passed else "FAIL: ") + c.reason),
            )
        parts.append(criteria)
    for note in result.notes:
        parts.append(Text(note, style="yellow"))
    parts.append(Text(f"report: {result.artifacts.get('html', '-')}", style="dim"))
    out.print(Group(*parts))


def _stats_parts(result: SpikeResult) -> list[Any]:
    s = result.stats
    if s is None:
        return []
    lat = s.latency_ms
    noun, rate = nouns(result)
    figures = Table(title="Results", title_justify="left")
    for column in (noun, rate, "p50", "p90", "p95", "p99", "p99.9", "max", "errors"):
        figures.add_column(column, justify="right")
    figures.add_row(
        str(s.requests),
        f"{s.rps:.1f}",
        *(_ms(v) for v in (lat.p50, lat.p90, lat.p95, lat.p99, lat.p99_9, lat.max)),
        f"{s.errors} ({s.error_rate:.2%})",
    )
    parts: list[Any] = [figures, Text("latency in ms; percentiles are exact", style="dim")]
    if s.errors_by_kind:
        kinds = Table(title="Errors by kind", title_justify="left")
        kinds.add_column("kind")
        kinds.add_column("count", justify="right")
        for kind, n in s.errors_by_kind.items():
            kinds.add_row(escape(kind), str(n))
        parts.append(kinds)
    if s.schedule is not None:
        sc = s.schedule
        parts.append(
            Text(
                f"schedule: {sc.scheduled} sends due at {sc.offered_rps:g} {rate}, "
                f"{sc.late} late, {sc.dropped} dropped"
            )
        )
    st = result.stream
    if st is not None:
        parts.append(
            Text(
                f"stream: {st.predictions} predictions read back ({st.duplicates} duplicates), "
                f"{st.dead_lettered} dead letters, {st.missing} missing; lag at the end "
                f"{'-' if st.end_lag is None else st.end_lag}"
            )
        )
    return parts


def _batch_parts(result: SpikeResult) -> list[Any]:
    b = result.batch
    if b is None:
        return []
    figures = Table(title="Batch job", title_justify="left")
    for column in ("rows", "rejected", "job s", "rows/s", "wall rows/s", "peak memory"):
        figures.add_column(column, justify="right")
    figures.add_row(
        str(b.rows),
        f"{b.rejected} ({b.reject_rate:.2%})",
        f"{b.job_seconds:g}",
        f"{b.rows_per_s:g}",
        f"{b.wall_rows_per_s:g}",
        "-" if b.peak_memory_mb is None else f"{b.peak_memory_mb:.0f} MiB ({b.memory_measure})",
    )
    parts = Table(title="Parts", title_justify="left")
    for column in ("part", "rows", "seconds", "rows/s", "done at s"):
        parts.add_column(column, justify="right")
    for part in b.parts:
        parts.add_row(
            part.name,
            str(part.records),
            f"{part.seconds:g}",
            f"{part.rows_per_s:g}",
            "-" if part.done_at_s is None else f"{part.done_at_s:g}",
        )
    return [figures, parts]


def _edge_parts(result: SpikeResult) -> list[Any]:
    e = result.edge
    if e is None:
        return []
    word = "estimated" if e.latency == "estimated" else "measured"
    table = Table(
        title=f"Variants on {e.target} ({e.threads} thread(s), device latency {word}: "
        f"host x {e.device_factor:g})",
        title_justify="left",
    )
    for column in ("variant", "size MiB", "memory MiB", "rows", "p99 host", "p99 device"):
        table.add_column(column, justify="right")
    table.add_column("verdict")
    for v in e.variants:
        for c in v.cases:
            table.add_row(
                v.name + (" (shipped)" if v.shipped else ""),
                f"{v.size_mb:.3f}",
                "-" if v.memory_mb is None else f"{v.memory_mb:.1f}",
                str(c.rows),
                _ms(c.p99_ms),
                _ms(c.device_p99_ms) + (" (est.)" if word == "estimated" else ""),
                v.verdict or "-",
            )
    return [table]


def _capacity_table(result: SpikeResult) -> Table:
    assert result.capacity is not None
    cap = result.capacity
    _, rate = nouns(result)
    found = "none" if cap.sustainable_rps is None else f"{cap.sustainable_rps:g} {rate}"
    table = Table(title=f"Capacity: {found} (stopped by {cap.limited_by})", title_justify="left")
    for column in ("rate", rate, "p50", "p99", "errors", "sustainable"):
        table.add_column(column, justify="right")
    for step in cap.steps:
        table.add_row(
            f"{step.rate:g}",
            f"{step.rps:.1f}",
            _ms(step.p50_ms),
            _ms(step.p99_ms),
            f"{step.error_rate:.2%}",
            "yes" if step.sustainable else f"no: {step.reason}",
        )
    return table


def render_compare(data: dict[str, Any]) -> None:
    table = Table(title=f"B - A  (A: {data['a']['path']}, B: {data['b']['path']})")
    for column in ("metric", "A", "B", "change", "%"):
        table.add_column(column, justify="right")
    for m in data["metrics"]:
        style = {True: "green", False: "red", None: ""}[m["better"]]
        table.add_row(
            m["name"],
            "-" if m["a"] is None else f"{m['a']:g}",
            "-" if m["b"] is None else f"{m['b']:g}",
            Text("-" if m["delta"] is None else f"{m['delta']:+g}", style=style),
            "-" if m["change_pct"] is None else f"{m['change_pct']:+.1f}",
        )
    console().print(table)
    console().print(f"verdict: A {data['a']['verdict']}, B {data['b']['verdict']}")
