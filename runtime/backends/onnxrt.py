"""The ONNX Runtime backends (CUDA and CPU providers): sessions, quietly, on the providers
that really work here.

onnxruntime-gpu lists the CUDA and TensorRT providers even on a machine without a GPU;
asking for them there prints errors to stderr and a banner to stdout before falling back
to the CPU. So providers are probed once, with the process's output silenced, and only
what works is asked for.
"""

from __future__ import annotations

import contextlib
import functools
import os
from pathlib import Path
from typing import Dict, List, Optional

import onnxruntime as ort

from .base import Backend, Engine

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"


@contextlib.contextmanager
def _silenced():
    """Redirects the process's stdout/stderr file descriptors (C++ logs bypass Python's)."""
    saved = [os.dup(1), os.dup(2)]
    with open(os.devnull, "w") as null:
        try:
            os.dup2(null.fileno(), 1)
            os.dup2(null.fileno(), 2)
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def _options(threads: Optional[int], spin: bool = True) -> ort.SessionOptions:
    so = ort.SessionOptions()
    so.log_severity_level = 3  # errors only
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        so.intra_op_num_threads = threads
    if not spin:  # idle workers sleep instead of spinning (see session())
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return so


# y = Relu(x), x and y float[1], opset 17 (made with onnx.helper; inlined so the runtime
# does not need the onnx package).
_PROBE_MODEL = (b'\x08\x08\x12\x07stylert:7\n\x0c\n\x01x\x12\x01y"\x04Relu\x12\x05probeZ\x0f\n\x01x'
                b'\x12\n\n\x08\x08\x01\x12\x04\n\x02\x08\x01b\x0f\n\x01y\x12\n\n\x08\x08\x01\x12\x04\n\x02'
                b'\x08\x01B\x04\n\x00\x10\x11')


@functools.lru_cache(maxsize=None)
def works(provider: str) -> bool:
    """Whether a session on ``provider`` really runs here (not only whether it is listed)."""
    if provider == CPU:
        return True
    if provider not in ort.get_available_providers():
        return False
    try:
        with _silenced():
            s = ort.InferenceSession(_PROBE_MODEL, _options(1), providers=[provider, CPU])
        return s.get_providers()[0] == provider
    except Exception:  # a provider that fails to load is one that does not work
        return False


def working_providers() -> List[str]:
    """The providers to offer, best first (TensorRT's provider is left to the tensorrt backend)."""
    return [p for p in (CUDA, CPU) if works(p)]


def session(path: Path | str, provider: str = CPU, threads: Optional[int] = None,
            spin: bool = True) -> ort.InferenceSession:
    """``spin=False`` for sessions that take turns with other work on the CPU: a spinning
    pool keeps the cores busy after its run, slowing whatever runs next (the Stylizer's
    encoder -> AdaIN -> decoder: 77 vs 42 ms per 320x240 frame on 2 cores)."""
    providers = [provider] if provider == CPU else [provider, CPU]
    return ort.InferenceSession(str(path), _options(threads, spin), providers=providers)


class OnnxRuntimeEngine(Engine):
    def __init__(self, path, provider: str, threads: Optional[int] = None, spin: bool = True,
                 variant: str = "fp32"):
        self.path, self.variant = str(path), variant
        self.session = session(path, provider, threads, spin)
        self.backend = "onnxruntime-cuda" if provider == CUDA else "onnxruntime-cpu"
        self.device = "cuda" if provider == CUDA else "cpu"

    def run_native(self, feeds):
        # Host arrays in and out, also with the CUDA provider (no I/O binding yet, see README).
        return self.session.run(None, feeds)[0]


def threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _opener(provider: str):
    def open_graphs(pkg, names: List[str], precision: str, spin: bool = True) -> Dict[str, Engine]:
        cpu = provider == CPU
        engines = {}
        for name in names:
            variant = pkg.variant(name, precision, cpu=cpu)
            engines[name] = OnnxRuntimeEngine(pkg.onnx(name, variant), provider, threads() if cpu else None, spin,
                                              variant)
        return engines
    return open_graphs


BACKENDS = [
    Backend("onnxruntime-cuda", lambda: "" if works(CUDA) else "no working CUDA provider", _opener(CUDA),
            fastest=("fp16",), version=lambda: ort.__version__),
    Backend("onnxruntime-cpu", lambda: "", _opener(CPU), fastest=("int8",), version=lambda: ort.__version__),
]
