"""The `stylert` command line.

A user's mistake ends in one line on stderr naming the problem and the fix, exit code 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import List, Optional

from . import __version__


class UserError(Exception):
    """A mistake the user can fix: printed as one line, exit code 2."""


def cmd_info(args: argparse.Namespace) -> int:
    from .sysinfo import describe

    info = describe()
    if args.json:
        print(json.dumps(info, indent=1))
        return 0
    ext = info["extension"]
    cuda = (
        f"compiled for {ext['cuda_architectures']}, {info['cuda_devices']} device(s) visible"
        if ext["cuda"]
        else "not compiled (no nvcc at build time)"
    )
    from .adain import get_num_threads

    lines = [
        f"stylert {info['stylert']}  (python {info['python']}, {info['os']}, {info['machine']})",
        f"CPU: {info['cpu']}, {info['logical_cores']} logical cores",
        f"AdaIN extension: {ext['compiler']}, OpenMP {'on' if ext['openmp'] else 'off'} "
        f"({get_num_threads()} threads), {'-march=native' if ext['native_arch'] else 'portable'} build",
        f"CUDA kernels: {cuda}",
        "Packages: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()),
    ]
    print("\n".join(lines))
    return 0


def _export_module(name: str):
    """A stylert.export module; it needs torch, which the runtime alone does not install."""
    import importlib

    try:
        import torch  # noqa: F401
    except ImportError:
        raise UserError("this command needs torch: pip install 'stylert[export]'") from None
    return importlib.import_module(f"stylert.export.{name}")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _positive_ints(text: str) -> List[int]:
    """'256,128' -> [256, 128]."""
    return [_positive_int(v) for v in text.split(",")]


def cmd_train_ae(args: argparse.Namespace) -> int:
    recipe = _export_module("train.ae")
    errors = _export_module("checkpoints")
    try:
        metrics = recipe.run(
            Path(args.out), steps=args.steps, batch=args.batch, lr=args.lr, latent=args.latent,
            hidden=args.hidden, seed=args.seed, every=args.every, resume=args.resume,
            command="stylert " + " ".join(args.argv),
        )
    except errors.CheckpointError as e:
        raise UserError(str(e)) from None
    print(
        f"held-out MSE: autoencoder {metrics['test_mse_ae']:.4f}, PCA {metrics['test_mse_pca']:.4f} "
        f"(latent {args.latent}); wrote {args.out}/ae.pt, ae.md, ae.png"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="stylert", description="Edge inference runtime for generative vision models."
    )
    p.add_argument("--version", action="version", version=f"stylert {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    info = sub.add_parser("info", help="what this machine and this build of stylert have")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.set_defaults(func=cmd_info)

    train = sub.add_parser("train", help="train a model with the project's recipe (needs torch)")
    tsub = train.add_subparsers(dest="model", metavar="MODEL", required=True)
    ae = tsub.add_parser("ae", help="the MLP autoencoder on scikit-learn's digits")
    ae.add_argument("--out", default="runs/ae", help="output folder (default: runs/ae)")
    ae.add_argument("--steps", type=_positive_int, default=6000)
    ae.add_argument("--batch", type=_positive_int, default=128)
    ae.add_argument("--lr", type=float, default=2e-3)
    ae.add_argument("--latent", type=_positive_int, default=2, help="latent size (2 draws the manifold)")
    ae.add_argument("--hidden", type=_positive_ints, default=[256, 128], help="hidden sizes, e.g. 256,128")
    ae.add_argument("--seed", type=int, default=0)
    ae.add_argument("--every", type=_positive_int, default=1000, help="checkpoint every N steps")
    ae.add_argument("--resume", action="store_true", help="continue from OUT/train_state.pt")
    ae.set_defaults(func=cmd_train_ae)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv  # recorded in model cards
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except UserError as e:
        print(f"stylert: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("stylert: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
