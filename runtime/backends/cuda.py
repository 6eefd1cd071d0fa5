"""Device helpers for the GPU backends, on CuPy (no torch needed): views of ONNX Runtime's
device outputs, and CUDA timing events on a stream in the shape timing.Stages expects."""

from __future__ import annotations

import os
from typing import Optional

import numpy as np


def graphs_wanted(cuda_graphs: Optional[bool] = None) -> bool:
    """Whether to capture each input shape into a CUDA graph and replay it (the tensorrt and
    onnxruntime-cuda backends; a fixed camera size gains, a changing one does not): the
    caller's ``cuda_graphs`` when it says, else the user's STYLERT_CUDA_GRAPHS=1."""
    if cuda_graphs is not None:
        return cuda_graphs
    return os.environ.get("STYLERT_CUDA_GRAPHS") == "1"


def tf32_allowed(variant: str) -> bool:
    """The one rule for TF32 math (10-bit mantissa products in float32 convolutions and
    matrix products), which cuDNN, cuBLAS, PyTorch and TensorRT all enable by default: off
    for fp32 variants, whose gate (stylert.parity, 1e-4 of the range) emulated TF32 misses
    by eight times on the bundled AdaIN; allowed for fp16 and int8 variants, whose float32
    islands it cannot push past their PSNR gates."""
    return not variant.startswith("fp32")


def cupy_or_none():
    """CuPy when it is installed (the device-resident path), else None (host arrays)."""
    try:
        import cupy
    except ImportError:
        return None
    return cupy


# -- one stream discipline --------------------------------------------------------------
# Every engine runs on a non-blocking stream of its own (one per pipeline). Such a stream
# never waits for the legacy default stream, which is where CuPy works outside a
# `with stream:` block (cupy/cuda/stream.pyx). So every copy, allocation and launch that
# feeds an engine or reads its output is made on that stream, here and in stylert.adain.

def upload(cupy, stream, array):
    """A host array as a device array, copied on ``stream`` (device arrays pass through)."""
    if not isinstance(array, np.ndarray):
        return array
    with stream:
        return cupy.asarray(array)


def download(cupy, stream, array) -> np.ndarray:
    """A device array as a numpy array, copied on ``stream`` and complete on return: before
    CuPy 13, asnumpy(..., stream=) returns before the copy has run; a copy without a
    stream runs on the legacy stream, which does not wait for ``stream``'s work."""
    if isinstance(array, np.ndarray):
        return array
    host = cupy.asnumpy(array, stream=stream)
    stream.synchronize()
    return host


def device_view(value, cupy, dtype=np.float32):
    """A CuPy array of ``dtype`` over an OrtValue's device memory (kept alive with it): the
    AdaIN kernel and the next engine read it where the engine wrote it."""
    shape, dtype = tuple(value.shape()), np.dtype(dtype)
    memory = cupy.cuda.UnownedMemory(value.data_ptr(), int(np.prod(shape)) * dtype.itemsize, value)
    return cupy.ndarray(shape, dtype, cupy.cuda.MemoryPointer(memory, 0))


class _Event:
    """A CuPy CUDA event recorded on ``stream``, with torch.cuda.Event's three methods."""

    def __init__(self, cupy, stream):
        self.cupy, self.stream, self.event = cupy, stream, cupy.cuda.Event()

    def record(self):
        self.event.record(self.stream)

    def synchronize(self):
        self.event.synchronize()

    def elapsed_time(self, end: "_Event") -> float:  # milliseconds
        return self.cupy.cuda.get_elapsed_time(self.event, end.event)


def event_factory(cupy, stream):
    """For timing.Stages: stages timed where the work runs, on the engines' stream."""
    return lambda: _Event(cupy, stream)
