"""A small HTTP endpoint for probes and scraping: /health, /ready, /metrics.

It runs in a daemon thread beside the consumer loop and only reads its state. Liveness
fails when the loop has stopped turning (a hung model call, a deadlock) or the model has
failed every retry for ``model_failure_restart_s`` (a restart gets a fresh runtime).
Readiness needs the model loaded and scoring, a broker connection, and no shutdown under
way: a broker outage or a failing model takes the pod out of "ready" without restarting it
(the consumer reconnects and retries on its own), and SIGTERM turns it 503 at once while the
consumer drains.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest


class LoopState:
    """What the loop reports about itself; written by the loop, read by the probes."""

    def __init__(self, liveness_timeout_s: float, model_failure_restart_s: float = 300.0) -> None:
        self.liveness_timeout_s = liveness_timeout_s
        self.model_failure_restart_s = model_failure_restart_s
        self.last_turn = time.monotonic()
        self.model_ready = False
        self.model_failing_since: float | None = None
        self.broker_connected = False
        self.draining = False
        self.assigned: list[str] = []

    def turned(self) -> None:
        self.last_turn = time.monotonic()

    def model_failing_s(self) -> float:
        """How long the model has failed whole batches without a success (0: it scores)."""
        since = self.model_failing_since
        return 0.0 if since is None else time.monotonic() - since

    def live(self) -> bool:
        return (
            time.monotonic() - self.last_turn < self.liveness_timeout_s
            and self.model_failing_s() < self.model_failure_restart_s
        )

    def ready(self) -> bool:
        return (
            self.model_ready
            and self.model_failing_since is None
            and self.broker_connected
            and not self.draining
            and self.live()
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "live": self.live(),
            "ready": self.ready(),
            "model_ready": self.model_ready,
            "model_failing_s": round(self.model_failing_s(), 3),
            "broker_connected": self.broker_connected,
            "draining": self.draining,
            "assigned_partitions": self.assigned,
            "seconds_since_loop_turn": round(time.monotonic() - self.last_turn, 3),
        }


def start_health_server(
    host: str, port: int, state: LoopState, registry: CollectorRegistry
) -> ThreadingHTTPServer:
    """Serve the probes on ``host:port`` in a daemon thread; ``shutdown()`` stops it."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif path in ("/health", "/ready"):
                ok = state.live() if path == "/health" else state.ready()
                body = json.dumps(state.as_dict()).encode()
                self._send(200 if ok else 503, body, "application/json")
            else:
                self._send(404, b'{"detail":"not found"}', "application/json")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return  # probes every few seconds would drown the logs

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="health", daemon=True).start()
    return server
