"""Loading checkpoints safely and strictly.

* Files load with ``torch.load(weights_only=True)``: a pickle that needs arbitrary Python
  objects is refused unless the caller opts in with ``allow_pickle=True`` (the CLI's
  ``--unsafe-pickle``), because unpickling runs code.
* State dicts load strictly: missing, unexpected and mis-shaped keys are all listed in one
  error, never a silent partial load.
* stylert's own checkpoints are written atomically (temp file, then rename).
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Any, Dict, Iterable, Mapping, Optional

import torch
from torch import nn

from stylert.errors import CheckpointError
from stylert.folders import describe


def load_file(path: os.PathLike | str, *, allow_pickle: bool = False) -> Any:
    path = Path(path)
    if not path.is_file():
        what = describe(path)
        raise CheckpointError(f"checkpoint {path} is {what}, not a checkpoint file" if what
                              else f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=not allow_pickle)
    except pickle.UnpicklingError as e:  # "Unsupported global": it names Python objects
        if not allow_pickle and "unsupported global" in str(e).lower():
            raise CheckpointError(
                f"{path} stores Python objects, and unpickling runs code: if you trust its "
                f"source, pass --unsafe-pickle (allow_pickle=True)"
            ) from None
        raise CheckpointError(_unreadable(path)) from None
    except Exception:  # torch.load on garbage raises nearly anything (IndexError, KeyError, ...)
        raise CheckpointError(_unreadable(path)) from None


def _unreadable(path: Path) -> str:
    # Our own words: torch's advice to retry with weights_only=False would steer the user to
    # the unsafe path for a file that is no checkpoint at all.
    return (f"{path} is not a readable PyTorch checkpoint (damaged, truncated, or another format): "
            f"check that it is the .pth/.pt file you meant")


def find_state_dict(obj: Any, keys: Iterable[str], path: str = "checkpoint") -> Dict[str, torch.Tensor]:
    """The state dict inside ``obj``: the first of ``keys`` present, or ``obj`` itself."""
    if isinstance(obj, Mapping):
        for k in keys:
            if k in obj and isinstance(obj[k], Mapping):
                return dict(obj[k])
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return dict(obj)
    raise CheckpointError(
        f"{path} holds no state dict (looked for a dict of tensors or the keys "
        f"{', '.join(keys)}); is it the right file?"
    )


def _listing(names, limit: int = 8) -> str:
    names = sorted(names)
    more = f" ... and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def load_strict(module: nn.Module, state: Mapping[str, torch.Tensor], what: str = "checkpoint") -> None:
    """Loads ``state`` into ``module`` only if every key and shape matches."""
    expected = module.state_dict()
    missing = set(expected) - set(state)
    unexpected = set(state) - set(expected)
    misshaped = [
        f"{k} {tuple(state[k].shape)} (expected {tuple(expected[k].shape)})"
        for k in sorted(set(expected) & set(state))
        if not isinstance(state[k], torch.Tensor) or state[k].shape != expected[k].shape
    ]
    problems = []
    if missing:
        problems.append(f"missing {len(missing)}: {_listing(missing)}")
    if unexpected:
        problems.append(f"unexpected {len(unexpected)}: {_listing(unexpected)}")
    if misshaped:
        problems.append(f"mis-shaped {len(misshaped)}: {_listing(misshaped)}")
    if problems:
        raise CheckpointError(
            f"{what} does not match {type(module).__name__}: " + "; ".join(problems)
        )
    module.load_state_dict(state, strict=True)


def save_atomic(obj: Any, path: os.PathLike | str) -> Path:
    """torch.save to a temporary file in the same folder, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def stylert_checkpoint(kind: str, config: Dict[str, Any], model: nn.Module, **extra) -> Dict[str, Any]:
    """stylert's own checkpoint layout: kind, constructor config and weights (+ extras)."""
    return {"stylert": kind, "config": dict(config), "state_dict": model.state_dict(), **extra}


def read_stylert_checkpoint(obj: Any, kind: str, path: str) -> Optional[Dict[str, Any]]:
    """``obj`` if it is a stylert checkpoint of ``kind``; None if it is some other layout."""
    if isinstance(obj, Mapping) and "stylert" in obj:
        if obj["stylert"] != kind:
            raise CheckpointError(f"{path} is a stylert '{obj['stylert']}' checkpoint, not '{kind}'")
        return dict(obj)
    return None
