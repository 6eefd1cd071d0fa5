"""From the processing size back to the frame's size, keeping the frame's edges: a fast guided
filter (He, Sun and Tang, "Guided Image Filtering", 2013; He and Sun, "Fast Guided Filter",
2015) used as joint upsampling. The stylized image is fitted, window by window, as a linear
function of the frame's luma at the processing size (a, b per pixel and channel); a and b are
smooth, so they are resized to the frame's size and applied to the full-size luma there. The
style's colours come from the small stylized image; the edges from the full-size frame.

Cost: box filters at the processing size and one multiply-add per output value at the
frame's size (benchmarks/upsample.py measures it beside plain bilinear resizing).
"""

from __future__ import annotations

from typing import Tuple

import cv2
import numpy as np

# Measured (benchmarks/upsample.py, 640x480 demo frames from 256x192 and 320x240): edge
# correlation with the frame 0.47/0.54 bilinear, 0.72/0.75 at radius 2, 0.80/0.83 at radius 4
# with eps 2e-3; colours within 2.5 grey levels of the plain resize; 2-3 ms a frame.
RADIUS = 4    # the window's half side at the processing size (9 x 9)
EPS = 2e-3    # regularisation on luma in [0, 1]: smaller follows the frame's edges more closely


def _luma(bgr: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY).astype(np.float32) * np.float32(1 / 255)


def _fit(p: np.ndarray, i: np.ndarray, radius: int, eps: float):
    """The guided filter's per-pixel linear model p ~ a * i + b (window means of a and b)."""
    k = (2 * radius + 1, 2 * radius + 1)
    box = lambda x: cv2.boxFilter(x, -1, k, borderType=cv2.BORDER_REFLECT)  # noqa: E731
    mean_i, mean_p = box(i), box(p)
    a = (box(p * i) - mean_p * mean_i) / (box(i * i) - mean_i * mean_i + np.float32(eps))
    return box(a), box(mean_p - a * mean_i)


def guided(small_out: np.ndarray, small_frame: np.ndarray, frame: np.ndarray, radius: int = RADIUS,
           eps: float = EPS) -> np.ndarray:
    """uint8 BGR ``small_out`` (the stylization of ``small_frame``) at ``frame``'s size. Only the
    luma is guided (where the eye sees sharpness); the chroma is resized, as video codecs do."""
    size: Tuple[int, int] = (frame.shape[1], frame.shape[0])
    ycc = cv2.cvtColor(small_out, cv2.COLOR_BGR2YCrCb)
    a, b = _fit(ycc[..., 0].astype(np.float32) * np.float32(1 / 255), _luma(small_frame), radius, eps)
    a = cv2.resize(a, size, interpolation=cv2.INTER_LINEAR)
    b = cv2.resize(b, size, interpolation=cv2.INTER_LINEAR)
    out = cv2.resize(ycc, size, interpolation=cv2.INTER_LINEAR)
    guide = cv2.blur(_luma(frame), (3, 3))  # the camera's pixel noise stays out (it would flicker)
    out[..., 0] = cv2.convertScaleAbs(cv2.multiply(a, guide) + b, alpha=255.0)
    return cv2.cvtColor(out, cv2.COLOR_YCrCb2BGR)
