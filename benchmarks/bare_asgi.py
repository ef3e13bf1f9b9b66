"""The ceiling of the online benchmark: a bare ASGI app on the generated service's server
stack (uvicorn with uvloop and httptools, one worker) that answers every POST with a fixed
JSON prediction, without reading a model. No service on this stack answers faster; each
generated configuration is reported as a fraction of it.

Run: ``uvicorn benchmarks.bare_asgi:app --workers 1``. It exists only to be measured.
"""

from __future__ import annotations

from typing import Any

ANSWER = (
    b'{"predictions":[{"label":0,"scores":[0.98,0.02]}],'
    b'"model":{"name":"breast-cancer-classifier","version":"1.0.0"},"latency_ms":0.01}'
)
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(ANSWER)).encode())]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:  # read the body as a service must, then answer
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": ANSWER})
