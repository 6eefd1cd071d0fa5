"""Fused AdaIN normalization (Huang & Belongie 2017) on the CPU and on CUDA devices.

    AdaIN(x, y) = std(y) * (x - mean(x)) / std(x) + mean(y)

with statistics per (n, c) over H x W. The kernels make one pass over each channel for
its statistics and one pass that writes ``a * x + b``; the content/style trade-off
``alpha`` (t = alpha * AdaIN + (1 - alpha) * x) is folded into ``a`` and ``b``.

Conventions
-----------
* Arrays: ``(N, C, H, W)`` or ``(C, HW)``, float32 or float16 (float16 is stored as
  float16 but all math is float32; sums are float64). Statistics are float32, shape
  ``(N, C)`` for 4-D input and ``(C,)`` for 2-D input.
* Standard deviation: ``std = sqrt(var + eps)`` with ``unbiased=True`` (variance divided by
  n - 1, the default, as the reference PyTorch AdaIN computes it for content and style)
  or ``unbiased=False`` (divided by n, as the original Torch AdaIN's instance norm does;
  that implementation also used eps=0 for the style). A channel of one element (or a mask
  region of less than two effective pixels) has variance 0, not NaN as in PyTorch.
* Zero-variance channels: std is sqrt(eps); with ``eps=0`` the channel normalizes to 0,
  so the output is the style mean. Never inf.
* Non-finite values propagate: a channel holding NaN or +-inf gets NaN statistics and a
  NaN output; other channels are unaffected. Check ``np.isfinite(mean)`` where needed.
* Style statistics broadcast: shape ``(C,)``, ``(1, C)`` or ``(1, C, 1, 1)`` applies one
  style to the whole batch; ``(N, C)`` or ``(N, C, 1, 1)`` gives each sample its own.
* Non-contiguous numpy inputs are copied to contiguous memory first; ``out`` must be
  C-contiguous and may be the content itself (in place). CUDA arrays must be contiguous.
* CUDA: any array with ``__cuda_array_interface__`` from CuPy or PyTorch runs on the
  device it lives on, in the library's current stream unless ``stream`` is given;
  results are arrays of the same library.
"""

from __future__ import annotations

import contextlib
import math
import os
from typing import Any, Sequence

import numpy as np

from . import _adain

DEFAULT_EPS = 1e-5

__all__ = [
    "DEFAULT_EPS",
    "adain",
    "adain_masked",
    "channel_stats",
    "cuda_available",
    "get_num_threads",
    "mix_stats",
    "set_num_threads",
]

_DTYPES = {np.dtype(np.float32): 0, np.dtype(np.float16): 1}


# --------------------------------------------------------------------------- arrays


class _CudaArray:
    """A device array seen through __cuda_array_interface__, with its library's helpers."""

    def __init__(self, obj: Any, name: str):
        cai = obj.__cuda_array_interface__
        self.obj = obj
        self.shape = tuple(int(s) for s in cai["shape"])
        self.dtype = np.dtype(cai["typestr"])
        self.ptr = int(cai["data"][0])
        self.readonly = bool(cai["data"][1])
        # v3: the stream the producer's work on it was queued on (None: nothing pending)
        self.producer = cai.get("stream")
        strides = cai.get("strides")
        if strides is not None and tuple(strides) != _c_strides(self.shape, self.dtype):
            raise ValueError(
                f"{name} is a non-contiguous CUDA array: make it contiguous first "
                f"(torch: x.contiguous(), CuPy: cupy.ascontiguousarray(x))"
            )
        module = type(obj).__module__.split(".")[0]
        if module not in ("torch", "cupy"):
            raise TypeError(
                f"{name} is a CUDA array from '{module}': stylert handles CuPy arrays and "
                f"torch CUDA tensors; convert it with cupy.asarray(x)"
            )
        self.lib = module

    def new(self, shape: tuple, dtype=np.float32):
        if self.lib == "torch":
            import torch

            return self.obj.new_empty(shape, dtype=getattr(torch, np.dtype(dtype).name))
        import cupy

        with self.obj.device:
            return cupy.empty(shape, dtype=dtype)

    def upload(self, host: np.ndarray):
        """A device copy of a host array, on this array's device."""
        if self.lib == "torch":
            import torch

            return torch.as_tensor(host, device=self.obj.device)
        import cupy

        with self.obj.device:
            return cupy.asarray(host)

    def float32(self, other):
        """`other` (a device array of this library) as contiguous float32."""
        if self.lib == "torch":
            import torch

            return other.to(torch.float32).contiguous()
        import cupy

        return cupy.ascontiguousarray(other, dtype=np.float32)

    def device(self):
        if self.lib == "torch":
            import torch

            return torch.cuda.device(self.obj.device)
        return self.obj.device

    def stream(self, stream) -> int:
        if stream is not None:
            for attr in ("ptr", "cuda_stream"):
                if hasattr(stream, attr):
                    return int(getattr(stream, attr))
            return int(stream)
        if self.lib == "torch":
            import torch

            return int(torch.cuda.current_stream(self.obj.device).cuda_stream)
        import cupy

        with self.obj.device:
            return int(cupy.cuda.get_current_stream().ptr)


    def current(self, ptr: int):
        """``ptr`` as the library's current stream: the call's temporaries are allocated
        and filled on the stream its kernel runs on, so they are ready before it and go
        back to the pool behind it."""
        if self.lib == "torch":
            import torch

            return torch.cuda.stream(torch.cuda.ExternalStream(ptr, device=self.obj.device))
        import cupy

        return cupy.cuda.ExternalStream(ptr)

    def wait_for_producer(self, ptr: int) -> None:
        """Orders stream ``ptr`` after the work the array's producer queued on its stream
        (__cuda_array_interface__ v3 "stream": the consumer must wait for it)."""
        if self.producer is None or int(self.producer) == ptr:
            return
        if self.lib == "torch":
            import torch

            event = torch.cuda.Event()
            event.record(torch.cuda.ExternalStream(int(self.producer), device=self.obj.device))
            torch.cuda.ExternalStream(ptr, device=self.obj.device).wait_event(event)
            return
        import cupy

        event = cupy.cuda.Event(disable_timing=True)
        event.record(cupy.cuda.ExternalStream(int(self.producer)))
        cupy.cuda.ExternalStream(ptr).wait_event(event)


@contextlib.contextmanager
def _launching(cuda: "_CudaArray", stream):
    """The stream a CUDA call launches on (``stream``, else the library's current one), made
    current on the content's device while the call prepares its arguments."""
    ptr = cuda.stream(stream)
    with cuda.device(), cuda.current(ptr):
        yield ptr


def _ordered(ptr: int, *arrays) -> None:
    """The launch stream waits for every device argument's producer."""
    for a in arrays:
        a.wait_for_producer(ptr)


def _c_strides(shape: tuple, dtype: np.dtype) -> tuple:
    strides, step = [], dtype.itemsize
    for s in reversed(shape):
        strides.append(step)
        step *= max(s, 1)
    return tuple(reversed(strides))


def _is_cuda(x: Any) -> bool:
    return not isinstance(x, np.ndarray) and hasattr(x, "__cuda_array_interface__")


def _content(x: Any, name: str = "content"):
    """Checks the content array; returns (array or _CudaArray, N, C, rows, len)."""
    if isinstance(x, np.ndarray):
        arr: Any = x if x.dtype.isnative else x.astype(x.dtype.newbyteorder("="))
        shape, dtype = arr.shape, arr.dtype
    elif _is_cuda(x):
        arr = _CudaArray(x, name)
        shape, dtype = arr.shape, arr.dtype
    else:
        raise TypeError(
            f"{name} must be a numpy array or a CUDA array (CuPy, torch), got "
            f"{type(x).__name__}; for a torch CPU tensor pass t.numpy()"
        )
    if dtype not in _DTYPES:
        raise TypeError(
            f"{name} has dtype {dtype}; the kernels take float32 or float16: "
            f"convert with x.astype(np.float32)"
        )
    if len(shape) == 4:
        n, c, h, w = shape
        length = h * w
    elif len(shape) == 2:
        n, (c, length) = 1, shape
    else:
        raise ValueError(
            f"{name} must be 4-D (N, C, H, W) or 2-D (C, HW), got shape {tuple(shape)}; "
            f"add a batch axis with x[None]"
        )
    if n * c * length == 0:
        raise ValueError(f"{name} is empty (shape {tuple(shape)})")
    if isinstance(arr, np.ndarray):
        arr = np.ascontiguousarray(arr)
    return arr, n, c, n * c, length


def _stats(v: Any, n: int, c: int, name: str, cuda: _CudaArray | None):
    """A statistics argument as a flat float32 vector of length C or N*C."""
    if cuda is not None and _is_cuda(v):
        shape = tuple(int(s) for s in v.__cuda_array_interface__["shape"])
    else:
        v = np.asarray(v, dtype=np.float32)
        shape = v.shape
    squeezed = tuple(s for s in shape if s != 1)
    per_batch = tuple(s for s in (n, c) if s != 1)
    shared = tuple(s for s in (c,) if s != 1)
    if squeezed not in (shared, per_batch):
        raise ValueError(
            f"{name} has shape {shape}; expected ({c},) or (1, {c}) for one style, or "
            f"({n}, {c}) per sample (a trailing (1, 1) is allowed)"
        )
    size = int(np.prod(shape)) if shape else 1
    if cuda is None:
        return np.ascontiguousarray(v.reshape(size))
    if _is_cuda(v):
        return cuda.float32(v.reshape(size))
    return cuda.upload(np.ascontiguousarray(v.reshape(size)))


def _check_std(std: Any, name: str) -> None:
    if not _is_cuda(std) and np.any(np.asarray(std, dtype=np.float32) < 0):
        raise ValueError(f"{name} has negative values; a standard deviation is >= 0")


def _scalar(value: float, name: str, low: float, high: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {value!r}") from None
    if not (low <= v <= high) or math.isnan(v):
        raise ValueError(f"{name} must be in [{low}, {high}], got {value!r}")
    return v


def _out(out: Any, content: Any, arr: Any, name: str = "out"):
    """Allocates or checks the output; `arr` is the validated content."""
    if isinstance(arr, _CudaArray):
        if out is None:
            return arr.new(arr.shape, arr.dtype), None
        if not _is_cuda(out):
            raise TypeError(f"{name} must be a CUDA array like the content")
        o = _CudaArray(out, name)
        if o.shape != arr.shape or o.dtype != arr.dtype:
            raise ValueError(f"{name} must have the content's shape {arr.shape} and dtype {arr.dtype}")
        if o.readonly:
            raise ValueError(f"{name} is read-only")
        return out, o
    if out is None:
        return np.empty_like(arr), None
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a numpy array for numpy content, got {type(out).__name__}")
    if out.shape != arr.shape or out.dtype != arr.dtype:
        raise ValueError(
            f"{name} has shape {out.shape} and dtype {out.dtype}; expected the content's "
            f"shape {arr.shape} and dtype {arr.dtype}"
        )
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError(f"{name} must be a writeable C-contiguous array")
    same = out.__array_interface__["data"][0] == arr.__array_interface__["data"][0]
    if not same and np.may_share_memory(out, content):
        raise ValueError(
            f"{name} partially overlaps the content: pass out=content for in place, "
            f"or a separate array"
        )
    return out, None


# --------------------------------------------------------------------------- API


def channel_stats(x: Any, *, unbiased: bool = True, eps: float = DEFAULT_EPS, stream=None):
    """Per-channel mean and std of ``x`` (see the module conventions).

    Returns ``(mean, std)``, float32, shape (N, C) for 4-D input or (C,) for 2-D input,
    on the device of ``x``.
    """
    arr, n, c, rows, length = _content(x, "x")
    eps = _scalar(eps, "eps", 0.0, math.inf)
    out_shape = (n, c) if len(arr.shape) == 4 else (c,)
    if isinstance(arr, np.ndarray):
        mean, std = _adain.channel_stats(arr.reshape(rows, length), bool(unbiased), eps)
        return mean.reshape(out_shape), std.reshape(out_shape)
    with _launching(arr, stream) as ptr:
        mean, std = arr.new(out_shape), arr.new(out_shape)
        m, s = _CudaArray(mean, "mean"), _CudaArray(std, "std")
        _ordered(ptr, arr)
        _adain.cuda_channel_stats(
            _DTYPES[arr.dtype], arr.ptr, rows, length, bool(unbiased), eps, m.ptr, s.ptr, ptr,
        )
    return mean, std


def adain(
    content: Any,
    style_mean: Any,
    style_std: Any,
    *,
    alpha: float = 1.0,
    eps: float = DEFAULT_EPS,
    unbiased: bool = True,
    out: Any = None,
    stream=None,
):
    """AdaIN of ``content`` towards the given style statistics, blended by ``alpha``.

    ``style_mean``/``style_std`` come from :func:`channel_stats` of the style features
    (or :func:`mix_stats` of several). ``out=content`` works in place. Returns ``out``.
    """
    arr, n, c, rows, length = _content(content)
    alpha = _scalar(alpha, "alpha", 0.0, 1.0)
    eps = _scalar(eps, "eps", 0.0, math.inf)
    if not isinstance(arr, _CudaArray):
        mean = _stats(style_mean, n, c, "style_mean", None)
        std = _stats(style_std, n, c, "style_std", None)
        _check_std(std, "style_std")
        result, _ = _out(out, content, arr)
        _adain.adain(
            arr.reshape(rows, length), result.reshape(rows, length), mean, std, alpha,
            bool(unbiased), eps,
        )
        return result
    _check_std(style_std, "style_std")
    with _launching(arr, stream) as ptr:
        mean = _CudaArray(_stats(style_mean, n, c, "style_mean", arr), "style_mean")
        std = _CudaArray(_stats(style_std, n, c, "style_std", arr), "style_std")
        result, o = _out(out, content, arr)
        o = o or _CudaArray(result, "out")
        _ordered(ptr, arr, mean, std, o)
        _adain.cuda_adain(
            _DTYPES[arr.dtype], arr.ptr, o.ptr, rows, length, mean.ptr, std.ptr,
            _len(mean), alpha, bool(unbiased), eps, ptr,
        )
    return result


def adain_masked(
    content: Any,
    mask: Any,
    fg_mean: Any,
    fg_std: Any,
    bg_mean: Any,
    bg_std: Any,
    *,
    alpha: float = 1.0,
    eps: float = DEFAULT_EPS,
    unbiased: bool = True,
    out: Any = None,
    stream=None,
):
    """Two styles at once: the foreground style where ``mask`` is 1, the background style
    where it is 0, each region normalized by its own content statistics.

    ``mask`` has the feature map's spatial size: (H, W), (N, H, W) or (N, 1, H, W) for
    NCHW content, (HW,) for (C, HW) content. bool masks are 0/1, uint8 masks are scaled
    by 1/255, float masks must lie in [0, 1]. Soft masks weight both the statistics and
    the blend, so a binary mask gives exactly the per-region AdaIN.
    """
    arr, n, c, rows, length = _content(content)
    alpha = _scalar(alpha, "alpha", 0.0, 1.0)
    eps = _scalar(eps, "eps", 0.0, math.inf)
    named = ((fg_mean, "fg_mean"), (fg_std, "fg_std"), (bg_mean, "bg_mean"), (bg_std, "bg_std"))
    if not isinstance(arr, _CudaArray):
        m = _mask(mask, arr.shape, n, None)
        stats = [_stats(v, n, c, nm, None) for v, nm in named]
        _check_std(stats[1], "fg_std")
        _check_std(stats[3], "bg_std")
        result, _ = _out(out, content, arr)
        _adain.adain_masked(
            arr.reshape(rows, length), result.reshape(rows, length), m, *stats, alpha,
            bool(unbiased), eps,
        )
        return result
    _check_std(fg_std, "fg_std")
    _check_std(bg_std, "bg_std")
    with _launching(arr, stream) as ptr:
        m = _CudaArray(_mask(mask, arr.shape, n, arr), "mask")
        fm, fs, bm, bs = (_CudaArray(_stats(v, n, c, nm, arr), nm) for v, nm in named)
        result, o = _out(out, content, arr)
        o = o or _CudaArray(result, "out")
        _ordered(ptr, arr, m, fm, fs, bm, bs, o)
        _adain.cuda_adain_masked(
            _DTYPES[arr.dtype], arr.ptr, o.ptr, rows, length, m.ptr, _len(m) // length,
            fm.ptr, fs.ptr, _len(fm), bm.ptr, bs.ptr, _len(bm), alpha, bool(unbiased), eps, ptr,
        )
    return result


def _len(a: Any) -> int:
    return int(np.prod(a.shape))


def _mask(mask: Any, shape: tuple, n: int, cuda: _CudaArray | None):
    """The mask as float32 (M, len) with M = 1 (shared) or N (per sample)."""
    if len(shape) == 4:
        h, w = shape[2], shape[3]
        allowed = {(h, w): 1, (1, h, w): 1, (1, 1, h, w): 1, (n, h, w): n, (n, 1, h, w): n}
        size_text = f"{h}x{w} (H x W)"
    else:
        h, w = 1, shape[1]
        allowed = {(w,): 1, (1, w): 1}
        size_text = f"{w} (HW)"
    if cuda is not None and _is_cuda(mask):
        mshape = tuple(int(s) for s in mask.__cuda_array_interface__["shape"])
    else:
        if not isinstance(mask, np.ndarray):
            raise TypeError(f"mask must be a numpy array, got {type(mask).__name__}")
        mshape = mask.shape
    if mshape not in allowed:
        raise ValueError(
            f"mask has shape {mshape} but the features are {size_text}: resize the mask "
            f"to the feature size, e.g. cv2.resize(mask, ({w}, {h}), "
            f"interpolation=cv2.INTER_AREA)"
        )
    rows = allowed[mshape]
    if cuda is not None and _is_cuda(mask):
        return cuda.float32(mask.reshape(rows, h * w))
    if mask.dtype == np.bool_:
        m = mask.astype(np.float32)
    elif mask.dtype == np.uint8:
        m = mask.astype(np.float32) / 255.0
    elif mask.dtype.kind == "f":
        m = mask.astype(np.float32)
        if m.size and not (m.min() >= 0.0 and m.max() <= 1.0):
            raise ValueError("mask values must lie in [0, 1] (and not be NaN)")
    else:
        raise TypeError(f"mask has dtype {mask.dtype}; use bool, uint8 (0-255) or float in [0, 1]")
    m = np.ascontiguousarray(m.reshape(rows, h * w))
    return m if cuda is None else cuda.upload(m)


def mix_stats(means: Sequence[Any], stds: Sequence[Any], weights: Sequence[float]):
    """Style interpolation: the statistics of ``sum_i w_i * AdaIN(x, style_i)``.

    AdaIN is affine in the style's mean and std, so with weights normalized to sum to 1,
    ``AdaIN(x, mix_stats(...))`` equals the weighted sum of the single-style results
    (reference PyTorch AdaIN's interpolation) at the cost of one AdaIN.
    """
    if not (len(means) == len(stds) == len(weights)) or not means:
        raise ValueError("mix_stats needs as many means, stds and weights, at least one")
    w = [_scalar(x, "weight", 0.0, math.inf) for x in weights]
    if any(math.isinf(x) for x in w):
        raise ValueError(f"style weights must be finite, got {list(weights)}")
    top = max(w)
    if top <= 0.0:
        raise ValueError("style weights must not all be 0")
    w = [x / top for x in w]  # scaled by the largest first: finite weights cannot overflow their sum
    total = sum(w)
    shape = means[0].shape
    for m, s in zip(means, stds):
        if m.shape != shape or s.shape != shape:
            raise ValueError("all style statistics must have the same shape")
    mean = sum((wi / total) * m for wi, m in zip(w, means))
    std = sum((wi / total) * s for wi, s in zip(w, stds))
    if isinstance(mean, np.ndarray):
        mean, std = mean.astype(np.float32), std.astype(np.float32)
    return mean, std


def max_threads() -> int:
    """The most threads set_num_threads takes: 4 per core, at least 64 (more only oversubscribe,
    and far more cannot be created where address space is limited: the next parallel call
    would crash the process)."""
    return max(64, 4 * (os.cpu_count() or 1))


def set_num_threads(n: int) -> None:
    """Threads for the CPU kernels (0: OpenMP's default, all cores or OMP_NUM_THREADS)."""
    n = int(n)
    if not 0 <= n <= max_threads():
        raise ValueError(f"number of threads must be in 0..{max_threads()} (0: OpenMP's default), got {n}")
    _adain.set_num_threads(n)


def get_num_threads() -> int:
    return _adain.get_num_threads()


def cuda_available() -> bool:
    """True when the extension has CUDA kernels and a CUDA device is usable."""
    return bool(_adain.cuda_compiled()) and _adain.cuda_device_count() > 0
