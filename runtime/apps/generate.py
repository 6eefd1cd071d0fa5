"""``stylert generate``: StyleGAN images from seeds, the style-mixing figure, latent walk
videos (to a file, or live in a window), images from given w vectors."""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path
from typing import List, Optional, Sequence

import cv2
import numpy as np

from .. import pictures
from ..errors import UsageError
from ..argtypes import frame_rate
from ..images import MAX_PIXELS, to_hwc8, write_image
from ..limits import at_most, count
from ..package import read_arrays
from ..pipelines.generator import NOISE_MODES, Generator, slerp
from . import out_folder, path, pipeline_options

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".mov")


def add_parser(sub) -> None:
    p = sub.add_parser("generate", help="StyleGAN images, the style-mixing figure, latent walk videos")
    p.add_argument("mode", nargs="?", choices=["images", "mix", "video"], default="images")
    p.add_argument("--seeds", help="e.g. 0-7,42 (images: default 0-7; video: default 0,1,2)")
    p.add_argument("--trunc", type=float, default=0.7, help="truncation psi (1: none, 0: the average image)")
    p.add_argument("--noise-mode", choices=NOISE_MODES, default="const")
    p.add_argument("--batch", type=count("batch"), default=16)
    p.add_argument("--rows", help="mix: row seeds (default 1,2,3)")
    p.add_argument("--cols", help="mix: column seeds (default 10,11,12)")
    p.add_argument("--layers", help="mix: layers taken from the columns, e.g. 0-1 (default: the coarse 0-1)")
    p.add_argument("--frames", type=count("frames"), help="video: frame count (default 120; --live: until q)")
    p.add_argument("--live", action="store_true", help="video: a random walk in a window, as fast as it renders")
    p.add_argument("--fps", type=frame_rate, default=30.0, help="video: frame rate (at most 1000)")
    p.add_argument("--space", choices=["z", "w"], default="z", help="video: slerp in z or lerp in w")
    p.add_argument("--projected-w", type=path, help="render the w vectors in this .npz ('w' or 'ws')")
    p.add_argument("-o", "--out", default="out/generate", type=path, help="output folder (video: a folder or a .mp4 path)")
    pipeline_options(p)
    p.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    trunc = finite(args.trunc, "--trunc")
    g = Generator(args.package, backend=args.backend, precision=args.precision, unverified=args.unverified)
    if args.mode == "video" and args.live:
        r = live_walk(g, trunc, args.noise_mode, frames=args.frames or 0)
        print(f"showed {r['frames']} frames at {r['fps']:.1f} FPS")
        return 0
    if args.mode == "video":
        ws = walk(g, parse_ints(given(args.seeds, "0,1,2")), args.frames or 120, args.space, trunc, args.noise_mode)
        out = Path(args.out if args.out.endswith(VIDEO_EXTENSIONS) else f"{args.out}/walk.mp4")
        out_folder(str(out.parent))
        n = write_video(g, ws, out, args.fps, args.noise_mode)
        print(f"wrote {out} ({n} frames, {g.size * 8}x{g.size * 8}, {args.fps:g} FPS)")
        return 0
    if args.mode == "mix":  # every option is read before the output folder is made
        layers = layers_arg(args.layers, g.num_ws)
        rows, cols = parse_ints(given(args.rows, "1,2,3"), "rows"), parse_ints(given(args.cols, "10,11,12"), "cols")
        mixing_size(g, len(rows), len(cols))  # the figure within the pixel limit, before any rendering
        fig = mixing_figure(g, rows, cols, layers, trunc, args.noise_mode)
        out = out_folder(args.out)
        write_image(out / "mix.png", fig)
        print(f"wrote {out / 'mix.png'} (layers {layers} from the column seeds)")
        return 0
    if args.projected_w:
        ws = projected(g, args.projected_w)
        out = out_folder(args.out)
        for at in range(0, len(ws), args.batch):  # (before: all in one batch, killed for memory at 200000)
            for i, x in enumerate(g.synthesis(ws[at:at + args.batch], args.noise_mode), at):
                write_image(out / f"projected{i:04d}.png", to_hwc8(x))
        print(f"wrote {len(ws)} images to {out}")
        return 0
    seeds = parse_ints(given(args.seeds, "0-7"))
    grid, shown = images(g, seeds, out_folder(args.out), trunc, args.noise_mode, args.batch)
    print(f"wrote {len(seeds)} images and {grid}" + (f" (the first {shown})" if shown < len(seeds) else ""))
    return 0

def given(text: Optional[str], default: str) -> str:
    """An option's text, ``default`` only when it was not given: an empty --seeds "$SEEDS" is
    refused by parse_ints, never read as the default."""
    return default if text is None else text


def parse_ints(text: str, name: str = "seeds") -> List[int]:
    """'0-7,42' -> [0, 1, ..., 7, 42]; ValueError naming the bad part."""
    out: List[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m or (m.group(2) and int(m.group(2)) < int(m.group(1))):
            raise UsageError(f"bad {name} {part!r}: write numbers and ranges like 0-7,42")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        at_most(len(out) + hi - lo + 1, "seeds", f"{name} {text[:40]!r} asks for")  # before the list grows
        out += range(lo, hi + 1)
    if not out:
        raise UsageError(f"no {name} given")
    return out


def _big(img: np.ndarray, least: int = 128) -> np.ndarray:
    """Small generator outputs scaled up (nearest) for figures; per-seed files stay native."""
    k = max(1, -(-least // img.shape[0]))
    return img if k == 1 else cv2.resize(img, None, fx=k, fy=k, interpolation=cv2.INTER_NEAREST)


def _cell(gen: Generator, pad: int = 2) -> int:
    """The side of one image in a figure (``_big``), with the figure's padding."""
    return gen.size * max(1, -(-128 // gen.size)) + pad


def images(gen: Generator, seeds: Sequence[int], out: Path, truncation: float, noise_mode: str, batch: int):
    """One PNG per seed plus grid.png, of as many as fit the pixel limit (8 a row); returns
    the grid's path and how many it shows."""
    imgs = gen(seeds, truncation=truncation, noise_mode=noise_mode, batch=batch)
    for s, img in zip(seeds, imgs):
        write_image(out / f"seed{s:04d}.png", img)
    cols = min(len(imgs), 8)
    shown = min(len(imgs), max(1, MAX_PIXELS // (cols * _cell(gen) ** 2)) * cols)  # 100000 seeds: not a 5 GB grid
    write_image(out / "grid.png", pictures.tile(np.stack([_big(i) for i in imgs[:shown]]), cols, value=255))
    return out / "grid.png", shown


def mixing_size(gen: Generator, rows: int, cols: int) -> None:
    """Refuses a mixing figure above the pixel limit before any image is rendered."""
    w, h = (cols + 1) * _cell(gen), (rows + 1) * _cell(gen)
    if w * h > MAX_PIXELS:
        raise UsageError(f"a mixing figure of {rows} rows and {cols} columns is {w}x{h} pixels, above the limit "
                         f"of {MAX_PIXELS}: ask for fewer --rows or --cols")


def mixing_figure(gen: Generator, rows: Sequence[int], cols: Sequence[int], layers: Sequence[int],
                  truncation: float, noise_mode: str) -> np.ndarray:
    """The StyleGAN paper's figure: column images on top, row images on the left, each cell
    the row seed with the column seed's styles in ``layers``."""
    w_rows = gen.truncate(gen.mapping(gen.z(rows)), truncation)
    w_cols = gen.truncate(gen.mapping(gen.z(cols)), truncation)

    def render(ws):
        return [_big(to_hwc8(x)) for x in gen.synthesis(ws, noise_mode)]

    top = render(gen.broadcast(w_cols))
    left = render(gen.broadcast(w_rows))
    cells = render(gen.mix(w_rows, w_cols, layers))
    blank = np.full_like(top[0], 255)
    grid = [blank] + top
    for r in range(len(rows)):
        grid += [left[r]] + cells[r * len(cols):(r + 1) * len(cols)]
    return pictures.tile(np.stack(grid), len(cols) + 1)


def walk(gen: Generator, seeds: Sequence[int], frames: int, space: str, truncation: float,
         noise_mode: str) -> np.ndarray:
    """ws for a loop through ``seeds``: slerp in z, or lerp in w."""
    if len(seeds) < 2 or frames < 2:
        raise UsageError("a walk needs at least 2 seeds and 2 frames")
    if space not in ("z", "w"):
        raise UsageError(f"space must be z or w, got {space!r}")
    z = gen.z(seeds)
    keys = np.concatenate([z, z[:1]])  # back to the start: a loop
    t = np.linspace(0, len(seeds), frames, endpoint=False)
    if space == "z":
        zs = np.stack([slerp(keys[int(i)][None], keys[int(i) + 1][None], i - int(i))[0] for i in t])
        return gen.broadcast(gen.truncate(gen.mapping(zs), truncation))
    w = gen.truncate(gen.mapping(keys), truncation)
    ws = np.stack([(1 - (i - int(i))) * w[int(i)] + (i - int(i)) * w[int(i) + 1] for i in t]).astype(np.float32)
    return gen.broadcast(ws)


def write_video(gen: Generator, ws: np.ndarray, path: Path, fps: float, noise_mode: str, scale: int = 8) -> int:
    """Renders ``ws`` into a video file (frames upscaled ``scale`` times); returns the frame count."""
    from ..video import open_sink

    size = gen.size * scale
    sink = open_sink(str(path), fps)
    try:
        for i in range(0, len(ws), 16):
            for x in gen.synthesis(ws[i:i + 16], noise_mode):
                sink.write(cv2.resize(to_hwc8(x, bgr=True), (size, size), interpolation=cv2.INTER_NEAREST))
    finally:
        sink.close()
    return len(ws)


def projected(gen: Generator, path: str) -> np.ndarray:
    """ws from an .npz with 'w' (N, style_dim) or 'ws' / 'w' (N, num_ws, style_dim)."""
    arrays = read_arrays(Path(path), UsageError, "give an .npz with 'w' or 'ws'")
    key = "ws" if "ws" in arrays else "w" if "w" in arrays else None
    if key is None:
        raise UsageError(f"{path} has no 'w' or 'ws' array (it has {', '.join(arrays)})")
    if arrays[key].dtype.kind not in "biuf":  # before: a ValueError traceback (strings)
        raise UsageError(f"{path}: {key} holds {arrays[key].dtype} values, not numbers: give float w vectors")
    if arrays[key].ndim == 0 or len(arrays[key]) == 0:  # before: 'wrote 0 images'
        raise UsageError(f"{path}: {key} holds no w vectors")
    at_most(len(arrays[key]), "seeds", f"{path}: the number of {key} vectors,")  # images one run makes
    w = np.asarray(arrays[key], np.float32)
    if not np.isfinite(w).all():  # before: rendered and written as images
        raise UsageError(f"{path}: {key} holds NaN or infinite values")
    if w.ndim == 2 and w.shape[1] == gen.style_dim:
        return gen.broadcast(w)
    if w.ndim == 3 and w.shape[1:] == (gen.num_ws, gen.style_dim):
        return w
    raise UsageError(f"{path}: w must be (N, {gen.style_dim}) or (N, {gen.num_ws}, {gen.style_dim}), got {w.shape}")


def finite(value: float, name: str) -> float:
    if not math.isfinite(value):
        raise UsageError(f"{name} must be finite, got {value}")
    return value


def layers_arg(text: Optional[str], num_ws: int) -> List[int]:
    layers = parse_ints(text, "layers") if text is not None else list(range(min(2, num_ws)))
    bad = [l for l in layers if l >= num_ws]
    if bad:
        raise UsageError(f"layers {bad} out of range: this generator has layers 0-{num_ws - 1}")
    return layers


def live_walk(gen: Generator, truncation: float, noise_mode: str, frames: int = 0, seed: int = 0,
              steps_per_key: int = 30, scale: int = 8) -> dict:
    """A random walk in z shown in a window as fast as the backend renders it (FPS on the
    heads-up line); q or Esc, or closing the window, ends it, or ``frames`` when > 0. The
    window is the display:// output `stylert live` opens (video.open_sinks: shown on its own
    thread, newest frame first). Returns {frames, fps}: frames rendered."""
    import time

    from ..errors import VideoError
    from ..video import display_problem, open_sinks

    if display_problem():
        raise VideoError(f"{display_problem()}: write a file with `stylert generate video -o walk.mp4`")
    rng = np.random.RandomState(seed)
    a, b = rng.randn(1, gen.style_dim).astype(np.float32), rng.randn(1, gen.style_dim).astype(np.float32)
    sinks = open_sinks(["display://"], title="stylert generate --live")
    shown, t0, fps = 0, time.perf_counter(), 0.0
    try:
        while (not frames or shown < frames) and sinks.is_open:
            t = (shown % steps_per_key) / steps_per_key
            if shown and t == 0:
                a, b = b, rng.randn(1, gen.style_dim).astype(np.float32)
            img = to_hwc8(gen.from_z(slerp(a, b, t), truncation, noise_mode)[0], bgr=True)
            img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
            shown += 1
            fps = shown / (time.perf_counter() - t0)
            sinks.status(f"{fps:.0f} FPS")
            sinks.write(img)
            if any(k in (ord("q"), 27) for k in sinks.keys()):
                break
    finally:
        error = sinks.close()
    if error:
        raise VideoError(error)
    return {"frames": shown, "fps": fps}
