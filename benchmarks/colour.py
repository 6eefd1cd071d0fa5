"""Colour preservation, the live way (luma-only transfer) against the reference way (CORAL:
each style recoloured to the content, then re-encoded), on held-out photographs and the
bundled styles: how far the output's colours are from the content's (mean Cr/Cb distance,
grey levels), how much of the content's structure survives (Sobel edge correlation), and
the time per 288x216 frame.

    python benchmarks/colour.py      # writes results/colour-MACHINE.{json,md}
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import cv2
import numpy as np

from stylert import Stylizer
from stylert.images import ASSETS
from stylert.timing import save_results

RESULTS = Path(__file__).resolve().parent / "results"
STYLES = ["coffee.jpg", "immunohistochemistry.jpg", "hubble_deep_field.jpg"]


def contents():
    """Held-out photographs (the AdaIN recipe never trained on china and flower)."""
    from sklearn.datasets import load_sample_images

    return [cv2.resize(img, (288, 216), interpolation=cv2.INTER_AREA) for img in load_sample_images().images]


def edges(rgb):
    g = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1)).ravel()


def main() -> int:
    st = Stylizer(precision="int8")
    rows = []
    for mode in (False, "luma", "coral"):
        chroma, corr, ms = [], [], []
        for style in STYLES:
            st.set_style(str(ASSETS / style))
            for c in contents():
                st(c, preserve_color=mode)  # warm
                t0 = time.perf_counter()
                out = st(c, preserve_color=mode)
                ms.append((time.perf_counter() - t0) * 1e3)
                yc, yo = (cv2.cvtColor(x, cv2.COLOR_RGB2YCrCb).astype(np.float32) for x in (c, out))
                chroma.append(float(np.abs(yc[..., 1:] - yo[..., 1:]).mean()))
                corr.append(float(np.corrcoef(edges(c), edges(out))[0, 1]))
        rows.append({"mode": {False: "off", "luma": "luma (live)", "coral": "coral (reference)"}[mode],
                     "chroma_distance": float(np.mean(chroma)), "edge_correlation": float(np.mean(corr)),
                     "median_ms": float(np.median(ms))})
    table = "\n".join(["| --preserve-color | colour distance to the content | edge correlation | ms per 288x216 |",
                       "|---|---:|---:|---:|"] +
                      [f"| {r['mode']} | {r['chroma_distance']:.2f} | {r['edge_correlation']:.3f} | {r['median_ms']:.1f} |"
                       for r in rows])
    print(table)
    save_results(RESULTS, "colour", table, rows, contents="scikit-learn sample images (held out)",
                 styles=STYLES, precision="int8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
