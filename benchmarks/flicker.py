"""Temporal stability of live stylization: flicker where the scene stands still, smear where
it moves, with and without stabilisation, on three 640x480 clips made from a real photograph
(the bundled astronaut.jpg) with camera effects added: sensor noise (sigma 3 grey levels), a
slow pan (2 px a frame) and exposure flicker (gain +-4%); a disc moves across each.

Figures (lower is better), per clip, on the output at the capture size:
- static flicker: mean |out_t - out_t-1| over the pixels whose clean input did not change
  (the disc's path excluded); the pan has none, so there:
- warp error: mean |out_t - warp(out_t-1)| along Farnebäck optical flow of the input
  (borders excluded): change that the motion does not explain;
- smear: mean |out_t - per-frame out_t| where the moving disc just covered or uncovered the
  scene (a ghost of the past shows there; 0 without stabilisation).

Candidates: no stabilisation (`--stabilize 0`); `--stabilize S`, the temporal Stabilizer
(pipelines/temporal.py) at the processing size, as `stylert live` runs it. The old
`--smoothing 0.9` (content statistics averaged over frames) was measured here too: no less
flicker, exposure flicker +174%; it is removed, its rows stay in the saved results of that run.

    python benchmarks/flicker.py      # writes results/flicker-MACHINE.{json,md}
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from stylert import Stylizer
from stylert.images import ASSETS
from stylert.pipelines.temporal import Stabilizer
from stylert.timing import save_results

RESULTS = Path(__file__).resolve().parent / "results"
SIZE, PROCESS, FRAMES = (640, 480), (288, 216), 60


def clip(kind: str, frames: int = FRAMES, seed: int = 0):
    """[(noisy frame, clean frame, disc mask)] for 'noise', 'pan' or 'exposure'."""
    rng = np.random.default_rng(seed)
    photo = cv2.imread(str(ASSETS / "astronaut.jpg"))
    w, h = SIZE
    scene = cv2.resize(photo, (w + 2 * frames + 8, h + 8), interpolation=cv2.INTER_AREA).astype(np.float32)
    out = []
    for t in range(frames):
        x = 2 * t if kind == "pan" else frames
        clean = scene[4:4 + h, x:x + w].copy()
        mask = np.zeros((h, w), np.uint8)
        centre = (int(w * (0.15 + 0.7 * t / frames)), int(h * 0.75))
        cv2.circle(mask, centre, h // 10, 255, -1)
        clean[mask > 0] = (40, 200, 240)
        gain = 1.0 + (0.04 * rng.choice([-1.0, 1.0]) if kind == "exposure" else 0.0)
        noisy = np.clip(clean * gain + rng.normal(0, 3.0, clean.shape), 0, 255).astype(np.uint8)
        out.append((noisy, clean.astype(np.uint8), mask))
    return out


def stylized(frames, stabilize: float = 0.0, sharpen: bool = False):
    """The live path: Stylizer.frame at the processing size, stabilised there when asked, and
    back to the frame's size (bilinear, or guided by the frame with ``sharpen``)."""
    st = Stylizer(precision="int8")
    st.set_style(str(ASSETS / "coffee.jpg"))
    stab = Stabilizer(stabilize) if stabilize else None
    return [st.frame(f, PROCESS, stabilizer=stab, sharpen=sharpen) for f, _, _ in frames]


def figures(frames, outs, reference):
    """static flicker (or warp error for the pan) and smear, per the module doc."""
    flicker, warp, smear = [], [], []
    for t in range(1, len(frames)):
        (_, c0, m0), (_, c1, m1) = frames[t - 1], frames[t]
        moving = cv2.dilate(cv2.bitwise_or(m0, m1), np.ones((9, 9), np.uint8)) > 0
        still = (np.abs(c1.astype(np.int16) - c0.astype(np.int16)).max(axis=2) == 0) & ~moving
        diff = np.abs(outs[t].astype(np.float32) - outs[t - 1].astype(np.float32)).mean(axis=2)
        if still.mean() > 0.5:
            flicker.append(float(diff[still].mean()))
        else:  # the camera moves: compare along the input's optical flow
            g0, g1 = (cv2.cvtColor(c, cv2.COLOR_BGR2GRAY) for c in (c0, c1))
            flow = cv2.calcOpticalFlowFarneback(g1, g0, None, 0.5, 3, 15, 3, 5, 1.2, 0)
            gy, gx = np.mgrid[0:g1.shape[0], 0:g1.shape[1]].astype(np.float32)
            warped = cv2.remap(outs[t - 1], gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR)
            inner = np.zeros_like(moving)
            inner[16:-16, 16:-16] = True
            err = np.abs(outs[t].astype(np.float32) - warped.astype(np.float32)).mean(axis=2)
            warp.append(float(err[inner & ~moving].mean()))
        swept = cv2.bitwise_xor(m0, m1) > 0  # what the disc just covered or uncovered: ghosts show here
        smear.append(float(np.abs(outs[t].astype(np.float32) - reference[t].astype(np.float32))
                           .mean(axis=2)[swept].mean()))
    return {"static_flicker": float(np.mean(flicker)) if flicker else None,
            "warp_error": float(np.mean(warp)) if warp else None, "smear": float(np.mean(smear))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args()
    rows = []
    for kind in ("noise", "pan", "exposure"):
        frames = clip(kind)
        raw = stylized(frames)
        cands = {"none (--stabilize 0)": raw}
        for strength in (0.5, 0.7, 0.8, 0.9):
            cands[f"--stabilize {strength:g}"] = stylized(frames, stabilize=strength)
        guided = stylized(frames, sharpen=True)  # live's default up-sampling, its own reference for smear
        cands["none, guided up-sampling"] = guided
        cands["--stabilize 0.8, guided up-sampling"] = stylized(frames, stabilize=0.8, sharpen=True)
        base = figures(frames, raw, raw)
        for name, outs in cands.items():
            r = {"clip": kind, "candidate": name, **figures(frames, outs, guided if "guided" in name else raw)}
            key = "static_flicker" if base["static_flicker"] is not None else "warp_error"
            r["change_vs_none"] = r[key] / base[key] - 1
            rows.append(r)
    table = markdown(rows)
    print(table)
    if not args.no_save:
        save_results(RESULTS, "flicker", table, rows, processing=f"{PROCESS[0]}x{PROCESS[1]} int8, bundled AdaIN",
                     frames=FRAMES)
    return 0


def markdown(rows) -> str:
    lines = [f"{FRAMES} frames of 640x480 per clip, stylized at {PROCESS[0]}x{PROCESS[1]} (int8, bundled AdaIN); "
             "grey levels, lower is better.", "",
             "| clip | candidate | static flicker | warp error (pan) | change vs none | smear where the disc moved |",
             "|---|---|---:|---:|---:|---:|"]
    for r in rows:
        def num(v):
            return "" if v is None else f"{v:.2f}"
        lines.append(f"| {r['clip']} | {r['candidate']} | {num(r['static_flicker'])} | {num(r['warp_error'])} | "
                     f"{r['change_vs_none']:+.0%} | {r['smear']:.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
