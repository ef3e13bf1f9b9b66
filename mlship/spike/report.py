"""A spike's Markdown summary (for a pull-request comment) and the words every report shares.

Each pattern's figures get their own section: requests or events (latency, throughput,
errors), a batch job's rows, memory and parts, an edge export's variants. The HTML page
is :mod:`mlship.spike.report_html`.
"""

from __future__ import annotations

from mlship.spike.result import SpikeResult

LATENCY_ROWS = [("p50", "p50"), ("p90", "p90"), ("p95", "p95"), ("p99", "p99")]
LATENCY_ROWS += [("p99.9", "p99_9"), ("max", "max")]


def ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def mb(value: float | None) -> str:
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
        + " | ".join(ms(getattr(lat, key)) for _, key in LATENCY_ROWS)
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
            f"| {step.rate:g} | {step.rps:.1f} | {ms(step.p50_ms)} | {ms(step.p99_ms)} | "
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
        f"{b.wall_rows_per_s:g} | {mb(b.peak_memory_mb)} ({b.memory_measure}, "
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
                f"| {name} | {v.size_mb:.3f} | {mb(v.memory_mb)} | {case.rows} | "
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
