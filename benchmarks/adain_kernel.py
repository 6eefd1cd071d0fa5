"""Fused AdaIN kernel vs the PyTorch composite and numpy, on relu4_1-sized features.

    python benchmarks/adain_kernel.py            # prints the table, writes results/
    python benchmarks/adain_kernel.py --sizes 64 --seconds 2 --no-save

Every implementation gets the style statistics precomputed (as a pipeline caches them)
and the same number of threads. Candidates run interleaved; the table gives medians and
percentiles per call, speed-ups against the PyTorch composite taken pair by pair, and
achieved bandwidth against a plain copy measured in the same run. Bandwidth counts the
bytes the unfused algorithm must move: two reads and one write of x (a copy: one read,
one write).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from stylert import adain
from stylert.bench import CHANNELS, kernel_candidates as candidates_for, measure
from stylert.sysinfo import describe
from stylert.timing import NOISY_CV, save_results

RESULTS = Path(__file__).resolve().parent / "results"
IMAGE_FOR = {32: 256, 64: 512, 128: 1024}  # feature side -> image side (VGG stride 8)


def run(sizes, seconds: float, threads: int):
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        torch = None
        print("torch is not installed: the PyTorch baseline is skipped "
              "(pip install 'stylert[export]')", file=sys.stderr)
    adain.set_num_threads(threads)
    rng = np.random.default_rng(0)
    rows = []
    for side in tqdm(sizes, desc="adain kernel", unit="size"):
        cands, nbytes = candidates_for(side, rng, torch)
        against = {name: "pytorch composite" for name in cands} if "pytorch composite" in cands else None
        figs = measure(cands, warmup=5, iterations=30, seconds=seconds, baselines=against)
        copy_gbs = 2 * nbytes / (np.median(figs["copy (np.copyto)"].samples_ns))  # bytes/ns = GB/s
        for name, fig in figs.items():
            moved = (2 if name.startswith("copy") else 3) * nbytes
            if "fp16" in name:
                moved //= 2
            gbs = moved / np.median(fig.samples_ns)
            row = {
                "shape": [1, CHANNELS, side, side],
                "image": IMAGE_FOR.get(side),
                "impl": name,
                **fig.stats,
                "gb_per_s": gbs,
                "fraction_of_copy_bandwidth": gbs / copy_gbs,
            }
            if fig.speedup is not None:
                row["speedup_vs_pytorch"] = fig.speedup
            rows.append(row)
    return rows


def markdown(rows, info, threads: int) -> str:
    lines = [
        "# AdaIN kernel benchmark",
        "",
        f"Machine: {info['cpu']}, {info['logical_cores']} logical cores, {info['os']}; "
        f"threads: {threads}; stylert {info['stylert']}, "
        + ", ".join(f"{k} {v}" for k, v in info["versions"].items()),
        f"Extension: {info['extension']}",
        "",
        "| features (image) | implementation | median ms | p90 ms | p99 ms | cv | GB/s "
        "| of copy bandwidth | speed-up vs PyTorch |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        shape = "x".join(map(str, r["shape"]))
        sp = r.get("speedup_vs_pytorch")
        flag = " (noisy)" if r["cv"] > NOISY_CV else ""
        lines.append(
            f"| {shape} ({r['image']}²) | {r['impl']} | {r['median_ms']:.3f} | "
            f"{r['p90_ms']:.3f} | {r['p99_ms']:.3f} | {r['cv']:.2f}{flag} | "
            f"{r['gb_per_s']:.1f} | {100 * r['fraction_of_copy_bandwidth']:.0f}% | "
            f"{'' if sp is None else f'{sp:.1f}x'} |"
        )
    lines += [
        "",
        "GB/s counts 2 reads + 1 write of x for AdaIN (1 read + 1 write for the copy); "
        "the fused kernel reads each channel from memory once and re-reads it from cache, "
        "so it can exceed 100% of copy bandwidth. Speed-ups are medians of per-round ratios.",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="32,64,128",
                   help="feature map sides (512 channels): 32,64,128 = 256², 512², 1024² images")
    p.add_argument("--seconds", type=float, default=3.0, help="minimum time per size")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="threads for every implementation")
    p.add_argument("--no-save", action="store_true", help="print only; write no results")
    args = p.parse_args(argv)
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
        if any(s <= 0 for s in sizes):
            raise ValueError
    except ValueError:
        p.error(f"--sizes must be positive integers separated by commas, got {args.sizes!r}")
    rows = run(sizes, args.seconds, args.threads)
    info = describe()
    text = markdown(rows, info, args.threads)
    print(text)
    if not args.no_save:
        save_results(RESULTS, "adain_kernel", text, rows, threads=args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
