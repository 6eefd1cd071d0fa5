"""TensorRT engines for a model package: profiles, precision policy, and an engine cache.

TensorRT is optional and imported lazily: everything here except ``build_engine`` works
without it (and is tested without it; no TensorRT can be installed where stylert is
developed, so ``build_engine`` is written from the TensorRT Python API documentation and
has not been run by the team yet).

* Profile: one optimization profile per graph, min/opt/max per input, derived from the
  package's symbolic shapes (opt = a VGA camera frame) and overridable per input.
* Precision policy: TensorRT >= 10 builds the package's fp16/int8 ONNX strongly typed, so
  the float32 islands and the QDQ int8 scales in the graph are what runs. Older TensorRT
  (JetPack 5) builds the fp32 graph with builder flags (FP16, or INT8 on the QDQ graph).
* Cache: one engine per (graph hash, profile, precision, TensorRT version, GPU compute
  capability), written atomically under a file lock with a sidecar that records the key
  and the engine's sha256; an entry whose sidecar does not match is rebuilt, never loaded.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from .package import Package, sha256

Shape = Tuple[int, ...]
Profile = Dict[str, Tuple[Shape, Shape, Shape]]  # input -> (min, opt, max)

# min/opt/max for the symbolic dimensions of the packages (opt: a 640x480 camera frame).
DEFAULT_RANGES = {
    "batch": (1, 1, 4),
    "height": (64, 480, 1088), "width": (64, 640, 1920),
    "fheight": (8, 60, 136), "fwidth": (8, 80, 240),  # AdaIN features: image / 8
}


class TensorRTError(Exception):
    """TensorRT cannot do what was asked here; the message says why and what to do."""


# -- what this machine has --------------------------------------------------------------
def cuda_device() -> Optional[Dict[str, object]]:
    """Name and compute capability of CUDA device 0 through the driver API (no torch,
    no toolkit needed); None when there is no driver or no device."""
    names = ["nvcuda.dll"] if os.name == "nt" else ["libcuda.so.1", "libcuda.so"]
    for name in names:
        try:
            cuda = ctypes.CDLL(name)
            break
        except OSError:
            continue
    else:
        return None
    count, dev, major, minor = ctypes.c_int(), ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
    if cuda.cuInit(0) != 0 or cuda.cuDeviceGetCount(ctypes.byref(count)) != 0 or count.value < 1:
        return None
    cuda.cuDeviceGet(ctypes.byref(dev), 0)
    cuda.cuDeviceGetAttribute(ctypes.byref(major), 75, dev)  # COMPUTE_CAPABILITY_MAJOR
    cuda.cuDeviceGetAttribute(ctypes.byref(minor), 76, dev)  # COMPUTE_CAPABILITY_MINOR
    buf = ctypes.create_string_buffer(256)
    cuda.cuDeviceGetName(buf, 256, dev)
    return {"name": buf.value.decode(errors="replace"), "compute_capability": f"{major.value}.{minor.value}"}


def _trt():
    import tensorrt  # noqa: PLC0415  (optional: pip install 'stylert[tensorrt]')

    return tensorrt


def unavailable_reason() -> str:
    """'' when TensorRT can build and run engines here, else the reason in one line."""
    try:
        _trt()
    except ImportError:
        return "TensorRT is not installed"
    if cuda_device() is None:
        return "no CUDA GPU is visible"
    return ""


# What to do about each unavailable_reason(), for commands that need TensorRT.
FIX = {"TensorRT is not installed": "pip install 'stylert[tensorrt]' on a machine with an NVIDIA GPU (JetPack ships it)",
       "no CUDA GPU is visible": "TensorRT engines are built on, and for, the GPU that runs them"}


# -- profiles ---------------------------------------------------------------------------
def parse_shapes(text: str) -> Dict[str, Tuple[Shape, Shape, Shape]]:
    """'image=1x3x64x64:1x3x480x640:1x3x1088x1920,features=...' -> {input: (min, opt, max)};
    one shape instead of three fixes that input."""
    out = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        name, sep, dims = item.partition("=")
        shapes = dims.split(":")
        if not sep or len(shapes) not in (1, 3) or not all(re.fullmatch(r"\d+(x\d+)*", s) for s in shapes):
            raise TensorRTError(f"bad --shapes entry {item!r}: write NAME=MINxDIMS:OPTxDIMS:MAXxDIMS, "
                                f"e.g. image=1x3x64x64:1x3x480x640:1x3x1088x1920")
        parsed = [tuple(int(d) for d in s.split("x")) for s in shapes]
        out[name] = tuple(parsed * 3 if len(parsed) == 1 else parsed)
    return out


def profile(graph: Dict, overrides: Optional[Dict[str, Tuple[Shape, Shape, Shape]]] = None) -> Profile:
    """min/opt/max per input of a package graph (its stylert.json entry)."""
    overrides = dict(overrides or {})
    out: Profile = {}
    for i in graph["inputs"]:
        name, shape = i["name"], i["shape"]
        if name in overrides:
            mn, opt, mx = overrides.pop(name)
            if not (len(mn) == len(opt) == len(mx) == len(shape)):
                raise TensorRTError(f"--shapes {name}: {len(shape)} dimensions expected ({shape})")
            for k, d in enumerate(shape):
                if isinstance(d, int) and not mn[k] == opt[k] == mx[k] == d:
                    raise TensorRTError(f"--shapes {name}: dimension {k} is fixed at {d} in this graph")
                if not mn[k] <= opt[k] <= mx[k]:
                    raise TensorRTError(f"--shapes {name}: need min <= opt <= max in every dimension")
            out[name] = (mn, opt, mx)
            continue
        unknown = [d for d in shape if isinstance(d, str) and d not in DEFAULT_RANGES]
        if unknown:
            raise TensorRTError(f"input {name} has dimension {unknown[0]!r} with no default range: "
                                f"give it with --shapes {name}=MIN:OPT:MAX")
        out[name] = tuple(tuple(DEFAULT_RANGES[d][j] if isinstance(d, str) else d for d in shape)
                          for j in range(3))
    if overrides:
        raise TensorRTError(f"--shapes names no input of this graph: {', '.join(overrides)} "
                            f"(inputs: {', '.join(i['name'] for i in graph['inputs'])})")
    return out


# -- precision policy -------------------------------------------------------------------
def precision_plan(precision: str, trt_version: str) -> Dict[str, object]:
    """Which ONNX variant to parse and how: {'onnx': precision of the package graph,
    'strongly_typed': bool, 'flags': [BuilderFlag names]}."""
    if precision not in ("fp32", "fp16", "int8"):
        raise TensorRTError(f"unknown precision {precision!r}: choose fp32, fp16 or int8")
    major = int(trt_version.split(".")[0])
    if major >= 10:  # strongly typed: the graph's own types are the policy
        return {"onnx": precision, "strongly_typed": True, "flags": []}
    if precision == "fp32":
        return {"onnx": "fp32", "strongly_typed": False, "flags": []}
    if precision == "fp16":  # float32 islands kept by constraining those layers
        return {"onnx": "fp32", "strongly_typed": False, "flags": ["FP16", "OBEY_PRECISION_CONSTRAINTS"]}
    return {"onnx": "int8", "strongly_typed": False, "flags": ["INT8", "FP16"]}  # explicit QDQ


# -- cache ------------------------------------------------------------------------------
def cache_dir() -> Path:
    root = os.environ.get("STYLERT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "stylert")
    return Path(root) / "engines"


def cache_key(onnx_sha256: str, prof: Profile, precision: str, trt_version: str,
              compute_capability: str) -> Dict[str, object]:
    """Everything an engine depends on; its sha256 names the cache entry."""
    return {"onnx_sha256": onnx_sha256, "profile": {k: [list(s) for s in v] for k, v in sorted(prof.items())},
            "precision": precision, "tensorrt": trt_version, "compute_capability": compute_capability}


def entry_paths(key: Dict[str, object], graph: str, root: Optional[Path] = None) -> Tuple[Path, Path]:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    base = (root or cache_dir()) / f"{graph}-{key['precision']}-{digest}"
    return base.with_suffix(".engine"), base.with_suffix(".json")


def read_entry(key: Dict[str, object], engine: Path, sidecar: Path) -> Optional[bytes]:
    """The cached engine bytes, or None when absent, stale or corrupt (then it is rebuilt)."""
    try:
        meta = json.loads(sidecar.read_text())
        data = engine.read_bytes()
    except (OSError, ValueError):
        return None
    if meta.get("key") != key or meta.get("sha256") != hashlib.sha256(data).hexdigest():
        return None
    return data


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def locked(path: Path):
    """An exclusive lock on ``path`` (a .lock file), so two processes never build the same
    engine at once; the second waits and then finds it in the cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        if os.name == "nt":
            import msvcrt
            msvcrt.locking(f.fileno(), msvcrt.LK_LOCK, 1)
        else:
            import fcntl
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            if os.name != "nt":
                import fcntl
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def cached_engine(key: Dict[str, object], graph: str, build: Callable[[], bytes],
                  root: Optional[Path] = None) -> Tuple[Path, bool]:
    """(engine path, whether it was built now): the cached entry for ``key``, or ``build()``'s
    bytes written there atomically, under the entry's lock."""
    engine, sidecar = entry_paths(key, graph, root)
    with locked(engine.with_suffix(".lock")):
        if read_entry(key, engine, sidecar) is not None:
            return engine, False
        data = build()
        _atomic_write(engine, data)
        _atomic_write(sidecar, json.dumps({"key": key, "sha256": hashlib.sha256(data).hexdigest()},
                                          indent=1).encode())
        return engine, True


# -- building (needs TensorRT and a GPU) ------------------------------------------------
def build_engine(onnx_path: Path, prof: Profile, plan: Dict[str, object], timing_cache: Path) -> bytes:
    """Parses ``onnx_path`` and builds a serialized engine with one optimization profile."""
    trt = _trt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0
    if plan["strongly_typed"]:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    elif hasattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH"):  # TensorRT 8.x
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise TensorRTError(f"TensorRT could not parse {onnx_path.name}: {errors}")
    config = builder.create_builder_config()
    for flag in plan["flags"]:
        config.set_flag(getattr(trt.BuilderFlag, flag))
    if "OBEY_PRECISION_CONSTRAINTS" in plan["flags"]:
        _keep_normalization_fp32(network, trt)
    p = builder.create_optimization_profile()
    for name, (mn, opt, mx) in prof.items():
        p.set_shape(name, mn, opt, mx)
    config.add_optimization_profile(p)
    cache = config.create_timing_cache(timing_cache.read_bytes() if timing_cache.is_file() else b"")
    config.set_timing_cache(cache, ignore_mismatch=False)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise TensorRTError(f"TensorRT failed to build an engine for {onnx_path.name} (see its log above)")
    timing_cache.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(timing_cache, bytes(cache.serialize()))
    return bytes(serialized)


def _keep_normalization_fp32(network, trt) -> None:
    """Old TensorRT, fp16 by flag: normalisation layers and reductions run in float32."""
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        if layer.type in (trt.LayerType.NORMALIZATION, trt.LayerType.REDUCE):
            layer.precision = trt.float32
            for j in range(layer.num_outputs):
                layer.set_output_type(j, trt.float32)


def build_package(pkg: Package, precision: str, shapes: Optional[str] = None,
                  log: Callable[[str], None] = print) -> List[Path]:
    """Engines for every graph of ``pkg`` (from the cache when there), for ``stylert build``."""
    why = unavailable_reason()
    if why:
        raise TensorRTError(f"{why}: {FIX.get(why, 'see README')}")
    trt = _trt()
    device = cuda_device()
    overrides = parse_shapes(shapes or "")
    inputs = {i["name"] for g in pkg.graphs.values() for i in g["inputs"]}
    if set(overrides) - inputs:
        raise TensorRTError(f"--shapes names no input of this package: {', '.join(set(overrides) - inputs)} "
                            f"(inputs: {', '.join(sorted(inputs))})")
    timing = cache_dir() / f"timing-trt{trt.__version__}-sm{device['compute_capability']}.cache"
    paths = []
    for name, graph in pkg.graphs.items():
        # A graph without the asked variant (adain_full has no int8) gets the next best one.
        have = pkg.precisions(name)
        mine = next(p for p in (precision, "fp16", "fp32") if p in have)
        plan = precision_plan(mine, trt.__version__)
        onnx_path = pkg.onnx(name, plan["onnx"])
        prof = profile(graph, {k: v for k, v in overrides.items() if k in {i["name"] for i in graph["inputs"]}})
        key = cache_key(sha256(onnx_path), prof, mine, trt.__version__, device["compute_capability"])
        path, built = cached_engine(key, name, lambda: build_engine(onnx_path, prof, plan, timing))
        log(f"{name} ({mine}): {'built' if built else 'from cache'} {path}")
        paths.append(path)
    return paths
