"""Bad images for `stylert stylize`: one error line each, nothing half-written."""

import os

import cv2
import numpy as np
import pytest

from badinput import assert_user_error, files, leftovers, run_cli



@pytest.fixture
def work(tmp_path):
    for name in ("good.png", "other.png"):
        cv2.imwrite(str(tmp_path / name), np.full((24, 32, 3), 120, np.uint8))
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("not a picture\n")
    cv2.imwrite(str(tmp_path / "float255.tif"), np.full((24, 32, 3), 200.0, np.float32))
    (tmp_path / "noimages").mkdir()
    png = cv2.imencode(".png", np.full((24, 32, 3), 120, np.uint8))[1].tobytes()
    jpg = cv2.imencode(".jpg", np.full((24, 32, 3), 120, np.uint8))[1].tobytes()
    (tmp_path / "head.png").write_bytes(png[:40])  # the header, no pixels
    (tmp_path / "half.png").write_bytes(png[:len(png) // 2])
    (tmp_path / "half.jpg").write_bytes(jpg[:len(jpg) // 2])
    (tmp_path / "noimages" / "notes.txt").write_text("no images here\n")
    return tmp_path


STYLE = ["--style", "good.png"]


@pytest.mark.parametrize("args, fragments", [
    pytest.param(["missing.jpg", *STYLE], ["missing.jpg", "not found"], id="missing-file"),
    pytest.param(["empty.jpg", *STYLE], ["empty.jpg", "empty"], id="zero-bytes"),
    pytest.param(["text.jpg", *STYLE], ["text.jpg", "not a readable image"], id="text-as-jpg"),
    pytest.param(["good.png", *STYLE, "--size", "100000"], ["good.png", "limit", "smaller size"],
                 id="size-above-pixel-limit"),
    pytest.param(["good.png", "--style", "nostyle.jpg"], ["nostyle.jpg", "not found"], id="style-missing"),
    pytest.param(["good.png", *STYLE, "--mask", "good.png"], ["--mask needs --style-bg"], id="mask-without-style-bg"),
    pytest.param(["good.png", *STYLE, "--mask", "text.jpg", "--style-bg", "other.png"],
                 ["text.jpg", "not a readable image"], id="mask-unreadable"),
    pytest.param(["noimages", *STYLE], ["noimages", "no images"], id="folder-without-images"),
    # a float TIFF on the 0..255 scale (before: clipped to [0, 1], stylized as a white image, exit 0)
    pytest.param(["float255.tif", *STYLE], ["float255.tif", "float pixels span 200..200", "divide by 255"],
                 id="float-tiff-0-255"),
    pytest.param(["good.png", "--style", "float255.tif"], ["float255.tif", "float pixels span"],
                 id="float-tiff-0-255-as-style"),
    pytest.param(["nomatch*.png", *STYLE], ["nomatch*.png", "no files match"], id="glob-matches-nothing"),
    # before: OpenCV's "[ WARN:0@0.5] ... PNG input buffer is incomplete" line first
    pytest.param(["head.png", *STYLE], ["head.png", "not a readable image"], id="png-header-only"),
    pytest.param(["good.png", "--style", "head.png"], ["head.png", "not a readable image"], id="style-png-header-only"),
    pytest.param(["half.png", *STYLE], ["half.png", "not a readable image"], id="png-truncated"),
    pytest.param(["half.jpg", *STYLE], ["half.jpg", "not a readable image"], id="jpeg-truncated"),
])
def test_bad_input_writes_nothing(work, args, fragments):
    done = run_cli(["stylize", *args, "-o", "out"], work)
    assert files(work / "out") == []
    assert leftovers(work) == []
    assert_user_error(done, *fragments)


def test_unwritable_output_is_reported_and_the_others_written(work):
    (work / "out" / "good.png").mkdir(parents=True)  # a folder where good.png's result goes
    (work / "out" / "earlier.png").write_bytes(b"an earlier output")
    done = run_cli(["stylize", "good.png", "other.png", *STYLE, "-o", "out"], work)
    assert (work / "out" / "other.png").is_file()
    assert (work / "out" / "earlier.png").read_bytes() == b"an earlier output"
    assert leftovers(work) == []
    assert "wrote 1 of 2" in done.stdout
    assert_user_error(done, "out/good.png", "folder")


def test_alpha_out_of_range_is_a_usage_error(work):
    assert_user_error(run_cli(["stylize", "good.png", *STYLE, "-o", "out", "--alpha", "2"], work), "--alpha",
                      usage=True)
    assert not (work / "out").exists()


def test_an_interrupt_while_writing_leaves_no_temporary(tmp_path, monkeypatch):
    # Ctrl-C and SIGTERM arrive as KeyboardInterrupt; before, one between the write and the
    # rename left .NAME.tmp.png behind.
    from stylert import images

    def interrupted(path, img):
        real(path, img)
        raise KeyboardInterrupt

    real = images.cv2.imwrite
    monkeypatch.setattr(images.cv2, "imwrite", interrupted)
    with pytest.raises(KeyboardInterrupt):
        images.write_image(tmp_path / "x.png", np.zeros((4, 4, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_a_closed_stdout_ends_quietly(tmp_path):
    import subprocess
    import sys

    from badinput import cli_env

    # the reader closes at once; before: a BrokenPipeError traceback
    done = subprocess.run(f"{sys.executable} -m stylert.cli info | true", shell=True, cwd=tmp_path,
                          capture_output=True, text=True, env=cli_env(), timeout=120)
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr


def test_two_inputs_of_the_same_name_are_refused_before_anything_is_written(work):
    # before: both written to out/good.png, the first silently overwritten
    (work / "a").mkdir()
    cv2.imwrite(str(work / "a" / "good.png"), np.full((24, 32, 3), 200, np.uint8))
    done = run_cli(["stylize", "good.png", "a", *STYLE, "-o", "out"], work)
    assert_user_error(done, "good.png and a/good.png would both be written as good.png")
    assert not (work / "out").exists()


def test_a_full_stdout_is_one_error_line(tmp_path):
    # /dev/full: every write fails with ENOSPC; before, an OSError traceback
    import subprocess
    import sys

    from badinput import assert_user_error, cli_env

    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "stylert.cli", "info"], cwd=tmp_path, stdout=full,
                              stderr=subprocess.PIPE, text=True, env=cli_env(), timeout=120)
    done.stdout = ""
    assert_user_error(done, "no space left", "free some space")


@pytest.mark.parametrize("args, over", [
    pytest.param(["good.png", *STYLE, "-o", "."], "good.png", id="content-in-the-output-folder"),
    pytest.param(["a/good.png", "--style", "other.png", "--style-bg", "other.png", "--mask", "m/good.png", "-o", "m"],
                 "m/good.png", id="mask-in-the-output-folder"),
])
def test_a_result_is_never_written_over_an_input(work, args, over):
    # before: exit 0, the input replaced by its own result
    (work / "a").mkdir()
    (work / "m").mkdir()
    cv2.imwrite(str(work / "a" / "good.png"), np.full((24, 32, 3), 200, np.uint8))
    cv2.imwrite(str(work / "m" / "good.png"), np.full((24, 32, 3), 255, np.uint8))
    before = {p: p.read_bytes() for p in work.rglob("*.png")}
    done = run_cli(["stylize", *args], work)
    assert_user_error(done, f"would be written over the input {over}", "-o")
    assert {p: p.read_bytes() for p in work.rglob("*.png")} == before
    assert leftovers(work) == []


def test_unusual_but_valid_images_are_stylized(tmp_path):
    # 16-bit, 1 pixel, grey JPEG, alpha, TIFF (8-bit, 16-bit, float in [0, 1]), an animated GIF
    # (its first frame), a PNG named .jpg, names with a space and non-ASCII letters: each
    # written at its own size
    from PIL import Image

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (24, 32, 3), np.uint8)
    cv2.imwrite(str(tmp_path / "style.png"), rgb)
    cv2.imwrite(str(tmp_path / "deep.png"), rng.integers(0, 65536, (24, 32, 3), np.uint16))
    cv2.imwrite(str(tmp_path / "one.png"), rgb[:1, :1])
    cv2.imwrite(str(tmp_path / "grey.jpg"), rgb[..., 0])
    cv2.imwrite(str(tmp_path / "alpha.png"), np.dstack([rgb, np.full((24, 32), 100, np.uint8)]))
    cv2.imwrite(str(tmp_path / "plain.tif"), rgb)
    cv2.imwrite(str(tmp_path / "deep16.tiff"), rng.integers(0, 65536, (24, 32, 3), np.uint16))
    cv2.imwrite(str(tmp_path / "unit.tif"), rng.random((24, 32, 3)).astype(np.float32))
    Image.fromarray(rgb).save(tmp_path / "anim.gif", save_all=True, append_images=[Image.fromarray(255 - rgb)])
    for name in ("png.jpg", "a b ü画.png"):  # cv2.imwrite cannot name a non-ASCII path on Windows
        (tmp_path / name).write_bytes(cv2.imencode(".png", rgb)[1].tobytes())
    names = ["deep.png", "one.png", "grey.jpg", "alpha.png", "plain.tif", "deep16.tiff", "unit.tif", "anim.gif",
             "png.jpg", "a b ü画.png"]
    done = run_cli(["stylize", *names, "--style", "style.png", "-o", "out"], tmp_path)
    assert done.returncode == 0, done.stderr
    for name in names:
        out = cv2.imread(str(tmp_path / "out" / (name.rsplit(".", 1)[0] + ".png")), cv2.IMREAD_UNCHANGED)
        assert out is not None and out.dtype == np.uint8, name
        assert out.shape == ((1, 1, 3) if name == "one.png" else (24, 32, 3)), name
    assert leftovers(tmp_path) == []


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="no /proc here")
def test_an_output_folder_that_cannot_be_written_is_refused_before_any_work(work):
    # /proc/self: a folder that exists and that even root cannot write in (before: every input
    # stylized, then each write refused, "wrote 0 of 2")
    done = run_cli(["stylize", "good.png", "other.png", *STYLE, "-o", "/proc/self"], work)
    assert_user_error(done, "cannot write to output folder /proc/self", "-o")
    assert "wrote" not in done.stdout and "backend:" not in done.stdout
    assert leftovers(work) == []


@pytest.mark.parametrize("args, fragments", [
    # before: a RuntimeError traceback (pathlib's "Symlink loop") from the check of the outputs
    pytest.param(["loop", *STYLE], ["loop", "symbolic link that loops"], id="content-symlink-loop"),
    pytest.param(["good.png", "--style", "loop"], ["loop", "symbolic link that loops"], id="style-symlink-loop"),
    # before: "image not found" of things that exist
    pytest.param(["fifo", *STYLE], ["fifo", "named pipe", "not an image file"], id="content-fifo"),
    pytest.param(["good.png", "--style", "fifo"], ["fifo", "named pipe"], id="style-fifo"),
    pytest.param(["/dev/zero", *STYLE], ["/dev/zero", "character device", "not an image file"], id="content-device"),
    pytest.param(["good.png", *STYLE, "--style-bg", "noimages", "--mask", "good.png"], ["noimages", "a folder"],
                 id="style-bg-folder"),
])
def test_a_name_that_is_no_regular_file_is_named_for_what_it_is(work, args, fragments):
    os.symlink("loop", work / "loop")
    os.mkfifo(work / "fifo")
    done = run_cli(["stylize", *args, "-o", "out"], work, timeout=60)
    assert files(work / "out") == []
    assert leftovers(work) == []
    assert_user_error(done, *fragments)


def test_a_many_frame_image_says_only_its_first_frame_is_used(work):
    # before: an animated GIF or a multi-page TIFF silently stood for its first frame
    frames = [np.full((24, 32, 3), v, np.uint8) for v in (30, 120, 220)]
    assert cv2.imwritemulti(str(work / "pages.tiff"), frames)
    from PIL import Image

    Image.fromarray(frames[0]).save(work / "anim.gif", save_all=True, append_images=[Image.fromarray(f) for f in frames[1:]])
    done = run_cli(["stylize", "anim.gif", "good.png", "--style", "pages.tiff", "-o", "out"], work)
    assert done.returncode == 0, done.stderr
    lines = sorted(line for line in done.stderr.splitlines() if line.strip())
    assert lines == ["anim.gif holds 3 frames (an animated image or a multi-page TIFF): only the first is used",
                     "pages.tiff holds 3 frames (an animated image or a multi-page TIFF): only the first is used"]
    assert files(work / "out") == ["anim.png", "good.png"]


@pytest.mark.parametrize("args", [
    pytest.param(["stylize", "bad\nname.png", *STYLE, "-o", "out"], id="stylize-missing"),
    pytest.param(["stylize", "text\n.jpg", *STYLE, "-o", "out"], id="stylize-unreadable"),  # the batch's own line
    pytest.param(["live", "--source", "x\ny.mp4", "--output", "none"], id="live-source"),
])
def test_a_name_with_a_line_break_is_still_one_error_line(work, args):
    # before: the name's line break split the error line in two
    (work / "text\n.jpg").write_text("not a picture\n")
    done = run_cli(args, work)
    assert_user_error(done, "\\n")


def test_a_style_folder_goes_on_past_a_bad_style(work):
    # before: the run ended at the bad style, the styles after it never run, no summary
    (work / "styles").mkdir()
    for name in ("1.png", "3.png"):
        cv2.imwrite(str(work / "styles" / name), np.full((24, 32, 3), 60, np.uint8))
    (work / "styles" / "2.png").write_text("not a picture")
    done = run_cli(["stylize", "good.png", "--style", "styles", "-o", "out"], work)
    assert_user_error(done, "styles/2.png", "not a readable image")
    assert "wrote 2 of 3 images" in done.stdout
    assert files(work / "out") == ["good_1.png", "good_3.png"]
