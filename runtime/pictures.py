"""Pictures for the model cards, drawn with numpy and OpenCV (no plotting library)."""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

# Ten distinct colours (BGR) for class labels.
PALETTE = [(180, 119, 31), (14, 127, 255), (44, 160, 44), (40, 39, 214), (189, 103, 148),
           (75, 86, 140), (194, 119, 227), (127, 127, 127), (34, 189, 188), (207, 190, 23)]


def tile(images: np.ndarray, cols: int, pad: int = 2, value: int = 255) -> np.ndarray:
    """(n, h, w[, 3]) uint8 images -> one grid image."""
    n, h, w = images.shape[:3]
    rows = -(-n // cols)
    shape = (rows * (h + pad) + pad, cols * (w + pad) + pad) + images.shape[3:]
    grid = np.full(shape, value, np.uint8)
    for i, im in enumerate(images):
        r, c = divmod(i, cols)
        grid[pad + r * (h + pad): pad + r * (h + pad) + h, pad + c * (w + pad): pad + c * (w + pad) + w] = im
    return grid


def scatter(points: np.ndarray, labels: Sequence[int], size: int = 480) -> np.ndarray:
    """2-D points coloured by label on a white square, with the digits as markers."""
    img = np.full((size, size, 3), 255, np.uint8)
    lo, hi = points.min(0), points.max(0)
    xy = (points - lo) / np.maximum(hi - lo, 1e-9) * (size - 40) + 20
    for (x, y), lab in zip(xy, labels):
        cv2.putText(img, str(int(lab)), (int(x) - 4, size - int(y) + 4), cv2.FONT_HERSHEY_SIMPLEX,
                    0.35, PALETTE[int(lab) % 10], 1, cv2.LINE_AA)
    return img


def caption(img: np.ndarray, text: str, height: int = 28) -> np.ndarray:
    bar = np.full((height,) + img.shape[1:], 255, np.uint8)
    cv2.putText(bar, text, (6, height - 9), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([bar, img], 0)


def side_by_side(*images: np.ndarray, pad: int = 8) -> np.ndarray:
    h = max(i.shape[0] for i in images)
    parts = []
    for im in images:
        im = im if im.ndim == 3 else cv2.cvtColor(im, cv2.COLOR_GRAY2BGR)
        parts += [np.pad(im, ((0, h - im.shape[0]), (0, 0), (0, 0)), constant_values=255),
                  np.full((h, pad, 3), 255, np.uint8)]
    return np.concatenate(parts[:-1], 1)
