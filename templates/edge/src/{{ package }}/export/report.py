"""The pipeline's findings as JSON (for tools), Markdown (for reviews) and HTML (for people)."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

MB = 1024 * 1024
BAR_WIDTH = 360


def write_reports(report: dict[str, Any], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "report.json", out_dir / "report.md", out_dir / "report.html"]
    paths[0].write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    paths[1].write_text(markdown(report), encoding="utf-8")
    paths[2].write_text(html_page(report), encoding="utf-8")
    return paths


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _limit(value: float | None, unit: str) -> str:
    return "not given" if value is None else f"{value:g} {unit}"


def _rows(report: dict[str, Any]) -> list[list[str]]:
    rows = []
    for variant in report["variants"]:
        bench, parity = variant["benchmark"], variant["parity"]
        rows.append(
            [
                variant["name"],
                f"{bench['size_bytes'] / MB:.2f}",
                f"{bench['load_ms']:.1f}",
                f"{bench['single']['p50_ms']:.3f} / {bench['single']['p99_ms']:.3f}",
                f"{bench['batch']['p50_ms']:.2f} / {bench['batch']['p99_ms']:.2f}",
                _fmt(parity["max_abs_diff"], 5),
                _fmt(parity["label_agreement"], 4),
                _fmt(parity["accuracy"], 4),
                _fmt(parity["accuracy_delta"], 4),
                variant["budget"]["verdict"],
            ]
        )
    return rows


RUNTIME_HEADERS = [
    "runtime",
    "variant",
    "status",
    "size MiB",
    "load ms",
    "1 row p50/p99 ms",
    "batch p50/p99 ms",
    "max abs diff",
    "agreement",
    "accuracy delta",
    "budget",
]


def _runtime_rows(report: dict[str, Any]) -> list[list[str]]:
    rows = []
    for entry in report.get("runtimes", []):
        bench = entry.get("benchmark")
        parity = entry.get("parity") or {}
        size = entry.get("size_bytes")
        rows.append(
            [
                entry["target"],
                entry["variant"],
                entry["status"],
                "n/a" if size is None else f"{size / MB:.2f}",
                "n/a" if bench is None else f"{bench['load_ms']:.1f}",
                "n/a"
                if bench is None
                else f"{bench['single']['p50_ms']:.3f} / {bench['single']['p99_ms']:.3f}",
                "n/a"
                if bench is None
                else f"{bench['batch']['p50_ms']:.2f} / {bench['batch']['p99_ms']:.2f}",
                _fmt(parity.get("max_abs_diff"), 5),
                _fmt(parity.get("label_agreement"), 4),
                _fmt(parity.get("accuracy_delta"), 4),
                entry.get("budget", {}).get("verdict", "n/a"),
            ]
        )
    return rows


HEADERS = [
    "variant",
    "size MiB",
    "load ms",
    "1 row p50/p99 ms",
    "batch p50/p99 ms",
    "max abs diff",
    "agreement",
    "accuracy",
    "accuracy delta",
    "budget",
]


def markdown(report: dict[str, Any]) -> str:
    budget, bench = report["budget"], report["benchmark"]
    lines = [
        f"# Edge export report: {report['model']['name']} {report['model']['version']}",
        "",
        f"Source: {report['model']['framework']} `{report['model']['file']}` exported with "
        f"{report['export']['exporter']}, opset {report['export']['opset']}.",
        f"Sample: {report['sample']['origin']} ({report['sample']['rows']} rows); static int8 "
        f"calibrated on {report['sample']['calibration_rows']} other rows "
        f"({report['sample']['calibration_origin']}), none of them an evaluation row.",
        f"Benchmark: {bench['threads']} intra-op thread(s), batch of {bench['batch_size']} rows, "
        f"{bench.get('rounds', 1)} interleaved rounds, "
        f"on {bench['machine']['processor']} ({bench['machine']['cpus']} CPUs), "
        f"onnxruntime {bench['machine']['onnxruntime']}.",
        f"Device: target **{budget['target']}**, device factor {budget['device_factor']:g}, "
        f"memory {_limit(budget['device_memory_mb'], 'MiB')}, "
        f"p99 budget {_limit(budget['p99_ms'], 'ms')}. Device latency is **estimated** "
        "(p99 measured on this machine x the device factor), not measured on the device.",
        f"Runtimes: {', '.join(report.get('targets', ['onnx']))}.",
        "",
        "| " + " | ".join(HEADERS) + " |",
        "|" + "---|" * len(HEADERS),
    ]
    lines += ["| " + " | ".join(row) + " |" for row in _rows(report)]
    lines.append("")
    for variant in report["variants"]:
        for check in variant["budget"]["checks"]:
            mark = "PASS" if check["passed"] else "FAIL"
            lines.append(f"- {variant['name']} {check['check']}: {mark}, {check['detail']}")
    for skipped in report["not_applicable"]:
        lines.append(f"- {skipped['variant']}: not applicable, {skipped['reason']}")
    for failed in report.get("failed_variants", []):
        lines.append(f"- {failed['variant']}: could not be built, {failed['reason']}")
    for name, ratio in {**report["ratios"], **report.get("runtime_ratios", {})}.items():
        lines.append(
            f"- {name} vs fp32: single row {ratio['single_speedup']:.2f}x "
            f"(spread {ratio['single_speedup_spread']:.0%} across rounds), batch "
            f"{ratio['batch_speedup']:.2f}x (spread {ratio['batch_speedup_spread']:.0%}), "
            f"{ratio['size_ratio']:.2f}x smaller"
        )
    if report.get("runtimes"):
        lines += [
            "",
            "## Other runtimes, each checked in its own interpreter",
            "",
            "| " + " | ".join(RUNTIME_HEADERS) + " |",
            "|" + "---|" * len(RUNTIME_HEADERS),
        ]
        lines += ["| " + " | ".join(row) + " |" for row in _runtime_rows(report)]
        lines.append("")
        for entry in report["runtimes"]:
            if entry.get("reason"):
                lines.append(
                    f"- {entry['target']} {entry['variant']}: {entry['status']}, {entry['reason']}"
                )
            for tried in entry.get("routes_tried", []):
                lines.append(
                    f"- {entry['target']} {entry['variant']}: route {tried['route']} did not "
                    f"work: {tried['error'][:300]}"
                )
    lines += [
        "",
        f"**Ship: {report['recommendation']['variant']}** ({report['recommendation']['why']}).",
        "",
    ]
    for note in report["bundle"]["notes"]:
        lines.append(f"- {note}")
    return "\n".join(lines) + "\n"


def _bars(title: str, values: list[tuple[str, float]], unit: str) -> str:
    top = max((v for _, v in values), default=1.0) or 1.0
    height = 28 * len(values) + 30
    parts = [
        f"<figure><figcaption>{html.escape(title)}</figcaption>"
        f'<svg width="{BAR_WIDTH + 220}" height="{height}" role="img">'
    ]
    for i, (name, value) in enumerate(values):
        y = 10 + i * 28
        width = max(1.0, BAR_WIDTH * value / top)
        parts.append(
            f'<text x="0" y="{y + 15}">{html.escape(name)}</text>'
            f'<rect x="70" y="{y}" width="{width:.1f}" height="20" fill="#3b7dd8"></rect>'
            f'<text x="{76 + width:.1f}" y="{y + 15}">{value:.3g} {unit}</text>'
        )
    parts.append("</svg></figure>")
    return "".join(parts)


def html_page(report: dict[str, Any]) -> str:
    variants = report["variants"]
    charts = [
        _bars(
            "Single-row p99 latency (lower is better)",
            [(v["name"], v["benchmark"]["single"]["p99_ms"]) for v in variants],
            "ms",
        ),
        _bars(
            f"Batch of {report['benchmark']['batch_size']} rows, p50 latency",
            [(v["name"], v["benchmark"]["batch"]["p50_ms"]) for v in variants],
            "ms",
        ),
        _bars(
            "File size", [(v["name"], v["benchmark"]["size_bytes"] / MB) for v in variants], "MiB"
        ),
    ]
    table = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
        for row in _rows(report)
    )
    head = "".join(f"<th>{html.escape(h)}</th>" for h in HEADERS)
    runtime_table = ""
    if report.get("runtimes"):
        runtime_head = "".join(f"<th>{html.escape(h)}</th>" for h in RUNTIME_HEADERS)
        runtime_body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
            for row in _runtime_rows(report)
        )
        runtime_table = (
            f"<h2>Other runtimes</h2><table><tr>{runtime_head}</tr>{runtime_body}</table>"
        )
    notes = "".join(
        f"<li>{html.escape(line[2:])}</li>"
        for line in markdown(report).splitlines()
        if line.startswith("- ")
    )
    title = html.escape(f"{report['model']['name']} {report['model']['version']}")
    ship = html.escape(report["recommendation"]["variant"])
    return (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        f"<title>Edge export: {title}</title>"
        "<style>body{font:15px system-ui,sans-serif;margin:2em;max-width:70em}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}"
        "figure{margin:1em 0}figcaption{font-weight:600}svg text{font-size:13px}</style>"
        f"<h1>Edge export: {title}</h1>"
        f"<p>Ship <strong>{ship}</strong>: {html.escape(report['recommendation']['why'])}.</p>"
        + "".join(charts)
        + "<p>Device latency is <strong>estimated</strong>: p99 measured on this machine "
        "times the device factor, not measured on the device.</p>"
        + f"<table><tr>{head}</tr>{table}</table>{runtime_table}<ul>{notes}</ul></html>\n"
    )
