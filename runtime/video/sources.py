"""Video sources: what a --source URI names (see uri.py), read frame by frame as uint8 HWC
BGR (OpenCV's convention, used only inside video I/O). capture.py reads them on a thread.
"""

from __future__ import annotations

import math
import os
import re
import threading
import time
from typing import List, Optional

import cv2
import numpy as np

from ..errors import ImageError, VideoError
from ..folders import describe
from ..images import expand, opencv_quiet, read_image
from . import uri as uris
from .base import Source
from .browser import open_browser
from .demo import DemoScene


# ----------------------------------------------------------------------------- sources


class DemoSource(Source):
    """The demo scene (demo.py: a person in front of a brick wall, filmed hand-held, with
    parallax, a ball and a post passing, exposure drifting), the same frames on every
    machine. It behaves like a camera: frames come at ``fps`` in real time, and a slow
    consumer misses some. ``loop``: the scene of ``frames`` frames starts over instead of
    ending (for runs limited by time)."""

    live = True

    def __init__(self, width: int = 640, height: int = 480, frames: int = 300, fps: float = 30.0,
                 loop: bool = False):
        self.size, self.frames, self.fps, self.i, self.loop = (width, height), frames, fps, 0, loop
        self.t0: Optional[float] = None
        # the scene's motion in seconds at this rate; an unpaced source (the benchmarks' 1e6) moves as at 30
        self.scene = DemoScene(width, height, frames, fps if 0 < fps <= 240 else 30.0)

    def read(self):
        if self.i >= self.frames and not self.loop:
            return None
        self.t0 = self.t0 or time.perf_counter()
        time.sleep(max(0.0, self.t0 + self.i / self.fps - time.perf_counter()))  # camera pace
        frame = self.scene.frame(self.i)
        self.i += 1
        return frame


def _open_interruptibly(target, api) -> "cv2.VideoCapture":
    """cv2.VideoCapture(target, api), opened on a helper thread while this one waits in short
    steps: opening a network stream blocks in OpenCV for up to its 30 s timeout, and a
    Ctrl-C or SIGTERM (a KeyboardInterrupt, delivered to the main thread only) must end the
    command within a second, not after it. An abandoned open finishes, or not, on its own.
    OpenCV's own log is silenced meanwhile, and FFmpeg's unless OPENCV_FFMPEG_LOGLEVEL is set
    (read when OpenCV first loads it): a camera, stream or file that does not open printed
    its backends' warnings (up to a dozen lines) before stylert's one line saying so."""
    result: list = []
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET; 16 (errors) shows them

    def open_it():
        with opencv_quiet():
            try:
                result.append(cv2.VideoCapture(target, api))
            except cv2.error:  # reported by the caller as a source that does not open
                result.append(cv2.VideoCapture())

    opener = threading.Thread(target=open_it, daemon=True, name="stylert-open-source")
    opener.start()
    while opener.is_alive():
        opener.join(0.1)
    return result[0]


class CaptureSource(Source):
    """Anything cv2.VideoCapture opens: cameras, video files, streams, image patterns."""

    def __init__(self, target, live: bool, width: int = 0, height: int = 0, fps: float = 0, name: str = "",
                 api: Optional[int] = None):
        self.name, self.live, self.stalls = name or str(target), live, live
        if api is None:
            api = cv2.CAP_IMAGES if isinstance(target, str) and "%" in target else cv2.CAP_ANY
        self.cap = _open_interruptibly(target, api)
        if not self.cap.isOpened():
            raise VideoError(f"cannot open source {self.name}: "
                             + ("is the stream up and reachable from here (address, port, path)?"
                                if isinstance(target, str) and target.startswith(uris.STREAMS) else
                                "is a camera connected, and free?" if live else
                                "it holds no video OpenCV can read (or no frames at all)"
                                if isinstance(target, str) and os.path.isfile(target) else
                                "does it exist and is it a video?"))
        if live:
            self.cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # newest frame first where the backend allows
        if width and height:
            self.cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            self.cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        if fps:
            self.cap.set(cv2.CAP_PROP_FPS, fps)
        # Image sequences and some cameras report 0 or -1: the asked rate, else 30.
        reported = self.cap.get(cv2.CAP_PROP_FPS)
        self.fps = reported if reported > 0 and math.isfinite(reported) else (fps or 30.0)

    def read(self):
        ok, frame = self.cap.read()
        return frame if ok else None

    def close(self):
        self.cap.release()


class ImageListSource(Source):
    """A folder or glob of image files, in name order; unreadable files, and files above the
    pixel limit (refused from their header, before decoding), are skipped and listed in
    ``unreadable`` (the live summary reports them)."""

    def __init__(self, files: List[str], fps: float = 0.0):
        self.files, self.i, self.fps = files, 0, fps or 30.0
        self.unreadable: List[str] = []

    def read(self):
        while self.i < len(self.files):
            f = self.files[self.i]
            self.i += 1
            try:
                return np.ascontiguousarray(read_image(f)[..., ::-1])  # BGR, as the video layer has
            except ImageError:
                self.unreadable.append(f)
        return None


def gstreamer_available() -> bool:
    """Whether this OpenCV was built with GStreamer (JetPack's is; PyPI's opencv-python is not)."""
    return re.search(r"GStreamer:\s*YES", cv2.getBuildInformation()) is not None


def csi_pipeline(sensor: int, width: int = 1280, height: int = 720, fps: float = 30) -> str:
    """A GStreamer pipeline for a Jetson CSI camera: the ISP's frames, converted to BGR on
    the VIC (nvvidconv), newest only (appsink drops stale buffers)."""
    return (f"nvarguscamerasrc sensor-id={sensor} ! video/x-raw(memory:NVMM), width={width}, height={height}, "
            f"framerate={round(fps)}/1 ! nvvidconv ! video/x-raw, format=BGRx ! videoconvert ! "
            "video/x-raw, format=BGR ! appsink drop=true max-buffers=1")


def open_source(text: str, width: int = 0, height: int = 0, fps: float = 0, frames: int = 300,
                loop: bool = False) -> Source:
    """The source a URI names (see uri.py); ``frames`` and ``loop``: the demo scene's."""
    u = uris.source(text)
    if u.kind == "demo":
        return DemoSource(width or 640, height or 480, frames, fps or 30.0, loop)
    if u.kind == "camera":
        return CaptureSource(int(u.target), True, width, height, fps, name=f"camera {u.target}")
    if u.kind == "csi":
        if not gstreamer_available():
            raise VideoError(f"{text} needs OpenCV built with GStreamer (JetPack's python3-opencv; PyPI's "
                             "opencv-python has none): use JetPack's OpenCV, or a USB camera (0 or /dev/video0)")
        return CaptureSource(csi_pipeline(int(u.target), width or 1280, height or 720, fps or 30), True,
                             name=f"CSI camera {u.target}", api=cv2.CAP_GSTREAMER)
    if u.kind == "v4l2":
        return CaptureSource(u.target, True, width, height, fps, name=u.target)
    if u.kind == "stream":
        return CaptureSource(u.target, True, name=u.target)
    if u.kind == "browser":
        return open_browser(u.target)
    if u.kind in ("folder", "glob"):
        return ImageListSource(expand([u.target]), fps)
    if u.kind == "file" and not os.path.isfile(u.target):
        what = describe(u.target)  # /dev/null, a pipe, a link that loops: said, never 'not found'
        if what:
            raise VideoError(f"{u.target} is {what}, not a video file or camera: --source takes a camera (0, "
                             f"/dev/video0), a video file, a folder or glob of images, a stream URL, or demo")
        raise VideoError(f"source not found: {u.target} (a camera is 0 or /dev/video0; 'demo' needs none)")
    return CaptureSource(u.target, False, fps=fps, name=u.target)
