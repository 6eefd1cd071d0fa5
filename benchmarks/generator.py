"""Generator (the bundled StyleGAN) against PyTorch eager, side by side in one run:
latency per call and images per second at several batch sizes.

    python benchmarks/generator.py                  # batches 1, 8, 32; writes results/
    python benchmarks/generator.py --batches 1 --seconds 2 --no-save

Every candidate maps z, truncates (psi 0.7) and synthesizes with constant noise.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from stylert import Generator
from stylert.export.models import load
from stylert.timing import NOISY_CV, interleaved, save_results, summarize

RESULTS = Path(__file__).resolve().parent / "results"
BASELINE = "PyTorch eager"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batches", default="1,8,32")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args()
    threads = len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    g = load("stylegan")
    gens = {"stylert fp32 (ONNX Runtime CPU)": Generator(backend="onnxruntime-cpu"),
            "stylert int8": Generator(backend="onnxruntime-cpu", precision="int8")}
    rows = []
    for batch in [int(b) for b in args.batches.split(",")]:
        z = np.random.RandomState(0).randn(batch, g.style_dim).astype(np.float32)
        zt = torch.from_numpy(z)
        noise = [torch.from_numpy(n) for n in next(iter(gens.values())).noise(batch, "const")]

        def eager():
            with torch.inference_mode():
                return g.synthesis(g.broadcast(g.truncate(g.mapping(zt), 0.7)), noise)

        cands = {BASELINE: eager, **{name: (lambda gen=gen: gen.from_z(z, 0.7)) for name, gen in gens.items()}}
        bar = tqdm(desc=f"batch {batch}", unit="round", leave=False)
        samples = interleaved(cands, warmup=3, min_iterations=20, min_seconds=args.seconds, gap_s=0.02,
                              progress=lambda r: bar.update())
        bar.close()
        base = np.asarray(samples[BASELINE], np.float64)
        for name, s in samples.items():
            stats = summarize(s)
            rows.append({"batch": batch, "candidate": name, **stats,
                         "images_per_s": batch / (stats["median_ms"] / 1e3),
                         "speedup_vs_baseline": float(np.median(base / np.asarray(s, np.float64)))})
    size = g.config["size"]
    lines = [f"StyleGAN {size}x{size} (bundled default), {threads} threads, mapping + truncation + synthesis.",
             "", "| batch | candidate | median | p90 | p99 | cv | images/s | speed-up vs PyTorch |",
             "|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        flag = " (noisy)" if r["cv"] > NOISY_CV else ""
        lines.append(f"| {r['batch']} | {r['candidate']} | {r['median_ms']:.2f} ms | {r['p90_ms']:.2f} ms | "
                     f"{r['p99_ms']:.2f} ms | {r['cv']:.0%}{flag} | {r['images_per_s']:.0f} | "
                     f"{r['speedup_vs_baseline']:.2f}× |")
    table = "\n".join(lines)
    print(table)
    if not args.no_save:
        save_results(RESULTS, "generator", table, rows, threads=threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
