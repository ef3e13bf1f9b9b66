"""The HTTP metrics of a service (names are a contract with its alerts and dashboard)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REJECT_REASONS = ("overload", "too_large", "unsupported_media_type", "timeout", "not_ready")
# latency buckets as fractions of the budget: dense around it, so its p99 can be read off
LATENCY_FACTORS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0, 10.0)


def latency_buckets(budget_s: float) -> list[float]:
    return [round(budget_s * factor, 6) for factor in LATENCY_FACTORS]


class HttpMetrics:
    """Requests by route, method and status; latency; in flight; refusals; admission."""

    def __init__(self, registry: CollectorRegistry, budget_s: float) -> None:
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests",
            ["route", "method", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency (shed requests are counted, not timed)",
            ["route"],
            buckets=latency_buckets(budget_s),
            registry=registry,
        )
        self.in_flight = Gauge(
            "http_requests_in_flight",
            "HTTP requests being served",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.rejected = Counter(
            "http_requests_rejected_total",
            "requests refused before or instead of running "
            f"({'|'.join(REJECT_REASONS)}); shed requests are counted here, not logged",
            ["reason"],
            registry=registry,
        )
        self.service_rate = Gauge(
            "http_admission_service_rate",
            "requests per second the service completes while busy, as admission measures it",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.backlog = Gauge(
            "http_admission_backlog_seconds",
            "expected time to finish the inference requests in the service",
            registry=registry,
            multiprocess_mode="max",
        )
        for reason in REJECT_REASONS:
            self.rejected.labels(reason)
