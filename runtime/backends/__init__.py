"""Engines: one small interface over the backends that run a package's graphs.

An engine runs one graph: ``run(feeds) -> output`` with numpy arrays in and out, plus its
``backend`` name and ``device``. ``open_engines(pkg, backend)`` picks the backend and
returns one engine per graph, trying in ``auto`` order:

1. tensorrt          engines from ``stylert build`` (runner not written yet: always skipped)
2. onnxruntime-cuda  ONNX Runtime's CUDA provider, when a probe shows it really works
3. onnxruntime-cpu   ONNX Runtime on the CPU, all graph optimizations, threads = cores
4. torch             the PyTorch modules from the package's model.pt (the reference; CUDA
                     when torch sees a GPU), only when torch is installed

``onnxruntime`` means the best working ONNX Runtime provider. The choice is explained in
one line (which backend, and why each faster one was skipped).
"""

from __future__ import annotations

import importlib.util
import logging
import os
from typing import Dict, List, Optional, Tuple

import numpy as np

from . import onnxrt
from .package import Package

log = logging.getLogger("stylert")

BACKENDS = ("auto", "tensorrt", "onnxruntime", "onnxruntime-cuda", "onnxruntime-cpu", "torch")
AUTO_ORDER = ("tensorrt", "onnxruntime-cuda", "onnxruntime-cpu", "torch")


class BackendError(Exception):
    """The asked-for backend cannot run here; the message says why and what to use."""


class Engine:
    """A graph on one backend. ``run`` takes and returns host (numpy) arrays; ``run_native``
    returns the output where the engine made it (a CUDA tensor on a GPU), so a pipeline can
    hand it to the next stage without a round trip through the host."""

    backend = "?"
    device = "cpu"
    copies = False  # whether to_device/to_host move data (else the engine copies inside run)

    def run(self, feeds: Dict[str, np.ndarray]) -> np.ndarray:
        return self.to_host(self.run_native(feeds))

    def run_native(self, feeds: Dict[str, object]) -> object:
        raise NotImplementedError

    def to_device(self, array: np.ndarray) -> object:
        """A host array as this engine's input (the host->device copy on a GPU)."""
        return array

    def to_host(self, array: object) -> np.ndarray:
        """An output of ``run_native`` as a numpy array (the device->host copy on a GPU)."""
        return array

    def event(self):
        """A factory of CUDA timing events on this engine's stream, or None (host clock)."""
        return None


class OnnxRuntimeEngine(Engine):
    def __init__(self, path, provider: str, threads: Optional[int] = None, spin: bool = True):
        self.path = str(path)
        self.session = onnxrt.session(path, provider, threads, spin)
        self.backend = "onnxruntime-cuda" if provider == onnxrt.CUDA else "onnxruntime-cpu"
        self.device = "cuda" if provider == onnxrt.CUDA else "cpu"
        self.input_names = [i.name for i in self.session.get_inputs()]

    def run_native(self, feeds):
        # Host arrays in and out, also with the CUDA provider (no I/O binding yet, see README).
        return self.session.run(None, feeds)[0]


class TorchEngine(Engine):
    """The PyTorch module a graph was exported from (input order as the graph's). On a GPU
    its outputs stay CUDA tensors until ``to_host``; on the CPU they are numpy views."""

    def __init__(self, module, input_names: List[str], device: str):
        self.module, self.input_names, self.device = module, input_names, device
        self.backend = "torch" if device == "cpu" else "torch-cuda"
        self.copies = device != "cpu"

    def to_device(self, array):
        import torch

        if not isinstance(array, np.ndarray):
            return array
        return torch.from_numpy(np.ascontiguousarray(array)).to(self.device, non_blocking=True)

    def to_host(self, array):
        return array if isinstance(array, np.ndarray) else array.cpu().numpy()

    def event(self):
        if self.device == "cpu":
            return None
        import torch

        return lambda: torch.cuda.Event(enable_timing=True)

    def run_native(self, feeds):
        import torch

        with torch.inference_mode():
            out = self.module(*[self.to_device(feeds[n]) for n in self.input_names]).float()
        return out.numpy() if self.device == "cpu" else out


def _torch_reason() -> str:
    # Looked up, not imported: importing torch costs about a second and 190 MB of memory,
    # which every run would pay although torch comes last in the chain.
    try:
        found = importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):  # ValueError: hidden as sys.modules["torch"] = None
        found = False
    return "" if found else "torch is not installed (pip install 'stylert[export]')"


def reasons() -> Dict[str, str]:
    """Backend -> '' when it can run here, else why not (probed once per process)."""
    from .tensorrt import unavailable_reason

    trt = unavailable_reason() or "its engine runner is not written yet"
    cuda = "" if onnxrt.works(onnxrt.CUDA) else "no working CUDA provider"
    return {"tensorrt": trt, "onnxruntime-cuda": cuda, "onnxruntime-cpu": "", "torch": _torch_reason()}


def choose(backend: str = "auto") -> Tuple[str, str]:
    """(backend to use, one line saying what was chosen and why faster ones were skipped)."""
    if backend not in BACKENDS:
        raise BackendError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    why = reasons()
    if backend in ("auto", "onnxruntime"):
        order = AUTO_ORDER if backend == "auto" else ("onnxruntime-cuda", "onnxruntime-cpu")
        chosen = next(b for b in order if not why[b])
        skipped = [f"{b}: {why[b]}" for b in order[:order.index(chosen)]]
        return chosen, f"backend: {chosen}" + (f" (skipped {'; '.join(skipped)})" if skipped else "")
    if why[backend]:
        raise BackendError(f"backend {backend} is not available here: {why[backend]}; use --backend auto")
    return backend, f"backend: {backend}"


def _threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def open_engines(pkg: Package, backend: str = "auto", precision: str = "fp32",
                 graphs: Optional[List[str]] = None, spin: bool = True) -> Tuple[Dict[str, Engine], str]:
    """({graph: engine}, the one-line choice) for the package's graphs (or those named);
    ``spin``: see onnxrt.session."""
    chosen, line = choose(backend)
    names = graphs or list(pkg.graphs)
    if chosen == "torch":
        return _torch_engines(pkg, names), line + ("" if precision == "fp32" else " (fp32: torch runs the reference weights)")
    provider = onnxrt.CUDA if chosen == "onnxruntime-cuda" else onnxrt.CPU
    threads = None if provider == onnxrt.CUDA else _threads()
    engines: Dict[str, Engine] = {}
    for name in names:
        p = pkg.variant(name, precision, cpu=provider == onnxrt.CPU)
        engines[name] = OnnxRuntimeEngine(pkg.onnx(name, p), provider, threads, spin)
    if precision != "fp32":
        line += f", {precision}"
    return engines, line


def open_pipeline(package, kind: str, who: str, backend: str, precision: str,
                  graphs: Optional[List[str]] = None, spin: bool = True) -> Tuple[Package, Dict[str, Engine], str]:
    """What every pipeline's constructor does: the package (the bundled one of ``kind`` when
    None), checked to be of ``kind``, and its engines; the backend line is logged."""
    from .package import PackageError, default_package, load

    pkg = package if isinstance(package, Package) else load(package or default_package(kind))
    if pkg.kind != kind:
        raise PackageError(f"{pkg.path} is a {pkg.kind} package; the {who} needs a {kind} package "
                           f"(stylert export {kind})")
    engines, line = open_engines(pkg, backend, precision, graphs, spin)
    log.info(line)
    return pkg, engines, line


def _torch_engines(pkg: Package, names: List[str]) -> Dict[str, Engine]:
    import torch

    from stylert.export.graphs import modules
    from stylert.export.models import load

    device = "cuda" if torch.cuda.is_available() else "cpu"
    mods = modules(pkg.kind, load(pkg.kind, pkg.torch_weights()).to(device))
    return {n: TorchEngine(mods[n], [i["name"] for i in pkg.graphs[n]["inputs"]], device) for n in names}

