"""Frame I/O in the graphs (package format 2) against the float graphs of format 1, side by
side in one run: the per-frame CPU time of a live frame through the Stylizer (uint8 BGR in,
uint8 BGR out, as `stylert live` calls it), and the bytes that cross between host and
device per frame (what the engines' to_device / to_host are handed: on a GPU these are the
copies over the bus; on the CPU the same arrays are only passed along).

The "before" package is the format-1 AdaIN package stylert bundled until the change, taken
from git history (same trained weights):

    mkdir -p /tmp/before && git archive 6d5e97b runtime/packages/adain | tar -x -C /tmp/before
    python benchmarks/frame_io.py --before /tmp/before/runtime/packages/adain
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from stylert import Stylizer
from stylert.images import ASSETS
from stylert.package import load
from stylert.timing import interleaved, save_results, summarize
from stylert.video.sources import DemoSource

RESULTS = Path(__file__).resolve().parent / "results"
SIZES = [(320, 240), (640, 480)]


def counted(st: Stylizer) -> dict:
    """Counts the bytes the Stylizer hands its engines to upload (the frame) and to download
    (the image), per call; what ONNX Runtime's CPU engines pass to themselves inside a run is
    not a copy and not counted."""
    seen = {"up": 0, "down": 0, "inside": False}
    for key, engine, method in (("up", st.engines["encoder"], "to_device"), ("down", st.engines["decoder"], "to_host")):
        def spy(a, key=key, real=getattr(engine, method)):
            if not seen["inside"]:
                seen[key] += a.nbytes
            return real(a)
        setattr(engine, method, spy)
    for engine in st.engines.values():
        def run_native(feeds, real=engine.run_native):
            seen["inside"] = True
            try:
                return real(feeds)
            finally:
                seen["inside"] = False
        engine.run_native = run_native
    return seen


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", required=True, help="a format-1 AdaIN package (see the module doc)")
    ap.add_argument("--precision", default="int8")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args()
    before, after = load(args.before), load(Path(__file__).resolve().parents[1] / "runtime/packages/adain")
    assert before.meta["format_version"] == 1 and after.meta["format_version"] == 2
    pipes = {"format 1 (float NCHW graphs)": Stylizer(before, backend="onnxruntime-cpu", precision=args.precision),
             "format 2 (uint8 frames in the graphs)": Stylizer(after, backend="onnxruntime-cpu",
                                                               precision=args.precision)}
    demo = DemoSource(640, 480, 8)
    frame640 = demo.read()
    rows, lines = [], []
    for size in SIZES:
        frame = cv2.resize(frame640, size, interpolation=cv2.INTER_AREA)
        counts = {}
        for name, st in pipes.items():
            st.set_style(str(ASSETS / "coffee.jpg"))
            counts[name] = counted(st)
            st(frame, bgr=True)  # one call: the bytes of one frame
            counts[name] = {k: counts[name][k] for k in ("up", "down")}
            st.stages.enabled = True
        samples = interleaved({n: (lambda st=st: st(frame, bgr=True)) for n, st in pipes.items()},
                              warmup=3, min_iterations=30, min_seconds=args.seconds, gap_s=0.01)
        base = summarize(samples[next(iter(pipes))])["median_ms"]
        for name, st in pipes.items():
            s = summarize(samples[name])
            host = {k: float(np.median(v)) / 1e6 for k, v in st.stages.samples.items()
                    if k in ("pre-process", "post-process")}
            st.stages.samples.clear()
            rows.append({"size": f"{size[0]}x{size[1]}", "candidate": name, **s, **{f"{k}_ms": v for k, v in host.items()},
                         "bytes_up": counts[name]["up"], "bytes_down": counts[name]["down"],
                         "speedup": base / s["median_ms"]})
            r = rows[-1]
            lines.append(f"| {r['size']} | {name} | {s['median_ms']:.2f} ms | {s['p90_ms']:.2f} ms | "
                         f"{host.get('pre-process', 0):.3f} ms | {host.get('post-process', 0):.3f} ms | "
                         f"{r['bytes_up'] / 1024:.0f} KiB | {r['bytes_down'] / 1024:.0f} KiB | {r['speedup']:.2f}x |")
            st.stages.enabled = False
    table = ("| size | package | median | p90 | pre-process (host) | post-process (host) | up per frame | "
             f"down per frame | speed-up |\n|---|---|---:|---:|---:|---:|---:|---:|---:|\n" + "\n".join(lines))
    print(f"AdaIN {args.precision}, onnxruntime-cpu, one uint8 BGR frame per call\n{table}")
    save_results(Path(args.out), f"frame-io-{args.precision}", table, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
