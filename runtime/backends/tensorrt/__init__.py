"""The tensorrt backend: engines built by TensorRT for this GPU (build.py), kept in an engine
cache (cache.py). TensorRT is optional and imported lazily; everything here but the build
itself works without it.

The engine runner is not written yet (see the GPU issue), so ``auto`` skips this backend
with that reason even where TensorRT is installed.
"""

from __future__ import annotations

import ctypes
import os
from typing import Dict, Optional

from ..base import Backend

# -- what this machine has --------------------------------------------------------------
def cuda_device() -> Optional[Dict[str, object]]:
    """Name and compute capability of CUDA device 0 through the driver API (no torch,
    no toolkit needed); None when there is no driver or no device."""
    names = ["nvcuda.dll"] if os.name == "nt" else ["libcuda.so.1", "libcuda.so"]
    for name in names:
        try:
            cuda = ctypes.CDLL(name)
            break
        except OSError:
            continue
    else:
        return None
    count, dev, major, minor = ctypes.c_int(), ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
    if cuda.cuInit(0) != 0 or cuda.cuDeviceGetCount(ctypes.byref(count)) != 0 or count.value < 1:
        return None
    cuda.cuDeviceGet(ctypes.byref(dev), 0)
    cuda.cuDeviceGetAttribute(ctypes.byref(major), 75, dev)  # COMPUTE_CAPABILITY_MAJOR
    cuda.cuDeviceGetAttribute(ctypes.byref(minor), 76, dev)  # COMPUTE_CAPABILITY_MINOR
    buf = ctypes.create_string_buffer(256)
    cuda.cuDeviceGetName(buf, 256, dev)
    return {"name": buf.value.decode(errors="replace"), "compute_capability": f"{major.value}.{minor.value}"}


def _trt():
    import tensorrt  # noqa: PLC0415  (optional: pip install 'stylert[tensorrt]')

    return tensorrt


def unavailable_reason() -> str:
    """'' when TensorRT can build and run engines here, else the reason in one line."""
    try:
        _trt()
    except ImportError:
        return "TensorRT is not installed"
    if cuda_device() is None:
        return "no CUDA GPU is visible"
    return ""


# What to do about each unavailable_reason(), for commands that need TensorRT.
FIX = {"TensorRT is not installed": "pip install 'stylert[tensorrt]' on a machine with an NVIDIA GPU (JetPack ships it)",
       "no CUDA GPU is visible": "TensorRT engines are built on, and for, the GPU that runs them"}



def _not_runnable(pkg, names, precision, spin=True):  # never reached: the probe says why
    raise NotImplementedError("the TensorRT engine runner")


BACKENDS = [Backend("tensorrt", lambda: unavailable_reason() or "its engine runner is not written yet",
                    _not_runnable, fastest=("fp16",))]
