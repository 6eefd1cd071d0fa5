"""``stylert live``: stylize a video source as fast as it comes, show or record it.

Threads overlap the work: capture (video.Capture: newest frame only for live sources,
every frame in order for files), inference (this module's loop: the Stylizer's frame at
the processing size, the heads-up line, the keys), the outputs (video.Composite: one thread
writing every --output, a bounded queue) and, with display://, the window's own thread
(newest frame shown). Every output is opened, an HTTP port bound, before the first frame.
Latency is measured from a frame's capture timestamp to the moment its result was handed to
every output; FPS from the output side.
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import math
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Deque, Dict, List, Optional, Tuple

import cv2
import numpy as np

from ..errors import VideoError, one_line
from ..folders import check_report, write_report
from ..images import ASSETS, expand, read_image
from ..sysinfo import peak_rss_mb
from ..limits import pixels
from ..pipelines.stylizer import Stylizer
from ..pipelines.temporal import Stabilizer
from ..video import KINDS, Capture, burn_status, check_sinks, display_problem, open_sink, open_sinks, open_source
from ..video import uri as uris
from . import alpha, nonneg, path, pipeline_options, positive_int, wxh

log = logging.getLogger("stylert")
# brushwork.jpg first: the demo's style, made to read at a glance (assets/make_demo_assets.py)
DEFAULT_STYLES = ["brushwork.jpg", "coffee.jpg", "immunohistochemistry.jpg", "hubble_deep_field.jpg"]
KEYS = "n/p style, +/- alpha, o side by side, c colour, h heads-up line, s snapshot, r record, q quit"


@dataclass
class LiveOptions:
    source: str = "demo"
    outputs: List[str] = field(default_factory=list)  # empty: a window if there is a display
    styles: List[str] = field(default_factory=list)   # files or folders; empty: the bundled ones
    size: Optional[Tuple[int, int]] = None            # processing (width, height); None: auto
    target_fps: Optional[float] = None                # None: the source's rate (at most 30) when size is auto
    backend: str = "auto"
    precision: str = "auto"                           # auto: the backend's fastest variant
    package: Optional[str] = None
    alpha: float = 1.0
    preserve_color: bool = False                      # luma-only transfer (video speed)
    hud: bool = False                                 # burn the heads-up line into file outputs too
    side_by_side: bool = False                        # output the camera frame | the stylized one (o toggles)
    stabilize: float = 0.8    # temporal Stabilizer strength (0: off); the default from benchmarks/flicker.py
    upsample: str = "guided"  # back to the capture size: "guided" by the frame's edges, or "bilinear"
    max_frames: int = 0
    duration: float = 0.0
    width: int = 0            # capture settings
    height: int = 0
    fps: float = 0.0
    flip: bool = False
    realtime: bool = False    # pace file sources at their frame rate
    demo_frames: int = 300
    json_path: Optional[str] = None
    quiet: bool = False       # no start line (benchmarks)
    unverified: bool = False  # run a named backend that fails its self-check


def add_parser(sub) -> None:
    live = sub.add_parser("live", help="stylize a camera, video or the bundled demo scene in real time")
    live.add_argument("--source", default="demo", type=path, help="default: demo (the bundled moving scene); 0, /dev/video0, v4l2:///dev/video0, file://clip.mp4 or a "
                                                       "path, an image folder/glob/img_%%03d.png, rtsp://..., "
                                                       "browser://127.0.0.1:8554 (serves a page that sends the "
                                                       "visitor's camera and shows the result), or demo")
    kinds = ", ".join(k.EXAMPLE for k in KINDS.values()).replace("%", "%%")  # the registry's, video/sinks.py
    live.add_argument("--output", action="append", type=path, help=f"{kinds}; repeat for several (default: a window, or none "
                      "without a display)")
    live.add_argument("--style", action="append", type=path, help="style image or folder, repeat for several (n/p switch)")
    live.add_argument("--size", type=wxh, help="processing size WxH (display and files keep the capture size; "
                                               "default: chosen and adapted to hold --target-fps)")
    live.add_argument("--target-fps", type=nonneg, default=None,
                      help="adapt the processing size (at most --size) to reach this FPS (default without "
                           "--size: the source's rate, at most 30; 0: never adapt)")
    live.add_argument("--alpha", type=alpha, default=1.0)
    live.add_argument("--preserve-color", action="store_true",
                      help="keep the source's colours (luma-only transfer: no per-frame style re-encoding)")
    live.add_argument("--hud", action="store_true", help="burn the heads-up line into file outputs too")
    live.add_argument("--side-by-side", action="store_true",
                      help="every output shows the camera frame and the stylized one next to each other (input | "
                           "output, twice the width; the o key toggles it in the window)")
    live.add_argument("--upsample", choices=["guided", "bilinear"], default="guided",
                      help="back to the capture size: guided by the frame's own edges (sharp; default) or bilinear "
                           "(benchmarks/upsample.py, flicker.py)")
    live.add_argument("--stabilize", type=_strength, default=0.8,
                      help="less flicker where the scene stands still: how much of the previous output a still "
                           "pixel keeps, in [0, 1) (default 0.8; 0: off)")
    live.add_argument("--max-frames", type=positive_int, default=0)
    live.add_argument("--duration", type=nonneg, default=0.0, help="stop after this many seconds")
    live.add_argument("--json", type=path, help="write the end summary here")
    live.add_argument("--width", type=positive_int, default=0, help="capture width (cameras; demo)")
    live.add_argument("--height", type=positive_int, default=0, help="capture height (cameras; demo)")
    live.add_argument("--fps", type=nonneg, default=0.0, help="capture frame rate (cameras; demo)")
    live.add_argument("--flip", action="store_true", help="mirror horizontally (selfie cameras)")
    live.add_argument("--realtime", action="store_true", help="pace file sources at their frame rate")
    live.add_argument("--demo-frames", type=positive_int, default=300, help="length of the demo scene")
    pipeline_options(live, precision="auto")
    live.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    opt = LiveOptions(source=args.source, outputs=args.output or [], styles=args.style or [],
                      size=args.size, target_fps=args.target_fps, backend=args.backend,
                      precision=args.precision, package=args.package, alpha=args.alpha,
                      preserve_color=args.preserve_color,
                      max_frames=args.max_frames, duration=args.duration, width=args.width,
                      height=args.height, fps=args.fps, flip=args.flip, realtime=args.realtime,
                      demo_frames=args.demo_frames, json_path=args.json, hud=args.hud, stabilize=args.stabilize,
                      side_by_side=args.side_by_side,
                      upsample=args.upsample,
                      unverified=args.unverified)
    summary = run(opt)
    print(describe(summary))
    if summary["error"]:  # the reason on stderr too, as every command's error line
        print(f"stylert: error: {one_line(summary['error'])}", file=sys.stderr)
        return 2
    if summary["stopped_by"] == "signal":  # the outputs are complete, but an interrupted command never says 0
        print("stylert: interrupted (the outputs written so far are complete)", file=sys.stderr)
        return 130
    return 0


def _strength(text: str) -> float:
    value = nonneg(text)
    if value >= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}")
    return value


def style_files(items: List[str]) -> List[str]:
    """Style files from files and folders; the bundled styles when none are given."""
    return expand(items, "style images") if items else [str(ASSETS / s) for s in DEFAULT_STYLES]


def adapt_scale(scale: float, seconds_per_frame: float, target: float) -> float:
    """--target-fps: the processing size 15% smaller while a frame's inference takes more than
    its budget (BUDGET of the frame interval; down to 0.3 of the asked size), 15% larger when
    even the larger size (~1.38x the work) would fit in 90% of it, up to the asked size. It
    judges inference time, not the FPS at the sink: with the target at the source's rate
    the FPS can never exceed it, so it would never say "room to grow"."""
    budget = BUDGET / target
    if seconds_per_frame > budget and scale > 0.3:
        return scale * 0.85
    if seconds_per_frame / 0.85 ** 2 < 0.9 * budget and scale < 1.0:
        return min(1.0, scale / 0.85)
    return scale


# Auto size: a first measurement sets the processing scale in one jump (cost ~ pixels, so
# scale = measured scale * sqrt(budget / time)); adapt_scale then steps gently. CPUs measure
# at half the capture size (a full 640x480 frame takes 100+ ms and its buffers ~70 MB more).
CALIBRATE_FRAMES = 3
START_SCALE = {"cpu": 0.5}  # other devices: the capture size
BUDGET = 0.85  # of the frame interval: room for capture, resizes and writing


def auto_scale(seconds_per_frame: float, target_fps: float, measured_at: float = 1.0) -> float:
    """The processing scale (of the capture size) that should hold ``target_fps``, from the
    time a frame took at scale ``measured_at``."""
    return float(np.clip(measured_at * math.sqrt(BUDGET / target_fps / max(seconds_per_frame, 1e-6)), 0.3, 1.0))


def _even8(size: Tuple[float, float]) -> Tuple[int, int]:
    """A processing size in whole multiples of 8 (the encoder's stride: no padding work)."""
    return max(16, int(size[0]) // 8 * 8), max(16, int(size[1]) // 8 * 8)


def run(opt: LiveOptions) -> Dict:
    """Runs until the source ends, a limit is reached, q is pressed (or the window closed) or
    SIGINT/SIGTERM arrives; returns the summary (also written to ``opt.json_path``)."""
    outputs = list(opt.outputs)
    notes = []
    browser = uris.source(opt.source).kind == "browser"  # the page shows the result: no window by default
    if not outputs:
        if browser:
            outputs = ["none"]
        elif not display_problem():
            outputs = ["display://"]
        else:
            outputs = ["none"]
            notes.append(f"{display_problem()}: running headless (record with --output out.mp4)")
    check_sinks(outputs)  # refuse unwritable outputs before anything starts
    check_report(opt.json_path)
    if opt.size:
        pixels(*opt.size, f"--size {opt.size[0]}x{opt.size[1]}")
    if opt.width and opt.height:  # the capture size (the demo source makes frames of it)
        pixels(opt.width, opt.height, f"--width {opt.width} --height {opt.height}")
    styles = style_files(opt.styles)
    for style in styles:  # each read now: one that cannot be used is said before the run, not at its n key
        read_image(style)
    stop = threading.Event()
    previous = {}  # Ctrl-C and SIGTERM end the loop cleanly (signals reach the main thread only)
    source = capture = sinks = None
    # "original": the camera frame beside the result (--side-by-side, the o key)
    state = {"style": 0, "alpha": opt.alpha, "original": opt.side_by_side, "color": opt.preserve_color,
             "recorder": None}
    processed, t0 = 0, time.perf_counter()
    infer_s: Deque[float] = collections.deque(maxlen=30)  # seconds of inference, recent frames
    try:  # from here on, whatever happens, sources and outputs close, files are finalized, handlers restored
        source = open_source(opt.source, opt.width, opt.height, opt.fps, opt.demo_frames, loop=bool(opt.duration))
        # Every output opens now, before the model loads: a port is bound (once), a window
        # shows; a viewer that connects meanwhile waits for the first frame.
        back = list(getattr(source, "sinks", []))  # the browser source's: results back to its pages
        sinks = open_sinks(outputs, source.fps, extra=back)
        st = Stylizer(opt.package, backend=opt.backend, precision=opt.precision, unverified=opt.unverified)
        st.set_style(styles[0])
        stabilizer = Stabilizer(opt.stabilize) if opt.stabilize else None
        # Explicit flags win: a given --size is kept unless --target-fps is given too.
        target = opt.target_fps if opt.target_fps is not None else (0.0 if opt.size else min(source.fps, 30.0))
        capture = Capture(source)
        if threading.current_thread() is threading.main_thread():
            previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
        if not opt.quiet:  # the addresses once the model is loaded and Ctrl-C ends the loop cleanly
            for line in filter(None, (s.serving for s in sinks.sinks)):
                print(f"live: {line}", flush=True)
        frame = capture.get(stop)
        if frame is None:
            if stop.is_set():
                raise KeyboardInterrupt  # Ctrl-C before the first frame: nothing to save (exit 130)
            if browser:
                raise VideoError(f"stopped before any page sent a frame (open {source.url} in a browser)")
            raise VideoError(f"source {opt.source} gave no frames" + (f" ({capture.error})" if capture.error else ""))
        h, w = frame.image.shape[:2]
        proc = opt.size or (w, h)
        scale = START_SCALE.get(st.choice.device, 1.0) if target and not opt.size else 1.0
        chosen = _even8((proc[0] * scale, proc[1] * scale))
        if not opt.quiet:
            how = (f"auto for {target:g} FPS from {w}x{h}" if not opt.size else
                   f"{proc[0]}x{proc[1]}" + (f", adapting for {target:g} FPS" if target else ""))
            print(f"live: {st.choice}; processing size {how}", flush=True)
        t0 = time.perf_counter()
        recent: List[float] = []
        last_tag = None
        while frame is not None and not stop.is_set():
            if stabilizer is not None and frame.tag is not None and frame.tag[0] != (last_tag or (None,))[0]:
                stabilizer.reset()  # frames from another browser page: no blending across pages
            last_tag = frame.tag
            img = cv2.flip(frame.image, 1) if opt.flip else frame.image
            started = time.perf_counter()
            out = st.frame(img, chosen, state["alpha"], "luma" if state["color"] else False, stabilizer=stabilizer,
                           sharpen=opt.upsample == "guided")
            infer_s.append(time.perf_counter() - started)
            if state["original"]:  # input | output (a file keeps its first frame's size: see files.py)
                out = np.hstack([img, out])
            processed += 1
            now = time.perf_counter()
            recent = (recent + [now])[-30:]
            fps = (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) > 1 else 0.0
            lat_ms = (time.perf_counter_ns() - frame.t_capture_ns) / 1e6
            hud = (f"{fps:.1f} FPS  {lat_ms:.0f} ms  {st.backend} {st.choice.precision}  "
                   f"{Path(styles[state['style']]).stem}  a={state['alpha']:.1f}  {chosen[0]}x{chosen[1]}")
            sinks.status(hud)  # the window draws it, the web pages show it as text
            recorded = burn_status(out, hud) if opt.hud else out  # files and streams stay clean unless --hud
            sinks.write(recorded, frame.tag, frame.t_capture_ns)
            if state["recorder"] is not None:
                state["recorder"].write(recorded)
            quit_ = False
            for key in sinks.keys():  # the window's, pressed meanwhile
                if _keys(key, state, st, styles, out, (w, h), source.fps):
                    quit_ = True
                    break
                if stabilizer is not None and key in (ord("n"), ord("p")):
                    stabilizer.reset()  # a new style: no blending with the old one
            if quit_ or not sinks.is_open:  # q, or the window closed, or an output failed
                break
            if target and not opt.size and processed == CALIBRATE_FRAMES:
                scale = auto_scale(float(np.median(list(infer_s)[1:])), target, scale)  # the first call warms up
                chosen = _even8((proc[0] * scale, proc[1] * scale))
            elif target and processed > CALIBRATE_FRAMES and processed % 15 == 0:
                scale = adapt_scale(scale, float(np.median(list(infer_s)[-15:])), target)
                chosen = _even8((proc[0] * scale, proc[1] * scale))
            if (opt.max_frames and processed >= opt.max_frames) or (opt.duration and now - t0 >= opt.duration):
                break
            if opt.realtime and not source.live:
                time.sleep(max(0.0, frame.index / source.fps - (time.perf_counter() - t0)))
            frame = capture.get(stop)
    finally:
        elapsed = time.perf_counter() - t0
        if capture is not None:
            capture.close()  # and its source
        elif source is not None:
            source.close()
        try:
            if sinks is not None:
                sinks.close()  # raises a writer's bug once every output is closed
        finally:
            if state["recorder"] is not None:
                state["recorder"].close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    lat = np.asarray(sinks.latencies_ns or [0], np.float64) / 1e6
    summary = {
        "source": opt.source, "outputs": outputs, "backend": str(st.choice), "precision": st.choice.precision,
        "capture_size": [w, h], "processing_size": list(chosen),
        "processing": "auto" if not opt.size else "given" + (", adapted" if target else ""),
        "target_fps": target,
        "frames_captured": capture.captured, "frames_processed": processed,
        "frames_dropped": capture.dropped,
        "seconds": elapsed, "fps": processed / elapsed if elapsed > 0 else 0.0,
        "latency_ms": {"p50": float(np.percentile(lat, 50)), "p95": float(np.percentile(lat, 95)),
                       "p99": float(np.percentile(lat, 99))},
        "frames_unreadable": list(getattr(source, "unreadable", [])),
        "stopped_by": "signal" if stop.is_set() else "error" if (capture.error or sinks.error) else "end or limit",
        "error": capture.error or sinks.error, "notes": notes,
        "peak_rss_mb": peak_rss_mb(),
    }
    if summary["frames_unreadable"]:
        bad = summary["frames_unreadable"]
        notes.append(f"skipped {len(bad)} unreadable image(s) of the source: {', '.join(bad[:3])}"
                     + (" ..." if len(bad) > 3 else ""))
    if opt.json_path:
        write_report(opt.json_path, json.dumps(summary, indent=1))
    return summary


def _keys(key: int, state: Dict, st: Stylizer, styles: List[str], frame, size, fps) -> bool:
    """Window controls (see KEYS; h, the heads-up line, is the window's own); True to quit."""
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
            state["recorder"] = open_sink(path, fps)
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
             f"{s['processing_size'][0]}x{s['processing_size'][1]} ({s['processing']}"
             + (f", target {s['target_fps']:g} FPS)" if s["target_fps"] else ")"),
             f"frames: {s['frames_captured']} captured, {s['frames_processed']} processed, "
             f"{s['frames_dropped']} dropped in {s['seconds']:.1f} s: {s['fps']:.1f} FPS",
             f"latency capture->output: p50 {s['latency_ms']['p50']:.0f} ms, p95 {s['latency_ms']['p95']:.0f} ms, "
             f"p99 {s['latency_ms']['p99']:.0f} ms; peak memory {s['peak_rss_mb']:.0f} MB"]
    if s["error"]:
        lines.append(f"stopped: {s['error']}")
    return "\n".join(lines)
