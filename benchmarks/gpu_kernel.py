"""The fused CUDA AdaIN kernel's achieved bandwidth, beside a plain device copy of the same
bytes and the PyTorch composite, on one GPU.

    python benchmarks/gpu_kernel.py [--out DIR]     # needs torch with CUDA and a GPU

Bandwidth counts the bytes an AdaIN must move at the least: x read once and the output
written once (2 x the tensor's bytes), the same bytes as a copy of x; "vs copy" is the copy's
time over the candidate's, the fraction of copy speed a user gets. (The kernel reads x twice:
once for the statistics and once for the write, the second time mostly from L2.)

Timing: CUDA events between consecutive calls, enqueued behind a GPU sleep so the device runs
them back to back and the figure is device time, not Python's launch overhead; 20 calls of
warm-up first, then 8 batches of 25 calls: medians and p90 of 200 calls. Two cache states:
"HBM" rotates over enough buffers to hold twice the L2 cache, so every call reads from device
memory; "L2" reuses one buffer, as a pipeline whose encoder has just written x does.

Candidates: stylert's kernel as it chooses (auto), forced to one block per row
(STYLERT_CUDA_SPLIT=1) and to 4 blocks per row (the split path), the PyTorch composite
(stylert.export.ops.adain_from_stats) and a device-to-device copy (torch copy_). The style
statistics are precomputed on the device, as a pipeline caches them.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from stylert import adain
from stylert.timing import save_results

RESULTS = Path(__file__).resolve().parent / "results"
SHAPES = ((1, 128, 64, 64), (1, 512, 64, 64), (1, 512, 128, 128), (4, 512, 64, 64))
WARMUP, BATCHES, PER_BATCH = 20, 8, 25


class Split:
    """STYLERT_CUDA_SPLIT set for the duration of a block (the kernel reads it per call)."""

    def __init__(self, value: str | None):
        self.value = value

    def __enter__(self):
        self.saved = os.environ.get("STYLERT_CUDA_SPLIT")
        if self.value is None:
            os.environ.pop("STYLERT_CUDA_SPLIT", None)
        else:
            os.environ["STYLERT_CUDA_SPLIT"] = self.value

    def __exit__(self, *exc):
        if self.saved is None:
            os.environ.pop("STYLERT_CUDA_SPLIT", None)
        else:
            os.environ["STYLERT_CUDA_SPLIT"] = self.saved


def sleep_cycles_per_us(torch) -> float:
    """Clock cycles of torch.cuda._sleep per microsecond on this GPU."""
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    cycles = 20_000_000
    start.record()
    torch.cuda._sleep(cycles)
    end.record()
    end.synchronize()
    return cycles / (start.elapsed_time(end) * 1e3)


def timed(calls, torch, cycles_per_us):
    """Per-call device times (microseconds) of calls[k % len(calls)], k = 0, 1, ..."""
    k = 0
    for _ in range(WARMUP):
        calls[k % len(calls)]()
        k += 1
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(PER_BATCH):
        calls[k % len(calls)]()
        k += 1
    host_us = (time.perf_counter() - t0) * 1e6  # enqueueing one batch
    torch.cuda.synchronize()
    sleep = int(cycles_per_us * (2.0 * host_us + 500.0))
    times = []
    for _ in range(BATCHES):
        events = [torch.cuda.Event(enable_timing=True) for _ in range(PER_BATCH + 1)]
        torch.cuda._sleep(sleep)  # the queue fills while the device sleeps
        events[0].record()
        for j in range(PER_BATCH):
            calls[k % len(calls)]()
            k += 1
            events[j + 1].record()
        events[-1].synchronize()
        times += [events[j].elapsed_time(events[j + 1]) * 1e3 for j in range(PER_BATCH)]
    t = np.asarray(times)
    return {"median_us": float(np.median(t)), "p90_us": float(np.percentile(t, 90)),
            "p99_us": float(np.percentile(t, 99)), "min_us": float(t.min()),
            "host_enqueue_us_per_call": host_us / PER_BATCH}


def main() -> int:
    import torch

    from stylert.export.ops import adain_from_stats

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args()
    if not (torch.cuda.is_available() and adain.cuda_available()):
        sys.exit("needs a CUDA GPU and stylert built with its CUDA kernels (STYLERT_CUDA=ON)")
    props = torch.cuda.get_device_properties(0)
    l2 = int(getattr(props, "L2_cache_size", 0) or 64 << 20)
    cycles_per_us = sleep_cycles_per_us(torch)
    rows = []
    for n, c, h, w in SHAPES:
        for dtype in (torch.float32, torch.float16):
            nbytes = n * c * h * w * (4 if dtype == torch.float32 else 2)
            style = torch.randn(1, c, h, w, device="cuda") * 3 - 1
            mean, std = adain.channel_stats(style)
            m4, s4 = mean.reshape(1, c, 1, 1), std.reshape(1, c, 1, 1)
            for cache in ("HBM", "L2"):
                nbuf = max(1, math.ceil(2 * l2 / (2 * nbytes))) if cache == "HBM" else 1
                xs = [(torch.randn(n, c, h, w, device="cuda") * 2 + 0.5).to(dtype) for _ in range(nbuf)]
                outs = [torch.empty_like(x) for x in xs]
                ref = adain_from_stats(xs[0].float(), m4, s4)
                cands = {}
                for label, split in (("stylert CUDA (auto)", None), ("stylert CUDA, 1 block/row", "1"),
                                     ("stylert CUDA, 4 blocks/row", "4")):
                    with Split(split):
                        err = float((adain.adain(xs[0], mean, std).float() - ref).abs().max())
                    limit = 1e-3 if dtype == torch.float32 else 2e-2 * float(ref.abs().max())
                    assert err < limit, f"{label} disagrees with PyTorch at {n}x{c}x{h}x{w}: {err}"  # never time a wrong kernel
                    cands[label] = (split, [lambda x=x, o=o: adain.adain(x, mean, std, out=o)
                                            for x, o in zip(xs, outs)])
                cands["PyTorch composite"] = (None, [lambda x=x: adain_from_stats(x, m4, s4) for x in xs])
                cands["copy (device to device)"] = (None, [lambda x=x, o=o: o.copy_(x) for x, o in zip(xs, outs)])
                stats = {}
                for label, (split, calls) in cands.items():
                    with Split(split):
                        stats[label] = timed(calls, torch, cycles_per_us)
                copy_us = stats["copy (device to device)"]["median_us"]
                torch_us = stats["PyTorch composite"]["median_us"]
                for label, s in stats.items():
                    rows.append({"shape": f"{n}x{c}x{h}x{w}", "dtype": str(dtype).replace("torch.", ""),
                                 "cache": cache, "buffers": nbuf, "candidate": label, **s,
                                 "gb_per_s": 2 * nbytes / (s["median_us"] * 1e-6) / 1e9,
                                 "vs_copy": copy_us / s["median_us"],
                                 "vs_pytorch": torch_us / s["median_us"]})
                del xs, outs
            torch.cuda.empty_cache()
    name = torch.cuda.get_device_name(0)
    head = (f"{name} ({props.multi_processor_count} SMs, L2 {l2 >> 20} MiB), torch {torch.__version__}; "
            f"CUDA events per call, {BATCHES * PER_BATCH} calls after {WARMUP} of warm-up, enqueued behind a "
            f"GPU sleep; GB/s = (x read once + out written once) / median time")
    lines = [head, ""]
    for cache in ("HBM", "L2"):
        lines += [f"Cache: {cache}", "",
                  "| features | dtype | candidate | median | p90 | GB/s | vs copy | vs PyTorch |",
                  "|---|---|---|---:|---:|---:|---:|---:|"]
        for r in rows:
            if r["cache"] == cache:
                lines.append(f"| {r['shape']} | {r['dtype']} | {r['candidate']} | {r['median_us']:.1f} us | "
                             f"{r['p90_us']:.1f} us | {r['gb_per_s']:.0f} | {r['vs_copy']:.2f}x | "
                             f"{r['vs_pytorch']:.2f}x |")
        lines.append("")
    slow = max(r["host_enqueue_us_per_call"] for r in rows)
    lines.append(f"Host enqueue time, slowest candidate: {slow:.1f} us per call (the GPU sleep before each "
                 f"batch covers twice the batch's enqueue time).")
    table = "\n".join(lines)
    print(table)
    save_results(Path(args.out), "gpu_kernel", table, rows, device=name, sms=props.multi_processor_count,
                 l2_bytes=l2, sleep_cycles_per_us=cycles_per_us)
    return 0


if __name__ == "__main__":
    sys.exit(main())
