"""The fused CUDA AdaIN kernel against the PyTorch composite on the same GPU, and against
the device's memory bandwidth (a device-to-device copy measured in the same run).

    python benchmarks/gpu_kernel.py [--out DIR]     # needs torch with CUDA and a GPU

CUDA events time each call (warm-up first, medians and percentiles of 200 calls); the style
statistics are precomputed, as a pipeline caches them. Bandwidth counts the bytes an
unfused AdaIN must move: two reads and one write of x (a copy: one read, one write).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from stylert import adain
from stylert.timing import save_results

RESULTS = Path(__file__).resolve().parent / "results"


def timed(fn, torch, calls=200, warmup=20):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(calls):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    t = np.asarray(times)
    return {"median_ms": float(np.median(t)), "p90_ms": float(np.percentile(t, 90)),
            "p99_ms": float(np.percentile(t, 99)), "min_ms": float(t.min())}


def main() -> int:
    import torch

    from stylert.export.ops import adain_from_stats

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args()
    if not (torch.cuda.is_available() and adain.cuda_available()):
        sys.exit("needs a CUDA GPU and stylert built with its CUDA kernels (STYLERT_CUDA=ON)")
    rows = []
    for n, c, side in ((1, 512, 64), (1, 512, 128), (8, 512, 64), (1, 512, 256)):
        x = torch.randn(n, c, side, side, device="cuda") * 2 + 0.5
        style = torch.randn(1, c, side, side, device="cuda") * 3 - 1
        mean, std = adain.channel_stats(style)
        out, dst = torch.empty_like(x), torch.empty_like(x)
        m4, s4 = mean.reshape(1, c, 1, 1), std.reshape(1, c, 1, 1)
        err = float((adain.adain(x, mean, std) - adain_from_stats(x, m4, s4)).abs().max())
        assert err < 1e-3, f"fused kernel disagrees with PyTorch: {err}"  # never time a wrong kernel
        cands = {"stylert fused CUDA": lambda: adain.adain(x, mean, std, out=out),
                 "PyTorch composite": lambda: adain_from_stats(x, m4, s4),
                 "copy (device to device)": lambda: dst.copy_(x)}
        stats = {k: timed(f, torch) for k, f in cands.items()}
        nbytes = x.numel() * 4
        for name, s in stats.items():
            moved = 2 * nbytes if name.startswith("copy") else 3 * nbytes
            rows.append({"shape": f"{n}x{c}x{side}x{side}", "candidate": name, **s,
                         "gb_per_s": moved / (s["median_ms"] / 1e3) / 1e9,
                         "vs_pytorch": stats["PyTorch composite"]["median_ms"] / s["median_ms"]})
    name = torch.cuda.get_device_name(0)
    lines = [f"{name}; CUDA events, medians of 200 calls", "",
             "| features | candidate | median | p90 | p99 | GB/s | vs PyTorch |", "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['shape']} | {r['candidate']} | {r['median_ms']:.3f} ms | {r['p90_ms']:.3f} ms | "
                     f"{r['p99_ms']:.3f} ms | {r['gb_per_s']:.0f} | {r['vs_pytorch']:.2f}x |")
    table = "\n".join(lines)
    print(table)
    save_results(Path(args.out), "gpu_kernel", table, rows, device=name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
