"""spike as a load generator: how many requests/s it drives, and how its latencies compare.

Figures are ratios against baselines measured in the same run, on the same trivial
endpoint (one uvicorn process that answers at once):

- ``wrk`` (a C load generator), the ceiling of what this machine can push through the
  endpoint;
- plain locust (a minimal ``FastHttpUser`` file), the tool spike is built on, without
  spike's per-request records.

Then spike itself, closed model with one and with two worker processes (``--workers 2``),
and its open model asked for 80 % of that closed-model rate: how much of the schedule it
keeps (sustained rate against the offered one, share of late sends).

Finally, when a generated online project can be built (``mlship new online``, a venv
with ``make install`` and ``make model``, cached under ``.bench/spike-project``), spike's
measured latency against the service's own ``http_request_duration_seconds`` histogram:
the exact server-side mean (sum / count) and bucket-interpolated p50/p99. Set
``MLSHIP_BENCH_SKIP_PROJECT=1`` to skip that part.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SERVERS = ROOT / "tests" / "spike" / "servers.py"
CACHE = ROOT / ".bench" / "spike-project"
SECONDS = 5
USERS = 10
BODY = json.dumps({"instances": [[1.0, 2.0, 3.0, 4.0]]})

PLAIN_LOCUSTFILE = f"""
from locust import FastHttpUser, constant, task

class Plain(FastHttpUser):
    wait_time = constant(0)

    @task
    def predict(self):
        self.client.post("/v1/predict", data={BODY!r},
                         headers={{"Content-Type": "application/json"}})
"""

WRK_SCRIPT = f"""
wrk.method = "POST"
wrk.body = {json.dumps(BODY)}
wrk.headers["Content-Type"] = "application/json"
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait(url: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready within {timeout} s")


@contextmanager
def _process(command: list[str], ready_url: str, **kwargs: Any) -> Iterator[None]:
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        **kwargs,
    )
    try:
        _wait(ready_url)
        yield
    finally:
        os.killpg(process.pid, 15)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()


def _wrk(url: str, tmp: Path) -> float | None:
    if shutil.which("wrk") is None:
        return None
    script = tmp / "post.lua"
    script.write_text(WRK_SCRIPT)
    out = subprocess.run(
        ["wrk", "-t1", f"-c{USERS}", f"-d{SECONDS}s", "-s", str(script), url + "/v1/predict"],
        capture_output=True,
        text=True,
        timeout=SECONDS + 30,
        check=True,
    ).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return float(match.group(1)) if match else None


def _plain_locust(url: str, tmp: Path) -> float:
    locustfile = tmp / "plain_locustfile.py"
    locustfile.write_text(PLAIN_LOCUSTFILE)
    prefix = tmp / "plain"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(locustfile),
            "--headless",
            "--host",
            url,
            "-u",
            str(USERS),
            "-r",
            str(USERS),
            "-t",
            f"{SECONDS}s",
            "--csv",
            str(prefix),
            "--only-summary",
            "--loglevel",
            "WARNING",
            "--exit-code-on-error",
            "0",
        ],
        capture_output=True,
        timeout=SECONDS + 60,
        check=True,
    )
    rows = (tmp / "plain_stats.csv").read_text().splitlines()
    header = rows[0].split(",")
    total = next(r.split(",") for r in rows if ",Aggregated," in r)
    return float(total[header.index("Requests/s")])


def _spike(
    target: str, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "mlship", "spike", target, *args, "--json"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
        env=env,
    )
    if out.returncode not in (0, 1):
        raise RuntimeError(f"spike failed ({out.returncode}): {out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def _throughput(tmp: Path) -> dict[str, Any]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    payloads = tmp / "payloads.ndjson"
    payloads.write_text(BODY + "\n")
    common = ["--payloads", str(payloads), "--users", str(USERS), "--duration", f"{SECONDS}s"]
    common += ["--out", str(tmp / "spikes")]
    command = [sys.executable, str(SERVERS), "--port", str(port), "--mode", "fast"]
    with _process(command, url + "/ready"):
        wrk = _wrk(url, tmp)
        plain = _plain_locust(url, tmp)
        one = _spike(url, *common)["stats"]["rps"]
        two = _spike(url, *common, "--workers", "2")["stats"]["rps"]
        offered = round(0.8 * one)
        opened = _spike(
            url,
            "--payloads",
            str(payloads),
            "--rate",
            str(offered),
            "--duration",
            f"{SECONDS}s",
            "--out",
            str(tmp / "spikes"),
        )["stats"]
    figures = {
        "wrk_rps": wrk,
        "plain_locust_rps": plain,
        "spike_rps": one,
        "spike_2_workers_rps": two,
    }
    schedule = opened["schedule"]
    figures["open_offered_rps"] = offered
    figures["open_sustained_rps"] = opened["sustained_rps"]
    figures["open_late_share"] = round(schedule["late"] / schedule["scheduled"], 4)
    ratios = {
        "spike_vs_plain_locust": round(one / plain, 3),
        "spike_2_workers_vs_1": round(two / one, 3),
        "open_sustained_vs_offered": round(opened["sustained_rps"] / offered, 3),
    }
    if wrk:
        ratios["spike_vs_wrk"] = round(one / wrk, 3)
        ratios["plain_locust_vs_wrk"] = round(plain / wrk, 3)
    return {"figures": figures, "ratios": ratios}


def _project() -> tuple[Path, Path] | None:
    """A generated online project with its venv and demo model, built once and cached."""
    project, venv = CACHE / "svc", CACHE / "venv"
    python = venv / "bin" / "python"
    if (project / "models" / "manifest.json").is_file() and python.is_file():
        return project, venv
    shutil.rmtree(CACHE, ignore_errors=True)
    CACHE.mkdir(parents=True)
    steps = [
        [sys.executable, "-m", "mlship", "new", "online", str(project), "--p99-ms", "100"],
        [sys.executable, "-m", "venv", str(venv)],
        ["make", "-C", str(project), "install", f"PYTHON={python}"],
        ["make", "-C", str(project), "model", f"PYTHON={python}"],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=1800)
        if done.returncode != 0:
            print(f"  project skipped: {' '.join(step[:4])} failed: {done.stderr[-500:]}")
            return None
    return project, venv


def _histogram(url: str, route: str) -> dict[str, Any]:
    with urllib.request.urlopen(url + "/metrics", timeout=5) as response:
        text = response.read().decode()
    buckets: list[tuple[float, float]] = []
    total = count = 0.0
    label = f'route="{route}"'
    for line in text.splitlines():
        if not line.startswith("http_request_duration_seconds") or label not in line:
            continue
        value = float(line.rsplit(" ", 1)[1])
        if line.startswith("http_request_duration_seconds_bucket"):
            le = re.search(r'le="([^"]+)"', line)
            assert le is not None
            buckets.append((float(le.group(1)), value))
        elif line.startswith("http_request_duration_seconds_sum"):
            total = value
        elif line.startswith("http_request_duration_seconds_count"):
            count = value
    return {"buckets": sorted(buckets), "sum": total, "count": count}


def _delta(after: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    old = dict(before["buckets"])
    return {
        "buckets": [(le, n - old.get(le, 0.0)) for le, n in after["buckets"]],
        "sum": after["sum"] - before["sum"],
        "count": after["count"] - before["count"],
    }


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """Prometheus' estimate: linear interpolation inside the bucket holding the rank."""
    if not buckets or buckets[-1][1] == 0:
        return None
    rank = q * buckets[-1][1]
    lower_le, lower_n = 0.0, 0.0
    for le, n in buckets:
        if n >= rank:
            if le == float("inf"):
                return lower_le
            return lower_le + (le - lower_le) * (rank - lower_n) / ((n - lower_n) or 1.0)
        lower_le, lower_n = le, n
    return None


def _against_server(tmp: Path) -> dict[str, Any] | None:
    if os.environ.get("MLSHIP_BENCH_SKIP_PROJECT"):
        return None
    built = _project()
    if built is None:
        return None
    project, venv = built
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    command = ["make", "serve", f"PYTHON={venv / 'bin' / 'python'}", f"PORT={port}"]
    with _process(command, url + "/ready", cwd=project, env=env):
        before = _histogram(url, "/v1/predict")
        result = _spike(
            url, "--rate", "50", "--duration", "10s", "--out", str(tmp / "s"), cwd=project
        )
        server = _delta(_histogram(url, "/v1/predict"), before)
    client = result["stats"]["latency_ms"]
    if not server["count"]:
        print("  project: the service's histogram has no /v1/predict samples")
        return None
    server_mean = server["sum"] / server["count"] * 1000
    p50 = histogram_quantile(0.5, server["buckets"])
    p99 = histogram_quantile(0.99, server["buckets"])
    figures = {
        "spike_requests": result["stats"]["requests"],
        "server_count": server["count"],
        "spike_mean_ms": client["mean"],
        "server_mean_ms": round(server_mean, 3),
        "spike_p50_ms": client["p50"],
        "server_p50_ms_interpolated": None if p50 is None else round(p50 * 1000, 3),
        "spike_p99_ms": client["p99"],
        "server_p99_ms_interpolated": None if p99 is None else round(p99 * 1000, 3),
        "server_bucket_edges_ms": [round(le * 1000, 3) for le, _ in server["buckets"]],
    }
    ratios = {"spike_mean_vs_server_mean": round(client["mean"] / server_mean, 3)}
    if p50:
        ratios["spike_p50_vs_server_p50"] = round(client["p50"] / (p50 * 1000), 3)
    if p99:
        ratios["spike_p99_vs_server_p99"] = round(client["p99"] / (p99 * 1000), 3)
    return {"figures": figures, "ratios": ratios}


def main() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-spike-") as name:
        tmp = Path(name)
        out: dict[str, Any] = {"ok": True, "throughput": _throughput(tmp)}
        print(json.dumps(out["throughput"], indent=2))
        versus = _against_server(tmp)
        out["latency_vs_server"] = versus
        if versus is not None:
            print(json.dumps(versus, indent=2))
    return out


def table(result: dict[str, Any]) -> str:
    """What spike drives through a trivial endpoint, against wrk and plain locust."""
    figures, ratios = result["throughput"]["figures"], result["throughput"]["ratios"]
    wrk = figures.get("wrk_rps")
    lines = [
        "| load generator | req/s | ratio |",
        "| --- | --- | --- |",
        f"| wrk (C, the machine's ceiling) | {wrk:,.0f} | 1.00 |"
        if wrk
        else "| wrk | not installed | |",
        f"| plain locust (FastHttpUser) | {figures['plain_locust_rps']:,.0f} | "
        f"{ratios.get('plain_locust_vs_wrk', float('nan')):.2f} of wrk |",
        f"| mlship spike, closed model | {figures['spike_rps']:,.0f} | "
        f"{ratios['spike_vs_plain_locust']:.2f} of plain locust |",
        f"| mlship spike, --workers 2 | {figures['spike_2_workers_rps']:,.0f} | "
        f"{ratios['spike_2_workers_vs_1']:.2f} of one worker |",
        f"| mlship spike, open model at {figures['open_offered_rps']:,} req/s | "
        f"{figures['open_sustained_rps']:,.0f} | {ratios['open_sustained_vs_offered']:.2f} of "
        f"offered, {figures['open_late_share']:.1%} sent late |",
    ]
    versus = result.get("latency_vs_server")
    if versus:
        f, r = versus["figures"], versus["ratios"]
        lines += [
            "",
            "Against a generated online service's own histogram "
            f"({f['spike_requests']:,} requests): spike's mean {f['spike_mean_ms']:.2f} ms vs the "
            f"server's {f['server_mean_ms']:.2f} ms ({r['spike_mean_vs_server_mean']:.2f}x; the "
            "difference is the client and the loopback).",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
