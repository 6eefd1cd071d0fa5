"""The "diabolo" autoencoder: an MLP encoder squeezes the input onto a low-dimensional
latent manifold, a mirrored MLP decoder maps it back (reference-notes, autoencoders).

Inputs are flattened images in [0, 1]; the decoder ends in a sigmoid so its output is too.
"""

from __future__ import annotations

from typing import Dict, Sequence

import torch
from torch import nn


def _mlp(sizes: Sequence[int], final: nn.Module | None) -> nn.Sequential:
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    if final is not None:
        layers.append(final)
    return nn.Sequential(*layers)


class AutoEncoder(nn.Module):
    """MLP autoencoder ``in_dim -> hidden... -> latent -> ...hidden -> in_dim``."""

    def __init__(self, in_dim: int = 64, hidden: Sequence[int] = (256, 128), latent: int = 2,
                 image_shape: Sequence[int] = (8, 8)):
        super().__init__()
        if in_dim < 1 or latent < 1 or any(h < 1 for h in hidden):
            raise ValueError("layer sizes must be positive")
        self.config: Dict = {"in_dim": in_dim, "hidden": list(hidden), "latent": latent,
                             "image_shape": list(image_shape)}
        self.encoder = _mlp([in_dim, *hidden, latent], None)
        self.decoder = _mlp([latent, *reversed(hidden), in_dim], nn.Sigmoid())

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x.flatten(1))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))
