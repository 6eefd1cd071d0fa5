"""What each model kind exports: its ONNX graphs, their named inputs with symbolic shapes,
and the deterministic sample inputs the parity gate (and int8 calibration) runs on.

Symbolic dimensions are strings ("batch", "height", ...); the same name in two inputs of
one graph is the same dimension. Sample inputs are real data where the model has some
(held-out digits, held-out photographs), so the parity numbers mean something.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Tuple

import numpy as np
import torch
from torch import nn

from .data import digits, photos, random_crops, to_tensor

Shape = Tuple  # of int | str

# Modules whose nodes stay float32 in the fp16 graphs (normalisation statistics: a
# variance of fp16 activations overflows; the most reported failure of these models).
KEEP_FP32 = ("stylert.export.ops.AdaIN", "torch.nn.modules.instancenorm.InstanceNorm2d")


@dataclass
class Graph:
    name: str                           # file stem: encoder, decoder, mapping, ...
    module: nn.Module                   # forward(*inputs) -> one tensor
    inputs: Dict[str, Shape]            # input name -> symbolic shape
    output: str                         # output name
    sample: List[np.ndarray]            # parity inputs, in the order of ``inputs``
    calibration: List[List[np.ndarray]] = field(default_factory=list)  # int8 feeds; empty: no int8
    dim_min: Dict[str, int] = field(default_factory=dict)  # smallest size per symbolic dim
    varargs: bool = False               # module.forward(first, *rest)


class _Call(nn.Module):
    """A one-input bound method as a module, so each graph exports one entry point."""

    def __init__(self, owner: nn.Module, fn: Callable):
        super().__init__()
        self.owner, self.fn = owner, fn

    def forward(self, x):
        return self.fn(x)


class _Synthesis(nn.Module):
    def __init__(self, g: nn.Module):
        super().__init__()
        self.g = g

    def forward(self, ws, *noises):
        return self.g.synthesis(ws, list(noises))


def modules(kind: str, model: nn.Module) -> Dict[str, nn.Module]:
    """Graph name -> the module that graph is exported from (the torch backend runs these)."""
    if kind == "ae":
        return {"encoder": _Call(model, model.encode), "decoder": _Call(model, model.decode)}
    if kind == "adain":
        return {"encoder": model.encoder, "decoder": model.decoder, "adain_full": model}
    return {"mapping": _Call(model, model.mapping), "synthesis": _Synthesis(model)}


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().float().contiguous().numpy()


def ae_graphs(model) -> List[Graph]:
    x_train, _, x_test, _ = digits()
    x = torch.from_numpy(x_test[:64])
    with torch.no_grad():
        z = model.encode(x)
    d, k = model.config["in_dim"], model.config["latent"]
    calib = [[x_train[i:i + 64]] for i in range(0, 512, 64)]
    with torch.no_grad():
        calib_z = [[_np(model.encode(torch.from_numpy(c[0])))] for c in calib]
    m = modules("ae", model)
    return [
        Graph("encoder", m["encoder"], {"x": ("batch", d)}, "z", [_np(x)], calib),
        Graph("decoder", m["decoder"], {"z": ("batch", k)}, "x", [_np(z)], calib_z),
    ]


# AdaIN parity inputs: held-out photographs (the recipe never trained on them).
ADAIN_CONTENTS, ADAIN_STYLE, ADAIN_SIDE = ("china", "flower"), "coffee", (96, 136)


def _photo(name: str, hw=ADAIN_SIDE) -> torch.Tensor:
    return torch.nn.functional.interpolate(to_tensor(photos()[name]), size=hw, mode="bilinear",
                                           align_corners=False, antialias=True)


def adain_graphs(net) -> List[Graph]:
    content = torch.cat([_photo(n) for n in ADAIN_CONTENTS])
    with torch.no_grad():
        s_mean, s_std = net.style_stats(_photo(ADAIN_STYLE).expand(len(ADAIN_CONTENTS), -1, -1, -1))
        feat = net.adain(net.encoder(content), s_mean, s_std, 0.8)
    alpha = torch.tensor([0.8])
    # Calibration: crops of the training photographs (never the parity ones).
    pool = [to_tensor(v) for k, v in photos().items() if k not in ADAIN_CONTENTS + (ADAIN_STYLE,)]
    gen = torch.Generator().manual_seed(0)
    crops = [random_crops(pool, 2, 128, gen) for _ in range(6)]
    with torch.no_grad():
        calib_feat = [[_np(net.adain(net.encoder(c), s_mean, s_std, 1.0))] for c in crops]
    c = net.decoder[1].in_channels  # relu4_1 channels
    img = ("batch", 3, "height", "width")
    img_min = {"height": 9, "width": 9}
    stats = ("batch", c, 1, 1)
    return [
        Graph("encoder", net.encoder, {"image": img}, "features", [_np(content)],
              [[_np(x)] for x in crops], img_min),
        Graph("decoder", net.decoder, {"features": ("batch", c, "fheight", "fwidth")}, "image",
              [_np(feat)], calib_feat, {"fheight": 2, "fwidth": 2}),
        Graph("adain_full", net, {"content": img, "style_mean": stats, "style_std": stats, "alpha": (1,)},
              "image", [_np(content), _np(s_mean), _np(s_std), _np(alpha)], [], img_min),
    ]


STYLEGAN_SEEDS, STYLEGAN_TRUNCATION = 4, 0.7


def stylegan_graphs(g) -> List[Graph]:
    z = torch.randn(STYLEGAN_SEEDS, g.style_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ws = g.broadcast(g.truncate(g.mapping(z), STYLEGAN_TRUNCATION))
    noises = g.make_noise(STYLEGAN_SEEDS, "random", torch.Generator().manual_seed(1))
    noise_inputs = {f"noise_{i}": ("batch", 1, s[2], s[3]) for i, s in enumerate(g.noise_shapes(1))}
    # Calibration: other seeds than the parity ones, truncated as generation usually is.
    gen = torch.Generator().manual_seed(2)
    calib_z = [torch.randn(8, g.style_dim, generator=gen) for _ in range(8)]
    with torch.no_grad():
        calib_ws = [[_np(g.broadcast(g.truncate(g.mapping(c), STYLEGAN_TRUNCATION)))]
                    + [_np(n) for n in g.make_noise(8, "random", gen)] for c in calib_z]
    m = modules("stylegan", g)
    return [
        Graph("mapping", m["mapping"], {"z": ("batch", g.style_dim)}, "w", [_np(z)],
              [[_np(c)] for c in calib_z]),
        Graph("synthesis", m["synthesis"], {"ws": ("batch", g.num_ws, g.style_dim), **noise_inputs},
              "image", [_np(ws)] + [_np(n) for n in noises], calib_ws, varargs=True),
    ]


GRAPHS: Dict[str, Callable[[nn.Module], List[Graph]]] = {
    "ae": ae_graphs, "adain": adain_graphs, "stylegan": stylegan_graphs,
}
