"""Video outputs: the registry of sink kinds, and the composite sink the apps hold.

An ``--output`` names a kind by its scheme (``display://``, ``http://...``, ``file://...``);
``none`` (or ``null://``) is the null kind and a plain path a file. Each kind is one module
with ``SCHEME``, ``EXAMPLE`` (how it is written, for messages), ``check(uri)`` (cheap, before
anything starts: a VideoError of one line), ``open(uri, fps, title)`` (a Sink, see base.py)
and, if at most one of it makes sense in a run, ``SINGLE = True``.

A new kind is one module and one line in KINDS below.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any, Iterable, List, Optional, Sequence

import cv2
import numpy as np

from ..errors import StylertError, VideoError
from . import display, files, http, null
from .base import Sink

KINDS = {kind.SCHEME: kind for kind in (
    display,   # display://          a window (display.py)
    http,      # http://HOST:PORT/   an MJPEG stream and a page (http.py)
    files,     # file://out.mp4      a video or an image sequence (files.py)
    null,      # none                nothing kept (null.py)
)}


def kind(uri: str):
    """The module of the kind ``uri`` names; one clear VideoError for a scheme none has."""
    if uri in ("none", ""):
        return null
    if "://" not in uri:
        return files
    scheme = uri.split("://", 1)[0].lower()
    if scheme not in KINDS:
        known = ", ".join(k.EXAMPLE for k in KINDS.values())
        raise VideoError(f"--output {uri}: stylert has no {scheme}:// output; it writes {known}")
    return KINDS[scheme]


def check_sink(uri: str) -> None:
    """Refuses an output that cannot work, before anything starts (nothing is bound or created)."""
    kind(uri).check(uri)


def open_sink(uri: str, fps: float = 30.0, title: str = "stylert live") -> Sink:
    """The output ``uri`` names, open: a server listens, a window shows, a file is written
    from the first frame on (at that frame's size)."""
    k = kind(uri)
    k.check(uri)
    return k.open(uri, fps=fps, title=title)


def check_sinks(uris: Iterable[str]) -> None:
    for uri in uris:
        check_sink(uri)


def open_sinks(uris: Sequence[str], fps: float = 30.0, title: str = "stylert live",
               extra: Sequence[Sink] = ()) -> "Composite":
    """All of ``uris`` opened as one Composite (with ``extra`` sinks already open, e.g. the
    browser source's); if one cannot be opened, those opened before it are closed again.
    A repeated output, or a second one of a SINGLE kind (the window), is opened once."""
    check_sinks(uris)
    chosen, single = [], set()
    for uri in dict.fromkeys(uris):
        k = kind(uri)
        if getattr(k, "SINGLE", False):
            if k in single:
                continue
            single.add(k)
        chosen.append(uri)
    opened: List[Sink] = []
    try:
        for uri in chosen:
            opened.append(open_sink(uri, fps, title))
    except BaseException:
        Composite(opened, threaded=False).close()
        raise
    return Composite(opened + list(extra))


class Composite(Sink):
    """Several outputs as one Sink; what an app holds. ``write`` hands the frame to a thread
    of its own that writes it to every output (a bounded queue: the loop waits rather than
    pile frames up), so neither file I/O nor JPEG encoding waits on inference; the latency
    of each frame (capture to written everywhere) is kept in ``latencies_ns``. The first
    failure of a write ends the writing (``error``, the run's exit status); ``close()``
    closes every output, also after one of them failed, and returns the first failure."""

    def __init__(self, sinks: Iterable[Sink], threaded: bool = True, depth: int = 2):
        self.sinks = list(sinks)
        self.name = ", ".join(s.name for s in self.sinks) or "none"
        self.latencies_ns: List[int] = []
        self.written = 0
        self.error: Optional[str] = None
        self._bug: Optional[BaseException] = None  # a write that failed for a reason that is not the outside world
        self._q: "queue.Queue" = queue.Queue(maxsize=depth)
        self._thread = None
        if threaded:
            self._thread = threading.Thread(target=self._run, name="stylert-outputs", daemon=True)
            self._thread.start()

    @property
    def serving(self) -> str:
        return "\n".join(s.serving for s in self.sinks if s.serving)

    def write(self, frame: np.ndarray, tag: Any = None, t_capture_ns: Optional[int] = None) -> None:
        """Hands ``frame`` to every output (``t_capture_ns``: when it was captured, for the latency)."""
        if self.closed:
            return
        item = (frame, tag, time.perf_counter_ns() if t_capture_ns is None else t_capture_ns)
        if self._thread is None:
            self._write(*item)
        else:
            self._q.put(item)

    def status(self, text: str) -> None:
        for s in self.sinks:
            s.status(text)

    def keys(self) -> List[int]:
        return [k for s in self.sinks for k in s.keys()]

    @property
    def is_open(self) -> bool:
        """False once closed, after a failed write, or when an output ended by itself (its window closed)."""
        return not self.closed and self.error is None and all(s.is_open for s in self.sinks)

    def _run(self) -> None:
        while True:
            item = self._q.get()
            if item is None:
                return
            self._write(*item)

    def _write(self, frame, tag, t_capture_ns) -> None:
        if self.error:  # after a failed write nothing more is written: the run is ending
            return
        try:
            for s in self.sinks:
                s.write(frame, tag)
        except (StylertError, OSError, cv2.error) as e:  # a full disk, a folder gone, a codec refusing:
            self.error = f"writing failed: {e}"         # the run ends with the reason, files finalized
            return
        except Exception as e:  # noqa: BLE001 - a bug: writing stops, close() raises it with its traceback
            self.error, self._bug = f"writing failed: {type(e).__name__}: {e}", e
            return
        self.latencies_ns.append(time.perf_counter_ns() - t_capture_ns)
        self.written += 1

    def close(self) -> Optional[str]:
        """Finishes the frames handed over, then closes every output; the first failure
        (of a write, else of a close) becomes ``error`` and is returned. An error that is not a
        VideoError (a bug) is raised once every output is closed."""
        if self.closed:
            return self.error
        self.closed = True
        if self._thread is not None:
            self._q.put(None)
            self._thread.join()
        bug = self._bug
        for s in self.sinks:
            try:
                s.close()
            except VideoError as e:
                self.error = self.error or str(e)
            except Exception as e:  # noqa: BLE001 - the others are closed first
                bug = bug or e
        if bug is not None:
            raise bug
        return self.error
