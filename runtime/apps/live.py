"""``stylert live``: stylize a video source as fast as it comes, show or record it.

Three threads overlap the work: capture (stylert.video.Capture: newest frame only for live
sources, every frame in order for files), inference (this module's loop: resize to the
processing size, Stylizer, heads-up line, display) and writing (a bounded queue to the
file sinks). Latency is measured from a frame's capture timestamp to the moment its
result was written or shown; FPS from the sink side.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import resource
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np

from .images import list_images
from .stylizer import Stylizer
from .video import ASSETS, Capture, DisplaySink, Sink, VideoError, check_sink, display_available, open_sink, open_source

log = logging.getLogger("stylert")
DEFAULT_STYLES = ["coffee.jpg", "immunohistochemistry.jpg", "hubble_deep_field.jpg"]
KEYS = "n/p style, +/- alpha, o original, c colour, s snapshot, r record, q quit"


@dataclass
class LiveOptions:
    source: str = "demo"
    outputs: List[str] = field(default_factory=list)  # empty: a window if there is a display
    styles: List[str] = field(default_factory=list)   # files or folders; empty: the bundled ones
    size: Optional[Tuple[int, int]] = None            # processing (width, height); None: capture size
    target_fps: float = 0.0
    backend: str = "auto"
    precision: str = "fp32"
    package: Optional[str] = None
    alpha: float = 1.0
    preserve_color: bool = False
    smoothing: float = 0.0
    max_frames: int = 0
    duration: float = 0.0
    width: int = 0            # capture settings
    height: int = 0
    fps: float = 0.0
    flip: bool = False
    realtime: bool = False    # pace file sources at their frame rate
    demo_frames: int = 300
    json_path: Optional[str] = None


def style_files(items: List[str]) -> List[str]:
    """Style files from files and folders; the bundled styles when none are given."""
    if not items:
        return [str(ASSETS / s) for s in DEFAULT_STYLES]
    out = []
    for item in items:
        if os.path.isdir(item):
            found = list_images(item)
            if not found:
                raise VideoError(f"no style images in folder {item}")
            out += found
        else:
            out.append(item)
    return out


class _Writer:
    """Writes frames to the file sinks on its own thread (bounded queue: the loop waits
    rather than piling frames up) and records each frame's latency when written."""

    def __init__(self, sinks: List[Sink]):
        self.sinks, self.latencies_ns = sinks, []
        self.written = 0
        self.error: Optional[str] = None
        self._q: "queue.Queue" = queue.Queue(maxsize=2)
        self._thread = threading.Thread(target=self._run, name="stylert-writer", daemon=True)
        self._thread.start()

    def _run(self):
        while True:
            item = self._q.get()
            if item is None:
                return
            frame, t_capture = item
            try:
                for s in self.sinks:
                    s.write(frame)
            except Exception as e:  # a full disk ends the run with the reason, files finalized
                self.error = f"writing failed: {e}"
            self.latencies_ns.append(time.perf_counter_ns() - t_capture)
            self.written += 1

    def put(self, frame, t_capture):
        self._q.put((frame, t_capture))

    def close(self):
        self._q.put(None)
        self._thread.join()
        for s in self.sinks:
            s.close()


def adapt_scale(scale: float, fps: float, target: float) -> float:
    """--target-fps: the processing size 15% smaller while below the target (down to 0.3 of
    the asked size), 15% larger again when well above it, up to the asked size. "Well above"
    is 1.45x: one step up costs ~1.38x per frame (area), so the FPS stays above the target
    instead of swinging back and forth."""
    if fps < target and scale > 0.3:
        return scale * 0.85
    if fps > 1.45 * target and scale < 1.0:
        return min(1.0, scale / 0.85)
    return scale


def stylize_frame(st: Stylizer, img: np.ndarray, size: Tuple[int, int], alpha: float = 1.0,
                  preserve_color: bool = False, smoothing: float = 0.0) -> np.ndarray:
    """One BGR frame: resized to the processing ``size`` (w, h), stylized, resized back
    (the resizes are the Stylizer's "resize in"/"resize out" stages)."""
    h, w = img.shape[:2]
    small = img
    if size != (w, h):
        with st.stages("resize in"):
            small = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
    out = st(small, alpha=alpha, preserve_color=preserve_color, bgr=True, smoothing=smoothing)
    if size != (w, h):
        with st.stages("resize out"):
            out = cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR)
    return out


def _hud(img: np.ndarray, text: str) -> None:
    cv2.rectangle(img, (0, 0), (img.shape[1], 22), (0, 0, 0), -1)
    cv2.putText(img, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)


def run(opt: LiveOptions) -> Dict:
    """Runs until the source ends, a limit is reached, q is pressed or SIGINT/SIGTERM
    arrives; returns the summary (also written to ``opt.json_path``)."""
    outputs = list(opt.outputs)
    notes = []
    if not outputs:
        if display_available():
            outputs = ["display://"]
        else:
            outputs = ["none"]
            notes.append("no display here: running headless (record with --output out.mp4)")
    for uri in outputs:
        check_sink(uri)  # refuse unwritable outputs before capture starts
    styles = style_files(opt.styles)
    st = Stylizer(opt.package, backend=opt.backend, precision=opt.precision)
    st.set_style(styles[0])
    source = open_source(opt.source, opt.width, opt.height, opt.fps, opt.demo_frames)
    capture = Capture(source)
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    writer, display = None, None
    state = {"style": 0, "alpha": opt.alpha, "original": False, "color": opt.preserve_color, "recorder": None}
    processed, t0 = 0, time.perf_counter()
    display_lat: List[int] = []
    try:  # from here on, whatever happens, the capture stops, files are finalized, handlers restored
        frame = capture.get()
        if frame is None:
            raise VideoError(f"source {opt.source} gave no frames" + (f" ({capture.error})" if capture.error else ""))
        h, w = frame.image.shape[:2]
        proc = opt.size or (w, h)
        display = next((DisplaySink() for u in outputs if u.startswith("display://")), None)
        writer = _Writer([open_sink(u, (w, h), source.fps) for u in outputs if not u.startswith("display://")])
        t0 = time.perf_counter()
        recent: List[float] = []
        scale, chosen = 1.0, proc
        while frame is not None and not stop.is_set():
            img = cv2.flip(frame.image, 1) if opt.flip else frame.image
            pw, ph = max(16, int(chosen[0])), max(16, int(chosen[1]))
            out = stylize_frame(st, img, (pw, ph), state["alpha"], state["color"], opt.smoothing)
            if state["original"]:
                out = np.hstack([img, out])
            processed += 1
            now = time.perf_counter()
            recent = (recent + [now])[-30:]
            fps = (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) > 1 else 0.0
            lat_ms = (time.perf_counter_ns() - frame.t_capture_ns) / 1e6
            _hud(out, f"{fps:.1f} FPS  {lat_ms:.0f} ms  {st.backend.split(' (')[0][9:]}  "
                      f"{Path(styles[state['style']]).stem}  a={state['alpha']:.1f}  {pw}x{ph}")
            if writer.sinks:
                writer.put(out, frame.t_capture_ns)
            if state["recorder"] is not None:
                state["recorder"].write(out)
            if display is not None:
                display.write(out)
                display_lat.append(time.perf_counter_ns() - frame.t_capture_ns)
                if _keys(cv2.waitKey(1) & 0xFF, state, st, styles, out, (w, h), source.fps):
                    break
            if opt.target_fps and processed % 15 == 0:
                scale = adapt_scale(scale, fps, opt.target_fps)
                chosen = (proc[0] * scale, proc[1] * scale)
            if (opt.max_frames and processed >= opt.max_frames) or writer.error or \
                    (opt.duration and now - t0 >= opt.duration):
                break
            if opt.realtime and not source.live:
                time.sleep(max(0.0, frame.index / source.fps - (time.perf_counter() - t0)))
            frame = capture.get()
    finally:
        elapsed = time.perf_counter() - t0
        capture.close()
        if writer is not None:
            writer.close()
        if state["recorder"] is not None:
            state["recorder"].close()
        if display is not None:
            display.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    lat = np.asarray(writer.latencies_ns or display_lat or [0], np.float64) / 1e6
    summary = {
        "source": opt.source, "outputs": outputs, "backend": st.backend, "precision": opt.precision,
        "capture_size": [w, h], "processing_size": [max(16, int(chosen[0])), max(16, int(chosen[1]))],
        "frames_captured": capture.captured, "frames_processed": processed,
        "frames_dropped": capture.dropped,
        "seconds": elapsed, "fps": processed / elapsed if elapsed > 0 else 0.0,
        "latency_ms": {"p50": float(np.percentile(lat, 50)), "p95": float(np.percentile(lat, 95)),
                       "p99": float(np.percentile(lat, 99))},
        "stopped_by": "signal" if stop.is_set() else "error" if (capture.error or writer.error) else "end or limit",
        "error": capture.error or writer.error, "notes": notes,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # Linux: KiB
    }
    if opt.json_path:
        tmp = opt.json_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(summary, f, indent=1)
        os.replace(tmp, opt.json_path)
    return summary


def _keys(key: int, state: Dict, st: Stylizer, styles: List[str], frame, size, fps) -> bool:
    """Window controls (see KEYS); True to quit."""
    if key in (ord("q"), 27):
        return True
    if key in (ord("n"), ord("p")):
        state["style"] = (state["style"] + (1 if key == ord("n") else -1)) % len(styles)
        st.set_style(styles[state["style"]])
    elif key in (ord("+"), ord("=")):
        state["alpha"] = min(1.0, state["alpha"] + 0.1)
    elif key == ord("-"):
        state["alpha"] = max(0.0, state["alpha"] - 0.1)
    elif key == ord("o"):
        state["original"] = not state["original"]
    elif key == ord("c"):
        state["color"] = not state["color"]
    elif key == ord("s"):
        path = time.strftime("snapshot_%Y%m%d_%H%M%S.png")
        cv2.imwrite(path, frame)
        print(f"saved {path}")
    elif key == ord("r"):
        if state["recorder"] is None:
            path = time.strftime("live_%Y%m%d_%H%M%S.mp4")
            state["recorder"] = open_sink(path, (frame.shape[1], frame.shape[0]), fps)
            print(f"recording to {path}")
        else:
            state["recorder"].close()
            state["recorder"] = None
    return False


def describe(summary: Dict) -> str:
    """The end summary, a few lines for people."""
    s = summary
    lines = [*s["notes"],
             f"{s['backend']}; capture {s['capture_size'][0]}x{s['capture_size'][1]}, processing "
             f"{s['processing_size'][0]}x{s['processing_size'][1]}",
             f"frames: {s['frames_captured']} captured, {s['frames_processed']} processed, "
             f"{s['frames_dropped']} dropped in {s['seconds']:.1f} s: {s['fps']:.1f} FPS",
             f"latency capture->output: p50 {s['latency_ms']['p50']:.0f} ms, p95 {s['latency_ms']['p95']:.0f} ms, "
             f"p99 {s['latency_ms']['p99']:.0f} ms; peak memory {s['peak_rss_mb']:.0f} MB"]
    if s["error"]:
        lines.append(f"stopped: {s['error']}")
    return "\n".join(lines)
