"""AutoEncoder: the "diabolo" MLP autoencoder from a model package: encode images to the
low-dimensional latent manifold, decode latents back, and walk that manifold."""

from __future__ import annotations

import os
from typing import Dict, Optional, Union

import numpy as np

from ..errors import UsageError
from ..limits import at_most
from ..package import Package
from . import Pipeline, check_finite


class AutoEncoder(Pipeline):
    kind = "ae"
    stages_order = ("encoder", "decoder")

    def __init__(self, package: Optional[Union[str, os.PathLike, Package]] = None, backend: str = "auto",
                 precision: str = "fp32", unverified: bool = False):
        super().__init__(package, backend, precision, unverified)

    def setup(self) -> None:
        io = self.package.meta["io"]
        self.image_shape, self.latent = tuple(io["image_shape"]), io["latent"]
        self.in_dim = int(np.prod(self.image_shape))

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Images (N, H, W) or rows (N, H*W) in [0, 1] (uint8: 0..255) -> latents (N, latent)."""
        x = np.asarray(x)
        x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
        x = x.reshape(len(x), -1) if x.ndim > 1 else x.reshape(1, -1)
        if x.shape[1] != self.in_dim:
            raise UsageError(f"inputs must have {self.in_dim} values ({self.image_shape}), got {x.shape[1]}")
        check_finite(x, "inputs")
        with self.stages("encoder"):
            return self.engines["encoder"].run({"x": x})

    def decode(self, z: np.ndarray) -> np.ndarray:
        """Latents (N, latent) -> images (N, H, W) in [0, 1]."""
        z = np.asarray(z, np.float32)
        z = z[None] if z.ndim == 1 else z
        if z.ndim != 2 or z.shape[1] != self.latent:  # (a reshape would split 3 x 4 into 6 x 2)
            raise UsageError(f"latents must be (N, {self.latent}), got shape {z.shape}")
        check_finite(z, "latents")
        with self.stages("decoder"):
            return self.engines["decoder"].run({"z": z}).reshape(len(z), *self.image_shape)

    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        return self.decode(self.encode(x))

    def interpolate(self, a: np.ndarray, b: np.ndarray, steps: int = 8) -> np.ndarray:
        """Decoded images along the straight line between the codes of images a and b."""
        if steps < 2:
            raise UsageError(f"steps must be >= 2, got {steps}")
        za, zb = self.encode(np.asarray(a)[None]), self.encode(np.asarray(b)[None])
        t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
        return self.decode((1 - t) * za + t * zb)

    def grid(self, low: np.ndarray, high: np.ndarray, n: int = 16) -> np.ndarray:
        """Decoded images over an n x n grid of a 2-D latent region: (n, n, H, W), rows
        going down the second latent axis (the manifold picture)."""
        if self.latent != 2:
            raise UsageError(f"a latent grid needs a 2-D latent; this model's is {self.latent}-D")
        if n < 2:
            raise UsageError(f"n must be >= 2, got {n}")
        at_most(n, "grid", "a grid side of")
        xs = np.linspace(low[0], high[0], n, dtype=np.float32)
        ys = np.linspace(high[1], low[1], n, dtype=np.float32)
        z = np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)
        return self.decode(z).reshape(n, n, *self.image_shape)


def chain(p: AutoEncoder, probe: Dict[str, np.ndarray]) -> np.ndarray:
    """The self-check's whole chain: the package's probe images encoded and decoded."""
    return p.reconstruct(probe["encoder/in/x"])


def bench_call(p: AutoEncoder, size: int, batch: int):
    """One timed call of `stylert bench ae`: a batch reconstructed."""
    x = np.random.default_rng(0).random((batch, p.in_dim), dtype=np.float32)
    return lambda: p.reconstruct(x)

