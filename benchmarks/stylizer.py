"""Stylizer latency on the full-size AdaIN topology (VGG-19 to relu4_1, width 1) against
the ways a user would otherwise run it, side by side in one run:

* PyTorch eager, the reference implementation's way: the style re-encoded on every call
* PyTorch eager with the style statistics cached
* plain ONNX Runtime on adain_full.onnx (AdaIN as ONNX ops), style statistics cached
* stylert Stylizer fp32 and int8: encoder.onnx -> fused AdaIN kernel -> decoder.onnx,
  style cached

    python benchmarks/stylizer.py                 # 256 and 512, writes results/
    python benchmarks/stylizer.py --sizes 256 --seconds 3 --no-save

Weights are random (pretrained VGG cannot be downloaded here): latency does not depend on
them, the int8 PSNR printed does (it is measured against fp32 on these weights). Inputs
are float NCHW for every candidate, so pre/post-processing is not in these numbers.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from stylert import Stylizer, parity
from stylert.export.checkpoints import save_atomic, stylert_checkpoint
from stylert.export.data import photos, to_tensor
from stylert.export.models import AdaINNet
from stylert.export.package import export
from stylert.backends.onnxrt import session
from stylert.timing import NOISY_CV, interleaved, save_results, summarize

RESULTS = Path(__file__).resolve().parent / "results"
BASELINE = "PyTorch eager, style re-encoded (reference)"


def full_size_package(root: Path) -> Path:
    torch.manual_seed(0)
    net = AdaINNet(1.0).eval()
    save_atomic(stylert_checkpoint("adain", net.config, net), root / "adain-full.pt")
    export("adain", root / "pkg", checkpoint=str(root / "adain-full.pt"), precisions=["fp32", "int8"],
           torch_weights=False, full_graph=True)  # adain_full: the plain-ONNX Runtime candidate
    return root / "pkg"


def image(name: str, side: int) -> torch.Tensor:
    return torch.nn.functional.interpolate(to_tensor(photos()[name]), size=(side, side), mode="area")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="256,512")
    ap.add_argument("--seconds", type=float, default=8.0, help="minimum timed seconds per size")
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args()
    threads = len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)

    with tempfile.TemporaryDirectory() as tmp:
        pkg = full_size_package(Path(tmp))
        net = AdaINNet(1.0)
        net.load_state_dict(torch.load(Path(tmp) / "adain-full.pt", weights_only=True)["state_dict"])
        net.eval()
        st32 = Stylizer(pkg, backend="onnxruntime-cpu")
        st8 = Stylizer(pkg, backend="onnxruntime-cpu", precision="int8")
        full = session(Path(pkg) / "adain_full.onnx", threads=threads)
        rows = []
        for side in [int(s) for s in args.sizes.split(",")]:
            content, style = image("chelsea", side), image("coffee", side)
            style_u8 = (style[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
            for st in (st32, st8):
                st.style_size = None
                st.set_style(style_u8)
            x = content.numpy()
            frame = (content[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)  # what a user holds
            with torch.inference_mode():
                mean, std = net.style_stats(style)
            feeds = {"content": x, "style_mean": mean.numpy(), "style_std": std.numpy(),
                     "alpha": np.ones(1, np.float32)}

            def eager_reference():
                with torch.inference_mode():
                    return net.stylize(content, style)

            def eager_cached():
                with torch.inference_mode():
                    return net(content, mean, std)

            cands = {BASELINE: eager_reference, "PyTorch eager, style cached": eager_cached,
                     "ONNX Runtime adain_full.onnx, style cached": lambda: full.run(None, feeds),
                     "stylert fp32 (split graphs + fused AdaIN)": lambda: st32(frame),
                     "stylert int8": lambda: st8(frame)}
            bar = tqdm(desc=f"{side}x{side}", unit="round", leave=False)
            samples = interleaved(cands, warmup=2, min_iterations=10, min_seconds=args.seconds, gap_s=0.02,
                                  progress=lambda r: bar.update())
            bar.close()
            base = np.asarray(samples[BASELINE], np.float64)
            psnr = parity.compare(st32(x), st8(x))["psnr"]
            for name, s in samples.items():
                stats = summarize(s)
                ratio = float(np.median(base / np.asarray(s, np.float64)))  # pair by pair
                rows.append({"image": f"{side}x{side}", "candidate": name, **stats, "speedup_vs_baseline": ratio,
                             "int8_psnr_db": psnr if name == "stylert int8" else None})
    table = markdown(rows, threads)
    print(table)
    if not args.no_save:
        save_results(RESULTS, "stylizer", table, rows, threads=threads)
    return 0


def markdown(rows, threads) -> str:
    out = [f"Full-size AdaIN (VGG-19 to relu4_1), batch 1, {threads} threads, float NCHW in/out.",
           "", "| image | candidate | median | p90 | p99 | cv | speed-up vs reference |",
           "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        flag = " (noisy)" if r["cv"] > NOISY_CV else ""
        extra = f" (int8 PSNR vs fp32 {r['int8_psnr_db']:.1f} dB)" if r["int8_psnr_db"] else ""
        out.append(f"| {r['image']} | {r['candidate']}{extra} | {r['median_ms']:.1f} ms | {r['p90_ms']:.1f} ms | "
                   f"{r['p99_ms']:.1f} ms | {r['cv']:.0%}{flag} | {r['speedup_vs_baseline']:.2f}× |")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
