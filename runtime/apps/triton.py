"""``stylert triton PKG -o REPO``: a Triton Inference Server model repository for a package
(one model per graph, glue graphs and ensembles; written by stylert.export.triton)."""

from __future__ import annotations

import argparse

from ..package import base_precision, load
from . import PRECISIONS, export_module, positive_int, wxh


def add_parser(sub) -> None:
    p = sub.add_parser("triton", help="a Triton Inference Server model repository for a package (+ ensembles)")
    p.add_argument("package")
    p.add_argument("-o", "--out", required=True, help="repository folder to write")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32",
                   help="graph variant to serve (graphs without it use fp32)")
    p.add_argument("--device", choices=["gpu", "cpu"], default="gpu", help="instance kind")
    p.add_argument("--instances", type=positive_int, default=1, help="instances per model")
    p.add_argument("--max-batch", type=positive_int, default=8, help="dynamic batching limit")
    p.add_argument("--cc", help="GPU compute capabilities that must have TensorRT plans, e.g. 8.6,8.7 "
                                "(default: the plans found, if any)")
    p.add_argument("--engines", help="engine folder to take plans from (default: stylert's engine cache)")
    p.add_argument("--name", help="model name prefix (default: the package kind)")
    p.add_argument("--warmup-size", type=wxh, default=(320, 240), help="WxH of the warm-up request")
    p.add_argument("--force", action="store_true", help="replace an existing non-empty folder")
    p.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    triton = export_module("triton")
    cc = triton.parse_cc(args.cc) if args.cc else None
    write(load(args.package), args.out, precision=args.precision, device=args.device,
          instances=args.instances, max_batch=args.max_batch, cc=cc, engines=args.engines,
          name=args.name, warmup_size=args.warmup_size, force=args.force)
    return 0


def write(pkg, repo: str, **options) -> None:
    """Writes the repository and says what it holds (also for `stylert export --triton-repo`)."""
    made = export_module("triton").write_repository(pkg, repo, **options)
    platforms = [m["platform"] for m in made.values()]
    counts = ", ".join(f"{platforms.count(k)} {k}" for k in sorted(set(platforms)))
    print(f"wrote {repo}: {len(made)} models ({counts}), README.md")
    asked = options.get("precision", "fp32")
    fallback = [name for name, m in made.items() if m["precision"] and base_precision(m["precision"]) != asked]
    if fallback:
        print(f"note: no {asked} variant of {', '.join(fallback)} in the package: served in fp32")
