"""examples/triton_client.py driven the same way against any Triton endpoint (the in-process
ensemble stand-in of test_triton.py, the real server of test_triton_server.py)."""

import importlib.util
from pathlib import Path

import numpy as np

import stylert
from stylert.images import read_image

ROOT = Path(__file__).resolve().parents[1]


def example_client():
    spec = importlib.util.spec_from_file_location("triton_client", ROOT / "examples" / "triton_client.py")
    client = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(client)
    return client


def within_one_level(a: np.ndarray, b: np.ndarray) -> bool:
    """uint8 images equal but for rounding: the same shape, no value more than 1 apart."""
    return a.shape == b.shape and a.dtype == b.dtype == np.uint8 and \
        int(np.abs(a.astype(int) - b.astype(int)).max()) <= 1


def check_streams_like_the_stylizer(client, call) -> None:
    """The coffee style's statistics as the Stylizer's; three random uint8 BGR frames
    streamed with it: each written as a uint8 BGR frame of its size, the first within one
    level of the local Stylizer's."""
    style = read_image(ROOT / "runtime" / "assets" / "coffee.jpg")[:96, :128]
    st = stylert.Stylizer(style_size=None, backend="onnxruntime-cpu")
    stats = client.style_stats(call, "adain", style)
    mean, std = st.style_stats(style)
    np.testing.assert_allclose(stats[0].ravel(), mean, atol=1e-5)
    np.testing.assert_allclose(stats[1].ravel(), std, rtol=1e-4, atol=1e-5)
    frames = [np.random.default_rng(i).integers(0, 256, (120, 160, 3), np.uint8) for i in range(3)]
    first, written = frames[0].copy(), []

    class Frames:
        def read(self):
            return frames.pop(0) if frames else None

    class Sink:
        def write(self, frame):
            written.append(frame)

    summary = client.stream(call, "adain", Frames(), Sink(), stats, 1.0, (160, 120))
    assert summary["frames"] == 3 and len(written) == 3
    assert all(w.shape == first.shape and w.dtype == np.uint8 for w in written)
    st.set_style(style)
    assert within_one_level(written[0], st(first, bgr=True))
