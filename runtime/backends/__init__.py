"""Backends: one small interface (base.Engine) over the runtimes that run a package's graphs,
and the registry that picks one. Each backend module lists its ``BACKENDS`` (name, a silent
cached probe, an opener); the registry holds them in ``auto`` order:

1. tensorrt              engines from ``stylert build``, run by the TensorRT Python API on CuPy buffers
2. onnxruntime-tensorrt  ONNX Runtime's TensorRT provider (engine cache, explicit profiles)
3. onnxruntime-cuda      ONNX Runtime's CUDA provider, I/O binding on the device (with CuPy)
4. onnxruntime-cpu       ONNX Runtime on the CPU, all graph optimizations, threads = cores
5. torch                 the PyTorch modules from the package's model.pt (the reference; CUDA
                         when torch sees a GPU), only when torch is installed

Each is probed silently, and every backend that opens a package first passes its self-check
(selfcheck.py) on the package's saved reference probe.

``onnxruntime`` means the best working ONNX Runtime provider. A new backend is one module
with its ``BACKENDS`` list, added to ``REGISTRY`` below.
"""

from __future__ import annotations

import functools
from typing import Dict, List, Optional, Tuple

from ..errors import BackendError, PackageError, StylertError, TensorRTError
from ..package import Package
from . import onnxrt, pytorch, selfcheck, tensorrt
from .base import Backend, Choice, Engine

__all__ = ["AUTO_ORDER", "BACKENDS", "Backend", "BackendError", "Choice", "Engine", "REGISTRY", "choose",
           "open_engines", "reasons"]

REGISTRY: Dict[str, Backend] = {b.name: b for m in (tensorrt, onnxrt, pytorch) for b in m.BACKENDS}
AUTO_ORDER = tuple(REGISTRY)
BACKENDS = ("auto", "tensorrt", "onnxruntime", *(b for b in AUTO_ORDER if b != "tensorrt"))


def _group(backend: str) -> Tuple[str, ...]:
    """The backends a name stands for, in the order they are tried."""
    if backend == "auto":
        return tuple(REGISTRY)
    if backend == "onnxruntime":
        return ("onnxruntime-tensorrt", "onnxruntime-cuda", "onnxruntime-cpu")
    return (backend,)


@functools.lru_cache(maxsize=None)
def _probe(name: str) -> str:
    return REGISTRY[name].probe()


def reasons() -> Dict[str, str]:
    """Backend -> '' when it can run here, else why not (probed once per process)."""
    return {name: _probe(name) for name in REGISTRY}


def choose(backend: str = "auto") -> Tuple[str, str]:
    """(backend to use, why faster ones were skipped: '' when none was), by the probes alone
    (open_engines also runs the self-check)."""
    order = _candidates(backend)
    why = reasons()
    chosen = next(b for b in order if not why[b])
    skipped = [f"{b}: {why[b]}" for b in order[:order.index(chosen)]]
    return chosen, ("skipped " + "; ".join(skipped)) if skipped else ""


def _candidates(backend: str) -> Tuple[str, ...]:
    if backend not in BACKENDS and backend not in REGISTRY:
        raise BackendError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    order = _group(backend)
    why = reasons()
    if len(order) == 1 and why[backend]:
        raise BackendError(f"backend {backend} is not available here: {why[backend]}; use --backend auto")
    return order


PRECISIONS = ("auto", "fp32", "fp16", "int8")


def _precision(pkg: Package, names: List[str], entry: Backend, precision: str) -> Tuple[str, str]:
    """(the precision to open, why when it was picked): "auto" is the fastest variant this
    backend runs that every graph has; an asked variant a graph lacks is an error, never a
    silent substitution."""
    if precision == "auto":
        have = [p for p in entry.fastest if all(p in pkg.graphs[n]["files"] for n in names)]
        if have:
            return have[0], f"{have[0]}: the fastest variant on {entry.name}"
        return "fp32", ""
    if precision not in PRECISIONS:
        raise BackendError(f"unknown precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    missing = [n for n in names if precision not in pkg.graphs[n]["files"]]
    if missing:
        raise PackageError(f"{pkg.path} has no {precision} variant of {', '.join(missing)} (it has "
                           f"{', '.join(pkg.graphs[missing[0]]['files'])}): re-export with --precision "
                           f"fp32,{precision}, or run another --precision")
    return precision, ""


def _backend_failure(e: Exception) -> bool:
    """Whether ``e``, raised by a backend's open, says that backend cannot run the package here
    (BackendError; TensorRTError: TensorRT could not parse or build an engine) rather than that
    the user asked for something wrong (PackageError, UsageError, ...)."""
    return isinstance(e, (BackendError, TensorRTError))


def open_engines(pkg: Package, backend: str = "auto", precision: str = "fp32",
                 graphs: Optional[List[str]] = None, spin: bool = True,
                 unverified: bool = False, cuda_graphs: Optional[bool] = None) -> Tuple[Dict[str, Engine], Choice]:
    """({graph: engine}, the choice) for the package's graphs (or those named): the first
    backend of ``backend``'s order that is available here and passes its self-check on the
    package's reference probe (selfcheck.py). ``precision`` "auto" picks each backend's
    fastest variant; ``unverified`` runs a backend named on its own even when it fails the
    check; ``spin``: see onnxrt.session; ``cuda_graphs``: capture CUDA graphs or not on the
    backends that can (None: as STYLERT_CUDA_GRAPHS says)."""
    names = graphs or list(pkg.graphs)
    order, why = _candidates(backend), reasons()
    skipped = []
    for name in order:
        if why[name]:
            skipped.append(f"{name}: {why[name]}")
            continue
        entry = REGISTRY[name]
        mine, picked = _precision(pkg, names, entry, precision)
        try:
            options = {"cuda_graphs": cuda_graphs} if entry.graphs and cuda_graphs is not None else {}
            engines = entry.open(pkg, names, mine, spin, **options)
        except Exception as e:  # a half-installed GPU stack, or a graph it cannot build, must not end an auto run
            if len(order) == 1 or (isinstance(e, StylertError) and not _backend_failure(e)):
                raise  # a named backend fails loudly; so do the user's mistakes (e.g. a broken package)
            said = " ".join(str(e).split())
            skipped.append(f"{name}: {said[:240]}" if _backend_failure(e) else
                           f"{name}: failed to open ({type(e).__name__}: {said[:160]})")
            continue
        verdict = selfcheck.check(pkg, name, entry.version(), engines)
        if not verdict.passed:
            failure = f"{name}: parity check failed, {verdict.detail}"
            if len(order) == 1 and not unverified:
                raise BackendError(f"backend {failure}; use --backend auto, or --unverified to run it anyway")
            if len(order) > 1:
                skipped.append(failure)
                continue
            picked = ", ".join(filter(None, [picked, "unverified: " + verdict.detail]))
        runs = entry.runs(mine)
        if runs != mine:
            picked = f"{runs}: {name} runs the reference weights"
        if any(e.gate == "tf32" for e in engines.values()):
            picked = ", ".join(filter(None, [picked, f"fp32 with TF32 math ({name} cannot turn it off)"]))
        reason = ", ".join(filter(None, [picked, ("skipped " + "; ".join(skipped)) if skipped else ""]))
        return engines, Choice(name, runs, next(iter(engines.values())).device, reason)
    raise BackendError(f"no backend of {backend!r} can run {pkg.path} here: " + "; ".join(skipped))
