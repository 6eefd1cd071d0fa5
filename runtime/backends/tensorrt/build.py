"""Building TensorRT engines for a model package: profiles, precision policy, the build.

``build_engine`` needs TensorRT and a GPU: no TensorRT can be installed where stylert is
developed, so it is written from the TensorRT Python API documentation and has not been
run by the team yet; the rest is tested without it.

* Profile: one optimization profile per graph, min/opt/max per input, derived from the
  package's symbolic shapes (ranges from the model family, opt = a VGA camera frame) and
  overridable per input.
* Precision policy: TensorRT >= 10 builds the package's fp16/int8 ONNX strongly typed, so
  the float32 islands and the QDQ int8 scales in the graph are what runs. Older TensorRT
  (JetPack 5) builds the fp32 graph with builder flags for fp16, and the int8 QDQ graph with
  the INT8 flag alone (explicit quantization: what has no Q/DQ stays float32, as the package
  holds it and as the export's parity gate measured it).
* The int8 graph is what onnx-tensorrt's Q/DQ importer takes: symmetric int8, float biases
  (stylert.export.convert.tensorrt_qdq_problems checks it at export). Packages exported
  before that hold asymmetric int8 (non-zero zero points, int32 bias DequantizeLinear) that
  the parser refuses: the TensorRTError says so, and ``auto`` skips the backend with it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from ... import families
from ...errors import TensorRTError
from ...folders import atomic_write
from ...package import Package, sha256
from ..cuda import tf32_allowed
from . import FIX, _trt, cuda_device, unavailable_reason
from .cache import Profile, Shape, cache_dir, cache_key, cached_engine

# -- profiles ---------------------------------------------------------------------------
def parse_shapes(text: str) -> Dict[str, Tuple[Shape, Shape, Shape]]:
    """'frame=1x64x64x3:1x480x640x3:1x1088x1920x3,features=...' -> {input: (min, opt, max)};
    one shape instead of three fixes that input."""
    out = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        name, sep, dims = item.partition("=")
        shapes = dims.split(":")
        if not sep or len(shapes) not in (1, 3) or not all(re.fullmatch(r"\d+(x\d+)*", s) for s in shapes):
            raise TensorRTError(f"bad --shapes entry {item!r}: write NAME=MINxDIMS:OPTxDIMS:MAXxDIMS, "
                                f"e.g. frame=1x64x64x3:1x480x640x3:1x1088x1920x3")
        parsed = [tuple(int(d) for d in s.split("x")) for s in shapes]
        out[name] = tuple(parsed * 3 if len(parsed) == 1 else parsed)
    return out


def profile(graph: Dict, overrides: Optional[Dict[str, Tuple[Shape, Shape, Shape]]] = None,
            ranges: Optional[Dict[str, Tuple[int, int, int]]] = None) -> Profile:
    """min/opt/max per input of a package graph (its stylert.json entry); ``ranges``: min/opt/max
    per symbolic dimension (default: the common ones, batch, height and width)."""
    ranges = ranges or families.COMMON_RANGES
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
        unknown = [d for d in shape if isinstance(d, str) and d not in ranges]
        if unknown:
            raise TensorRTError(f"input {name} has dimension {unknown[0]!r} with no default range: "
                                f"give it with --shapes {name}=MIN:OPT:MAX")
        out[name] = tuple(tuple(ranges[d][j] if isinstance(d, str) else d for d in shape)
                          for j in range(3))
    if overrides:
        raise TensorRTError(f"--shapes names no input of this graph: {', '.join(overrides)} "
                            f"(inputs: {', '.join(i['name'] for i in graph['inputs'])})")
    return out


# -- precision policy -------------------------------------------------------------------
def precision_plan(precision: str, trt_version: str) -> Dict[str, object]:
    """Which ONNX variant to parse and how: {'onnx': precision of the package graph,
    'strongly_typed': bool, 'flags': [BuilderFlag names], 'tf32': whether TF32 math stays on}."""
    if precision not in ("fp32", "fp16", "int8"):
        raise TensorRTError(f"unknown precision {precision!r}: choose fp32, fp16 or int8")
    # BuilderFlag.TF32 is on by default (NvInfer.h) also in strongly typed networks: off for fp32
    return {**_plan(precision, trt_version), "tf32": tf32_allowed(precision)}


def _plan(precision: str, trt_version: str) -> Dict[str, object]:
    major = int(trt_version.split(".")[0])
    if major >= 10:  # strongly typed: the graph's own types are the policy
        return {"onnx": precision, "strongly_typed": True, "flags": []}
    if precision == "fp32":
        return {"onnx": "fp32", "strongly_typed": False, "flags": []}
    if precision == "fp16":  # float32 islands kept by constraining those layers
        return {"onnx": "fp32", "strongly_typed": False, "flags": ["FP16", "OBEY_PRECISION_CONSTRAINTS"]}
    # explicit QDQ: int8 where the graph quantizes, float32 elsewhere (FP16 would also turn
    # the graph's float32 islands, normalisation included, to fp16: not the gated graph)
    return {"onnx": "int8", "strongly_typed": False, "flags": ["INT8"]}


# -- building (needs TensorRT and a GPU) ------------------------------------------------
# What to do when TensorRT refuses a package's int8 graph (an asymmetric one from an older export).
INT8_HINT = " (an int8 graph exported before symmetric QDQ? re-export the package, or run --precision fp16)"


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
        errors = "; ".join(" ".join(str(parser.get_error(i)).split()) for i in range(parser.num_errors))
        hint = INT8_HINT if ".int8." in onnx_path.name else ""
        raise TensorRTError(f"TensorRT could not parse {onnx_path.name}{hint}: {errors[:400]}")
    config = builder.create_builder_config()
    for flag in plan["flags"]:
        config.set_flag(getattr(trt.BuilderFlag, flag))
    if not plan["tf32"]:
        config.clear_flag(trt.BuilderFlag.TF32)
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
    atomic_write(timing_cache, bytes(cache.serialize()))
    return bytes(serialized)


def _keep_normalization_fp32(network, trt) -> None:
    """Old TensorRT, fp16 by flag: normalisation layers and reductions run in float32."""
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        if layer.type in (trt.LayerType.NORMALIZATION, trt.LayerType.REDUCE):
            layer.precision = trt.float32
            for j in range(layer.num_outputs):
                layer.set_output_type(j, trt.float32)


def engine_for(pkg: Package, name: str, precision: str, overrides: Optional[Dict] = None,
               log: Callable[[str], None] = print) -> Tuple[Path, str]:
    """(engine path, the precision it runs) for one graph: from the cache, or built now
    (minutes, once per GPU and TensorRT version, said on a progress line)."""
    trt = _trt()
    device = cuda_device()
    graph = pkg.graphs[name]
    # A graph without the asked variant (adain_full has no int8) gets the next best one.
    have = pkg.precisions(name)
    mine = next(p for p in (precision, "fp16", "fp32") if p in have)
    plan = precision_plan(mine, trt.__version__)
    onnx_path = pkg.onnx(name, plan["onnx"])
    mine_inputs = {i["name"] for i in graph["inputs"]}
    prof = profile(graph, {k: v for k, v in (overrides or {}).items() if k in mine_inputs}, families.get(pkg.kind).ranges)
    key = cache_key(sha256(onnx_path), prof, mine, trt.__version__, device["compute_capability"])
    timing = cache_dir() / f"timing-trt{trt.__version__}-sm{device['compute_capability']}.cache"

    def build() -> bytes:
        log(f"building the TensorRT engine of {name} ({mine}) for {device['name']}: once per GPU and TensorRT "
            f"version, this takes a few minutes")
        return build_engine(onnx_path, prof, plan, timing)

    path, built = cached_engine(key, name, build)
    log(f"{name} ({mine}): {'built' if built else 'from cache'} {path}")
    return path, mine


def build_package(pkg: Package, precision: str, shapes: Optional[str] = None,
                  log: Callable[[str], None] = print) -> List[Path]:
    """Engines for every graph of ``pkg`` (from the cache when there), for ``stylert build``."""
    why = unavailable_reason()
    if why:
        raise TensorRTError(f"{why}: {FIX.get(why, 'see README')}")
    overrides = parse_shapes(shapes or "")
    inputs = {i["name"] for g in pkg.graphs.values() for i in g["inputs"]}
    if set(overrides) - inputs:
        raise TensorRTError(f"--shapes names no input of this package: {', '.join(set(overrides) - inputs)} "
                            f"(inputs: {', '.join(sorted(inputs))})")
    return [engine_for(pkg, name, precision, overrides, log)[0] for name in pkg.graphs]
