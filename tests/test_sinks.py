"""The outputs of `stylert live` and `stylert generate --live`: one Sink interface, the registry
of sink kinds (stylert.video.sinks), the composite that fans a frame out, the HTTP port bound
once, the window on a thread of its own. No torch, no display, no network beyond 127.0.0.1."""

import importlib
import socket
import threading
import time

import cv2
import numpy as np
import pytest

from stylert import cli
from stylert.apps import live
from stylert.errors import StylertError, VideoError
from stylert.video import DemoSource

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def no_display_problem(monkeypatch):
    """A display answers (as far as stylert asks): the probe's answer, wherever it is read."""
    for name in ("stylert.apps.live", "stylert.apps.generate", "stylert.video", "stylert.video.sinks",
                 "stylert.video.display"):
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(mod, "display_problem"):
            monkeypatch.setattr(mod, "display_problem", lambda: "")


class FakeHighGUI:
    """A stand-in for OpenCV HighGUI (cv2.namedWindow, imshow, waitKey, getWindowProperty,
    destroyWindow). HighGUI is not thread-safe: a window's calls belong on one thread, and its
    events are only handled while that thread sits in waitKey. This records which thread makes
    each call and answers waitKey from a script: ``keys`` is [(after this many frames shown, key)]."""

    NAMES = ("namedWindow", "imshow", "waitKey", "getWindowProperty", "destroyWindow")

    def __init__(self, keys=(), visible=lambda shown: 1.0):
        self.calls = []       # (name, thread)
        self.shown = []       # the frames imshow got
        self.keys = list(keys)
        self.visible = visible
        self.lock = threading.Lock()

    def install(self, monkeypatch):
        for name in self.NAMES:
            monkeypatch.setattr(cv2, name, getattr(self, name))
        no_display_problem(monkeypatch)
        return self

    def _record(self, name):
        with self.lock:
            self.calls.append((name, threading.current_thread()))

    def namedWindow(self, title, flags=0):
        self._record("namedWindow")

    def imshow(self, title, img):
        self._record("imshow")
        self.shown.append(np.array(img))

    def waitKey(self, delay=0):
        self._record("waitKey")
        if self.keys and len(self.shown) >= self.keys[0][0]:
            return self.keys.pop(0)[1]
        return -1

    def getWindowProperty(self, title, prop):
        self._record("getWindowProperty")
        return self.visible(len(self.shown))

    def destroyWindow(self, title):
        self._record("destroyWindow")

    def threads(self, *names):
        return {t for n, t in self.calls if not names or n in names}


# ----------------------------------------------------------------------------- the app
def test_live_shows_frames_on_a_display_thread_and_gets_its_keys(monkeypatch):
    # Before: imshow and waitKey ran on the inference loop's thread (a slow window, or a
    # window manager that stalls, held up every frame).
    gui = FakeHighGUI(keys=[(3, ord("q"))]).install(monkeypatch)
    opt = live.LiveOptions(source="demo", outputs=["display://"], width=96, height=72, size=(48, 32),
                           max_frames=300, quiet=True)
    summary = live.run(opt)
    assert gui.shown and not summary["error"]
    assert summary["frames_processed"] < 300  # q, pressed in the window, ended the run
    loop = threading.current_thread()
    assert loop not in gui.threads(), "a HighGUI call ran on the inference thread"
    assert len(gui.threads()) == 1, "HighGUI calls came from several threads"
    names = [n for n, _ in gui.calls]
    assert names[0] == "namedWindow" and "destroyWindow" in names[names.index("imshow"):]


def test_live_binds_the_http_port_once_and_before_the_first_frame(monkeypatch):
    # Before: the port was bound three times (checked by live, checked again when opened, then
    # bound after the first frame), so a viewer that connected while stylert started was refused.
    from stylert.video import http

    binds = []
    real_bind = http._Server.server_bind

    def counted(self):
        binds.append(self.server_address)
        return real_bind(self)

    monkeypatch.setattr(http._Server, "server_bind", counted)
    port, early = free_port(), {}

    class Watched(DemoSource):
        """The demo scene; before its first frame, a viewer connects and asks for the stream."""

        def read(self):
            if "viewer" not in early:
                try:
                    c = socket.create_connection((HOST, port), timeout=5)
                    c.sendall(b"GET /stream.mjpg HTTP/1.0\r\n\r\n")
                    early["viewer"] = c
                except OSError as e:
                    early["viewer"], early["error"] = None, e
            return super().read()

    monkeypatch.setattr(live, "open_source", lambda *a, **k: Watched(96, 72, 60, 30.0))
    summary = live.run(live.LiveOptions(source="demo", outputs=[f"http://{HOST}:{port}/"], size=(48, 32),
                                        max_frames=8, quiet=True))
    viewer = early["viewer"]
    assert viewer is not None, f"a viewer connecting before the first frame was refused: {early['error']}"
    data, deadline = b"", time.monotonic() + 10
    with viewer:  # the run is over: the sink closed the stream, so this reads to its end
        viewer.settimeout(5)
        while time.monotonic() < deadline:
            chunk = viewer.recv(65536)
            if not chunk:
                break
            data += chunk
    assert data.startswith(b"HTTP/1.0 200") and b"--frame\r\nContent-Type: image/jpeg" in data
    assert data.count(b"\xff\xd8") >= 1  # at least one JPEG came through
    assert summary["frames_processed"] == 8 and not summary["error"]
    assert binds == [(HOST, port)], f"bound {len(binds)} times"


def test_an_unknown_output_kind_is_one_line_naming_the_kinds(capsys):
    # Before: foo://x was taken for a file path and refused as "not a writable folder".
    assert cli.main(["live", "--output", "foo://x", "--max-frames", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("stylert: error: --output foo://x:"), err
    assert all(kind in err for kind in ("display://", "http://", "none", "out.mp4")), err
