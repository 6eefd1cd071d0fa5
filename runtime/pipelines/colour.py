"""Colour preservation: the reference implementation's CORAL (a style recoloured to the
content's RGB statistics before it is encoded)."""

from __future__ import annotations

import numpy as np


def coral(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The reference implementation's colour preservation: ``source`` (3xHxW float) with
    its RGB mean and covariance matched to ``target``'s (whitening, then colouring with
    matrix square roots)."""
    def flat_norm(x):
        f = x.reshape(3, -1).astype(np.float64)
        mean, std = f.mean(1, keepdims=True), f.std(1, ddof=1, keepdims=True) if f.shape[1] > 1 else 0.0 * f[:, :1]
        # a flat channel (one colour, or one pixel) normalises to 0 instead of NaN, so a flat
        # content gives its flat colour, and a flat style keeps only the content's colours
        return (f - mean) / np.maximum(std, 1e-6), mean, std

    def sqrtm(m):
        u, s, vt = np.linalg.svd(m)
        return u @ np.diag(np.sqrt(s)) @ vt

    s_norm, _, _ = flat_norm(source)
    t_norm, t_mean, t_std = flat_norm(target)
    s_cov = s_norm @ s_norm.T + np.eye(3)
    t_cov = t_norm @ t_norm.T + np.eye(3)
    moved = sqrtm(t_cov) @ np.linalg.inv(sqrtm(s_cov)) @ s_norm
    return (moved * t_std + t_mean).reshape(source.shape).astype(np.float32)


def keep_luma(stylized: np.ndarray, content: np.ndarray, bgr: bool = False) -> np.ndarray:
    """Luminance-only transfer, cheap enough for live video: the content's colours with the
    stylized image's luma (Rec. 601 weights). Adding the luma difference to all three
    channels moves Y by exactly that difference (the weights sum to 1) and keeps the
    content's chroma (R-Y, B-Y). Either uint8 NHWC frames (RGB, or BGR with ``bgr``) or float
    NCHW RGB in [0, 1]; same shapes, the content's type."""
    frames = content.dtype == np.uint8
    w = np.array([0.299, 0.587, 0.114], np.float32)[::-1 if bgr and frames else 1]
    axis = -1 if frames else 1
    w = w.reshape((1, 1, 1, 3) if frames else (1, 3, 1, 1))
    c = content.astype(np.float32)
    delta = ((stylized.astype(np.float32) - c) * w).sum(axis=axis, keepdims=True)
    if not frames:
        return np.clip(c + delta, 0.0, 1.0, out=c)
    return np.clip(np.rint(c + delta), 0, 255, out=c).astype(np.uint8)
