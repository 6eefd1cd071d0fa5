"""`stylert bench kernel`: the fused AdaIN kernel alone, against numpy and (when installed)
the PyTorch composite, on relu4_1-sized features."""

from __future__ import annotations

from typing import Dict, List

import numpy as np

from .. import adain
from ..errors import BenchError
from ..sysinfo import peak_rss_mb
from .harness import measure
from .probes import machine_warnings

CHANNELS = 512  # relu4_1 of VGG-19
BASELINE = "pytorch composite"  # the ratios' reference, when torch is installed


def numpy_adain(x, s_mean, s_std, eps=adain.DEFAULT_EPS):
    """AdaIN as numpy operations (the baseline without the extension)."""
    n, c = x.shape[:2]
    flat = x.reshape(n, c, -1)
    mean = flat.mean(axis=2).reshape(n, c, 1, 1)
    std = np.sqrt(flat.var(axis=2, ddof=1) + eps).reshape(n, c, 1, 1)
    return (x - mean) / std * s_std + s_mean


def kernel_candidates(side: int, rng: np.random.Generator, torch):
    """The fused AdaIN kernel (fp32, fp16), numpy, a plain copy and (with torch) the PyTorch
    composite on 1x512xSIDExSIDE features with precomputed style statistics; returns
    (candidates, bytes of x)."""
    x = (rng.standard_normal((1, CHANNELS, side, side), dtype=np.float32) * 2.0 + 0.5)
    style = rng.standard_normal((1, CHANNELS, side, side), dtype=np.float32) * 3.0 - 1.0
    s_mean, s_std = adain.channel_stats(style)
    out = np.empty_like(x)
    x16, out16 = x.astype(np.float16), np.empty(x.shape, np.float16)
    copy_dst = np.empty_like(x)
    nm, ns = s_mean.reshape(1, -1, 1, 1), s_std.reshape(1, -1, 1, 1)
    cands = {
        "stylert fused fp32": lambda: adain.adain(x, s_mean, s_std, out=out),
        "stylert fused fp16": lambda: adain.adain(x16, s_mean, s_std, out=out16),
        "numpy composite": lambda: numpy_adain(x, nm, ns),
        "copy (np.copyto)": lambda: np.copyto(copy_dst, x),
    }
    if torch is not None:
        from stylert.export.ops import adain_from_stats

        xt, tm, ts = torch.from_numpy(x), torch.from_numpy(nm), torch.from_numpy(ns)

        def torch_composite():
            with torch.inference_mode():
                return adain_from_stats(xt, tm, ts)

        cands[BASELINE] = torch_composite
        # Guard: never time a kernel that disagrees with the reference.
        err = float(np.abs(cands["stylert fused fp32"]() - torch_composite().numpy()).max())
        if err > 1e-3:
            raise BenchError(f"the fused kernel disagrees with PyTorch at {side}x{side} (max abs error {err:.2g}): "
                             f"not timed; run tests/test_adain_kernel.py")
    return cands, x.nbytes


def run_kernel(sides: List[int], warmup: int, iterations: int, seconds: float) -> Dict:
    """The fused kernel against numpy and (when installed) the PyTorch composite, per size;
    ratios against the PyTorch composite."""
    try:
        import torch
    except ImportError:
        torch = None
    rng, rows = np.random.default_rng(0), []
    for side in sides:
        cands, _ = kernel_candidates(side, rng, torch)
        against = {name: BASELINE for name in cands} if BASELINE in cands else None
        for name, fig in measure(cands, warmup=warmup, iterations=iterations, seconds=seconds,
                                 baselines=against).items():
            row = {"model": "kernel", "backend": name, "precision": "fp16" if "fp16" in name else "fp32",
                   "size": side, "batch": 1, "key": f"{name} 1x{CHANNELS}x{side}x{side}", **fig.stats,
                   "throughput_per_s": 1e3 / fig.stats["median_ms"], "cold_start_s": 0.0, "stages_median_ms": {},
                   "warnings": fig.warnings}
            if fig.speedup is not None:
                row["speedup_vs_baseline"] = fig.speedup
            rows.append(row)
    from ..sysinfo import describe

    return {"system": describe(), "model": "kernel", "rows": rows, "packages": {},
            "peak_rss_mb": peak_rss_mb(),
            "machine_warnings": machine_warnings(), "baseline": BASELINE if torch else None}
