"""The GPU-free logic of the ONNX Runtime GPU backends: provider options as built, the
fallback chain inside a session, profile shapes from the package's symbolic shapes, and the
I/O binding calls (names, order, device pointers). A stand-in for the session and CuPy
drives the binding test: it proves control flow only, nothing here ran on a GPU."""

from types import SimpleNamespace

import numpy as np

from stylert import families
from stylert.backends import onnxrt
from stylert.package import default_package, load


def test_tensorrt_provider_options_follow_the_variant_and_the_camera(tmp_path):
    pkg = load(default_package("adain"))
    ranges = families.get("adain").ranges
    enc = onnxrt.tensorrt_options(pkg.graphs["encoder"], "fp16", ranges, tmp_path / "c", stream="1234",
                                  camera=(320, 240))
    assert enc["trt_fp16_enable"] == "True" and enc["trt_int8_enable"] == "False"
    assert enc["trt_profile_min_shapes"] == "image:1x3x64x64"
    assert enc["trt_profile_opt_shapes"] == "image:1x3x240x320"  # opt: the real camera size
    assert enc["trt_profile_max_shapes"] == "image:4x3x1088x1920"
    assert enc["trt_engine_cache_path"] == enc["trt_timing_cache_path"] == str(tmp_path / "c")
    assert enc["trt_engine_cache_enable"] == enc["trt_timing_cache_enable"] == "True"
    assert enc["user_compute_stream"] == "1234" and enc["has_user_compute_stream"] == "1"
    dec = onnxrt.tensorrt_options(pkg.graphs["decoder"], "int8", ranges, tmp_path / "c", camera=(320, 240))
    c = pkg.graphs["decoder"]["inputs"][0]["shape"][1]
    assert dec["trt_int8_enable"] == "True" and dec["trt_profile_opt_shapes"] == f"features:1x{c}x30x40"
    assert "user_compute_stream" not in dec


def test_sessions_fall_back_inside_themselves():
    trt = onnxrt.providers(onnxrt.TENSORRT, {"user_compute_stream": "99"})
    assert [p if isinstance(p, str) else p[0] for p in trt] == [onnxrt.TENSORRT, onnxrt.CUDA, onnxrt.CPU]
    assert trt[1][1]["user_compute_stream"] == "99"  # CUDA's share of the graph on the same stream
    assert onnxrt.providers(onnxrt.CUDA, onnxrt.cuda_options())[0][1]["cudnn_conv_algo_search"] == "EXHAUSTIVE"
    assert onnxrt.providers(onnxrt.CPU, {}) == [onnxrt.CPU]


class _Binding:
    def __init__(self, log):
        self.log = log

    def bind_cpu_input(self, name, array):
        self.log.append(("cpu input", name, array.shape))

    def bind_input(self, name, device, device_id, dtype, shape, ptr):
        self.log.append(("device input", name, device, tuple(shape), ptr))

    def bind_output(self, name, device, device_id=0):
        self.log.append(("output", name, device))

    def get_outputs(self):
        return ["the OrtValue"]


class _FakeCupy:
    """Just enough of CuPy for the binding path: a device array is a host array in a box
    with a pretend device pointer."""

    class Device:
        def __init__(self, host):
            self.host, self.shape = host, host.shape
            self.data = SimpleNamespace(ptr=0xd00d)

    def ascontiguousarray(self, a, dtype=None):
        return a

    def asarray(self, a):
        return self.Device(a)

    def asnumpy(self, a):
        return a.host


def test_io_binding_keeps_device_arrays_on_the_device(monkeypatch):
    log = []
    session = SimpleNamespace(io_binding=lambda: _Binding(log),
                              run_with_iobinding=lambda b: log.append(("run",)))
    engine = object.__new__(onnxrt.OnnxRuntimeEngine)
    engine.session, engine.output, engine.cupy = session, "features", _FakeCupy()
    monkeypatch.setattr(onnxrt, "device_view", lambda value, cupy: ("view of", value))  # the CuPy view
    image = np.zeros((1, 3, 16, 16), np.float32)
    assert engine.run_native({"image": image}) == ("view of", "the OrtValue")
    device = engine.to_device(np.zeros((1, 8, 2, 2), np.float32))
    engine.run_native({"features": device})
    assert log == [("cpu input", "image", (1, 3, 16, 16)), ("output", "features", "cuda"), ("run",),
                   ("device input", "features", "cuda", (1, 8, 2, 2), 0xd00d), ("output", "features", "cuda"),
                   ("run",)]
    assert isinstance(engine.to_host(device), np.ndarray)


def test_without_cupy_a_gpu_provider_copies_through_the_host():
    got = {}
    engine = object.__new__(onnxrt.OnnxRuntimeEngine)
    engine.cupy = None
    engine.session = SimpleNamespace(run=lambda names, feeds: got.update(feeds) or [feeds["x"] * 2])
    out = engine.run_native({"x": np.ones(3, np.float32)})
    assert (out == 2).all() and isinstance(got["x"], np.ndarray)


def test_stage_timers_use_events_on_the_engines_stream():
    from stylert.backends.cuda import event_factory
    from stylert.timing import Stages

    log = []

    class Event:
        def __init__(self):
            self.at = None

        def record(self, stream):
            log.append(("record", stream))
            self.at = len(log)

        def synchronize(self):
            pass

    cupy = SimpleNamespace(cuda=SimpleNamespace(Event=Event, get_elapsed_time=lambda a, b: 2.5 * (b.at - a.at)))
    stages = Stages(event_factory(cupy, "the stream"))
    stages.enabled = True
    with stages("encoder"):
        pass
    assert stages.collect() == {"encoder": [2_500_000]} and log == [("record", "the stream")] * 2
