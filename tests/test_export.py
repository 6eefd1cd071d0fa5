"""Model packages: export of the bundled defaults and of the reference layouts, the parity
gate, precision variants, `stylert verify`, and the bad inputs."""

import json
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from stylert import cli, parity  # noqa: E402
from stylert import package as pkgmod  # noqa: E402
from stylert.errors import StylertError  # noqa: E402
from stylert.export import package as export_pkg  # noqa: E402
from stylert.export.models import DEFAULTS, AdaINNet, load, load_reference  # noqa: E402
from stylert.backends.onnxrt import session  # noqa: E402
from stylert.apps.verify import verify  # noqa: E402

from layouts import DECODER_CONVS, VGG_CONVS, official, port_state  # noqa: E402
from helpers import cli_error as _cli_error, no_gpu  # noqa: E402


def _types(model):
    """Tensor name -> ONNX element type (after shape inference)."""
    m = onnx.shape_inference.infer_shapes(model)
    g = m.graph
    out = {v.name: v.type.tensor_type.elem_type for v in [*g.input, *g.output, *g.value_info]}
    out.update({t.name: t.data_type for t in g.initializer})
    return m, out


def test_defaults_pass_the_parity_gate_in_every_precision(packages):
    expect = {"ae": {"encoder": ["fp32", "fp16", "int8"], "decoder": ["fp32", "fp16", "int8"]},
              "adain": {"encoder": ["fp32", "fp16", "int8"], "decoder": ["fp32", "fp16", "int8"]},
              "stylegan": {"mapping": ["fp32", "fp16", "int8"], "synthesis": ["fp32", "fp16", "int8"]}}
    for kind, pkg in packages.items():
        assert {g: pkg.precisions(g) for g in pkg.graphs} == expect[kind]
        results = pkg.meta["parity"]["results"]
        # every int8 graph also has its CPU-tuned variant, gated the same way
        assert len(results) == sum(len(v) + ("int8" in v) for v in expect[kind].values())
        assert {r["precision"] for r in results} == {"fp32", "fp16", "int8", "int8-cpu"}
        assert all(r["passed"] for r in results), parity.table(results)
        for r in results:
            if r["precision"] == "fp32":  # uint8 frames: one level of rounding (step 1)
                assert r["max_abs"] <= 1e-4 * r["range"] + r["step"]


def test_manifest_describes_the_graphs(packages):
    adain = packages["adain"].meta
    enc, dec = adain["graphs"]["encoder"], adain["graphs"]["decoder"]
    # the graphs take and give the video layer's frames (uint8 NHWC BGR), as io.frame says
    assert enc["inputs"] == [{"name": "frame", "shape": ["batch", "height", "width", 3], "dtype": "uint8"}]
    out = dec["outputs"][0]
    assert (out["name"], out["dtype"], out["shape"][0], out["shape"][-1]) == ("frame", "uint8", "batch", 3)
    assert adain["io"]["frame"] == {"layout": "NHWC", "channels": "BGR", "dtype": "uint8", "range": [0, 255]}
    assert enc["outputs"][0]["name"] == "features" and enc["outputs"][0]["shape"][:2] == ["batch", 128]
    assert "adain_full" not in adain["graphs"] and adain["format_version"] == 2
    assert adain["source"]["checkpoint"]["sha256"] == pkgmod.sha256(DEFAULTS / "adain.pt")
    assert adain["exporter"]["opset"] >= 17 and adain["io"]["min_side"] == 9
    sg = packages["stylegan"].meta
    g = load("stylegan")
    assert np.allclose(sg["io"]["w_avg"], g.w_avg.numpy()) and sg["io"]["w_avg_source"] == "checkpoint"
    syn = [i["name"] for i in sg["graphs"]["synthesis"]["inputs"]]
    assert syn == ["ws"] + [f"noise_{i}" for i in range(g.num_ws)]
    assert (packages["ae"].path / "parity_io.npz").is_file()


def test_full_graph_is_exported_on_request_only(full_adain):
    full = [i["name"] for i in full_adain.meta["graphs"]["adain_full"]["inputs"]]
    assert full == ["content", "style_mean", "style_std", "alpha"]
    assert full_adain.variant("adain_full", "int8", cpu=True) == "fp32"  # no calibration: fp32 stands in
    with pytest.raises(StylertError, match="--full-graph applies to .*adain"):
        export_pkg.export("ae", "unused", full_graph=True, progress=False)


def test_frame_graphs_fold_the_pixel_conversion_exactly(packages):
    """uint8 BGR frames into the encoder give the float network's features of the RGB image,
    and the decoder's frames are its float image rounded (one level where near a half)."""
    net = load("adain")
    frames = np.random.default_rng(1).integers(0, 256, (2, 40, 56, 3), dtype=np.uint8)
    rgb = torch.from_numpy(frames[..., ::-1].copy()).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        want = net.encoder(rgb)
        image = net.decoder(want).clamp(0, 1).mul(255).permute(0, 2, 3, 1).flip(3).numpy()
    got = session(packages["adain"].onnx("encoder")).run(None, {"frame": frames})[0]
    assert parity.passes(parity.compare(want.numpy(), got), "fp32")
    out = session(packages["adain"].onnx("decoder")).run(None, {"features": want.numpy()})[0]
    assert out.dtype == np.uint8 and out.shape == (2, 40, 56, 3)
    assert np.abs(out.astype(np.float64) - image).max() <= 0.5 + 1e-3


def test_graphs_take_other_batch_and_image_sizes(full_adain):
    net = load("adain")
    content = torch.rand(3, 3, 57, 83)
    style = torch.rand(3, 3, 40, 40)
    with torch.no_grad():
        mean, std = net.style_stats(style)
        want = net(content, mean, std, 0.5).numpy()
    feeds = {"content": content.numpy(), "style_mean": mean.numpy(), "style_std": std.numpy(),
             "alpha": np.array([0.5], np.float32)}
    got = session(full_adain.onnx("adain_full")).run(None, feeds)[0]
    assert got.shape == (3, 3, 64, 88)
    assert parity.passes(parity.compare(want, got), "fp32")
    half = session(full_adain.onnx("adain_full", "fp16")).run(None, feeds)[0]
    assert half.dtype == np.float32 and parity.passes(parity.compare(want, half), "fp16")


def test_fp16_graphs_keep_normalisation_in_float32(packages, full_adain):
    F32, F16 = onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16
    m, types = _types(onnx.load(str(packages["stylegan"].onnx("synthesis", "fp16"))))
    norms = [n for n in m.graph.node if n.op_type == "InstanceNormalization"]
    assert len(norms) == 2 * 4  # two per block: 4, 8, 16 and 32
    assert all(types[n.input[0]] == F32 and types[n.output[0]] == F32 for n in norms)
    convs = [n for n in m.graph.node if n.op_type == "Conv"]
    assert convs and all(types[n.input[0]] == F16 for n in convs)
    assert all(types[i.name] == F32 for i in [*m.graph.input, *m.graph.output])
    m, types = _types(onnx.load(str(full_adain.onnx("adain_full", "fp16"))))
    reductions = [n for n in m.graph.node if n.op_type in ("ReduceMean", "ReduceSum")]
    assert reductions and all(types[n.output[0]] == F32 for n in reductions)


def test_int8_graphs_are_qdq_and_the_cpu_variant_uses_quantized_operators(packages):
    pkg = packages["adain"]
    ops = {n.op_type for n in onnx.load(str(pkg.onnx("decoder", "int8"))).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops and "QLinearConv" not in ops  # portable (TensorRT)
    cpu_ops = {n.op_type for n in onnx.load(str(pkg.onnx("decoder", "int8-cpu"))).graph.node}
    assert "QLinearConv" in cpu_ops and "Conv" not in cpu_ops
    assert pkg.variant("decoder", "int8", cpu=True) == "int8-cpu" and pkg.variant("decoder", "int8") == "int8"
    assert pkg.variant("decoder", "fp16", cpu=True) == "fp16"


@no_gpu
def test_verify_runs_the_saved_reference_io(packages, capsys):
    rows, skipped = verify(packages["ae"])
    assert len(rows) == 12 and all(r["passed"] for r in rows)  # 2 graphs and the whole chain, x 4
    # through the pipelines' own engines: the CPU provider runs the CPU-tuned int8 file, torch its weights
    assert [(r["backend"], r["precision"]) for r in rows if r["graph"] == "decoder"] == [
        ("onnxruntime-cpu", "fp32"), ("onnxruntime-cpu", "fp16"), ("onnxruntime-cpu", "int8-cpu"), ("torch", "fp32")]
    assert any(b == "tensorrt" for b, _ in skipped)
    assert cli.main(["verify", str(packages["stylegan"].path)]) == 0
    out = capsys.readouterr().out
    assert "the PyTorch outputs saved at export" in out and "12 of 12 checks passed" in out


def test_reference_adain_files_export_at_fp32_parity(tmp_path):
    torch.save(official(VGG_CONVS, 0), tmp_path / "vgg_normalised.pth")
    torch.save(official(DECODER_CONVS, 1), tmp_path / "decoder.pth")
    pkg = export_pkg.export("adain", tmp_path / "pkg", vgg=str(tmp_path / "vgg_normalised.pth"),
                            decoder=str(tmp_path / "decoder.pth"), precisions=["fp32"], progress=False)
    assert pkg.meta["model"]["width"] == 1.0 and set(pkg.meta["source"]) == {"vgg", "decoder"}
    assert all(r["passed"] for r in pkg.meta["parity"]["results"])
    net = load_reference(tmp_path / "vgg_normalised.pth", tmp_path / "decoder.pth")
    frames = np.random.default_rng(0).integers(0, 256, (1, 40, 48, 3), dtype=np.uint8)
    with torch.no_grad():
        want = net.encoder(torch.from_numpy(frames[..., ::-1].copy()).permute(0, 3, 1, 2).float() / 255).numpy()
    got = session(pkg.onnx("encoder")).run(None, {"frame": frames})[0]
    assert parity.passes(parity.compare(want, got), "fp32")


def test_a_bilinear_adain_exports_at_fp32_parity(tmp_path):
    """The decoder's upsampling mode travels from the checkpoint's config into the graph."""
    from stylert.export.checkpoints import save_atomic, stylert_checkpoint

    net = AdaINNet(width=0.125, upsample="bilinear").eval()
    save_atomic(stylert_checkpoint("adain", net.config, net), tmp_path / "bi.pt")
    pkg = export_pkg.export("adain", tmp_path / "pkg", checkpoint=str(tmp_path / "bi.pt"), precisions=["fp32"],
                            progress=False)
    assert pkg.meta["model"]["upsample"] == "bilinear"
    assert all(r["passed"] for r in pkg.meta["parity"]["results"])
    modes = {a.s for n in onnx.load(pkg.onnx("decoder")).graph.node if n.op_type == "Resize"
             for a in n.attribute if a.name == "mode"}
    assert modes == {b"linear"}


def test_port_stylegan_exports_at_a_chosen_size(tmp_path):
    torch.save({"g_running": port_state(5)}, tmp_path / "port.model")  # holds 4..64
    pkg = export_pkg.export("stylegan", tmp_path / "pkg", checkpoint=str(tmp_path / "port.model"), size=32,
                            precisions=["fp32"], progress=False)
    assert pkg.meta["io"]["size"] == 32 and pkg.meta["io"]["w_avg_source"].startswith("estimated")
    assert all(r["passed"] for r in pkg.meta["parity"]["results"])
    with pytest.raises(export_pkg.ExportError, match="multi-resolution"):
        export_pkg.export("stylegan", tmp_path / "other", size=64, progress=False)


# ---------------------------------------------------------------------- bad inputs


def test_bad_checkpoints_and_kinds_are_one_line(tmp_path, capsys):
    out = str(tmp_path / "pkg")
    assert "not found" in _cli_error(capsys, ["export", "ae", "-o", out, "--checkpoint", str(tmp_path / "no.pt")])
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    assert "not a readable" in _cli_error(capsys, ["export", "ae", "-o", out, "--checkpoint", str(tmp_path / "junk.pt")])
    assert "not 'adain'" in _cli_error(capsys, ["export", "adain", "-o", out, "--checkpoint", str(DEFAULTS / "ae.pt")])
    assert "go together" in _cli_error(capsys, ["export", "adain", "-o", out, "--vgg", "v.pth"])
    assert not (tmp_path / "pkg").exists()
    with pytest.raises(SystemExit):
        cli.main(["export", "gan", "-o", out])


def test_output_folder_problems(tmp_path, capsys):
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    assert "--force" in _cli_error(capsys, ["export", "ae", "-o", str(full)])
    assert (full / "keep.txt").read_text() == "mine"
    (tmp_path / "file").write_text("x")
    assert "not a folder" in _cli_error(capsys, ["export", "ae", "-o", str(tmp_path / "file")])
    assert "cannot create" in _cli_error(capsys, ["export", "ae", "-o", str(tmp_path / "file" / "pkg")])
    assert "cannot" in _cli_error(capsys, ["export", "ae", "-o", "/proc/stylert-pkg"])


def test_failed_exports_leave_nothing_behind(tmp_path, monkeypatch, capsys):
    from stylert.export import convert

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(export_pkg, "to_fp16", broken)
    with pytest.raises(RuntimeError):
        export_pkg.export("ae", tmp_path / "pkg", progress=False)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    monkeypatch.setattr(parity, "MIN_PSNR", {"fp16": 1e9, "int8": 1e9})  # nothing can pass
    assert cli.main(["export", "ae", "-o", str(tmp_path / "pkg"), "--precision", "fp32,fp16"]) == 1
    err = capsys.readouterr().err
    assert "FAIL" in err and "no package was written" in err
    assert list(tmp_path.iterdir()) == []
    assert convert.OPSET >= 17


def test_damaged_packages_are_refused(packages, tmp_path, capsys):
    def copy(name):
        dst = tmp_path / name
        shutil.copytree(packages["ae"].path, dst)
        return dst

    missing = copy("missing")
    (missing / "decoder.int8.onnx").unlink()
    assert "missing (decoder.int8.onnx)" in _cli_error(capsys, ["verify", str(missing)])
    tampered = copy("tampered")
    meta = json.loads((tampered / "stylert.json").read_text())
    meta["graphs"]["encoder"]["inputs"][0]["shape"] = [1, 64]
    (tampered / "stylert.json").write_text(json.dumps(meta))
    assert "edited after export" in _cli_error(capsys, ["verify", str(tampered)])
    corrupt = copy("corrupt")
    data = bytearray((corrupt / "encoder.onnx").read_bytes())
    data[-10] ^= 0xFF
    (corrupt / "encoder.onnx").write_bytes(bytes(data))
    assert "does not match the sha256" in _cli_error(capsys, ["verify", str(corrupt)])
    broken = copy("broken")
    (broken / "stylert.json").write_text("{")
    assert "not valid JSON" in _cli_error(capsys, ["verify", str(broken)])
    assert "not a stylert model package" in _cli_error(capsys, ["verify", str(tmp_path)])
    assert "not found" in _cli_error(capsys, ["verify", str(tmp_path / "nothing")])
