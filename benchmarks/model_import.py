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
process start to the first 200 from ``/ready`` (median of 3). The three servers of a model
are up at once and loaded in turn, ``ROUNDS`` rounds per concurrency (medians), so the
machine's drift lands on each alike. Then the time to import each runtime's libraries in a
fresh interpreter on the same core: the share of a cold start that no service code removes.

Targets (issue 20): the imported forest at least 1x the baseline's throughput at c=1 and
at least 10x at c=32, with a lower p99 at c=32.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import ROOT, Installed, new_project
from benchmarks.online_service import (
    DURATION_S,
    ROUNDS,
    Arm,
    _interleaved,
    _server,
    serve_the_source,
)

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


def _servers(kind: str, work: Path, sklearn_venv: Installed) -> list[tuple[Arm, Installed]]:
    """The three servers of one model, each with the venv that runs it."""
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
    serve_the_source(runtime.path / "models" / "manifest.json")
    serve = ["-m", "bench_import.serving"]
    naive = [
        "-m",
        "uvicorn",
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "benchmarks.naive_service:app",
    ]
    return [
        (Arm("naive", naive, ROOT, {"NAIVE_MODEL": str(model)}, uvicorn=True), sklearn_venv),
        (Arm("imported", serve, imported.path), imported),
        (Arm("imported, sklearn runtime", serve, runtime.path), runtime),
    ]


def main() -> dict[str, object]:
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            raise SystemExit(f"this benchmark needs {tool} (apt-get install -y wrk util-linux)")
    rows: list[dict[str, Any]] = []
    cold: dict[str, dict[str, float]] = {}
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("APP_", "VIRTUAL_ENV"))}
    base_env.update(
        APP_WORKERS="1",
        APP_LOG_LEVEL="WARNING",
        APP_LATENCY_BUDGET_MS="100",
        APP_ADMISSION="concurrency",  # capacity in a closed loop; shedding is overload's
    )
    verdicts: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="mlship-bench-import-") as tmp:
        work = Path(tmp)
        base = new_project(
            "online", work / "demo", name="bench-import", options=["--model-format", "sklearn"]
        )
        body = _row(base)
        for kind in ("linear", "forest"):
            arms = _servers(kind, work, base)
            for arm, installed in arms:
                starts = []
                for _ in range(COLD_REPEATS):
                    with _server(arm, installed.python, base_env) as (_, seconds):
                        starts.append(seconds)
                cold.setdefault(kind, {})[arm.name] = round(statistics.median(starts), 3)
            rows += _interleaved(kind, arms, base_env, body, work)
            verdicts[kind] = _verdict(kind, rows, cold[kind])
        imports = _import_times(base)
    return {
        "benchmark": "model_import",
        "duration_s": DURATION_S,
        "rounds": ROUNDS,
        "rows": rows,
        "cold_start_s": cold,
        "import_s": imports,
        "verdicts": verdicts,
        "ok": bool(verdicts["forest"]["met"]),
    }


# what the scikit-learn runtime must import before it can load a model, against what the
# ONNX runtime imports; each in a fresh interpreter pinned to the servers' core
IMPORTS = {
    "onnxruntime": "import onnxruntime",
    "scikit-learn": "import sklearn.base",
    "scikit-learn and skops.io": "import sklearn.base, skops.io",
}


def _import_times(project: Installed) -> dict[str, float]:
    """Seconds to import each runtime's libraries (median of ``COLD_REPEATS``), beyond a bare
    interpreter's start: the part of a cold start no service code can remove."""
    times: dict[str, float] = {}
    for name, statement in {"bare interpreter": "pass", **IMPORTS}.items():
        runs = []
        for _ in range(COLD_REPEATS):
            started = time.perf_counter()
            subprocess.run(
                ["taskset", "-c", "0", str(project.python), "-c", statement],
                check=True,
                env=project.env(),
                timeout=120,
            )
            runs.append(time.perf_counter() - started)
        times[name] = statistics.median(runs)
    bare = times.pop("bare interpreter")
    return {name: round(seconds - bare, 3) for name, seconds in times.items()}


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
    imports = result.get("import_s")
    if isinstance(imports, dict) and imports:
        lines += [
            "",
            "Importing the runtime's libraries alone, beyond a bare interpreter's start (s): "
            + ", ".join(f"{name} {seconds}" for name, seconds in imports.items())
            + ".",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
