"""A stand-in for a CUDA device driven through CuPy, with the stream semantics that decide
whether stylert's device path is right: work is queued per stream and runs only when
something waits for it, so a missing order between streams gives a wrong frame in a test
instead of a rare race on a real GPU.

What it models, and from where:
- CUDA streams (CUDA Programming Guide, "Streams" and "Default Stream"; cudaStreamNonBlocking):
  work on one stream runs in order; a non-blocking stream never waits for the legacy default
  stream and the legacy stream never waits for it; an event recorded on one stream and
  waited on by another (cudaStreamWaitEvent) orders the two. The device here runs a stream's
  queue only when that stream (or an event on it) is synchronized, and then runs that stream
  alone plus what it was ordered after: the worst schedule CUDA allows.
- CuPy (cupy/cuda/stream.pyx, cupy/_core/core.pyx): ``cupy.asarray(host)``, ``copy`` and
  ``a[...] = b`` run on the *current* stream, the legacy null stream unless inside
  ``with stream:``; ``asnumpy(a)`` without a stream is a cudaMemcpy on the legacy stream;
  ``asnumpy(a, stream=s)`` before CuPy 13 is asynchronous: the host array is complete only
  after ``s.synchronize()``; ``__cuda_array_interface__`` (v3) exports the current stream
  as ``stream`` (1 for the legacy stream).
- Fresh device memory holds NaN (CUDA leaves it uninitialised): reading it before the copy
  that fills it shows as NaN in the result.
The numerics of the graphs and of the AdaIN kernel are the real CPU ones (ONNX Runtime's CPU
provider, stylert's CPU kernel), run when the device runs the queued work.
"""

from __future__ import annotations

import contextlib
import itertools
import sys
import types

import numpy as np

_ids = itertools.count(0x1000, 0x100)
MEMORY = {}  # device pointer -> the numpy buffer behind it


class Stream:
    registry = {}
    stack = []  # the streams made current by `with stream:`

    def __init__(self, non_blocking=False, null=False, ptr=None):
        self.ptr = 0 if null else (ptr or next(_ids))
        self.non_blocking = non_blocking
        self.queue = []  # (callable, work ids of other streams it must follow)
        self.done = self.queued = 0
        Stream.registry[self.ptr] = self

    def __enter__(self):
        Stream.stack.append(self)
        return self

    def __exit__(self, *exc):
        Stream.stack.pop()

    def enqueue(self, fn):
        after = []
        if self is NULL:  # the legacy stream waits for every blocking stream, and they for it
            after = [(s, s.queued) for s in Stream.registry.values() if s is not NULL and not s.non_blocking]
        elif not self.non_blocking:
            after = [(NULL, NULL.queued)]
        self.queue.append((fn, after))
        self.queued += 1

    def run_until(self, mark):
        while self.done < mark:
            fn, after = self.queue.pop(0)
            for stream, upto in after:
                stream.run_until(upto)
            fn()
            self.done += 1

    def synchronize(self):
        self.run_until(self.queued)

    def record(self, event=None):
        event = event or Event()
        event.record(self)
        return event

    def wait_event(self, event):
        stream, mark = event.stream, event.mark
        self.enqueue(lambda: stream.run_until(mark))

    def begin_capture(self):
        raise NotImplementedError("graph capture is not modelled")


NULL = Stream(null=True)
Stream.null = NULL


def ExternalStream(ptr):
    return NULL if ptr in (0, 1) else Stream.registry[ptr]


class Event:
    def __init__(self, *args, **kwargs):
        self.stream, self.mark = NULL, 0

    def record(self, stream=None):
        self.stream = stream or current()
        self.mark = self.stream.queued

    def synchronize(self):
        self.stream.run_until(self.mark)


def current():
    return Stream.stack[-1] if Stream.stack else NULL


class _Data:
    def __init__(self, ptr):
        self.ptr = ptr


class ndarray:
    """Device memory: a numpy buffer only the queued work reads and writes."""

    def __init__(self, shape, dtype=np.float32, memptr=None, _buffer=None):
        self.dtype = np.dtype(dtype)
        if _buffer is not None:
            self._buf = _buffer
            self.data = _Data(next(_ids))
        elif memptr is not None:  # a view of memory someone else owns (cupy.cuda.MemoryPointer)
            self._buf = MEMORY[memptr.ptr].reshape(-1)[:int(np.prod(shape))].view(self.dtype).reshape(shape)
            self.data = _Data(memptr.ptr)
        else:
            self._buf = np.full(shape, np.nan, self.dtype)
            self.data = _Data(next(_ids))
        MEMORY.setdefault(self.data.ptr, self._buf)

    shape = property(lambda self: self._buf.shape)
    ndim = property(lambda self: self._buf.ndim)
    size = property(lambda self: self._buf.size)

    @property
    def device(self):
        return contextlib.nullcontext()

    @property
    def __cuda_array_interface__(self):
        stream = current()
        return {"shape": self.shape, "typestr": self.dtype.str, "data": (self.data.ptr, False), "version": 3,
                "strides": None, "stream": 1 if stream is NULL else stream.ptr}

    def reshape(self, *shape):
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], tuple) else shape
        view = ndarray.__new__(ndarray)
        view.dtype, view._buf, view.data = self.dtype, self._buf.reshape(shape), self.data
        return view

    def copy(self):
        out = ndarray(self.shape, self.dtype)
        src, dst = self._buf, out._buf
        current().enqueue(lambda: np.copyto(dst, src))
        return out

    def astype(self, dtype):
        out = ndarray(self.shape, dtype)
        src, dst = self._buf, out._buf
        current().enqueue(lambda: np.copyto(dst, src.astype(dst.dtype)))
        return out

    def __setitem__(self, key, value):
        dst = self._buf
        if isinstance(value, ndarray):
            src = value._buf
            current().enqueue(lambda: dst.__setitem__(key, src))
        else:
            host = np.array(value)
            current().enqueue(lambda: dst.__setitem__(key, host))


def asarray(a, dtype=None):
    if isinstance(a, ndarray):
        return a if dtype is None or np.dtype(dtype) == a.dtype else a.astype(dtype)
    host = np.array(a, dtype=dtype)  # a pageable copy is staged when it is queued
    out = ndarray(host.shape, host.dtype)
    dst = out._buf
    current().enqueue(lambda: np.copyto(dst, host))
    return out


def ascontiguousarray(a, dtype=None):
    return asarray(a, dtype)


def empty(shape, dtype=np.float32):
    return ndarray(shape, dtype)


def asnumpy(a, stream=None):
    """Before CuPy 13: asynchronous on ``stream``; without one, a copy on the legacy stream."""
    if isinstance(a, np.ndarray):
        return a
    host = np.full(a.shape, np.nan, a.dtype)
    src = a._buf
    if stream is None:
        NULL.enqueue(lambda: np.copyto(host, src))
        NULL.synchronize()
    else:
        stream.enqueue(lambda: np.copyto(host, src))
    return host


def get_elapsed_time(start, end):
    return 0.0


def synchronize_all():
    for stream in list(Stream.registry.values()):
        stream.synchronize()


def module():
    """A `cupy` module over this device (install with sys.modules['cupy'] = fake_cuda.module())."""
    cuda = types.SimpleNamespace(
        Stream=Stream, ExternalStream=ExternalStream, Event=Event, get_current_stream=current,
        get_elapsed_time=get_elapsed_time, UnownedMemory=lambda ptr, size, owner: _Data(ptr),
        MemoryPointer=lambda mem, offset: _Data(mem.ptr + offset),
        Device=lambda *a: types.SimpleNamespace(synchronize=synchronize_all))
    m = types.ModuleType("cupy")
    m.__dict__.update(cuda=cuda, ndarray=ndarray, asarray=asarray, ascontiguousarray=ascontiguousarray,
                      empty=empty, asnumpy=asnumpy, float32=np.float32)
    return m


ndarray.__module__ = "cupy"  # what stylert.adain checks to pick the library's helpers


class KernelsOnStreams:
    """stylert's extension with its CUDA entry points queued on the stream they are given and
    computed by its CPU kernels (the real ones) when the device runs them."""

    def __init__(self, real):
        self.real = real

    def __getattr__(self, name):
        return getattr(self.real, name)

    def cuda_compiled(self):
        return True

    def cuda_device_count(self):
        return 1

    @staticmethod
    def _rows(ptr, rows, length):
        return MEMORY[ptr].reshape(rows, length)

    def cuda_channel_stats(self, dtype, x, rows, length, unbiased, eps, mean, std, stream):
        def run():
            m, s = self.real.channel_stats(np.ascontiguousarray(self._rows(x, rows, length)), unbiased, eps)
            MEMORY[mean].reshape(-1)[:] = m
            MEMORY[std].reshape(-1)[:] = s
        ExternalStream(stream).enqueue(run)

    def cuda_adain(self, dtype, x, out, rows, length, mean, std, n_stats, alpha, unbiased, eps, stream):
        def run():
            src = np.ascontiguousarray(self._rows(x, rows, length))
            dst = np.empty_like(src)
            means = np.ascontiguousarray(MEMORY[mean].reshape(-1)[:n_stats], np.float32)
            stds = np.ascontiguousarray(MEMORY[std].reshape(-1)[:n_stats], np.float32)
            self.real.adain(src, dst, means, stds, alpha, unbiased, eps)
            self._rows(out, rows, length)[...] = dst
        ExternalStream(stream).enqueue(run)


def install(monkeypatch):
    """This device as `cupy` and as the extension's CUDA kernels, for one test."""
    import stylert.adain as fused

    MEMORY.clear()
    for ptr in [p for p in Stream.registry if p != 0]:
        del Stream.registry[ptr]
    NULL.queue.clear()
    NULL.done = NULL.queued = 0
    cupy = module()
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    monkeypatch.setattr(fused, "_adain", KernelsOnStreams(fused._adain))
    return cupy
