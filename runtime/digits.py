"""scikit-learn's 8x8 digits and their one split into training and held-out samples: the data
of the autoencoder and StyleGAN recipes (stylert.export) and of `stylert manifold`, which
reports on the same held-out digits. Torch-free, so the runtime and the exporter share it."""

from __future__ import annotations

import numpy as np

from .errors import UsageError

HELD_OUT = 0.2  # share of the digits kept out of training


def digits(seed: int = 0):
    """scikit-learn's bundled digits: (x (n, 64) float32 in [0, 1], labels, train indices,
    held-out indices). The one definition of the split: stylert.export.data uses it."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise UsageError("the digits come with scikit-learn: pip install scikit-learn") from None
    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    order = np.random.default_rng(seed).permutation(len(x))
    cut = int(len(x) * (1 - HELD_OUT))
    return x, d.target, order[:cut], order[cut:]


def pca_mse(train: np.ndarray, test: np.ndarray, k: int) -> float:
    """Held-out MSE per pixel of PCA with k components fitted on ``train``: the linear
    autoencoder a nonlinear one has to beat."""
    mean = train.mean(0)
    _, _, vt = np.linalg.svd(train - mean, full_matrices=False)
    basis = vt[:k]
    rec = (test - mean) @ basis.T @ basis + mean
    return float(np.mean((rec - test) ** 2))
