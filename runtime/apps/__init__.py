"""The commands of ``stylert``: one module per app, each owning its subparser
(``add_parser(sub)``, which sets ``func`` to the function that runs it). cli.py assembles
them in the order of ``app_modules()``: the common ones, each model family's own, the tools.
This module holds what several apps share: the pipeline options, output folders, importing
the torch side; the argument types are stylert.argtypes' (the training recipes use them too)."""

from __future__ import annotations

import argparse
import importlib
import os
from pathlib import Path
from typing import List

from ..argtypes import alpha, floats, fraction, names, nonneg, path, positive_int, positive_ints, text, wxh  # noqa: F401
from ..errors import FolderError, UsageError
from ..folders import check_name

# In `stylert --help` order: these, then each model family's own (its record's ``apps``), then TOOLS.
COMMON = ("info", "train", "export", "verify")
TOOLS = ("bench", "bundle", "triton", "build")
PRECISIONS = ["fp32", "fp16", "int8"]


def app_modules() -> List[str]:
    """The modules of `stylert`'s commands, in `stylert --help` order."""
    from ..families import FAMILIES

    own = [m for f in FAMILIES.values() for m in f.apps]
    return [*(f"{__name__}.{a}" for a in COMMON), *own, *(f"{__name__}.{a}" for a in TOOLS)]


def needs_torch() -> None:
    """Refuses a command that needs torch where it is not installed (the runtime alone)."""
    try:
        import torch  # noqa: F401
    except ImportError:
        raise UsageError("this command needs torch: pip install 'stylert[export]'") from None


def export_module(name: str):
    """A stylert.export module; it needs torch, which the runtime alone does not install."""
    needs_torch()
    return importlib.import_module(f"stylert.export.{name}")


_CREATED: List[Path] = []  # output folders this command made (cli.main removes those left empty)


def out_folder(path: str) -> Path:
    out = Path(path)
    check_name(out)  # a link that loops, a name too long: said before any work
    new = [p for p in [out, *out.parents] if not p.exists()]
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FolderError(f"cannot create output folder {out}: {e.strerror}; choose another (-o)") from None
    _CREATED.extend(reversed(new))
    if not os.access(out, os.W_OK | os.X_OK):  # before: every input processed, then each write refused
        raise FolderError(f"cannot write to output folder {out}: choose a writable one (-o)")
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

    p.add_argument("--package", type=path, help="model package folder (default: the bundled one)")
    p.add_argument("--backend", choices=BACKENDS, default="auto")
    p.add_argument("--precision", choices=["auto", *PRECISIONS], default=precision,
                   help=f"package variant to run; auto: the backend's fastest (int8 on CPUs, fp16 on GPUs) "
                        f"(default: {precision})")
    p.add_argument("--unverified", action="store_true",
                   help="run the named --backend even if it fails its self-check against the package's "
                        "reference outputs (it is skipped or refused otherwise)")
