"""Device helpers for the GPU backends, on CuPy (no torch needed): views of ONNX Runtime's
device outputs, and CUDA timing events on a stream in the shape timing.Stages expects."""

from __future__ import annotations

import os

import numpy as np


def graphs_wanted() -> bool:
    """STYLERT_CUDA_GRAPHS=1: capture each input shape into a CUDA graph and replay it (the
    tensorrt and onnxruntime-cuda backends; a fixed camera size gains, a changing one does not)."""
    return os.environ.get("STYLERT_CUDA_GRAPHS") == "1"


def cupy_or_none():
    """CuPy when it is installed (the device-resident path), else None (host arrays)."""
    try:
        import cupy
    except ImportError:
        return None
    return cupy


def device_view(value, cupy):
    """A CuPy array over an OrtValue's device memory (kept alive with it): the AdaIN kernel
    and the next engine read it where the engine wrote it."""
    shape = tuple(value.shape())
    memory = cupy.cuda.UnownedMemory(value.data_ptr(), int(np.prod(shape)) * 4, value)
    return cupy.ndarray(shape, np.float32, cupy.cuda.MemoryPointer(memory, 0))


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
