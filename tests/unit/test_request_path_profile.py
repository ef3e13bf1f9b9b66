"""The live profile of the request_path benchmark puts each sample in the right bucket."""

from __future__ import annotations

from benchmarks.request_path_profile import bucket_of, shares

RUNNER = "_run_module_as_main (<frozen runpy>:198);Runner.run (asyncio/runners.py:118)"
GUARD = "Guard.__call__ (svc/web/guard.py:165);Guard._guarded (svc/web/guard.py:244)"


def test_the_innermost_known_frame_names_the_bucket() -> None:
    model = f"{GUARD};PredictHandler.__call__ (svc/serving/predict.py:50);" + (
        "InferenceEngine._run (svc/serving/engine.py:128);Session.run "
        "(onnxruntime/capi/onnxruntime_inference_collection.py:406)"
    )
    assert bucket_of(model) == "model (onnxruntime)"
    decode = f"{GUARD};loads (json/__init__.py:346);JSONDecoder.raw_decode (json/decoder.py:353)"
    assert bucket_of(decode) == "JSON decode"
    assert bucket_of(GUARD) == "guard: admission, limits, request ids, drain"
    assert bucket_of(RUNNER) == "event loop and socket reads (uvloop, native)"
    assert bucket_of("") == "event loop and socket reads (uvloop, native)"
    assert bucket_of("main (tool.py:3)") == "other"


def test_shares_add_up_to_the_samples() -> None:
    raw = f"{RUNNER} 30\n{GUARD} 10\n{GUARD};write (uvicorn/protocols/http/h.py:524) 60\n"
    found = shares(raw)
    assert found["samples"] == 100
    assert found["shares"] == {
        "HTTP protocol and socket writes (uvicorn, httptools)": 0.6,
        "event loop and socket reads (uvloop, native)": 0.3,
        "guard: admission, limits, request ids, drain": 0.1,
    }
    assert shares("") == {"samples": 0, "shares": {}}
