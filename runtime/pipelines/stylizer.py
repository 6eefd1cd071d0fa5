"""Stylizer: AdaIN style transfer on frames or files, from a model package.

encoder graph -> fused AdaIN kernel (stylert.adain, on the features) -> decoder graph.
A style is encoded once and kept as its relu4_1 statistics (cached by content), so a
frame costs one encoder and one decoder run. Frames of any size work: they are padded to
a multiple of 8 (edges mirrored) and the output cropped back.

The graphs of a current package take and give the video layer's own pixels (uint8 NHWC
BGR, the manifest's io.frame), so a camera frame goes in and comes out with no conversion
on the host; the other representations (RGB, float NCHW, and the float graphs of format-1
packages) are converted here, in ``_feed`` and ``_result`` only.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
from typing import Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from .. import adain as fused
from ..errors import ImageError, UsageError
from ..images import (MAX_PIXELS, check_float_pixels, check_size, pad_to, padded_size, read_image, resize_short,
                      to_hwc8, to_nchw, to_rgb8)
from ..package import Package
from . import Pipeline
from . import upsample
from .colour import coral, keep_luma
from .temporal import Stabilizer


log = logging.getLogger("stylert")
StyleInput = Union[str, os.PathLike, np.ndarray]


# Below this many feature values the kernel runs on one thread inside the pipeline: waking
# an OpenMP pool between two ONNX Runtime runs cost more than it saved (320x240 frames with
# the bundled model: 42 ms per frame on one thread, 62-74 ms on two; 2-core CPU).
KERNEL_SERIAL_BELOW = 1 << 20


@contextlib.contextmanager
def _kernel_threads(feats):
    if not isinstance(feats, np.ndarray) or feats.size >= KERNEL_SERIAL_BELOW:  # CUDA: no CPU threads
        yield
        return
    before = fused.get_num_threads()
    fused.set_num_threads(1)
    try:
        yield
    finally:
        fused.set_num_threads(before)


class Stylizer(Pipeline):
    """``Stylizer(package=None, backend="auto")``: see README. ``style_size`` is the
    shorter side styles are resized to before encoding (the reference uses 512)."""

    kind, graphs = "adain", ["encoder", "decoder"]
    stages_order = ("resize in", "pre-process", "host->device", "encoder", "adain", "decoder", "device->host", "post-process", "stabilize", "resize out")
    spin = False  # encoder, kernel and decoder take turns on the CPU: no spinning pools
    style_size: Optional[int] = 512
    max_pixels = MAX_PIXELS

    def __init__(self, package: Optional[Union[str, os.PathLike, Package]] = None, backend: str = "auto",
                 precision: str = "fp32", style_size: Optional[int] = 512, max_pixels: int = MAX_PIXELS,
                 unverified: bool = False):
        super().__init__(package, backend, precision, unverified)
        self.style_size, self.max_pixels = style_size, max_pixels

    def setup(self) -> None:
        self.eps = float(self.package.meta["io"]["eps"])
        self._takes_frames = "frame" in self.package.meta["io"]  # format 2: uint8 NHWC BGR in and out
        self._layout = "NHWC" if self._takes_frames else "NCHW"
        self._image_in = self.package.graphs["encoder"]["inputs"][0]["name"]
        self._cache: dict = {}
        self._styles: List[np.ndarray] = []  # the style images, uint8 RGB (for colour preservation)
        self._weights: List[float] = [1.0]
        self._stats: Optional[Tuple[np.ndarray, np.ndarray]] = None
        self._on_device: Optional[tuple] = None  # _stats uploaded once, where the engines run
        self._background: Optional[Tuple[np.ndarray, np.ndarray]] = None
        self._stretched: set = set()  # mask sizes already warned about

    # -- styles -----------------------------------------------------------------------
    def _style_image(self, style: StyleInput) -> Tuple[np.ndarray, str]:
        """(uint8 HxWx3 RGB, cache key) of a style file or uint8 HWC RGB array."""
        if isinstance(style, np.ndarray):
            img = to_rgb8(style, "style", self.max_pixels)
            key = hashlib.sha256(img.tobytes() + str(img.shape).encode()).hexdigest()
        else:
            img = read_image(style, self.max_pixels)
            with open(style, "rb") as f:
                key = hashlib.sha256(f.read()).hexdigest()
        if self.style_size:
            img = resize_short(img, self.style_size)
        return img, f"{key}:{self.style_size}"

    def _encode_stats(self, x: np.ndarray, bgr: bool = False) -> Tuple[np.ndarray, np.ndarray]:
        """The relu4_1 statistics of one image: uint8 HxWx3 (RGB, or BGR) or float 1x3xHxW RGB."""
        x, _ = pad_to(self._feed(x[None] if x.ndim == 3 else x, bgr), layout=self._layout)
        feats = self.engines["encoder"].run({self._image_in: x})
        mean, std = fused.channel_stats(feats, eps=self.eps)
        return mean.reshape(-1), std.reshape(-1)

    def _cached_stats(self, x: np.ndarray, key: str) -> Tuple[np.ndarray, np.ndarray]:
        if key not in self._cache:
            self._cache[key] = self._encode_stats(x)
        return self._cache[key]

    def style_stats(self, style: StyleInput) -> Tuple[np.ndarray, np.ndarray]:
        """Mean and std (C,) of a style's relu4_1 features, computed once per content."""
        return self._cached_stats(*self._style_image(style))

    def set_style(self, styles: Union[StyleInput, Sequence[StyleInput]], weights: Optional[Sequence[float]] = None,
                  background: Optional[StyleInput] = None) -> None:
        """One style, or several mixed by ``weights`` (normalised to sum 1); ``background``
        is the style where a mask given to ``__call__`` is 0."""
        styles = [styles] if isinstance(styles, (str, os.PathLike, np.ndarray)) else list(styles)
        if not styles:
            raise UsageError("give at least one style")
        weights = [1.0] * len(styles) if weights is None else [float(w) for w in weights]
        if len(weights) != len(styles):
            raise UsageError(f"{len(styles)} styles but {len(weights)} weights: give one weight per style")
        if any(not math.isfinite(w) or w < 0 for w in weights) or sum(weights) <= 0:
            raise UsageError(f"style weights must be finite, >= 0 and not all 0, got {weights}")
        images = [self._style_image(s) for s in styles]
        stats = [self._cached_stats(x, key) for x, key in images]
        self._use_stats(fused.mix_stats([m for m, _ in stats], [s for _, s in stats], weights))
        self._styles = [x for x, _ in images]
        self._weights = weights
        self._background = self.style_stats(background) if background is not None else None

    def _use_stats(self, stats: Tuple[np.ndarray, np.ndarray]) -> None:
        self._stats, self._on_device = stats, None

    def _device_stats(self, engine) -> tuple:
        """The style statistics where the engines run: uploaded once per style, on the
        engines' stream (not once per frame)."""
        if self._on_device is None:
            self._on_device = tuple(engine.to_device(a) for a in self._stats)
        return self._on_device

    # -- frames -----------------------------------------------------------------------
    def __call__(self, frames: np.ndarray, alpha: float = 1.0, preserve_color: Union[bool, str] = False,
                 mask: Optional[np.ndarray] = None, bgr: bool = False) -> np.ndarray:
        """Stylizes uint8 HWC frames (one HxWx3 or a batch NxHxWx3; RGB, or BGR with ``bgr``)
        or float NCHW RGB in [0, 1]; returns the same kind and size.
        ``preserve_color``: True (or "coral") is the reference way, each style recoloured to
        the frame and re-encoded; "luma" keeps the frame's colours under the stylized luma
        (no re-encoding: the one for video).
        ``mask`` (HxW, 1 = foreground style, 0 = background style) needs a background style.
        Float frames meet the 8-bit graphs of current packages as uint8 (rounded)."""
        if self._stats is None:
            raise UsageError("no style set: call set_style() first")
        if not (math.isfinite(alpha) and 0.0 <= alpha <= 1.0):
            raise UsageError(f"alpha must be in [0, 1], got {alpha}")
        if preserve_color not in (False, True, "coral", "luma"):
            raise UsageError(f"preserve_color must be False, True, 'coral' or 'luma', got {preserve_color!r}")
        if mask is not None and self._background is None:
            raise UsageError("a mask needs a background style: set_style(..., background=STYLE)")
        encoder, decoder = self.engines["encoder"], self.engines["decoder"]
        with self.stages("pre-process"):
            batch = self._batch(frames)
            padded, (h, w) = pad_to(self._feed(batch, bgr), layout=self._layout)
        with self._copy("host->device"):
            padded = encoder.to_device(padded)
        with self.stages("encoder"):
            feats = encoder.run_native({self._image_in: padded})  # stays on the engine's device
        on_host = mask is not None
        if on_host:
            feats = encoder.to_host(feats)  # the mask is resized on the host
        if preserve_color in (True, "coral"):
            mean, std = self._frame_style(batch[0], bgr)
        else:
            mean, std = self._stats if on_host or not encoder.copies else self._device_stats(encoder)
        with _kernel_threads(feats), self.stages("adain"):
            if mask is not None:
                m = self._feature_mask(mask, (h, w), feats.shape[2:])
                bg_mean, bg_std = self._background
                fused.adain_masked(feats, m, mean, std, bg_mean, bg_std, alpha=alpha, eps=self.eps, out=feats)
            else:
                on_device = not isinstance(feats, np.ndarray)  # the kernel runs on the engines' stream
                fused.adain(feats, mean, std, alpha=alpha, eps=self.eps, out=feats,
                            stream=encoder.stream if on_device else None)
        with self.stages("decoder"):
            out = decoder.run_native({"features": feats})
        with self._copy("device->host"):
            out = decoder.to_host(out)
        with self.stages("post-process"):
            out = self._result(out[:, :h, :w] if self._takes_frames else out[:, :, :h, :w], batch.dtype, bgr)
            if preserve_color == "luma":
                out = keep_luma(out, batch, bgr)
            return out[0] if frames.ndim == 3 else out

    def frame(self, img: np.ndarray, size: Tuple[int, int], alpha: float = 1.0,
              preserve_color: Union[bool, str] = False, stabilizer: Optional[Stabilizer] = None, sharpen: bool = False) -> np.ndarray:
        """One uint8 BGR video frame: resized to the processing ``size`` (w, h), stylized,
        stabilised over time (``stabilizer``, at the processing size: cheap), resized back to
        its own size (the resizes are the "resize in"/"resize out" stages): bilinear, or with
        ``sharpen`` guided by the frame's own edges (pipelines/upsample.py)."""
        h, w = img.shape[:2]
        size = self._size(size)
        small = img
        if size != (w, h):
            with self.stages("resize in"):
                small = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
        out = self(small, alpha=alpha, preserve_color=preserve_color, bgr=True)
        if stabilizer is not None:
            with self.stages("stabilize"):
                out = stabilizer(small, out)
        if size != (w, h):
            with self.stages("resize out"):
                out = (upsample.guided(out, small, img) if sharpen else
                       cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR))
        return out

    def _size(self, size) -> Tuple[int, int]:
        """A processing size (w, h): whole numbers >= 1 within the pixel limit, checked before
        the resize allocates it (before: OpenCV's assertion, or 30 GB asked of it)."""
        try:
            w, h = (int(v) for v in size)
            whole = all(float(v) == int(v) for v in size)
        except (TypeError, ValueError):
            whole = False
        if not whole or w < 1 or h < 1:
            raise UsageError(f"size must be (width, height), whole numbers >= 1, got {size!r}")
        check_size(w, h, "processing size", self.max_pixels)
        return w, h

    def _copy(self, name: str):
        """A stage for a host<->device copy where the engines make one (shown apart, as
        trtexec does); none on the CPU, or where the engine copies inside its run."""
        return self.stages(name) if self.engines["encoder"].copies else contextlib.nullcontext()

    def _batch(self, frames: np.ndarray) -> np.ndarray:
        """``frames`` as a batch (a view: N x H x W x 3 uint8 or N x 3 x H x W float32), checked."""
        given, frames = frames, np.asarray(frames)
        if frames.size == 0:
            raise ImageError(f"frames are empty (shape {frames.shape}): give at least one pixel")
        if frames.dtype == np.uint8 and frames.ndim in (3, 4) and frames.shape[-1] == 3:
            batch = frames[None] if frames.ndim == 3 else frames
            h, w = batch.shape[1:3]
        elif frames.dtype == np.float32 and frames.ndim == 4 and frames.shape[1] == 3:
            batch, (h, w) = frames, frames.shape[2:]
        elif isinstance(given, (list, tuple)):  # before: "convert with to_rgb8", which refuses int64 too
            raise ImageError(f"frames must be a numpy array (uint8 HxWx3 / NxHxWx3 or float32 Nx3xHxW), got a "
                             f"{type(given).__name__}: convert it with np.asarray(frames, np.uint8)")
        else:
            raise ImageError(f"frames must be uint8 HxWx3 / NxHxWx3 or float32 Nx3xHxW, got "
                             f"{frames.dtype} {frames.shape} (convert grey/RGBA with stylert.images.to_rgb8)")
        check_size(w, h, "frame", self.max_pixels)
        ph, pw = padded_size(h, w)  # a 1-pixel-high strip runs 16 rows high: that is what is allocated
        if ph * pw > self.max_pixels:
            raise ImageError(f"frame is {w}x{h}, which the network runs padded to {pw}x{ph} (a multiple of 8, "
                             f"at least 16 a side), above the limit of {self.max_pixels} pixels: resize or crop it")
        n = len(batch)
        if n * ph * pw > self.max_pixels:  # one call runs the whole batch at once
            raise ImageError(f"a batch of {n} frames of {w}x{h} runs {n} x {pw}x{ph} pixels at once, above the "
                             f"limit of {self.max_pixels}: pass fewer frames per call")
        if batch.dtype == np.float32:  # before: NaN stylized as if 0, 0..255 frames as if white
            check_float_pixels(batch, "frames")
        return batch

    def _feed(self, batch: np.ndarray, bgr: bool) -> np.ndarray:
        """A batch (uint8 NHWC RGB, or BGR with ``bgr``, or float NCHW RGB) as the encoder
        takes it: uint8 NHWC BGR frames (BGR frames pass as they are), or float NCHW RGB for
        the graphs of format-1 packages."""
        if batch.dtype == np.uint8:
            if self._takes_frames:
                return batch if bgr else batch[..., ::-1]
            return np.concatenate([to_nchw(f, bgr) for f in batch])
        return np.stack([to_hwc8(x, bgr=True) for x in batch]) if self._takes_frames else batch

    def _result(self, out: np.ndarray, dtype, bgr: bool) -> np.ndarray:
        """The decoder's (cropped) output as the caller gave frames: uint8 NHWC (RGB, or BGR
        with ``bgr``) or float NCHW RGB."""
        if self._takes_frames:
            if dtype == np.uint8:
                return np.ascontiguousarray(out if bgr else out[..., ::-1])
            return np.concatenate([to_nchw(f, bgr=True) for f in out])
        if dtype == np.uint8:
            return np.stack([to_hwc8(o, bgr) for o in out])
        return np.ascontiguousarray(out)

    def _frame_style(self, first: np.ndarray, bgr: bool) -> Tuple[np.ndarray, np.ndarray]:
        """Colour preservation: each style recoloured to the content (first frame), re-encoded."""
        content = to_nchw(first, bgr)[0] if first.dtype == np.uint8 else first
        stats = [self._encode_stats(coral(to_nchw(s)[0], content)[None]) for s in self._styles]
        return fused.mix_stats([m for m, _ in stats], [s for _, s in stats], self._weights)

    def _feature_mask(self, mask: np.ndarray, size: Tuple[int, int], fsize: Tuple[int, int]) -> np.ndarray:
        m = np.asarray(mask)
        if m.ndim == 3 and m.shape[2] in (1, 3, 4):
            m = m[..., 0]
        if m.ndim != 2 or m.size == 0:
            raise ImageError(f"mask must be an HxW image, got shape {m.shape}")
        if m.shape != tuple(size) and m.shape not in self._stretched:
            self._stretched.add(m.shape)  # said once per mask size
            log.warning("mask is %dx%d, the frame %dx%d: the mask is stretched to the frame",
                        m.shape[1], m.shape[0], size[1], size[0])
        if m.dtype == np.bool_:
            m = m.astype(np.float32)
        elif m.dtype == np.uint8:
            m = m.astype(np.float32) * (1.0 / 255.0)
        else:  # float (or other whole numbers) in [0, 1]: 0..255 or NaN refused, never clipped to all foreground
            m = m.astype(np.float32)
            check_float_pixels(m, "mask")
        m = cv2.resize(m, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)  # (float32 from every branch above)
        fh, fw = fsize  # features cover the padded frame; the mask covers the frame
        ph, pw = fh * 8, fw * 8
        m = np.pad(m, ((0, ph - size[0]), (0, pw - size[1])), mode="edge")
        return np.clip(cv2.resize(m, (fw, fh), interpolation=cv2.INTER_AREA), 0.0, 1.0)


def chain(p: Stylizer, probe: Dict[str, np.ndarray]) -> np.ndarray:
    """The self-check's whole chain, as a user's calls run it: the style (the package's second
    probe image) encoded to its statistics, then the first image stylized at alpha 0.75
    (upload, encoder, fused AdaIN on the engines' stream, decoder, download)."""
    image = probe[f"encoder/in/{p._image_in}"]  # uint8 NHWC BGR frames (format 1: float NCHW RGB)
    p._use_stats(p._encode_stats(image[1:2], bgr=True))
    return p(image[:1], alpha=0.75, bgr=True)


def bench_call(p: Stylizer, size: int, batch: int):
    """One timed call of `stylert bench adain`: random uint8 frames of size x size."""
    from ..images import ASSETS

    p.set_style(str(ASSETS / "coffee.jpg"))
    frames = np.random.default_rng(0).integers(0, 256, (batch, size, size, 3), dtype=np.uint8)
    return lambda: p(frames if batch > 1 else frames[0])
