"""The portable int8 variant ("int8": TensorRT, ONNX Runtime's CUDA and TensorRT providers) is a
QDQ graph TensorRT's ONNX parser takes, and the exporter refuses one it would not.

What the parser takes is read from onnx-tensorrt's importer (onnxOpImporters.cpp,
QuantDequantLinearHelper: zero points must be all zeros, "TensorRT only supports symmetric
quantization"; no uint8 DequantizeLinear input) and TensorRT's include/NvInfer.h
(IDequantizeLayer: int8/fp8/int4/fp4 inputs, so no int32 quantized bias; per-channel scales
only on weights); stylert.export.convert.tensorrt_qdq_problems models those rules. The CPU
variant ("int8-cpu", ONNX Runtime's QOperator format with uint8 activations) is not for
TensorRT and stays as it is.
"""

import logging

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from stylert import parity  # noqa: E402
from stylert.backends.tensorrt.build import precision_plan  # noqa: E402
from stylert.export import convert, models  # noqa: E402
from stylert.export import package as export_pkg  # noqa: E402


def old_to_int8(src, dst, graph, operators=False):
    """to_int8 as it was before symmetric QDQ (commit 638f44f): int8 activations quantized
    asymmetrically (ActivationSymmetric False: non-zero zero points), ORT's default int32
    quantized biases, every op type quantized. The CPU variant is unchanged."""
    if operators:
        return convert.to_int8(src, dst, graph, operators=True)
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    logging.getLogger("root").setLevel(logging.ERROR)
    quantize_static(str(src), str(dst), convert._Feeds(list(graph.inputs), graph.calibration),
                    quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QInt8,
                    weight_type=QuantType.QInt8, nodes_to_exclude=convert._kept_fp32(onnx.load(str(src))),
                    calibrate_method=CalibrationMethod.MinMax,
                    extra_options={"ActivationSymmetric": False, "WeightSymmetric": True})


def _int8_files(packages):
    """(kind, graph, path of the int8 file TensorRT would build) for every int8 graph."""
    onnx_variant = precision_plan("int8", "10.13.0")["onnx"]
    for kind, pkg in packages.items():
        for g in pkg.graphs:
            if "int8" in pkg.precisions(g):
                yield kind, g, pkg.onnx(g, onnx_variant)


def test_exported_int8_graphs_are_symmetric_qdq_that_tensorrt_parses(packages):
    files = list(_int8_files(packages))
    assert {(k, g) for k, g, _ in files} == {("ae", "encoder"), ("ae", "decoder"), ("adain", "encoder"),
                                             ("adain", "decoder"), ("stylegan", "mapping"),
                                             ("stylegan", "synthesis")}
    for kind, g, path in files:
        model = onnx.load(str(path))
        assert convert.tensorrt_qdq_problems(model) == [], (kind, g)
        inits = {t.name: t for t in model.graph.initializer}
        qdq = [n for n in model.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
        assert qdq, (kind, g)
        for n in qdq:  # int8, zero points 0, nothing dequantized from int32 (the biases stay float)
            zp = inits[n.input[2]]
            assert zp.data_type == TensorProto.INT8 and not numpy_helper.to_array(zp).any(), (kind, g, n.name)
            assert inits.get(n.input[0]) is None or inits[n.input[0]].data_type == TensorProto.INT8
        weighted = [n for n in model.graph.node if n.op_type in convert.QDQ_OPS]
        for n in weighted:  # quantized inputs (where not kept float32), float bias
            if len(n.input) > 2 and n.input[2] in inits:
                assert inits[n.input[2]].data_type == TensorProto.FLOAT, (kind, g, n.name)
        assert sum(n.input[1].endswith("_DequantizeLinear_Output") for n in weighted) > 0, (kind, g)


def test_int8_variants_still_pass_the_precision_gate_on_onnx_runtime_cpu(packages):
    # The export's own parity report: every variant run by ONNX Runtime's CPU provider against
    # PyTorch fp32 on the saved inputs (export/package.py), int8 gated at MIN_PSNR["int8"].
    for kind, pkg in packages.items():
        rows = [r for r in pkg.meta["parity"]["results"] if r["precision"] in ("int8", "int8-cpu")]
        assert rows, kind
        for r in rows:
            assert r["passed"] and r["psnr"] >= parity.MIN_PSNR["int8"], (kind, parity.table(rows))
        # the CPU variant is left as it was: QOperator with uint8 activations (not for TensorRT)
        cpu = onnx.load(str(pkg.onnx(rows[0]["graph"], "int8-cpu")))
        assert any("uint8" in p for p in convert.tensorrt_qdq_problems(cpu))


def test_checker_flags_what_the_old_settings_wrote(packages, tmp_path):
    graph = models.family("ae").graphs(models.load("ae"))[1]  # the decoder, with its calibration feeds
    src = packages["ae"].onnx("decoder")
    old_to_int8(src, tmp_path / "old.onnx", graph)
    problems = convert.tensorrt_qdq_problems(onnx.load(str(tmp_path / "old.onnx")))
    assert any("not all zeros" in p for p in problems), problems
    assert any("dequantizes an int32 tensor" in p for p in problems), problems
    convert.to_int8(src, tmp_path / "new.onnx", graph)
    assert convert.tensorrt_qdq_problems(onnx.load(str(tmp_path / "new.onnx"))) == []


def test_export_refuses_an_int8_variant_tensorrt_cannot_parse(tmp_path, monkeypatch):
    monkeypatch.setattr(export_pkg, "to_int8", old_to_int8)
    with pytest.raises(export_pkg.ExportError) as e:
        export_pkg.export("ae", tmp_path / "pkg", precisions=("fp32", "int8"), torch_weights=False, progress=False)
    err = str(e.value)
    assert "encoder int8: TensorRT's ONNX parser would refuse this QDQ graph" in err and len(err.splitlines()) == 1
    assert "dequantizes an int32 tensor" in err and "more" in err
    assert "no package was written" in err and list(tmp_path.iterdir()) == []


# -- the importer's rules, one small graph each --------------------------------------------
X = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])
Y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)


def _graph(nodes, inits):
    g = helper.make_graph(nodes, "g", [X], [Y], [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])


def _activation(scale=0.1, zp=np.int8(0), axis=None):
    """x -> QuantizeLinear -> DequantizeLinear -> y."""
    extra = {"axis": axis} if axis is not None else {}
    inputs = ["x", "s"] + (["z"] if zp is not None else [])
    nodes = [helper.make_node("QuantizeLinear", inputs, ["q"], name="q", **extra),
             helper.make_node("DequantizeLinear", ["q", *inputs[1:]], ["y"], name="dq", **extra)]
    inits = {"s": np.asarray(scale, np.float32)}
    if zp is not None:
        inits["z"] = zp
    return _graph(nodes, inits)


def _weight(scale, w=None, zp=None, axis=0, dtype=np.int8):
    """A quantized weight: int8 initializer -> DequantizeLinear (per channel) -> Conv(x, w) -> y."""
    w = np.ones((4, 4, 3, 3), dtype) if w is None else w
    scale = np.asarray(scale, np.float32)
    zp = np.zeros(scale.shape, dtype) if zp is None else zp
    nodes = [helper.make_node("DequantizeLinear", ["w", "ws", "wz"], ["wf"], name="wdq", axis=axis),
             helper.make_node("Conv", ["x", "wf"], ["y"], name="conv")]
    return _graph(nodes, {"w": w, "ws": scale, "wz": zp})


def _problems(model):
    return "\n".join(convert.tensorrt_qdq_problems(model))


def test_checker_models_the_importer_rules():
    assert _problems(_activation()) == ""
    assert _problems(_weight([0.1, 0.2, 0.3, 0.4])) == ""
    # zero points must be all zeros (shiftIsAllZeros)
    assert "not all zeros" in _problems(_activation(zp=np.int8(3)))
    assert "not all zeros" in _problems(_weight([0.1] * 4, zp=np.array([0, 1, 0, 0], np.int8)))
    # int8 (or fp8) only: uint8, and ONNX's uint8 default of a QuantizeLinear without zero point
    assert "uint8 quantization" in _problems(_activation(zp=np.uint8(0)))
    assert "no zero point" in _problems(_activation(zp=None))
    # an int32 DequantizeLinear input (a quantized bias) is refused
    bias = _graph([helper.make_node("DequantizeLinear", ["b", "bs", "bz"], ["bf"], name="bdq"),
                   helper.make_node("Add", ["x", "bf"], ["y"], name="add")],
                  {"b": np.arange(4, dtype=np.int32).reshape(1, 4, 1, 1), "bs": np.float32(0.01),
                   "bz": np.int32(0)})
    assert "dequantizes an int32 tensor" in _problems(bias)
    # scales positive and finite
    assert "positive and finite" in _problems(_activation(scale=-0.1))
    assert "positive and finite" in _problems(_activation(scale=0.0))
    assert "positive and finite" in _problems(_weight([0.1, np.inf, 0.1, 0.1]))
    # per-axis: a valid axis whose size is the number of scales, on weights only
    assert "out of range" in _problems(_weight([0.1] * 4, axis=4))
    assert "3 scales for axis 0 of size 4" in _problems(_weight([0.1] * 3))
    assert "per-channel quantization of an activation" in _problems(
        _activation(scale=[0.1] * 4, zp=np.zeros(4, np.int8), axis=1))
