"""Bad commands and options across the apps; an interrupted export leaves nothing behind."""

import signal
import subprocess
import time

import numpy as np
import pytest

from badinput import STYLERT, assert_user_error, cli_env, files, leftovers, run_cli
from stylert.package import default_package



def test_unknown_command(tmp_path):
    assert_user_error(run_cli(["frobnicate"], tmp_path), "invalid choice: 'frobnicate'", usage=True)


@pytest.mark.parametrize("args, fragments", [
    pytest.param(["bench"], ["name a model"], id="bench-without-model"),
    pytest.param(["bench", "stylegan", "--size", "64"], ["--size applies to"], id="bench-size-for-stylegan"),
    pytest.param(["generate", "--seeds", "5-1", "-o", "g"], ["5-1"], id="generate-seed-range-backwards"),
    pytest.param(["generate", "--trunc", "nan", "-o", "g"], ["--trunc", "finite"], id="generate-trunc-nan"),
    pytest.param(["generate", "--projected-w", "missing.npz", "-o", "g"], ["missing.npz"],
                 id="generate-projected-w-missing"),
    pytest.param(["generate", "--projected-w", "text.npz", "-o", "g"], ["text.npz"],
                 id="generate-projected-w-not-npz"),
    pytest.param(["generate", "--projected-w", "nan.npz", "-o", "g"], ["nan.npz", "NaN"],
                 id="generate-projected-w-nan"),  # before: rendered and written as images
    pytest.param(["manifold", "interpolate", "1", "-o", "m"], ["interpolate A B"], id="manifold-one-sample"),
    # sizes and counts with one limit each, refused before any allocation or work (before: tens
    # of GB allocated, a hang building the seed list, or hours of benchmarking)
    pytest.param(["bench", "adain", "--size", "100000"], ["--size 100000", "above the limit"], id="bench-size-huge"),
    pytest.param(["generate", "--seeds", ",".join(["0-99999"] * 2000), "-o", "g"], ["above the limit of 100000"],
                 id="generate-seeds-many-ranges"),
    pytest.param(["live", "--source", "demo", "--width", "100000", "--height", "100000", "--output", "none"],
                 ["--width 100000 --height 100000", "above the limit"], id="live-demo-capture-huge"),
    pytest.param(["triton", default_package("ae"), "-o", "R", "--cc", "8.8"], ["'8.8'", "major.minor"],
                 id="triton-unknown-cc"),
    # an empty value (--seeds "$SEEDS" unset) is no value, never the default (before: seeds 0-7, exit 0)
    pytest.param(["generate", "--seeds", "", "-o", "g"], ["no seeds given"], id="generate-seeds-empty"),
    pytest.param(["generate", "mix", "--rows", "", "-o", "g"], ["no rows given"], id="generate-mix-rows-empty"),
    pytest.param(["generate", "mix", "--layers", "", "-o", "g"], ["no layers given"], id="generate-mix-layers-empty"),
    # before: 15000 renders into a 650260x520 figure
    pytest.param(["generate", "mix", "--cols", "0-5000", "-o", "g"], ["5001 columns", "above the limit"],
                 id="generate-mix-figure-huge"),    # before: written without plans (the ONNX graphs served instead), or under the default name
    pytest.param(["triton", default_package("ae"), "-o", "R", "--engines", "nowhere"], ["--engines nowhere", "folder"],
                 id="triton-engines-missing"),
    pytest.param(["triton", default_package("ae"), "-o", "R", "--name", ""], ["model name ''"], id="triton-name-empty"),
])
def test_bad_option_writes_nothing(tmp_path, args, fragments):
    (tmp_path / "text.npz").write_text("w = [0.1, 0.2]\n")
    np.savez(tmp_path / "nan.npz", w=np.full((2, 64), np.nan, np.float32))
    done = run_cli(args, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nan.npz", "text.npz"]  # not even an empty output folder
    assert_user_error(done, *fragments)


@pytest.mark.parametrize("args, fragments", [
    pytest.param(["bench", "adain", "--batch", "100000"], ["--batch", "1..64"], id="bench-batch-huge"),
    pytest.param(["bench", "ae", "--iterations", "1000000000"], ["--iterations", "1..100000"],
                 id="bench-iterations-huge"),
    pytest.param(["generate", "--frames", "1000000000", "-o", "g"], ["--frames", "1..1000000"],
                 id="generate-frames-huge"),
    pytest.param(["train", "ae", "--hidden", "256,10000000"], ["--hidden", "1..65536"], id="train-layer-huge"),
    pytest.param(["train", "stylegan", "--batch", "100000"], ["--batch", "1..4096"], id="train-batch-huge"),
    # before: decoded (100000 steps: libpng's own error lines; 10^9: an allocation of hundreds of GB)
    pytest.param(["manifold", "--steps", "100000", "interpolate", "0", "1"], ["--steps", "1..256"],
                 id="manifold-steps-huge"),
    # before: written as a 30 FPS video reported as "0 FPS"
    pytest.param(["generate", "video", "--fps", "0", "--frames", "2", "-o", "g.mp4"], ["--fps", "(0, 1000]"],
                 id="generate-video-fps-zero"),
    # before: OpenCV's two log lines, then "no mp4v writer ... (try .avi)", which would not help
    pytest.param(["generate", "video", "--fps", "1e9", "--frames", "2", "-o", "g.mp4"], ["--fps", "(0, 1000]"],
                 id="generate-video-fps-huge"),
])
def test_counts_above_their_limit_are_usage_errors(tmp_path, args, fragments):
    assert_user_error(run_cli(args, tmp_path), *fragments, usage=True)
    assert list(tmp_path.iterdir()) == []


def test_export_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "X").mkdir()
    (tmp_path / "X" / "keep.txt").write_text("earlier work")
    done = run_cli(["export", "ae", "-o", "X"], tmp_path)
    assert files(tmp_path) == ["X/keep.txt"] and (tmp_path / "X" / "keep.txt").read_text() == "earlier work"
    assert_user_error(done, "X", "--force")


def test_sigterm_during_export_leaves_nothing(tmp_path):
    proc = subprocess.Popen([*STYLERT, "export", "ae", "-o", "out"], cwd=tmp_path, env=cli_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob(".out.partial-*")) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None, f"export ended before its .out.partial-* folder was seen:\n{proc.stderr.read()}"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err, err
    assert not (tmp_path / "out").exists()
    assert leftovers(tmp_path) == []


def _devices(folder):
    """A private null and full device in ``folder`` (mknod: root only)."""
    import os
    try:
        os.mknod(folder / "null", 0o666 | __import__("stat").S_IFCHR, os.makedev(1, 3))
        os.mknod(folder / "full", 0o666 | __import__("stat").S_IFCHR, os.makedev(1, 7))
    except (PermissionError, OSError) as e:
        pytest.skip(f"cannot make device nodes here: {e}")


@pytest.mark.parametrize("args, fails", [
    pytest.param(["bench", "ae", "--iterations", "1", "--warmup", "1", "--duration", "0", "--json", "null"], None,
                 id="bench-json-to-null"),
    pytest.param(["bench", "ae", "--iterations", "1", "--warmup", "1", "--duration", "0", "--plot", "full"],
                 "No space left", id="bench-plot-to-full"),
    pytest.param(["live", "--source", "demo", "--max-frames", "2", "--output", "none", "--json", "full"],
                 "No space left", id="live-json-to-full"),
    pytest.param(["verify", default_package("ae"), "--json", "link.json"], None, id="verify-json-to-a-link"),
])
def test_a_report_to_a_device_or_link_is_written_through_never_replaced(tmp_path, args, fails):
    # Before: written to NAME.tmp beside it, then renamed over it: --json /dev/null (as root)
    # put a regular file where /dev/null was, and --plot /dev/full did the same, exit 0.
    import os
    import stat

    _devices(tmp_path)
    (tmp_path / "real").mkdir()
    os.symlink("real/report.json", tmp_path / "link.json")
    done = run_cli(args, tmp_path)
    if fails:  # (bench's progress bar comes before the error line)
        last = done.stderr.replace("\r", "\n").strip().splitlines()[-1]
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert last.startswith("stylert: error: cannot write full") and fails in last, done.stderr
    else:
        assert done.returncode == 0, done.stderr
    for name in ("null", "full"):
        assert stat.S_ISCHR(os.lstat(tmp_path / name).st_mode), f"{name} was replaced"
    assert os.path.islink(tmp_path / "link.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full", "link.json", "null", "real"]  # no temporary
    if "link.json" in args:
        assert '"package"' in (tmp_path / "real" / "report.json").read_text()


@pytest.mark.parametrize("args, fragments", [
    # before: torch's or numpy's ValueError traceback (nan, -1), or an inf rate trained to NaN
    # and failed drawing the picture with a traceback, leaving runs/ae/ae.train.pt behind
    pytest.param(["train", "ae", "--lr", "nan"], ["--lr", "> 0"], id="train-lr-nan"),
    pytest.param(["train", "ae", "--lr", "-1"], ["--lr", "> 0"], id="train-lr-negative"),
    pytest.param(["train", "stylegan", "--lr", "inf"], ["--lr", "> 0"], id="train-lr-inf"),
    pytest.param(["train", "ae", "--seed", "-1"], ["--seed", "0..4294967295"], id="train-seed-negative"),
    pytest.param(["train", "adain", "--style-weight", "nan"], ["--style-weight", ">= 0"], id="train-weight-nan"),
])
def test_bad_training_options_are_usage_errors(tmp_path, args, fragments):
    assert_user_error(run_cli([*args, "--steps", "1"], tmp_path), *fragments, usage=True)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("out, fragments", [
    pytest.param("afile", ["cannot create output folder afile"], id="out-is-a-file"),
    pytest.param("/proc/stylert-x", ["cannot create output folder /proc/stylert-x"], id="out-unwritable"),
    # a folder that exists but cannot be written, even by root (before: a FileNotFoundError
    # traceback after the training steps)
    pytest.param("/proc/self", ["cannot write to output folder /proc/self", "-o"], id="out-exists-read-only"),
])
def test_train_into_a_folder_that_cannot_be_made_is_one_line(tmp_path, out, fragments):
    # before: a FileExistsError / FileNotFoundError traceback after the training steps
    (tmp_path / "afile").write_text("keep")
    done = run_cli(["train", "ae", "--steps", "1", "--hidden", "8", "--out", out], tmp_path)
    assert_user_error(done, *fragments)
    assert files(tmp_path) == ["afile"] and (tmp_path / "afile").read_text() == "keep"


def test_the_generate_grid_holds_what_fits_the_pixel_limit(tmp_path):
    # before: every seed in grid.png (100000 seeds: a 1042x1625002 grid, 5 GB, after the renders)
    import cv2

    done = run_cli(["generate", "--seeds", "0-19", "-o", "g"], tmp_path, env={"STYLERT_MAX_PIXELS": "200000"})
    assert done.returncode == 0, done.stderr
    assert "wrote 20 images and g/grid.png (the first 8)" in done.stdout
    assert len(list((tmp_path / "g").glob("seed*.png"))) == 20
    h, w = cv2.imread(str(tmp_path / "g" / "grid.png")).shape[:2]
    assert w * h <= 200000, (w, h)


_LIVE = ["live", "--source", "demo", "--max-frames", "2", "--output", "none"]
_BENCH = ["bench", "ae", "--iterations", "1", "--warmup", "1", "--duration", "0"]
_STYLIZE = ["stylize", "in/a.png", "--style", "in/s.png"]


@pytest.mark.parametrize("args", [
    # before: the results written into the current folder, exit 0
    pytest.param([*_STYLIZE, "-o", ""], id="stylize-out"),
    pytest.param(["generate", "--seeds", "0", "-o", ""], id="generate-out"),
    pytest.param(["manifold", "-o", ""], id="manifold-out"),
    pytest.param(["train", "ae", "--steps", "1", "--hidden", "8", "--out", ""], id="train-out"),
    # before: ". exists and is not empty", of a folder never named
    pytest.param(["export", "ae", "-o", ""], id="export-out"),
    pytest.param(["bundle", default_package("ae"), "-o", ""], id="bundle-out"),
    # before: "image not found: ." / "image not found: " (after the model was loaded)
    pytest.param(["stylize", "", "--style", "in/s.png", "-o", "out"], id="stylize-content"),
    pytest.param(["stylize", "in/a.png", "--style", "", "-o", "out"], id="stylize-style"),
    # before: read as the default (the bundled package, no report, the default output), exit 0
    pytest.param([*_STYLIZE, "-o", "out", "--package", ""], id="stylize-package"),
    pytest.param(["verify", default_package("ae"), "--json", ""], id="verify-json"),
    pytest.param([*_BENCH, "--json", ""], id="bench-json"),
    pytest.param([*_BENCH, "--plot", ""], id="bench-plot"),
    pytest.param([*_LIVE, "--json", ""], id="live-json"),
    pytest.param(["live", "--source", "demo", "--max-frames", "2", "--output", ""], id="live-output"),
    pytest.param(["triton", default_package("ae"), "-o", "R", "--cc", ""], id="triton-cc"),
    # before: "source not found: " (an empty name)
    pytest.param(["live", "--source", "", "--output", "none"], id="live-source"),
])
def test_an_empty_option_value_is_refused_never_read_as_the_default(tmp_path, args):
    # --out "$OUT" with OUT unset: no name, never the current folder or the default
    import cv2

    (tmp_path / "in").mkdir()
    for name in ("a.png", "s.png"):
        cv2.imwrite(str(tmp_path / "in" / name), np.full((24, 32, 3), 120, np.uint8))
    done = run_cli(args, tmp_path)
    assert_user_error(done, "got ''", usage=True)
    assert files(tmp_path) == ["in/a.png", "in/s.png"]


@pytest.mark.parametrize("args", [
    pytest.param(["--steps", "1000000000"], id="steps-huge"),  # before: trained on until stopped
    pytest.param(["--steps", "5", "--every", "1000000000"], id="every-huge"),
])
def test_train_steps_have_a_limit(tmp_path, args):
    done = run_cli(["train", "ae", "--hidden", "8", *args], tmp_path, timeout=60)
    assert_user_error(done, "1..1000000", usage=True)
    assert list(tmp_path.iterdir()) == []


def test_train_resume_without_a_state_says_it_starts_from_step_0(tmp_path):
    # before: started fresh without a word (the Makefile relies on starting fresh)
    done = run_cli(["train", "ae", "--steps", "1", "--hidden", "8", "--resume", "--out", "r"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "note: no training state r/ae.train.pt to resume: training starts from step 0" in done.stdout
    assert (tmp_path / "r" / "ae.train.pt").is_file()
    again = run_cli(["train", "ae", "--steps", "2", "--hidden", "8", "--resume", "--out", "r"], tmp_path)
    assert again.returncode == 0 and "no training state" not in again.stdout, again.stderr


def test_bench_plot_without_matplotlib_is_refused_before_the_run(tmp_path):
    # before: the whole benchmark ran, its table was printed, and only then "--plot needs matplotlib"
    shim = tmp_path / "shim" / "matplotlib"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ImportError('matplotlib is not installed (a test shim)')\n")
    done = run_cli(["bench", "ae", "--iterations", "1", "--warmup", "1", "--duration", "0", "--plot", "p.png"],
                   tmp_path, env={"PYTHONPATH": str(tmp_path / "shim")})
    assert_user_error(done, "--plot needs matplotlib", "pip install")
    assert done.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shim"]


@pytest.mark.parametrize("home", ["afile", "/proc/self"])
@pytest.mark.parametrize("args", [
    pytest.param(["stylize", "a.png", "--style", "a.png", "-o", "out"], id="stylize"),
    pytest.param(["bench", "ae", "--iterations", "1", "--warmup", "1", "--duration", "0", "--plot", "p.png"],
                 id="bench-plot"),
])
def test_an_unwritable_home_prints_no_library_noise(tmp_path, args, home):
    # before: ONNX Runtime's "Failed to persist telemetry device ID" line on every command that
    # loads it, and matplotlib's two lines about its config folder (HOME a file, or one even
    # root cannot write)
    import cv2

    (tmp_path / "afile").write_text("not a folder")
    cv2.imwrite(str(tmp_path / "a.png"), np.full((24, 32, 3), 120, np.uint8))
    env = {"HOME": str(tmp_path / home) if home == "afile" else home, "XDG_CACHE_HOME": "", "XDG_CONFIG_HOME": "",
           "MPLCONFIGDIR": "", "ORT_DISABLE_TELEMETRY": ""}
    done = run_cli(args, tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    noise = [line for line in done.stderr.replace("\r", "\n").splitlines() if line.strip() and "bench ae:" not in line]
    assert noise == [], done.stderr


_LONG = "x" * 300  # above any file system's 255 bytes
_NEAR = "y" * 240  # fits, but not the temporary name written beside it (.NAME.PID.tmp)


@pytest.mark.parametrize("args, fragments", [
    # before: an OSError traceback (File name too long), after the run for the reports
    pytest.param([*_STYLIZE, "-o", _LONG], ["name too long"], id="stylize-out-long"),
    pytest.param(["generate", "--seeds", "0", "-o", _LONG], ["name too long"], id="generate-out-long"),
    pytest.param([*_BENCH, "--json", _LONG + ".json"], ["name too long"], id="bench-json-long"),
    pytest.param([*_LIVE, "--json", _LONG + ".json"], ["name too long"], id="live-json-long"),
    pytest.param(["live", "--source", "demo", "--max-frames", "2", "--output", _LONG + ".mp4"], ["name too long"],
                 id="live-output-long"),
    # before: the run, then "cannot write ...: File name too long" (its temporary name)
    pytest.param([*_BENCH, "--json", _NEAR + ".json"], ["name is 245 bytes", "shorter name"], id="bench-json-near"),
    # before: a RuntimeError traceback (pathlib's "Symlink loop")
    pytest.param(["export", "ae", "-o", "loop"], ["loop", "symbolic link that loops"], id="export-out-loop"),
    pytest.param(["bundle", default_package("ae"), "-o", "loop"], ["loop", "symbolic link that loops"],
                 id="bundle-out-loop"),
    pytest.param(["triton", default_package("ae"), "-o", "loop"], ["loop", "symbolic link that loops"],
                 id="triton-out-loop"),
    # before: "cannot create output folder loop: File exists"
    pytest.param([*_STYLIZE, "-o", "loop"], ["loop", "symbolic link that loops"], id="stylize-out-loop"),
])
def test_an_output_name_no_file_can_have_is_refused_before_any_work(tmp_path, args, fragments):
    import cv2
    import os

    (tmp_path / "in").mkdir()
    for name in ("a.png", "s.png"):
        cv2.imwrite(str(tmp_path / "in" / name), np.full((24, 32, 3), 120, np.uint8))
    os.symlink("loop", tmp_path / "loop")
    done = run_cli(args, tmp_path)
    assert_user_error(done, *fragments)
    assert done.stdout == ""  # refused before any work
    assert files(tmp_path) == ["in/a.png", "in/s.png", "loop"] and leftovers(tmp_path) == []


@pytest.mark.parametrize("make, fragments", [
    # before: a ValueError traceback (could not convert string to float)
    pytest.param(lambda: {"w": np.array(["a", "b"])}, ["w.npz", "holds <U1 values, not numbers"], id="strings"),
    # before: "wrote 0 images", exit 0
    pytest.param(lambda: {"w": np.zeros((0, 64), np.float32)}, ["w.npz", "holds no w vectors"], id="empty"),
    # before: all of them rendered in one batch: killed for memory (exit 137) at 200000
    pytest.param(lambda: {"w": np.zeros((100001, 64), np.float32)}, ["w.npz", "100001", "above the limit of 100000"],
                 id="above-the-limit"),
])
def test_generate_projected_w_that_cannot_be_rendered_is_one_line(tmp_path, make, fragments):
    np.savez_compressed(tmp_path / "w.npz", **make())
    done = run_cli(["generate", "--projected-w", "w.npz", "-o", "g"], tmp_path)
    assert_user_error(done, *fragments)
    assert files(tmp_path) == ["w.npz"]


def test_generate_projected_w_renders_in_batches(tmp_path):
    np.savez(tmp_path / "w.npz", w=np.zeros((10, 64), np.float32))
    done = run_cli(["generate", "--projected-w", "w.npz", "--batch", "4", "-o", "g"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert files(tmp_path / "g") == [f"projected{i:04d}.png" for i in range(10)]
