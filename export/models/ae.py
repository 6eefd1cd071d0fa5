"""The "diabolo" autoencoder: an MLP encoder squeezes the input onto a low-dimensional
latent manifold, a mirrored MLP decoder maps it back (reference-notes, autoencoders).

Inputs are flattened images in [0, 1]; the decoder ends in a sigmoid so its output is too.
"""

from __future__ import annotations

from typing import Dict, List, Sequence

import torch
from torch import nn

from stylert.errors import UsageError

from ..data import digits
from ..graphs import Call, Graph, as_numpy


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
            raise UsageError("layer sizes must be positive")
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

# -- what the exporter writes (stylert.families names this module) -------------------
MODEL = AutoEncoder


def modules(model) -> Dict[str, nn.Module]:
    """Graph name -> the module it is exported from (the torch backend runs these too)."""
    return {"encoder": Call(model, model.encode), "decoder": Call(model, model.decode)}


def io_rules(model) -> Dict:
    """What a runtime needs to know to feed the graphs and read their outputs."""
    return {"input": "flattened images in [0, 1]", "image_shape": model.config["image_shape"],
            "latent": model.config["latent"], "output_range": [0, 1]}


def graphs(model) -> List[Graph]:
    x_train, _, x_test, _ = digits()
    x = torch.from_numpy(x_test[:64])
    with torch.no_grad():
        z = model.encode(x)
    d, k = model.config["in_dim"], model.config["latent"]
    calib = [[x_train[i:i + 64]] for i in range(0, 512, 64)]
    with torch.no_grad():
        calib_z = [[as_numpy(model.encode(torch.from_numpy(c[0])))] for c in calib]
    m = modules(model)
    return [
        Graph("encoder", m["encoder"], {"x": ("batch", d)}, "z", [as_numpy(x)], calib),
        Graph("decoder", m["decoder"], {"z": ("batch", k)}, "x", [as_numpy(z)], calib_z),
    ]
