"""Temporal stabilisation for video: less flicker where the scene stands still, no smear
where it moves.

AdaIN stylises each frame on its own, so sensor noise and exposure changes in the input
become shimmering texture in the output. Where the input did not change (from one frame to
the next, beyond the noise), the output is blended with the previous output (a recursive
average); where it changed, the new output is taken as is. The weight is per pixel, from
the blurred input difference, so a moving object keeps its own stylisation. With a static
camera this is the flow-free case of the usual flow-guided blending.
"""

from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

from ..errors import UsageError


class Stabilizer:
    """``strength`` in [0, 1): how much of the previous output a still pixel keeps (0: off);
    ``threshold``: the input change (grey levels, blurred) at which a pixel counts as moving
    (above typical webcam noise, below a moving edge)."""

    def __init__(self, strength: float = 0.8, threshold: float = 12.0):
        if not 0.0 <= strength < 1.0:
            raise UsageError(f"stabilize strength must be in [0, 1), got {strength}")
        self.strength, self.threshold = strength, threshold
        self._grey: Optional[np.ndarray] = None
        self._out: Optional[np.ndarray] = None

    def reset(self) -> None:
        """Forget the previous frame (a new style, a scene cut)."""
        self._grey = self._out = None

    def __call__(self, frame: np.ndarray, out: np.ndarray) -> np.ndarray:
        """``frame``: the input (uint8 HxWx3), ``out``: its stylised result (same size);
        returns the stabilised result."""
        grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).astype(np.float32)
        if self.strength == 0.0 or self._out is None or self._out.shape != out.shape:
            self._grey, self._out = grey, out.astype(np.float32)
            return out
        change = cv2.GaussianBlur(np.abs(grey - self._grey), (0, 0), 2.0)
        keep = self.strength * np.clip(1.0 - change / self.threshold, 0.0, 1.0)[..., None]
        blended = self._out * keep + out.astype(np.float32) * (1.0 - keep)
        self._grey, self._out = grey, blended
        return np.clip(blended + 0.5, 0, 255).astype(np.uint8)
