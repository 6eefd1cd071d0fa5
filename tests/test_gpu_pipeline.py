"""The torch backend on a GPU: features stay on the device between encoder, the CUDA AdaIN
kernel and decoder; copies and stages timed with CUDA events; device memory reported.
Runs only where a CUDA device is present (not verified by the team yet: no GPU so far)."""

import json

import numpy as np
import pytest

from stylert import Stylizer, cli

pytestmark = pytest.mark.gpu
torch = pytest.importorskip("torch")


def test_stylizer_keeps_features_on_the_gpu():
    if not torch.cuda.is_available():
        pytest.skip("torch sees no CUDA device")
    gpu = Stylizer(backend="torch")
    cpu = Stylizer(backend="onnxruntime-cpu")
    assert gpu.backend == "torch" and gpu.engines["encoder"].device == "cuda"
    seen = []
    run = gpu.engines["decoder"].run_native
    gpu.engines["decoder"].run_native = lambda feeds: (seen.append(feeds["features"]), run(feeds))[1]
    rng = np.random.default_rng(0)
    style = rng.integers(0, 256, (64, 64, 3), np.uint8)
    frame = rng.integers(0, 256, (60, 90, 3), np.uint8)
    for st in (gpu, cpu):
        st.set_style(style)
    gpu.stages.enabled = True
    out = gpu(frame)
    assert isinstance(seen[0], torch.Tensor) and seen[0].is_cuda  # no host round trip
    assert np.abs(out.astype(int) - cpu(frame)).max() <= 2
    stages = gpu.stages.collect()
    assert {"host->device", "encoder", "adain", "decoder", "device->host"} <= set(stages)


def test_bench_reports_device_memory(tmp_path):
    if not torch.cuda.is_available():
        pytest.skip("torch sees no CUDA device")
    assert cli.main(["bench", "adain", "--backend", "torch", "--size", "64", "--iterations", "3",
                     "--duration", "0", "--warmup", "1", "--json", str(tmp_path / "r.json")]) == 0
    (row,) = json.loads((tmp_path / "r.json").read_text())["rows"]
    assert row["device_peak_mb"] > 0 and "host->device" in row["stages_median_ms"]


def test_cupy_kernel_waits_for_the_stream_that_produced_its_input():
    # On a real GPU what tests/test_gpu_streams.py pins on a stand-in: the features are
    # written on a busy non-blocking stream, the statistics launched on another one; only the
    # wait for the producer (__cuda_array_interface__ v3 "stream") makes them right.
    cupy = pytest.importorskip("cupy")
    from stylert import adain

    if not adain.cuda_available():
        pytest.skip("stylert built without its CUDA kernels")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 64, 96, 96)).astype(np.float32)
    producer, launch = cupy.cuda.Stream(non_blocking=True), cupy.cuda.Stream(non_blocking=True)
    with producer:
        busy = cupy.random.random((4096, 4096), dtype=cupy.float32)
        for _ in range(4):  # milliseconds of work queued ahead of the features
            busy = (busy @ busy) * 1e-3
        feats = cupy.asarray(x) + 0.0 * busy[0, 0]
        mean, std = adain.channel_stats(feats, stream=launch)
        out = adain.adain(feats, mean * 0 + 1, std * 0 + 2, stream=launch)
    got = cupy.asnumpy(out, stream=launch)
    launch.synchronize()
    want = adain.adain(x, np.ones(64, np.float32), np.full(64, 2, np.float32))
    assert np.allclose(got, want, atol=1e-4)
