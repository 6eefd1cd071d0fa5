"""stylert live: sources and sinks, every file frame in order, stale-frame dropping for live
sources, clean stops (SIGINT, failing sources), and the refusals (no torch needed)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from stylert import cli
from stylert.video import sources
from stylert.apps import live
from stylert.errors import VideoError
from stylert.video import Capture, Source, open_source
from helpers import no_gpu


def _video(path, frames=12, size=(96, 64)):
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 15, size)
    for i in range(frames):
        img = np.full((size[1], size[0], 3), 40, np.uint8)
        cv2.circle(img, (8 + 6 * i, 32), 10, (0, 200, 255), -1)
        w.write(img)
    w.release()


def _count(path):
    cap = cv2.VideoCapture(str(path))
    n, size = 0, None
    while True:
        ok, f = cap.read()
        if not ok:
            return n, size
        n, size = n + 1, f.shape


def test_video_file_in_gives_every_frame_out(tmp_path, capsys):
    _video(tmp_path / "in.mp4")
    argv = ["live", "--source", str(tmp_path / "in.mp4"), "--output", str(tmp_path / "out.mp4"),
            "--json", str(tmp_path / "s.json")]
    assert cli.main(argv) == 0
    assert _count(tmp_path / "out.mp4") == (12, (64, 96, 3))
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["frames_processed"] == summary["frames_captured"] == 12 and summary["frames_dropped"] == 0
    assert "12 processed" in capsys.readouterr().out
    assert not list(tmp_path.glob(".*partial*"))


def test_image_sequence_in_and_out(tmp_path):
    src = tmp_path / "frames"
    src.mkdir()
    for i in range(4):
        cv2.imwrite(str(src / f"f{i}.png"), np.full((40, 56, 3), 60 * i, np.uint8))
    out = tmp_path / "out"
    out.mkdir()
    assert cli.main(["live", "--source", str(src), "--output", str(out / "img_%03d.png"), "--size", "32x24"]) == 0
    written = sorted(p.name for p in out.iterdir())
    assert written == [f"img_{i:03d}.png" for i in range(4)]
    assert cv2.imread(str(out / "img_000.png")).shape == (40, 56, 3)  # capture size kept


def test_demo_runs_headless_with_a_limit(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert cli.main(["live", "--source", "demo", "--width", "160", "--height", "120", "--max-frames", "5",
                     "--json", str(tmp_path / "s.json")]) == 0
    out = capsys.readouterr().out
    assert "no display here" in out and "5 processed" in out
    assert json.loads((tmp_path / "s.json").read_text())["outputs"] == ["none"]


def test_refusals_come_before_capture(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    cases = [
        (["--output", "display://"], "no display here"),
        (["--output", str(tmp_path / "missing" / "out.mp4")], "not a writable folder"),
        (["--output", str(tmp_path / "out.xyz")], "use .mp4"),
        (["--source", str(tmp_path / "nothing.mp4")], "source not found"),
        (["--source", str(tmp_path)], "in folder"),
        (["--style", str(tmp_path / "nostyle.png")], "image not found"),
    ]
    for extra, msg in cases:
        assert cli.main(["live", "--max-frames", "2", *extra]) == 2, extra
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and msg in err, (extra, err)
    for bad in (["--size", "10x10"], ["--alpha", "2"], ["--duration", "-1"]):
        with pytest.raises(SystemExit):
            cli.main(["live", *bad])


class _Fast(Source):
    """A live source that makes frames faster than the consumer takes them."""
    live = True

    def __init__(self, n, fail_after=None):
        self.i, self.n, self.fail_after = 0, n, fail_after
        self.stalls = fail_after is not None

    def read(self):
        if self.i >= self.n or (self.fail_after is not None and self.i >= self.fail_after):
            return None
        self.i += 1
        time.sleep(0.002)
        return np.full((8, 8, 3), self.i, np.uint8)


def test_a_slow_consumer_gets_the_newest_frames():
    cap = Capture(_Fast(200))
    seen = []
    while True:
        f = cap.get()
        if f is None:
            break
        seen.append(f.index)
        time.sleep(0.02)
    cap.close()
    assert cap.dropped > 50 and cap.captured == 200
    assert len(seen) < 100 and max(np.diff(seen)) > 1  # stale frames skipped


def test_a_source_that_stops_is_reported():
    cap = Capture(_Fast(100, fail_after=5), retries=2)
    frames = 0
    while cap.get() is not None:
        frames += 1
    cap.close()
    assert frames >= 1 and "stopped delivering frames (after 2 retries)" in cap.error


class _Raises(_Fast):
    def __init__(self, error):
        super().__init__(100)
        self.error = error

    def read(self):
        if self.i >= 3:
            raise self.error
        return super().read()


def test_a_failing_device_is_the_reason_and_a_bug_is_a_traceback():
    cap = Capture(_Raises(OSError("device unplugged")))
    while cap.get() is not None:
        pass
    cap.close()
    assert cap.error == "capture failed: device unplugged"
    cap = Capture(_Raises(KeyError("a bug in a source")))
    with pytest.raises(KeyError, match="a bug in a source"):
        while cap.get() is not None:
            pass
    cap.close()


def test_camera_that_cannot_open():
    with pytest.raises(VideoError, match="cannot open source camera 7"):
        open_source("7")


def test_csi_camera_needs_gstreamer(monkeypatch):
    pipeline = sources.csi_pipeline(1, 1920, 1080, 60)
    assert pipeline.startswith("nvarguscamerasrc sensor-id=1 ") and "width=1920, height=1080, framerate=60/1" in pipeline
    assert pipeline.endswith("appsink drop=true max-buffers=1")
    monkeypatch.setattr(sources, "gstreamer_available", lambda: False)  # PyPI's OpenCV: no GStreamer
    with pytest.raises(VideoError, match="needs OpenCV built with GStreamer"):
        open_source("csi://0")
    with pytest.raises(VideoError, match="csi://N with N the sensor id"):
        open_source("csi://front")


def test_sigint_leaves_a_playable_file(tmp_path):
    out, summary = tmp_path / "out.mp4", tmp_path / "s.json"
    proc = subprocess.Popen([sys.executable, "-m", "stylert.cli", "live", "--source", "demo", "--width", "160",
                             "--height", "120", "--output", str(out), "--json", str(summary),
                             "--demo-frames", "100000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "DISPLAY": ""})
    deadline = time.time() + 60
    while not list(tmp_path.glob(".*partial*")) and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(2.0)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and stderr.strip().splitlines()[-1].startswith("stylert: interrupted"), stderr
    s = json.loads(summary.read_text())
    assert s["stopped_by"] == "signal" and s["frames_processed"] > 0
    assert _count(out) == (s["frames_processed"], (120, 160, 3))
    assert not list(tmp_path.glob(".*partial*"))


def test_target_fps_lowers_the_processing_size(tmp_path):
    assert cli.main(["live", "--source", "demo", "--width", "160", "--height", "120", "--output", "none",
                     "--target-fps", "100000", "--max-frames", "40", "--json", str(tmp_path / "s.json")]) == 0
    s = json.loads((tmp_path / "s.json").read_text())
    assert s["capture_size"] == [160, 120] and s["processing_size"][0] < 160


def test_target_fps_steps_down_and_back_up():
    budget = live.BUDGET / 25  # seconds of inference a frame may take at 25 FPS
    assert live.adapt_scale(1.0, 1.2 * budget, 25) == pytest.approx(0.85)    # over budget: smaller
    assert live.adapt_scale(0.31, 1.2 * budget, 25) == pytest.approx(0.2635)
    assert live.adapt_scale(0.29, 1.2 * budget, 25) == 0.29                   # floor: 0.3 of the asked size
    assert live.adapt_scale(0.85, 0.8 * budget, 25) == 0.85                   # a step up would not fit: stay
    assert live.adapt_scale(0.7225, 0.5 * budget, 25) == pytest.approx(0.85)  # room: back up a step
    assert live.adapt_scale(0.95, 0.1 * budget, 25) == 1.0 and live.adapt_scale(1.0, 0.1 * budget, 25) == 1.0


def test_auto_scale_jumps_to_the_size_that_fits():
    assert live.auto_scale(live.BUDGET / 30, 30) == pytest.approx(1.0)     # the capture size fits
    assert live.auto_scale(4 * live.BUDGET / 30, 30) == pytest.approx(0.5)  # 4x the work: half the side
    assert live.auto_scale(100.0, 30) == 0.3                                # floor
    assert live.auto_scale(live.BUDGET / 30, 30, measured_at=0.5) == pytest.approx(0.5)  # measured at half


class _Recorder:
    def __init__(self):
        self.styles = []

    def set_style(self, style):
        self.styles.append(style)


def test_window_keys(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    st, frame = _Recorder(), np.zeros((48, 64, 3), np.uint8)
    state = {"style": 0, "alpha": 1.0, "original": False, "color": False, "recorder": None}

    def press(key):
        return live._keys(ord(key), state, st, ["a.jpg", "b.jpg", "c.jpg"], frame, (64, 48), 30.0)

    assert not press("n") and not press("n") and state["style"] == 2 and st.styles == ["b.jpg", "c.jpg"]
    assert not press("n") and state["style"] == 0 and not press("p") and st.styles[-1] == "c.jpg"
    press("-")
    press("-")
    assert state["alpha"] == pytest.approx(0.8)
    for _ in range(5):
        press("+")
    assert state["alpha"] == 1.0
    press("o")
    press("c")
    assert state["original"] and state["color"]
    press("s")
    assert len(list(tmp_path.glob("snapshot_*.png"))) == 1
    press("r")
    assert state["recorder"] is not None
    state["recorder"].write(frame)
    press("r")
    assert state["recorder"] is None and len(list(tmp_path.glob("live_*.mp4"))) == 1
    assert press("q") and live._keys(27, state, st, ["a.jpg"], frame, (64, 48), 30.0)  # q and Esc quit
    assert not live._keys(255, state, st, ["a.jpg"], frame, (64, 48), 30.0)  # no key


@pytest.mark.skipif(not shutil.which("Xvfb"), reason="Xvfb not installed (apt install xvfb)")
def test_window_under_a_virtual_display(tmp_path):
    xvfb = subprocess.Popen(["Xvfb", ":97", "-screen", "0", "800x600x24"], stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)
        done = subprocess.run([sys.executable, "-m", "stylert.cli", "live", "--source", "demo", "--width", "160",
                               "--height", "120", "--output", "display://", "--output", str(tmp_path / "o.avi"),
                               "--max-frames", "5"], capture_output=True, text=True, timeout=120,
                              env={**os.environ, "DISPLAY": ":97"})
    finally:
        xvfb.terminate()
        xvfb.wait()
    assert done.returncode == 0, done.stderr
    assert "5 processed" in done.stdout
    assert _count(tmp_path / "o.avi") == (5, (120, 160, 3))


# -------------------------------------------------------------------- real-time defaults
@no_gpu
def test_no_flags_picks_the_fastest_variant_and_an_auto_size(tmp_path, capsys):
    argv = ["live", "--source", "demo", "--width", "160", "--height", "120", "--output", "none",
            "--max-frames", "20", "--json", str(tmp_path / "s.json")]
    assert cli.main(argv) == 0
    s = json.loads((tmp_path / "s.json").read_text())
    assert s["precision"] == "int8" and s["processing"] == "auto" and s["target_fps"] == 30
    assert all(d % 8 == 0 for d in s["processing_size"]) and s["processing_size"][0] <= 160
    out = capsys.readouterr().out
    assert out.startswith("live: backend: onnxruntime-cpu, int8 (int8: the fastest variant on onnxruntime-cpu")
    assert "(auto, target 30 FPS)" in out


def test_explicit_flags_win_and_a_missing_variant_is_one_line(tmp_path, capsys):
    argv = ["live", "--source", "demo", "--width", "160", "--height", "120", "--output", "none", "--max-frames", "8",
            "--size", "96x72", "--precision", "fp32", "--json", str(tmp_path / "s.json")]
    assert cli.main(argv) == 0
    s = json.loads((tmp_path / "s.json").read_text())
    assert (s["precision"], s["processing_size"], s["processing"]) == ("fp32", [96, 72], "given")
    capsys.readouterr()
    pytest.importorskip("torch")
    from stylert.export import package as export_pkg

    fp32_only = export_pkg.export("adain", tmp_path / "fp32", precisions=("fp32",), progress=False)
    assert cli.main([*argv[:-4], "--package", str(fp32_only.path), "--precision", "fp16"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no fp16 variant of encoder, decoder" in err and "re-export" in err


def test_recordings_carry_no_heads_up_line_unless_asked(tmp_path):
    def top_rows(*extra):
        out = tmp_path / ("hud" if extra else "clean")
        out.mkdir()
        assert cli.main(["live", "--source", "demo", "--width", "160", "--height", "120", "--size", "96x72",
                         "--max-frames", "3", "--output", str(out / "f_%02d.png"), *extra]) == 0
        return cv2.imread(str(out / "f_02.png"))[2:20]
    assert np.median(top_rows("--hud")) == 0  # the black heads-up bar (white text on it)
    assert top_rows().mean() > 20            # the stylized picture


def test_duration_loops_the_demo_scene(tmp_path):
    argv = ["live", "--source", "demo", "--width", "96", "--height", "72", "--size", "48x32", "--output", "none",
            "--demo-frames", "10", "--duration", "1.2", "--json", str(tmp_path / "s.json")]
    assert cli.main(argv) == 0
    s = json.loads((tmp_path / "s.json").read_text())
    assert s["frames_captured"] > 10 and s["stopped_by"] == "end or limit" and s["seconds"] >= 1.2


def test_live_serves_an_mjpeg_stream_on_the_address_given(tmp_path):
    import socket
    import threading
    import urllib.request

    with socket.socket() as s:  # a free port on loopback
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    opt = live.LiveOptions(source="demo", outputs=[f"http://127.0.0.1:{port}/"], width=160, height=120,
                           size=(96, 72), duration=4.0, quiet=True)
    result = {}
    runner = threading.Thread(target=lambda: result.update(live.run(opt)), daemon=True)
    runner.start()
    frame = None
    for _ in range(50):  # the server starts with the first frame
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/frame.jpg", timeout=2) as r:
                frame = cv2.imdecode(np.frombuffer(r.read(), np.uint8), cv2.IMREAD_COLOR)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/hud", timeout=2) as r:
                hud = r.read().decode()
            break
        except OSError:
            time.sleep(0.1)
    runner.join(timeout=20)
    assert frame is not None and frame.shape == (120, 160, 3)  # the capture size, no heads-up bar burnt in
    assert "FPS" in hud and "96x72" in hud
    assert not runner.is_alive() and result["frames_processed"] > 0
