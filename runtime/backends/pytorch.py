"""The torch backend: the PyTorch modules a package was exported from (the reference; CUDA
when torch sees a GPU). Only when torch is installed, and looked up, never imported, until
it is used."""

from __future__ import annotations

import contextlib
import importlib.util
from typing import Dict, List

import numpy as np

from .base import Backend, Engine
from .cuda import tf32_allowed


@contextlib.contextmanager
def fp32_math(torch, allow_tf32: bool):
    """cuDNN convolutions and matrix products with or without TF32 (PyTorch allows TF32
    convolutions by default), for one run, then restored. PyTorch >= 2.9 refuses to mix its
    legacy allow_tf32 flags with the fp32_precision settings: the new ones when present."""
    conv = getattr(torch.backends.cudnn, "conv", None)
    if conv is not None and hasattr(conv, "fp32_precision"):
        places, value = [(conv, "fp32_precision"), (torch.backends.cuda.matmul, "fp32_precision")], \
            "tf32" if allow_tf32 else "ieee"
    else:
        places, value = [(torch.backends.cudnn, "allow_tf32"), (torch.backends.cuda.matmul, "allow_tf32")], allow_tf32
    saved = [getattr(owner, name) for owner, name in places]
    for owner, name in places:
        setattr(owner, name, value)
    try:
        yield
    finally:
        for (owner, name), old in zip(places, saved):
            setattr(owner, name, old)


class TorchEngine(Engine):
    """The PyTorch module a graph was exported from (input order as the graph's). On a GPU
    its outputs stay CUDA tensors until ``to_host``; on the CPU they are numpy views."""

    def __init__(self, module, input_names: List[str], device: str):
        self.module, self.input_names, self.device = module, input_names, device
        self.backend = "torch" if device == "cpu" else "torch-cuda"
        self.variant = "fp32"  # the reference weights, whatever precision was asked
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

        with torch.inference_mode(), fp32_math(torch, tf32_allowed(self.variant)):
            out = self.module(*[self.to_device(feeds[n]) for n in self.input_names])
            out = out.float() if out.is_floating_point() else out  # uint8 frames stay uint8
        return out.numpy() if self.device == "cpu" else out


def probe() -> str:
    # Looked up, not imported: importing torch costs about a second and 190 MB of memory,
    # which every run would pay although torch comes last in the chain.
    try:
        found = importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):  # ValueError: hidden as sys.modules["torch"] = None
        found = False
    return "" if found else "torch is not installed (pip install 'stylert[export]')"


def open_graphs(pkg, names: List[str], precision: str, spin: bool = True) -> Dict[str, Engine]:
    import torch

    from stylert.export.models import load, modules

    device = "cuda" if torch.cuda.is_available() else "cpu"
    mods = modules(pkg.kind, load(pkg.kind, pkg.torch_weights()).to(device))
    return {n: TorchEngine(mods[n], [i["name"] for i in pkg.graphs[n]["inputs"]], device) for n in names}


def _version() -> str:
    import torch

    return torch.__version__


BACKENDS = [Backend("torch", probe, open_graphs, runs=lambda precision: "fp32", version=_version)]
