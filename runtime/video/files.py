"""File outputs: ``file://out.mp4`` or a plain path (``.mp4`` ``.m4v`` ``.mov``: mp4v;
``.avi`` ``.mkv``: MJPG), and ``frames_%04d.png`` patterns (one image a frame).

Files are written under a temporary name and renamed when closed, so a path only ever holds
a finished, playable file; a sink that got no frame leaves no file at all. A video takes its
size from its first frame (later frames of another size are resized to it), as
jetson-utils' videoOutput configures its encoder on the first frame. A full disk or a
removed folder ends the recording while it can still be finished (a VideoError naming it).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Optional, Tuple

import cv2
import numpy as np

from ..errors import VideoError
from ..folders import check_name
from ..images import opencv_quiet
from .base import Sink

SCHEME = "file"
EXAMPLE = "file://out.mp4 (or a path: .mp4 .avi .mkv .mov, img_%04d.png)"
CODECS = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}


def path_of(uri: str) -> str:
    return uri[len("file://"):] if uri.startswith("file://") else uri


def check(uri: str) -> None:
    """Refuses what cannot be written before any frame: the folder, the name, the extension."""
    path = path_of(uri)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        raise VideoError(f"cannot write {path}: {folder} is not a writable folder")
    if "%" in path:
        try:
            path % 0
        except (TypeError, ValueError):
            raise VideoError(f"cannot write {path}: write one %d-style field, e.g. frames_%04d.png") from None
        return
    if os.path.isdir(path):
        raise VideoError(f"cannot write video {path}: it is a folder; name a file such as out.mp4")
    check_name(path)  # a link that loops, a name too long (with .NAME.partial.EXT beside it)
    if Path(path).suffix.lower() not in CODECS:
        raise VideoError(f"cannot write video {path}: use .mp4, .avi, .mkv or .mov (or an img_%04d.png pattern)")


def open(uri: str, fps: float = 30.0, title: str = "") -> Sink:
    path = path_of(uri)
    return ImageSequenceSink(path) if "%" in path else VideoFileSink(path, fps)


class VideoFileSink(Sink):
    CODECS = CODECS

    def __init__(self, path: str, fps: float, size: Optional[Tuple[int, int]] = None):
        self.path = Path(path)
        self.name = f"file://{path}"
        ext = self.path.suffix.lower()
        if ext not in CODECS:
            raise VideoError(f"cannot write video {path}: use .mp4, .avi, .mkv or .mov (or an img_%04d.png pattern)")
        self.fourcc = CODECS[ext]
        self.fps = fps if fps > 0 else 30.0
        self.tmp = self.path.with_name(f".{self.path.stem}.partial{ext}")
        self.writer: Optional[cv2.VideoWriter] = None
        self.size, self.frames = size, 0
        if size is not None:
            self._start(size)

    def _start(self, size: Tuple[int, int]) -> None:
        if self.fourcc == "mp4v" and min(size) < 2:  # FFmpeg's mpeg4 refuses it (before: "try .avi", which warned)
            raise VideoError(f"cannot write video {self.path}: frames of {size[0]}x{size[1]} are below the 2x2 "
                             f"that mp4v takes; record them as .avi (MJPG)")
        # OpenCV tries its backends in turn and logs each refusal (MJPG at 1 pixel a side: the
        # image-sequence writer's exception, 3 lines, before its own MJPG writer takes it)
        with opencv_quiet():
            self.writer = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*self.fourcc), self.fps, size)
        if not self.writer.isOpened():
            self.writer = None
            self.tmp.unlink(missing_ok=True)
            raise VideoError(f"cannot write video {self.path}: OpenCV opened no {self.fourcc} writer for "
                             f"{size[0]}x{size[1]} at {self.fps:g} FPS (try .avi)")
        self.size = size

    def write(self, frame: np.ndarray, tag: Any = None) -> None:
        if self.closed:
            return
        if self.writer is None:
            self._start(self.size or (frame.shape[1], frame.shape[0]))
        if (frame.shape[1], frame.shape[0]) != self.size:
            frame = cv2.resize(frame, self.size)
        self.writer.write(frame)  # OpenCV's writer reports no failure: checked here and at close
        self.frames += 1
        if self.frames % 30 == 0:
            self._check_room()

    def _check_room(self) -> None:
        """Stops the recording while it can still be finished (a full disk would leave a file
        without its index, which players cannot open): room for two more seconds of frames
        and the container's index must stay free."""
        try:
            size = self.tmp.stat().st_size
        except FileNotFoundError:
            raise VideoError(f"the recording {self.tmp} is gone (was its folder removed?)") from None
        free = shutil.disk_usage(self.tmp.parent).free
        if free < (64 << 10) + 64 * self.frames + 2 * self.fps * size / self.frames:
            raise VideoError(f"the disk holding {self.path} is nearly full ({free >> 10} KB free): recording "
                             f"stopped after {self.frames} frames, kept playable; free some space")

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.writer is not None:
            self.writer.release()
        if not self.frames:  # no frame: no file, rather than an empty video
            self.tmp.unlink(missing_ok=True)
            return
        if not self.tmp.exists():
            raise VideoError(f"cannot finish {self.path}: the recording is gone (was its folder removed?)")
        cap = cv2.VideoCapture(str(self.tmp))  # what a player will find in it (the container's count)
        held = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
        cap.release()
        try:
            os.replace(self.tmp, self.path)  # what was written stays, playable as far as it goes
        except OSError as e:
            raise VideoError(f"cannot finish {self.path}: {e.strerror}") from None
        if held < self.frames:
            raise VideoError(f"{self.path} holds {held} of the {self.frames} frames written to it: writing failed "
                             f"(a full disk?)")


class ImageSequenceSink(Sink):
    def __init__(self, pattern: str):
        self.pattern, self.name, self.i = pattern, f"file://{pattern}", 0
        try:
            pattern % 0
        except (TypeError, ValueError):
            raise VideoError(f"cannot write {pattern}: write one %d-style field, e.g. frames_%04d.png") from None

    def write(self, frame: np.ndarray, tag: Any = None) -> None:
        path = self.pattern % self.i
        tmp = os.path.join(os.path.dirname(path) or ".", f".tmp-{os.path.basename(path)}")
        if not cv2.imwrite(tmp, frame):
            raise VideoError(f"cannot write {path}")
        os.replace(tmp, path)
        self.i += 1
