"""A profile of the generated service's request path: where one prediction's time goes.

The online project (ONNX, the demo logistic regression, one row per request) is measured
three ways, each pinned to core 0 with its load generator on core 1:

- over HTTP with ``wrk`` at 32 connections: the bare ASGI ceiling on the same server stack
  (``benchmarks/bare_asgi.py``) and the generated service, as microseconds of the server's
  core per request (1 / throughput: the core is saturated at this concurrency);
- in-process (``benchmarks/request_path_probe.py``, with the project's interpreter): each
  stage of the request path timed alone on the service's own objects, then the whole ASGI
  app without sockets.
- sampled while it serves (``benchmarks/request_path_profile.py``): ``py-spy`` reads the
  service's stacks during a second ``wrk`` run at 32 connections, and each sample is put in
  one part of the request path (HTTP protocol, event loop, guard, JSON, schema, model, ...).

The difference between the service's per-request time over HTTP and the ceiling's is what
the service adds to the server stack; the stages say which part of it is what. What the
in-process app does not account for is thread and event-loop wake-ups under real sockets.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from benchmarks import harness
from benchmarks.online_service import ROOT, Arm, _server, _wrk
from benchmarks.request_path_profile import profile

PROBE = Path(__file__).with_name("request_path_probe.py")
CONNECTIONS = 32
PROFILE_S = 4
STAGES = {
    "json_parse": "JSON parse of the body",
    "schema_check": "schema check into a float32 array",
    "model_call": "model call alone (onnxruntime, one row)",
    "engine_call": "engine call: model, metrics, drift",
    "thread_handoff": "hand-off to the inference thread and back (no work)",
    "engine_infer": "engine.infer back to back: micro-batcher, hand-off, engine call",
    "engine_infer_lone": "engine.infer of a lone request: inline engine call",
    "reply": "reply: labels and scores to JSON",
    "bare_asgi_app": "a bare ASGI app, in-process",
    "app_one_at_a_time": "whole app in-process, one request at a time",
    "app_32_at_a_time": "whole app in-process, 32 requests at a time",
}


def main() -> dict[str, Any]:
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            raise SystemExit(f"the request_path benchmark needs {tool}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APP_", "VIRTUAL_ENV"))}
    env.update(APP_WORKERS="1", APP_LOG_LEVEL="WARNING", APP_ADMISSION="concurrency")
    with tempfile.TemporaryDirectory(prefix="mlship-path-") as tmp:
        work = Path(tmp)
        project = harness.new_project("online", work / "path-svc", name="path-svc")
        for stale in (project.path / "models").glob("model*"):
            stale.unlink()
        project.run(
            str(project.python), "-m", f"{project.package}.demo_model", "--format", "onnx",
            "--kind", "linear",
        )  # fmt: skip
        row = project.run(
            str(project.python),
            "-c",
            f"from {project.package}.demo_model import load_data; import json; "
            "print(json.dumps(load_data()[1][0].tolist()))",
        )
        body = json.dumps({"instances": [json.loads(row)]})
        body_file = work / "body.json"
        body_file.write_text(body)
        http: dict[str, dict[str, float]] = {}
        arms = [
            Arm("ceiling", ["-m", "uvicorn", "--loop", "uvloop", "--http", "httptools",
                            "benchmarks.bare_asgi:app"], ROOT, uvicorn=True),
            Arm("generated", ["-m", f"{project.package}.serving"], project.path),
        ]  # fmt: skip
        live: dict[str, Any] = {}
        for arm in arms:
            pids: list[int] = []
            with _server(arm, project.python, env, pids) as (base, _):
                url = f"{base}/v1/predict"
                _wrk(url, body, 8, work)  # warm-up
                http[arm.name] = _wrk(url, body, CONNECTIONS, work)
                if arm.name == "generated":  # sampled in a run of its own: py-spy takes CPU
                    live = profile(
                        pids[0],
                        lambda url=url: _wrk(url, body, CONNECTIONS, work, PROFILE_S + 1),
                        PROFILE_S,
                    )
            print(f"{arm.name:10s} c={CONNECTIONS} {http[arm.name]['rps']} rps", flush=True)
        out = work / "probe.json"
        subprocess.run(
            ["taskset", "-c", "0", str(project.python), str(PROBE), "--package",
             project.package, "--body-file", str(body_file), "--out", str(out)],
            cwd=project.path,
            env=project.env(APP_LOG_LEVEL="WARNING", APP_ADMISSION="concurrency"),
            check=True,
            timeout=600,
        )  # fmt: skip
        stages: dict[str, float] = json.loads(out.read_text())
    ceiling_us = 1e6 / http["ceiling"]["rps"]
    service_us = 1e6 / http["generated"]["rps"]
    return {
        "benchmark": "request_path",
        "connections": CONNECTIONS,
        "http": http,
        "ceiling_us_per_request": round(ceiling_us, 1),
        "service_us_per_request": round(service_us, 1),
        "added_us_per_request": round(service_us - ceiling_us, 1),
        "fraction_of_ceiling": round(ceiling_us / service_us, 2),
        "stages_us": stages,
        "unaccounted_us": round(service_us - ceiling_us - stages["app_32_at_a_time"], 1),
        "live_profile": live,
    }


def table(result: dict[str, Any]) -> str:
    service = result["service_us_per_request"]
    lines = [
        f"Over HTTP at {result['connections']} connections: the bare ASGI ceiling takes "
        f"{result['ceiling_us_per_request']} us of the server's core per request, the "
        f"generated service {service} us ({result['fraction_of_ceiling']:.2f}x the ceiling's "
        f"throughput); the service adds {result['added_us_per_request']} us.",
        "",
        "| stage (in-process, one core) | us per request | share of the service's time |",
        "| --- | ---: | ---: |",
    ]
    for key, label in STAGES.items():
        value = result["stages_us"][key]
        lines.append(f"| {label} | {value} | {value / service:.0%} |")
    lines += [
        f"| not seen in-process: socket and thread wake-ups | {result['unaccounted_us']} | "
        f"{result['unaccounted_us'] / service:.0%} |",
        "",
        "Stages overlap: the engine call contains the model call, engine.infer contains the "
        "hand-off and the engine call, the whole app contains every stage.",
    ]
    live = result.get("live_profile") or {}
    if live.get("shares"):
        lines += [
            "",
            f"Sampled while it serves at {result['connections']} connections (py-spy, "
            f"{live['samples']} samples; each sample in the bucket of its innermost known "
            "frame), the service's core goes to:",
            "",
            "| part of the request path | share of samples | us per request |",
            "| --- | ---: | ---: |",
        ]
        for name, share in live["shares"].items():
            lines.append(f"| {name} | {share:.1%} | {share * service:.1f} |")
    elif live.get("error"):
        lines += ["", f"No live profile: {live['error']}."]
    stages = result["stages_us"]
    if "shed_by_the_protocol" in stages:
        lines += [
            "",
            "A request to shed (503), fed to the HTTP protocol in-process: through uvicorn's "
            f"stock protocol and the app as an ASGI task {stages['shed_through_the_app']} us, "
            f"refused by the service's protocol from its headers "
            f"{stages['shed_by_the_protocol']} us "
            f"({stages['shed_through_the_app'] / stages['shed_by_the_protocol']:.1f} times less).",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(table(main()))
