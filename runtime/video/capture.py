"""The capture thread: a source read on its own thread (live sources: newest frame only,
stale ones dropped and counted; files: every frame, in order), so reading never waits on
inference. (The outputs are written on a thread of their own too: sinks.Composite.)"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Optional

import cv2
import numpy as np

from ..errors import StylertError
from .base import Source


@dataclass
class Frame:
    image: np.ndarray      # uint8 HxWx3 BGR
    index: int             # position in the source
    t_capture_ns: int      # perf_counter_ns when it was captured
    tag: Any = None        # where its result goes back (a browser page and its frame id), else None


class Capture:
    """Reads a source on a thread. Live: only the newest frame is kept (older ones are
    dropped and counted). Files: every frame, in order (bounded queue, the reader waits).
    A live source that stops delivering is retried, then reported by ``error``.
    A ``pull`` source (the browser's: it keeps only the newest frame of each page itself) is
    read by ``get`` when the loop is ready, with no thread: no frame waits in between, and
    ``get`` waits for the first page as long as it takes (until ``stop`` is set)."""

    def __init__(self, source: Source, retries: int = 3, timeout_s: float = 2.0):
        self.source, self.retries, self.timeout_s = source, retries, timeout_s
        self.captured = self.dropped = 0
        self.error: Optional[str] = None
        self._bug: Optional[BaseException] = None
        self._stop = threading.Event()
        if getattr(source, "pull", False):
            self._thread = None
            return
        self._q: "queue.Queue[Optional[Frame]]" = queue.Queue(maxsize=1 if source.live else 4)
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
        except (StylertError, OSError, cv2.error) as e:  # a device or stream failing ends the run cleanly
            self.error = f"capture failed: {e}"
        except Exception as e:  # noqa: BLE001 - a bug: get() raises it on the caller's thread, with its traceback
            self.error, self._bug = f"capture failed: {type(e).__name__}: {e}", e
        finally:
            self._put(None)

    def get(self, stop: Optional[threading.Event] = None) -> Optional[Frame]:
        """The next frame, or None when the source ended (or stopped responding, or ``stop``
        was set while a pull source waited)."""
        if self._thread is None:
            while not self._stop.is_set() and not (stop is not None and stop.is_set()):
                got = self.source.poll(0.1)
                if got is not None:
                    img, tag, t_ns = got
                    self.captured += 1
                    self.dropped = getattr(self.source, "dropped", 0)
                    return Frame(img, self.captured - 1, t_ns, tag)
            return None
        try:
            frame = self._q.get(timeout=self.timeout_s * (self.retries + 1))
        except queue.Empty:
            self.error = self.error or f"no frame for {self.timeout_s * (self.retries + 1):.0f} s"
            return None
        if frame is None and self._bug is not None:
            raise self._bug
        return frame

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        self.source.close()
