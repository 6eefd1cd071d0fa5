"""Quality figures for style transfer, computed in hand-made features rather than a
network's, so no model was optimised on them (benchmarks/quality.py and the defaults' tests
use them):

- colour moved: how far the output's colour statistics (mean and covariance in CIE Lab)
  went from the content's toward the style's: 1 - d(out, style) / d(content, style);
  1 = all the way, 0 = not at all;
- texture moved: the same for normalised Gram matrices of a fixed Gabor filter bank on the
  luminance (4 orientations x 3 scales): how the style's strokes and textures came across;
- structure kept: correlation of Sobel edge magnitudes between content and output.

All take BGR uint8 images (the output the size of the content).
"""

from __future__ import annotations

from typing import Dict

import cv2
import numpy as np

TEXTURE_SIDE = 384  # texture statistics at one scale, whatever the images' sizes


def fit(img: np.ndarray, side: int) -> np.ndarray:
    """``img`` resized (area) so its longer side is ``side``."""
    s = side / max(img.shape[:2])
    return cv2.resize(img, (round(img.shape[1] * s), round(img.shape[0] * s)), interpolation=cv2.INTER_AREA)


def colour_stats(bgr: np.ndarray) -> np.ndarray:
    lab = cv2.cvtColor(bgr, cv2.COLOR_BGR2LAB).reshape(-1, 3).astype(np.float64)
    return np.concatenate([lab.mean(0), np.cov(lab.T).ravel() / 100.0])


GABOR = [cv2.getGaborKernel((21, 21), sigma, theta, lam, 0.5, 0)
         for sigma, lam in ((2.0, 5.0), (4.0, 10.0), (8.0, 20.0)) for theta in np.arange(4) * np.pi / 4]


def texture_stats(bgr: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(fit(bgr, TEXTURE_SIDE), cv2.COLOR_BGR2GRAY).astype(np.float32) / 255.0
    maps = np.stack([np.abs(cv2.filter2D(grey, cv2.CV_32F, k)).ravel() for k in GABOR])
    gram = maps @ maps.T / maps.shape[1]
    return (gram / np.sqrt(np.outer(np.diag(gram), np.diag(gram)))).ravel()  # normalised: texture, not contrast


def moved(stat, content: np.ndarray, out: np.ndarray, style: np.ndarray) -> float:
    c, o, s = stat(content), stat(out), stat(style)
    return float(1.0 - np.linalg.norm(o - s) / max(np.linalg.norm(c - s), 1e-9))


def edges(bgr: np.ndarray) -> np.ndarray:
    g = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY).astype(np.float32)
    return np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1)).ravel()


def figures(content: np.ndarray, out: np.ndarray, style: np.ndarray) -> Dict[str, float]:
    """The three figures of the module doc for one (content, output, style)."""
    return {"colour_moved": moved(colour_stats, content, out, style),
            "texture_moved": moved(texture_stats, content, out, style),
            "structure_kept": float(np.corrcoef(edges(content), edges(out))[0, 1])}


def painting_split(paths):
    """(val, test) of the benchmark's paintings (data_fetch's gcompris-qt-data "painting"
    role): every third by name chooses checkpoints (benchmarks/student_select.py), the rest
    only measure (benchmarks/quality.py). By name, not by any figure."""
    ordered = sorted(paths)
    return ordered[::3], [p for i, p in enumerate(ordered) if i % 3]
