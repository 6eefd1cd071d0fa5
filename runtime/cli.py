"""The `stylert` command line.

A user's mistake ends in one line on stderr naming the problem and the fix, exit code 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="stylert", description="Edge inference runtime for generative vision models."
    )
    p.add_argument("--version", action="version", version=f"stylert {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    info = sub.add_parser("info", help="what this machine and this build of stylert have")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.set_defaults(func=cmd_info)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
