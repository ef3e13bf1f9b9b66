"""Inline SVG charts for the HTML report: no library, no CDN, readable without JavaScript.

Each function returns one ``<svg class="chart">`` element with its axes, its series and,
where a budget applies, the budget drawn as a dashed red line.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 760, 280
LEFT, RIGHT, TOP, BOTTOM = 64, 150, 34, 42
BUDGET_COLOUR = "#d62728"
PALETTE = ["#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]


@dataclass(frozen=True)
class Series:
    name: str
    points: Sequence[tuple[float, float | None]]
    colour: str
    dashed: bool = False
    markers: bool = False


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high]."""
    if high <= low:
        high = low + 1.0
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    value = math.floor(low / step) * step
    ticks = [round(value, 10)]
    while ticks[-1] < high:  # the last tick is at or above the highest value
        value += step
        ticks.append(round(value, 10))
    return ticks


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 1:
        return f"{value:.3g}"
    return f"{value:.2g}"


def _frame(title: str, x_label: str, y_label: str, chart_id: str) -> list[str]:
    return [
        f'<svg class="chart" id="{chart_id}" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-label="{escape(title)}">',
        f'<text x="{LEFT}" y="20" class="title">{escape(title)}</text>',
        f'<text x="{LEFT + (WIDTH - LEFT - RIGHT) / 2}" y="{HEIGHT - 6}" '
        f'text-anchor="middle" class="label">{escape(x_label)}</text>',
        f'<text transform="translate(14 {TOP + (HEIGHT - TOP - BOTTOM) / 2}) rotate(-90)" '
        f'text-anchor="middle" class="label">{escape(y_label)}</text>',
    ]


def _legend(entries: Sequence[tuple[str, str, bool]]) -> list[str]:
    out = []
    x = WIDTH - RIGHT + 14
    for i, (name, colour, dashed) in enumerate(entries):
        y = TOP + 12 + i * 18
        dash = ' stroke-dasharray="6 4"' if dashed else ""
        out.append(
            f'<line x1="{x}" y1="{y - 4}" x2="{x + 22}" y2="{y - 4}" stroke="{colour}" '
            f'stroke-width="2"{dash}/>'
            f'<text x="{x + 28}" y="{y}" class="legend">{escape(name)}</text>'
        )
    return out


def line_chart(
    chart_id: str,
    title: str,
    x_label: str,
    y_label: str,
    series: Sequence[Series],
    budget: float | None = None,
    budget_label: str = "budget",
) -> str:
    """Lines over a shared x axis; a horizontal dashed line marks the budget."""
    xs = [x for s in series for x, y in s.points if y is not None]
    ys = [y for s in series for _, y in s.points if y is not None]
    if budget is not None:
        ys.append(budget)
    parts = _frame(title, x_label, y_label, chart_id)
    if not xs:
        parts.append(f'<text x="{LEFT + 10}" y="{HEIGHT / 2}" class="label">no data</text></svg>')
        return "".join(parts)
    x_ticks = nice_ticks(min(xs), max(xs))
    y_ticks = nice_ticks(0.0, max(ys) * 1.08 if max(ys) > 0 else 1.0)
    x0, x1, y1 = x_ticks[0], x_ticks[-1], y_ticks[-1]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def sx(x: float) -> float:
        return LEFT + (x - x0) / ((x1 - x0) or 1.0) * plot_w

    def sy(y: float) -> float:
        return TOP + plot_h - y / (y1 or 1.0) * plot_h

    parts += _axes(x_ticks, y_ticks, sx, sy)
    for s in series:
        runs: list[list[str]] = [[]]
        for x, y in s.points:
            if y is None:
                runs.append([])
            else:
                runs[-1].append(f"{sx(x):.1f},{sy(y):.1f}")
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        for run in runs:
            if len(run) == 1:
                cx, cy = run[0].split(",")
                parts.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{s.colour}"/>')
            elif run:
                parts.append(
                    f'<polyline class="series" data-series="{escape(s.name)}" fill="none" '
                    f'stroke="{s.colour}" stroke-width="1.8"{dash} points="{" ".join(run)}"/>'
                )
                if s.markers:
                    for point in run:
                        cx, cy = point.split(",")
                        parts.append(f'<circle cx="{cx}" cy="{cy}" r="3" fill="{s.colour}"/>')
    legend = [(s.name, s.colour, s.dashed) for s in series]
    if budget is not None:
        yb = sy(budget)
        parts.append(
            f'<line class="budget" x1="{LEFT}" y1="{yb:.1f}" x2="{LEFT + plot_w}" y2="{yb:.1f}" '
            f'stroke="{BUDGET_COLOUR}" stroke-width="1.6" stroke-dasharray="6 4"/>'
        )
        legend.append((f"{budget_label} {_fmt(budget)}", BUDGET_COLOUR, True))
    parts += _legend(legend)
    parts.append("</svg>")
    return "".join(parts)


def _axes(
    x_ticks: Sequence[float],
    y_ticks: Sequence[float],
    sx: Callable[[float], float],
    sy: Callable[[float], float],
    x_labels: Sequence[str] | None = None,
) -> list[str]:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    out = [
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" class="plot"/>',
    ]
    for value in y_ticks:
        y = sy(value)
        out.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_w}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">'
            f"{_fmt(value)}</text>"
        )
    for i, value in enumerate(x_ticks):
        x = sx(value)
        label = x_labels[i] if x_labels else _fmt(value)
        out.append(
            f'<text x="{x:.1f}" y="{TOP + plot_h + 16}" text-anchor="middle" class="tick">'
            f"{escape(label)}</text>"
        )
    return out


def histogram_chart(
    chart_id: str,
    title: str,
    edges: Sequence[float],
    counts: Sequence[int],
    budget: float | None = None,
) -> str:
    """Bars on a log latency axis (the bins are log-spaced); a vertical line at the budget."""
    parts = _frame(title, "latency (ms, log scale)", "requests", chart_id)
    if not counts:
        parts.append(f'<text x="{LEFT + 10}" y="{HEIGHT / 2}" class="label">no data</text></svg>')
        return "".join(parts)
    low = math.log10(edges[0])
    high = math.log10(edges[-1])
    if budget is not None and budget > 0:
        low, high = min(low, math.log10(budget) - 0.05), max(high, math.log10(budget) + 0.05)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    y_ticks = nice_ticks(0.0, max(counts) * 1.05)

    def sx(value: float) -> float:
        return LEFT + (math.log10(value) - low) / ((high - low) or 1.0) * plot_w

    def sy(count: float) -> float:
        return TOP + plot_h - count / (y_ticks[-1] or 1.0) * plot_h

    decades = [10.0**d for d in range(math.ceil(low), math.floor(high) + 1)]
    ticks = decades if len(decades) >= 2 else [10**low, 10**high]
    parts += _axes(ticks, y_ticks, sx, sy, [_fmt(t) for t in ticks])
    for i, count in enumerate(counts):
        if not count:
            continue
        xa, xb = sx(edges[i]), sx(edges[i + 1])
        ya = sy(count)
        parts.append(
            f'<rect class="bar" x="{xa:.1f}" y="{ya:.1f}" width="{max(xb - xa - 0.5, 0.8):.1f}" '
            f'height="{TOP + plot_h - ya:.1f}" fill="{PALETTE[0]}">'
            f"<title>{_fmt(edges[i])}-{_fmt(edges[i + 1])} ms: {count}</title></rect>"
        )
    legend = [("requests per bin", PALETTE[0], False)]
    if budget is not None and budget > 0:
        xb = sx(budget)
        parts.append(
            f'<line class="budget" x1="{xb:.1f}" y1="{TOP}" x2="{xb:.1f}" y2="{TOP + plot_h}" '
            f'stroke="{BUDGET_COLOUR}" stroke-width="1.6" stroke-dasharray="6 4"/>'
        )
        legend.append((f"p99 budget {_fmt(budget)} ms", BUDGET_COLOUR, True))
    parts += _legend(legend)
    parts.append("</svg>")
    return "".join(parts)
