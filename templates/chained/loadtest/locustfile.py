"""Load test of the pipeline, judged against the budget in ``mlship.yaml``.

Utterances come from the project's own corpus generator (held-out slot values), so they look
like real traffic. A request fails on a non-200 answer or a prediction count that does not
match; answers where a stage used its fallback count as degraded and are reported. The load
is open-model and the verdict uses exact percentiles (see ``openload.py``)::

    make loadtest RATE=50 DURATION=30

Environment, besides openload's: LOADTEST_MAX_ROWS bounds the instances per request
(default 4).
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import random
from collections import Counter
from typing import Any

from locust import events
from openload import ROOT, Call, OpenModelUser

PACKAGE = next(p.parent.name for p in sorted((ROOT / "src").glob("*/__init__.py")))
MAX_ROWS = max(1, int(os.environ.get("LOADTEST_MAX_ROWS", "4")))

log = logging.getLogger("loadtest")
seed = int(os.environ.get("LOADTEST_SEED", random.randrange(1 << 30)))
rng = random.Random(seed)
corpus = importlib.import_module(f"{PACKAGE}.pipeline.corpus")
TEXTS = [example.text for example in corpus.generate(2000, seed, held_out=True)]
degraded: Counter[str] = Counter()


def answers(count: int) -> Any:
    """A check: HTTP 200 with one prediction per instance; fallbacks counted as degraded."""

    def check(status: int, content: bytes) -> str | None:
        if status != 200:
            return f"HTTP {status}: {content[:200]!r}"
        try:
            body = json.loads(content)
            got = len(body["predictions"])
            stages = body["stages"]
        except (ValueError, KeyError, TypeError):
            return f"unexpected body: {content[:200]!r}"
        if got != count:
            return f"sent {count} instances, got {got} predictions"
        for name, stage in stages.items():
            if stage.get("status") != "ok":
                degraded[f"{name}:{stage.get('status')}"] += 1
        return None

    return check


class PipelineUser(OpenModelUser):
    def next_call(self) -> Call:
        count = 1 if rng.random() < 0.7 else rng.randint(1, MAX_ROWS)
        body = json.dumps({"instances": [{"text": rng.choice(TEXTS)} for _ in range(count)]})
        return Call("/v1/predict", body.encode(), answers(count))


def report_degraded(**_: Any) -> None:
    log.info("degraded stages: %s", dict(degraded) or "none")


events.quitting.add_listener(report_degraded)  # type: ignore[no-untyped-call]
