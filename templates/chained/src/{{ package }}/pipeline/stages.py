"""The two ways to call a stage's model: in this process, or over HTTP (v1 protocol).

Both take the stage's 2-D float32 rows and return class scores, so the executor and the
adapters do not care where a model runs.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson

from ..inference.predictor import Predictor, load_predictor
from ..settings import AppSettings
from .adapters import CompatibilityError
from .manifest import StageRecord
from .tracing import Tracing

log = logging.getLogger(__name__)


class StageCallError(Exception):
    """A failed attempt; ``reason`` labels metrics, ``retryable`` tells the executor."""

    reason = "error"
    retryable = False


class StageTimeout(StageCallError):
    reason = "timeout"
    retryable = True


class StageUnavailable(StageCallError):
    reason = "unavailable"
    retryable = True


class LocalStage:
    """A model of the shared inference core, loaded here; calls run on a thread pool."""

    location = "local"

    def __init__(
        self, record: StageRecord, settings: AppSettings, pool: ThreadPoolExecutor
    ) -> None:
        models_dir = Path(settings.models_dir) / record.dir
        self.predictor: Predictor = load_predictor(
            settings.model_copy(update={"models_dir": models_dir})
        )
        info = self.predictor.info
        if (info.name, info.version, info.sha256) != (record.name, record.version, record.sha256):
            raise CompatibilityError(
                f"{models_dir}: serves {info.name} {info.version} (sha256 {info.sha256[:12]}), "
                f"the pipeline manifest records {record.name} {record.version} "
                f"(sha256 {record.sha256[:12]}): rebuild with `make model`"
            )
        self.info = {
            "name": info.name,
            "version": info.version,
            "sha256": info.sha256,
            "framework": info.framework,
        }
        self._pool = pool

    async def call(self, rows: np.ndarray, timeout_s: float, request_id: str) -> np.ndarray:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self.predictor.run, rows)

    async def probe(self) -> bool:
        return True

    async def close(self) -> None:
        return None


class RemoteStage:
    """A stage served elsewhere, called with the remaining deadline in ``X-Deadline-Ms``.

    ``protocol`` v1: ``POST {endpoint}/v1/predict`` (mlship online services and stage
    services); v2: ``POST {endpoint}/v2/models/{name}/infer`` (the Open Inference Protocol of
    Triton, KServe and mlship online services).
    """

    location = "remote"

    def __init__(
        self,
        record: StageRecord,
        endpoint: str,
        max_connections: int = 64,
        tracing: Tracing | None = None,
        protocol: str = "v1",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.record = record
        self.protocol = protocol
        self.tracing = tracing or Tracing()
        self.endpoint = endpoint.rstrip("/")
        self.info = {
            "name": record.name,
            "version": record.version,
            "sha256": record.sha256,
            "framework": record.framework,
        }
        self._mismatch = ""
        self._client = httpx.AsyncClient(
            base_url=self.endpoint,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=32),
            trust_env=False,
            transport=transport,
        )

    async def call(self, rows: np.ndarray, timeout_s: float, request_id: str) -> np.ndarray:
        headers = {"X-Request-Id": request_id, "X-Deadline-Ms": f"{timeout_s * 1000:.1f}"}
        self.tracing.inject(headers)
        try:
            response = await self._client.post(
                self._path(),
                content=self._body(rows),
                headers={**headers, "Content-Type": "application/json"},
                timeout=httpx.Timeout(timeout_s),
            )
        except httpx.TimeoutException as error:
            raise StageTimeout(
                f"{self.endpoint}: no answer within {timeout_s * 1000:.0f} ms"
            ) from error
        except httpx.TransportError as error:
            raise StageUnavailable(f"{self.endpoint}: {type(error).__name__}: {error}") from error
        if response.status_code in (429, 502, 503) or response.status_code >= 500:
            if response.status_code == 504:
                raise StageTimeout(f"{self.endpoint}: 504 (its deadline ran out)")
            raise StageUnavailable(f"{self.endpoint}: HTTP {response.status_code}")
        if response.status_code != 200:
            raise StageCallError(
                f"{self.endpoint}: HTTP {response.status_code}: {response.text[:200]}"
            )
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError as error:
            raise StageCallError(f"{self.endpoint}: answer is not JSON ({error})") from error
        if self.protocol == "v2":
            return self._v2_scores(body, len(rows))
        return self._scores(body, len(rows))

    def _path(self) -> str:
        return f"/v2/models/{self.record.name}/infer" if self.protocol == "v2" else "/v1/predict"

    def _body(self, rows: np.ndarray) -> bytes:
        if self.protocol == "v2":
            tensor = {
                "name": "input",
                "shape": list(rows.shape),
                "datatype": "FP32",
                "data": rows.reshape(-1),
            }
            document: dict[str, Any] = {"inputs": [tensor]}
        else:
            document = {"instances": rows}
        return orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY)

    def _check_model(self, name: Any, version: Any) -> None:
        if (name, version) != (self.record.name, self.record.version):
            raise StageCallError(
                f"{self.endpoint} serves {name} {version}, the pipeline expects "
                f"{self.record.name} {self.record.version}"
            )

    def _v2_scores(self, body: Any, n_rows: int) -> np.ndarray:
        if not isinstance(body, dict):
            raise StageCallError(f"{self.endpoint}: not a v2 answer")
        self._check_model(body.get("model_name"), body.get("model_version"))
        width = len(self.record.classes)
        for output in body.get("outputs") or []:
            if output.get("shape") == [n_rows, width] and output.get("datatype") == "FP32":
                data = np.asarray(output.get("data", []), dtype=np.float32)
                if data.size == n_rows * width:
                    return data.reshape(n_rows, width)
        raise StageCallError(f"{self.endpoint}: no FP32 output of shape [{n_rows}, {width}]")

    def _check_sha256(self, reported: Any) -> None:
        """A remote that reports its model's sha256 must serve the file pipeline.json records."""
        if reported is not None and reported != self.record.sha256:
            raise StageCallError(
                f"{self.endpoint} serves {self.record.name} with sha256 {str(reported)[:12]}, "
                f"models/pipeline.json records {self.record.sha256[:12]}"
            )

    def _scores(self, body: Any, n_rows: int) -> np.ndarray:
        model = body.get("model", {}) if isinstance(body, dict) else {}
        if not isinstance(model, dict):
            raise StageCallError(f"{self.endpoint}: no model in the answer")
        expected = (self.record.name, self.record.version)
        if (model.get("name"), model.get("version")) != expected:
            raise StageCallError(
                f"{self.endpoint} serves {model.get('name')} {model.get('version')}, "
                f"the pipeline expects {expected[0]} {expected[1]}"
            )
        self._check_sha256(model.get("sha256"))
        predictions = body.get("predictions")
        if not isinstance(predictions, list) or len(predictions) != n_rows:
            raise StageCallError(f"{self.endpoint}: expected {n_rows} predictions")
        scores = np.asarray([p["scores"] for p in predictions], dtype=np.float32)
        if scores.shape != (n_rows, len(self.record.classes)):
            raise StageCallError(
                f"{self.endpoint}: scores of shape {scores.shape}, expected "
                f"({n_rows}, {len(self.record.classes)})"
            )
        return scores

    async def probe(self) -> bool:
        """Ready, and serving the model pipeline.json records (when it says which)."""
        try:
            response = await self._client.get("/ready", timeout=1.0)
        except httpx.HTTPError:
            return False
        if response.status_code != 200:
            return False
        try:
            self._check_sha256(_reported_sha256(response.content))
        except StageCallError as error:
            if str(error) != self._mismatch:
                log.error("stage %s is not ready: %s", self.record.name, error)
                self._mismatch = str(error)
            return False
        self._mismatch = ""
        return True

    async def close(self) -> None:
        await self._client.aclose()


def _reported_sha256(content: bytes) -> Any:
    """The sha256 in a readiness answer: a stage service's ``model.sha256``, an online
    service's ``sha256``; None when it names none."""
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(body, dict):
        return None
    model = body.get("model")
    if isinstance(model, dict) and "sha256" in model:
        return model["sha256"]
    return body.get("sha256")


Stage = LocalStage | RemoteStage
