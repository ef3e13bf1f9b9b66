"""The HTTP service: the whole pipeline, or one stage's model for a split deployment.

Pipeline mode: ``POST /v1/predict`` with ``{"instances": [{"text": "..."}]}`` returns every
stage's output, status, timing and model version. Stage mode (``APP_SERVE_STAGE``): the v1
protocol of an mlship online service over one model, which the pipeline calls remotely.
Both sit behind the shared guard (:mod:`..web.guard`) and publish an OpenAPI document that
says every status they answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..inference.errors import InputSchemaError, Problem
from ..inference.predictor import Predictor
from ..logs import request_id as request_id_var
from ..web import openapi
from ..web.drain import DRAIN
from ..web.guard import Guard
from ..web.oip import V2Error, input_tensor, parse_request
from ..web.replies import Reply, error_reply, problems_reply, retry_after
from ..web.server import adopt_running_server, freeze_heap
from . import schemas
from .build import Pipeline
from .executor import PipelineFailed
from .metrics import Metrics
from .settings import PipelineSettings
from .tracing import Tracing

log = logging.getLogger(__name__)

PREDICT = "/v1/predict"
V2_INFER = "/v2/models/{name}/infer"
_ROUTES = frozenset({PREDICT, "/health", "/ready", "/metrics", "/v1/pipeline", "/v2/health/ready"})


def route_of(path: str) -> str:
    """A bounded route label: the path for known routes, a template for v2, else other."""
    if path in _ROUTES:
        return path
    if path.startswith("/v2/models/") and path.endswith("/infer"):
        return V2_INFER
    return "other"


class Instance(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    text: str = Field(min_length=1)


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    instances: list[Instance] = Field(min_length=1)


class _Refused(Exception):
    def __init__(self, reply: Reply) -> None:
        self.reply = reply


def _problems(error: ValidationError) -> list[Problem]:
    return [Problem(tuple(e["loc"]), e["msg"]) for e in error.errors()]


async def _json_body(request: Request) -> Any:
    try:
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError as error:
        raise _Refused(problems_reply([Problem((), f"invalid JSON: {error}")], ())) from None


def _deadline_ms(request: Request, configured: float) -> float:
    """The caller's deadline (``X-Deadline-Ms``) when tighter than ours."""
    header = request.headers.get("x-deadline-ms")
    if header is None:
        return configured
    try:
        given = float(header)
    except ValueError:
        given = math.nan
    if not math.isfinite(given) or given < 0:
        raise _Refused(
            error_reply(f"X-Deadline-Ms: expected milliseconds >= 0, got {header[:40]!r}", 400)
        )
    return min(configured, given)


def _base_app(
    settings: PipelineSettings, metrics: Metrics, lifespan: Any, guarded: dict[str, Any]
) -> FastAPI:
    app = FastAPI(title="pipeline", lifespan=lifespan, docs_url=None, redoc_url=None)

    @app.exception_handler(_Refused)
    async def refused(_: Request, error: _Refused) -> Response:
        return error.reply.to_response()

    @app.get("/health", responses=openapi.responses(schemas.STATUS))
    async def health() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get(
        "/metrics",
        response_class=PlainTextResponse,
        responses={200: {"description": "Prometheus text format"}},
    )
    async def prometheus() -> Response:
        """Prometheus metrics."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(
        Guard, settings=settings, metrics=metrics.http, route_of=route_of, guarded=guarded
    )
    return app


class ProbeLog:
    """Logs a failing probe loop once per distinct error, and its recovery."""

    def __init__(self) -> None:
        self.last: str | None = None

    def failed(self, error: Exception) -> None:
        text = f"{type(error).__name__}: {error}"
        if text != self.last:
            log.warning("readiness probe of the remote stages failed: %s", text, exc_info=error)
            self.last = text

    def succeeded(self) -> None:
        if self.last is not None:
            log.info("readiness probe of the remote stages works again")
            self.last = None


def create_pipeline_app(
    settings: PipelineSettings,
    pipeline: Pipeline,
    metrics: Metrics,
    tracing: Tracing | None = None,
    on_close: Callable[[], Any] | None = None,
) -> FastAPI:
    tracing = tracing or Tracing()
    probes: dict[str, bool] = {name: True for name in pipeline.stages}
    probe_log = ProbeLog()

    async def probe_once() -> None:
        for name, bound in pipeline.stages.items():
            probes[name] = await bound.stage.probe()
            metrics.stage_ready.labels(name).set(1 if probes[name] else 0)

    async def probe_forever() -> None:
        while True:
            await asyncio.sleep(settings.probe_interval_s)
            try:
                await probe_once()
            except Exception as error:  # a probe must never end the loop, but it is logged
                probe_log.failed(error)
            else:
                probe_log.succeeded()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        adopt_running_server()
        await probe_once()
        freeze_heap()
        task = asyncio.create_task(probe_forever())
        try:
            yield
        finally:
            task.cancel()
            await pipeline.close()
            if on_close is not None:
                on_close()

    app = _base_app(settings, metrics, lifespan, {PREDICT: ()})
    model_of = {name: b.stage.info for name, b in pipeline.stages.items()}
    pipeline_info = {
        "name": pipeline.spec.name,
        "version": pipeline.spec.version,
        "manifest_version": pipeline.manifest.version,
    }
    retry = retry_after(settings.retry_after_s)

    @app.get(
        "/ready",
        responses={
            200: {"description": "can answer", "content": schemas.json(schemas.READY)},
            503: {
                "description": "a required stage is down, or the process drains",
                "content": schemas.json(schemas.READY),
            },
        },
    )
    async def ready() -> JSONResponse:
        """Readiness: every stage with ``fallback: fail`` answers; 503 while draining."""
        stages: dict[str, Any] = {}
        can_answer = not DRAIN.active
        for name, bound in pipeline.stages.items():
            up = probes[name]
            circuit = bound.breaker.state.name.lower() if bound.breaker else None
            stages[name] = {
                "location": bound.stage.location,
                "ready": up,
                "fallback": bound.spec.fallback,
                "circuit": circuit,
            }
            if not up and bound.spec.fallback == "fail":
                can_answer = False
        body = {
            "ready": can_answer,
            "degraded": not all(probes.values()),
            "draining": DRAIN.active,
            "stages": stages,
        }
        return JSONResponse(body, status_code=200 if can_answer else 503)

    @app.get("/v1/pipeline", responses=openapi.responses(schemas.DESCRIPTION))
    async def describe() -> dict[str, Any]:
        """The stages, their order, policy, location and model."""
        return {
            "pipeline": pipeline_info,
            "order": pipeline.executor.order,
            "deadline_ms": settings.request_deadline_ms(),
            "stages": {
                name: {**b.spec.model_dump(), "location": b.stage.location, "model": model_of[name]}
                for name, b in pipeline.stages.items()
            },
        }

    @app.post(
        PREDICT,
        responses=openapi.responses(schemas.PREDICTION, 400, 413, 415, 422, 503, 504),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": schemas.json(schemas.predict_request(settings)),
            }
        },
    )
    async def predict(request: Request) -> Response:
        """Run every stage for each text; ``X-Deadline-Ms`` (milliseconds) tightens the deadline."""
        started = time.monotonic()
        rid = request_id_var.get()
        budget_ms = _deadline_ms(request, settings.request_deadline_ms())
        payload = await _json_body(request)
        if isinstance(payload, dict) and isinstance(payload.get("instances"), list):
            count = len(payload["instances"])
            if count > settings.max_instances:
                where = ("instances",)
                message = f"{count} instances, at most {settings.max_instances}"
                return problems_reply([Problem(where, message)], ()).to_response()
        try:
            body = PredictRequest.model_validate(payload)
        except ValidationError as error:
            return problems_reply(_problems(error), ()).to_response()
        too_long = [
            Problem(("instances", i, "text"), f"longer than {settings.max_text_chars} characters")
            for i, x in enumerate(body.instances)
            if len(x.text) > settings.max_text_chars
        ]
        if too_long:
            return problems_reply(too_long, ()).to_response()
        texts = [x.text for x in body.instances]
        try:
            with tracing.span("POST /v1/predict", carrier=dict(request.headers), request_id=rid):
                outcome = await pipeline.executor.run(texts, started + budget_ms / 1000, rid)
        except PipelineFailed as error:
            if error.status == 504:
                metrics.deadline_exceeded.inc()
                metrics.http.rejected.labels("timeout").inc()
            headers = retry if error.status == 503 else ()
            return error_reply(
                str(error), error.status, headers, stage=error.stage, reason=error.reason
            ).to_response()
        predictions = [
            {
                name: (r.output[i] if r.output is not None else None)
                for name, r in outcome.reports.items()
            }
            for i in range(len(texts))
        ]
        return JSONResponse(
            {
                "predictions": predictions,
                "stages": {
                    name: r.public(pipeline.stages[name].stage.location, model_of[name])
                    for name, r in outcome.reports.items()
                },
                "pipeline": pipeline_info,
                "deadline_ms": round(budget_ms, 3),
                "latency_ms": round((time.monotonic() - started) * 1000, 3),
            }
        )

    openapi.publish(app)
    return app


def create_stage_app(
    settings: PipelineSettings,
    stage: str,
    predictor: Predictor,
    metrics: Metrics,
    tracing: Tracing | None = None,
    on_close: Callable[[], Any] | None = None,
) -> FastAPI:
    """One stage's model behind the v1 protocol, honouring the caller's ``X-Deadline-Ms``."""
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(settings.stage_threads, thread_name_prefix="model")
    max_rows = settings.max_instances * 64  # a stage takes token rows, many per text

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        adopt_running_server()
        freeze_heap()
        metrics.stage_ready.labels(stage).set(1)
        yield
        pool.shutdown(wait=False)
        if on_close is not None:
            on_close()

    guarded = {PREDICT: (), V2_INFER: (b"application/octet-stream",)}
    app = _base_app(settings, metrics, lifespan, guarded)
    info = predictor.info
    model = {"name": info.name, "version": info.version, "sha256": info.sha256}
    metrics.model_info.labels(
        stage, info.name, info.version, info.framework, info.sha256, "local"
    ).set(1)
    retry = retry_after(settings.retry_after_s)

    @app.get("/ready", responses=openapi.responses(schemas.STAGE_READY, 503))
    async def ready() -> Response:
        """Readiness of this stage's model; 503 while draining."""
        if DRAIN.active:
            return error_reply("draining", 503, retry).to_response()
        return JSONResponse({"ready": True, "stage": stage, "model": model})

    @app.get("/v2/health/ready", responses=openapi.responses(schemas.V2_READY, 503))
    async def v2_ready() -> Response:
        """Readiness in the Open Inference Protocol's form."""
        if DRAIN.active:
            return error_reply("draining", 503, retry).to_response()
        return JSONResponse({"ready": True})

    @app.post(
        "/v2/models/{name}/infer",
        responses=openapi.responses(schemas.V2_ANSWER, 400, 404, 413, 415, 503, 504),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": schemas.json(schemas.stage_v2_request(predictor, max_rows)),
            }
        },
    )
    async def infer_v2(name: str, request: Request) -> Response:
        """The Open Inference Protocol, for callers that speak v2."""
        if name != info.name:
            return error_reply(f"model {name!r} not found", 404).to_response()
        budget_s = _deadline_ms(request, settings.request_deadline_ms()) / 1000
        schema = predictor.schema
        try:
            parsed, binary = parse_request(
                await request.body(), request.headers.get("inference-header-content-length")
            )
            tensor = input_tensor(parsed, binary, schema.name, schema.n_features, max_rows)
            rows = schema.from_array(tensor, loc="inputs[0]")
        except V2Error as error:
            return error_reply(str(error), error.status).to_response()
        except InputSchemaError as error:
            return error_reply(str(error), 400).to_response()
        scores = await _run_model(request, rows, budget_s)
        if scores is None:
            return error_reply("deadline exceeded", 504).to_response()
        output = {
            "name": "probabilities",
            "datatype": "FP32",
            "shape": list(scores.shape),
            "data": scores.reshape(-1),
        }
        payload = {"model_name": info.name, "model_version": info.version, "outputs": [output]}
        return Response(
            orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY), media_type="application/json"
        )

    async def _run_model(request: Request, rows: Any, budget_s: float) -> Any:
        """Scores, or None when the caller's deadline ran out first."""
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        try:
            with (tracing or Tracing()).span(
                f"stage {stage} model", carrier=dict(request.headers), rows=len(rows)
            ):
                scores = await asyncio.wait_for(
                    loop.run_in_executor(pool, predictor.run, rows), timeout=budget_s
                )
        except TimeoutError:
            metrics.http.rejected.labels("timeout").inc()
            return None
        metrics.predictions.labels(stage, info.version).inc(len(rows))
        metrics.stage_duration.labels(stage, "local").observe(time.monotonic() - started)
        return scores

    @app.post(
        PREDICT,
        responses=openapi.responses(schemas.STAGE_ANSWER, 400, 413, 415, 422, 503, 504),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": schemas.json(schemas.stage_v1_request(predictor, max_rows)),
            }
        },
    )
    async def predict(request: Request) -> Response:
        """Scores for rows of this stage's features (the v1 protocol of an online service)."""
        started = time.monotonic()
        budget_s = _deadline_ms(request, settings.request_deadline_ms()) / 1000
        body = await _json_body(request)
        instances = body.get("instances") if isinstance(body, dict) else None
        if isinstance(instances, list) and len(instances) > max_rows:
            where = ("instances",)
            message = f"{len(instances)} rows, at most {max_rows}"
            return problems_reply([Problem(where, message)], ()).to_response()
        try:
            rows = predictor.to_array(instances)
        except InputSchemaError as error:
            return problems_reply(error.problems, ()).to_response()
        scores = await _run_model(request, rows, budget_s)
        if scores is None:
            return error_reply("deadline exceeded", 504).to_response()
        payload = {
            "predictions": predictor.postprocess(scores),
            "model": model,
            "latency_ms": round((time.monotonic() - started) * 1000, 3),
        }
        return Response(orjson.dumps(payload), media_type="application/json")

    openapi.publish(app, lambda: {"name": [info.name]})
    return app
