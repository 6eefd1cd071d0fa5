"""The three model families as PyTorch modules (paper-faithful, traceable to ONNX), and
loading them from stylert checkpoints, the bundled defaults included."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Dict, Optional

from torch import nn

from ..checkpoints import CheckpointError, load_file, load_strict, read_stylert_checkpoint
from .adain import AdaINNet, load_reference
from .ae import AutoEncoder
from .stylegan import StyleGAN, load_port

__all__ = ["AdaINNet", "AutoEncoder", "DEFAULTS", "StyleGAN", "load", "load_port", "load_reference"]

DEFAULTS = Path(__file__).resolve().parent.parent / "defaults"

BUILDERS: Dict[str, Callable[..., nn.Module]] = {"ae": AutoEncoder, "adain": AdaINNet, "stylegan": StyleGAN}
# Other checkpoint layouts a kind accepts (obj, path, **options) -> model.
FOREIGN: Dict[str, Callable[..., nn.Module]] = {
    "stylegan": lambda obj, path, size=1024: load_port(obj, size, path),
}


def load(kind: str, path: Optional[os.PathLike | str] = None, *, allow_pickle: bool = False,
         **options) -> nn.Module:
    """A model of ``kind`` from ``path`` (the bundled default when None), in eval mode.
    ``options`` go to foreign layouts (e.g. ``size=256`` for a style-based-gan-pytorch file)."""
    if kind not in BUILDERS:
        raise CheckpointError(f"unknown model kind '{kind}': choose one of {', '.join(BUILDERS)}")
    if path is None:
        path = DEFAULTS / f"{kind}.pt"
        if not path.is_file():
            raise CheckpointError(f"no bundled default for '{kind}' yet: pass a checkpoint")
    obj = load_file(path, allow_pickle=allow_pickle)
    ck = read_stylert_checkpoint(obj, kind, str(path))
    if ck is None:
        if kind not in FOREIGN:
            raise CheckpointError(f"{path} is not a stylert '{kind}' checkpoint")
        return FOREIGN[kind](obj, str(path), **options).eval()
    try:
        model = BUILDERS[kind](**ck["config"])
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: its model settings are invalid ({e})") from None
    load_strict(model, ck["state_dict"], str(path))
    return model.eval()
