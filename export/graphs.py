"""How a model family describes the graphs it exports (each family's model file, e.g.
models/adain.py, lists its own): the module, named inputs with symbolic shapes, and the
deterministic sample inputs the parity gate (and int8 calibration) runs on.

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


class Call(nn.Module):
    """A one-input bound method as a module, so each graph exports one entry point."""

    def __init__(self, owner: nn.Module, fn: Callable):
        super().__init__()
        self.owner, self.fn = owner, fn

    def forward(self, x):
        return self.fn(x)


def as_numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().float().contiguous().numpy()
