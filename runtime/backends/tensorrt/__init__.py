"""The tensorrt backend: engines built by TensorRT for this GPU (build.py), kept in an engine
cache (cache.py), run by name on CuPy device buffers (runner.py). TensorRT is optional and
imported lazily; everything but the build and the run works without it. Like every backend
it passes the self-check on the package's reference probe before a pipeline uses it.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import time
from typing import Dict, Optional

from ..base import Backend
from ..cuda import graphs_wanted

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



def probe() -> str:
    """'' when engines can be built and run here, else why not."""
    why = unavailable_reason()
    if why:
        return why
    if importlib.util.find_spec("cupy") is None:  # looked up, not imported: the runner's device buffers
        return "the TensorRT runner needs CuPy for its device buffers (pip install cupy-cuda12x or cupy-cuda13x)"
    return ""


def open_graphs(pkg, names, precision, spin=True, cuda_graphs=None):
    """One TensorRTEngine per graph, on one stream (built on first use, then cached).
    ``cuda_graphs`` (None: STYLERT_CUDA_GRAPHS=1) captures each shape into a CUDA graph (a
    fixed camera size)."""
    import logging

    import cupy

    from .build import engine_for
    from .runner import TensorRTEngine

    say = logging.getLogger("stylert").warning
    stream = cupy.cuda.Stream(non_blocking=True)
    graphs = graphs_wanted(cuda_graphs)
    engines = {}
    for name in names:
        t0 = time.perf_counter()
        path, runs = engine_for(pkg, name, precision, log=say)
        engines[name] = TensorRTEngine(path.read_bytes(), _trt(), cupy, stream, runs, graphs, name)
        engines[name].setup_s = time.perf_counter() - t0  # build (first use) or load
    return engines


def _version() -> str:
    return _trt().__version__


BACKENDS = [Backend("tensorrt", probe, open_graphs, fastest=("fp16",), version=_version, graphs=True)]
