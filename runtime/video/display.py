"""The window output, ``display://``: OpenCV HighGUI on a thread of its own.

``write(frame)`` only hands the frame over (the newest wins; an older one not yet shown is
dropped) and returns: the inference loop never waits on the window. One HighGUI thread per
process (_HighGUI) makes every window call (HighGUI is not thread-safe, and a window's
events are handled only while its thread sits in waitKey): it shows each window's newest
frame with the heads-up line drawn on it (``h`` hides and shows the line), calls waitKey
about every 30 ms even when no frame comes (the window stays responsive), and queues the
keys pressed for ``keys()``. Closing the window ends the sink (``is_open`` turns False). On
macOS, whose GUI runs on the main thread only, the caller of write() draws instead.
"""

from __future__ import annotations

import collections
import functools
import os
import subprocess
import sys
import threading
from typing import Any, List, Optional

import cv2
import numpy as np

from ..errors import VideoError
from .base import Sink, burn_status

SCHEME = "display"
EXAMPLE = "display://"
SINGLE = True   # one window per run: a second display:// output is the same window

# cv2.imshow aborts the whole process (SIGABRT, not catchable) when no display answers,
# also when DISPLAY is set but stale (SSH): so a child process tries a window first.
_PROBE = "import cv2; cv2.namedWindow('stylert-probe'); cv2.waitKey(1); cv2.destroyAllWindows()"
IDLE_S = 0.03       # waitKey at least this often while a window is open, frames or not
WAIT_S = 10.0       # for the HighGUI thread to open or close a window


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


def check(uri: str) -> None:
    if display_problem():
        raise VideoError(f"{display_problem()}: record with --output out.mp4, or use --output none")


def open(uri: str, fps: float = 30.0, title: str = "stylert live") -> "DisplaySink":
    return DisplaySink(title)


class _HighGUI:
    """The process's one HighGUI thread: every window call of every DisplaySink is made here.
    One thread for the whole process, started with the first window and kept (a daemon):
    OpenCV's Qt backend ties its GUI objects to the thread that opened the first window, and
    a window asked for from another thread after that one ended never opens. While a window
    is open it shows each window's newest frame and calls waitKey at least every IDLE_S;
    without windows it sleeps. ``inline`` (macOS, whose GUI runs on the main thread only):
    the calls are made by the caller instead (``pump`` from write)."""

    def __init__(self, inline: bool):
        self.inline = inline
        self.cond = threading.Condition()
        self.windows: List["DisplaySink"] = []
        self.jobs: "collections.deque" = collections.deque()
        self.thread: Optional[threading.Thread] = None
        if not inline:
            self.thread = threading.Thread(target=self._run, name="stylert-display", daemon=True)
            self.thread.start()

    def call(self, fn, what: str):
        """Runs ``fn`` on the HighGUI thread and returns its result (VideoError: it failed or
        did not finish in WAIT_S)."""
        done, box = threading.Event(), {}

        def job():
            try:
                box["value"] = fn()
            except Exception as e:  # noqa: BLE001 - handed to the caller
                box["error"] = e
            done.set()

        if self.inline:
            job()
        else:
            with self.cond:
                self.jobs.append(job)
                self.cond.notify_all()
        if not done.wait(WAIT_S):
            raise VideoError(f"display://: the window did not {what} within {WAIT_S:g} s")
        if "error" in box:
            e = box["error"]
            raise VideoError(f"display://: cannot {what} the window: {getattr(e, 'err', None) or e}") from None
        return box.get("value")

    def add(self, w: "DisplaySink") -> None:
        self.call(lambda: cv2.namedWindow(w.title, cv2.WINDOW_NORMAL), "open")
        with self.cond:
            self.windows.append(w)
            self.cond.notify_all()

    def remove(self, w: "DisplaySink") -> None:
        with self.cond:
            if w in self.windows:
                self.windows.remove(w)

        def destroy():
            cv2.destroyWindow(w.title)
            cv2.waitKey(1)  # HighGUI destroys a window while it handles events
        try:
            self.call(destroy, "close")
        except VideoError:
            pass  # already gone (closed by its title bar), or the thread is stuck: nothing to finish

    def wake(self) -> None:
        with self.cond:
            self.cond.notify_all()

    def pump(self, windows: List["DisplaySink"]) -> None:
        """Shows each window's newest frame, handles events once, hands the key pressed to
        every window (HighGUI's waitKey does not say which window had the focus)."""
        for w in windows:
            w._show()
        key = cv2.waitKey(1)
        for w in windows:
            w._event(key & 0xFF if key >= 0 else -1)

    def _run(self) -> None:
        # OpenCV's Qt backend (PyPI's wheels) leaves objects of this thread to be destroyed
        # at exit by the main thread, and Qt warns about their timers then (two lines of
        # "QObject::killTimer: Timers cannot be stopped from another thread" after the run's
        # own last line). Qt's uncategorized warnings are silenced for that, unless the user
        # set rules; its platform errors (qt.qpa.*: no display, no plugin) still show.
        os.environ.setdefault("QT_LOGGING_RULES", "default.warning=false")
        while True:
            with self.cond:
                self.cond.wait_for(lambda: self.jobs or any(w._fresh() for w in self.windows),
                                   timeout=IDLE_S if self.windows else None)
                jobs, windows = list(self.jobs), list(self.windows)
                self.jobs.clear()
            for job in jobs:
                job()
            if windows:
                try:
                    self.pump(windows)
                except Exception as e:  # noqa: BLE001 - reported by each window's next write; the thread goes on
                    for w in windows:
                        w.error = f"the window failed: {getattr(e, 'err', None) or e}"
                    with self.cond:
                        self.windows = [w for w in self.windows if w not in windows]


_gui: Optional[_HighGUI] = None
_gui_lock = threading.Lock()


def highgui() -> _HighGUI:
    global _gui
    with _gui_lock:
        if _gui is None:
            _gui = _HighGUI(inline=sys.platform == "darwin")
        return _gui


class DisplaySink(Sink):
    name = "display://"

    def __init__(self, title: str = "stylert live"):
        check("display://")
        self.title = title
        self.overlay = True      # the heads-up line on the picture (h toggles it)
        self.shown = 0           # frames shown
        self.error: Optional[str] = None
        self._text = ""
        self._frame: Optional[np.ndarray] = None
        self._seq = self._shown_seq = 0
        self._keys: "collections.deque[int]" = collections.deque(maxlen=64)
        self._closing = False
        self._gone = False       # the user closed the window
        self._seen = False       # the window was reported visible once (then "not visible" means closed)
        self._gui = highgui()
        self._gui.add(self)

    # ------------------------------------------------------------ the caller's side
    def write(self, frame: np.ndarray, tag: Any = None) -> None:
        if self.error:
            raise VideoError(f"{self.name}: {self.error}")
        if self._closing:
            return
        with self._gui.cond:
            self._frame = frame
            self._seq += 1
            self._gui.cond.notify_all()
        if self._gui.inline:
            self._gui.pump([self])

    def status(self, text: str) -> None:
        self._text = str(text)

    def keys(self) -> List[int]:
        out = []
        while self._keys:
            out.append(self._keys.popleft())
        return out

    @property
    def is_open(self) -> bool:
        return not (self._closing or self._gone)

    def close(self) -> None:
        if self._closing:
            return
        self._closing = self.closed = True
        self._gui.remove(self)

    # ------------------------------------------------------------ on the HighGUI thread
    def _fresh(self) -> bool:
        return self._seq != self._shown_seq

    def _show(self) -> None:
        with self._gui.cond:
            frame, seq, text = self._frame, self._seq, self._text
        if frame is None or seq == self._shown_seq:
            return
        cv2.imshow(self.title, burn_status(frame, text) if self.overlay and text else frame)
        self._shown_seq = seq
        self.shown += 1

    def _event(self, key: int) -> None:
        if key >= 0:
            if key == ord("h"):
                self.overlay = not self.overlay
            self._keys.append(key)
        try:  # the window closed by its title bar: HighGUI shows nothing more, the run should end
            visible = cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE)
        except cv2.error:
            visible = 0.0 if self._seen else -1.0
        if visible >= 1.0:
            self._seen = True
        elif self._seen and visible >= 0.0:  # -1: this backend cannot tell
            self._gone = True
