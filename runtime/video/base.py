"""The two ends of the video layer, the interfaces every kind implements: a Source gives
frames, a Sink takes them. Frames are uint8 HxWx3 BGR (OpenCV's order) here, and only here.

Every other video module imports this one and none imports back: sources.py and browser.py
(sources), the sink kinds display.py, files.py, http.py, null.py and browser.py's sink, and
sinks.py, their registry and the composite the apps hold.
"""

from __future__ import annotations

from typing import Any, List, Optional

import cv2
import numpy as np


class Source:
    live = False    # live: frames come in real time and may be dropped; else read in order
    stalls = False  # a missing frame may be a hiccup (cameras, streams): retry before giving up
    fps = 30.0

    def read(self) -> Optional[np.ndarray]:
        """The next frame (BGR) or None at the end."""
        raise NotImplementedError

    def close(self) -> None:
        pass


class Sink:
    """One output, as jetson-utils' videoOutput is: a window, a stream, a file.

    * ``write(frame, tag=None)``  renders one frame (uint8 HxWx3 BGR) and returns without
      waiting on a viewer or a window; ``tag`` says where a frame came from (a browser page
      and its frame id), for the sinks that send results back; the others ignore it
    * ``status(text)``  the heads-up line: shown by the sinks that show text (the window draws
      it on the picture, the web page under it); files ignore it (live --hud burns it in)
    * ``keys()``        the keys pressed since the last call (the window's; other sinks: none)
    * ``close()``       finishes (a file is finalized and renamed); a VideoError says what failed
    * ``is_open``       True from open until closed, or until the sink ended by itself (its
      window was closed)
    * ``name``          the output as people write it; ``serving`` a line saying where to look
      (a URL to open), or ''

    The base itself is the ``none`` output: it takes every frame and keeps nothing. A kind is
    opened by its module's ``open(uri, fps, title)`` (the registry, sinks.py, picks it).
    """

    name = "none"
    serving = ""
    closed = False

    def write(self, frame: np.ndarray, tag: Any = None) -> None:
        pass

    def status(self, text: str) -> None:
        pass

    def keys(self) -> List[int]:
        return []

    def close(self) -> None:
        self.closed = True

    @property
    def is_open(self) -> bool:
        return not self.closed

    def __repr__(self):
        return f"{type(self).__name__}({self.name!r})"


def burn_status(img: np.ndarray, text: str) -> np.ndarray:
    """A copy of ``img`` with the heads-up line drawn on a black bar at its top."""
    out = img.copy()
    cv2.rectangle(out, (0, 0), (out.shape[1], 22), (0, 0, 0), -1)
    cv2.putText(out, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return out
