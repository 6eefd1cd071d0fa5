"""stylert triton: repositories parse with Triton's own schema, configs match the ONNX
graphs, ensembles are wired right and compute what the pipelines compute (run here step by
step with ONNX Runtime, as Triton would), plans per compute capability, refusals.

AdaIN packages of format 2 take and give uint8 BGR frames [N, H, W, 3]: the ensembles are
compared with the Stylizer on uint8 frames (within one level: the graphs round once to 8
bits, the ONNX AdaIN op and stylert's kernel differ in the last float bits). The optional
float graph adain_full is only in packages exported with --full-graph: made here.
"""

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

import stylert
from stylert import cli
from stylert.backends.tensorrt import cache
from stylert.backends.onnxrt import session
from stylert.images import pad_to, to_hwc8, to_nchw
from stylert.package import default_package, load, sha256
from stylert.export import triton

from helpers import cli_error
from triton_example import check_streams_like_the_stylizer, example_client, within_one_level

ROOT = Path(__file__).resolve().parents[1]


def parse(path: Path) -> model_config_pb2.ModelConfig:
    """The config through Triton's schema: an unknown field or a bad value raises."""
    return text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())


def configs(repo: Path):
    return {p.parent.name: parse(p) for p in sorted(repo.glob("*/config.pbtxt"))}


def dtype_name(cfg_type: int) -> str:
    return model_config_pb2.DataType.Name(cfg_type)


def ensemble_call(repo: Path):
    """call(model, feeds, outputs) running models and ensembles from the repository with
    ONNX Runtime, following each ensemble's input_map/output_map like Triton does."""
    cfgs, sessions = configs(repo), {}

    def call(model, feeds, outputs):
        cfg = cfgs[model]
        if cfg.platform != "ensemble":
            if model not in sessions:
                sessions[model] = session(repo / model / "1" / "model.onnx")
            return dict(zip(outputs, sessions[model].run(outputs, feeds)))
        tensors = dict(feeds)
        for step in cfg.ensemble_scheduling.step:
            got = call(step.model_name, {k: tensors[v] for k, v in step.input_map.items()}, list(step.output_map))
            tensors.update({step.output_map[k]: a for k, a in got.items()})
        return {o: tensors[o] for o in outputs}

    return call


def config_type(elem_type: int) -> str:
    """An ONNX tensor element type as Triton's config data type (TYPE_FP32, TYPE_UINT8...)."""
    return triton.TYPES[np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem_type)).name]


def check_configs_match_the_graphs(repo: Path) -> dict:
    """Every model's config against its ONNX file: names, dims and data types of the inputs and
    outputs, GPU instances with the TensorRT accelerator, one all-zeros warm-up request whose
    tensors have the config's types and fit its dims. Returns the configs."""
    cfgs = configs(repo)
    for name, cfg in cfgs.items():
        assert cfg.name == name
        if cfg.platform == "ensemble":
            continue
        model = onnx.load(str(repo / name / "1" / "model.onnx"))
        onnx.checker.check_model(model)
        for spec, value in [(cfg.input, model.graph.input), (cfg.output, model.graph.output)]:
            assert [t.name for t in spec] == [v.name for v in value]
            for t, v in zip(spec, value):
                dims = [d.dim_value or -1 for d in v.type.tensor_type.shape.dim]
                assert list(t.dims) == (dims[1:] if cfg.max_batch_size else dims), (name, t.name)
                assert dtype_name(t.data_type) == config_type(v.type.tensor_type.elem_type), (name, t.name)
        assert cfg.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_GPU
        accel = cfg.optimization.execution_accelerators.gpu_execution_accelerator[0]
        assert accel.name == "tensorrt" and accel.parameters["precision_mode"] in ("FP32", "INT8")
        assert len(cfg.model_warmup) == 1
        warm = cfg.model_warmup[0].inputs
        assert set(warm) == {t.name for t in cfg.input}, name
        for t in cfg.input:  # a uint8 frame input warms up with uint8 zeros [H, W, 3]
            w = warm[t.name]
            assert w.zero_data and w.data_type == t.data_type, (name, t.name)
            assert len(w.dims) == len(t.dims) and all(d == -1 or d == x for d, x in zip(t.dims, w.dims)), \
                (name, t.name, list(w.dims))
    return cfgs


@pytest.mark.parametrize("kind", ["adain", "stylegan", "ae"])
def test_repository_parses_and_matches_the_graphs(kind, tmp_path, capsys):
    repo = tmp_path / "repo"
    assert cli.main(["triton", str(default_package(kind)), "-o", str(repo), "--precision", "int8"]) == 0
    assert "note:" not in capsys.readouterr().out  # every graph of the bundled packages has an int8 variant
    cfgs = check_configs_match_the_graphs(repo)
    pkg = load(default_package(kind))
    assert {f"{kind}_{g}" for g in pkg.graphs} <= set(cfgs)
    # the int8 variant is served where the package has one
    g = next(g for g in pkg.graphs if "int8" in pkg.precisions(g))
    assert sha256(repo / f"{kind}_{g}" / "1" / "model.onnx") == pkg.graphs[g]["files"]["int8"]["sha256"]
    readme = (repo / "README.md").read_text()
    assert "| model | platform |" in readme
    if kind == "adain":  # format 2: the graphs take and give uint8 BGR frames, and so do the ensembles
        assert "adain_adain_full" not in cfgs
        enc, dec = cfgs["adain_encoder"], cfgs["adain_decoder"]
        assert [(t.name, dtype_name(t.data_type), list(t.dims)) for t in enc.input] == \
            [("frame", "TYPE_UINT8", [-1, -1, 3])]
        assert [(t.name, dtype_name(t.data_type), list(t.dims)) for t in dec.output] == \
            [("frame", "TYPE_UINT8", [-1, -1, 3])]
        warm = enc.model_warmup[0].inputs["frame"]
        assert (dtype_name(warm.data_type), list(warm.dims)) == ("TYPE_UINT8", [240, 320, 3])
        types = {c: {t.name: dtype_name(t.data_type) for t in [*cfgs[c].input, *cfgs[c].output]}
                 for c in ("adain", "adain_style")}
        assert types == {"adain": {"content": "TYPE_UINT8", "style_mean": "TYPE_FP32", "style_std": "TYPE_FP32",
                                   "alpha": "TYPE_FP32", "image": "TYPE_UINT8"},
                         "adain_style": {"style": "TYPE_UINT8", "style_mean": "TYPE_FP32", "style_std": "TYPE_FP32"}}
        assert "uint8 BGR [H, W, 3]" in readme and "float32 RGB" not in readme


@pytest.mark.parametrize("kind", ["adain", "stylegan"])
def test_ensemble_wiring(kind, tmp_path):
    repo = tmp_path / "repo"
    triton.write_repository(load(default_package(kind)), repo)
    cfgs = configs(repo)
    ensembles = [c for c in cfgs.values() if c.platform == "ensemble"]
    assert ensembles
    for ens in ensembles:
        known = {t.name: (list(t.dims), t.data_type) for t in ens.input}
        for step in ens.ensemble_scheduling.step:
            model = cfgs[step.model_name]
            assert ens.max_batch_size <= model.max_batch_size
            assert set(step.input_map) == {t.name for t in model.input}, step.model_name
            for t in model.input:
                dims, dtype = known[step.input_map[t.name]]  # produced earlier or an ensemble input
                assert dtype == t.data_type
                assert all(a == b or -1 in (a, b) for a, b in zip(dims, t.dims)) and len(dims) == len(t.dims)
            outs = {t.name: t for t in model.output}
            for key, tensor in step.output_map.items():
                known[tensor] = (list(outs[key].dims), outs[key].data_type)
        for t in ens.output:
            assert known[t.name] == (list(t.dims), t.data_type)


def bgr_frames(rgb: np.ndarray) -> np.ndarray:
    """uint8 HWC RGB -> the ensembles' input: a batch of one BGR frame, padded to a multiple of 8."""
    return pad_to(rgb[None, :, :, ::-1], layout="NHWC")[0]


def test_adain_ensembles_equal_the_stylizer(tmp_path):
    repo = tmp_path / "repo"
    triton.write_repository(load(default_package("adain")), repo)
    call = ensemble_call(repo)
    rng = np.random.default_rng(0)
    style = rng.integers(0, 256, (64, 48, 3), np.uint8)  # RGB
    content = rng.integers(0, 256, (2, 40, 56, 3), np.uint8)  # BGR frames
    st = stylert.Stylizer(style_size=None, backend="onnxruntime-cpu")
    mean, std = st.style_stats(style)
    got = call("adain_style", {"style": bgr_frames(style)}, ["style_mean", "style_std"])
    np.testing.assert_allclose(got["style_mean"].ravel(), mean, atol=1e-5)
    np.testing.assert_allclose(got["style_std"].ravel(), std, rtol=1e-4, atol=1e-5)
    mean, std = got["style_mean"], got["style_std"]
    st.set_style(style)
    for alpha in (1.0, 0.4):
        feeds = {"content": content, "style_mean": np.repeat(mean, 2, 0), "style_std": np.repeat(std, 2, 0),
                 "alpha": np.full((2, 1), alpha, np.float32)}
        out = call("adain", feeds, ["image"])["image"]
        assert within_one_level(out, st(content, alpha=alpha, bgr=True)), alpha
    # a frame whose size is no multiple of 8: padded by the client, the output cropped back
    odd = content[:1, :37, :50]
    x, (h, w) = pad_to(odd, layout="NHWC")
    feeds = {"content": x, "style_mean": mean, "style_std": std, "alpha": np.ones((1, 1), np.float32)}
    out = call("adain", feeds, ["image"])["image"]
    assert out.shape == (1, 40, 56, 3)
    assert within_one_level(np.ascontiguousarray(out[:, :h, :w]), st(odd, bgr=True))


def test_full_graph_is_served_alone_and_equals_the_stylizer(full_adain, tmp_path, capsys):
    """adain_full (float NCHW RGB, alpha one number: no batching) in a repository of its own
    package: its config matches its graph, it computes what the Stylizer computes (the Stylizer
    on the same frame, one level apart at most), and an fp32-only package asked for int8 names
    the graphs served in fp32."""
    repo = tmp_path / "repo"
    capsys.readouterr()
    assert cli.main(["triton", str(full_adain.path), "-o", str(repo), "--precision", "int8"]) == 0
    assert "no int8 variant of adain_encoder, adain_decoder, adain_adain_full in the package: served in fp32" \
        in capsys.readouterr().out
    cfgs = check_configs_match_the_graphs(repo)
    full = cfgs["adain_adain_full"]
    assert full.max_batch_size == 0 and not full.HasField("dynamic_batching")
    assert {t.name: dtype_name(t.data_type) for t in [*full.input, *full.output]} == {
        "content": "TYPE_FP32", "style_mean": "TYPE_FP32", "style_std": "TYPE_FP32", "alpha": "TYPE_FP32",
        "image": "TYPE_FP32"}
    assert list(full.model_warmup[0].inputs["content"].dims) == [1, 3, 240, 320]
    st = stylert.Stylizer(full_adain, style_size=None, backend="onnxruntime-cpu")
    rng = np.random.default_rng(6)
    style, frame = rng.integers(0, 256, (48, 64, 3), np.uint8), rng.integers(0, 256, (40, 56, 3), np.uint8)
    mean, std = st.style_stats(style)
    st.set_style(style)
    feeds = {"content": to_nchw(frame, bgr=True), "style_mean": mean.reshape(1, -1, 1, 1),
             "style_std": std.reshape(1, -1, 1, 1), "alpha": np.array([0.7], np.float32)}
    out = ensemble_call(repo)("adain_adain_full", feeds, ["image"])["image"]
    assert out.dtype == np.float32 and out.shape == (1, 3, 40, 56)
    assert within_one_level(to_hwc8(out[0], bgr=True), st(frame, alpha=0.7, bgr=True))


def test_stylegan_ensemble_equals_the_generator(tmp_path):
    repo = tmp_path / "repo"
    triton.write_repository(load(default_package("stylegan")), repo)
    g = stylert.Generator(backend="onnxruntime-cpu")
    z = np.random.default_rng(1).standard_normal((3, g.style_dim)).astype(np.float32)
    noise = g.noise(3, "random", 5)
    feeds = {"z": z, "truncation": np.full((3, 1), 0.7, np.float32),
             **{f"noise_{i}": n for i, n in enumerate(noise)}}
    image = ensemble_call(repo)("stylegan", feeds, ["image"])["image"]
    want = g.synthesis(g.broadcast(g.truncate(g.mapping(z), 0.7)), noise=noise)
    np.testing.assert_allclose(np.clip(image * 0.5 + 0.5, 0, 1), want, atol=1e-5)


def test_triton_client_example_streams_through_the_ensemble(tmp_path):
    repo = tmp_path / "repo"
    triton.write_repository(load(default_package("adain")), repo)
    check_streams_like_the_stylizer(example_client(), ensemble_call(repo))


def test_plans_per_compute_capability(tmp_path, capsys):
    pkg = load(default_package("ae"))
    engines = tmp_path / "engines"
    sha = pkg.graphs["encoder"]["files"]["fp32"]["sha256"]
    for cc in ("8.6", "8.7"):
        prof = {"x": ((1, 64), (2, 64), (4, 64))}
        key = cache.cache_key(sha, prof, "fp32", "10.3.0", cc)
        cache.cached_engine(key, "encoder", lambda: f"plan for {cc}".encode(), root=engines)
    repo = tmp_path / "repo"
    assert cli.main(["triton", str(default_package("ae")), "-o", str(repo), "--engines", str(engines)]) == 0
    cfgs = configs(repo)
    enc = cfgs["ae_encoder"]
    assert enc.platform == "tensorrt_plan" and dict(enc.cc_model_filenames) == {
        "8.6": "model.sm86.plan", "8.7": "model.sm87.plan"}
    assert enc.max_batch_size == 4  # the engines' profile allows 4, less than --max-batch 8
    assert (repo / "ae_encoder" / "1" / "model.sm87.plan").read_bytes() == b"plan for 8.7"
    assert not enc.optimization.execution_accelerators.gpu_execution_accelerator
    assert cfgs["ae_decoder"].platform == "onnxruntime_onnx"  # no engine for it
    # --cc picks capabilities and refuses ones without an engine, or unknown ones
    out = tmp_path / "repo2"
    assert cli.main(["triton", str(default_package("ae")), "-o", str(out), "--engines", str(engines),
                     "--cc", "sm_87"]) != 0  # the decoder has no engine for 8.7
    assert "no TensorRT engine of decoder (fp32) for compute capability 8.7" in capsys.readouterr().err
    assert "unknown compute capability '8.8'" in cli_error(capsys, ["triton", str(default_package("ae")), "-o",
                                                                    str(out), "--cc", "8.6,8.8"])
    assert not out.exists()


def test_cpu_repository_and_refusals(tmp_path, capsys):
    repo = tmp_path / "repo"
    assert cli.main(["triton", str(default_package("stylegan")), "-o", str(repo), "--device", "cpu",
                     "--instances", "2", "--name", "digits"]) == 0
    cfgs = configs(repo)
    assert set(cfgs) == {"digits", "digits_mapping", "digits_truncation", "digits_synthesis"}
    for cfg in cfgs.values():
        if cfg.platform != "ensemble":
            assert cfg.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_CPU
            assert cfg.instance_group[0].count == 2
            assert not cfg.HasField("optimization")
    args = ["triton", str(default_package("stylegan")), "-o", str(repo)]
    assert "exists and is not empty" in cli_error(capsys, args)
    # CPU instances serve the CPU-tuned int8 files (ONNX Runtime's quantized operators)
    assert cli.main(args + ["--force", "--device", "cpu", "--precision", "int8"]) == 0
    pkg = load(default_package("stylegan"))
    assert sha256(repo / "stylegan_synthesis" / "1" / "model.onnx") == \
        pkg.graphs["synthesis"]["files"]["int8-cpu"]["sha256"]
    assert "note:" not in capsys.readouterr().out
    assert "needs --device gpu" in cli_error(capsys, args + ["--force", "--device", "cpu", "--cc", "8.6"])
    assert "model name" in cli_error(capsys, args + ["--force", "--name", "a b"])
    assert "not found" in cli_error(capsys, ["triton", str(tmp_path / "nope"), "-o", str(tmp_path / "r")])
    assert cli.main(args + ["--force"]) == 0 and "stylegan" in configs(repo)
    assert not list(tmp_path.glob(".*partial*"))


def test_export_writes_a_repository(packages, tmp_path, capsys):
    repo = packages["ae"].path.parent / "ae-triton"  # written by the fixture's `stylert export ... --triton-repo`
    assert set(configs(repo)) == {"ae_encoder", "ae_decoder"}
    assert json.loads((packages["ae"].path / "stylert.json").read_text())["kind"] == "ae"
    # an occupied repository folder is refused before the export starts: no package written
    err = cli_error(capsys, ["export", "ae", "-o", str(tmp_path / "pkg"), "--triton-repo", str(repo)])
    assert "exists and is not empty" in err and not (tmp_path / "pkg").exists()
