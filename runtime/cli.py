"""The `stylert` command line.

A user's mistake ends in one line on stderr naming the problem and the fix, exit code 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import math
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
    from . import onnxrt
    from .engines import choose
    from .tensorrt import cuda_device, unavailable_reason

    gpu = cuda_device()
    listed = onnxrt.ort.get_available_providers()
    lines += [
        f"GPU: {gpu['name']} (compute capability {gpu['compute_capability']})" if gpu else "GPU: none visible",
        f"ONNX Runtime providers: listed {', '.join(listed)}; working {', '.join(onnxrt.working_providers())}",
        f"TensorRT: {unavailable_reason() or 'available'}",
        f"Pipelines (Stylizer, Generator, AutoEncoder) with --backend auto: {choose('auto')[1]}",
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


def _image_files(items: List[str]) -> List[Path]:
    """Files, folders (their images, sorted) and glob patterns -> image paths."""
    import glob

    from .images import IMAGE_EXTENSIONS, list_images

    files: List[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = [Path(f) for f in list_images(p)]
            if not found:
                raise UserError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in folder {item}")
            files += found
        elif any(c in item for c in "*?["):
            found = sorted(Path(f) for f in glob.glob(item))
            if not found:
                raise UserError(f"no files match {item}")
            files += found
        else:
            files.append(p)  # a missing file is reported with the others that fail
    return files


def cmd_stylize(args: argparse.Namespace) -> int:
    import logging

    from tqdm import tqdm

    from .engines import BackendError
    from .images import ImageError, read_image, resize_short, write_image
    from .package import PackageError
    from .stylizer import Stylizer

    files = _image_files(args.images)
    styles = [s for s in args.style.split(",") if s]
    weights = args.weights
    if args.mask and not args.style_bg:
        raise UserError("--mask needs --style-bg (the style where the mask is black)")
    out = _out_folder(args.out)
    logging.getLogger("stylert").setLevel(logging.WARNING)
    try:
        st = Stylizer(args.package, backend=args.backend, precision=args.precision)
        print(st.backend, file=sys.stderr)
        st.set_style(styles, weights, background=args.style_bg)
        mask = read_image(args.mask)[..., 0] if args.mask else None
    except (PackageError, BackendError, ImageError, ValueError) as e:
        raise UserError(str(e)) from None
    failed = []
    for f in tqdm(files, desc="stylize", unit="image", disable=len(files) < 2):
        try:
            img = read_image(f)
            if args.size:
                img = resize_short(img, args.size)
            result = st(img, alpha=args.alpha, preserve_color=args.preserve_color, mask=mask)
            write_image(out / f"{f.stem}.{args.ext}", result)
        except (ImageError, ValueError) as e:
            failed.append(str(e) if str(f) in str(e) else f"{f}: {e}")
    for line in failed:
        print(f"stylert: error: {line}", file=sys.stderr)
    print(f"wrote {len(files) - len(failed)} of {len(files)} images to {out}")
    return 2 if failed else 0


def _out_folder(path: str) -> Path:
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create output folder {out}: {e.strerror}") from None
    return out


def cmd_generate(args: argparse.Namespace) -> int:
    from . import generate as gen_mod
    from .engines import BackendError
    from .generator import Generator
    from .images import ImageError, to_hwc8, write_image
    from .package import PackageError
    from .video import VideoError

    args.frames_given, args.frames = args.frames is not None, args.frames or 120
    try:
        trunc = gen_mod.finite(args.trunc, "--trunc")
        g = Generator(args.package, backend=args.backend, precision=args.precision)
        if args.mode == "video" and args.live:
            r = gen_mod.live_walk(g, trunc, args.noise_mode, frames=args.frames if args.frames_given else 0)
            print(f"showed {r['frames']} frames at {r['fps']:.1f} FPS")
            return 0
        if args.mode == "video":
            seeds = gen_mod.parse_ints(args.seeds or "0,1,2")
            ws = gen_mod.walk(g, seeds, args.frames, args.space, trunc, args.noise_mode)
            out = Path(args.out if args.out.endswith((".mp4", ".avi", ".mkv", ".mov")) else f"{args.out}/walk.mp4")
            _out_folder(str(out.parent))
            n = gen_mod.write_video(g, ws, out, args.fps, args.noise_mode)
            print(f"wrote {out} ({n} frames, {g.size * 8}x{g.size * 8}, {args.fps:g} FPS)")
            return 0
        out = _out_folder(args.out)
        if args.mode == "mix":
            layers = gen_mod.layers_arg(args.layers, g.num_ws)
            fig = gen_mod.mixing_figure(g, gen_mod.parse_ints(args.rows or "1,2,3", "rows"),
                                        gen_mod.parse_ints(args.cols or "10,11,12", "cols"), layers, trunc,
                                        args.noise_mode)
            write_image(out / "mix.png", fig)
            print(f"wrote {out / 'mix.png'} (layers {layers} from the column seeds)")
            return 0
        if args.projected_w:
            imgs = g.synthesis(gen_mod.projected(g, args.projected_w), args.noise_mode)
            for i, x in enumerate(imgs):
                write_image(out / f"projected{i:04d}.png", to_hwc8(x))
            print(f"wrote {len(imgs)} images to {out}")
            return 0
        seeds = gen_mod.parse_ints(args.seeds or "0-7")
        grid = gen_mod.images(g, seeds, out, trunc, args.noise_mode, args.batch)
        print(f"wrote {len(seeds)} images and {grid}")
        return 0
    except (ValueError, PackageError, BackendError, ImageError, VideoError) as e:
        raise UserError(str(e)) from None


def cmd_manifold(args: argparse.Namespace) -> int:
    from . import generate as gen_mod
    from .autoencoder import AutoEncoder
    from .engines import BackendError
    from .images import ImageError, write_image
    from .package import PackageError

    try:
        ae = AutoEncoder(args.package, backend=args.backend, precision=args.precision)
        out = _out_folder(args.out)
        if args.action:
            if len(args.action) != 3 or args.action[0] != "interpolate" or not all(a.isdigit() for a in args.action[1:]):
                raise ValueError("write `stylert manifold interpolate A B` with two sample numbers")
            pic = gen_mod.interpolate(ae, int(args.action[1]), int(args.action[2]), args.steps)
            write_image(out / "interpolate.png", pic)
            print(f"wrote {out / 'interpolate.png'}")
            return 0
        r = gen_mod.manifold(ae, out)
    except (ValueError, PackageError, BackendError, ImageError) as e:
        raise UserError(str(e)) from None
    print(f"held-out reconstruction MSE ({r['test_samples']} digits): autoencoder {r['test_mse_autoencoder']:.4f}, "
          f"PCA with {r['latent']} components {r['test_mse_pca']:.4f}")
    print(f"wrote {out / 'report.json'}" + (f" and {out / 'manifold.png'}" if ae.latent == 2 else ""))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from . import bench
    from .engines import BackendError
    from .package import PackageError

    try:
        if args.compare:
            print(bench.compare(bench.load_report(args.compare[0]), bench.load_report(args.compare[1])))
            return 0
        if not args.model:
            raise UserError("name a model (adain, stylegan, ae, kernel, live) or give --compare OLD.json NEW.json")
        sizes = args.size or bench.DEFAULT_SIZES[args.model]
        if args.model not in ("adain", "kernel", "live") and args.size:
            raise UserError("--size applies to adain, kernel and live (the other models have one size)")
        if args.model == "kernel":
            report = bench.run_kernel(sizes, args.warmup, args.iterations, args.duration)
        else:
            report = bench.run(args.model, args.backend, args.precision, sizes, args.batch, args.warmup,
                               args.iterations, args.duration, args.baseline, args.package)
        text = bench.markdown(report)
        print(text)
        if args.json:
            bench.write(args.json, json.dumps(report, indent=1) + "\n")
        if args.markdown:
            bench.write(args.markdown, text + "\n")
        if args.plot:
            bench.plot(report, args.plot)
    except (bench.BenchError, BackendError, PackageError, ValueError) as e:
        raise UserError(str(e)) from None
    return 0


def _names(choices):
    def parse(text: str) -> List[str]:
        values = [v.strip() for v in text.split(",") if v.strip()]
        bad = [v for v in values if v not in choices]
        if not values or bad:
            raise argparse.ArgumentTypeError(f"expected a list of {', '.join(choices)}, got {text!r}")
        return values
    return parse


def cmd_bundle(args: argparse.Namespace) -> int:
    from .bundle import BundleError, bundle

    pkg = _load_package(args.package)
    try:
        info = bundle(pkg, args.out, force=args.force)
    except BundleError as e:
        raise UserError(str(e)) from None
    print(f"wrote {args.out}: package/, bundle.json, run.sh ({' '.join(info['command'])}), README.md")
    return 0


def _write_triton(pkg, repo: str, **options) -> None:
    from .package import base_precision

    triton = _export_module("triton")
    try:
        made = triton.write_repository(pkg, repo, **options)
    except triton.TritonError as e:
        raise UserError(str(e)) from None
    platforms = [m["platform"] for m in made.values()]
    counts = ", ".join(f"{platforms.count(k)} {k}" for k in sorted(set(platforms)))
    print(f"wrote {repo}: {len(made)} models ({counts}), README.md")
    asked = options.get("precision", "fp32")
    fallback = [name for name, m in made.items() if m["precision"] and base_precision(m["precision"]) != asked]
    if fallback:
        print(f"note: no {asked} variant of {', '.join(fallback)} in the package: served in fp32")


def cmd_triton(args: argparse.Namespace) -> int:
    triton = _export_module("triton")
    try:
        cc = triton.parse_cc(args.cc) if args.cc else None
    except triton.TritonError as e:
        raise UserError(str(e)) from None
    _write_triton(_load_package(args.package), args.out, precision=args.precision, device=args.device,
                  instances=args.instances, max_batch=args.max_batch, cc=cc, engines=args.engines,
                  name=args.name, warmup_size=args.warmup_size, force=args.force)
    return 0


def cmd_live(args: argparse.Namespace) -> int:
    from .engines import BackendError
    from .images import ImageError
    from .live import LiveOptions, describe, run
    from .package import PackageError
    from .video import VideoError

    opt = LiveOptions(source=args.source, outputs=args.output or [], styles=args.style or [],
                      size=args.size, target_fps=args.target_fps, backend=args.backend,
                      precision=args.precision, package=args.package, alpha=args.alpha,
                      preserve_color=args.preserve_color, smoothing=args.smoothing,
                      max_frames=args.max_frames, duration=args.duration, width=args.width,
                      height=args.height, fps=args.fps, flip=args.flip, realtime=args.realtime,
                      demo_frames=args.demo_frames, json_path=args.json)
    try:
        summary = run(opt)
    except (VideoError, PackageError, BackendError, ImageError, ValueError) as e:
        raise UserError(str(e)) from None
    print(describe(summary))
    return 0 if not summary["error"] else 2


def _wxh(text: str):
    try:
        w, h = (int(v) for v in text.lower().split("x"))
        if w >= 16 and h >= 16:
            return w, h
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT (each >= 16), e.g. 320x240, got {text!r}")


def _nonneg(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (value >= 0.0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def _floats(text: str) -> List[float]:
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _alpha(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}")
    return value


def cmd_export(args: argparse.Namespace) -> int:
    from .folders import FolderError, check

    package = _export_module("package")
    errors = _export_module("checkpoints")
    try:
        if args.triton_repo:  # refused now, not after the export's slow work
            check(Path(args.triton_repo), args.force)
        pkg = package.export(args.model, args.out, checkpoint=args.checkpoint, vgg=args.vgg,
                             decoder=args.decoder, size=args.size, precisions=args.precision,
                             save_io=args.save_io, force=args.force, allow_pickle=args.unsafe_pickle,
                             torch_weights=not args.no_torch_weights)
    except package.ParityError as e:
        print(str(e), file=sys.stderr)
        print("stylert: error: the exported graphs do not match PyTorch (table above); no package "
              "was written. Please report it with the table.", file=sys.stderr)
        return 1
    except (package.ExportError, errors.CheckpointError, FolderError, ValueError) as e:
        raise UserError(str(e)) from None
    except OSError as e:
        raise UserError(f"cannot write {args.out}: {e.strerror or e}") from None
    from .parity import table

    print(table(pkg.meta["parity"]["results"]))
    print(f"wrote {args.out} ({', '.join(pkg.graphs)}; parity gate passed)")
    if args.triton_repo:
        _write_triton(pkg, args.triton_repo, force=args.force)
    return 0


def _load_package(path: str):
    from .package import PackageError, load

    try:
        return load(path)
    except PackageError as e:
        raise UserError(str(e)) from None


def cmd_verify(args: argparse.Namespace) -> int:
    from .package import PackageError
    from .parity import table
    from .verify import verify

    pkg = _load_package(args.package)
    try:
        rows, skipped, reference = verify(pkg)
    except PackageError as e:
        raise UserError(str(e)) from None
    print(f"{pkg.kind} package {args.package}; reference: {reference}")
    print(table(rows))
    for backend, why in skipped:
        print(f"skipped {backend}: {why}")
    failed = sum(not r["passed"] for r in rows)
    print(f"{len(rows) - failed} of {len(rows)} checks passed")
    return 1 if failed else 0


def cmd_build(args: argparse.Namespace) -> int:
    from .tensorrt import TensorRTError, build_package

    pkg = _load_package(args.package)
    try:
        build_package(pkg, args.precision, args.shapes)
    except TensorRTError as e:
        raise UserError(str(e)) from None
    return 0


def _pipeline_options(p: argparse.ArgumentParser) -> None:
    from .engines import BACKENDS

    p.add_argument("--package", help="model package folder (default: the bundled one)")
    p.add_argument("--backend", choices=BACKENDS, default="auto")
    p.add_argument("--precision", choices=["fp32", "fp16", "int8"], default="fp32",
                   help="package variant to run (int8: fastest on CPUs)")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _fraction(text: str) -> float:
    """A number in (0, 1]."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}")
    return value


def _positive_ints(text: str) -> List[int]:
    """'256,128' -> [256, 128]."""
    return [_positive_int(v) for v in text.split(",")]


# What each `stylert train MODEL` prints when done, from the recipe's metrics.
TRAIN_SUMMARY = {
    "ae": lambda m: f"held-out MSE: autoencoder {m['test_mse_ae']:.4f}, PCA {m['test_mse_pca']:.4f}",
    "stylegan": lambda m: f"SWD to held-out digits: trained {m['swd_trained']:.1f}, "
                          f"untrained {m['swd_untrained']:.1f}, real {m['swd_real_vs_real']:.1f}",
    "adain": lambda m: f"held-out: colour statistics moved {m['colour_distance_moved']:.2f} of the way "
                       f"to the style, edge correlation with the content {m['edge_correlation']:.2f}",
}


def cmd_train(args: argparse.Namespace) -> int:
    recipe = _export_module(f"train.{args.model}")
    errors = _export_module("checkpoints")
    common = {"out", "steps", "seed", "every", "resume"}
    options = {k: v for k, v in vars(args).items() if k in common | set(args.recipe_options)}
    options["out"] = Path(args.out)
    try:
        metrics = recipe.run(command="stylert " + " ".join(args.argv), **options)
    except (errors.CheckpointError, ValueError) as e:  # bad checkpoint or model settings
        raise UserError(str(e)) from None
    print(f"{TRAIN_SUMMARY[args.model](metrics)}; wrote {args.out}/{args.model}.pt, .md, .png")
    return 0


def _train_parser(tsub, name: str, help: str, steps: int, every: int, options) -> None:
    t = tsub.add_parser(name, help=help)
    t.add_argument("--out", default=f"runs/{name}", help=f"output folder (default: runs/{name})")
    t.add_argument("--steps", type=_positive_int, default=steps)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--every", type=_positive_int, default=every, help="checkpoint every N steps")
    t.add_argument("--resume", action="store_true", help=f"continue from OUT/{name}.train.pt")
    for flag, kwargs in options:
        t.add_argument(flag, **kwargs)
    t.set_defaults(func=cmd_train, recipe_options=[f.lstrip("-").replace("-", "_") for f, _ in options])


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
    _train_parser(tsub, "ae", "the MLP autoencoder on scikit-learn's digits", 6000, 1000, [
        ("--batch", dict(type=_positive_int, default=128)),
        ("--lr", dict(type=float, default=2e-3)),
        ("--latent", dict(type=_positive_int, default=2, help="latent size (2 draws the manifold)")),
        ("--hidden", dict(type=_positive_ints, default=[256, 128], help="hidden sizes, e.g. 256,128")),
    ])
    _train_parser(tsub, "adain", "the AdaIN decoder on the bundled photographs", 6000, 250, [
        ("--width", dict(type=_fraction, default=0.25, help="channel width multiplier (1 = VGG-19)")),
        ("--size", dict(type=_positive_int, default=128, help="training crop size")),
        ("--batch", dict(type=_positive_int, default=4)),
        ("--lr", dict(type=float, default=5e-4)),
        ("--style-weight", dict(type=float, default=10.0)),
        ("--recon-weight", dict(type=float, default=0.0,
                                help="weight of a pixel reconstruction loss (sharper structure)")),
        ("--vgg", dict(default=None, help="official vgg_normalised.pth as the fixed encoder")),
        ("--unsafe-pickle", dict(action="store_true",
                                 help="allow a --vgg file that needs full unpickling (runs its code)")),
    ])
    _train_parser(tsub, "stylegan", "a small StyleGAN (WGAN-GP) on scikit-learn's digits", 5000, 250, [
        ("--size", dict(type=_positive_int, default=32, help="output resolution (power of two)")),
        ("--channels", dict(type=_positive_ints, default=[64, 64, 32, 16], help="channels per block, 4x4 first")),
        ("--style-dim", dict(type=_positive_int, default=64)),
        ("--n-mlp", dict(type=_positive_int, default=8, help="mapping network depth")),
        ("--batch", dict(type=_positive_int, default=16)),
        ("--lr", dict(type=float, default=1e-3)),
    ])

    exp = sub.add_parser("export", help="a trained model -> a model package (ONNX + stylert.json), parity-checked")
    exp.add_argument("model", choices=["ae", "adain", "stylegan"])
    exp.add_argument("-o", "--out", required=True, help="package folder to write")
    exp.add_argument("--checkpoint", help="stylert checkpoint (default: the bundled model); "
                                          "stylegan also takes a style-based-gan-pytorch file")
    exp.add_argument("--vgg", help="adain: the reference implementation's vgg_normalised.pth")
    exp.add_argument("--decoder", help="adain: the reference implementation's decoder.pth")
    exp.add_argument("--size", type=_positive_int, help="stylegan: resolution to take from a multi-resolution checkpoint")
    exp.add_argument("--precision", type=_names(["fp32", "fp16", "int8"]), default=["fp32", "fp16", "int8"],
                     help="variants to write, e.g. fp32,fp16 (default: all; int8 where the graph has calibration data)")
    exp.add_argument("--save-io", action="store_true", help="keep the parity inputs and PyTorch outputs in the package")
    exp.add_argument("--force", action="store_true", help="replace an existing non-empty output folder")
    exp.add_argument("--no-torch-weights", action="store_true",
                     help="leave model.pt out (the package then has no torch backend)")
    exp.add_argument("--unsafe-pickle", action="store_true", help="allow checkpoints that need full unpickling (runs their code)")
    exp.add_argument("--triton-repo", metavar="REPO",
                     help="also write a Triton model repository (defaults of `stylert triton`)")
    exp.set_defaults(func=cmd_export)

    ver = sub.add_parser("verify", help="re-run a package's parity check on every backend here")
    ver.add_argument("package")
    ver.set_defaults(func=cmd_verify)

    sty = sub.add_parser("stylize", help="style transfer on image files")
    sty.add_argument("images", nargs="+", help="image files, folders or glob patterns")
    sty.add_argument("--style", required=True, help="style image(s), comma-separated to mix")
    sty.add_argument("--weights", type=_floats, help="mixing weights for several styles, e.g. 0.7,0.3")
    sty.add_argument("--alpha", type=_alpha, default=1.0, help="stylization strength in [0, 1] (default 1)")
    sty.add_argument("--preserve-color", action="store_true", help="keep the content's colours")
    sty.add_argument("--mask", help="mask image: white takes --style, black takes --style-bg")
    sty.add_argument("--style-bg", help="background style (with --mask)")
    sty.add_argument("--size", type=_positive_int, help="resize contents to this shorter side first")
    sty.add_argument("-o", "--out", required=True, help="output folder")
    sty.add_argument("--ext", default="png", choices=["png", "jpg", "webp", "bmp"])
    _pipeline_options(sty)
    sty.set_defaults(func=cmd_stylize)

    live = sub.add_parser("live", help="stylize a camera, video or the bundled demo scene in real time")
    live.add_argument("--source", default="demo", help="0, /dev/video0, v4l2:///dev/video0, file://clip.mp4 or a "
                                                       "path, an image folder/glob/img_%%03d.png, rtsp://..., or demo")
    live.add_argument("--output", action="append", help="display://, file://out.mp4 (or .avi, img_%%04d.png), none; "
                                                        "repeat for several (default: a window, or none without a display)")
    live.add_argument("--style", action="append", help="style image or folder, repeat for several (n/p switch)")
    live.add_argument("--size", type=_wxh, help="processing size WxH (display and files keep the capture size)")
    live.add_argument("--target-fps", type=_nonneg, default=0.0,
                      help="adapt the processing size (at most --size) to reach this FPS")
    live.add_argument("--alpha", type=_alpha, default=1.0)
    live.add_argument("--preserve-color", action="store_true")
    live.add_argument("--smoothing", type=float, default=0.0, help="carry content statistics across frames, in [0, 1)")
    live.add_argument("--max-frames", type=_positive_int, default=0)
    live.add_argument("--duration", type=_nonneg, default=0.0, help="stop after this many seconds")
    live.add_argument("--json", help="write the end summary here")
    live.add_argument("--width", type=_positive_int, default=0, help="capture width (cameras; demo)")
    live.add_argument("--height", type=_positive_int, default=0, help="capture height (cameras; demo)")
    live.add_argument("--fps", type=_nonneg, default=0.0, help="capture frame rate (cameras; demo)")
    live.add_argument("--flip", action="store_true", help="mirror horizontally (selfie cameras)")
    live.add_argument("--realtime", action="store_true", help="pace file sources at their frame rate")
    live.add_argument("--demo-frames", type=_positive_int, default=300, help="length of the demo scene")
    _pipeline_options(live)
    live.set_defaults(func=cmd_live)

    gen = sub.add_parser("generate", help="StyleGAN images, the style-mixing figure, latent walk videos")
    gen.add_argument("mode", nargs="?", choices=["images", "mix", "video"], default="images")
    gen.add_argument("--seeds", help="e.g. 0-7,42 (images: default 0-7; video: default 0,1,2)")
    gen.add_argument("--trunc", type=float, default=0.7, help="truncation psi (1: none, 0: the average image)")
    gen.add_argument("--noise-mode", choices=["const", "random", "none"], default="const")
    gen.add_argument("--batch", type=_positive_int, default=16)
    gen.add_argument("--rows", help="mix: row seeds (default 1,2,3)")
    gen.add_argument("--cols", help="mix: column seeds (default 10,11,12)")
    gen.add_argument("--layers", help="mix: layers taken from the columns, e.g. 0-1 (default: the coarse 0-1)")
    gen.add_argument("--frames", type=_positive_int, help="video: frame count (default 120; --live: until q)")
    gen.add_argument("--live", action="store_true", help="video: a random walk in a window, as fast as it renders")
    gen.add_argument("--fps", type=_nonneg, default=30.0, help="video: frame rate")
    gen.add_argument("--space", choices=["z", "w"], default="z", help="video: slerp in z or lerp in w")
    gen.add_argument("--projected-w", help="render the w vectors in this .npz ('w' or 'ws')")
    gen.add_argument("-o", "--out", default="out/generate", help="output folder (video: a folder or a .mp4 path)")
    _pipeline_options(gen)
    gen.set_defaults(func=cmd_generate)

    man = sub.add_parser("manifold", help="the autoencoder's latent manifold: plot, decoded grid, PCA comparison")
    man.add_argument("action", nargs="*", help="`interpolate A B`: decode the line between samples A and B")
    man.add_argument("--steps", type=_positive_int, default=10, help="interpolate: images along the line")
    man.add_argument("-o", "--out", default="out/manifold", help="output folder")
    _pipeline_options(man)
    man.set_defaults(func=cmd_manifold)

    from .engines import BACKENDS

    ben = sub.add_parser("bench", help="latency of the pipelines, every combination in one interleaved run")
    ben.add_argument("model", nargs="?", choices=["adain", "stylegan", "ae", "kernel", "live"],
                     help="live: per 640x480 camera frame (resize, stylize, resize back), then `stylert live` "
                          "on the camera-paced demo scene for FPS and capture-to-output latency")
    ben.add_argument("--backend", type=_names(BACKENDS), default=["auto"], help="e.g. onnxruntime-cpu,torch")
    ben.add_argument("--precision", type=_names(["fp32", "fp16", "int8"]), default=["fp32"], help="e.g. fp32,int8")
    ben.add_argument("--size", type=_positive_ints, help="adain: square frame sizes, e.g. 256,512 (default 256); "
                                                         "kernel: feature sides (default 32,64); live: processing widths, e.g. 320,288 (default 320)")
    ben.add_argument("--batch", type=_positive_ints, default=[1], help="e.g. 1,8")
    ben.add_argument("--warmup", type=_positive_int, default=3, help="untimed calls per combination")
    ben.add_argument("--iterations", type=_positive_int, default=20, help="at least this many timed calls each")
    ben.add_argument("--duration", type=_nonneg, default=3.0, help="and at least this many seconds in all")
    ben.add_argument("--baseline", choices=["torch-eager"], help="add PyTorch eager and give ratios against it")
    ben.add_argument("--package", help="model package (default: the bundled one)")
    ben.add_argument("--json", help="write the full report (system description included)")
    ben.add_argument("--markdown", help="write the table")
    ben.add_argument("--plot", help="write a PNG: latency distributions and per-stage bars (needs matplotlib)")
    ben.add_argument("--compare", nargs=2, metavar=("OLD", "NEW"), help="compare two --json reports")
    ben.set_defaults(func=cmd_bench)

    bun = sub.add_parser("bundle", help="a model package + run script + set-up notes for an embedded device")
    bun.add_argument("package")
    bun.add_argument("-o", "--out", required=True)
    bun.add_argument("--force", action="store_true", help="replace an existing non-empty folder")
    bun.set_defaults(func=cmd_bundle)

    tri = sub.add_parser("triton", help="a Triton Inference Server model repository for a package (+ ensembles)")
    tri.add_argument("package")
    tri.add_argument("-o", "--out", required=True, help="repository folder to write")
    tri.add_argument("--precision", choices=["fp32", "fp16", "int8"], default="fp32",
                     help="graph variant to serve (graphs without it use fp32)")
    tri.add_argument("--device", choices=["gpu", "cpu"], default="gpu", help="instance kind")
    tri.add_argument("--instances", type=_positive_int, default=1, help="instances per model")
    tri.add_argument("--max-batch", type=_positive_int, default=8, help="dynamic batching limit")
    tri.add_argument("--cc", help="GPU compute capabilities that must have TensorRT plans, e.g. 8.6,8.7 "
                                  "(default: the plans found, if any)")
    tri.add_argument("--engines", help="engine folder to take plans from (default: stylert's engine cache)")
    tri.add_argument("--name", help="model name prefix (default: the package kind)")
    tri.add_argument("--warmup-size", type=_wxh, default=(320, 240), help="WxH of the warm-up request")
    tri.add_argument("--force", action="store_true", help="replace an existing non-empty folder")
    tri.set_defaults(func=cmd_triton)

    bld = sub.add_parser("build", help="build TensorRT engines for a package on this GPU (cached)")
    bld.add_argument("package")
    bld.add_argument("--precision", choices=["fp32", "fp16", "int8"], default="fp16")
    bld.add_argument("--shapes", help="per input NAME=MIN:OPT:MAX shapes, e.g. "
                                      "image=1x3x64x64:1x3x480x640:1x3x1088x1920")
    bld.set_defaults(func=cmd_build)
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
