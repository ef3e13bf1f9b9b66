"""A scikit-learn model brought in with ``mlship new --model``, served as the user gets it.

A logistic regression and a 100-tree random forest (the demo recipe, on the bundled
breast-cancer data) are saved with joblib and brought in with ``--model FILE
--trust-pickle``. mlship converts them to ONNX and the project serves them with
onnxruntime ("imported"); a ``--model-format sklearn`` project whose manifest points at
the source file, as a failed conversion leaves it, serves it with scikit-learn ("imported,
sklearn runtime"); the naive baseline
(``benchmarks/naive_service.py``, an async FastAPI endpoint calling ``predict_proba``)
loads the same joblib file. Each server: one uvicorn worker pinned to core 0; wrk pinned
to core 1, one row per request, at concurrency 1, 8, 32 and 64. Cold start: from the
process start to the first 200 from ``/ready`` (median of 3).

Targets (issue 20): the imported forest at least 1x the baseline's throughput at c=1 and
at least 10x at c=32, with a lower p99 at c=32.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from benchmarks.harness import ROOT, Installed, new_project
from benchmarks.online_service import CONCURRENCY, DURATION_S, _free_port, _wrk

TARGETS = {"c1": 1.0, "c32": 10.0}
COLD_REPEATS = 3


def _train(venv: Installed, kind: str, path: Path) -> None:
    """The demo recipe's model, trained in the project's own venv, saved with joblib."""
    venv.run(
        str(venv.python),
        "-c",
        f"import joblib; from {venv.package}.demo_model import DEMOS, DEFAULT_DEMO, "
        "load_data, train_sklearn; demo = DEMOS[DEFAULT_DEMO]; x, _, y, _, _ = load_data(demo); "
        f"joblib.dump(train_sklearn({kind!r}, x, y, demo), {str(path)!r})",
    )


def _row(venv: Installed) -> str:
    out = venv.run(
        str(venv.python),
        "-c",
        f"from {venv.package}.demo_model import load_data; import json; "
        "print(json.dumps(load_data()[1][0].tolist()))",
    )
    return json.dumps({"instances": [json.loads(out)]})


@contextlib.contextmanager
def _started(command: list[str], env: dict[str, str], cwd: Path, port: int) -> Iterator[float]:
    """A server pinned to core 0 in its own process group, ready; yields the seconds from
    its start to the first 200 from /ready, and always stops it."""
    started = time.perf_counter()
    process = subprocess.Popen(
        ["taskset", "-c", "0", *command],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = started + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command} exited with {process.returncode}")
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{command} not ready in 120 s")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1) as answer,
            ):
                if answer.status == 200:
                    break
            time.sleep(0.02)
        yield time.perf_counter() - started
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _cold_start(command: list[str], env: dict[str, str], cwd: Path, port: int) -> float:
    with _started(command, env, cwd, port) as seconds:
        return seconds


def _serve_the_source(path: Path) -> None:
    """Point the manifest at the scikit-learn source file, as a failed conversion leaves it
    (a ``--model-format sklearn`` project has scikit-learn installed to serve it)."""
    document = json.loads(path.read_text())
    source = document.pop("source_model")
    document.update(framework="sklearn", file=source["file"], sha256=source["sha256"])
    path.write_text(json.dumps(document, indent=2))


def _servers(
    kind: str, work: Path, sklearn_venv: Installed
) -> dict[str, tuple[Installed, list[str], dict[str, str], Path]]:
    """The three servers of one model: (installed project, command, env, cwd)."""
    model = work / f"{kind}.joblib"
    _train(sklearn_venv, kind, model)
    imported = new_project(
        "online",
        work / f"imported-{kind}",
        name="bench-import",
        options=["--model", str(model), "--trust-pickle"],
    )
    manifest = json.loads((imported.path / "models" / "manifest.json").read_text())
    if manifest["framework"] != "onnx":
        raise RuntimeError(f"{kind}: not converted: {manifest.get('conversion')}")
    runtime = new_project(
        "online",
        work / f"sklearn-{kind}",
        name="bench-import",
        options=["--model", str(model), "--trust-pickle", "--model-format", "sklearn"],
    )
    _serve_the_source(runtime.path / "models" / "manifest.json")
    serve = ["-m", "bench_import.serving"]
    naive = [
        "-m", "uvicorn", "benchmarks.naive_service:app", "--workers", "1",
        "--log-level", "warning",
    ]  # fmt: skip
    return {
        "naive": (sklearn_venv, naive, {"NAIVE_MODEL": str(model)}, ROOT),
        "imported": (imported, serve, {}, imported.path),
        "imported, sklearn runtime": (runtime, serve, {}, runtime.path),
    }


def main() -> dict[str, object]:
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            raise SystemExit(f"this benchmark needs {tool} (apt-get install -y wrk util-linux)")
    rows: list[dict[str, object]] = []
    cold: dict[str, dict[str, float]] = {}
    verdicts: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="mlship-bench-import-") as tmp:
        work = Path(tmp)
        base = new_project(
            "online", work / "demo", name="bench-import", options=["--model-format", "sklearn"]
        )
        body = _row(base)
        for kind in ("linear", "forest"):
            for name, (installed, args, extra, cwd) in _servers(kind, work, base).items():
                port = _free_port()
                env = installed.env(
                    **extra,
                    APP_PORT=str(port),
                    APP_WORKERS="1",
                    APP_LOG_LEVEL="WARNING",
                    APP_LATENCY_BUDGET_MS="100",
                )
                command = [str(installed.python), *args]
                if name == "naive":
                    command += ["--port", str(port)]
                starts = [_cold_start(command, env, cwd, port) for _ in range(COLD_REPEATS)]
                cold.setdefault(kind, {})[name] = round(statistics.median(starts), 3)
                url = f"http://127.0.0.1:{port}"
                with _started(command, env, cwd, port):
                    _wrk(f"{url}/v1/predict", body, 8, work)  # warm-up
                    for connections in CONCURRENCY:
                        row = {
                            "model": kind,
                            "server": name,
                            "concurrency": connections,
                            **_wrk(f"{url}/v1/predict", body, connections, work),
                        }
                        rows.append(row)
                        print(
                            f"{kind:7s} {name:26s} c={connections:<3d} {row['rps']:>9} rps  "
                            f"p99 {row['p99_ms']:>8} ms",
                            flush=True,
                        )
            verdicts[kind] = _verdict(kind, rows, cold[kind])
    return {
        "benchmark": "model_import",
        "duration_s": DURATION_S,
        "rows": rows,
        "cold_start_s": cold,
        "verdicts": verdicts,
        "ok": bool(verdicts["forest"]["met"]),
    }


def _verdict(kind: str, rows: list[dict[str, object]], cold: dict[str, float]) -> dict[str, object]:
    def at(server: str, connections: int) -> dict[str, object]:
        return next(
            r
            for r in rows
            if r["model"] == kind and r["server"] == server and r["concurrency"] == connections
        )

    def ratio(connections: int) -> float:
        imported, naive = at("imported", connections), at("naive", connections)
        return round(float(imported["rps"]) / max(float(naive["rps"]), 1e-9), 2)  # type: ignore[arg-type]

    lower_p99 = float(at("imported", 32)["p99_ms"]) < float(at("naive", 32)["p99_ms"])  # type: ignore[arg-type]
    c1, c32 = ratio(1), ratio(32)
    return {
        "imported_vs_naive_c1": c1,
        "imported_vs_naive_c32": c32,
        "lower_p99_at_c32": lower_p99,
        "cold_start_sklearn_vs_onnx": round(
            cold["imported, sklearn runtime"] / max(cold["imported"], 1e-9), 2
        ),
        "targets": TARGETS,
        "met": c1 >= TARGETS["c1"] and c32 >= TARGETS["c32"] and lower_p99,
    }


def table(result: dict[str, object]) -> str:
    """The Markdown table the docs quote."""
    rows = result["rows"]
    assert isinstance(rows, list)
    lines = [
        "| model | server | c | req/s | p50 ms | p99 ms |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        lines.append(
            f"| {row['model']} | {row['server']} | {row['concurrency']} | {row['rps']} | "
            f"{row['p50_ms']} | {row['p99_ms']} |"
        )
    cold = result["cold_start_s"]
    verdicts = result["verdicts"]
    assert isinstance(cold, dict) and isinstance(verdicts, dict)
    lines += [
        "",
        "| model | cold start naive / imported / sklearn runtime (s) | imported vs naive c=1 "
        "| c=32 | lower p99 at c=32 |",
        "| --- | --- | ---: | ---: | --- |",
    ]
    for kind, verdict in verdicts.items():
        starts = cold[kind]
        lines.append(
            f"| {kind} | {starts['naive']} / {starts['imported']} / "
            f"{starts['imported, sklearn runtime']} | {verdict['imported_vs_naive_c1']}x | "
            f"{verdict['imported_vs_naive_c32']}x | {verdict['lower_p99_at_c32']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
