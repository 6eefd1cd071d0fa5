"""``stylert bench``: the command line of stylert.bench (latency of the pipelines for every
combination asked for, in one interleaved run)."""

from __future__ import annotations

import argparse

from ..bench import DEFAULT_SIZES, GRAPHS, MODELS, compare, load_report, markdown, plot, run, run_kernel, to_json
from ..bench.report import pyplot
from ..errors import BenchError
from ..folders import check_report, write_report
from ..limits import count, counts, pixels
from . import PRECISIONS, names, nonneg, path, positive_ints


def add_parser(sub) -> None:
    from ..backends import BACKENDS

    p = sub.add_parser("bench", help="latency of the pipelines, every combination in one interleaved run")
    p.add_argument("model", nargs="?", choices=MODELS,
                   help="live: per 640x480 camera frame (resize, stylize, resize back), then `stylert live` "
                        "on the camera-paced demo scene for FPS and capture-to-output latency")
    p.add_argument("--backend", type=names([*BACKENDS, *GRAPHS]), default=["auto"],
                   help=f"e.g. onnxruntime-cpu,torch; {', '.join(GRAPHS)}: with CUDA graphs, to compare with "
                        f"the same backend without")
    p.add_argument("--precision", type=names(PRECISIONS), default=["fp32"], help="e.g. fp32,int8")
    p.add_argument("--size", type=positive_ints, help="adain: square frame sizes, e.g. 256,512 (default 256); "
                   "kernel: feature sides (default 32,64); live: processing widths, e.g. 320,288 (default 320)")
    p.add_argument("--batch", type=counts("batch"), default=[1], help="e.g. 1,8")
    p.add_argument("--warmup", type=count("warmup"), default=3, help="untimed calls per combination")
    p.add_argument("--iterations", type=count("iterations"), default=20, help="at least this many timed calls each")
    p.add_argument("--duration", type=nonneg, default=3.0, help="and at least this many seconds in all")
    p.add_argument("--baseline", choices=["torch-eager"], help="add PyTorch eager and give ratios against it")
    p.add_argument("--package", type=path, help="model package (default: the bundled one)")
    p.add_argument("--json", type=path, help="write the full report (system description included)")
    p.add_argument("--markdown", type=path, help="write the table")
    p.add_argument("--plot", type=path, help="write a PNG: latency distributions and per-stage bars (needs matplotlib)")
    p.add_argument("--compare", nargs=2, type=path, metavar=("OLD", "NEW"), help="compare two --json reports")
    p.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    if args.compare:
        print(compare(load_report(args.compare[0]), load_report(args.compare[1])))
        return 0
    if not args.model:
        raise BenchError(f"name a model ({', '.join(MODELS)}) or give --compare OLD.json NEW.json")
    sizes = args.size or DEFAULT_SIZES[args.model]
    sized = [m for m in MODELS if DEFAULT_SIZES[m] != [0]]  # 0: the model's own, single size
    if args.model not in sized and args.size:
        raise BenchError(f"--size applies to {', '.join(sized)} (the other models have one size)")
    check_report(args.json)
    check_report(args.markdown)
    check_report(args.plot)
    if args.plot:
        pyplot()  # matplotlib missing: said now, not after the run
    for side in (args.size or []):  # square frames, a batch of them: refused before any allocation
        pixels(side, side, f"--size {side} with --batch {max(args.batch)}", max(args.batch))
    if args.model == "kernel":
        report = run_kernel(sizes, args.warmup, args.iterations, args.duration)
    else:
        report = run(args.model, args.backend, args.precision, sizes, args.batch, args.warmup,
                     args.iterations, args.duration, args.baseline, args.package, live_run=_live)
    text = markdown(report)
    print(text)
    if args.json:
        write_report(args.json, to_json(report))
    if args.markdown:
        write_report(args.markdown, text + "\n")
    if args.plot:
        plot(report, args.plot)
    return 0


def _live(**options) -> dict:
    """The live loop as `stylert live` runs it, for `stylert bench live`."""
    from .live import LiveOptions, run as live_run

    return live_run(LiveOptions(**options))
