"""A spike's reports: Markdown for a pull-request comment, one self-contained HTML page.

The HTML page embeds its charts as inline SVG and its style inline; nothing is fetched
from anywhere when it is opened. A few lines of inline script only record that the
charts were laid out (``data-rendered``), which the tests check in a headless browser.
Each pattern's figures get their own section: requests or events (latency, throughput,
errors), a batch job's rows, memory and parts, an edge export's variants.
"""

from __future__ import annotations

from html import escape

from mlship.spike.charts import PALETTE, Series, histogram_chart, line_chart
from mlship.spike.result import SpikeResult

LATENCY_ROWS = [("p50", "p50"), ("p90", "p90"), ("p95", "p95"), ("p99", "p99")]
LATENCY_ROWS += [("p99.9", "p99_9"), ("max", "max")]


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _mb(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def nouns(result: SpikeResult) -> tuple[str, str]:
    """What one unit of load is called, and its rate."""
    if result.kind == "consumer":
        return "events", "events/s"
    if result.kind in ("job", "export"):
        return "rows", "rows/s"
    return "requests", "req/s"


def verdict_line(result: SpikeResult) -> str:
    if result.interrupted:
        return "interrupted (no verdict)"
    if result.verdict is None:
        return "no verdict (no budget)"
    return result.verdict


def target_line(result: SpikeResult) -> str:
    """Where the load went, in words."""
    t = result.target
    started = " (started by spike)" if t.started_by_spike else ""
    if result.stream is not None:
        st = result.stream
        broker = "a broker spike started" if st.broker_started_by_spike else st.bootstrap
        return (
            f"consumer of {t.project} via {broker}: {st.input_topic} -> {st.output_topic} "
            f"(dead letters: {st.dlq_topic})"
        )
    if result.kind in ("job", "export"):
        what = "batch job" if result.kind == "job" else "exported model"
        return f"{what} of {t.project}{started}"
    return f"{t.url or ''}{t.path or ''}{started}"


def _criteria_md(result: SpikeResult) -> list[str]:
    if not result.criteria:
        return []
    lines = ["| criterion | budget | measured | result |", "| --- | --- | --- | --- |"]
    for c in result.criteria:
        measured = "n/a" if c.measured is None else f"{c.measured:g}"
        mark = "PASS" if c.passed else "FAIL"
        lines.append(f"| {c.name} | {c.limit:g} | {measured} | {mark}: {c.reason} |")
    return [*lines, ""]


def _stats_md(result: SpikeResult) -> list[str]:
    s = result.stats
    if s is None:
        return []
    lat = s.latency_ms
    noun, rate = nouns(result)
    header = f"| {noun} | {rate} | " + " | ".join(f"{n} ms" for n, _ in LATENCY_ROWS)
    lines = [
        header + " | error rate |",
        "| " + " | ".join(["---"] * (len(LATENCY_ROWS) + 3)) + " |",
        f"| {s.requests} | {s.rps:.1f} | "
        + " | ".join(_ms(getattr(lat, key)) for _, key in LATENCY_ROWS)
        + f" | {s.error_rate:.2%} |",
        "",
    ]
    if s.errors_by_kind:
        kinds = ", ".join(f"{k}: {n}" for k, n in s.errors_by_kind.items())
        lines += [f"Errors by kind: {kinds}", ""]
    if s.schedule is not None:
        lines += [
            f"Schedule: {s.schedule.scheduled} sends due at {s.schedule.offered_rps:g} {rate}, "
            f"{s.schedule.late} late (> {s.schedule.late_threshold_ms:g} ms), "
            f"{s.schedule.dropped} dropped.",
            "",
        ]
    st = result.stream
    if st is not None:
        lag = "n/a" if st.end_lag is None else str(st.end_lag)
        lines += [
            f"Stream: {st.produced} events acknowledged by the broker, {st.predictions} "
            f"predictions read back ({st.duplicates} duplicates), {st.dead_lettered} dead "
            f"letters ({st.dlq_rate:.2%}), {st.missing} missing; consumer lag at the end: "
            f"{lag} ({st.lag_detail}).",
            "",
        ]
    return lines


def _capacity_md(result: SpikeResult) -> list[str]:
    cap = result.capacity
    if cap is None:
        return []
    _, rate = nouns(result)
    found = "none" if cap.sustainable_rps is None else f"{cap.sustainable_rps:g} {rate}"
    lines = [
        f"Capacity: highest sustainable rate {found} (search stopped by: {cap.limited_by}).",
        "",
        f"| rate | {rate} | p50 ms | p99 ms | error rate | sustainable |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for step in cap.steps:
        lines.append(
            f"| {step.rate:g} | {step.rps:.1f} | {_ms(step.p50_ms)} | {_ms(step.p99_ms)} | "
            f"{step.error_rate:.2%} | {'yes' if step.sustainable else 'no: ' + step.reason} |"
        )
    return [*lines, ""]


def _batch_md(result: SpikeResult) -> list[str]:
    b = result.batch
    if b is None:
        return []
    lines = [
        "| rows | scored | rejected | job s | rows/s (job) | rows/s (wall) | peak memory MiB |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        f"| {b.rows} | {b.scored} | {b.rejected} | {b.job_seconds:g} | {b.rows_per_s:g} | "
        f"{b.wall_rows_per_s:g} | {_mb(b.peak_memory_mb)} ({b.memory_measure}, "
        f"{b.processes} processes) |",
        "",
    ]
    if b.parts:
        lines += [
            "| part | rows | rejected | seconds | rows/s | done at s |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for part in b.parts:
            done = "n/a" if part.done_at_s is None else f"{part.done_at_s:g}"
            lines.append(
                f"| {part.name} | {part.records} | {part.rejected} | {part.seconds:g} | "
                f"{part.rows_per_s:g} | {done} |"
            )
        lines.append("")
    return lines


def _edge_md(result: SpikeResult) -> list[str]:
    e = result.edge
    if e is None:
        return []
    word = "estimated" if e.latency == "estimated" else "measured"
    lines = [
        f"Device: {e.target}, {e.threads} thread(s); device latency {word} "
        f"(host x {e.device_factor:g}, {e.factor_source}). Shipped variant: {e.shipped}.",
        "",
        f"| variant | size MiB | memory MiB | rows | p50 ms (host) | p99 ms (host) | "
        f"p99 ms (device, {word}) | verdict |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for v in e.variants:
        name = f"{v.name} (shipped)" if v.shipped else v.name
        for case in v.cases:
            lines.append(
                f"| {name} | {v.size_mb:.3f} | {_mb(v.memory_mb)} | {case.rows} | "
                f"{case.p50_ms:.3f} | {case.p99_ms:.3f} | {case.device_p99_ms:.3f} | "
                f"{v.verdict or 'n/a'} |"
            )
    return [*lines, ""]


def markdown(result: SpikeResult) -> str:
    """A short summary a person reads in a pull request."""
    lines = [
        f"### mlship spike: {verdict_line(result)}",
        "",
        f"- pattern: {result.pattern or 'service'}",
        f"- target: `{target_line(result)}`",
        f"- load: {result.profile.description}",
    ]
    if result.profile.payloads and result.kind in ("service", "consumer"):
        lines.append(f"- payloads: {result.profile.payloads}")
    lines.append("")
    lines += _criteria_md(result)
    lines += _stats_md(result)
    lines += _capacity_md(result)
    lines += _batch_md(result)
    lines += _edge_md(result)
    lines += [f"> {note}" for note in result.notes]
    return "\n".join(lines).rstrip() + "\n"


STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem;color:#222;
max-width:1000px}
h1{font-size:1.5rem}.badge{padding:.2rem .6rem;border-radius:4px;color:#fff;font-weight:600}
.PASS{background:#2ca02c}.FAIL{background:#d62728}.NONE{background:#777}
table{border-collapse:collapse;margin:.8rem 0}td,th{border:1px solid #ccc;padding:.3rem .6rem;
text-align:right}th{background:#f3f3f3}td.l,th.l{text-align:left}
.chart{display:block;margin:1rem 0;background:#fff}.chart .title{font-size:14px;font-weight:600}
.chart .label,.chart .tick,.chart .legend{font-size:11px;fill:#444}
.chart .plot{fill:#fafafa;stroke:#bbb}.chart .grid{stroke:#e4e4e4}
.note{background:#fff8e1;border-left:4px solid #f0b400;padding:.4rem .8rem}
"""

SCRIPT = """
document.addEventListener('DOMContentLoaded', function () {
  var charts = document.querySelectorAll('svg.chart');
  var drawn = 0;
  charts.forEach(function (svg) {
    var box = svg.getBoundingClientRect();
    var marks = svg.querySelectorAll('polyline.series, rect.bar, circle').length;
    if (box.width > 0 && box.height > 0 && marks > 0) {
      svg.setAttribute('data-rendered', 'true');
      drawn += 1;
    }
  });
  document.body.setAttribute('data-charts-rendered', String(drawn));
});
"""


def _table(rows: list[tuple[str, str]]) -> str:
    cells = "".join(f'<tr><th class="l">{escape(k)}</th><td>{escape(v)}</td></tr>' for k, v in rows)
    return f"<table>{cells}</table>"


def _grid(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _stats_charts(result: SpikeResult) -> list[str]:
    s = result.stats
    if s is None:
        return []
    noun, rate = nouns(result)
    series = s.timeseries
    p99_budget = result.budget.p99_ms
    latency = line_chart(
        "latency-over-time",
        "Latency percentiles over time (by send time)",
        "seconds since start",
        "latency (ms)",
        [
            Series("p50", [(x.t, x.p50) for x in series], PALETTE[0]),
            Series("p90", [(x.t, x.p90) for x in series], PALETTE[1]),
            Series("p99", [(x.t, x.p99) for x in series], PALETTE[2]),
            Series("max", [(x.t, x.max) for x in series], PALETTE[3], dashed=True),
        ],
        budget=p99_budget,
        budget_label="p99 budget ms",
    )
    # a last second cut short by the end of the run would look like a collapse: leave it out
    full = [x for x in series if x.t + 1 <= s.duration_s + 1e-6] or list(series)
    throughput_series = [
        Series("completed ok/s", [(x.t, float(x.completed)) for x in full], PALETTE[0]),
        Series("sent/s", [(x.t, float(x.sent)) for x in full], PALETTE[1], dashed=True),
        Series("errors/s", [(x.t, float(x.errors)) for x in full], PALETTE[2]),
    ]
    throughput = line_chart(
        "throughput-over-time",
        "Throughput over time",
        "seconds since start",
        f"{noun} per second",
        throughput_series,
        budget=result.budget.min_rps,
        budget_label=f"target {rate}",
    )
    distribution = histogram_chart(
        "latency-distribution",
        "Latency distribution",
        s.histogram.edges_ms,
        s.histogram.counts,
        budget=p99_budget,
    )
    charts = [latency, throughput, distribution]
    if result.capacity is not None and result.capacity.steps:
        steps = sorted(result.capacity.steps, key=lambda st: st.rate)
        charts.append(
            line_chart(
                "capacity-steps",
                "Capacity search: p99 by offered rate",
                f"offered rate ({rate})",
                "p99 latency (ms)",
                [
                    Series(
                        "p99 per step",
                        [(st.rate, st.p99_ms) for st in steps],
                        PALETTE[2],
                        markers=True,
                    )
                ],
                budget=p99_budget,
                budget_label="p99 budget ms",
            )
        )
    return charts


def _batch_charts(result: SpikeResult) -> list[str]:
    b = result.batch
    if b is None or not b.timeseries:
        return []
    series = b.timeseries
    charts = [
        line_chart(
            "rows-over-time",
            "Rows done over time (as parts are committed)",
            "seconds since the job started",
            "rows done",
            [Series("rows done", [(x.t, float(x.rows_done)) for x in series], PALETTE[0])],
        )
    ]
    done = sorted((p for p in b.parts if p.done_at_s is not None), key=lambda p: p.done_at_s or 0.0)
    if done:
        charts.append(
            line_chart(
                "part-throughput",
                "Throughput of each part, by the time it was done",
                "seconds since the job started",
                "rows per second",
                [
                    Series(
                        "part rows/s",
                        [(p.done_at_s or 0.0, p.rows_per_s) for p in done],
                        PALETTE[1],
                        markers=True,
                    )
                ],
                budget=result.budget.min_rps,
                budget_label="needed rows/s",
            )
        )
    memory = [(x.t, x.memory_mb) for x in series if x.memory_mb is not None]
    if memory:
        charts.append(
            line_chart(
                "memory-over-time",
                f"Memory of the job's processes ({b.memory_measure.upper()})",
                "seconds since the job started",
                "MiB",
                [Series("memory", memory, PALETTE[2])],
                budget=result.budget.max_memory_mb,
                budget_label="memory budget MiB",
            )
        )
    return charts


def _edge_charts(result: SpikeResult) -> list[str]:
    e = result.edge
    if e is None or not e.variants:
        return []
    series = [
        Series(
            v.name,
            [(float(c.rows), c.device_p99_ms) for c in v.cases],
            PALETTE[i % len(PALETTE)],
            markers=True,
        )
        for i, v in enumerate(e.variants)
    ]
    word = "estimated" if e.latency == "estimated" else "measured"
    return [
        line_chart(
            "device-latency",
            f"Device p99 per call ({word}) by rows per call",
            "rows per call",
            "p99 latency (ms)",
            series,
            budget=result.budget.p99_ms,
            budget_label="p99 budget ms",
        )
    ]


def _figures(result: SpikeResult) -> list[tuple[str, str]]:
    figures = [
        ("pattern", result.pattern or "service"),
        ("target", target_line(result)),
        ("load", result.profile.description),
    ]
    if result.profile.payloads and result.kind in ("service", "consumer"):
        figures.append(("payloads", result.profile.payloads))
    s = result.stats
    if s is not None:
        noun, rate = nouns(result)
        lat = s.latency_ms
        figures += [
            (noun, str(s.requests)),
            (
                "throughput",
                f"{s.rps:.1f} {rate} ({s.ok_rps:.1f} ok/s, {s.sustained_rps:.1f} sustained)",
            ),
            *((f"{name} latency", f"{_ms(getattr(lat, key))} ms") for name, key in LATENCY_ROWS),
            ("error rate", f"{s.error_rate:.2%}"),
        ]
        for kind, n in s.errors_by_kind.items():
            figures.append((f"errors: {kind}", str(n)))
        if s.schedule is not None:
            figures.append(
                (
                    "schedule",
                    f"{s.schedule.late} late, {s.schedule.dropped} dropped of "
                    f"{s.schedule.scheduled} due",
                )
            )
    st = result.stream
    if st is not None:
        figures += [
            ("predictions read back", f"{st.predictions} ({st.duplicates} duplicates)"),
            ("dead letters", f"{st.dead_lettered} ({st.dlq_rate:.2%})"),
            ("missing", str(st.missing)),
            ("consumer lag at the end", f"{st.end_lag} ({st.lag_detail})"),
        ]
    b = result.batch
    if b is not None:
        figures += [
            ("rows", f"{b.rows} ({b.scored} scored, {b.rejected} rejected)"),
            ("throughput", f"{b.rows_per_s:g} rows/s (job), {b.wall_rows_per_s:g} (wall)"),
            ("job time", f"{b.job_seconds:g} s ({b.wall_seconds:g} s wall)"),
            (
                "peak memory",
                f"{_mb(b.peak_memory_mb)} MiB ({b.memory_measure.upper()} summed over "
                f"{b.processes} processes)",
            ),
            ("reject rate", f"{b.reject_rate:.2%} ({b.planted_bad} planted bad rows)"),
        ]
    if result.capacity is not None:
        cap = result.capacity.sustainable_rps
        _, rate = nouns(result)
        figures.append(("highest sustainable rate", "none" if cap is None else f"{cap:g} {rate}"))
    return figures


def _tables(result: SpikeResult) -> str:
    parts = []
    b = result.batch
    if b is not None and b.parts:
        parts.append(
            _grid(
                ["part", "rows", "rejected", "seconds", "rows/s", "done at s"],
                [
                    [
                        p.name,
                        str(p.records),
                        str(p.rejected),
                        f"{p.seconds:g}",
                        f"{p.rows_per_s:g}",
                        "n/a" if p.done_at_s is None else f"{p.done_at_s:g}",
                    ]
                    for p in b.parts
                ],
            )
        )
    e = result.edge
    if e is not None:
        word = "estimated" if e.latency == "estimated" else "measured"
        parts.append(
            f"<p>Device {escape(e.target)}, {e.threads} thread(s); device latency "
            f"<strong>{word}</strong>: host x {e.device_factor:g} "
            f"({escape(e.factor_source)}).</p>"
        )
        rows = []
        for v in e.variants:
            for c in v.cases:
                rows.append(
                    [
                        f"{v.name}{' (shipped)' if v.shipped else ''}",
                        f"{v.size_mb:.3f}",
                        _mb(v.memory_mb),
                        str(c.rows),
                        f"{c.p50_ms:.3f}",
                        f"{c.p99_ms:.3f}",
                        f"{c.device_p99_ms:.3f}",
                        v.verdict or "n/a",
                    ]
                )
        parts.append(
            _grid(
                [
                    "variant",
                    "size MiB",
                    "memory MiB",
                    "rows",
                    "p50 ms host",
                    "p99 ms host",
                    f"p99 ms device ({word})",
                    "verdict",
                ],
                rows,
            )
        )
    return "".join(parts)


def html(result: SpikeResult) -> str:
    """One self-contained page: verdict, criteria, figures, charts with the budget drawn."""
    badge = "NONE" if result.interrupted or result.verdict is None else result.verdict
    criteria = "".join(
        f'<tr><td class="l">{escape(c.name)}</td><td>{c.limit:g}</td>'
        f"<td>{'n/a' if c.measured is None else f'{c.measured:g}'}</td>"
        f'<td class="l">{"PASS" if c.passed else "FAIL"}: {escape(c.reason)}</td></tr>'
        for c in result.criteria
    )
    criteria_table = (
        '<table><tr><th class="l">criterion</th><th>budget</th><th>measured</th>'
        f'<th class="l">result</th></tr>{criteria}</table>'
        if criteria
        else "<p>No verdict: no budget was given, or the run was interrupted.</p>"
    )
    notes = "".join(f'<p class="note">{escape(n)}</p>' for n in result.notes)
    body = "".join(_stats_charts(result) + _batch_charts(result) + _edge_charts(result))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mlship spike {escape(result.started)}</title>
<style>{STYLE}</style></head>
<body>
<h1>mlship spike <span class="badge {badge}">{escape(verdict_line(result))}</span></h1>
<p>{escape(result.started)}</p>
{criteria_table}
{_table(_figures(result))}
{_tables(result)}
{notes}
{body}
<script>{SCRIPT}</script>
</body></html>
"""
