"""The generated online service against a naive baseline serving the same model.

Baseline (``benchmarks/naive_service.py``): an ``async`` FastAPI endpoint calling a
blocking scikit-learn ``predict_proba``, as teams often start. Both run with one uvicorn
worker pinned to core 0; ``wrk`` (not locust: the generator must not be the bottleneck)
runs pinned to core 1 with one row per request, at concurrency 1, 8, 32 and 64, for a
logistic regression and a 100-tree random forest trained by the project's own
``demo_model`` recipe. The generated service runs its default runtime (onnxruntime)
with micro-batching ``auto``, and for the forest also with micro-batching off.

Targets (issue 3): at concurrency 32, at least 5x the baseline's throughput for the
forest and at least 1.3x for the logistic regression, each with a lower p99.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONCURRENCY = (1, 8, 32, 64)
DURATION_S = int(os.environ.get("BENCH_DURATION_S", "8"))
TARGETS = {"forest": 5.0, "linear": 1.3}
PACKAGE = "bench_svc"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as response:
            if response.status == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout_s} s")


@contextlib.contextmanager
def _server(command: list[str], env: dict[str, str], cwd: Path, port: int) -> Iterator[str]:
    """Start a server pinned to core 0 in its own process group; always stop it."""
    log = tempfile.TemporaryFile()  # noqa: SIM115  (closed in the finally below)
    process = subprocess.Popen(
        ["taskset", "-c", "0", *command],
        env=env,
        cwd=cwd,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(f"{base}/ready", process)
        yield base
    except RuntimeError:
        log.seek(0)
        sys.stderr.write(log.read().decode(errors="replace")[-3000:])
        raise
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def _wrk(url: str, body: str, connections: int, script_dir: Path) -> dict[str, float]:
    """One bounded wrk run; throughput counts successful responses only."""
    script = script_dir / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(body)}\n"
    )
    out = subprocess.run(
        [
            "taskset",
            "-c",
            "1",
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{DURATION_S}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=DURATION_S + 30,
    ).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    seconds = float(re.search(r"requests in ([\d.]+)s", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    failed = int(bad.group(1)) if bad else 0
    failed += sum(int(g) for g in errors.groups()) if errors else 0

    def percentile(label: str) -> float:
        match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        assert match, out
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]
        return float(match.group(1)) * scale

    return {
        "rps": round(max(requests - failed, 0) / seconds, 1),
        "p50_ms": round(percentile("50"), 3),
        "p99_ms": round(percentile("99"), 3),
        "failed": failed,
    }


def _prepare(work: Path) -> tuple[Path, Path, str]:
    """Render the project, install it into a venv that sees this environment, build data."""
    dest = work / "bench-svc"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "mlship",
            "new",
            "online",
            str(dest),
            "--defaults",
            "--no-git",
            "--name",
            "bench-svc",
        ],
        check=True,
        capture_output=True,
    )
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "-e", str(dest)],
        check=True,
        capture_output=True,
    )
    row = subprocess.run(
        [
            str(python),
            "-c",
            f"from {PACKAGE}.demo_model import load_data; import json; "
            "print(json.dumps(load_data()[1][0].tolist()))",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    body = json.dumps({"instances": [json.loads(row)]})
    return dest, python, body


def _build_models(dest: Path, python: Path, kind: str, work: Path) -> Path:
    """The project's ONNX model and the same recipe's sklearn object for the baseline."""
    for stale in (dest / "models").glob("model*"):
        stale.unlink()
    (dest / "models" / "manifest.json").unlink(missing_ok=True)
    subprocess.run(
        [str(python), "-m", f"{PACKAGE}.demo_model", "--format", "onnx", "--kind", kind],
        cwd=dest,
        check=True,
        capture_output=True,
    )
    baseline = work / f"naive-{kind}.joblib"
    subprocess.run(
        [
            str(python),
            "-c",
            f"import joblib; from {PACKAGE}.demo_model import load_data, train_sklearn; "
            "x, _, y, _, _ = load_data(); "
            f"joblib.dump(train_sklearn({kind!r}, x, y), {str(baseline)!r})",
        ],
        check=True,
        capture_output=True,
    )
    return baseline


def main() -> dict[str, object]:
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            raise SystemExit(
                f"the online benchmark needs {tool} (apt-get install -y wrk util-linux)"
            )
    results: list[dict[str, object]] = []
    verdicts: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="mlship-bench-") as tmp:
        work = Path(tmp)
        dest, python, body = _prepare(work)
        for kind in ("linear", "forest"):
            baseline_model = _build_models(dest, python, kind, work)
            servers = {
                "naive": (
                    [
                        str(python),
                        "-m",
                        "uvicorn",
                        "benchmarks.naive_service:app",
                        "--workers",
                        "1",
                        "--log-level",
                        "warning",
                    ],
                    {"NAIVE_MODEL": str(baseline_model)},
                    ROOT,
                ),
                "generated": ([str(python), "-m", f"{PACKAGE}.serving"], {}, dest),
            }
            if kind == "forest":
                servers["generated, batching off"] = (
                    [str(python), "-m", f"{PACKAGE}.serving"],
                    {"APP_MICRO_BATCHING": "off"},
                    dest,
                )
            for name, (command, extra_env, cwd) in servers.items():
                port = _free_port()
                env = {
                    **os.environ,
                    **extra_env,
                    "APP_PORT": str(port),
                    "APP_WORKERS": "1",
                    "APP_LOG_LEVEL": "WARNING",
                    "APP_LATENCY_BUDGET_MS": "100",
                }
                if name == "naive":
                    command = [*command, "--port", str(port)]
                with _server(command, env, cwd, port) as base:
                    _wrk(f"{base}/v1/predict", body, 8, work)  # warm-up
                    for connections in CONCURRENCY:
                        row = {
                            "model": kind,
                            "server": name,
                            "concurrency": connections,
                            **_wrk(f"{base}/v1/predict", body, connections, work),
                        }
                        results.append(row)
                        print(
                            f"{kind:7s} {name:24s} c={connections:<3d} {row['rps']:>9} rps  "
                            f"p50 {row['p50_ms']:>8} ms  p99 {row['p99_ms']:>8} ms  "
                            f"failed {row['failed']}",
                            flush=True,
                        )
            at32 = {
                r["server"]: r for r in results if r["model"] == kind and r["concurrency"] == 32
            }
            ratio = float(at32["generated"]["rps"]) / max(float(at32["naive"]["rps"]), 1e-9)
            lower_p99 = float(at32["generated"]["p99_ms"]) < float(at32["naive"]["p99_ms"])
            verdicts[kind] = {
                "throughput_ratio_at_c32": round(ratio, 2),
                "target_ratio": TARGETS[kind],
                "lower_p99_at_c32": lower_p99,
                "met": ratio >= TARGETS[kind] and lower_p99,
            }
            print(
                f"{kind}: generated/naive throughput at c=32 = {ratio:.2f}x "
                f"(target {TARGETS[kind]}x), lower p99: {lower_p99}",
                flush=True,
            )
    ok = all(bool(v["met"]) for v in verdicts.values())
    return {
        "benchmark": "online",
        "duration_s": DURATION_S,
        "rows": results,
        "verdicts": verdicts,
        "ok": ok,
    }


if __name__ == "__main__":
    main()
