"""What the bench measures beside latency: the memory a pipeline took (host RSS, device
memory) and the machine's state (CPU governor, load, GPU clocks from nvidia-smi)."""

from __future__ import annotations

import os
import sys
from typing import List, Optional

_USED_AT_RESET = [0.0]


def device_mb(reset: bool = False) -> Optional[float]:
    """Device memory a pipeline took (MiB), or None when no GPU pipeline runs: on torch-CUDA
    the peak PyTorch allocated since the last reset; on the CuPy-based backends (ONNX
    Runtime's arena, TensorRT's engines and buffers) the growth of the device's used memory
    since the reset (device-wide, as nvidia-smi counts it; it includes the CUDA context when
    the pipeline was the first to start CUDA). Never starts CUDA just to ask."""
    torch, cupy = sys.modules.get("torch"), sys.modules.get("cupy")
    if torch is not None and torch.cuda.is_initialized():
        if reset:
            torch.cuda.reset_peak_memory_stats()
        return torch.cuda.max_memory_allocated() / 2**20
    if cupy is None:
        _USED_AT_RESET[0] = 0.0  # CUDA starts later, in the pipeline: count from nothing
        return None
    try:
        free, total = cupy.cuda.runtime.memGetInfo()
    except Exception:  # no device, or no driver: nothing to report
        return None
    used = (total - free) / 2**20
    if reset:
        _USED_AT_RESET[0] = used
    return used - _USED_AT_RESET[0]


def rss_mb() -> float:
    """Resident memory of this process now (Linux; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        return 0.0


def machine_warnings() -> List[str]:
    """Conditions that make any timing here less trustworthy."""
    out = []
    gov = "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"
    if os.path.exists(gov):
        with open(gov) as f:
            g = f.read().strip()
        if g != "performance":
            out.append(f"CPU frequency scaling governor is '{g}' (not 'performance')")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if load > 0.5 * cores:
        out.append(f"busy machine: load average {load:.1f} on {cores} cores")
    return out


# nvidia-smi's clock event reasons (NVML's nvmlClocksEventReason* bits).
USER_CLOCKS = 0x2  # clocks set by the user (nvidia-smi -lgc / -ac): locked
SLOWDOWNS = {0x4: "software power cap", 0x8: "hardware slowdown", 0x20: "software thermal slowdown",
             0x40: "hardware thermal slowdown", 0x80: "hardware power brake"}


def gpu_warnings(smi: str = "nvidia-smi") -> List[str]:
    """After a GPU run: unlocked clocks (boost varies run to run) or a slowdown now, from
    nvidia-smi; nothing where it is missing or says nothing."""
    import subprocess

    for field in ("clocks_event_reasons.active", "clocks_throttle_reasons.active"):  # new, old drivers
        try:
            done = subprocess.run([smi, f"--query-gpu={field},clocks.sm,clocks.max.sm",
                                   "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return []
        if done.returncode == 0:
            break
    else:
        return []
    out = []
    for i, line in enumerate(done.stdout.strip().splitlines()):
        try:
            reasons, sm, sm_max = (v.strip() for v in line.split(","))
            bits = int(reasons, 16)
        except ValueError:
            continue
        if not bits & USER_CLOCKS:
            out.append(f"GPU {i}: clocks are not locked (SM {sm} of {sm_max} MHz now): boost clocks vary from run "
                       f"to run; lock them for comparable numbers: sudo nvidia-smi -lgc {sm_max}")
        slow = [name for bit, name in SLOWDOWNS.items() if bits & bit]
        if slow:
            out.append(f"GPU {i}: clocks held down by {', '.join(slow)}: timings are lower than the GPU can do")
    return out
