"""The HTTP service: the whole pipeline, or one stage's model for a split deployment.

Pipeline mode: ``POST /v1/predict`` with ``{"instances": [{"text": "..."}]}`` returns every
stage's output, status, timing and model version. Stage mode (``APP_SERVE_STAGE``): the v1
protocol of an mlship online service over one model, which the pipeline calls remotely.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..inference.errors import InputSchemaError
from ..inference.predictor import Predictor
from ..logs import request_id as request_id_var
from .build import Pipeline
from .executor import PipelineFailed
from .guard import Guard
from .metrics import Metrics
from .settings import PipelineSettings
from .tracing import Tracing

log = logging.getLogger(__name__)


class Instance(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    text: str = Field(min_length=1)


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    instances: list[Instance] = Field(min_length=1)


def _problems(error: ValidationError) -> list[dict[str, Any]]:
    return [{"loc": list(e["loc"]), "msg": e["msg"]} for e in error.errors()]


async def _json_body(request: Request) -> Any:
    try:
        return orjson.loads(await request.body())
    except ValueError as error:
        raise _Reply(422, {"detail": [{"loc": ["body"], "msg": f"not JSON: {error}"}]}) from None


class _Reply(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status, self.body = status, body


def _deadline_ms(request: Request, configured: float) -> float:
    """The caller's deadline (``X-Deadline-Ms``) when tighter than ours."""
    header = request.headers.get("x-deadline-ms")
    try:
        given = float(header) if header else configured
    except ValueError:
        given = configured
    return max(0.0, min(configured, given))


def _base_app(settings: PipelineSettings, metrics: Metrics, lifespan: Any) -> FastAPI:
    app = FastAPI(title="pipeline", lifespan=lifespan, docs_url=None, redoc_url=None)

    @app.exception_handler(_Reply)
    async def reply(_: Request, error: _Reply) -> JSONResponse:
        return JSONResponse(error.body, status_code=error.status)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(
        Guard,
        metrics=metrics,
        max_concurrency=settings.max_concurrency,
        max_body_bytes=settings.max_body_bytes,
        retry_after_s=settings.retry_after_s,
    )
    return app


def create_pipeline_app(
    settings: PipelineSettings,
    pipeline: Pipeline,
    metrics: Metrics,
    tracing: Tracing | None = None,
    on_close: Callable[[], Any] | None = None,
) -> FastAPI:
    tracing = tracing or Tracing()
    probes: dict[str, bool] = {name: True for name in pipeline.stages}

    async def probe_once() -> None:
        for name, bound in pipeline.stages.items():
            probes[name] = await bound.stage.probe()
            metrics.stage_ready.labels(name).set(1 if probes[name] else 0)

    async def probe_forever() -> None:
        while True:
            await asyncio.sleep(settings.probe_interval_s)
            with contextlib.suppress(Exception):
                await probe_once()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await probe_once()
        task = asyncio.create_task(probe_forever())
        try:
            yield
        finally:
            task.cancel()
            await pipeline.close()
            if on_close is not None:
                on_close()

    app = _base_app(settings, metrics, lifespan)
    model_of = {name: b.stage.info for name, b in pipeline.stages.items()}
    pipeline_info = {
        "name": pipeline.spec.name,
        "version": pipeline.spec.version,
        "manifest_version": pipeline.manifest.version,
    }

    @app.get("/ready")
    async def ready() -> JSONResponse:
        stages: dict[str, Any] = {}
        can_answer = True
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
        degraded = not all(probes.values())
        body = {"ready": can_answer, "degraded": degraded, "stages": stages}
        return JSONResponse(body, status_code=200 if can_answer else 503)

    @app.get("/v1/pipeline")
    async def describe() -> dict[str, Any]:
        return {
            "pipeline": pipeline_info,
            "order": pipeline.executor.order,
            "deadline_ms": settings.request_deadline_ms(),
            "stages": {
                name: {**b.spec.model_dump(), "location": b.stage.location, "model": model_of[name]}
                for name, b in pipeline.stages.items()
            },
        }

    @app.post("/v1/predict")
    async def predict(request: Request) -> JSONResponse:
        started = time.monotonic()
        rid = request.headers.get("x-request-id") or uuid.uuid4().hex
        request_id_var.set(rid)
        budget_ms = _deadline_ms(request, settings.request_deadline_ms())
        try:
            body = PredictRequest.model_validate(await _json_body(request))
        except ValidationError as error:
            return JSONResponse({"detail": _problems(error)}, status_code=422)
        if len(body.instances) > settings.max_instances:
            metrics.rejected.labels("too_large").inc()
            return JSONResponse(
                {"detail": f"{len(body.instances)} instances, at most {settings.max_instances}"},
                status_code=413,
            )
        too_long = [
            i for i, x in enumerate(body.instances) if len(x.text) > settings.max_text_chars
        ]
        if too_long:
            return JSONResponse(
                {
                    "detail": [
                        {
                            "loc": ["instances", i, "text"],
                            "msg": f"longer than {settings.max_text_chars} characters",
                        }
                        for i in too_long
                    ]
                },
                status_code=422,
            )
        texts = [x.text for x in body.instances]
        try:
            with tracing.span("POST /v1/predict", carrier=dict(request.headers), request_id=rid):
                outcome = await pipeline.executor.run(texts, started + budget_ms / 1000, rid)
        except PipelineFailed as error:
            if error.status == 504:
                metrics.deadline_exceeded.inc()
                metrics.rejected.labels("timeout").inc()
            headers = {"Retry-After": str(settings.retry_after_s)} if error.status == 503 else {}
            return JSONResponse(
                {"detail": str(error), "stage": error.stage, "reason": error.reason},
                status_code=error.status,
                headers={**headers, "X-Request-Id": rid},
            )
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
            },
            headers={"X-Request-Id": rid},
        )

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

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        metrics.stage_ready.labels(stage).set(1)
        yield
        pool.shutdown(wait=False)
        if on_close is not None:
            on_close()

    app = _base_app(settings, metrics, lifespan)
    info = predictor.info
    metrics.model_info.labels(
        stage, info.name, info.version, info.framework, info.sha256, "local"
    ).set(1)

    @app.get("/ready")
    async def ready() -> dict[str, Any]:
        return {
            "ready": True,
            "stage": stage,
            "model": {"name": info.name, "version": info.version},
        }

    @app.get("/v2/health/ready")
    async def v2_ready() -> dict[str, bool]:
        return {"ready": True}

    @app.post("/v2/models/{name}/infer")
    async def infer_v2(name: str, request: Request) -> Response:
        """The Open Inference Protocol's JSON form, for callers that speak v2."""
        if name != info.name:
            return JSONResponse({"error": f"unknown model {name!r}"}, status_code=404)
        body = await _json_body(request)
        try:
            tensor = body["inputs"][0]
            array = np.asarray(tensor["data"], dtype=np.float32).reshape(tensor["shape"])
            rows = predictor.schema.from_array(array, loc="inputs[0]")
        except (KeyError, IndexError, TypeError, ValueError) as error:
            return JSONResponse({"error": f"inputs[0]: {error}"}, status_code=400)
        except InputSchemaError as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        scores = await _run_model(request, rows)
        if scores is None:
            return JSONResponse({"error": "deadline exceeded"}, status_code=504)
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

    async def _run_model(request: Request, rows: Any) -> Any:
        """Scores, or None when the caller's deadline ran out first."""
        started = time.monotonic()
        budget_s = _deadline_ms(request, settings.request_deadline_ms()) / 1000
        loop = asyncio.get_running_loop()
        try:
            with (tracing or Tracing()).span(
                f"stage {stage} model", carrier=dict(request.headers), rows=len(rows)
            ):
                scores = await asyncio.wait_for(
                    loop.run_in_executor(pool, predictor.run, rows), timeout=budget_s
                )
        except TimeoutError:
            metrics.rejected.labels("timeout").inc()
            return None
        metrics.predictions.labels(stage, info.version).inc(len(rows))
        metrics.stage_duration.labels(stage, "local").observe(time.monotonic() - started)
        return scores

    @app.post("/v1/predict")
    async def predict(request: Request) -> Response:
        started = time.monotonic()
        request_id_var.set(request.headers.get("x-request-id") or uuid.uuid4().hex)
        body = await _json_body(request)
        instances = body.get("instances") if isinstance(body, dict) else None
        try:
            rows = predictor.to_array(instances)
        except InputSchemaError as error:
            return JSONResponse({"detail": [p.as_dict() for p in error.problems]}, status_code=422)
        if len(rows) > settings.max_instances * 64:
            return JSONResponse({"detail": f"{len(rows)} rows is too many"}, status_code=413)
        scores = await _run_model(request, rows)
        if scores is None:
            return JSONResponse({"detail": "deadline exceeded"}, status_code=504)
        payload = {
            "predictions": predictor.postprocess(scores),
            "model": {"name": info.name, "version": info.version},
            "latency_ms": round((time.monotonic() - started) * 1000, 3),
        }
        return Response(orjson.dumps(payload), media_type="application/json")

    return app
