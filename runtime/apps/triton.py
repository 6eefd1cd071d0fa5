"""``stylert triton PKG -o REPO``: a Triton Inference Server model repository for a package
(one model per graph, glue graphs and ensembles; written by stylert.export.triton).
``stylert triton serve REPO [REPO ...]``: a local Triton server on those repositories for
development (stylert.tritonserver: set up once from PyPI, ONNX Runtime on the CPU)."""

from __future__ import annotations

import argparse
import sys

from ..errors import UsageError
from ..package import base_precision, load
from . import PRECISIONS, export_module, path, positive_int, text, wxh

USAGE = ("%(prog)s PKG -o REPO [--precision P] [--device gpu|cpu] [options]\n"
         "       %(prog)s serve REPO [REPO ...] [--address ADDR] [--http-port N] [--grpc-port N]")


def port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 1-65535, got {text!r}")
    return value


def add_parser(sub) -> None:
    p = sub.add_parser("triton", help="a Triton Inference Server model repository for a package (+ ensembles); "
                                      "`triton serve REPO`: a local Triton server for development",
                       usage=USAGE, description="Writes a Triton model repository for a package, or (`serve`) runs "
                       "a local Triton server on repositories written with --device cpu.")
    p.add_argument("package", metavar="PKG", type=path, help="model package folder; or `serve`")
    p.add_argument("repos", nargs="*", metavar="REPO", type=path, help="serve: the model repositories to load")
    p.add_argument("-o", "--out", type=path, help="repository folder to write")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32",
                   help="graph variant to serve (graphs without it use fp32)")
    p.add_argument("--device", choices=["gpu", "cpu"], default="gpu", help="instance kind")
    p.add_argument("--instances", type=positive_int, default=1, help="instances per model")
    p.add_argument("--max-batch", type=positive_int, default=8, help="dynamic batching limit")
    p.add_argument("--cc", type=text, help="GPU compute capabilities that must have TensorRT plans, e.g. 8.6,8.7 "
                                "(default: the plans found, if any)")
    p.add_argument("--engines", help="engine folder to take plans from (default: stylert's engine cache)")
    p.add_argument("--name", help="model name prefix (default: the package kind)")
    p.add_argument("--warmup-size", type=wxh, default=(320, 240), help="WxH of the warm-up request")
    p.add_argument("--force", action="store_true", help="replace an existing non-empty folder")
    s = p.add_argument_group("serve", "a local development server: tritonserver 2.51 from PyPI's nvidia-pytriton, "
                                      "set up once under ~/.cache/stylert/tritonserver; ONNX Runtime on the CPU")
    s.add_argument("--address", default="127.0.0.1", help="address to listen on (default: this machine only)")
    s.add_argument("--http-port", type=port, default=8000, help="HTTP/REST port (default: 8000)")
    s.add_argument("--grpc-port", type=port, default=8001, help="gRPC port (default: 8001)")
    p.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    if args.package == "serve":
        return serve(args)
    if args.repos:
        raise UsageError(f"unexpected argument '{args.repos[0]}': `stylert triton PKG -o REPO` writes one repository "
                         f"(to serve repositories: `stylert triton serve REPO ...`)")
    if not args.out:
        raise UsageError("stylert triton PKG needs -o/--out REPO, the repository folder to write")
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


def serve(args: argparse.Namespace) -> int:
    """Sets the server up (once), starts it, says where it listens, and runs until Ctrl-C."""
    from ..tritonserver import server as ts

    if args.out:
        raise UsageError("stylert triton serve takes the repositories as arguments, not -o")
    if args.http_port == args.grpc_port:
        raise UsageError(f"--http-port and --grpc-port are both {args.http_port}: give them different ports")
    repos = ts.check_repositories(args.repos)
    ts.check_port(args.address, args.http_port, "--http-port")
    ts.check_port(args.address, args.grpc_port, "--grpc-port")

    def say(line: str) -> None:
        print(f"stylert: {line}", file=sys.stderr, flush=True)

    inst = ts.install(say)
    if args.address not in ("127.0.0.1", "::1", "localhost"):
        say(f"listening on {args.address}: Triton has no authentication; anyone who reaches it can run the models")
    with ts.Server(inst, repos, address=args.address, http_port=args.http_port, grpc_port=args.grpc_port,
                   log=sys.stderr) as server:
        ready = server.wait_ready()
        names = [m["name"] for m in server.models() if m.get("state") == "READY"]
        print(f"serving {len(names)} models ({', '.join(names)}) at {server.http_url} (HTTP) and {server.grpc_url} "
              f"(gRPC); ready in {ready:.1f} s; Ctrl-C stops", flush=True)
        code = server.proc.wait()
        if code != 0:
            raise ts.ServerError(f"tritonserver exited with code {code}: {server.problem()}")
    return 0
