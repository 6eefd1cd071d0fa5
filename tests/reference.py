"""float64 numpy reference for the AdaIN kernels, written from the documented conventions."""

import numpy as np


def moments(x, w=None):
    """Weighted mean, sum of squared deviations and total weight over the last axis."""
    x = np.asarray(x, np.float64)
    w = np.ones_like(x) if w is None else np.broadcast_to(np.asarray(w, np.float64), x.shape)
    n = w.sum(-1)
    safe = np.where(n > 0, n, 1.0)
    mean = (w * x).sum(-1) / safe
    ssd = (w * (x - mean[..., None]) ** 2).sum(-1)
    return mean, ssd, n


def std(ssd, n, unbiased, eps):
    div = np.maximum(n - 1.0, 1.0) if unbiased else n
    return np.sqrt(ssd / np.where(div > 0, div, 1.0) + eps)


def stats(x2d, unbiased=True, eps=1e-5):
    mean, ssd, n = moments(x2d)
    return mean, std(ssd, n, unbiased, eps)


def adain(x2d, s_mean, s_std, alpha=1.0, unbiased=True, eps=1e-5, w=None):
    """x2d: (rows, len); style vectors of length rows; w: weights (rows, len) or None."""
    x = np.asarray(x2d, np.float64)
    mean, ssd, n = moments(x, w)
    sd = std(ssd, n, unbiased, eps)
    norm = np.where(sd[:, None] > 0, (x - mean[:, None]) / np.where(sd > 0, sd, 1)[:, None], 0.0)
    t = norm * np.asarray(s_std, np.float64)[:, None] + np.asarray(s_mean, np.float64)[:, None]
    return alpha * t + (1 - alpha) * x


def adain_masked(x2d, m2d, fg, bg, alpha=1.0, unbiased=True, eps=1e-5):
    """fg/bg: (mean, std) vectors per row; m2d: weights per row (rows, len)."""
    m = np.asarray(m2d, np.float64)
    out_f = adain(x2d, *fg, alpha, unbiased, eps, w=m)
    out_b = adain(x2d, *bg, alpha, unbiased, eps, w=1 - m)
    return m * out_f + (1 - m) * out_b
