"""Graphs to ONNX files: the fp32 export, and its fp16 and int8 variants.

* fp32: torch's dynamo exporter (the legacy one is deprecated and fails on larger
  StyleGANs), opset OPSET, symbolic dimensions from graphs.Graph.
* fp16: float32 inputs and outputs kept; every node under a module named in
  graphs.KEEP_FP32 (AdaIN statistics, instance norm) stays float32 behind explicit
  Casts, so precision is spelled out in the graph (TensorRT 10+ builds it strongly typed).
* int8: ONNX Runtime static quantization, calibrated on the graph's calibration feeds; the
  same KEEP_FP32 nodes stay unquantized. The portable variant ("int8": TensorRT, ORT's
  CUDA and TensorRT providers) is QDQ as TensorRT imports it: symmetric int8 activations
  and per-channel weights (zero points 0), float biases; ``tensorrt_qdq_problems`` checks
  that. The CPU variant ("int8-cpu") is ORT's QOperator format with uint8 activations.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import warnings
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np
import onnx
import torch

from stylert.errors import ExportError

from .graphs import KEEP_FP32, Graph

OPSET = 18
IR_VERSION = 10  # onnxruntime 1.2x reads up to 10 or 11; onnx 1.19+ writes newer by default


def signature(model: onnx.ModelProto) -> Dict[str, List[Dict]]:
    """Inputs and outputs of a graph: name, shape (symbolic dimensions as their names), dtype."""

    def describe(v):
        t = v.type.tensor_type
        shape = [d.dim_param if d.dim_param else d.dim_value for d in t.shape.dim]
        return {"name": v.name, "shape": shape, "dtype": onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name}

    return {"inputs": [describe(v) for v in model.graph.input], "outputs": [describe(v) for v in model.graph.output]}


def to_onnx(graph: Graph, path: Path) -> None:
    """Exports ``graph.module`` on its sample inputs with its symbolic dimensions."""
    dims: Dict[str, torch.export.Dim] = {}

    def dim(name: str) -> torch.export.Dim:
        if name not in dims:
            dims[name] = torch.export.Dim(name, min=graph.dim_min.get(name, 1), max=16384)
        return dims[name]

    dynamic = [{i: dim(d) for i, d in enumerate(shape) if isinstance(d, str)} for shape in graph.inputs.values()]
    args = tuple(torch.from_numpy(a) for a in graph.sample)
    if graph.varargs:  # forward(first, *rest): the exporter wants the shapes nested alike
        dynamic = (dynamic[0], tuple(dynamic[1:]))
    log = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        warnings.simplefilter("ignore")
        logging.getLogger("torch").setLevel(logging.ERROR)
        try:
            program = torch.onnx.export(
                graph.module.eval(), args, dynamo=True, opset_version=OPSET,
                input_names=list(graph.inputs), output_names=[graph.output],
                dynamic_shapes=tuple(dynamic) if isinstance(dynamic, list) else dynamic,
            )
        except Exception as e:  # the exporter's own report is long: keep its summary line
            raise ExportError(f"{graph.name}: the ONNX exporter failed ({_summary(e)})") from e
    model = program.model_proto
    model.ir_version = min(model.ir_version, IR_VERSION)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _summary(e: Exception) -> str:
    """The line under the exporter's "## Exception summary" heading, else the first line."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", x).strip() for x in str(e).splitlines()]
    lines = [x for x in lines if x]
    for i, line in enumerate(lines[:-1]):
        if line.startswith("## Exception summary"):
            return lines[i + 1]
    return lines[0] if lines else type(e).__name__


def _kept_fp32(model: onnx.ModelProto) -> List[str]:
    """Names of the nodes that come from a KEEP_FP32 module (from the exporter's metadata)."""
    out = []
    for node in model.graph.node:
        meta = {p.key: p.value for p in node.metadata_props}
        if any(cls in meta.get("pkg.torch.onnx.class_hierarchy", "") for cls in KEEP_FP32):
            out.append(node.name)
    return out


# Inputs that ONNX requires in float32 whatever the data's type (Resize's roi and scales).
FP32_INPUTS = {("Resize", 1), ("Resize", 2)}


def to_fp16(src: Path, dst: Path) -> int:
    """fp16 copy of ``src`` with float32 graph inputs and outputs; nodes from KEEP_FP32
    modules stay float32. Every change of precision is an explicit Cast (one per tensor and
    direction). Returns how many nodes were kept float32."""
    FLOAT, HALF = onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16
    model = onnx.shape_inference.infer_shapes(onnx.load(str(src)))
    g = model.graph
    keep = set(_kept_fp32(model))
    dtype = {v.name: v.type.tensor_type.elem_type for v in [*g.input, *g.output, *g.value_info]}
    inits = {t.name: t for t in g.initializer}
    dtype.update({name: t.data_type for name, t in inits.items()})
    outputs = {o.name for o in g.output}
    casts: Dict[tuple, str] = {}
    new_nodes: List[onnx.NodeProto] = []

    def as_type(name: str, want: int) -> str:
        """``name`` as a tensor of type ``want`` (a converted initializer or a Cast)."""
        if dtype.get(name) != FLOAT and dtype.get(name) != HALF or dtype[name] == want:
            return name
        key = (name, want)
        if key not in casts:
            casts[key] = f"{name}_as_{'fp16' if want == HALF else 'fp32'}"
            if name in inits and want == HALF:
                arr = np.clip(onnx.numpy_helper.to_array(inits[name]), -65504, 65504).astype(np.float16)
                g.initializer.append(onnx.numpy_helper.from_array(arr, casts[key]))
            else:
                new_nodes.append(onnx.helper.make_node("Cast", [name], [casts[key]], to=want,
                                                       name=f"cast_{casts[key]}"))
            dtype[casts[key]] = want
        return casts[key]

    for node in list(g.node):
        half = node.name not in keep
        for i, name in enumerate(node.input):
            if name:
                want = FLOAT if not half or (node.op_type, i) in FP32_INPUTS else HALF
                node.input[i] = as_type(name, want)
        if not half:
            continue
        for attr in node.attribute:  # float constants made inside the graph
            if node.op_type == "Cast" and attr.name == "to" and attr.i == FLOAT:
                attr.i = HALF
            elif attr.type == onnx.AttributeProto.TENSOR and attr.t.data_type == FLOAT:
                arr = np.clip(onnx.numpy_helper.to_array(attr.t), -65504, 65504).astype(np.float16)
                attr.t.CopyFrom(onnx.numpy_helper.from_array(arr, attr.t.name))
        for j, name in enumerate(node.output):
            if dtype.get(name) == FLOAT:
                dtype[name] = HALF
                if name in outputs:  # graph outputs stay float32: cast back at the end
                    node.output[j] = f"{name}_fp16"
                    dtype[node.output[j]] = HALF
                    new_nodes.append(onnx.helper.make_node("Cast", [node.output[j]], [name], to=FLOAT,
                                                           name=f"cast_{name}_out"))
                    dtype[name] = FLOAT
    g.node.extend(new_nodes)
    used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
    live = [t for t in g.initializer if t.name in used]  # fp32 originals no node reads any more
    del g.initializer[:]
    g.initializer.extend(live)
    del g.value_info[:]
    _toposort(g)
    model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    model.ir_version = min(model.ir_version, IR_VERSION)
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))
    return len(keep)


def _toposort(graph: onnx.GraphProto) -> None:
    """Reorders ``graph.node`` so every node comes after the producers of its inputs."""
    ready = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        rest = []
        for node in pending:
            if all(i in ready for i in node.input):
                ordered.append(node)
                ready.update(node.output)
            else:
                rest.append(node)
        if len(rest) == len(pending):
            raise ExportError(f"graph has a cycle or an undefined input near node {rest[0].name}")
        pending = rest
    nodes = [onnx.NodeProto.FromString(n.SerializeToString()) for n in ordered]
    del graph.node[:]
    graph.node.extend(nodes)


class _Feeds:
    """onnxruntime.quantization's CalibrationDataReader protocol over a list of feeds."""

    def __init__(self, names: Sequence[str], feeds: List[List[np.ndarray]]):
        self._it = iter([dict(zip(names, f)) for f in feeds])

    def get_next(self):
        return next(self._it, None)

    def rewind(self):  # some versions call it
        pass


# The portable int8 variant, as TensorRT's ONNX importer takes it (see tensorrt_qdq_problems):
# onnx-tensorrt takes only zero points of 0 (symmetric) and int8 (or fp8) Q/DQ, and TensorRT's
# IDequantizeLayer no int32 input, so ORT's quantized biases (int32 + DequantizeLinear) are out.
# ORT's quantize_static docstring (onnxruntime/quantization/quantize.py, 1.31) says it: "use
# symmetric QuantType.QInt8 for both activations and weights when targeting GPU/TRT". Its
# extra_options: ActivationSymmetric (default False) and WeightSymmetric give int8 zero points of
# 0 (quant_utils.compute_scale_zp: round((qmin + qmax) / 2) = 0 for [-127, 127]); QuantizeBias
# False leaves biases float (qdq_quantizer.py: no bias DequantizeLinear). Placement as TensorRT's
# explicit-quantization guide recommends (Q/DQ on the inputs of weighted ops, not on their
# outputs; qdq_quantizer.py's OpTypesToExcludeOutputQuantization comment says the same for TRT):
# only QDQ_OPS are quantized, their outputs stay float. Measured on the bundled defaults this
# placement gains 0.6 to 5.7 dB over quantizing every op symmetrically (the ae decoder's Sigmoid
# input and the StyleGAN synthesis' elementwise ops were the losses).
QDQ_OPS = ["Conv", "ConvTranspose", "Gemm", "MatMul"]
QDQ_OPTIONS = {"ActivationSymmetric": True, "WeightSymmetric": True, "QuantizeBias": False,
               "OpTypesToExcludeOutputQuantization": list(QDQ_OPS)}
# The CPU variant (QOperator, uint8 activations): asymmetric activations use uint8's full range.
QOPERATOR_OPTIONS = {"ActivationSymmetric": False, "WeightSymmetric": True}


def to_int8(src: Path, dst: Path, graph: Graph, operators: bool = False) -> None:
    """Static int8 quantization (per-channel weights) calibrated on ``graph.calibration``:
    QDQ with symmetric int8 activations and weights and float biases on the inputs of the
    weighted ops (portable: TensorRT, ORT's CUDA/TensorRT providers), or with ``operators``
    ONNX Runtime's QLinear operators (u8 activations: what its CPU kernels run fastest)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    model = onnx.load(str(src))
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        logging.getLogger("root").setLevel(logging.ERROR)
        quantize_static(
            str(src), str(dst), _Feeds(list(graph.inputs), graph.calibration),
            quant_format=QuantFormat.QOperator if operators else QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QUInt8 if operators else QuantType.QInt8, weight_type=QuantType.QInt8,
            op_types_to_quantize=None if operators else list(QDQ_OPS),
            nodes_to_exclude=_kept_fp32(model), calibrate_method=CalibrationMethod.MinMax,
            extra_options=dict(QOPERATOR_OPTIONS if operators else QDQ_OPTIONS),
        )
    q = onnx.load(str(dst))
    if q.ir_version > IR_VERSION:
        q.ir_version = IR_VERSION
        onnx.save(q, str(dst))


# -- what TensorRT's ONNX parser accepts of a QDQ graph -----------------------------------
_QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")
_TRT_Q_TYPES = {onnx.TensorProto.INT8, onnx.TensorProto.FLOAT8E4M3FN}


def tensorrt_qdq_problems(model: onnx.ModelProto) -> List[str]:
    """Why TensorRT's ONNX parser would refuse the QuantizeLinear/DequantizeLinear nodes of
    ``model`` (one line each; [] when none). Models onnx-tensorrt's importer,
    ``QuantDequantLinearHelper`` in onnxOpImporters.cpp (onnx/onnx-tensorrt, TensorRT 10.x, with
    the DLA-only flag kENABLE_UINT8_AND_ASYMMETRIC_QUANTIZATION_DLA off, as stylert builds), and
    the IDequantizeLayer contract in TensorRT's include/NvInfer.h:

    * zero points (input 2) must be constant and all zeros: ``shiftIsAllZeros`` ("TensorRT only
      supports symmetric quantization"; 10.x later: "Non-zero zero point is not supported");
    * the quantized type is int8 (or fp8): a uint8 DequantizeLinear input is refused
      (``checkNotInvalidType(inputs.at(0), {"UINT8"})``); a uint8 zero point, or a
      QuantizeLinear with neither zero point nor output_dtype (ONNX's default: uint8), is
      imported as int8, another graph than ONNX Runtime runs;
    * DequantizeLinear of an int32 tensor (ORT's quantized bias) is refused: IDequantizeLayer
      inputs are kINT8, kFP8, kINT4 or kFP4 (NvInfer.h; docs/operators.md: "DequantizeLinear |
      INT8, FP8, INT4");
    * constant scales must be positive ("Scale coefficients must all be positive"; finite asked
      here too: an inf or NaN scale is a broken calibration);
    * a per-axis scale (1-D, more than one value) needs an axis in range whose dimension equals
      the number of scales ("The number of scales is not equal to the number of output
      channels"), and only weights may be per-axis (NvInfer.h: "Activations cannot be quantized
      per-channel"): the quantized tensor must come from an initializer.
    """
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    for n in g.node:  # Constant nodes are initializers to the importer too
        if n.op_type == "Constant" and len(n.attribute) == 1 and n.attribute[0].name == "value":
            inits[n.output[0]] = n.attribute[0].t
    producer = {o: n for n in g.node for o in n.output}
    shapes: Dict[str, List] = {name: list(t.dims) for name, t in inits.items()}
    types: Dict[str, int] = {name: t.data_type for name, t in inits.items()}
    try:
        inferred = onnx.shape_inference.infer_shapes(model).graph
    except Exception:  # shapes and types of activations only sharpen the checks
        inferred = g
    for v in [*inferred.input, *inferred.value_info, *inferred.output]:
        t = v.type.tensor_type
        types.setdefault(v.name, t.elem_type)
        if t.HasField("shape"):
            shapes.setdefault(v.name, [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim])

    def constant(name: str) -> bool:
        """From an initializer, through Q/DQ, Identity and Cast (the importer's constant roots)."""
        while name not in inits:
            n = producer.get(name)
            if n is None or n.op_type not in (*_QDQ_OPS, "Identity", "Cast"):
                return False
            name = n.input[0]
        return True

    out: List[str] = []
    for node in g.node:
        if node.op_type not in _QDQ_OPS:
            continue
        where = f"{node.op_type} {node.name or node.output[0]}"
        x = node.input[0]
        scale = node.input[1] if len(node.input) > 1 else ""
        zp = node.input[2] if len(node.input) > 2 else ""
        uint8 = types.get(zp) == onnx.TensorProto.UINT8 if zp else False
        if node.op_type == "DequantizeLinear":
            t = types.get(x)
            if t == onnx.TensorProto.INT32:
                out.append(f"{where}: dequantizes an int32 tensor ({x}: a quantized bias): TensorRT dequantizes "
                           f"int8/fp8/int4 only; keep biases float (QuantizeBias False)")
            elif t == onnx.TensorProto.UINT8:
                uint8 = True
        if uint8:
            out.append(f"{where}: uint8 quantization: TensorRT quantizes to int8 or fp8 only")
        if zp:
            if zp not in inits:
                out.append(f"{where}: zero point {zp} is computed in the graph; TensorRT needs a constant 0")
            elif np.any(onnx.numpy_helper.to_array(inits[zp]).astype(np.float64) != 0):
                out.append(f"{where}: zero point {zp} is not all zeros: TensorRT supports symmetric "
                           f"quantization only (zero points 0)")
        elif node.op_type == "QuantizeLinear" and not any(a.name == "output_dtype" for a in node.attribute):
            out.append(f"{where}: no zero point and no output_dtype: ONNX quantizes to uint8, TensorRT to int8")
        if not scale:
            out.append(f"{where}: no scale")
            continue
        if scale not in inits:
            continue  # a computed scale: TensorRT takes it as a tensor; nothing to read here
        s = onnx.numpy_helper.to_array(inits[scale]).astype(np.float64)
        if s.size == 0 or not np.all(np.isfinite(s)) or not np.all(s > 0):
            low = f"{s.min():g}" if s.size else "none"
            out.append(f"{where}: scale {scale} must be positive and finite (smallest {low})")
        if zp in inits and inits[zp].dims != inits[scale].dims and \
                int(np.prod(inits[zp].dims)) != s.size:
            out.append(f"{where}: scale and zero point sizes differ ({s.size} and {int(np.prod(inits[zp].dims))})")
        if s.size > 1:
            if s.ndim != 1:
                out.append(f"{where}: a {s.ndim}-D scale (block quantization) is not int8 per-channel")
                continue
            axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
            shape = shapes.get(x)
            if shape:
                rank = len(shape)
                if not -rank <= axis < rank:
                    out.append(f"{where}: axis {axis} is out of range for its rank-{rank} input")
                elif shape[axis] not in (None, 0, s.size):
                    out.append(f"{where}: {s.size} scales for axis {axis} of size {shape[axis]}")
            if not constant(x):
                out.append(f"{where}: per-channel quantization of an activation ({x}): TensorRT quantizes "
                           f"only weights per channel")
    return out
