"""Source URIs (the nouns of jetson-inference), parsed once into a small record. (What an
--output names is read by the registry of sink kinds, sinks.py.)

Sources: ``demo``; ``0`` (camera index); ``/dev/video0`` or ``v4l2:///dev/video0``;
``csi://0`` (Jetson CSI camera); ``rtsp://``, ``rtmp://``, ``http(s)://`` streams; a folder
or glob of images; an ``img_%03d.png`` pattern; ``file://clip.mp4`` or a plain path; ``browser://127.0.0.1:8554`` (a page
that sends the visitor's camera and shows the result: browser.py, bound to the address written).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..errors import VideoError

STREAMS = ("rtsp://", "rtmp://", "http://", "https://")


@dataclass(frozen=True)
class Uri:
    kind: str      # demo camera csi v4l2 stream browser folder glob pattern file
    target: str    # the path, URL or device; for cameras the index as text
    text: str      # as the user wrote it


def _path(text: str) -> str:
    return text[len("file://"):] if text.startswith("file://") else text


def source(text: str) -> Uri:
    """What a --source names (existence of files is checked when it is opened)."""
    if text == "demo":
        return Uri("demo", "", text)
    if text.isdigit():
        return Uri("camera", text, text)
    if text.startswith("csi://"):
        sensor = text[len("csi://"):] or "0"
        if not sensor.isdigit():
            raise VideoError(f"{text}: a CSI camera is csi://N with N the sensor id, e.g. csi://0")
        return Uri("csi", sensor, text)
    if text.startswith("browser://"):
        return Uri("browser", text, text)  # served here: the page sends its camera (video/browser.py)
    if text.startswith("webrtc://"):
        raise VideoError(f"--source {text}: stylert takes a browser's camera over a WebSocket, not WebRTC: "
                         f"--source browser://127.0.0.1:8554 serves the page")
    if text.startswith("v4l2://"):
        return Uri("v4l2", text[len("v4l2://"):], text)
    if text.startswith(STREAMS):
        return Uri("stream", text, text)
    path = _path(text)
    if not path:
        raise VideoError(f"--source {text} names no file: write file://PATH, e.g. file://clip.mp4")
    if path.startswith("/dev/video") or os.path.realpath(path).startswith("/dev/video"):  # (/dev/v4l/by-id/...)
        return Uri("v4l2", path, text)
    if os.path.isdir(path):
        return Uri("folder", path, text)
    if any(c in path for c in "*?["):
        return Uri("glob", path, text)
    if "%" in path:
        return Uri("pattern", path, text)
    return Uri("file", path, text)
