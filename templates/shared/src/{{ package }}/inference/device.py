"""Pick the compute device and say what it is: GPU name, CUDA and driver versions.

``cuda`` means "a GPU or nothing": it refuses to start when none is visible, because a
silent CPU fallback would break the latency budget without anyone noticing. ``auto`` uses
a GPU when the runtime can, and logs that it fell back to the CPU otherwise.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass

from .errors import ModelLoadError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeviceInfo:
    device: str  # "cpu" or "cuda"
    gpu_name: str | None = None
    cuda_version: str | None = None
    driver_version: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return asdict(self)


def resolve(requested: str, gpu_usable: bool, why_not: str) -> str:
    """Map the requested device (cpu|cuda|auto) to the one used, or refuse."""
    if requested == "cpu":
        return "cpu"
    if gpu_usable:
        return "cuda"
    if requested == "cuda":
        visible = os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>")
        raise ModelLoadError(
            f"APP_DEVICE=cuda but no usable GPU: {why_not} (CUDA_VISIBLE_DEVICES={visible}). "
            "Run on a GPU node with the NVIDIA driver and the GPU image, or set APP_DEVICE=auto "
            "to allow the CPU."
        )
    log.warning("device auto: no usable GPU (%s); running on the CPU", why_not)
    return "cpu"


def _nvidia_smi(*query: str) -> str | None:
    smi = shutil.which("nvidia-smi")
    if not smi:
        return None
    try:
        result = subprocess.run(
            [smi, *query], capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout


def driver_version() -> str | None:
    """The NVIDIA driver version, from the kernel module or nvidia-smi; None without one."""
    try:
        with open("/proc/driver/nvidia/version", encoding="utf-8") as handle:
            for word in handle.readline().split():
                if word[:1].isdigit() and "." in word:
                    return word
    except OSError:
        pass
    out = _nvidia_smi("--query-gpu=driver_version", "--format=csv,noheader")
    return out.strip().splitlines()[0] if out and out.strip() else None


def gpu_name() -> str | None:
    out = _nvidia_smi("--query-gpu=name", "--format=csv,noheader")
    return out.strip().splitlines()[0] if out and out.strip() else None


def driver_cuda_version() -> str | None:
    """The highest CUDA version the driver supports (nvidia-smi's header)."""
    out = _nvidia_smi()
    if out and "CUDA Version:" in out:
        return out.split("CUDA Version:", 1)[1].split()[0]
    return None


def log_device(info: DeviceInfo, runtime: str) -> None:
    log.info(
        "model device %s (runtime %s, gpu %s, cuda %s, driver %s)",
        info.device,
        runtime,
        info.gpu_name or "none",
        info.cuda_version or "none",
        info.driver_version or "none",
        extra={"device_info": info.as_dict(), "runtime": runtime},
    )
