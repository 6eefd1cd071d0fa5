"""Images in and out of the pipelines, in one place.

Files: read with OpenCV (EXIF orientation applied), any of grayscale, RGB, RGBA (alpha
composited on white) and 8 or 16 bits per channel; refused with one clear line when
unreadable, empty or above the pixel limit. Arrays: uint8 HWC (RGB, or BGR with
``bgr=True``) <-> float32 NCHW RGB in [0, 1], each way an OpenCV plane split or merge plus
one scaling pass (the naive numpy transpose chain costs 2-4x more per 640x480 frame).
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import struct
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from .errors import ImageError
from .folders import describe

log = logging.getLogger(__name__)
ASSETS = Path(__file__).resolve().parent / "assets"  # the bundled style and demo images
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")

DEFAULT_MAX_PIXELS = 16_000_000
FLOAT_RANGE = (-0.5, 1.5)  # float pixels beyond these are taken for another scale, not [0, 1]


def _max_pixels() -> Tuple[int, str]:
    """(the pixel limit, '' or why STYLERT_MAX_PIXELS was not usable): a whole number, with
    an optional K/M/G suffix (16M); unset or empty means the default."""
    text = os.environ.get("STYLERT_MAX_PIXELS", "").strip().replace("_", "")
    if not text:
        return DEFAULT_MAX_PIXELS, ""
    scale = {"K": 10**3, "M": 10**6, "G": 10**9}.get(text[-1].upper(), 1)
    digits = text[:-1] if scale > 1 else text
    if digits.isdigit() and int(digits) > 0:
        return int(digits) * scale, ""
    return DEFAULT_MAX_PIXELS, (f"STYLERT_MAX_PIXELS={text!r} is not a number of pixels: write e.g. 16000000 "
                                f"or 16M, or unset it")


# Refuse larger inputs (a 100-megapixel photo would need tens of GB of features). The
# command line refuses a bad STYLERT_MAX_PIXELS (cli.main); a library caller gets the default.
MAX_PIXELS, MAX_PIXELS_PROBLEM = _max_pixels()


@contextlib.contextmanager
def opencv_quiet() -> Iterator[None]:
    """OpenCV's own log silenced meanwhile: its backends and decoders log each refusal before
    stylert's one line. OpenCV 5's wheels spell it cv2.utils.logging; PyPI's 4.11 aarch64 wheel has only the
    older cv2.setLogLevel (which returns the level it replaced)."""
    logging_ = getattr(getattr(cv2, "utils", None), "logging", None)
    set_level = logging_.setLogLevel if logging_ is not None else getattr(cv2, "setLogLevel", None)
    if set_level is None:
        yield
        return
    previous = logging_.getLogLevel() if logging_ is not None else None
    replaced = set_level(0)  # LOG_LEVEL_SILENT
    try:
        yield
    finally:
        set_level(previous if previous is not None else replaced)


def header_size(data: bytes) -> Optional[Tuple[int, int]]:
    """(width, height) from the header of a PNG, JPEG, BMP, GIF, WebP or TIFF file, without
    decoding it (so a file that claims 50000x50000 is refused before any allocation); None
    for other formats or a header too short to say."""
    def u(fmt: str, at: int) -> int:
        return struct.unpack_from(fmt, data, at)[0]

    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n":
            return u(">I", 16), u(">I", 20)
        if data[:6] in (b"GIF87a", b"GIF89a"):
            return u("<H", 6), u("<H", 8)
        if data[:2] == b"BM":
            return (u("<H", 18), u("<H", 20)) if u("<I", 14) == 12 else (abs(u("<i", 18)), abs(u("<i", 22)))
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            chunk = data[12:16]
            if chunk == b"VP8 ":
                return u("<H", 26) & 0x3FFF, u("<H", 28) & 0x3FFF
            if chunk == b"VP8L":
                bits = u("<I", 21)
                return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
            if chunk == b"VP8X":
                return 1 + (u("<I", 24) & 0xFFFFFF), 1 + (u("<I", 27) & 0xFFFFFF)
        if data[:2] == b"\xff\xd8":  # JPEG: the first start-of-frame segment
            at = 2
            while at + 9 <= len(data):
                if data[at] != 0xFF:
                    return None
                marker = data[at + 1]
                if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
                    at += 1 if marker == 0xFF else 2
                    continue
                if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
                    return u(">H", at + 7), u(">H", at + 5)
                at += 2 + u(">H", at + 2)
        if data[:4] in (b"II*\x00", b"MM\x00*"):  # TIFF: ImageWidth and ImageLength of the first IFD
            e = "<" if data[:2] == b"II" else ">"
            ifd, size = u(e + "I", 4), {}
            for k in range(u(e + "H", ifd)):
                tag, kind = u(e + "H", ifd + 2 + 12 * k), u(e + "H", ifd + 4 + 12 * k)
                if tag in (0x100, 0x101):
                    size[tag] = u(e + "H", ifd + 10 + 12 * k) if kind == 3 else u(e + "I", ifd + 10 + 12 * k)
            return (size[0x100], size[0x101]) if len(size) == 2 else None
    except (struct.error, IndexError):
        return None
    return None


def check_size(width: int, height: int, name: str, max_pixels: int = MAX_PIXELS) -> None:
    if width * height > max_pixels:
        raise ImageError(f"{name} is {width}x{height}, above the limit of {max_pixels} "
                         f"pixels: resize it (--size) or raise STYLERT_MAX_PIXELS")


def list_images(folder: os.PathLike | str) -> List[str]:
    """The image files (by extension) in ``folder``, in name order."""
    return sorted(str(p) for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)


def expand(items: Sequence[str], what: str = "images") -> List[str]:
    """Files, folders (their images, in name order) and glob patterns -> paths; a folder or
    pattern with nothing in it is an error, a missing file is left for the reader to report."""
    files: List[str] = []
    for item in items:
        if os.path.isdir(item):
            found = list_images(item)
            if not found:
                raise ImageError(f"no {what} ({', '.join(IMAGE_EXTENSIONS)}) in folder {item}")
        elif any(c in item for c in "*?["):
            found = sorted(glob.glob(item))
            if not found:
                raise ImageError(f"no files match {item}")
        else:
            found = [item]
        files += found
    return files


def read_image(path: os.PathLike | str, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """An image file as uint8 HWC RGB."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        what = describe(path)  # a folder, a device, a pipe, a link that loops: said, never 'not found'
        raise ImageError(f"{path} is {what}, not an image file" if what else f"image not found: {path}")
    if os.path.getsize(path) == 0:
        raise ImageError(f"{path} is empty (0 bytes)")
    data = np.fromfile(path, dtype=np.uint8)  # also works with non-ASCII paths on Windows
    size = header_size(data[:1 << 16].tobytes())
    if size is not None:
        check_size(*size, path, max_pixels)  # before decoding: the header's claim decides
    # JPEG: IMREAD_COLOR applies the EXIF orientation. Others (PNG, TIFF, WebP) may carry
    # alpha or 16 bits, which IMREAD_UNCHANGED keeps.
    jpeg = data[:2].tobytes() == b"\xff\xd8"
    try:
        with opencv_quiet():  # a damaged file: the decoder's own warning line, then stylert's
            img = cv2.imdecode(data, cv2.IMREAD_COLOR if jpeg else cv2.IMREAD_UNCHANGED)
    except cv2.error:  # e.g. OpenCV's own size limit, in a format whose header is not read above
        img = None
    if img is None:
        raise ImageError(f"{path} is not a readable image (corrupt, or a format OpenCV cannot decode)")
    frames = frame_count(path, data[:1 << 16].tobytes())
    if frames > 1 and path not in _SAID_FRAMES:  # said once per file (a live folder source reads it again)
        _SAID_FRAMES.add(path)
        log.warning("%s holds %d frames (an animated image or a multi-page TIFF): only the first is used", path, frames)
    return to_rgb8(img, path, max_pixels, bgr=True)


_SAID_FRAMES: set = set()


def frame_count(path: str, head: bytes) -> int:
    """How many frames the file holds: more than 1 for an animated GIF, PNG or WebP or a
    multi-page TIFF (OpenCV's imcount, asked only of those formats); 1 otherwise."""
    many = (head[:6] in (b"GIF87a", b"GIF89a") or head[:4] in (b"II*\x00", b"MM\x00*")
            or (head[:8] == b"\x89PNG\r\n\x1a\n" and b"acTL" in head)
            or (head[:4] == b"RIFF" and head[8:12] == b"WEBP" and b"ANIM" in head))
    if not many or not hasattr(cv2, "imcount"):
        return 1
    try:
        with opencv_quiet():
            return int(cv2.imcount(path))
    except cv2.error:  # a damaged later frame: the first one decoded, which is what is used
        return 1


def to_rgb8(img: np.ndarray, name: str = "image", max_pixels: int = MAX_PIXELS, bgr: bool = False) -> np.ndarray:
    """Any grey/RGB/RGBA uint8/uint16/float array -> uint8 HWC RGB (checks the size)."""
    img = np.asarray(img)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (3, 4)) or img.size == 0:
        raise ImageError(f"{name}: expected an HxW, HxWx3 or HxWx4 image, got shape {img.shape}")
    check_size(img.shape[1], img.shape[0], name, max_pixels)
    if img.dtype == np.uint16:
        img = (img.astype(np.float32) * (255.0 / 65535.0) + 0.5).astype(np.uint8)
    elif img.dtype.kind == "f":
        check_float_pixels(img, name)
        img = (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    elif img.dtype != np.uint8:
        raise ImageError(f"{name}: pixel type {img.dtype} is not supported (use uint8, uint16 or float)")
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    if img.shape[2] == 4:  # composite on white, as image viewers show it
        a = img[..., 3:4].astype(np.float32) * (1.0 / 255.0)
        img = (img[..., :3].astype(np.float32) * a + 255.0 * (1.0 - a) + 0.5).astype(np.uint8)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB) if bgr else np.ascontiguousarray(img)


def check_float_pixels(x: np.ndarray, name: str) -> None:
    """Float pixels are finite and read in [0, 1] (a resize's small overshoot is clipped);
    values well outside it are another scale (0..255, -1..1), which clipping would silently
    turn into a white or half-black image (before: stylized as such, exit 0)."""
    if not np.isfinite(x).all():  # (NaN would also slip through the range test below)
        raise ImageError(f"{name} has NaN or infinite pixels: give float pixels in [0, 1]")
    lo, hi = float(x.min()), float(x.max())
    if lo < FLOAT_RANGE[0] or hi > FLOAT_RANGE[1]:
        raise ImageError(f"{name}: float pixels span {lo:.4g}..{hi:.4g}, but float images are in [0, 1]: scale "
                         f"them (0..255 values: divide by 255), or pass uint8")


def resize_short(img: np.ndarray, side: int, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Shorter side to ``side`` pixels (area filter when shrinking); the result must stay
    within the pixel limit."""
    h, w = img.shape[:2]
    s = side / min(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    if size[0] * size[1] > max_pixels:
        raise ImageError(f"a shorter side of {side} makes this {w}x{h} image {size[0]}x{size[1]}, above the "
                         f"limit of {max_pixels} pixels: use a smaller size (or raise STYLERT_MAX_PIXELS)")
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)


def to_nchw(img: np.ndarray, bgr: bool = False) -> np.ndarray:
    """uint8 HWC (RGB, or BGR) -> float32 1x3xHxW RGB in [0, 1]. Splitting the planes with
    OpenCV, then one scaled conversion, beat cv2.dnn.blobFromImage (0.45 vs 0.82 ms at
    640x480 here) and the numpy transpose chain (2.0 ms)."""
    planes = cv2.split(img)
    x = np.empty((1, 3, *img.shape[:2]), np.float32)
    for c, plane in enumerate(planes[::-1] if bgr else planes):
        x[0, c] = plane
    x *= np.float32(1.0 / 255.0)
    return x


def to_hwc8(x: np.ndarray, bgr: bool = False) -> np.ndarray:
    """float 3xHxW RGB in [0, 1] -> uint8 HWC (RGB, or BGR), clipped and rounded."""
    hwc = cv2.merge([x[2 - c] if bgr else x[c] for c in range(3)])  # planes -> interleaved
    return cv2.convertScaleAbs(np.maximum(hwc, 0.0, out=hwc), alpha=255.0)


def padded_size(h: int, w: int, multiple: int = 8, minimum: int = 16) -> Tuple[int, int]:
    """(H, W) of an image padded by ``pad_to``: what the network really runs."""
    return max(minimum, -(-h // multiple) * multiple), max(minimum, -(-w // multiple) * multiple)


def pad_to(x: np.ndarray, multiple: int = 8, minimum: int = 16,
           layout: str = "NCHW") -> Tuple[np.ndarray, Tuple[int, int]]:
    """Pads a batch (NCHW, or NHWC frames) on the bottom/right (edge-mirrored) to a multiple
    of ``multiple`` and at least ``minimum`` a side; returns the padded (contiguous) array
    and the original (H, W)."""
    hw = (2, 3) if layout == "NCHW" else (1, 2)
    h, w = x.shape[hw[0]], x.shape[hw[1]]
    ph, pw = (p - n for p, n in zip(padded_size(h, w, multiple, minimum), (h, w)))
    if ph == 0 and pw == 0:
        return np.ascontiguousarray(x), (h, w)
    mode = "reflect" if ph < h and pw < w else "edge"  # reflect needs the pad below the size
    pads = [(0, 0)] * x.ndim
    pads[hw[0]], pads[hw[1]] = (0, ph), (0, pw)
    return np.pad(x, pads, mode=mode), (h, w)


def write_image(path: os.PathLike | str, rgb: np.ndarray) -> None:
    """Writes uint8 RGB (or grey) atomically: a temporary name, then a rename, so a path
    never holds half an image."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ImageError(f"cannot write {path}: a folder of that name is in the way; move it or choose "
                         f"another output folder")
    folder, name = os.path.split(path)
    stem, ext = os.path.splitext(name)
    tmp = os.path.join(folder, f".{stem}.tmp{ext}")
    img = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) if rgb.ndim == 3 else rgb
    ok = False
    try:
        ok = cv2.imwrite(tmp, img)
        if ok:
            os.replace(tmp, path)
    except (cv2.error, OSError):
        ok = False
    finally:  # also on Ctrl-C or SIGTERM (a KeyboardInterrupt) between the write and the rename
        if not ok and os.path.exists(tmp):
            os.unlink(tmp)
    if not ok:
        raise ImageError(f"cannot write {path}: check that the folder exists and is writable, and the extension")
