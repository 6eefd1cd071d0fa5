"""Generator: StyleGAN images from seeds or latents, from a model package.

mapping graph (z -> w), then truncation, style mixing and noise built here in numpy
(they are inputs, not part of the graphs), then the synthesis graph (w per block + noise
-> image). Seeds map to z with numpy's RandomState(seed).randn, the convention of the
official StyleGAN scripts, so a seed is the same face on every backend.
"""

from __future__ import annotations

import math
import os
from typing import Dict, List, Optional, Sequence, Union

import numpy as np

from ..errors import UsageError
from ..images import to_hwc8
from ..package import Package
from . import Pipeline, check_finite

NOISE_MODES = ("const", "random", "none")


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation between latents (rows), the usual walk in z."""
    na, nb = a / np.linalg.norm(a, axis=-1, keepdims=True), b / np.linalg.norm(b, axis=-1, keepdims=True)
    omega = np.arccos(np.clip((na * nb).sum(-1, keepdims=True), -1.0, 1.0))
    so = np.sin(omega)
    small = so < 1e-6
    mix = np.where(small, (1 - t) * a + t * b,
                   np.sin((1 - t) * omega) / np.where(small, 1, so) * a + np.sin(t * omega) / np.where(small, 1, so) * b)
    return mix.astype(np.float32)


class Generator(Pipeline):
    kind = "stylegan"
    stages_order = ("mapping", "synthesis", "post-process")

    def __init__(self, package: Optional[Union[str, os.PathLike, Package]] = None, backend: str = "auto",
                 precision: str = "fp32", unverified: bool = False):
        super().__init__(package, backend, precision, unverified)

    def setup(self) -> None:
        io = self.package.meta["io"]
        self.num_ws, self.style_dim, self.size = io["num_ws"], io["style_dim"], io["size"]
        self.noise_shapes = [tuple(s) for s in io["noise_shapes"]]
        self.w_avg = np.asarray(io["w_avg"], np.float32)

    # -- latents ----------------------------------------------------------------------
    def z(self, seeds: Sequence[int]) -> np.ndarray:
        for s in seeds:
            if not (isinstance(s, (int, np.integer)) and 0 <= s < 2 ** 32):
                raise UsageError(f"seeds must be integers in [0, 2**32), got {s!r}")
        return np.stack([np.random.RandomState(int(s)).randn(self.style_dim) for s in seeds]).astype(np.float32)

    def mapping(self, z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, np.float32)
        if z.ndim != 2 or z.shape[1] != self.style_dim:
            raise UsageError(f"z must be (N, {self.style_dim}), got {z.shape}")
        check_finite(z, "z vectors")
        with self.stages("mapping"):
            return self.engines["mapping"].run({"z": z})

    def truncate(self, w: np.ndarray, psi: float) -> np.ndarray:
        if not math.isfinite(psi):
            raise UsageError(f"truncation psi must be finite, got {psi}")
        return (self.w_avg + psi * (w - self.w_avg)).astype(np.float32)

    def broadcast(self, w: np.ndarray) -> np.ndarray:
        return np.repeat(w[:, None, :], self.num_ws, axis=1)

    def mix(self, w_rows: np.ndarray, w_cols: np.ndarray, layers: Sequence[int]) -> np.ndarray:
        """ws of the rows with the blocks in ``layers`` taken from the columns' w (the
        style-mixing figure: rows x cols -> one ws per pair, row-major)."""
        bad = [l for l in layers if not 0 <= l < self.num_ws]
        if bad:
            raise UsageError(f"layers must be in 0..{self.num_ws - 1}, got {bad}")
        ws = np.repeat(self.broadcast(w_rows), len(w_cols), axis=0)
        cols = np.tile(w_cols, (len(w_rows), 1))
        ws[:, list(layers)] = cols[:, None, :]
        return ws

    def noise(self, batch: int, mode: str = "const", seed: int = 0) -> List[np.ndarray]:
        """One noise map per block: 'const' (fixed, the same for every image), 'random'
        (from ``seed``) or 'none' (zeros)."""
        if mode not in NOISE_MODES:
            raise UsageError(f"noise mode must be one of {', '.join(NOISE_MODES)}, got {mode!r}")
        if mode == "none":
            return [np.zeros((batch, *s), np.float32) for s in self.noise_shapes]
        rng = np.random.RandomState(0 if mode == "const" else seed)
        maps = [rng.randn(1 if mode == "const" else batch, *s).astype(np.float32) for s in self.noise_shapes]
        return [m if len(m) == batch else np.repeat(m, batch, axis=0) for m in maps]

    # -- images -----------------------------------------------------------------------
    def synthesis(self, ws: np.ndarray, noise_mode: str = "const", noise_seed: int = 0,
                  noise: Optional[List[np.ndarray]] = None) -> np.ndarray:
        """ws (N, num_ws, style_dim) -> float NCHW RGB in [0, 1]."""
        ws = np.asarray(ws, np.float32)
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.style_dim):
            raise UsageError(f"ws must be (N, {self.num_ws}, {self.style_dim}), got {ws.shape}")
        check_finite(ws, "ws")
        if noise is None:
            noise = self.noise(len(ws), noise_mode, noise_seed)
        else:  # (the maps self.noise makes are finite: only the caller's are checked)
            for n in noise:
                check_finite(np.asarray(n), "noise maps")
        feeds = {"ws": ws, **{f"noise_{i}": n for i, n in enumerate(noise)}}
        with self.stages("synthesis"):
            img = self.engines["synthesis"].run(feeds)
        with self.stages("post-process"):
            return np.clip(img * 0.5 + 0.5, 0.0, 1.0)

    def from_z(self, z: np.ndarray, truncation: float = 1.0, noise_mode: str = "const",
               noise_seed: int = 0) -> np.ndarray:
        return self.synthesis(self.broadcast(self.truncate(self.mapping(z), truncation)), noise_mode, noise_seed)

    def __call__(self, seeds: Sequence[int], truncation: float = 0.7, noise_mode: str = "const",
                 batch: int = 16) -> np.ndarray:
        """uint8 NHWC RGB images, one per seed (run ``batch`` at a time)."""
        if batch < 1:
            raise UsageError(f"batch must be >= 1, got {batch}")
        seeds = list(seeds)
        out = []
        for i in range(0, len(seeds), batch):
            part = seeds[i:i + batch]
            # noise per image from its own seed, so batching does not change an image
            imgs = [self.from_z(self.z([s]), truncation, noise_mode, s) for s in part] if noise_mode == "random" \
                else [self.from_z(self.z(part), truncation, noise_mode)]
            out += [to_hwc8(x) for chunk in imgs for x in chunk]
        return np.stack(out)


def chain(p: Generator, probe: Dict[str, np.ndarray]) -> np.ndarray:
    """The self-check's whole chain: the package's probe latents through mapping, truncation
    (psi 0.7), constant noise and synthesis to images in [0, 1], as ``from_z`` runs them."""
    return p.from_z(probe["mapping/in/z"], 0.7)


def bench_call(p: Generator, size: int, batch: int):
    """One timed call of `stylert bench stylegan`: a batch of seeds to images."""
    z = p.z(range(batch))
    return lambda: p.from_z(z, 0.7)
