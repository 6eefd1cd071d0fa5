"""Bad images for `stylert stylize`: one error line each, nothing half-written."""

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
    (tmp_path / "noimages").mkdir()
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
    pytest.param(["nomatch*.png", *STYLE], ["nomatch*.png", "no files match"], id="glob-matches-nothing"),
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
