"""The TensorRT runner's control flow, driven by a stand-in for TensorRT and CuPy: profile
choice by input shape, binding order and names, output allocation and reuse, profile
switches, CUDA-graph capture and replay. It proves control flow only: nothing here ran on
a GPU or in TensorRT (neither exists where stylert is developed)."""

from types import SimpleNamespace

import numpy as np
import pytest

from stylert.backends.tensorrt.runner import TensorRTEngine
from stylert.errors import BackendError


class FakeArray:
    """A device array: a host array in a box with a pretend pointer."""
    count = 0

    def __init__(self, host, dtype=np.float32):
        FakeArray.count += 1
        self.host, self.shape = np.asarray(host, dtype), tuple(np.shape(host))
        self.dtype = self.host.dtype
        self.data = SimpleNamespace(ptr=1000 + FakeArray.count)

    def __setitem__(self, key, value):
        assert FakeStream.current is not None, "a device copy outside the engine's stream"
        self.host[key] = value.host if isinstance(value, FakeArray) else value

    def copy(self):
        assert FakeStream.current is not None, "a device copy outside the engine's stream"
        return FakeArray(self.host.copy())


class FakeCupy:
    def asarray(self, a):
        return a if isinstance(a, FakeArray) else FakeArray(a)

    def ascontiguousarray(self, a, dtype=None):
        return a if dtype is None or a.dtype == dtype else FakeArray(a.host, dtype)

    def empty(self, shape, dtype=None):
        return FakeArray(np.zeros(shape), dtype)

    def empty_like(self, a):
        return FakeArray(np.zeros(a.shape))

    def asnumpy(self, a, stream=None):
        return a.host


class FakeStream:
    ptr = 77
    current = None  # the stream a `with stream:` made current

    def __init__(self, log):
        self.log = log

    def __enter__(self):
        FakeStream.current = self

    def __exit__(self, *exc):
        FakeStream.current = None

    def begin_capture(self):
        self.log.append(("capture",))

    def end_capture(self):
        log = self.log
        return SimpleNamespace(launch=lambda stream: log.append(("replay",)))


class FakeContext:
    def __init__(self, log):
        self.log, self.shapes = log, {}

    def set_optimization_profile_async(self, p, stream):
        self.log.append(("profile", p, stream))

    def set_input_shape(self, name, shape):
        self.shapes[name] = shape
        self.log.append(("shape", name, shape))

    def set_tensor_address(self, name, ptr):
        self.log.append(("address", name))

    def get_tensor_shape(self, name):  # the decoder: features / 8 -> uint8 frames x 8 (NHWC)
        n, c, h, w = self.shapes["features"]
        return (n, h * 8, w * 8, 3)

    def execute_async_v3(self, stream):
        self.log.append(("execute", stream))
        return True


def fake_trt(log, profiles):
    class Engine:
        num_io_tensors = 2
        num_optimization_profiles = len(profiles)

        def get_tensor_name(self, i):
            return ["features", "frame"][i]

        def get_tensor_dtype(self, name):  # TensorRT's DataType of each I/O tensor
            return "UINT8" if name == "frame" else "FLOAT"

        def get_tensor_mode(self, name):
            return "in" if name == "features" else "out"

        def get_tensor_profile_shape(self, name, p):
            return profiles[p]

        def create_execution_context(self):
            return FakeContext(log)

    class Runtime:
        def __init__(self, logger):
            pass

        def deserialize_cuda_engine(self, data):
            return Engine() if data == b"engine" else None

    class Logger:
        WARNING = "warning"

        def __init__(self, level):
            pass

    return SimpleNamespace(Runtime=Runtime, Logger=Logger, TensorIOMode=SimpleNamespace(INPUT="in"),
                           nptype={"FLOAT": np.float32, "UINT8": np.uint8}.__getitem__)  # trt.nptype


SMALL = ((1, 64, 8, 8), (1, 64, 30, 40), (1, 64, 60, 80))
LARGE = ((1, 64, 61, 81), (1, 64, 90, 120), (1, 64, 136, 240))


def _engine(log, cuda_graph=False, data=b"engine"):
    return TensorRTEngine(data, fake_trt(log, [SMALL, LARGE]), FakeCupy(), FakeStream(log), "fp16", cuda_graph,
                          "decoder")


def test_profile_by_shape_binding_by_name_and_output_reuse():
    log = []
    eng = _engine(log)
    assert (eng.inputs, eng.outputs) == (["features"], ["frame"])
    out1 = eng.run_native({"features": np.zeros((1, 64, 30, 40), np.float32)})
    assert log == [("profile", 0, 77), ("shape", "features", (1, 64, 30, 40)), ("address", "features"),
                   ("address", "frame"), ("execute", 77)]
    assert out1.shape == (1, 240, 320, 3) and out1.dtype == np.uint8  # the output tensor's own type
    log.clear()
    out2 = eng.run_native({"features": np.zeros((1, 64, 30, 40), np.float32)})
    assert out2 is out1 and ("profile", 0, 77) not in log  # same shape: same buffer, no profile switch
    out3 = eng.run_native({"features": np.zeros((1, 64, 90, 120), np.float32)})
    assert out3 is not out1 and out3.shape == (1, 720, 960, 3) and ("profile", 1, 77) in log
    assert eng.profile_for({"features": (1, 64, 60, 80)}) == 0 and eng.profile_for({"features": (1, 64, 61, 81)}) == 1


def test_a_shape_no_profile_takes_is_one_clear_error():
    eng = _engine([])
    with pytest.raises(BackendError, match="no TensorRT profile of decoder takes .*stylert build PKG --shapes"):
        eng.run_native({"features": np.zeros((1, 64, 4, 4), np.float32)})


def test_an_engine_that_does_not_load_is_one_clear_error():
    with pytest.raises(BackendError, match="could not load the decoder engine .*engine cache"):
        _engine([], data=b"from another TensorRT")


def test_cuda_graph_is_captured_once_per_shape_then_replayed():
    log = []
    eng = _engine(log, cuda_graph=True)
    x = np.ones((1, 64, 30, 40), np.float32)
    first = eng.run_native({"features": x})
    assert [e[0] for e in log].count("capture") == 1 and log[-1] == ("replay",)
    log.clear()
    second = eng.run_native({"features": x * 2})
    assert log == [("replay",)] and second is first  # inputs copied into the captured buffers
    assert (eng._graphs[((1, 64, 30, 40),)][1]["features"].host == 2).all()


def test_what_bench_reports_beside_the_latency():
    eng = _engine([])
    for _ in range(3):
        eng.run_native({"features": np.zeros((1, 64, 30, 40), np.float32)})
    info = eng.info()
    assert len(eng.enqueue_ns) == 3 and info["enqueue_median_ms"] >= 0
    assert info["engine_mb"] == pytest.approx(len(b"engine") / 2**20) and info["cuda_graph"] == 0.0


def test_each_captured_shape_has_its_own_context():
    # A captured graph replays its execution context's state at capture (shapes, addresses,
    # profile): re-binding one context for a second shape would change what the first
    # graph's replay reads. Before: one context for every capture.
    log = []
    eng = _engine(log, cuda_graph=True)
    eng.run_native({"features": np.ones((1, 64, 30, 40), np.float32)})
    eng.run_native({"features": np.ones((1, 64, 90, 120), np.float32)})
    contexts = [g[3] for g in eng._graphs.values()]
    assert len({id(c) for c in contexts + [eng.context]}) == 3
    assert [c.shapes["features"] for c in contexts] == [(1, 64, 30, 40), (1, 64, 90, 120)]
    log.clear()
    eng.run_native({"features": np.ones((1, 64, 30, 40), np.float32)})
    assert log == [("replay",)]  # the first shape replays without touching any context


def test_copies_to_and_from_the_engine_are_on_its_stream(monkeypatch):
    # Before: to_device copied on the legacy stream (which the engine's non-blocking stream
    # does not wait for) and to_host returned before its asynchronous copy had run.
    import fake_cuda

    cupy = fake_cuda.install(monkeypatch)
    eng = object.__new__(TensorRTEngine)
    eng.cupy, eng.stream = cupy, cupy.cuda.Stream(non_blocking=True)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    device = eng.to_device(x)
    assert fake_cuda.NULL.queued == 0
    assert (eng.to_host(device) == x).all()
