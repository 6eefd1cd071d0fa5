"""The ONNX Runtime backends (TensorRT, CUDA and CPU providers): sessions, quietly, on the
providers that really work here, and on GPUs with I/O binding so tensors stay on the device.

onnxruntime-gpu lists the CUDA and TensorRT providers even on a machine without a GPU;
asking for them there prints errors to stderr and a banner to stdout before falling back
to the CPU. So providers are probed once, with the process's output silenced, and only
what works is asked for.
"""

from __future__ import annotations

import contextlib
import functools
import os
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import onnxruntime as ort

from ..errors import BackendError
from .base import Backend, Engine
from .cuda import cupy_or_none, device_view, download, event_factory, graphs_wanted, tf32_allowed, upload

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"


@contextlib.contextmanager
def _silenced():
    """Redirects the process's stdout/stderr file descriptors (C++ logs bypass Python's)."""
    saved = [os.dup(1), os.dup(2)]
    with open(os.devnull, "w") as null:
        try:
            os.dup2(null.fileno(), 1)
            os.dup2(null.fileno(), 2)
            # ONNX Runtime's Python wrapper also prints ("EP Error ..."): to sys.stdout, which
            # is not fd 1 under a capturing caller (pytest)
            with contextlib.redirect_stdout(null), contextlib.redirect_stderr(null):
                yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def _options(threads: Optional[int], spin: bool = True) -> ort.SessionOptions:
    so = ort.SessionOptions()
    so.log_severity_level = 3  # errors only
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        so.intra_op_num_threads = threads
    if not spin:  # idle workers sleep instead of spinning (see session())
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return so


# y = Relu(x), x and y float[1], opset 17 (made with onnx.helper; inlined so the runtime
# does not need the onnx package).
_PROBE_MODEL = (b'\x08\x08\x12\x07stylert:7\n\x0c\n\x01x\x12\x01y"\x04Relu\x12\x05probeZ\x0f\n\x01x'
                b'\x12\n\n\x08\x08\x01\x12\x04\n\x02\x08\x01b\x0f\n\x01y\x12\n\n\x08\x08\x01\x12\x04\n\x02'
                b'\x08\x01B\x04\n\x00\x10\x11')


@functools.lru_cache(maxsize=None)
def works(provider: str) -> bool:
    """Whether a session on ``provider`` really runs here (not only whether it is listed)."""
    if provider == CPU:
        return True
    if provider not in ort.get_available_providers():
        return False
    try:
        with _silenced():
            s = ort.InferenceSession(_PROBE_MODEL, _options(1), providers=[provider, CPU])
        return s.get_providers()[0] == provider
    except Exception:  # a provider that fails to load is one that does not work
        return False


def working_providers() -> List[str]:
    """The providers to offer, best first."""
    return [p for p in (TENSORRT, CUDA, CPU) if works(p)]


def session(path: Path | str, provider: str = CPU, threads: Optional[int] = None, spin: bool = True,
            options: Optional[Dict[str, str]] = None, variant: str = "fp32") -> ort.InferenceSession:
    """A session that runs on ``provider`` or raises BackendError, never on a silent fallback.

    ONNX Runtime's InferenceSession catches a provider that fails to start (an option its
    parser rejects, a library that does not load), prints "EP Error" to stdout and rebuilds
    the session on CUDA+CPU or CPU with no options (onnxruntime_inference_collection.py,
    InferenceSession.__init__; run() does the same on EPFail). ``enable_fallback=0`` turns
    that off, and the providers the session really got are checked.

    ``spin=False`` for sessions that take turns with other work on the CPU: a spinning
    pool keeps the cores busy after its run, slowing whatever runs next (the Stylizer's
    encoder -> AdaIN -> decoder: 77 vs 42 ms per 320x240 frame on 2 cores). ``options``:
    the provider's options (providers() builds them); ``variant``: the file's precision (TF32)."""
    s = ort.InferenceSession(str(path), _options(threads, spin), providers=providers(provider, options or {}, variant),
                             enable_fallback=0)
    got = s.get_providers()
    if not got or got[0] != provider:
        raise BackendError(f"ONNX Runtime opened {Path(path).name} on {', '.join(got) or 'nothing'} instead of "
                           f"{provider}")
    return s


def providers(provider: str, options: Dict[str, str], variant: str = "fp32") -> list:
    """The session's provider list: the asked one first, then its fallbacks inside the session
    (TensorRT falls back to CUDA for the layers it does not take, both to the CPU)."""
    if provider == CPU:
        return [CPU]
    chain = [(provider, options)]
    if provider == TENSORRT:
        chain.append((CUDA, cuda_options(options.get("user_compute_stream"), variant=variant)))
    return chain + [CPU]


def cuda_options(stream: Optional[str] = None, cuda_graph: bool = False, variant: str = "fp32") -> Dict[str, str]:
    """The CUDA provider's options: an exhaustive cuDNN algorithm search (once per shape, then
    cached: what a fixed camera size wants), TF32 convolutions only where the variant allows
    them (cuda.tf32_allowed: not for fp32, whose gate TF32 misses), and the pipeline's stream
    when there is one, so the engines and the AdaIN kernel run in order on one stream without
    device-wide syncs; ``cuda_graph``: CUDA graph capture and replay (see OnnxRuntimeEngine)."""
    opts = {"device_id": "0", "cudnn_conv_algo_search": "EXHAUSTIVE", "do_copy_in_default_stream": "0",
            "use_tf32": "1" if tf32_allowed(variant) else "0"}
    if stream:
        opts.update(user_compute_stream=stream, has_user_compute_stream="1")
    if cuda_graph:
        opts["enable_cuda_graph"] = "1"
    return opts


def tensorrt_options(graph: Dict, variant: str, ranges: Dict, cache: Path, stream: Optional[str] = None,
                     camera: Optional[tuple] = None) -> Dict[str, str]:
    """ONNX Runtime's TensorRT provider options for one package graph: fp16/int8 from the
    variant (the fp16 file's float32 islands and the int8 file's QDQ scales are what TensorRT
    builds), engine and timing caches under stylert's cache folder, and one explicit
    min/opt/max profile from the graph's symbolic shapes (opt: ``camera`` (w, h) or 640x480;
    wide profiles give slow kernels, so opt is the real size)."""
    from .tensorrt.build import profile

    if camera:
        w, h = camera
        ranges = {**ranges, "width": (ranges["width"][0], w, ranges["width"][2]),
                  "height": (ranges["height"][0], h, ranges["height"][2])}
        if "fwidth" in ranges:  # features of a stride-8 encoder
            ranges.update(fwidth=(ranges["fwidth"][0], -(-w // 8), ranges["fwidth"][2]),
                          fheight=(ranges["fheight"][0], -(-h // 8), ranges["fheight"][2]))
    prof = profile(graph, ranges=ranges)
    shapes = [",".join(f"{name}:{'x'.join(map(str, p[k]))}" for name, p in prof.items()) for k in range(3)]
    cache.mkdir(parents=True, exist_ok=True)
    opts = {"device_id": "0", "trt_fp16_enable": str(variant == "fp16"), "trt_int8_enable": str(variant == "int8"),
            "trt_engine_cache_enable": "True", "trt_engine_cache_path": str(cache),
            "trt_timing_cache_enable": "True", "trt_timing_cache_path": str(cache),
            "trt_profile_min_shapes": shapes[0], "trt_profile_opt_shapes": shapes[1],
            "trt_profile_max_shapes": shapes[2]}
    if stream:  # the TensorRT provider's parser knows no has_user_compute_stream: this key sets both
        opts["user_compute_stream"] = stream
    return opts


# The tensor types of stylert's graphs at their edges, as ONNX Runtime names them: device
# buffers are bound with the graph's own type (AdaIN's frames are uint8, the rest float32).
NUMPY_TYPES = {"tensor(float)": np.float32, "tensor(uint8)": np.uint8, "tensor(float16)": np.float16}


def numpy_type(arg) -> type:
    if arg.type not in NUMPY_TYPES:
        raise BackendError(f"a graph tensor {arg.name} of type {arg.type}: stylert binds {', '.join(NUMPY_TYPES)}")
    return NUMPY_TYPES[arg.type]


def graph_options(graph_id: int):
    """RunOptions for ONNX Runtime's CUDA graph ``graph_id`` (-1: a run outside any graph;
    ids start at 1, as ONNX Runtime asks)."""
    options = ort.RunOptions()
    options.add_run_config_entry("gpu_graph_id", str(graph_id))
    return options


class OnnxRuntimeEngine(Engine):
    """One graph in an ONNX Runtime session. On the CPU provider: numpy in and out. On a GPU
    provider with CuPy installed: I/O binding, inputs bound where they are (CuPy device
    arrays by pointer, host arrays copied up), the output left on the device as a CuPy array
    (``run_native``), all on the pipeline's one stream (``stream``); without CuPy the session
    copies through the host as before.

    ``cuda_graph`` (the CUDA provider; open_engines' cuda_graphs, or STYLERT_CUDA_GRAPHS=1): ONNX Runtime captures one CUDA
    graph per input shape and replays it, which needs every bound address fixed: per shape,
    the inputs are copied into buffers kept for it and the output is written into a buffer
    kept for it (valid until the next call at that shape, as with the tensorrt runner)."""

    def __init__(self, path, provider: str, threads: Optional[int] = None, spin: bool = True,
                 variant: str = "fp32", options: Optional[Dict[str, str]] = None, stream=None, cupy=None,
                 cuda_graph: bool = False):
        self.path, self.variant, self.provider = str(path), variant, provider
        self.session = session(path, provider, threads, spin, options, variant)
        self.backend = BACKEND_OF[provider]
        self.device = "cpu" if provider == CPU else "cuda"
        self.stream, self.cupy = stream, cupy if provider != CPU else None
        self.copies = self.cupy is not None
        self.output = self.session.get_outputs()[0].name
        self.in_types = {i.name: numpy_type(i) for i in self.session.get_inputs()}
        self.out_type = numpy_type(self.session.get_outputs()[0])
        self.cuda_graph = cuda_graph and self.cupy is not None
        self._graphs: Dict[tuple, tuple] = {}  # input shapes -> (binding, run options, inputs, output)

    @property
    def gate(self) -> str:
        # The TensorRT provider has no TF32 option (its 1.31 option table): TensorRT builds
        # fp32 layers with TF32 allowed, its default.
        return "tf32" if self.provider == TENSORRT and self.variant == "fp32" else self.variant

    def _binding(self, arrays: Dict[str, object], out=None):
        """An I/O binding of ``arrays`` (host arrays copied up by ONNX Runtime, device arrays
        by pointer); the output into ``out`` when given, else where the session puts it."""
        binding = self.session.io_binding()
        for name, value in arrays.items():
            if isinstance(value, np.ndarray):
                binding.bind_cpu_input(name, np.ascontiguousarray(value))
            else:  # a device array: bound by pointer (a conversion, if any, on the session's stream)
                with self.stream:
                    value = self.cupy.ascontiguousarray(value, dtype=self.in_types[name])
                binding.bind_input(name, "cuda", 0, self.in_types[name], list(value.shape), value.data.ptr)
        if out is None:
            binding.bind_output(self.output, "cuda", 0)
        else:
            binding.bind_output(self.output, "cuda", 0, self.out_type, list(out.shape), out.data.ptr)
        return binding

    def run_native(self, feeds):
        if self.cupy is None:  # host arrays in and out (the session copies on a GPU provider)
            return self.session.run(None, {k: self.to_host(v) for k, v in feeds.items()})[0]
        if self.cuda_graph:
            return self._replay(feeds)
        binding = self._binding(feeds)
        self.session.run_with_iobinding(binding)
        return device_view(binding.get_outputs()[0], self.cupy, self.out_type)

    def _replay(self, feeds):
        cp = self.cupy
        with self.stream:  # the copies on the session's stream, ordered before its run
            arrays = {n: cp.ascontiguousarray(cp.asarray(v), dtype=self.in_types[n]) for n, v in feeds.items()}
        key = tuple((n, tuple(a.shape)) for n, a in arrays.items())
        if key not in self._graphs:
            # The output's shape, from one run outside any graph; then fixed buffers and the
            # binding the graph is captured with (on its first run) and replayed with.
            probe = self._binding(arrays)
            self.session.run_with_iobinding(probe, graph_options(-1))
            with self.stream:
                fixed = {n: a.copy() for n, a in arrays.items()}
                out = cp.empty(tuple(probe.get_outputs()[0].shape()), dtype=self.out_type)
            self._graphs[key] = (self._binding(fixed, out), graph_options(len(self._graphs) + 1), fixed, out)
        binding, options, fixed, out = self._graphs[key]
        with self.stream:
            for n, a in arrays.items():
                fixed[n][...] = a
        self.session.run_with_iobinding(binding, options)
        return out

    def event(self):
        return event_factory(self.cupy, self.stream) if self.cupy is not None else None

    def to_device(self, array):
        return array if self.cupy is None else upload(self.cupy, self.stream, array)

    def to_host(self, array):
        return array if self.cupy is None else download(self.cupy, self.stream, array)


def threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _opener(provider: str):
    def open_graphs(pkg, names: List[str], precision: str, spin: bool = True,
                    cuda_graphs: Optional[bool] = None) -> Dict[str, Engine]:
        from ..families import get
        from ..folders import cache_root

        cpu = provider == CPU
        cupy = None if cpu else cupy_or_none()
        graphs = provider == CUDA and cupy is not None and graphs_wanted(cuda_graphs)
        stream = cupy.cuda.Stream(non_blocking=True) if cupy is not None else None  # one per pipeline
        ptr = str(stream.ptr) if stream is not None else None
        engines = {}
        for name in names:
            variant = pkg.variant(name, precision, cpu=cpu)
            if provider == TENSORRT:
                options = tensorrt_options(pkg.graphs[name], variant, get(pkg.kind).ranges,
                                           cache_root() / "ort-tensorrt", ptr)
            else:
                options = cuda_options(ptr, graphs, variant) if provider == CUDA else {}
            engines[name] = OnnxRuntimeEngine(pkg.onnx(name, variant), provider, threads() if cpu else None, spin,
                                              variant, options, stream, cupy, graphs)
        return engines
    return open_graphs


BACKEND_OF = {TENSORRT: "onnxruntime-tensorrt", CUDA: "onnxruntime-cuda", CPU: "onnxruntime-cpu"}
TENSORRT_MISSING = ("ONNX Runtime's TensorRT provider does not load here (onnxruntime-gpu 1.31 needs TensorRT 10 "
                    "for CUDA 13: libnvinfer.so.10, libnvonnxparser.so.10)")
BACKENDS = [
    Backend("onnxruntime-tensorrt", lambda: "" if works(TENSORRT) else TENSORRT_MISSING, _opener(TENSORRT),
            fastest=("fp16",), version=lambda: ort.__version__),
    Backend("onnxruntime-cuda", lambda: "" if works(CUDA) else "no working CUDA provider", _opener(CUDA),
            fastest=("fp16",), version=lambda: ort.__version__, graphs=True),
    Backend("onnxruntime-cpu", lambda: "", _opener(CPU), fastest=("int8",), version=lambda: ort.__version__),
]
