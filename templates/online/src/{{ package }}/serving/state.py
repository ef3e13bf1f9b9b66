"""What the app knows at run time: settings, metrics, admission, the engine once loaded."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from ..inference.errors import InferenceError
from ..inference.predictor import Predictor, load_predictor
from ..web.admission import Admission
from .engine import InferenceEngine
from .metrics import Metrics
from .settings import ServingSettings

log = logging.getLogger(__name__)


class ServiceState:
    def __init__(self, settings: ServingSettings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.admission = Admission.from_settings(settings)
        self.engine: InferenceEngine | None = None
        self.failure: str | None = None
        self.on_close: list[Callable[[], Any]] = []  # run at shutdown, after draining

    @property
    def ready(self) -> bool:
        return self.engine is not None

    def attach(self, predictor: Predictor) -> None:
        """Serve an already loaded, verified and warmed predictor."""
        self.engine = InferenceEngine(
            predictor, self.settings, self.metrics, expected=lambda: self.admission.reading
        )
        self.metrics.model_loaded(predictor.info)

    async def load(self) -> None:
        """Load, verify and warm up in a thread, keeping the event loop free."""
        try:
            predictor = await asyncio.to_thread(load_predictor, self.settings)
        except InferenceError as error:
            self.failure = str(error)
            log.error("model not loaded: %s", error)
            return
        except Exception as error:  # any other failure must still show up in /health
            self.failure = f"{type(error).__name__}: {error}"
            log.exception("model not loaded")
            return
        self.attach(predictor)

    def close(self) -> None:
        self.metrics.ready.set(0)
        if self.engine is not None:
            self.engine.close()
        for callback in self.on_close:
            callback()
