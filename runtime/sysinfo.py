"""What this machine is: recorded with every benchmark result so results compare honestly."""

from __future__ import annotations

import os
import platform
import re
from importlib import metadata
from typing import Dict


def peak_rss_mb() -> float:
    """This process's peak resident memory (MB): VmHWM, the high-water mark of its own memory
    map. getrusage's ru_maxrss is not that on Linux: a process started by fork + exec keeps the
    parent's peak (a 600 MB pytest or shell showed as the child's own peak)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    import resource  # elsewhere: the closest figure there is

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if platform.system() == "Darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def describe() -> Dict[str, object]:
    from . import __version__, _adain

    versions = {
        name: _version(name)
        for name in ("numpy", "onnxruntime", "onnxruntime-gpu", "opencv-python", "torch")
    }
    return {
        "cpu": cpu_model(),
        "logical_cores": os.cpu_count(),
        "machine": platform.machine(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "stylert": __version__,
        "extension": _adain.build_info(),
        "cuda_devices": _adain.cuda_device_count(),
        "versions": {k: v for k, v in versions.items() if v},
        # Allocator and threading settings change baseline timings (see FIELD-NOTES).
        "env": {
            k: os.environ[k]
            for k in ("OMP_NUM_THREADS", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")
            if k in os.environ
        },
    }


def machine_slug(info: Dict[str, object] | None = None) -> str:
    """A short file-name-safe name for this machine, e.g. 'amd-epyc-2c'."""
    info = info or describe()
    cpu = re.sub(r"\(r\)|\(tm\)|cpu|processor|@.*", "", str(info["cpu"]).lower())
    cpu = re.sub(r"[^a-z0-9]+", "-", cpu).strip("-")[:40] or "cpu"
    return f"{cpu}-{info['logical_cores']}c"
