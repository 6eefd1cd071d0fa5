"""TF32 emulated on the CPU, as cuDNN and cuBLAS compute on Ampere and later GPUs when
PyTorch allows it (PyTorch's notes "TensorFloat-32 (TF32) on Ampere (and later) devices";
TensorRT's BuilderFlag.TF32 and ONNX Runtime's CUDA provider's use_tf32 work the same way):
the inputs of each convolution or matrix product rounded to a 10-bit mantissa, products
accumulated in float32. PyTorch allows it for convolutions by default and not for matrix
products: the emulation follows the active setting, so code that turns TF32 off for its
run is seen doing so."""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F


def to_tf32(x: torch.Tensor) -> torch.Tensor:
    """float32 rounded to TF32's 10-bit mantissa (round to nearest, ties away)."""
    if x.dtype != torch.float32:
        return x
    bits = x.contiguous().view(torch.int32)
    return ((bits + 0x1000) & -0x2000).view(torch.float32)


def _allowed(kind: str) -> bool:
    conv = getattr(torch.backends.cudnn, "conv", None)
    if conv is not None and hasattr(conv, "fp32_precision"):
        place = conv if kind == "conv" else torch.backends.cuda.matmul
        return place.fp32_precision == "tf32"
    return torch.backends.cudnn.allow_tf32 if kind == "conv" else torch.backends.cuda.matmul.allow_tf32


@contextlib.contextmanager
def emulated(monkeypatch):
    """While active, F.conv2d / conv_transpose2d / linear compute as a TF32 GPU would."""
    def wrap(fn, kind):
        def tf32(input, weight, *args, **kwargs):
            if _allowed(kind):
                input, weight = to_tf32(input), to_tf32(weight)
            return fn(input, weight, *args, **kwargs)
        return tf32

    for name, kind in (("conv2d", "conv"), ("conv_transpose2d", "conv"), ("linear", "matmul")):
        monkeypatch.setattr(F, name, wrap(getattr(F, name), kind))
    yield
