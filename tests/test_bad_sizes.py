"""Images that claim a huge size in their header: refused from the header, before decoding
(no allocation of what they claim), with one error line; the peak memory of the refusal is
checked. Made as a user's file would be: a small valid image whose header says 20000^2 or
50000^2 (PNG with its CRC fixed, JPEG's start of frame, BMP's info header)."""

import struct
import subprocess
import sys
import zlib

import cv2
import numpy as np
import pytest

from badinput import assert_user_error, cli_env, leftovers
from stylert.images import header_size


def bombs(folder, side):
    img = np.full((8, 8, 3), 90, np.uint8)
    png = bytearray(cv2.imencode(".png", img)[1].tobytes())
    png[16:24] = struct.pack(">II", side, side)
    png[29:33] = struct.pack(">I", zlib.crc32(bytes(png[12:29])))
    jpg = bytearray(cv2.imencode(".jpg", img)[1].tobytes())
    sof = jpg.index(b"\xff\xc0")
    jpg[sof + 5:sof + 9] = struct.pack(">HH", side, side)
    bmp = bytearray(cv2.imencode(".bmp", img)[1].tobytes())
    bmp[18:26] = struct.pack("<ii", side, side)
    paths = []
    for ext, data in (("png", png), ("jpg", jpg), ("bmp", bmp)):
        paths.append(folder / f"bomb{side}.{ext}")
        paths[-1].write_bytes(bytes(data))
    return paths


def run_measured(args, cwd):
    """`stylert ARGS` in a subprocess that reports its own peak RSS (MB) on its last line:
    VmHWM, the high-water mark of its own memory map (getrusage's ru_maxrss would carry the
    forking pytest's size across exec on Linux)."""
    code = ("import re, sys\nfrom stylert import cli\nrc = cli.main(sys.argv[1:])\n"
            "print(int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1]) // 1024)\n"
            "sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", code, *map(str, args)], cwd=cwd, env=cli_env(),
                          capture_output=True, text=True, timeout=180)
    *out, peak = done.stdout.splitlines()
    done.stdout = "\n".join(out)
    return done, int(peak)


@pytest.mark.parametrize("side", [20000, 50000])
def test_a_huge_header_is_refused_before_decoding(tmp_path, side):
    # Before: the 20000^2 JPEG was allocated in full (2.4 GB peak) before the pixel limit
    # refused it; at 50000^2 OpenCV's own limit ended in a cv2.error traceback.
    cv2.imwrite(str(tmp_path / "style.png"), np.full((16, 16, 3), 60, np.uint8))
    for bomb in bombs(tmp_path, side):
        assert header_size(bomb.read_bytes()) == (side, side)
        for args in ([bomb.name, "--style", "style.png"], ["style.png", "--style", bomb.name],
                     ["style.png", "--style", "style.png", "--style-bg", "style.png", "--mask", bomb.name]):
            done, peak = run_measured(["stylize", *args, "-o", "out"], tmp_path)
            assert_user_error(done, bomb.name, f"{side}x{side}", "above the limit")
            assert peak < 300, f"{args}: peak RSS {peak} MB"
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []  # not even an empty folder


def test_header_sizes_of_ordinary_files(tmp_path):
    img = np.zeros((37, 53, 3), np.uint8)
    for ext in (".png", ".jpg", ".bmp", ".webp", ".tiff"):
        ok, data = cv2.imencode(ext, img)
        assert ok and header_size(data.tobytes()) == (53, 37), ext
    assert header_size(b"not an image") is None and header_size(b"\x89PNG\r\n\x1a\n") is None


def test_a_bad_pixel_limit_setting_is_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "stylert.cli", "info"], cwd=tmp_path, capture_output=True,
                          text=True, env=cli_env({"STYLERT_MAX_PIXELS": "lots"}), timeout=120)
    assert_user_error(done, "STYLERT_MAX_PIXELS='lots'", "16M")
    done = subprocess.run([sys.executable, "-c", "from stylert.images import MAX_PIXELS; print(MAX_PIXELS)"],
                          capture_output=True, text=True, env=cli_env({"STYLERT_MAX_PIXELS": "16M"}), timeout=60)
    assert done.stdout.strip() == "16000000"


def test_a_thin_strip_is_judged_at_the_size_the_network_runs():
    # Before: the limit counted the strip's own pixels; padded to 16 rows it ran 16x as many
    # (a 1x999000 strip inside the 16M limit grew past 5 GB before ONNX Runtime failed).
    from stylert import Stylizer
    from stylert.errors import ImageError

    st = Stylizer(max_pixels=1_000_000)
    st.set_style(np.full((32, 32, 3), 120, np.uint8))
    with pytest.raises(ImageError, match=r"frame is 70000x1, which the network runs padded to 70000x16 .*resize or crop"):
        st(np.zeros((1, 70000, 3), np.uint8))
    assert st(np.zeros((1, 4000, 3), np.uint8)).shape == (1, 4000, 3)  # 64000 pixels padded: fine


@pytest.fixture(scope="module")
def small_limit_stylizer():
    from stylert import Stylizer

    st = Stylizer(max_pixels=100_000)
    st.set_style(np.full((32, 32, 3), 120, np.uint8))
    return st


@pytest.mark.parametrize("call, error, words", [
    # before: run as one batch of 8 x 128x128 (the limit was judged per frame: 64 frames of a
    # size within it ran 64 times over it)
    pytest.param(lambda st: st(np.zeros((8, 128, 128, 3), np.uint8)), "ImageError",
                 r"a batch of 8 frames of 128x128 .* pass fewer frames per call", id="batch-above-the-limit"),
    # before: stylized as if the NaN were 0
    pytest.param(lambda st: st(np.full((1, 3, 32, 32), np.nan, np.float32)), "ImageError", "NaN or infinite",
                 id="float-frames-nan"),
    # before: stylized as if white (float frames on the 0..255 scale, clipped to [0, 1]), exit 0
    pytest.param(lambda st: st(np.full((1, 3, 32, 32), 100.0, np.float32)), "ImageError",
                 r"float pixels span 100\.\.100, but float images are in \[0, 1\]", id="float-frames-0-255"),
    pytest.param(lambda st: st.set_style(np.full((32, 32, 3), 200.0, np.float32)), "ImageError",
                 r"style: float pixels span 200\.\.200", id="float-style-0-255"),
    # before: "convert with stylert.images.to_rgb8", which refuses the list's int64 too
    pytest.param(lambda st: st(np.zeros((32, 32, 3), np.uint8).tolist()), "ImageError",
                 r"got a list: convert it with np\.asarray\(frames, np\.uint8\)", id="frames-a-list"),
    # before: OpenCV's assertion (0, negative), its overload error (16.5), or 30 GB asked of it
    pytest.param(lambda st: st.frame(np.zeros((32, 32, 3), np.uint8), (0, 0)), "UsageError", "whole numbers >= 1",
                 id="frame-size-zero"),
    pytest.param(lambda st: st.frame(np.zeros((32, 32, 3), np.uint8), (-5, 10)), "UsageError", "whole numbers >= 1",
                 id="frame-size-negative"),
    pytest.param(lambda st: st.frame(np.zeros((32, 32, 3), np.uint8), (16.5, 16)), "UsageError",
                 "whole numbers >= 1", id="frame-size-fraction"),
    pytest.param(lambda st: st.frame(np.zeros((32, 32, 3), np.uint8), (100000, 100000)), "ImageError",
                 "processing size is 100000x100000, above the limit", id="frame-size-huge"),
])
def test_bad_frames_and_sizes_given_to_the_stylizer(small_limit_stylizer, call, error, words):
    from stylert import errors

    with pytest.raises(getattr(errors, error), match=words):
        call(small_limit_stylizer)


def test_what_the_stylizer_still_takes(small_limit_stylizer):
    st = small_limit_stylizer
    assert st(np.zeros((4, 128, 128, 3), np.uint8)).shape == (4, 128, 128, 3)  # 4 x 16384: within
    assert st.frame(np.zeros((32, 32, 3), np.uint8), (16.0, np.int64(16))).shape == (32, 32, 3)
    read_only = np.zeros((24, 32, 3), np.uint8)
    read_only.flags.writeable = False
    assert st(read_only).shape == (24, 32, 3)
    assert st(np.zeros((24, 64, 3), np.uint8)[:, ::2]).shape == (24, 32, 3)  # not contiguous
    assert st(np.full((1, 3, 8, 8), 1.05, np.float32)).shape == (1, 3, 8, 8)  # a resize's overshoot: clipped


@pytest.mark.parametrize("call", [
    # before: NaN latents / NaN images returned (decode refused them; these did not)
    pytest.param(lambda ae, g: ae.encode(np.full((1, ae.in_dim), np.nan, np.float32)), id="autoencoder-encode-nan"),
    pytest.param(lambda ae, g: ae.reconstruct(np.full((1, ae.in_dim), np.inf, np.float32)),
                 id="autoencoder-reconstruct-inf"),
    pytest.param(lambda ae, g: g.mapping(np.full((1, g.style_dim), np.nan, np.float32)), id="generator-mapping-nan"),
    pytest.param(lambda ae, g: g.from_z(np.full((1, g.style_dim), np.nan, np.float32)), id="generator-from-z-nan"),
    pytest.param(lambda ae, g: g.synthesis(np.full((1, g.num_ws, g.style_dim), np.inf, np.float32)),
                 id="generator-synthesis-inf"),
    pytest.param(lambda ae, g: g.synthesis(np.zeros((1, g.num_ws, g.style_dim), np.float32),
                                           noise=[np.full((1, *s), np.nan, np.float32) for s in g.noise_shapes]),
                 id="generator-noise-nan"),
])
def test_nan_or_infinite_inputs_to_the_autoencoder_and_generator_are_refused(call):
    from stylert import AutoEncoder, Generator
    from stylert.errors import UsageError

    with pytest.raises(UsageError, match="NaN or infinite"):
        call(AutoEncoder(), Generator())


@pytest.mark.parametrize("mask, words", [
    # before: clipped to [0, 1]: a 0..255 float mask was all foreground, silently
    pytest.param(np.full((16, 16), 200.0, np.float32), r"mask: float pixels span 200\.\.200", id="float-0-255"),
    pytest.param(np.full((16, 16), 255, np.int64), r"mask: float pixels span 255\.\.255", id="int-0-255"),
    pytest.param(np.full((16, 16), -3.0, np.float32), r"mask: float pixels span -3\.\.-3", id="float-negative"),
    # before: a plain ValueError from the kernel, not an ImageError
    pytest.param(np.full((16, 16), np.nan, np.float32), "mask has NaN or infinite pixels", id="float-nan"),
])
def test_a_mask_off_the_0_1_scale_is_refused(mask, words):
    from stylert import Stylizer
    from stylert.errors import ImageError

    st = Stylizer()
    style = np.full((32, 32, 3), 100, np.uint8)
    st.set_style(style, background=style[::-1])
    with pytest.raises(ImageError, match=words):
        st(np.zeros((16, 16, 3), np.uint8), mask=mask)
    assert st(np.zeros((16, 16, 3), np.uint8), mask=np.ones((16, 16), np.int64)).shape == (16, 16, 3)  # 0/1: taken
