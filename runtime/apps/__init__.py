"""The commands of ``stylert``: one module per app, each owning its subparser
(``add_parser(sub)``, which sets ``func`` to the function that runs it). cli.py assembles
them in the order of ``APPS``. This module holds what several apps share: argument types,
the pipeline options, output folders, importing the torch side."""

from __future__ import annotations

import argparse
import importlib
import math
from pathlib import Path
from typing import List

from ..errors import FolderError, UsageError

# In `stylert --help` order.
APPS = ("info", "train", "export", "verify", "stylize", "live", "generate", "manifold", "bench", "bundle",
        "triton", "build")
PRECISIONS = ["fp32", "fp16", "int8"]


def export_module(name: str):
    """A stylert.export module; it needs torch, which the runtime alone does not install."""
    try:
        import torch  # noqa: F401
    except ImportError:
        raise UsageError("this command needs torch: pip install 'stylert[export]'") from None
    return importlib.import_module(f"stylert.export.{name}")


_CREATED: List[Path] = []  # output folders this command made (cli.main removes those left empty)


def out_folder(path: str) -> Path:
    out = Path(path)
    new = [p for p in [out, *out.parents] if not p.exists()]
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FolderError(f"cannot create output folder {out}: {e.strerror}") from None
    _CREATED.extend(reversed(new))
    return out


def remove_unused_outputs() -> None:
    """Removes the output folders this command made and left empty (every input refused, an
    interrupt before the first file): a refused command leaves nothing behind."""
    while _CREATED:
        try:
            _CREATED.pop().rmdir()
        except OSError:  # not empty (or gone): kept
            pass


def pipeline_options(p: argparse.ArgumentParser, precision: str = "fp32") -> None:
    from ..backends import BACKENDS

    p.add_argument("--package", help="model package folder (default: the bundled one)")
    p.add_argument("--backend", choices=BACKENDS, default="auto")
    p.add_argument("--precision", choices=["auto", *PRECISIONS], default=precision,
                   help=f"package variant to run; auto: the backend's fastest (int8 on CPUs, fp16 on GPUs) "
                        f"(default: {precision})")
    p.add_argument("--unverified", action="store_true",
                   help="run the named --backend even if it fails its self-check against the package's "
                        "reference outputs (it is skipped or refused otherwise)")


# -- argument types (argparse turns their errors into a usage line and exit 2) ----------
def names(choices):
    """A comma-separated list of ``choices``."""
    def parse(text: str) -> List[str]:
        values = [v.strip() for v in text.split(",") if v.strip()]
        bad = [v for v in values if v not in choices]
        if not values or bad:
            raise argparse.ArgumentTypeError(f"expected a list of {', '.join(choices)}, got {text!r}")
        return values
    return parse


def wxh(text: str):
    try:
        w, h = (int(v) for v in text.lower().split("x"))
        if w >= 16 and h >= 16:
            return w, h
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT (each >= 16), e.g. 320x240, got {text!r}")


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def nonneg(text: str) -> float:
    value = _number(text)
    if not (value >= 0.0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def alpha(text: str) -> float:
    value = _number(text)
    if not 0.0 <= value <= 1.0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}")
    return value


def fraction(text: str) -> float:
    """A number in (0, 1]."""
    value = _number(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}")
    return value


def floats(text: str) -> List[float]:
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def positive_ints(text: str) -> List[int]:
    """'256,128' -> [256, 128]."""
    return [positive_int(v) for v in text.split(",")]
