"""Where one ``POST /v1/predict`` spends its time inside the generated service's process.

Run as a script with the interpreter of an online project, in the project's folder (its
``models/`` is loaded), pinned to one core::

    python request_path_probe.py --package bench_svc --body-file body.json --out result.json

Every stage of the request path is timed in-process on one event loop (uvloop, as the
service runs), without sockets: the JSON parse, the schema check, the model call alone, the
engine's call (model, metrics, drift), the hand-off to the inference thread and back, the
micro-batcher around it (calls back to back), a lone call (run inline), the reply, and the
whole ASGI app (guard, routing, all of the above) called once at a time and 32 at a time.
Then a request to shed (503), fed as raw bytes to uvicorn's httptools protocol: the stock
protocol, which runs it through the app as an ASGI task, against the service's refusing
protocol (``web/refusal.py``), which answers it from the parsed headers.
Each figure is the median over ``--rounds`` rounds of ``--calls`` calls, in microseconds
per request.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

CONCURRENT = 32


class Transport:
    """What uvicorn's protocol writes to, without a socket: keeps the last status line."""

    def __init__(self) -> None:
        self.status = b""

    def write(self, data: bytes) -> None:
        if data.startswith(b"HTTP/1.1 "):
            self.status = data[9:12]

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(
            name, default
        )


async def _shed_costs(package: str, service: Any, body: bytes, calls: int, rounds: int
                      ) -> dict[str, float]:  # fmt: skip
    """Per shed request: the stock protocol and app against the refusing protocol."""
    import uvicorn
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    from uvicorn.server import ServerState

    refusing = importlib.import_module(f"{package}.web.refusal").RefusingHttpProtocol
    request = (
        b"POST /v1/predict HTTP/1.1\r\nhost: 127.0.0.1:8000\r\n"
        b"content-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(body) + body
    )
    config = uvicorn.Config(service, log_config=None, access_log=False, server_header=False)
    config.load()
    service.state.admission.max_in_flight = 0  # every request is to be shed
    loop = asyncio.get_running_loop()
    figures = {}
    for name, protocol_class in (("shed_through_the_app", HttpToolsProtocol),
                                 ("shed_by_the_protocol", refusing)):  # fmt: skip
        state = ServerState()
        transport = Transport()
        protocol = protocol_class(config, state, {}, loop)
        protocol.connection_made(transport)

        async def one(protocol: Any = protocol, state: Any = state) -> None:
            protocol.data_received(request)
            while state.tasks:  # the stock protocol answers from a task
                await asyncio.sleep(0)

        figures[name] = await _timed_async(calls, rounds, one)
        if transport.status != b"503":
            raise SystemExit(f"{name}: the answer was {transport.status!r}, not 503")
    return figures


def _timed(calls: int, rounds: int, one: Callable[[], Any]) -> float:
    one()  # warm
    per_round = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(calls):
            one()
        per_round.append((time.perf_counter() - started) / calls * 1e6)
    return round(statistics.median(per_round), 2)


async def _timed_async(calls: int, rounds: int, one: Callable[[], Awaitable[Any]]) -> float:
    await one()
    per_round = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(calls):
            await one()
        per_round.append((time.perf_counter() - started) / calls * 1e6)
    return round(statistics.median(per_round), 2)


async def _timed_concurrent(calls: int, rounds: int, one: Callable[[], Awaitable[Any]]) -> float:
    async def client(n: int) -> None:
        for _ in range(n):
            await one()

    per_round = []
    each = max(1, calls // CONCURRENT)
    for _ in range(rounds):
        started = time.perf_counter()
        await asyncio.gather(*(client(each) for _ in range(CONCURRENT)))
        per_round.append((time.perf_counter() - started) / (each * CONCURRENT) * 1e6)
    return round(statistics.median(per_round), 2)


async def probe(package: str, body: bytes, calls: int, rounds: int) -> dict[str, float]:
    app_module = importlib.import_module(f"{package}.serving.app")
    settings_module = importlib.import_module(f"{package}.serving.settings")
    replies = importlib.import_module(f"{package}.web.replies")
    settings = settings_module.ServingSettings(admission="concurrency")
    service = app_module.create_app(settings)
    await service.state.load()
    engine = service.state.engine
    if engine is None:
        raise SystemExit(f"the model did not load: {service.state.failure}")
    predictor = engine.predictor
    instances = json.loads(body)["instances"]
    rows = predictor.to_array(instances)
    scores = predictor.run(rows)
    loop = asyncio.get_running_loop()
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/predict",
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "query_string": b"",
    }
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def whole_request() -> None:
        await service(dict(scope), receive, send)

    async def bare_request() -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    def nothing() -> None:
        return None

    async def handoff() -> None:
        await loop.run_in_executor(engine.pool, nothing)

    async def infer() -> None:
        await engine.infer(rows)

    async def infer_lone() -> None:
        engine._last_done = 0.0  # as if the service had been idle: the inline path
        await engine.infer(rows)

    def reply() -> bytes:
        return bytes(replies.json_reply({"predictions": predictor.postprocess(scores)}).body)

    figures = {
        "json_parse": _timed(calls, rounds, lambda: json.loads(body)),
        "schema_check": _timed(calls, rounds, lambda: predictor.to_array(instances)),
        "model_call": _timed(calls, rounds, lambda: predictor.run(rows)),
        "engine_call": _timed(calls, rounds, lambda: engine._run(rows)),
        "thread_handoff": await _timed_async(calls, rounds, handoff),
        "engine_infer": await _timed_async(calls, rounds, infer),
        "engine_infer_lone": await _timed_async(calls, rounds, infer_lone),
        "reply": _timed(calls, rounds, reply),
        "bare_asgi_app": await _timed_async(calls, rounds, bare_request),
        "app_one_at_a_time": await _timed_async(calls, rounds, whole_request),
        "app_32_at_a_time": await _timed_concurrent(calls, rounds, whole_request),
    }
    if set(statuses) != {200}:
        raise SystemExit(f"the app answered {sorted(set(statuses))}, not only 200")
    figures.update(await _shed_costs(package, service, body, calls, rounds))
    service.state.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", required=True)
    parser.add_argument("--body-file", type=Path, required=True)
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    import uvloop

    figures = uvloop.run(probe(args.package, args.body_file.read_bytes(), args.calls, args.rounds))
    args.out.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
