"""``stylert build PKG``: TensorRT engines for a package on this GPU, into the engine cache."""

from __future__ import annotations

import argparse

from ..package import load
from . import PRECISIONS


def add_parser(sub) -> None:
    p = sub.add_parser("build", help="build TensorRT engines for a package on this GPU (cached)")
    p.add_argument("package")
    p.add_argument("--precision", choices=PRECISIONS, default="fp16")
    p.add_argument("--shapes", help="per input NAME=MIN:OPT:MAX shapes, e.g. "
                                    "image=1x3x64x64:1x3x480x640:1x3x1088x1920")
    p.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    from ..backends.tensorrt.build import build_package

    build_package(load(args.package), args.precision, args.shapes)
    return 0
