"""``serve``: a bundle over HTTP, so that the browser page (``/web/``) can be opened.

The same as ``python -m http.server -d dist``, with the host and port from ``APP_HOST`` and
``APP_PORT`` (what the container image sets) and a clean exit on SIGTERM (``docker stop``),
which a process running as PID 1 does not get by default.
"""

from __future__ import annotations

import functools
import http.server
import signal
import sys
from pathlib import Path
from types import FrameType


class NoBundle(ValueError):
    """The folder holds no bundle (no manifest.json): run the export first."""


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def serve_bundle(dist: Path, host: str, port: int) -> int:
    if not (dist / "manifest.json").is_file():
        raise NoBundle(f"{dist} holds no bundle (no manifest.json): run the export first")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(dist))
    signal.signal(signal.SIGTERM, _stop)
    with http.server.ThreadingHTTPServer((host, port), handler) as server:
        print(f"serving {dist}/ on http://{host}:{port}/ (the browser page: /web/)", flush=True)
        try:
            server.serve_forever()
        except (KeyboardInterrupt, SystemExit):
            print("stopped", file=sys.stderr, flush=True)
    return 0
