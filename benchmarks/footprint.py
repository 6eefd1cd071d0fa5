"""The runtime's footprint for edge use, each measured in a fresh process (torch hidden):

1. import time of `stylert` + the pipeline module, and resident memory after it;
2. cold start to the first stylized frame (sessions, style encode, first 320x240 frame) and
   to the first generated image, with resident memory after each step;
3. the bundled packages' sizes per precision (int8-cpu: the CPU-tuned int8 files);
4. the live demo's peak resident memory (`stylert live --source demo`, 90 frames).

    python benchmarks/footprint.py        # writes results/footprint-MACHINE.{json,md}
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from stylert.package import BUNDLED, load
from stylert.timing import save_results

RESULTS = Path(__file__).resolve().parent / "results"

# Runs in a child process: torch made unimportable, then each step timed with its RSS.
CHILD = r"""
import sys, time, json
sys.modules["torch"] = None
def rss():
    for line in open("/proc/self/status"):
        if line.startswith(("VmRSS", "VmHWM")):
            yield line.split()[0][:-1], int(line.split()[1]) / 1024
t0 = time.perf_counter(); steps = []
def step(name):
    steps.append({"step": name, "s": time.perf_counter() - t0, **dict(rss())})
import numpy, cv2
step("numpy + cv2 imported")
import stylert
from stylert import {cls}
step("stylert imported")
assert "torch" not in sys.modules or sys.modules["torch"] is None
{body}
print(json.dumps(steps))
"""
STYLIZER = r"""
st = Stylizer(precision="{precision}", backend="onnxruntime-cpu")
step("sessions created")
from stylert.images import ASSETS
st.set_style(str(ASSETS / "coffee.jpg"))
step("style encoded")
st(numpy.zeros((240, 320, 3), numpy.uint8))
step("first frame")
"""
GENERATOR = r"""
g = Generator(precision="{precision}", backend="onnxruntime-cpu")
step("sessions created")
g([0], truncation=0.7)
step("first image")
"""


def child(cls: str, body: str) -> list:
    code = CHILD.replace("{cls}", cls).replace("{body}", body)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    if done.returncode:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout.splitlines()[-1])


def package_sizes() -> list:
    rows = []
    for kind in ("adain", "stylegan", "ae"):
        pkg = load(BUNDLED / kind)
        for precision in ("fp32", "fp16", "int8", "int8-cpu"):
            files = [pkg.onnx(g, precision) for g in pkg.graphs if precision in pkg.graphs[g]["files"]]
            if files:
                rows.append({"package": kind, "precision": precision, "graphs": len(files),
                             "mb": sum(f.stat().st_size for f in files) / 1e6})
    return rows


def live_peak(runs: int) -> list:
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(runs):
            summary = Path(tmp) / "live.json"
            subprocess.run([sys.executable, "-m", "stylert.cli", "live", "--source", "demo", "--output", "none",
                            "--size", "288x216", "--precision", "int8", "--max-frames", "90",
                            "--json", str(summary)], check=True, capture_output=True, timeout=300)
            out.append(json.loads(summary.read_text())["peak_rss_mb"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="fresh processes per measurement")
    args = ap.parse_args()
    cases = {f"Stylizer {p}": ("Stylizer", STYLIZER.format(precision=p)) for p in ("fp32", "int8")}
    cases["Generator fp32"] = ("Generator", GENERATOR.format(precision="fp32"))
    rows = []
    for name, (cls, body) in cases.items():
        runs = [child(cls, body) for _ in range(args.runs)]
        for i, s in enumerate(runs[0]):
            t = [r[i]["s"] for r in runs]
            rss = [r[i]["VmRSS"] for r in runs]
            rows.append({"case": name, "step": s["step"], "median_s": float(np.median(t)), "min_s": min(t),
                         "max_s": max(t), "rss_mb": float(np.median(rss))})
        rows[-1]["peak_rss_mb"] = float(np.median([r[-1]["VmHWM"] for r in runs]))
    sizes = package_sizes()
    peaks = live_peak(args.runs)
    lines = [f"Fresh processes (torch hidden), median of {args.runs}; time since the interpreter started "
             "running the script.", "", "| case | step | time (median) | min-max | RSS after |",
             "|---|---|---:|---:|---:|"]
    lines += [f"| {r['case']} | {r['step']} | {r['median_s'] * 1e3:.0f} ms | {r['min_s'] * 1e3:.0f}-"
              f"{r['max_s'] * 1e3:.0f} ms | {r['rss_mb']:.0f} MB |" for r in rows]
    lines += ["", "| package | precision | graphs | size |", "|---|---|---:|---:|"]
    lines += [f"| {s['package']} | {s['precision']} | {s['graphs']} | {s['mb']:.2f} MB |" for s in sizes]
    lines += ["", f"`stylert live --source demo --output none --size 288x216 --precision int8 --max-frames 90`: "
                  f"peak RSS {', '.join(f'{p:.0f}' for p in peaks)} MB over {args.runs} runs."]
    table = "\n".join(lines)
    print(table)
    save_results(RESULTS, "footprint", table, rows, package_sizes=sizes, live_peak_rss_mb=peaks)


if __name__ == "__main__":
    main()
