"""The demo scene (--source demo, video/demo.py), the demo's style and live --side-by-side:
the scene is the same on every run, moves, shows the person, keeps the source's contract
(camera pace, frames/loop, any size); the side-by-side output is input | output."""

import json
import time

import cv2
import numpy as np
import pytest

from stylert import cli
from stylert.apps import live
from stylert.images import ASSETS
from stylert.video import DemoSource, open_source
from stylert.video.demo import DemoScene


def test_the_scene_is_deterministic():
    a, b = DemoScene(160, 120, 60), DemoScene(160, 120, 60)
    for i in (0, 7, 31, 59):
        assert np.array_equal(a.frame(i), b.frame(i))
    assert np.array_equal(a.frame(5), a.frame(5))  # a frame depends on its index only, not on the calls before


def test_the_scene_moves_and_loops_without_a_jump():
    scene = DemoScene(160, 120, 60)
    frames = [scene.frame(i).astype(np.int16) for i in range(60)]
    steps = [np.abs(frames[i + 1] - frames[i]).mean() for i in range(59)]
    assert min(steps) > 0  # every frame differs from the one before: the camera never stands still
    assert np.abs(frames[0] - frames[30]).mean() > 4 * np.median(steps)  # and it goes somewhere
    assert np.array_equal(scene.frame(60), scene.frame(0))  # whole cycles: the loop closes ...
    assert np.abs(frames[59] - frames[0]).mean() < 3 * np.median(steps)  # ... as any other step


def test_the_person_is_in_the_scene():
    w, h = 160, 120
    scene = DemoScene(w, h, 60)
    for i in range(0, 60, 6):
        cover = scene.person_coverage(i)
        assert cover.shape == (h, w)
        assert 0.1 < (cover > 128).mean() < 0.6  # she fills a good part of the frame, not all of it
        ys, xs = np.nonzero(cover > 128)
        assert ys.min() < 0.35 * h  # her head is high in the frame
    # she moves: her centre travels across the frame during the loop
    centres = [np.nonzero(scene.person_coverage(i) > 128)[1].mean() for i in range(0, 60, 5)]
    assert max(centres) - min(centres) > 0.1 * w
    # what the frame shows where she is opaque is her, not the wall: it changes with her mask
    cover = scene.person_coverage(0) > 250
    frame = scene.frame(0)
    orange = (frame[..., 2].astype(int) - frame[..., 0]) > 120  # her suit: red far above blue (the bricks: not)
    assert orange[cover].mean() > 0.2 and orange[~cover].mean() < 0.02


@pytest.mark.parametrize("size", [(640, 480), (16, 16), (48, 32), (17, 301), (1280, 360)])
def test_any_size(size):
    w, h = size
    scene = DemoScene(w, h, 30)
    for i in (0, 13, 20):  # the ball (from 0.1 of the loop) and the post (from 0.62) are in some of these
        f = scene.frame(i)
        assert f.shape == (h, w, 3) and f.dtype == np.uint8 and f.flags["C_CONTIGUOUS"]


def test_the_source_keeps_its_contract():
    src = open_source("demo", 96, 72, fps=1e6, frames=5)
    assert isinstance(src, DemoSource) and src.live
    frames = [src.read() for _ in range(6)]
    assert frames[-1] is None and all(f.shape == (72, 96, 3) for f in frames[:5])  # 5 frames, then the end
    scene = DemoScene(96, 72, 5)  # unpaced, it moves as at 30 FPS
    assert all(np.array_equal(f, scene.frame(i)) for i, f in enumerate(frames[:5]))
    looped = DemoSource(96, 72, 5, 1e6, loop=True)
    again = [looped.read() for _ in range(7)]
    assert np.array_equal(again[5], frames[0]) and np.array_equal(again[6], frames[1])  # starts over
    paced = DemoSource(32, 24, 100, fps=20.0)
    t0 = time.perf_counter()
    for _ in range(5):
        paced.read()
    assert time.perf_counter() - t0 >= 4 / 20 - 0.01  # frames come at the camera's rate


def test_the_demo_style_is_bundled_and_the_default():
    style = ASSETS / "brushwork.jpg"
    assert style.stat().st_size < 80 * 1024
    img = cv2.imread(str(style))
    assert img.shape == (512, 512, 3)
    assert live.style_files([])[0] == str(style)
    mask = cv2.imread(str(ASSETS / "astronaut_mask.png"), cv2.IMREAD_UNCHANGED)
    assert mask.shape == (512, 512) and 0.3 < (mask > 128).mean() < 0.7


def test_side_by_side_is_input_then_output(tmp_path):
    w, h, n = 96, 72, 12
    out = tmp_path / "f_%03d.png"
    assert cli.main(["live", "--source", "demo", "--width", str(w), "--height", str(h), "--size", "48x32",
                     "--demo-frames", str(n), "--side-by-side", "--output", str(out),
                     "--json", str(tmp_path / "s.json")]) == 0  # as make demo writes it
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["frames_processed"] > 0
    written = sorted(tmp_path.glob("f_*.png"))
    assert len(written) == summary["frames_processed"]
    scene = [DemoScene(w, h, n).frame(i) for i in range(n)]
    for path in written:
        frame = cv2.imread(str(path))
        assert frame.shape == (h, 2 * w, 3)
        left, right = frame[:, :w], frame[:, w:]
        assert any(np.array_equal(left, s) for s in scene)  # the camera's frame, as captured (PNG: exact)
        assert not np.array_equal(left, right)              # and beside it the stylized one
    # without the flag the output is the stylized frame alone, at the capture size
    plain = tmp_path / "plain_%03d.png"
    live.run(live.LiveOptions(source="demo", outputs=[str(plain)], width=w, height=h, size=(48, 32),
                              max_frames=2, quiet=True))
    assert cv2.imread(str(tmp_path / "plain_000.png")).shape == (h, w, 3)
