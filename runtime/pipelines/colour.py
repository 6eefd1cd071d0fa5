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
        mean, std = f.mean(1, keepdims=True), f.std(1, ddof=1, keepdims=True)
        return (f - mean) / std, mean, std

    def sqrtm(m):
        u, s, vt = np.linalg.svd(m)
        return u @ np.diag(np.sqrt(s)) @ vt

    s_norm, _, _ = flat_norm(source)
    t_norm, t_mean, t_std = flat_norm(target)
    s_cov = s_norm @ s_norm.T + np.eye(3)
    t_cov = t_norm @ t_norm.T + np.eye(3)
    moved = sqrtm(t_cov) @ np.linalg.inv(sqrtm(s_cov)) @ s_norm
    return (moved * t_std + t_mean).reshape(source.shape).astype(np.float32)
