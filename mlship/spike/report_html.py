"""A spike's HTML report: one self-contained page with the verdict, figures and charts.

The page embeds its charts as inline SVG and its style inline; nothing is fetched from
anywhere when it is opened. A few lines of inline script only record that the charts
were laid out (``data-rendered``), which the tests check in a headless browser.
"""

from __future__ import annotations

from html import escape

from mlship.spike.charts import PALETTE, Series, histogram_chart, line_chart
from mlship.spike.report import LATENCY_ROWS, mb, ms, nouns, target_line, verdict_line
from mlship.spike.result import SpikeResult

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
            *((f"{name} latency", f"{ms(getattr(lat, key))} ms") for name, key in LATENCY_ROWS),
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
                f"{mb(b.peak_memory_mb)} MiB ({b.memory_measure.upper()} summed over "
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
                        mb(v.memory_mb),
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
