"""PASS or FAIL per variant against the device budget, and the variant to ship.

Latency on the device is *estimated* as the p99 measured on this machine times the
target's device factor (``export.yaml`` documents the factors; measure on the real device
and set the factor when you can); every verdict that rests on it says "estimated".
Memory: the model file may take ``memory_share`` of the device
memory; the rest is for the app and the runtime's own buffers.
"""

from __future__ import annotations

from typing import Any

from .config import DeviceBudget

MB = 1024 * 1024


def judge(variant: dict[str, Any], budget: DeviceBudget) -> dict[str, Any]:
    """The checks for one benchmarked, parity-checked variant."""
    checks: list[dict[str, Any]] = []
    size_mb = variant["benchmark"]["size_bytes"] / MB
    if budget.device_memory_mb is not None:
        allowed = budget.device_memory_mb * budget.memory_share
        checks.append(
            {
                "check": "memory",
                "passed": size_mb <= allowed,
                "detail": f"model {size_mb:.2f} MiB <= {budget.memory_share:.0%} of "
                f"{budget.device_memory_mb:g} MiB device memory ({allowed:.1f} MiB)",
            }
        )
    device_p99 = variant["benchmark"]["single"]["p99_ms"] * budget.device_factor
    if budget.p99_ms is not None:
        checks.append(
            {
                "check": "latency",
                "passed": device_p99 <= budget.p99_ms,
                "estimated": True,
                "detail": f"estimated: host single-row p99 "
                f"{variant['benchmark']['single']['p99_ms']:.3f} ms x device factor "
                f"{budget.device_factor:g} = {device_p99:.3f} ms <= budget {budget.p99_ms:g} ms "
                "(not measured on the device)",
            }
        )
    parity = variant.get("parity")
    if parity is not None:
        checks.append(
            {
                "check": "parity",
                "passed": parity["passed"],
                "detail": "within tolerance" if parity["passed"] else "; ".join(parity["problems"]),
            }
        )
    passed = all(c["passed"] for c in checks)
    estimated = any(c.get("estimated") for c in checks)
    return {
        "verdict": ("PASS" if passed else "FAIL") + (" (estimated)" if estimated else ""),
        "passed": passed,
        "latency_basis": "estimated (host measurement x device factor)",
        "device_p99_ms": device_p99,
        "device_p99_estimated": True,
        "checks": checks,
    }


def recommend(variants: list[dict[str, Any]]) -> dict[str, Any]:
    """The smallest passing variant, breaking ties on device latency; fp32 when none pass."""
    passing = [v for v in variants if v.get("budget", {}).get("passed")]
    if passing:
        best = min(
            passing, key=lambda v: (v["benchmark"]["size_bytes"], v["budget"]["device_p99_ms"])
        )
        return {
            "variant": best["name"],
            "why": "the smallest variant that passes parity and the device budget",
            "meets_budget": True,
        }
    return {
        "variant": "fp32",
        "why": "no variant passes every check; fp32 ships because it is the exact model, "
        "but the device budget is not met (see the failed checks)",
        "meets_budget": False,
    }
