"""``python -m <package>.streaming``: load the model, then consume until SIGTERM/SIGINT.

A bad model stops the start with a clear message and exit code 1. A missing broker does
not: the consumer logs it, reports not-ready on /ready and connects when the broker comes.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from ..inference.errors import InferenceError
from ..inference.predictor import load_predictor
from ..logs import configure_logging
from .consumer import StreamConsumer, signal_handler
from .health import LoopState, start_health_server
from .metrics import StreamMetrics
from .settings import StreamingSettings

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Score Kafka events with the model")
    parser.add_argument("--bootstrap-servers", help="overrides APP_BOOTSTRAP_SERVERS")
    parser.add_argument("--group-id", help="overrides APP_GROUP_ID")
    parser.add_argument("--health-port", type=int, help="overrides APP_HEALTH_PORT")
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in vars(args).items() if v is not None}
    settings = StreamingSettings(**overrides)
    configure_logging(settings.log_level, settings.log_json)
    state = LoopState(settings.liveness_timeout_s, settings.model_failure_restart_s)
    try:
        predictor = load_predictor(settings)
    except InferenceError as error:
        log.error("refusing to start: %s", error)
        return 1
    baseline = predictor.manifest.baseline
    edges = baseline.score_histogram.edges if baseline and baseline.score_histogram else None
    metrics = StreamMetrics(settings.latency_budget_ms / 1000, settings.max_batch_size, edges)
    metrics.model_loaded(predictor.info)
    state.model_ready = True
    try:
        server = start_health_server(
            settings.health_host, settings.health_port, state, metrics.registry
        )
    except OSError as error:
        log.error(
            "cannot serve probes on %s:%d: %s (set APP_HEALTH_PORT)",
            settings.health_host,
            settings.health_port,
            error,
        )
        return 1
    log.info("probes and metrics on http://%s:%d", settings.health_host, server.server_port)
    consumer = StreamConsumer(settings, predictor, metrics, state)
    handler = signal_handler(consumer)
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    try:
        return consumer.run()
    finally:
        server.shutdown()


if __name__ == "__main__":
    sys.exit(main())
