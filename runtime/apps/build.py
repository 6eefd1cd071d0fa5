"""``stylert build PKG``: TensorRT engines for a package on this GPU, into the engine cache."""

from __future__ import annotations

import argparse

from ..package import load
from . import PRECISIONS, path, text


def add_parser(sub) -> None:
    p = sub.add_parser("build", help="build TensorRT engines for a package on this GPU (cached)")
    p.add_argument("package", type=path)
    p.add_argument("--precision", choices=PRECISIONS, default="fp16")
    p.add_argument("--shapes", type=text, help="per input NAME=MIN:OPT:MAX shapes, e.g. "
                                    "frame=1x64x64x3:1x480x640x3:1x1088x1920x3")
    p.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    from ..backends.tensorrt.build import build_package

    build_package(load(args.package), args.precision, args.shapes)
    return 0
