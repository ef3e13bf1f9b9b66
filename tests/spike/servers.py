"""Small HTTP services with known behaviour, for spike's tests and benchmark.

Run as a script: ``python tests/spike/servers.py --port P --mode MODE [...]``. Each is one
uvicorn process with one event loop; the handlers block that loop on purpose, so the
service is strictly serial and its capacity is 1 / service time.

Modes:
- ``fast``: answers at once (the trivial endpoint of the benchmark);
- ``serial``: every request takes ``--service-ms`` of the one worker;
- ``stall``: like ``serial``, and every ``--stall-every-s`` the whole service freezes
  for ``--stall-s`` (what a garbage-collection pause or a noisy neighbour does);
- ``errors``: request n gets a 500 when n % 10 == 3 and hangs ``--hang-s`` when
  n % 20 == 7 (the client times out); all others 200;
- ``validate``: 200 for ``{"instances": [[N numbers]]}`` with N = ``--features``, else 422.

``GET /ready`` answers 200 (or 503 forever with ``--never-ready``); ``GET /stats`` reports
the requests served and the time spent serving them; ``--die-after-requests N`` makes
the process exit right after its N-th prediction request (later requests find the port
closed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import time
from typing import Any

import uvicorn

Scope = dict[str, Any]


def build_app(args: argparse.Namespace) -> Any:
    state = {"n": 0, "served": 0, "busy_s": 0.0, "t0": time.monotonic()}

    async def read_body(receive: Any) -> bytes:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                return body

    async def send_json(send: Any, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(data))]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})

    def serve(seconds: float) -> None:
        start = time.perf_counter()
        time.sleep(seconds)  # blocks the only event loop: one request at a time
        state["busy_s"] += time.perf_counter() - start

    def valid(body: bytes) -> bool:
        try:
            data = json.loads(body)
        except ValueError:
            return False
        rows = data.get("instances") if isinstance(data, dict) else None
        if not isinstance(rows, list) or not rows:
            return False
        for row in rows:
            if not isinstance(row, list) or len(row) != args.features:
                return False
            for v in row:
                if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                    return False
        return True

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        path = scope["path"]
        if path == "/ready":
            await send_json(send, 503 if args.never_ready else 200, {"ready": not args.never_ready})
            return
        if path == "/health":
            await send_json(send, 200, {"ok": True})
            return
        if path == "/stats":
            served = state["served"]
            await send_json(
                send, 200, {"served": served, "busy_s": state["busy_s"], "mode": args.mode}
            )
            return
        body = await read_body(receive)
        state["n"] += 1
        n = state["n"]
        status = 200
        if args.mode == "serial":
            serve(args.service_ms / 1000.0)
        elif args.mode == "stall":
            position = (time.monotonic() - state["t0"]) % args.stall_every_s
            if position < args.stall_s:
                time.sleep(args.stall_s - position)
            serve(args.service_ms / 1000.0)
        elif args.mode == "errors":
            if n % 20 == 7:
                await asyncio.sleep(args.hang_s)
            elif n % 10 == 3:
                status = 500
        elif args.mode == "validate":
            status = 200 if valid(body) else 422
        state["served"] += 1
        if args.die_after_requests and n >= args.die_after_requests:
            asyncio.get_running_loop().call_later(0.01, os._exit, 0)
        await send_json(send, status, {"predictions": [{"label": 1}], "n": n})

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--mode", choices=["fast", "serial", "stall", "errors", "validate"], default="fast"
    )
    parser.add_argument("--service-ms", type=float, default=20.0)
    parser.add_argument("--stall-every-s", type=float, default=1.5)
    parser.add_argument("--stall-s", type=float, default=0.4)
    parser.add_argument("--hang-s", type=float, default=5.0)
    parser.add_argument("--features", type=int, default=4)
    parser.add_argument("--never-ready", action="store_true")
    parser.add_argument("--die-after-requests", type=int, default=0)
    args = parser.parse_args()
    print(f"test server: mode {args.mode} on 127.0.0.1:{args.port}", flush=True)
    uvicorn.run(
        build_app(args),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        backlog=2048,
        timeout_keep_alive=60,
        lifespan="on",
    )


if __name__ == "__main__":
    main()
