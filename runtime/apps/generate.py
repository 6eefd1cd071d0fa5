"""``stylert generate`` (StyleGAN images, the style-mixing figure, latent walks) and
``stylert manifold`` (the autoencoder's 2-D latent manifold), on the pipelines."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import List, Optional, Sequence

import cv2
import numpy as np

from . import pictures
from .autoencoder import AutoEncoder
from .generator import Generator, slerp
from .images import to_hwc8, write_image


def parse_ints(text: str, name: str = "seeds") -> List[int]:
    """'0-7,42' -> [0, 1, ..., 7, 42]; ValueError naming the bad part."""
    out: List[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m or (m.group(2) and int(m.group(2)) < int(m.group(1))):
            raise ValueError(f"bad {name} {part!r}: write numbers and ranges like 0-7,42")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi - lo > 100_000:
            raise ValueError(f"{name} range {part!r} is too long (at most 100000)")
        out += range(lo, hi + 1)
    if not out:
        raise ValueError(f"no {name} given")
    return out


def _big(img: np.ndarray, least: int = 128) -> np.ndarray:
    """Small generator outputs scaled up (nearest) for figures; per-seed files stay native."""
    k = max(1, -(-least // img.shape[0]))
    return img if k == 1 else cv2.resize(img, None, fx=k, fy=k, interpolation=cv2.INTER_NEAREST)


def images(gen: Generator, seeds: Sequence[int], out: Path, truncation: float, noise_mode: str, batch: int) -> Path:
    """One PNG per seed plus grid.png; returns the grid's path."""
    imgs = gen(seeds, truncation=truncation, noise_mode=noise_mode, batch=batch)
    for s, img in zip(seeds, imgs):
        write_image(out / f"seed{s:04d}.png", img)
    cols = min(len(imgs), 8)
    write_image(out / "grid.png", pictures.tile(np.stack([_big(i) for i in imgs]), cols, value=255))
    return out / "grid.png"


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
        raise ValueError("a walk needs at least 2 seeds and 2 frames")
    if space not in ("z", "w"):
        raise ValueError(f"space must be z or w, got {space!r}")
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
    from .video import open_sink

    size = gen.size * scale
    sink = open_sink(str(path), (size, size), fps)
    try:
        for i in range(0, len(ws), 16):
            for x in gen.synthesis(ws[i:i + 16], noise_mode):
                sink.write(cv2.resize(to_hwc8(x, bgr=True), (size, size), interpolation=cv2.INTER_NEAREST))
    finally:
        sink.close()
    return len(ws)


def projected(gen: Generator, path: str) -> np.ndarray:
    """ws from an .npz with 'w' (N, style_dim) or 'ws' / 'w' (N, num_ws, style_dim)."""
    try:
        with np.load(path) as z:
            key = "ws" if "ws" in z.files else "w" if "w" in z.files else None
            if key is None:
                raise ValueError(f"{path} has no 'w' or 'ws' array (it has {', '.join(z.files)})")
            w = z[key].astype(np.float32)
    except (OSError, EOFError) as e:
        raise ValueError(f"cannot read {path}: {e}") from None
    if w.ndim == 2 and w.shape[1] == gen.style_dim:
        return gen.broadcast(w)
    if w.ndim == 3 and w.shape[1:] == (gen.num_ws, gen.style_dim):
        return w
    raise ValueError(f"{path}: w must be (N, {gen.style_dim}) or (N, {gen.num_ws}, {gen.style_dim}), got {w.shape}")


# ---------------------------------------------------------------------------- manifold
HELD_OUT = 0.2  # share of the digits kept out of training (the recipes use this split too)


def digits(seed: int = 0):
    """scikit-learn's bundled digits: (x (n, 64) float32 in [0, 1], labels, train indices,
    held-out indices). The one definition of the split: stylert.export.data uses it."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ValueError("the digits come with scikit-learn: pip install scikit-learn") from None
    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    order = np.random.default_rng(seed).permutation(len(x))
    cut = int(len(x) * (1 - HELD_OUT))
    return x, d.target, order[:cut], order[cut:]


def pca_mse(train: np.ndarray, test: np.ndarray, k: int) -> float:
    mean = train.mean(0)
    _, _, vt = np.linalg.svd(train - mean, full_matrices=False)
    basis = vt[:k]
    rec = (test - mean) @ basis.T @ basis + mean
    return float(np.mean((rec - test) ** 2))


def manifold(ae: AutoEncoder, out: Path, cells: int = 16) -> dict:
    """manifold.png (codes by class | decoded grid) and report.json (AE vs PCA MSE)."""
    x, labels, train, test = digits()
    z = ae.encode(x)
    rec = ae.reconstruct(x[test]).reshape(len(test), -1)
    report = {"latent": ae.latent, "test_mse_autoencoder": float(np.mean((rec - x[test]) ** 2)),
              "test_mse_pca": pca_mse(x[train], x[test], ae.latent), "test_samples": int(len(test))}
    if ae.latent == 2:
        lo, hi = np.percentile(z, 1, axis=0), np.percentile(z, 99, axis=0)
        grid = ae.grid(lo, hi, cells)
        h, w = ae.image_shape
        tiles = np.stack([cv2.resize((d * 255).astype(np.uint8), (w * 3, h * 3), interpolation=cv2.INTER_CUBIC)
                          for d in grid.reshape(-1, h, w)])
        right = pictures.caption(pictures.tile(tiles, cells), "decoder over the latent plane")
        left = pictures.caption(pictures.scatter(z, labels, size=right.shape[0] - 28), "digits at their codes")
        picture = pictures.side_by_side(left, right)  # pictures draws BGR; write_image takes RGB
        write_image(out / "manifold.png", np.ascontiguousarray(picture[..., ::-1]))
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    return report


def interpolate(ae: AutoEncoder, a: int, b: int, steps: int) -> np.ndarray:
    x, _, _, _ = digits()
    for i in (a, b):
        if not 0 <= i < len(x):
            raise ValueError(f"sample {i} is out of range: the digits have {len(x)} samples (0-{len(x) - 1})")
    line = ae.interpolate(x[a], x[b], steps)
    h, w = ae.image_shape
    tiles = np.stack([cv2.resize((d * 255).astype(np.uint8), (w * 6, h * 6), interpolation=cv2.INTER_CUBIC)
                      for d in line])
    return pictures.tile(tiles, steps)


def finite(value: float, name: str) -> float:
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def layers_arg(text: Optional[str], num_ws: int) -> List[int]:
    layers = parse_ints(text, "layers") if text else list(range(min(2, num_ws)))
    bad = [l for l in layers if l >= num_ws]
    if bad:
        raise ValueError(f"layers {bad} out of range: this generator has layers 0-{num_ws - 1}")
    return layers


def live_walk(gen: Generator, truncation: float, noise_mode: str, frames: int = 0, seed: int = 0,
              steps_per_key: int = 30, scale: int = 8) -> dict:
    """A random walk in z shown in a window as fast as the backend renders it (FPS on the
    frame); q or Esc ends it, or ``frames`` when > 0. Returns {frames, fps}."""
    import time

    from .video import DisplaySink, VideoError, display_available

    if not display_available():
        raise VideoError("no display here (DISPLAY is not set): write a file with `stylert generate video -o walk.mp4`")
    rng = np.random.RandomState(seed)
    a, b = rng.randn(1, gen.style_dim).astype(np.float32), rng.randn(1, gen.style_dim).astype(np.float32)
    sink, shown, t0, fps = DisplaySink("stylert generate --live"), 0, time.perf_counter(), 0.0
    try:
        while not frames or shown < frames:
            t = (shown % steps_per_key) / steps_per_key
            if shown and t == 0:
                a, b = b, rng.randn(1, gen.style_dim).astype(np.float32)
            img = to_hwc8(gen.from_z(slerp(a, b, t), truncation, noise_mode)[0], bgr=True)
            img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
            shown += 1
            fps = shown / (time.perf_counter() - t0)
            cv2.putText(img, f"{fps:.0f} FPS", (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
            sink.write(img)
            if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
                break
    finally:
        sink.close()
    return {"frames": shown, "fps": fps}
