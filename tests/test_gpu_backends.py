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
    assert enc["trt_profile_min_shapes"] == "frame:1x64x64x3"  # uint8 NHWC frames
    assert enc["trt_profile_opt_shapes"] == "frame:1x240x320x3"  # opt: the real camera size
    assert enc["trt_profile_max_shapes"] == "frame:4x1088x1920x3"
    assert enc["trt_engine_cache_path"] == enc["trt_timing_cache_path"] == str(tmp_path / "c")
    assert enc["trt_engine_cache_enable"] == enc["trt_timing_cache_enable"] == "True"
    assert enc["user_compute_stream"] == "1234"
    assert "has_user_compute_stream" not in enc  # ORT 1.31's TensorRT parser rejects it (test_gpu_streams)
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

    def asnumpy(self, a, stream=None):
        return a.host


def test_io_binding_keeps_device_arrays_on_the_device(monkeypatch):
    log = []
    session = SimpleNamespace(io_binding=lambda: _Binding(log),
                              run_with_iobinding=lambda b: log.append(("run",)))
    engine = object.__new__(onnxrt.OnnxRuntimeEngine)
    engine.session, engine.output, engine.cupy, engine.cuda_graph = session, "features", _FakeCupy(), False
    engine.stream, engine.in_types, engine.out_type = _Stream(), {"features": np.float32}, np.float32
    monkeypatch.setattr(onnxrt, "device_view", lambda value, cupy, dtype: ("view of", value))  # the CuPy view
    image = np.zeros((1, 3, 16, 16), np.float32)
    assert engine.run_native({"image": image}) == ("view of", "the OrtValue")
    device = engine.to_device(np.zeros((1, 8, 2, 2), np.float32))
    engine.run_native({"features": device})
    assert log == [("cpu input", "image", (1, 3, 16, 16)), ("output", "features", "cuda"), ("run",),
                   ("device input", "features", "cuda", (1, 8, 2, 2), 0xd00d), ("output", "features", "cuda"),
                   ("run",)]
    assert isinstance(engine.to_host(device), np.ndarray)


class _GraphBinding(_Binding):
    def bind_output(self, name, device, device_id=0, dtype=None, shape=None, ptr=None):
        self.log.append(("output", name, device) + ((tuple(shape), ptr) if ptr else ()))

    def get_outputs(self):
        return [SimpleNamespace(shape=lambda: [1, 8, 2, 2])]


class _GraphCupy(_FakeCupy):
    current = None  # the stream of the innermost `with stream:`

    class Device(_FakeCupy.Device):
        count = 0

        def __init__(self, host):
            super().__init__(np.array(host, np.float32))
            _GraphCupy.Device.count += 1
            self.data = SimpleNamespace(ptr=0xb000 + _GraphCupy.Device.count)

        def copy(self):
            assert _GraphCupy.current is not None, "a device copy outside the engine's stream"
            return _GraphCupy.Device(self.host)

        def __setitem__(self, key, value):
            assert _GraphCupy.current is not None, "a device copy outside the engine's stream"
            self.host[key] = value.host

    def asarray(self, a):
        return a if isinstance(a, self.Device) else self.Device(a)

    def empty(self, shape, dtype=None):
        return self.Device(np.zeros(shape))


class _Stream:
    def __enter__(self):
        _GraphCupy.current = self

    def __exit__(self, *exc):
        _GraphCupy.current = None

    def synchronize(self):
        pass


def test_cuda_graphs_bind_fixed_buffers_per_shape_and_replay_by_graph_id():
    log = []

    def run(binding, options=None):
        log.append(("run", options.get_run_config_entry("gpu_graph_id") if options else None))

    engine = object.__new__(onnxrt.OnnxRuntimeEngine)
    engine.session = SimpleNamespace(io_binding=lambda: _GraphBinding(log), run_with_iobinding=run)
    engine.output, engine.cupy, engine.stream, engine.cuda_graph, engine._graphs = \
        "features", _GraphCupy(), _Stream(), True, {}
    engine.in_types, engine.out_type = {"image": np.float32}, np.float32
    first = engine.run_native({"image": np.full((1, 3, 16, 16), 1.0, np.float32)})
    fixed_in = [e for e in log if e[0] == "device input"][-1][-1]
    fixed_out = first.data.ptr
    assert log[-2:] == [("output", "features", "cuda", (1, 8, 2, 2), fixed_out), ("run", "1")]
    assert ("run", "-1") in log  # the output's shape came from a run outside any graph
    log.clear()
    again = engine.run_native({"image": np.full((1, 3, 16, 16), 2.0, np.float32)})
    assert again is first and log == [("run", "1")]  # a replay: no new binding, same buffers
    _, _, inputs, _ = engine._graphs[(("image", (1, 3, 16, 16)),)]
    assert inputs["image"].data.ptr == fixed_in and (inputs["image"].host == 2.0).all()  # copied in place
    log.clear()
    engine.run_native({"image": np.zeros((1, 3, 32, 32), np.float32)})  # a new shape: a second graph
    assert log[-1] == ("run", "2") and len(engine._graphs) == 2


def test_cuda_graphs_are_asked_of_the_cuda_provider_only_when_wanted(monkeypatch):
    assert "enable_cuda_graph" not in onnxrt.cuda_options("5")
    assert onnxrt.cuda_options("5", cuda_graph=True)["enable_cuda_graph"] == "1"
    from stylert.backends import cuda

    monkeypatch.setenv("STYLERT_CUDA_GRAPHS", "1")
    assert cuda.graphs_wanted()
    monkeypatch.setenv("STYLERT_CUDA_GRAPHS", "0")
    assert not cuda.graphs_wanted()


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
