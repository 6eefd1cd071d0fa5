"""Video sources and sinks, configured by URIs (the nouns of jetson-inference).

Sources: ``0`` / ``/dev/video0`` / ``v4l2:///dev/video0`` (camera), ``csi://0`` (a Jetson CSI
camera through GStreamer's nvarguscamerasrc), ``file://clip.mp4`` or a
plain path, a folder or glob of images or an ``img_%03d.png`` pattern, ``rtsp://...``, and
``demo`` (a moving scene made from a bundled image, for machines without a camera).
Sinks: ``display://`` (a window), ``file://out.mp4`` / ``.avi`` / ``frames_%04d.png``
(or a plain path), ``none``. Frames are uint8 HWC BGR, OpenCV's convention, only here.

Live sources (cameras, streams) are read by a thread that keeps only the newest frame, so
a slow consumer gets fresh frames and the stale ones are counted as dropped; file sources
are read in order, every frame.
"""

from __future__ import annotations

import glob as globmod
import math
import os
import queue
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

import cv2
import numpy as np

from .images import list_images

ASSETS = Path(__file__).resolve().parent / "assets"


class VideoError(Exception):
    """A source or sink that cannot be used; the message names it and the fix."""


@dataclass
class Frame:
    image: np.ndarray      # uint8 HxWx3 BGR
    index: int             # position in the source
    t_capture_ns: int      # perf_counter_ns when it was captured


# ----------------------------------------------------------------------------- sources
class Source:
    live = False    # live: frames come in real time and may be dropped; else read in order
    stalls = False  # a missing frame may be a hiccup (cameras, streams): retry before giving up
    fps = 30.0

    def read(self) -> Optional[np.ndarray]:
        """The next frame (BGR) or None at the end."""
        raise NotImplementedError

    def close(self) -> None:
        pass


class DemoSource(Source):
    """A slow pan and zoom over a bundled photograph with a moving disc: motion like a
    hand-held camera, the same frames on every machine. It behaves like a camera: frames
    come at ``fps`` in real time, and a slow consumer misses some."""

    live = True

    def __init__(self, width: int = 640, height: int = 480, frames: int = 300, fps: float = 30.0):
        self.size, self.frames, self.fps, self.i = (width, height), frames, fps, 0
        self.t0: Optional[float] = None
        img = cv2.imread(str(ASSETS / "astronaut.jpg"))
        scale = 1.6 * max(width / img.shape[1], height / img.shape[0])
        self.scene = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)

    def read(self):
        if self.i >= self.frames:
            return None
        self.t0 = self.t0 or time.perf_counter()
        time.sleep(max(0.0, self.t0 + self.i / self.fps - time.perf_counter()))  # camera pace
        t = self.i / max(self.frames - 1, 1)
        w, h = self.size
        sh, sw = self.scene.shape[:2]
        zoom = 1.0 + 0.25 * math.sin(2 * math.pi * t)
        cw, ch = int(w * zoom), int(h * zoom)
        cw, ch = min(cw, sw), min(ch, sh)
        x = int((sw - cw) * (0.5 + 0.5 * math.sin(2 * math.pi * t * 0.7)))
        y = int((sh - ch) * (0.5 + 0.5 * math.cos(2 * math.pi * t * 0.5)))
        frame = cv2.resize(self.scene[y:y + ch, x:x + cw], (w, h), interpolation=cv2.INTER_LINEAR)
        cx = int(w * (0.2 + 0.6 * t))
        cv2.circle(frame, (cx, int(h * 0.75)), h // 10, (40, 200, 240), -1, cv2.LINE_AA)
        self.i += 1
        return frame


class CaptureSource(Source):
    """Anything cv2.VideoCapture opens: cameras, video files, streams, image patterns."""

    def __init__(self, target, live: bool, width: int = 0, height: int = 0, fps: float = 0, name: str = "",
                 api: Optional[int] = None):
        self.name, self.live, self.stalls = name or str(target), live, live
        if api is None:
            api = cv2.CAP_IMAGES if isinstance(target, str) and "%" in target else cv2.CAP_ANY
        self.cap = cv2.VideoCapture(target, api)
        if not self.cap.isOpened():
            raise VideoError(f"cannot open source {self.name}: "
                             + ("is a camera connected, and free?" if live else "does it exist and is it a video?"))
        if live:
            self.cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # newest frame first where the backend allows
        if width and height:
            self.cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            self.cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        if fps:
            self.cap.set(cv2.CAP_PROP_FPS, fps)
        self.fps = self.cap.get(cv2.CAP_PROP_FPS) or 30.0

    def read(self):
        ok, frame = self.cap.read()
        return frame if ok else None

    def close(self):
        self.cap.release()


class ImageListSource(Source):
    """A folder or glob of image files, in name order."""

    def __init__(self, files: List[str]):
        self.files, self.i = files, 0

    def read(self):
        while self.i < len(self.files):
            f = self.files[self.i]
            self.i += 1
            img = cv2.imread(f, cv2.IMREAD_COLOR)
            if img is not None:
                return img
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


def open_source(uri: str, width: int = 0, height: int = 0, fps: float = 0, frames: int = 300) -> Source:
    """The source a URI names (see the module doc)."""
    if uri == "demo":
        return DemoSource(width or 640, height or 480, frames, fps or 30.0)
    if uri.isdigit():
        return CaptureSource(int(uri), True, width, height, fps, name=f"camera {uri}")
    if uri.startswith("csi://"):
        sensor = uri[len("csi://"):] or "0"
        if not sensor.isdigit():
            raise VideoError(f"{uri}: a CSI camera is csi://N with N the sensor id, e.g. csi://0")
        if not gstreamer_available():
            raise VideoError(f"{uri} needs OpenCV built with GStreamer (JetPack's python3-opencv; PyPI's "
                             "opencv-python has none): use JetPack's OpenCV, or a USB camera (0 or /dev/video0)")
        return CaptureSource(csi_pipeline(int(sensor), width or 1280, height or 720, fps or 30), True,
                             name=f"CSI camera {sensor}", api=cv2.CAP_GSTREAMER)
    if uri.startswith("v4l2://"):
        uri = uri[len("v4l2://"):]
        return CaptureSource(uri, True, width, height, fps, name=uri)
    if uri.startswith(("rtsp://", "rtmp://", "http://", "https://")):
        return CaptureSource(uri, True, name=uri)
    path = uri[len("file://"):] if uri.startswith("file://") else uri
    if path.startswith("/dev/video"):
        return CaptureSource(path, True, width, height, fps, name=path)
    if os.path.isdir(path):
        files = list_images(path)
        if not files:
            raise VideoError(f"no images in folder {path}")
        return ImageListSource(files)
    if any(c in path for c in "*?["):
        files = sorted(globmod.glob(path))
        if not files:
            raise VideoError(f"no files match {path}")
        return ImageListSource(files)
    if "%" not in path and not os.path.isfile(path):
        raise VideoError(f"source not found: {path} (a camera is 0 or /dev/video0; 'demo' needs none)")
    return CaptureSource(path, False, name=path)


class Capture:
    """Reads a source on a thread. Live: only the newest frame is kept (older ones are
    dropped and counted). Files: every frame, in order (bounded queue, the reader waits).
    A live source that stops delivering is retried, then reported by ``error``."""

    def __init__(self, source: Source, retries: int = 3, timeout_s: float = 2.0):
        self.source, self.retries, self.timeout_s = source, retries, timeout_s
        self.captured = self.dropped = 0
        self.error: Optional[str] = None
        self._q: "queue.Queue[Optional[Frame]]" = queue.Queue(maxsize=1 if source.live else 4)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stylert-capture", daemon=True)
        self._thread.start()

    def _put(self, item: Optional[Frame]) -> None:
        if self.source.live:
            try:  # keep only the newest
                self._q.get_nowait()
                self.dropped += 1
            except queue.Empty:
                pass
            self._q.put_nowait(item)
            return
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _run(self) -> None:
        failures = 0
        try:
            while not self._stop.is_set():
                img = self.source.read()
                if img is None:
                    if self.source.stalls and failures < self.retries:
                        failures += 1
                        time.sleep(0.2 * failures)
                        continue
                    if self.source.stalls:
                        self.error = f"the source stopped delivering frames (after {failures} retries)"
                    break
                failures = 0
                self._put(Frame(img, self.captured, time.perf_counter_ns()))
                self.captured += 1
        except Exception as e:  # a backend error ends the run cleanly, with the reason
            self.error = f"capture failed: {e}"
        finally:
            self._put(None)

    def get(self) -> Optional[Frame]:
        """The next frame, or None when the source ended (or stopped responding)."""
        try:
            frame = self._q.get(timeout=self.timeout_s * (self.retries + 1))
        except queue.Empty:
            self.error = self.error or f"no frame for {self.timeout_s * (self.retries + 1):.0f} s"
            return None
        return frame

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        self.source.close()


# ------------------------------------------------------------------------------- sinks
def display_available() -> bool:
    """cv2.imshow without a display aborts the process (it cannot be caught): ask first."""
    if os.name == "nt" or os.uname().sysname == "Darwin":
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class Sink:
    name = "none"

    def write(self, frame: np.ndarray) -> None:
        pass

    def close(self) -> None:
        pass


class DisplaySink(Sink):
    name = "display://"

    def __init__(self, title: str = "stylert live"):
        self.title = title
        cv2.namedWindow(title, cv2.WINDOW_NORMAL)

    def write(self, frame):
        cv2.imshow(self.title, frame)

    def close(self):
        cv2.destroyWindow(self.title)


class VideoFileSink(Sink):
    """A video file written under a temporary name and renamed when closed, so the path
    only ever holds a finished, playable file (also after Ctrl-C)."""

    CODECS = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}

    def __init__(self, path: str, size: Tuple[int, int], fps: float):
        self.path = Path(path)
        self.name = f"file://{path}"
        ext = self.path.suffix.lower()
        if ext not in self.CODECS:
            raise VideoError(f"cannot write video {path}: use .mp4, .avi, .mkv or .mov (or an img_%04d.png pattern)")
        self.tmp = self.path.with_name(f".{self.path.stem}.partial{ext}")
        self.writer = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*self.CODECS[ext]), fps, size)
        if not self.writer.isOpened():
            raise VideoError(f"cannot write video {path}: is the folder writable?")
        self.size, self.frames = size, 0

    def write(self, frame):
        if (frame.shape[1], frame.shape[0]) != self.size:
            frame = cv2.resize(frame, self.size)
        self.writer.write(frame)
        self.frames += 1

    def close(self):
        self.writer.release()
        if self.tmp.exists():
            os.replace(self.tmp, self.path)


class ImageSequenceSink(Sink):
    def __init__(self, pattern: str):
        self.pattern, self.name, self.i = pattern, f"file://{pattern}", 0
        folder = os.path.dirname(pattern) or "."
        if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
            raise VideoError(f"cannot write {pattern}: {folder} is not a writable folder")

    def write(self, frame):
        path = self.pattern % self.i
        tmp = os.path.join(os.path.dirname(path) or ".", f".tmp-{os.path.basename(path)}")
        if not cv2.imwrite(tmp, frame):
            raise VideoError(f"cannot write {path}")
        os.replace(tmp, path)
        self.i += 1


def check_sink(uri: str) -> None:
    """Refuses a sink that cannot work before any capture starts."""
    if uri in ("none", "null://", ""):
        return
    if uri.startswith("display://"):
        if not display_available():
            raise VideoError("no display here (DISPLAY is not set): record with --output out.mp4, "
                             "or use --output none")
        return
    path = uri[len("file://"):] if uri.startswith("file://") else uri
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        raise VideoError(f"cannot write {path}: {folder} is not a writable folder")
    ext = Path(path).suffix.lower()
    if "%" not in path and ext not in VideoFileSink.CODECS:
        raise VideoError(f"cannot write video {path}: use .mp4, .avi, .mkv or .mov (or an img_%04d.png pattern)")


def open_sink(uri: str, size: Tuple[int, int], fps: float) -> Sink:
    check_sink(uri)
    if uri in ("none", "null://", ""):
        return Sink()
    if uri.startswith("display://"):
        return DisplaySink()
    path = uri[len("file://"):] if uri.startswith("file://") else uri
    if "%" in path:
        return ImageSequenceSink(path)
    return VideoFileSink(path, size, fps)
