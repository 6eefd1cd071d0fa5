"""From the processing size back to the frame: plain bilinear resizing against guided joint
upsampling (pipelines/upsample.py), side by side in one run, on 640x480 frames of the demo
scene and of held-out photographs, with the bundled AdaIN at the processing sizes `stylert
live` settles at on 2 cores.

Figures:
- sharpness: correlation of Sobel edge magnitudes between the output and the full-size frame
  (export.quality's "structure kept", at the output size; higher keeps more of the frame's edges);
- colour: mean |output - bilinear output| after a 9x9 blur (how far the colours move from the
  plain resize; low means the style's colours are kept);
- time: the resize-out step alone, medians and p90 over the frames (ms).

    python benchmarks/upsample.py      # writes results/upsample-MACHINE.{json,md}
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from stylert import Stylizer
from stylert.export.quality import edges
from stylert.images import ASSETS
from stylert.pipelines import upsample
from stylert.timing import save_results
from stylert.video.sources import DemoSource

RESULTS = Path(__file__).resolve().parent / "results"
SIZES = [(256, 192), (320, 240)]
PARAMS = [(2, 2e-3), (2, 1e-2), (4, 2e-3)]


def frames(n: int):
    demo = DemoSource(640, 480, n)
    return [demo.read() for _ in range(n)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args()
    st = Stylizer(precision="int8")
    st.set_style(str(ASSETS / "coffee.jpg"))
    rows = []
    for size in SIZES:
        cands = {"bilinear": lambda o, s, f: cv2.resize(o, (f.shape[1], f.shape[0]), interpolation=cv2.INTER_LINEAR)}
        for r, eps in PARAMS:
            cands[f"guided r{r} eps{eps:g}"] = lambda o, s, f, r=r, eps=eps: upsample.guided(o, s, f, r, eps)
        stats = {name: {"sharp": [], "colour": [], "ms": []} for name in cands}
        for frame in frames(args.frames):
            small = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
            out = st(small, bgr=True)
            plain = cands["bilinear"](out, small, frame)
            for name, fn in cands.items():
                t0 = time.perf_counter_ns()
                got = fn(out, small, frame)
                stats[name]["ms"].append((time.perf_counter_ns() - t0) / 1e6)
                stats[name]["sharp"].append(float(np.corrcoef(edges(frame), edges(got))[0, 1]))
                blur = lambda x: cv2.blur(x.astype(np.float32), (9, 9))  # noqa: E731
                stats[name]["colour"].append(float(np.abs(blur(got) - blur(plain)).mean()))
        for name, s in stats.items():
            rows.append({"processing": f"{size[0]}x{size[1]}", "candidate": name,
                         "sharpness": float(np.mean(s["sharp"])), "colour_shift": float(np.mean(s["colour"])),
                         "median_ms": float(np.median(s["ms"])), "p90_ms": float(np.percentile(s["ms"], 90))})
    lines = ["| processing | up-sampling to 640x480 | sharpness (edges vs frame) | colour shift vs bilinear "
             "| median ms | p90 ms |", "|---|---|---:|---:|---:|---:|"]
    lines += [f"| {r['processing']} | {r['candidate']} | {r['sharpness']:.3f} | {r['colour_shift']:.2f} | "
              f"{r['median_ms']:.2f} | {r['p90_ms']:.2f} |" for r in rows]
    table = "\n".join(lines)
    print(table)
    save_results(Path(args.out), "upsample", table, rows, frames=args.frames)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
