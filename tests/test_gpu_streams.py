"""The GPU paths on stand-ins that behave like the real libraries where it decides right or
wrong (tests/fake_cuda.py: CUDA streams and CuPy; tests/fake_ort.py: onnxruntime-gpu's
option parser, its silent fallback and its compute stream). Each test here failed before
the fix it pins; nothing here ran on a GPU."""

import sys
from pathlib import Path

import numpy as np
import pytest

import fake_cuda
import fake_ort
from stylert import Stylizer
from stylert import adain as fused
from stylert import backends, families
from stylert.backends import onnxrt
from stylert.errors import BackendError
from stylert.package import default_package, load
from stylert.pipelines import stylizer


@pytest.fixture
def gpu(monkeypatch, tmp_path):
    """A fake CUDA device with ONNX Runtime's CUDA and TensorRT providers on it; verdicts in
    a cache of this test only (a cached pass would skip the check under test)."""
    monkeypatch.setenv("STYLERT_CACHE", str(tmp_path / "cache"))
    cupy = fake_cuda.install(monkeypatch)
    fake_ort.install(monkeypatch, ("TensorrtExecutionProvider", "CUDAExecutionProvider"))
    monkeypatch.setattr(onnxrt, "cupy_or_none", lambda: cupy)
    backends._probe.cache_clear()
    yield cupy
    onnxrt.works.cache_clear()
    backends._probe.cache_clear()


def _stylize(p):
    """The whole chain as the self-check runs it, and a uint8 camera frame after it."""
    probe = p.package.reference_io()
    return stylizer.chain(p, probe), p(probe["encoder/in/frame"][0], bgr=True)  # a uint8 BGR camera frame


def test_stylizer_on_the_cuda_provider_keeps_stream_order(gpu):
    # Before: the frame was uploaded on the legacy stream, the style statistics too, and the
    # output read back without waiting for the engines' non-blocking stream: NaN frames, and
    # the self-check's whole-chain probe refused the backend.
    p = Stylizer(backend="onnxruntime-cuda")
    assert p.choice.backend == "onnxruntime-cuda" and p.engines["encoder"].copies
    got = _stylize(p)
    want = _stylize(Stylizer(backend="onnxruntime-cpu"))
    assert np.abs(got[0].astype(int) - want[0]).max() <= 1  # uint8 frames: one level of rounding
    assert np.abs(got[1].astype(int) - want[1]).max() <= 1


def test_the_tensorrt_provider_gets_only_options_it_accepts(gpu, tmp_path):
    # Before: has_user_compute_stream, which ORT 1.31's TensorRT parser rejects; the session
    # then ran silently on the CUDA provider.
    p = Stylizer(backend="onnxruntime-tensorrt")
    for engine in p.engines.values():
        assert engine.session.get_providers()[0] == "TensorrtExecutionProvider"
    assert fake_ort.Session.log == []  # no "EP Error" fallback happened


def test_a_provider_ort_would_drop_is_an_error_not_a_silent_fallback(gpu):
    path = default_package("adain") / "decoder.onnx"
    with pytest.raises(Exception, match="Invalid TensorRT EP option: has_user_compute_stream"):
        onnxrt.session(path, onnxrt.TENSORRT, options={"has_user_compute_stream": "1"})

    class Dropped(fake_ort.Session):  # a provider library that does not load: ORT lists what it got
        def get_providers(self):
            return ["CPUExecutionProvider"]

    onnxrt.ort.InferenceSession = Dropped
    with pytest.raises(BackendError, match="on CPUExecutionProvider instead of CUDAExecutionProvider"):
        onnxrt.session(path, onnxrt.CUDA, options=onnxrt.cuda_options("5"))


def test_provider_options_are_keys_the_real_parsers_know(tmp_path):
    pkg = load(default_package("adain"))
    ranges = families.get("adain").ranges
    for variant in ("fp32", "fp16", "int8"):
        trt = onnxrt.tensorrt_options(pkg.graphs["encoder"], variant, ranges, tmp_path, stream="1")
        assert set(trt) <= fake_ort.TENSORRT_KEYS, set(trt) - fake_ort.TENSORRT_KEYS
        cuda = onnxrt.cuda_options("1", True, variant)
        assert set(cuda) <= fake_ort.CUDA_KEYS, set(cuda) - fake_ort.CUDA_KEYS
        assert cuda["use_tf32"] == ("0" if variant == "fp32" else "1")  # fp32: no TF32 (its gate)


def test_the_option_table_matches_the_installed_wheel():
    """The stand-in's keys are strings of the real binaries (onnxruntime-gpu's wheel)."""
    capi = Path(onnxrt.ort.__file__).parent / "capi"
    binding = next(capi.glob("onnxruntime_pybind11_state*.so"), None)
    cuda = capi / "libonnxruntime_providers_cuda.so"
    if binding is None or not cuda.is_file():
        pytest.skip("not the onnxruntime-gpu wheel")
    text = binding.read_bytes()
    assert b"Invalid TensorRT EP option" in text
    assert [k for k in fake_ort.TENSORRT_KEYS if k.encode() not in text] == []
    text = cuda.read_bytes()
    assert [k for k in fake_ort.CUDA_KEYS if k.encode() not in text] == []


def test_adain_uploads_its_statistics_on_the_launch_stream(gpu):
    # Before: cupy.asarray of the statistics ran on the legacy stream, which the engines'
    # non-blocking stream does not wait for: the kernel read uninitialised memory.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 8, 4, 5)).astype(np.float32)
    mean, std = rng.standard_normal(8).astype(np.float32), rng.random(8).astype(np.float32) + 0.5
    stream = gpu.cuda.Stream(non_blocking=True)
    with stream:
        feats = gpu.asarray(x)
        out = fused.adain(feats, mean, std, alpha=0.5, stream=stream)
    got = gpu.asnumpy(out, stream=stream)
    stream.synchronize()
    assert np.allclose(got, fused.adain(x, mean, std, alpha=0.5), atol=1e-6)
    # Called from outside `with stream:` too, its temporaries (the statistics, the output)
    # are made on the launch stream: none on the legacy one, whose pool would hand their
    # memory to the next legacy-stream allocation while the kernel may still read it.
    legacy = fake_cuda.NULL.queued
    out = fused.adain(feats, mean, std, alpha=0.5, stream=stream)
    assert fake_cuda.NULL.queued == legacy
    got = gpu.asnumpy(out, stream=stream)
    stream.synchronize()
    assert np.allclose(got, fused.adain(x, mean, std, alpha=0.5), atol=1e-6)


def test_adain_waits_for_the_stream_that_produced_its_input(gpu):
    # __cuda_array_interface__ v3: the consumer waits for the producer's stream.
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 4, 3, 3)).astype(np.float32)
    producer, launch = gpu.cuda.Stream(non_blocking=True), gpu.cuda.Stream(non_blocking=True)
    with producer:
        feats = gpu.asarray(x)
        mean, std = fused.channel_stats(feats, stream=launch)
    m = gpu.asnumpy(mean, stream=launch)
    s = gpu.asnumpy(std, stream=launch)
    launch.synchronize()
    want = fused.channel_stats(x)
    assert np.allclose(m, want[0], atol=1e-6) and np.allclose(s, want[1], atol=1e-6)


def test_downloads_are_complete_when_they_return(gpu):
    # Before CuPy 13, asnumpy(a, stream=s) returns before the copy has run.
    cupy = gpu
    stream = cupy.cuda.Stream(non_blocking=True)
    engine = object.__new__(onnxrt.OnnxRuntimeEngine)
    engine.cupy, engine.stream = cupy, stream
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert (engine.to_host(engine.to_device(x)) == x).all()
    assert sys.modules["cupy"] is cupy


def test_the_torch_backend_runs_fp32_without_tf32(monkeypatch):
    # PyTorch allows TF32 convolutions by default; emulated, the bundled AdaIN misses the
    # fp32 gate by eight times. Before: the torch backend (fp32 only) ran with the default.
    tf32 = pytest.importorskip("tf32")
    from stylert.backends import selfcheck
    from stylert.backends.pytorch import TorchEngine
    from stylert.export import models

    pkg = load(default_package("adain"))
    with tf32.emulated(monkeypatch):
        emulated = tf32.F.conv2d(*[tf32.torch.full((1, 1, 1, 1), 1 + 2 ** -13)] * 2)
        assert emulated.item() == 1.0  # the emulation is on (TF32 drops that bit)
        graphs = models.family("adain").graphs(models.load("adain"))
        engines = {g.name: TorchEngine(g.module, list(g.inputs), "cpu") for g in graphs if g.name != "adain_full"}
        verdict = selfcheck.run_probe(pkg, engines)
    assert verdict.passed, verdict.detail


def test_tf32_has_its_own_documented_rule():
    from stylert import parity

    m = {"max_abs": 2.4e-3, "range": 1.0}  # TF32 emulated on the whole AdaIN chain
    assert not parity.passes(m, "fp32") and parity.passes(m, "tf32")
    assert parity.threshold("tf32") == "max abs <= 0.005 x range"


def test_the_whole_chain_check_names_the_part_that_failed(gpu, monkeypatch):
    # Graph by graph (host in, host out) every probe passes; only the chain, which uploads
    # the frame as the pipeline does, meets an upload made on the wrong stream.
    from stylert.backends import cuda

    def upload_on_the_legacy_stream(cupy, stream, array):
        return cupy.asarray(array) if isinstance(array, np.ndarray) else array

    monkeypatch.setattr(cuda, "upload", upload_on_the_legacy_stream)
    monkeypatch.setattr(onnxrt, "upload", upload_on_the_legacy_stream)
    with pytest.raises(BackendError, match=r"parity check failed, chain fp32 ") as failed:
        Stylizer(backend="onnxruntime-cuda")
    assert "encoder fp32" not in str(failed.value) and "decoder fp32" not in str(failed.value)
