"""``stylert export``: a trained model -> a parity-checked model package (needs torch:
pip install 'stylert[export]')."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import families
from ..errors import FolderError
from . import PRECISIONS, export_module, names, path, positive_int


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="a trained model -> a model package (ONNX + stylert.json), parity-checked")
    p.add_argument("model", choices=families.KINDS)
    p.add_argument("-o", "--out", required=True, type=path, help="package folder to write")
    p.add_argument("--checkpoint", type=path, help="stylert checkpoint (default: the bundled model); "
                                        "stylegan also takes a style-based-gan-pytorch file")
    p.add_argument("--vgg", type=path, help="adain: the reference implementation's vgg_normalised.pth")
    p.add_argument("--decoder", type=path, help="adain: the reference implementation's decoder.pth")
    p.add_argument("--size", type=positive_int, help="stylegan: resolution to take from a multi-resolution checkpoint")
    p.add_argument("--precision", type=names(PRECISIONS), default=PRECISIONS,
                   help="variants to write, e.g. fp32,fp16 (default: all; int8 where the graph has calibration data)")
    p.add_argument("--force", action="store_true", help="replace an existing non-empty output folder")
    p.add_argument("--no-torch-weights", action="store_true",
                   help="leave model.pt out (the package then has no torch backend)")
    p.add_argument("--unsafe-pickle", action="store_true", help="allow checkpoints that need full unpickling (runs their code)")
    p.add_argument("--triton-repo", metavar="REPO", type=path, help="also write a Triton model repository (defaults of `stylert triton`)")
    p.add_argument("--full-graph", action="store_true",
                   help="adain: also write adain_full.onnx, the whole network in one float graph, for ONNX "
                        "consumers without stylert's AdaIN kernel (no pipeline runs it)")
    p.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    from ..folders import check
    from ..parity import table

    package = export_module("package")
    if args.triton_repo:  # refused now, not after the export's slow work
        check(Path(args.triton_repo), args.force)
    try:
        pkg = package.export(args.model, args.out, checkpoint=args.checkpoint, vgg=args.vgg,
                             decoder=args.decoder, size=args.size, precisions=args.precision,
                             force=args.force, allow_pickle=args.unsafe_pickle,
                             torch_weights=not args.no_torch_weights, full_graph=args.full_graph)
    except package.ParityError as e:
        print(str(e), file=sys.stderr)
        print("stylert: error: the exported graphs do not match PyTorch (table above); no package "
              "was written. Please report it with the table.", file=sys.stderr)
        return 1
    except OSError as e:
        raise FolderError(f"cannot write {args.out}: {e.strerror or e}") from None
    print(table(pkg.meta["parity"]["results"]))
    print(f"wrote {args.out} ({', '.join(pkg.graphs)}; parity gate passed)")
    if args.triton_repo:
        from .triton import write

        write(pkg, args.triton_repo, force=args.force)
    return 0
