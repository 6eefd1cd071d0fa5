"""Video sinks: what an --output URI names (see uri.py). Frames are uint8 HWC BGR.

Files are written under a temporary name and renamed when closed, so a path only ever holds
a finished, playable file; a sink that got no frame leaves no file at all.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Tuple

import cv2
import numpy as np

from ..errors import VideoError
from . import uri as uris

# cv2.imshow aborts the whole process (SIGABRT, not catchable) when no display answers,
# also when DISPLAY is set but stale (SSH): so a child process tries a window first.
_PROBE = "import cv2; cv2.namedWindow('stylert-probe'); cv2.waitKey(1); cv2.destroyAllWindows()"


@functools.lru_cache(maxsize=None)
def display_problem() -> str:
    """'' when OpenCV can open a window here, else why not (probed once per process)."""
    if os.name == "nt" or sys.platform == "darwin":
        return ""
    name = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    if not name:
        return "no display here (DISPLAY is not set)"
    try:
        done = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, timeout=20)
    except subprocess.TimeoutExpired:
        return f"display {name} does not answer"
    if done.returncode != 0:
        return f"display {name} does not answer (is the X server running, or the SSH forwarding still up?)"
    return ""


class Sink:
    name = "none"

    def write(self, frame: np.ndarray) -> None:
        pass

    def close(self) -> None:
        pass


class DisplaySink(Sink):
    name = "display://"

    def __init__(self, title: str = "stylert live"):
        if display_problem():
            raise VideoError(f"{display_problem()}: record with --output out.mp4, or use --output none")
        self.title = title
        cv2.namedWindow(title, cv2.WINDOW_NORMAL)

    def show(self, frame: np.ndarray) -> int:
        """Shows ``frame`` and returns the key pressed meanwhile (-1: none)."""
        cv2.imshow(self.title, frame)
        key = cv2.waitKey(1)
        return key & 0xFF if key >= 0 else -1

    def write(self, frame):
        self.show(frame)

    def close(self):
        cv2.destroyWindow(self.title)


class VideoFileSink(Sink):
    CODECS = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}

    def __init__(self, path: str, size: Tuple[int, int], fps: float):
        self.path = Path(path)
        self.name = f"file://{path}"
        ext = self.path.suffix.lower()
        if ext not in self.CODECS:
            raise VideoError(f"cannot write video {path}: use .mp4, .avi, .mkv or .mov (or an img_%04d.png pattern)")
        fps = fps if fps > 0 else 30.0
        self.tmp = self.path.with_name(f".{self.path.stem}.partial{ext}")
        self.writer = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*self.CODECS[ext]), fps, size)
        if not self.writer.isOpened():
            self.tmp.unlink(missing_ok=True)
            raise VideoError(f"cannot write video {path}: OpenCV opened no {self.CODECS[ext]} writer for "
                             f"{size[0]}x{size[1]} at {fps:g} FPS (try .avi)")
        self.size, self.frames, self.fps = size, 0, fps

    def write(self, frame):
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

    def close(self):
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

    def write(self, frame):
        path = self.pattern % self.i
        tmp = os.path.join(os.path.dirname(path) or ".", f".tmp-{os.path.basename(path)}")
        if not cv2.imwrite(tmp, frame):
            raise VideoError(f"cannot write {path}")
        os.replace(tmp, path)
        self.i += 1


def check_sink(text: str) -> None:
    """Refuses a sink that cannot work before any capture starts."""
    u = uris.sink(text)
    if u.kind == "none":
        return
    if u.kind == "display":
        if display_problem():
            raise VideoError(f"{display_problem()}: record with --output out.mp4, or use --output none")
        return
    if u.kind == "http":
        from .http import HttpSink, parse

        HttpSink(*parse(u.target)).close()  # the address must be ours and the port free
        return
    folder = os.path.dirname(os.path.abspath(u.target))
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        raise VideoError(f"cannot write {u.target}: {folder} is not a writable folder")
    if u.kind == "file":
        if os.path.isdir(u.target):
            raise VideoError(f"cannot write video {u.target}: it is a folder; name a file such as out.mp4")
        if Path(u.target).suffix.lower() not in VideoFileSink.CODECS:
            raise VideoError(f"cannot write video {u.target}: use .mp4, .avi, .mkv or .mov (or an img_%04d.png pattern)")


def open_sink(text: str, size: Tuple[int, int], fps: float) -> Sink:
    check_sink(text)
    u = uris.sink(text)
    if u.kind == "none":
        return Sink()
    if u.kind == "display":
        return DisplaySink()
    if u.kind == "http":
        from .http import HttpSink, parse

        return HttpSink(*parse(u.target))
    if u.kind == "pattern":
        return ImageSequenceSink(u.target)
    return VideoFileSink(u.target, size, fps)
