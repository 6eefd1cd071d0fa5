"""The model families as PyTorch modules (paper-faithful, traceable to ONNX), and loading
them from stylert checkpoints, the bundled defaults included. Each family's file (named by
stylert.families) holds its MODEL class, its graphs, I/O rules and, where it reads another
checkpoint layout, ``foreign``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Optional

from torch import nn

from stylert import families

from ..checkpoints import CheckpointError, load_file, load_strict, read_stylert_checkpoint
from .adain import AdaINNet, load_reference
from .ae import AutoEncoder
from .stylegan import StyleGAN, load_port

__all__ = ["AdaINNet", "AutoEncoder", "DEFAULTS", "StyleGAN", "family", "load", "load_port", "load_reference",
           "modules"]

DEFAULTS = Path(__file__).resolve().parent.parent / "defaults"


def family(kind: str):
    """The export side's module of ``kind`` (MODEL, modules, graphs, io_rules, [foreign])."""
    if kind not in families.FAMILIES:
        raise CheckpointError(f"unknown model kind '{kind}': choose one of {', '.join(families.KINDS)}")
    return families.get(kind).model_module()


def modules(kind: str, model: nn.Module) -> Dict[str, nn.Module]:
    """Graph name -> the module that graph is exported from (the torch backend runs these)."""
    return family(kind).modules(model)


def load(kind: str, path: Optional[os.PathLike | str] = None, *, allow_pickle: bool = False,
         **options) -> nn.Module:
    """A model of ``kind`` from ``path`` (the bundled default when None), in eval mode.
    ``options`` go to foreign layouts (e.g. ``size=256`` for a style-based-gan-pytorch file)."""
    fam = family(kind)
    if path is None:
        path = DEFAULTS / f"{kind}.pt"
        if not path.is_file():
            raise CheckpointError(f"no bundled default for '{kind}' yet: pass a checkpoint")
    obj = load_file(path, allow_pickle=allow_pickle)
    ck = read_stylert_checkpoint(obj, kind, str(path))
    if ck is None:
        if not hasattr(fam, "foreign"):
            raise CheckpointError(f"{path} is not a stylert '{kind}' checkpoint")
        return fam.foreign(obj, str(path), **options).eval()
    try:
        model = fam.MODEL(**ck["config"])
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: its model settings are invalid ({e})") from None
    load_strict(model, ck["state_dict"], str(path))
    return model.eval()
