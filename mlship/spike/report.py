"""A spike's reports: Markdown for a pull-request comment, one self-contained HTML page.

The HTML page embeds its charts as inline SVG and its style inline; nothing is fetched
from anywhere when it is opened. A few lines of inline script only record that the
charts were laid out (``data-rendered``), which the tests check in a headless browser.
"""

from __future__ import annotations

from html import escape

from mlship.spike.charts import PALETTE, Series, histogram_chart, line_chart
from mlship.spike.result import SpikeResult

LATENCY_ROWS = [("p50", "p50"), ("p90", "p90"), ("p95", "p95"), ("p99", "p99")]
LATENCY_ROWS += [("p99.9", "p99_9"), ("max", "max")]


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def verdict_line(result: SpikeResult) -> str:
    if result.verdict is None:
        return "no verdict (no budget)"
    return result.verdict


def markdown(result: SpikeResult) -> str:
    """A short summary a person reads in a pull request."""
    s = result.stats
    lat = s.latency_ms
    lines = [
        f"### mlship spike: {verdict_line(result)}",
        "",
        f"- target: `{result.target.url}{result.target.path}`"
        + (" (started by spike)" if result.target.started_by_spike else ""),
        f"- load: {result.profile.description}",
        f"- payloads: {result.profile.payloads}",
        "",
    ]
    if result.criteria:
        lines += ["| criterion | budget | measured | result |", "| --- | --- | --- | --- |"]
        for c in result.criteria:
            measured = "n/a" if c.measured is None else f"{c.measured:g}"
            mark = "PASS" if c.passed else "FAIL"
            lines.append(f"| {c.name} | {c.limit:g} | {measured} | {mark}: {c.reason} |")
        lines.append("")
    header = "| requests | req/s | " + " | ".join(f"{n} ms" for n, _ in LATENCY_ROWS)
    lines += [
        header + " | error rate |",
        "| " + " | ".join(["---"] * (len(LATENCY_ROWS) + 3)) + " |",
        f"| {s.requests} | {s.rps:.1f} | "
        + " | ".join(_ms(getattr(lat, key)) for _, key in LATENCY_ROWS)
        + f" | {s.error_rate:.2%} |",
        "",
    ]
    if s.errors_by_kind:
        kinds = ", ".join(f"{k}: {n}" for k, n in s.errors_by_kind.items())
        lines.append(f"Errors by kind: {kinds}")
        lines.append("")
    if s.schedule is not None:
        lines.append(
            f"Schedule: {s.schedule.scheduled} sends due at {s.schedule.offered_rps:g} req/s, "
            f"{s.schedule.late} late (> {s.schedule.late_threshold_ms:g} ms), "
            f"{s.schedule.dropped} dropped."
        )
        lines.append("")
    if result.capacity is not None:
        cap = result.capacity
        found = "none" if cap.sustainable_rps is None else f"{cap.sustainable_rps:g} req/s"
        lines += [
            f"Capacity: highest sustainable rate {found} (search stopped by: {cap.limited_by}).",
            "",
            "| rate | req/s | p50 ms | p99 ms | error rate | sustainable |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for step in cap.steps:
            lines.append(
                f"| {step.rate:g} | {step.rps:.1f} | {_ms(step.p50_ms)} | {_ms(step.p99_ms)} | "
                f"{step.error_rate:.2%} | {'yes' if step.sustainable else 'no: ' + step.reason} |"
            )
        lines.append("")
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


def _charts(result: SpikeResult) -> list[str]:
    s = result.stats
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
        "requests per second",
        throughput_series,
        budget=result.budget.min_rps,
        budget_label="target req/s",
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
                "offered rate (req/s)",
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


def html(result: SpikeResult) -> str:
    """One self-contained page: verdict, criteria, figures, charts with the budget drawn."""
    s = result.stats
    lat = s.latency_ms
    badge = result.verdict or "NONE"
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
        else "<p>No budget was given, so there is no verdict.</p>"
    )
    figures = [
        ("target", f"{result.target.url}{result.target.path}"),
        ("load", result.profile.description),
        ("payloads", result.profile.payloads),
        ("requests", str(s.requests)),
        ("throughput", f"{s.rps:.1f} req/s ({s.ok_rps:.1f} ok/s, {s.sustained_rps:.1f} sustained)"),
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
    if result.capacity is not None:
        cap = result.capacity.sustainable_rps
        figures.append(("highest sustainable rate", "none" if cap is None else f"{cap:g} req/s"))
    notes = "".join(f'<p class="note">{escape(n)}</p>' for n in result.notes)
    body = "".join(_charts(result))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mlship spike {escape(result.started)}</title>
<style>{STYLE}</style></head>
<body>
<h1>mlship spike <span class="badge {badge}">{escape(verdict_line(result))}</span></h1>
<p>{escape(result.started)}</p>
{criteria_table}
{_table(figures)}
{notes}
{body}
<script>{SCRIPT}</script>
</body></html>
"""
