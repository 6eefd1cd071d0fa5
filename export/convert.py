"""Graphs to ONNX files: the fp32 export, and its fp16 and int8 variants.

* fp32: torch's dynamo exporter (the legacy one is deprecated and fails on larger
  StyleGANs), opset OPSET, symbolic dimensions from graphs.Graph.
* fp16: float32 inputs and outputs kept; every node under a module named in
  graphs.KEEP_FP32 (AdaIN statistics, instance norm) stays float32 behind explicit
  Casts, so precision is spelled out in the graph (TensorRT 10+ builds it strongly typed).
* int8: ONNX Runtime static quantization, QDQ format, per-channel weights, calibrated on
  the graph's calibration feeds; the same KEEP_FP32 nodes stay unquantized.
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


def to_int8(src: Path, dst: Path, graph: Graph, operators: bool = False) -> None:
    """Static int8 quantization (per-channel weights) calibrated on ``graph.calibration``:
    QDQ (portable: TensorRT, CUDA), or with ``operators`` ONNX Runtime's QLinear operators
    (u8 activations: what its CPU kernels run fastest)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    model = onnx.load(str(src))
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        logging.getLogger("root").setLevel(logging.ERROR)
        quantize_static(
            str(src), str(dst), _Feeds(list(graph.inputs), graph.calibration),
            quant_format=QuantFormat.QOperator if operators else QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QUInt8 if operators else QuantType.QInt8, weight_type=QuantType.QInt8,
            nodes_to_exclude=_kept_fp32(model), calibrate_method=CalibrationMethod.MinMax,
            extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
        )
    q = onnx.load(str(dst))
    if q.ir_version > IR_VERSION:
        q.ir_version = IR_VERSION
        onnx.save(q, str(dst))
