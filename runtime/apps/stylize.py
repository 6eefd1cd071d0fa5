"""``stylert stylize IMAGES --style S -o OUT``: style transfer on image files. A file that
fails is reported and the batch goes on; the exit code says whether any failed."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from ..errors import ImageError, one_line
from . import alpha, floats, out_folder, path, pipeline_options, positive_int


def add_parser(sub) -> None:
    p = sub.add_parser("stylize", help="style transfer on image files")
    p.add_argument("images", nargs="+", type=path, help="image files, folders or glob patterns")
    p.add_argument("--style", required=True, type=path, help="style image(s), comma-separated to mix; or a folder: "
                                                  "each of its styles in turn (outputs NAME_STYLE.EXT)")
    p.add_argument("--weights", type=floats, help="mixing weights for several styles, e.g. 0.7,0.3")
    p.add_argument("--alpha", type=alpha, default=1.0, help="stylization strength in [0, 1] (default 1)")
    p.add_argument("--preserve-color", action="store_true", help="keep the content's colours")
    p.add_argument("--mask", type=path, help="mask image: white takes --style, black takes --style-bg")
    p.add_argument("--style-bg", type=path, help="background style (with --mask)")
    p.add_argument("--size", type=positive_int, help="resize contents to this shorter side first")
    p.add_argument("-o", "--out", required=True, type=path, help="output folder")
    p.add_argument("--ext", default="png", choices=["png", "jpg", "webp", "bmp"])
    pipeline_options(p)
    p.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..errors import UsageError
    from ..images import expand, read_image, resize_short, write_image
    from ..pipelines.stylizer import Stylizer

    files = [Path(f) for f in expand(args.images)]
    folder = Path(args.style).is_dir()
    # A folder: each style in turn (pytorch-AdaIN's --style_dir); a list: one mix of them.
    runs = [[s] for s in expand([args.style], "style images")] if folder else [[s for s in args.style.split(",") if s]]
    if args.mask and not args.style_bg:
        raise UsageError("--mask needs --style-bg (the style where the mask is black)")
    if folder and args.weights:
        raise UsageError("--weights mixes a list of styles; a --style folder runs each style in turn")
    seen = {}
    for f in files:  # outputs are named by the input's stem: two same stems would overwrite one
        if f.stem in seen and seen[f.stem] != f:
            raise UsageError(f"{seen[f.stem]} and {f} would both be written as {f.stem}.{args.ext}: rename one, "
                             f"or stylize them in two runs")
        seen[f.stem] = f
    given = [*files, *(Path(s) for run in runs for s in run), *(Path(x) for x in (args.style_bg, args.mask) if x)]
    inputs = {Path(os.path.realpath(p)): p for p in given}  # (realpath: a link that loops is read, and said, below)
    for styles in runs:  # before: -o . with the content in . wrote the result over the content
        for f in files:
            target = Path(os.path.realpath(Path(args.out) / name(f, styles, folder, args.ext)))
            if target in inputs:
                raise UsageError(f"the result of {f} would be written over the input {inputs[target]}: choose "
                                 f"another output folder (-o)")
    out = out_folder(args.out)
    logging.getLogger("stylert").setLevel(logging.WARNING)
    st = Stylizer(args.package, backend=args.backend, precision=args.precision, unverified=args.unverified)
    print(st.choice)  # stdout: stderr is for the one error line
    mask = read_image(args.mask)[..., 0] if args.mask else None
    failed, total, written = [], len(files) * len(runs), 0
    bar = tqdm(total=total, desc="stylize", unit="image", disable=None if total > 1 else True)  # None: TTY only
    for styles in runs:
        try:
            st.set_style(styles, args.weights, background=args.style_bg)
        except ImageError as e:
            if not folder:  # the one style (or mix): nothing can be made
                raise
            failed.append(str(e))  # a style folder goes on past a bad style, as the contents do
            bar.update(len(files))
            continue
        for f in files:
            try:
                img = read_image(f)
                if args.size:
                    img = resize_short(img, args.size)
                result = st(img, alpha=args.alpha, preserve_color=args.preserve_color, mask=mask)
                write_image(out / name(f, styles, folder, args.ext), result)
                written += 1
            except ImageError as e:
                failed.append(str(e) if str(f) in str(e) else f"{f}: {e}")
            bar.update()
    bar.close()
    for line in failed:
        print(f"stylert: error: {one_line(line)}", file=sys.stderr)
    print(f"wrote {written} of {total} images to {out}")
    return 2 if failed else 0


def name(content: Path, styles, folder: bool, ext: str) -> str:
    """The output file's name: the content's stem, and with a --style folder the style's."""
    return f"{content.stem}_{Path(styles[0]).stem}.{ext}" if folder else f"{content.stem}.{ext}"
