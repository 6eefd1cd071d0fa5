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


def check_streams_like_the_stylizer(client, call) -> None:
    """Three random frames streamed with the coffee style: each written, the first within one
    grey level of the local Stylizer's."""
    style = read_image(ROOT / "runtime" / "assets" / "coffee.jpg")[:96, :128]
    stats = client.style_stats(call, "adain", style)
    frames = [np.random.default_rng(i).integers(0, 256, (120, 160, 3), np.uint8) for i in range(3)]
    first, written = frames[0].copy(), []

    class Frames:
        def read(self):
            return frames.pop(0) if frames else None

    class Sink:
        def write(self, frame):
            written.append(frame)

    summary = client.stream(call, "adain", Frames(), Sink(), stats, 1.0, (160, 120))
    assert summary["frames"] == 3 and len(written) == 3 and written[0].shape == first.shape
    st = stylert.Stylizer(style_size=None, backend="onnxruntime-cpu")
    st.set_style(style)
    assert np.abs(written[0].astype(int) - st(first, bgr=True)).max() <= 1
