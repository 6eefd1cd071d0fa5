"""How close one backend's output is to the reference's, and whether that is close enough.

The parity gate of every export and of ``stylert verify``: per output, max and mean
absolute error and PSNR, with the peak taken as the reference output's range (so
features, images in [0, 1] and images in [-1, 1] are judged alike).
"""

from __future__ import annotations

import math
from typing import Dict, List

import numpy as np

from .package import base_precision

# Per precision: fp32 must agree to 1e-4 of the output range (max abs error);
# fp16 and int8 are judged by PSNR, thresholds chosen from measurement (see README).
FP32_MAX_ABS_OF_RANGE = 1e-4
MIN_PSNR = {"fp16": 45.0, "int8": 25.0}
# "tf32": an fp32 file on a backend whose TF32 math cannot be turned off (ONNX Runtime's
# TensorRT provider has no option for it; everywhere else fp32 runs IEEE: backends.cuda.
# tf32_allowed). TF32 emulated on the bundled packages (tests/tf32.py) gave max abs errors of
# 0.8e-3 x range per graph and 2.4e-3 x range over AdaIN's whole chain; this rule allows
# twice the worst of them, and stays tighter than what the fp16 files reach.
TF32_MAX_ABS_OF_RANGE = 5e-3


def compare(ref: np.ndarray, got: np.ndarray) -> Dict[str, float]:
    """max_abs, mean_abs, psnr (dB, peak = range of ref), range, and step: 1 for an integer
    output (uint8 frames), whose rounding may flip a value by one level wherever the float
    value before it lies within rounding error of a half, else 0."""
    step = 1.0 if np.issubdtype(np.asarray(got).dtype, np.integer) else 0.0
    ref = np.asarray(ref, dtype=np.float64)
    got = np.asarray(got, dtype=np.float64)
    if ref.shape != got.shape:
        raise ValueError(f"output shapes differ: reference {ref.shape}, got {got.shape}")
    err = np.abs(got - ref)
    rng = float(ref.max() - ref.min()) if ref.size else 0.0
    peak = rng if rng > 0 else 1.0
    mse = float(np.mean(err ** 2)) if err.size else 0.0
    finite = bool(np.isfinite(got).all())
    return {
        "max_abs": float(err.max()) if err.size and finite else math.inf,
        "mean_abs": float(err.mean()) if err.size and finite else math.inf,
        "psnr": (math.inf if mse == 0 else 10 * math.log10(peak ** 2 / mse)) if finite else -math.inf,
        "range": rng,
        "step": step,
    }


MAX_ABS_OF_RANGE = {"fp32": FP32_MAX_ABS_OF_RANGE, "tf32": TF32_MAX_ABS_OF_RANGE}


def threshold(precision: str) -> str:
    """The rule for ``precision`` (or a variant of it, e.g. int8-cpu) in words (for reports)."""
    precision = base_precision(precision)
    if precision in MAX_ABS_OF_RANGE:
        return f"max abs <= {MAX_ABS_OF_RANGE[precision]:g} x range"
    return f"PSNR >= {MIN_PSNR[precision]:g} dB"


def passes(metrics: Dict[str, float], precision: str) -> bool:
    precision = base_precision(precision)
    if precision in MAX_ABS_OF_RANGE:
        allowed = MAX_ABS_OF_RANGE[precision] * (metrics["range"] or 1.0) + metrics.get("step", 0.0)
        return metrics["max_abs"] <= allowed
    return metrics["psnr"] >= MIN_PSNR[precision]


def table(rows: List[Dict]) -> str:
    """One line per graph (and backend, when the rows have one) and precision."""
    def num(v, fmt):  # None or inf: an exact match's PSNR, or a NaN output's error
        return "-" if v is None or math.isinf(v) else format(v, fmt)

    backend = any("backend" in r for r in rows)
    head = f"{'graph':<11} " + (f"{'backend':<17} " if backend else "")
    lines = [head + f"{'precision':<9} {'max abs':>10} {'mean abs':>10} {'PSNR dB':>8}  {'rule':<28} result"]
    for r in rows:
        lines.append(f"{r['graph']:<11} " + (f"{r['backend']:<17} " if backend else "")
                     + f"{r['precision']:<9} {num(r['max_abs'], '.3g'):>10} {num(r['mean_abs'], '.3g'):>10} "
                     f"{num(r['psnr'], '.1f'):>8}  {threshold(r['precision']):<28} {'pass' if r['passed'] else 'FAIL'}")
    return "\n".join(lines)
