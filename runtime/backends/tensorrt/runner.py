"""The TensorRT runner: engines from the engine cache (built on first use), run by name with
the TensorRT 10/11 Python API, device buffers from CuPy (no torch needed).

One execution context per engine; per call: the optimization profile that fits the input
shapes (switched with set_optimization_profile_async only when it changes), set_input_shape
and set_tensor_address per input, the output buffer allocated once per output shape and
reused, execute_async_v3 on the pipeline's one stream (copies too: cuda.upload/download).
With ``cuda_graph`` the first call at a shape is captured into a CUDA graph, on an execution
context of its own (a graph replays its context's state at capture), with fixed input
buffers; later calls at that shape replay it: for a fixed camera size, the launch overhead
of every layer goes.

Written from NVIDIA's documentation and Polygraphy's runner; no TensorRT can be installed
where stylert is developed, so this has not run: the backends' self-check (selfcheck.py)
runs the package's reference probe through it before any pipeline trusts it. The control
flow is tested with a stand-in for TensorRT and CuPy (tests/test_tensorrt_runner.py).
"""

from __future__ import annotations

import logging
import time
from typing import Dict, List, Sequence, Tuple

import numpy as np

from ...errors import BackendError
from ..base import Engine
from ..cuda import download, event_factory, upload

log = logging.getLogger("stylert")
Shape = Tuple[int, ...]


def fits(shape: Sequence[int], low: Sequence[int], high: Sequence[int]) -> bool:
    return len(shape) == len(low) and all(lo <= s <= hi for s, lo, hi in zip(shape, low, high))


class TensorRTEngine(Engine):
    backend, device, copies = "tensorrt", "cuda", True

    def __init__(self, data: bytes, trt, cupy, stream, variant: str = "fp32", cuda_graph: bool = False,
                 name: str = "graph"):
        self.trt, self.cupy, self.stream, self.variant, self.name = trt, cupy, stream, variant, name
        self.engine_mb, self.setup_s, self.enqueue_ns = len(data) / 2**20, 0.0, []  # for `stylert bench`
        self.runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = self.runtime.deserialize_cuda_engine(data)
        if self.engine is None:
            raise BackendError(f"TensorRT could not load the {name} engine (built by another TensorRT version or "
                               f"for another GPU?): remove it from the engine cache to rebuild it")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.outputs = [n for n in names if n not in self.inputs]
        # each tensor's own type (AdaIN's frames are uint8, features float32): buffers follow it
        self.dtypes = {n: np.dtype(trt.nptype(self.engine.get_tensor_dtype(n))) for n in names}
        # per profile: {input: (min, max)}
        self.profiles: List[Dict[str, Tuple[Shape, Shape]]] = [
            {n: (tuple(lo), tuple(hi)) for n in self.inputs
             for lo, _, hi in [self.engine.get_tensor_profile_shape(n, p)]}
            for p in range(self.engine.num_optimization_profiles)]
        self.active: Dict[int, int] = {}  # the optimization profile set on each context (by id)
        self.cuda_graph = cuda_graph
        self._outputs: Dict[Shape, object] = {}  # the output buffer per output shape, reused
        self._graphs: Dict[Tuple, Tuple] = {}  # input shapes -> (graph, its inputs, its output, its context)

    def profile_for(self, shapes: Dict[str, Shape]) -> int:
        """The first optimization profile whose min..max holds every input shape."""
        for p, ranges in enumerate(self.profiles):
            if all(fits(shapes[n], *ranges[n]) for n in self.inputs):
                return p
        have = "; ".join(", ".join(f"{n} {lo}..{hi}" for n, (lo, hi) in r.items()) for r in self.profiles)
        raise BackendError(f"no TensorRT profile of {self.name} takes {shapes} (profiles: {have}): rebuild with "
                           f"`stylert build PKG --shapes ...` covering this size")

    def _device(self, name: str, value):
        """A contiguous device array of the input's type (host arrays are copied up)."""
        return self.cupy.ascontiguousarray(self.cupy.asarray(value), dtype=self.dtypes[name])

    def _output(self, shape: Shape):
        if shape not in self._outputs:
            self._outputs[shape] = self.cupy.empty(shape, dtype=self.dtypes[self.outputs[0]])
        return self._outputs[shape]

    def _bind(self, context, arrays: Dict[str, object]) -> object:
        """Binds ``arrays`` to ``context`` (its profile switched when the shapes need another)
        and returns the output buffer it will write."""
        shapes = {n: tuple(arrays[n].shape) for n in self.inputs}
        p = self.profile_for(shapes)
        if p != self.active.get(id(context)):
            context.set_optimization_profile_async(p, self.stream.ptr)
            self.active[id(context)] = p
        for n in self.inputs:
            context.set_input_shape(n, shapes[n])
            context.set_tensor_address(n, arrays[n].data.ptr)
        out = self._output(tuple(context.get_tensor_shape(self.outputs[0])))
        context.set_tensor_address(self.outputs[0], out.data.ptr)
        return out

    def _execute(self, context) -> None:
        if not context.execute_async_v3(self.stream.ptr):
            raise BackendError(f"TensorRT failed to run {self.name} (see its log above)")

    def run_native(self, feeds: Dict[str, object]):
        with self.stream:  # copies on the engine's stream (not the legacy default one): ordered before its run
            arrays = {n: self._device(n, feeds[n]) for n in self.inputs}
        if not self.cuda_graph:
            out = self._bind(self.context, arrays)
            t0 = time.perf_counter_ns()
            self._execute(self.context)
            self.enqueue_ns.append(time.perf_counter_ns() - t0)  # host time to enqueue (trtexec's "enqueue")
            return out
        key = tuple(tuple(a.shape) for a in arrays.values())
        if key not in self._graphs:
            # A captured graph replays the state its context had at capture (shapes, addresses,
            # profile), so each shape gets a context of its own, kept with its graph, and fixed
            # input and output buffers.
            context = self.engine.create_execution_context()
            with self.stream:
                fixed = {n: a.copy() for n, a in arrays.items()}
            out = self._bind(context, fixed)
            self._execute(context)  # TensorRT wants one run before capture
            self.stream.begin_capture()
            try:
                self._execute(context)
            finally:
                graph = self.stream.end_capture()
            self._graphs[key] = (graph, fixed, out, context)
        graph, fixed, out, _ = self._graphs[key]
        with self.stream:
            for n in self.inputs:
                fixed[n][...] = arrays[n]  # on the stream, before the replay
        t0 = time.perf_counter_ns()
        graph.launch(self.stream)
        self.enqueue_ns.append(time.perf_counter_ns() - t0)
        return out

    def info(self):
        enqueue = float(np.median(self.enqueue_ns)) / 1e6 if self.enqueue_ns else 0.0
        return {"engine_mb": self.engine_mb, "setup_s": self.setup_s, "enqueue_median_ms": enqueue,
                "cuda_graph": float(self.cuda_graph)}

    def event(self):
        return event_factory(self.cupy, self.stream)

    def to_device(self, array):
        return upload(self.cupy, self.stream, array)

    def to_host(self, array):
        return download(self.cupy, self.stream, array)
