"""stylert generate and stylert manifold on the bundled packages."""

import json
import os
import shutil
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from stylert import Generator, cli
from stylert.apps.generate import mixing_figure, parse_ints, walk
from helpers import cli_error as _error  # noqa: E402


def test_seed_images_and_grid(tmp_path):
    assert cli.main(["generate", "--seeds", "0-2,9", "-o", str(tmp_path)]) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["grid.png", "seed0000.png", "seed0001.png", "seed0002.png", "seed0009.png"]
    one = cv2.imread(str(tmp_path / "seed0009.png"))
    assert one.shape == (32, 32, 3)
    assert np.array_equal(one[..., ::-1], Generator()([9])[0])  # the same seed, the same image


def test_truncation_zero_is_the_average_image(tmp_path):
    assert cli.main(["generate", "--seeds", "3,4", "--trunc", "0", "-o", str(tmp_path)]) == 0
    assert np.array_equal(cv2.imread(str(tmp_path / "seed0003.png")), cv2.imread(str(tmp_path / "seed0004.png")))


def test_mixing_with_the_rows_own_styles_reproduces_it():
    g = Generator()
    fig = mixing_figure(g, [5], [5], [0, 1], 0.7, "const")
    cell = 128 + 2  # each image scaled to 128 px, 2 px padding
    left = fig[2 + cell: 2 + cell + 128, 2:130]
    mixed = fig[2 + cell: 2 + cell + 128, 2 + cell: 2 + cell + 128]
    assert np.array_equal(left, mixed)
    other = mixing_figure(g, [5], [6], [0, 1], 0.7, "const")
    assert not np.array_equal(other[2 + cell:, 2 + cell:], fig[2 + cell:, 2 + cell:])


def test_walk_video_frame_count_and_size(tmp_path):
    assert cli.main(["generate", "video", "--seeds", "0,5,9", "--frames", "24", "--fps", "12",
                     "-o", str(tmp_path / "walk.mp4")]) == 0
    cap = cv2.VideoCapture(str(tmp_path / "walk.mp4"))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    assert len(frames) == 24 and frames[0].shape == (256, 256, 3)
    g = Generator()
    for space in ("z", "w"):
        ws = walk(g, [0, 5], 8, space, 0.7, "const")
        assert ws.shape == (8, g.num_ws, g.style_dim)
        first = g.broadcast(g.truncate(g.mapping(g.z([0])), 0.7))
        assert np.allclose(ws[0], first[0], atol=1e-5)  # the walk starts at the first seed


def test_projected_w_renders_given_vectors(tmp_path):
    g = Generator()
    w = g.truncate(g.mapping(g.z([2])), 0.7)
    np.savez(tmp_path / "w.npz", w=w)
    assert cli.main(["generate", "--projected-w", str(tmp_path / "w.npz"), "-o", str(tmp_path / "p")]) == 0
    got = cv2.imread(str(tmp_path / "p" / "projected0000.png"))[..., ::-1]
    assert np.array_equal(got, g([2], truncation=0.7)[0])


def test_same_seed_same_image_on_torch_and_onnxruntime():
    pytest.importorskip("torch")
    a = Generator(backend="onnxruntime-cpu")([0, 7, 42])
    b = Generator(backend="torch")([0, 7, 42])  # the bundled package's weights through PyTorch
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_manifold_outputs_and_pca_report(tmp_path, capsys):
    assert cli.main(["manifold", "-o", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["latent"] == 2 and report["test_mse_autoencoder"] < report["test_mse_pca"]
    assert abs(report["test_mse_autoencoder"] - 0.0287) < 2e-3  # the model card's figure
    assert cv2.imread(str(tmp_path / "manifold.png")).shape[1] > 500
    assert "PCA with 2 components" in capsys.readouterr().out
    assert cli.main(["manifold", "interpolate", "0", "10", "--steps", "6", "-o", str(tmp_path)]) == 0
    assert cv2.imread(str(tmp_path / "interpolate.png")) is not None


def test_bad_generation_input(tmp_path, capsys):
    assert parse_ints("0-3,7") == [0, 1, 2, 3, 7]
    for seeds in ("3-1", "a", "1,,x", "-1"):
        assert "bad seeds" in _error(capsys, ["generate", "--seeds", seeds, "-o", str(tmp_path)])
    assert "must be finite" in _error(capsys, ["generate", "--trunc", "nan", "-o", str(tmp_path)])
    assert "out of range" in _error(capsys, ["generate", "mix", "--layers", "0-9", "-o", str(tmp_path)])
    (tmp_path / "file").write_text("x")
    assert "cannot create output folder" in _error(capsys, ["generate", "-o", str(tmp_path / "file" / "x")])
    assert "at least 2 seeds" in _error(capsys, ["generate", "video", "--seeds", "1", "-o", str(tmp_path / "v.mp4")])
    assert "out of range" in _error(capsys, ["manifold", "interpolate", "0", "99999", "-o", str(tmp_path)])
    assert "two sample numbers" in _error(capsys, ["manifold", "interpolate", "0", "-o", str(tmp_path)])
    np.savez(tmp_path / "bad.npz", other=np.zeros(3))
    assert "no 'w' or 'ws'" in _error(capsys, ["generate", "--projected-w", str(tmp_path / "bad.npz"), "-o", str(tmp_path)])


def test_live_walk_needs_a_display(capsys, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert "no display here" in _error(capsys, ["generate", "video", "--live"])


@pytest.mark.skipif(not shutil.which("Xvfb"), reason="Xvfb not installed (apt install xvfb)")
def test_live_walk_under_a_virtual_display():
    xvfb = subprocess.Popen(["Xvfb", ":96", "-screen", "0", "800x600x24"], stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)
        done = subprocess.run([sys.executable, "-m", "stylert.cli", "generate", "video", "--live", "--frames", "20"],
                              capture_output=True, text=True, timeout=120, env={**os.environ, "DISPLAY": ":96"})
    finally:
        xvfb.terminate()
        xvfb.wait()
    assert done.returncode == 0, done.stderr
    assert "showed 20 frames" in done.stdout
