"""A real Triton server on the repositories `stylert triton --device cpu` writes.

tritonserver 2.51 (PyPI's nvidia-pytriton 0.7.0, set up once by stylert.tritonserver under
~/.cache/stylert/tritonserver) runs on 127.0.0.1 with free ports, its `onnxruntime` backend
being stylert's shim (Triton's python backend running backends/onnxruntime/model.py). Real:
Triton's config parsing and normalization, model loading and warm-up, the dynamic batcher,
the ensemble scheduler, the HTTP/REST and gRPC front ends and their request checks. Not
real: the C++ ONNX Runtime backend (the shim stands in: ONNX Runtime's CPU provider), GPU
instances, TensorRT plans.

Where the setup cannot be made (PyPI unreachable, another platform) the server tests skip
with the reason; the shim's own rules and the CLI's refusals run everywhere.

The AdaIN models take and give uint8 BGR frames [N, H, W, 3] (package format 2): requests
carry UINT8 frames next to FP32 statistics, and the results are compared with the Stylizer
on the same frames within one level. The float graph adain_full is served from a package
exported here with --full-graph (the bundled package has none).
"""

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from google.protobuf import json_format, text_format
from tritonclient.grpc import model_config_pb2

import stylert
from stylert import cli
from stylert.backends.onnxrt import session
from stylert.images import pad_to, read_image, to_hwc8, to_nchw
from stylert.package import load
from stylert.package import default_package
from stylert.tritonserver import server as ts

from helpers import cli_error
from triton_example import check_streams_like_the_stylizer, example_client, within_one_level

ROOT = Path(__file__).resolve().parents[1]
SHIM = ROOT / "runtime" / "tritonserver" / "backends" / "onnxruntime" / "model.py"
KINDS = ("adain", "stylegan", "ae")
REPOS = (*KINDS, "full")  # "full": adain_adain_full alone, from a package exported with --full-graph
DATATYPES = {np.dtype(np.float32): "FP32", np.dtype(np.int32): "INT32", np.dtype(np.float64): "FP64",
             np.dtype(np.uint8): "UINT8"}
NUMPY = {v: k for k, v in DATATYPES.items()}


def load_shim():
    spec = importlib.util.spec_from_file_location("stylert_triton_shim", SHIM)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def config_dict(path: Path) -> dict:
    """config.pbtxt as the python backend receives it: protobuf's JSON (int64 as strings)."""
    cfg = text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())
    return json_format.MessageToDict(cfg, preserving_proto_field_name=True)


def write_repo(kind: str, out: Path, *extra: str) -> Path:
    """The repository of a bundled package (its kind), or of the package folder ``kind`` names."""
    pkg = default_package(kind) if kind in KINDS else kind
    assert cli.main(["triton", str(pkg), "-o", str(out), "--device", "cpu", *extra]) == 0
    return out


@pytest.fixture(scope="module")
def repos(tmp_path_factory, full_adain):
    pytest.importorskip("torch")  # `stylert triton` writes repositories with the export side
    root = tmp_path_factory.mktemp("triton-repos")
    made = {k: write_repo(k, root / k) for k in KINDS}
    # the full package's repository less what the bundled adain one serves: adain_adain_full
    # alone (a model without batching), next to the others in the same server
    whole = write_repo(str(full_adain.path), root / "full-whole")
    (root / "full").mkdir()
    (whole / "adain_adain_full").rename(root / "full" / "adain_adain_full")
    made["full"] = root / "full"
    return made


# -- the shim's rules, without a server ---------------------------------------------------
def model_dirs(repos):
    for kind in REPOS:
        for cfg in sorted(repos[kind].glob("*/config.pbtxt")):
            if (cfg.parent / "1" / "model.onnx").exists():
                yield cfg.parent


def test_shim_accepts_every_config_stylert_writes(repos):
    shim = load_shim()
    checked = 0
    for model in model_dirs(repos):
        cfg = config_dict(model / "config.pbtxt")
        assert cfg["platform"] == "onnxruntime_onnx"
        shim.validate(cfg, *shim.session_tensors(session(model / "1" / "model.onnx")))
        checked += 1
    assert checked == 10  # adain 4, stylegan 3, ae 2, adain_full 1


def _refused(shim, model: Path, change) -> str:
    cfg = config_dict(model / "config.pbtxt")
    change(cfg)
    with pytest.raises(shim.ConfigError) as e:
        shim.validate(cfg, *shim.session_tensors(session(model / "1" / "model.onnx")))
    return str(e.value)


def test_shim_refuses_what_the_cpp_backend_refuses(repos):
    """Each message is the C++ backend's own (onnxruntime.cc, onnx_utils.cc, backend_common.cc)."""
    shim = load_shim()
    dec, enc = repos["ae"] / "ae_decoder", repos["adain"] / "adain_encoder"
    full = repos["full"] / "adain_adain_full"

    def set_(key, value, where="input", i=0):
        return lambda c: c[where][i].__setitem__(key, value)

    assert _refused(shim, dec, set_("name", "latent")) == \
        "unexpected inference input 'latent', allowed inputs are: z"
    assert _refused(shim, dec, set_("name", "y", "output")) == \
        "unexpected inference output 'y', allowed outputs are: x"
    assert _refused(shim, dec, set_("data_type", "TYPE_INT32")) == \
        "unable to load model 'ae_decoder', configuration expects datatype TYPE_INT32 for input 'z', model provides TYPE_FP32"
    assert "configuration expects datatype TYPE_FP16 for output 'x'" in _refused(shim, dec, set_("data_type", "TYPE_FP16", "output"))
    assert _refused(shim, dec, set_("dims", ["3"])) == (
        "model 'ae_decoder', tensor 'z': the model expects 2 dimensions (shape [-1,2]) but the model configuration "
        "specifies 2 dimensions (an initial batch dimension because max_batch_size > 0 followed by the explicit "
        "tensor shape, making complete shape [-1,3])")
    # the encoder takes uint8 frames: the config says so, and a float type is refused
    assert _refused(shim, enc, set_("data_type", "TYPE_FP32")) == \
        "unable to load model 'adain_encoder', configuration expects datatype TYPE_FP32 for input 'frame', model provides TYPE_UINT8"
    # inputs: a -1 in the model matches any size, a fixed model size only itself (-1 included)
    shim.validate({**config_dict(enc / "config.pbtxt"), "input": [{"name": "frame", "data_type": "TYPE_UINT8",
                                                                   "dims": ["240", "320", "3"]}]},
                  *shim.session_tensors(session(enc / "1" / "model.onnx")))
    assert "making complete shape [-1,240,320,4]" in _refused(shim, enc, set_("dims", ["240", "320", "4"]))
    assert "making complete shape [-1,-1,-1,-1]" in _refused(shim, enc, set_("dims", ["-1", "-1", "-1"]))
    # outputs are compared exactly: a fixed size where the model says -1 is refused
    assert "tensor 'features'" in _refused(shim, enc, set_("dims", ["128", "30", "40"], "output"))
    # counts, batching, options
    assert _refused(shim, dec, lambda c: c["input"].append({"name": "z2", "data_type": "TYPE_FP32", "dims": ["2"]})) \
        == "unable to load model 'ae_decoder', configuration expects 2 inputs, model provides 1"
    assert "for the model to support batching the shape should have at least 1 dimension and the first dimension " \
           "must be -1; but shape expected by the model is [1]" in \
        _refused(shim, full, lambda c: (c.__setitem__("max_batch_size", 4),
                                        [io.__setitem__("dims", io["dims"][1:]) for io in c["input"] + c["output"]]))
    # optional inputs are not counted, and refused on batching models
    assert "configuration expects 0 inputs, model provides 1" in _refused(shim, dec, set_("optional", True))
    assert "optional input 'z2' is not supported for models that support batching" in _refused(
        shim, dec, lambda c: c["input"].append({"name": "z2", "data_type": "TYPE_FP32", "dims": ["2"], "optional": True}))
    assert "unsupported datatype TYPE_COMPLEX for input 'z'" in _refused(shim, dec, set_("data_type", "TYPE_COMPLEX"))
    import onnxruntime as ort
    with pytest.raises(shim.ConfigError, match="unknown Execution Accelerator 'gpu_magic' is requested"):
        shim.session_options({"optimization": {"execution_accelerators": {
            "cpu_execution_accelerator": [{"name": "gpu_magic"}]}}}, ort)
    with pytest.raises(shim.ConfigError, match="execution_mode are 0 or 1 but got 2"):
        shim.session_options({"parameters": {"execution_mode": {"string_value": "2"}}}, ort)
    so = shim.session_options({"parameters": {"intra_op_thread_count": {"string_value": "1"}},
                               "optimization": {"graph": {"level": "-1"}}}, ort)
    assert so.intra_op_num_threads == 1 and so.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    with pytest.raises(shim.ConfigError, match="unable to find '.*nope.onnx' for model instance 'ae_decoder'"):
        shim.model_path(str(dec), "1", {"name": "ae_decoder", "default_model_filename": "nope.onnx"})


class FakeUtils:
    """The few names of triton_python_backend_utils the shim uses."""

    class Tensor:
        def __init__(self, name, array):
            self.name, self.array = name, array

        def as_numpy(self):
            return self.array

    class InferenceResponse:
        def __init__(self, output_tensors, error=None):
            self.outputs, self.error = {t.name: t.array for t in output_tensors}, error

    class TritonError:
        INVALID_ARG = 3

        def __init__(self, message, code=None):
            self.message, self.code = message, code

    class TritonModelException(Exception):
        pass

    class Request:
        def __init__(self, **inputs):
            self.inputs = inputs

        def requested_output_names(self):
            return []

    @staticmethod
    def get_input_tensor_by_name(request, name):
        return FakeUtils.Tensor(name, request.inputs[name]) if name in request.inputs else None


def test_shim_batches_equal_shapes_and_answers_each_request(repos, monkeypatch):
    """Requests of equal shapes run as one batch, split back per request; a request ONNX
    Runtime refuses gets its own TritonError and the others their results."""
    shim = load_shim()
    monkeypatch.setattr(shim, "pb_utils", FakeUtils)
    model = shim.TritonPythonModel()
    enc = repos["adain"] / "adain_encoder"
    model.initialize({"model_config": json.dumps(config_dict(enc / "config.pbtxt")), "model_instance_kind": "CPU",
                      "model_repository": str(enc), "model_version": "1", "model_name": "adain_encoder"})
    runs = []
    run = model._run
    monkeypatch.setattr(model, "_run", lambda feeds: runs.append(feeds["frame"].shape) or run(feeds))
    rng = np.random.default_rng(0)
    a, b, c = (rng.integers(0, 256, s, np.uint8) for s in [(1, 16, 24, 3), (2, 16, 24, 3), (1, 32, 16, 3)])
    tiny = np.zeros((1, 2, 2, 3), np.uint8)  # reflect padding needs 2 pixels after the pooling: refused
    out = model.execute([FakeUtils.Request(frame=x) for x in (a, tiny, b, c)])
    assert runs[0] == (3, 16, 24, 3)  # a and b together
    ref = session(enc / "1" / "model.onnx")
    for resp, x in zip([out[0], out[2], out[3]], (a, b, c)):
        assert resp.error is None
        np.testing.assert_allclose(resp.outputs["features"], ref.run(["features"], {"frame": x})[0], atol=1e-6)
    assert out[1].error.message.startswith("onnx runtime error:") and out[1].error.code == 3 and not out[1].outputs
    with pytest.raises(FakeUtils.TritonModelException, match="runs ONNX Runtime on the CPU only"):
        shim.TritonPythonModel().initialize({"model_config": "{}", "model_instance_kind": "GPU"})


# -- the CLI's refusals (no server needed) ------------------------------------------------
def test_serve_refusals(repos, tmp_path, capsys):
    ae = str(repos["ae"])
    with socket.socket() as busy:  # a second server on a port already taken
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        err = cli_error(capsys, ["triton", "serve", ae, "--http-port", str(port), "--grpc-port", str(ts.free_port())])
        assert f"127.0.0.1:{port} is already in use (another server?): choose another port with --http-port" in err
    assert "is not a Triton model repository" in cli_error(capsys, ["triton", "serve", str(tmp_path)])
    assert "needs a model repository" in cli_error(capsys, ["triton", "serve"])
    gpu = tmp_path / "gpu"
    assert cli.main(["triton", str(default_package("ae")), "-o", str(gpu)]) == 0
    capsys.readouterr()
    assert "has GPU instances (KIND_GPU)" in cli_error(capsys, ["triton", "serve", str(gpu)])
    assert "both 9000" in cli_error(capsys, ["triton", "serve", ae, "--http-port", "9000", "--grpc-port", "9000"])
    assert "not -o" in cli_error(capsys, ["triton", "serve", ae, "-o", "x"])
    assert "needs -o/--out REPO" in cli_error(capsys, ["triton", str(default_package("ae"))])
    assert "not an address of this machine" in cli_error(capsys, ["triton", "serve", ae, "--address", "192.0.2.1"])


def test_setup_failures_are_one_line(repos, tmp_path, monkeypatch, capsys):
    """No package index (as without network): one error line, exit 2, no half-made setup;
    another platform: refused before anything is made."""
    home = tmp_path / "home"
    env = {**os.environ, "STYLERT_TRITONSERVER_HOME": str(home), "PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1"}
    env.pop("PIP_FIND_LINKS", None)
    done = subprocess.run([sys.executable, "-m", "stylert.cli", "triton", "serve", str(repos["ae"]),
                           "--http-port", str(ts.free_port()), "--grpc-port", str(ts.free_port())],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"stylert: error: cannot set up a local Triton server: pip install nvidia-pytriton=="
                           f"{ts.PYTRITON} onnxruntime=={ts.ONNXRUNTIME} failed (no network to PyPI?): "), last
    assert "nvidia-pytriton" in last.split("failed", 1)[1]
    assert not [p for p in home.iterdir() if not p.name.endswith(".lock")]
    monkeypatch.setattr(ts.platform, "machine", lambda: "armv7l")
    monkeypatch.setenv("STYLERT_TRITONSERVER_HOME", str(home))
    assert "runs on Linux x86-64 and aarch64 only (here: linux armv7l)" in cli_error(
        capsys, ["triton", "serve", str(repos["ae"]), "--http-port", str(ts.free_port()),
                 "--grpc-port", str(ts.free_port())])


# -- the real server ----------------------------------------------------------------------
def _pypi_reachable() -> bool:
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY")):
        return True
    try:
        socket.create_connection(("pypi.org", 443), timeout=5).close()
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def inst():
    """The cached setup; made here the first time (pip from PyPI, about a minute)."""
    problem = ts._unsupported()
    if problem:
        pytest.skip(problem)
    found = ts.installed()
    if found:
        return found
    if not _pypi_reachable():
        pytest.skip("no local Triton server set up and PyPI is unreachable: cannot pip install nvidia-pytriton")
    t0 = time.perf_counter()
    made = ts.install(print)
    print(f"triton setup: {time.perf_counter() - t0:.1f} s")
    return made


def children(pid: int):
    """Pids whose parent is ``pid`` (from /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _group_gone(pgid: int, wait: float = 10.0) -> bool:
    """No process left in the group (waits a little: killed stubs are reaped by init)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


@pytest.fixture(scope="module")
def server(inst, repos, tmp_path_factory):
    log = open(tmp_path_factory.mktemp("triton-log") / "server.log", "w")
    srv = ts.Server(inst, [repos[k] for k in REPOS], http_port=ts.free_port(), grpc_port=ts.free_port(), log=log)
    try:
        srv.start()
        srv.ready_s = srv.wait_ready(timeout=240)
        with capsys_off():
            print(f"\ntriton: 13 models ready {srv.ready_s:.1f} s after start ({srv.http_url}, grpc {srv.grpc_url})")
        yield srv
    finally:
        srv.stop()
        log.close()
    assert srv.proc.poll() is not None and _group_gone(srv.proc.pid), "tritonserver or a stub outlived the test"


class capsys_off:
    """Prints straight to the terminal (measurements), past pytest's capture."""

    def __enter__(self):
        self.saved = sys.stdout
        sys.stdout = sys.__stdout__

    def __exit__(self, *exc):
        sys.stdout.flush()
        sys.stdout = self.saved


class InferError(Exception):
    pass


def http_infer(srv, model, feeds, outputs, binary=False):
    """A KServe v2 request over HTTP: JSON data, or (``binary``) Triton's binary tensor
    extension, as tritonclient.http sends by default. Triton 2.51 crashes on JSON bodies of
    about 4 MB and more (server issue #5840): large images go binary."""
    inputs = [{"name": n, "shape": list(a.shape), "datatype": DATATYPES[a.dtype]} for n, a in feeds.items()]
    for spec, a in zip(inputs, feeds.values()):
        spec.update({"parameters": {"binary_data_size": a.nbytes}} if binary else {"data": a.ravel().tolist()})
    header = json.dumps({"inputs": inputs, "outputs": [{"name": o, "parameters": {"binary_data": binary}}
                                                       for o in outputs]}).encode()
    body = header + b"".join(np.ascontiguousarray(a).tobytes() for a in feeds.values()) if binary else header
    req = urllib.request.Request(f"{srv.http_url}/v2/models/{model}/infer", data=body, method="POST")
    if binary:
        req.add_header("Inference-Header-Content-Length", str(len(header)))
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            data, json_len = r.read(), r.headers.get("Inference-Header-Content-Length")
    except urllib.error.HTTPError as e:
        raise InferError(json.loads(e.read() or b"{}").get("error", f"HTTP {e.code}")) from None
    got = json.loads(data[:int(json_len)] if json_len else data)
    out, offset = {}, int(json_len or 0)
    for o in got["outputs"]:
        dtype = NUMPY[o["datatype"]]  # UINT8 frames, FP32 statistics and images
        if "data" in o:
            out[o["name"]] = np.array(o["data"], dtype).reshape(o["shape"])
        else:
            size = o["parameters"]["binary_data_size"]
            out[o["name"]] = np.frombuffer(data[offset:offset + size], dtype).reshape(o["shape"])
            offset += size
    return out


def grpc_client(srv):
    import tritonclient.grpc as grpcclient

    return grpcclient.InferenceServerClient(srv.grpc_url)


def grpc_infer(client, model, feeds, outputs):
    import tritonclient.grpc as grpcclient
    from tritonclient.utils import InferenceServerException

    inputs = []
    for n, a in feeds.items():
        inputs.append(grpcclient.InferInput(n, list(a.shape), DATATYPES[a.dtype]))
        inputs[-1].set_data_from_numpy(np.ascontiguousarray(a))
    try:
        r = client.infer(model, inputs, outputs=[grpcclient.InferRequestedOutput(o) for o in outputs])
    except InferenceServerException as e:
        raise InferError(e.message()) from None
    return {o: r.as_numpy(o) for o in outputs}


def both(srv):
    """(name, call) for HTTP with JSON data, HTTP with binary tensors, and gRPC."""
    client = grpc_client(srv)
    return [("http-json", lambda m, f, o: http_infer(srv, m, f, o)),
            ("http-binary", lambda m, f, o: http_infer(srv, m, f, o, binary=True)),
            ("grpc", lambda m, f, o: grpc_infer(client, m, f, o))]


def test_every_model_is_ready(server, repos):
    names = sorted(p.parent.name for k in REPOS for p in repos[k].glob("*/config.pbtxt"))
    assert len(names) == 13
    assert sorted(m["name"] for m in server.models() if m["state"] == "READY") == names
    for name in names:
        assert server.request(f"/v2/models/{name}/ready")[0] == 200, name
    cfg = server.request("/v2/models/ae_decoder/config")[1]  # served by the shim, through the python backend
    assert (cfg["platform"], cfg["backend"], cfg["runtime"]) == ("onnxruntime_onnx", "onnxruntime", "model.py")
    assert cfg["model_warmup"][0]["name"] == "zeros"


@pytest.fixture(scope="module")
def stylizer():
    st = stylert.Stylizer(style_size=None, backend="onnxruntime-cpu")
    style = read_image(ROOT / "runtime" / "assets" / "coffee.jpg")[:96, :128]
    st.set_style(style)
    return st, style


def test_adain_style_and_stylize_equal_the_stylizer(server, stylizer):
    """The style ensemble's statistics are the Stylizer's; the frame ensemble's uint8 BGR
    frames are the Stylizer's within one level (batch of 2, two alphas), every protocol."""
    st, style = stylizer
    mean, std = st.style_stats(style)
    content = np.random.default_rng(0).integers(0, 256, (2, 48, 64, 3), np.uint8)  # BGR frames
    for proto, call in both(server):
        got = call("adain_style", {"style": pad_to(style[None, :, :, ::-1], layout="NHWC")[0]},
                   ["style_mean", "style_std"])
        np.testing.assert_allclose(got["style_mean"].ravel(), mean, atol=1e-5, err_msg=proto)
        np.testing.assert_allclose(got["style_std"].ravel(), std, rtol=1e-4, atol=1e-5, err_msg=proto)
        m, s = got["style_mean"], got["style_std"]
        for alpha in (1.0, 0.4):
            feeds = {"content": content, "style_mean": np.repeat(m, 2, 0), "style_std": np.repeat(s, 2, 0),
                     "alpha": np.full((2, 1), alpha, np.float32)}
            out = call("adain", feeds, ["image"])["image"]
            assert within_one_level(out, st(content, alpha=alpha, bgr=True)), f"{proto} alpha {alpha}"


def test_adain_full_equals_the_stylizer(server, full_adain):
    """The all-in-one float graph (no batching: alpha is one number), from a package exported
    with --full-graph: float NCHW RGB in and out, the Stylizer's frame within one level."""
    st = stylert.Stylizer(full_adain, style_size=None, backend="onnxruntime-cpu")
    rng = np.random.default_rng(8)
    style, frame = rng.integers(0, 256, (48, 64, 3), np.uint8), rng.integers(0, 256, (48, 64, 3), np.uint8)
    mean, std = st.style_stats(style)
    st.set_style(style)
    want = st(frame, alpha=0.7, bgr=True)
    feeds = {"content": to_nchw(frame, bgr=True), "style_mean": mean.reshape(1, -1, 1, 1),
             "style_std": std.reshape(1, -1, 1, 1), "alpha": np.array([0.7], np.float32)}
    for proto, call in both(server):
        out = call("adain_adain_full", feeds, ["image"])["image"]
        assert out.dtype == np.float32 and out.shape == (1, 3, 48, 64), proto
        assert within_one_level(to_hwc8(out[0], bgr=True), want), proto


def test_example_client_streams_through_the_server(server):
    """examples/triton_client.py, gRPC to the real server: frames within one grey level of the Stylizer."""
    client = example_client()
    check_streams_like_the_stylizer(client, client.triton_call(server.grpc_url))


@pytest.fixture(scope="module")
def generator():
    return stylert.Generator(backend="onnxruntime-cpu")


def stylegan_feeds(g, n, seed):
    z = np.random.default_rng(seed).standard_normal((n, g.style_dim)).astype(np.float32)
    noise = g.noise(n, "random", seed)
    feeds = {"z": z, "truncation": np.full((n, 1), 0.7, np.float32), **{f"noise_{i}": a for i, a in enumerate(noise)}}
    want = g.synthesis(g.broadcast(g.truncate(g.mapping(z), 0.7)), noise=noise)
    return feeds, want


def test_stylegan_equals_the_generator(server, generator):
    feeds, want = stylegan_feeds(generator, 3, 1)
    for proto, call in both(server):
        image = call("stylegan", feeds, ["image"])["image"]
        np.testing.assert_allclose(np.clip(image * 0.5 + 0.5, 0, 1), want, atol=1e-5, err_msg=proto)
        w = call("stylegan_mapping", {"z": feeds["z"]}, ["w"])["w"]
        np.testing.assert_allclose(w, generator.mapping(feeds["z"]), atol=1e-5, err_msg=proto)


def test_ae_equals_the_autoencoder(server):
    ae = stylert.AutoEncoder(backend="onnxruntime-cpu")
    x = np.random.default_rng(2).random((5, ae.in_dim), np.float32)
    for proto, call in both(server):
        z = call("ae_encoder", {"x": x}, ["z"])["z"]
        np.testing.assert_allclose(z, ae.encode(x), atol=1e-5, err_msg=proto)
        out = call("ae_decoder", {"z": z}, ["x"])["x"]
        np.testing.assert_allclose(out.reshape(5, *ae.image_shape), ae.decode(z), atol=1e-5, err_msg=proto)


def model_stats(srv, name):
    s = srv.request(f"/v2/models/{name}/stats")[1]["model_stats"][0]
    return int(s["inference_count"]), int(s["execution_count"]), \
        {int(b["batch_size"]): int(b["compute_infer"]["count"]) for b in s.get("batch_stats", [])}


def test_concurrent_clients_are_batched_and_each_gets_its_own_result(server, generator):
    """16 clients at once on the StyleGAN ensemble (2 ms queue): Triton batches them (fewer
    executions than requests, batches above 1 in its statistics) and the shim splits each
    batch back, so every client gets the image of its own z and noise."""
    n = 16
    cases = [stylegan_feeds(generator, 1, 100 + i) for i in range(n)]
    before = model_stats(server, "stylegan_synthesis")
    barrier, results, errors = threading.Barrier(n), [None] * n, []

    def client(i):
        try:
            c = grpc_client(server) if i % 2 else None  # half gRPC, half HTTP
            barrier.wait()
            call = (lambda m, f, o: grpc_infer(c, m, f, o)) if c else (lambda m, f, o: http_infer(server, m, f, o))
            results[i] = call("stylegan", cases[i][0], ["image"])["image"]
        except Exception as e:  # reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    for (feeds, want), got in zip(cases, results):
        np.testing.assert_allclose(np.clip(got * 0.5 + 0.5, 0, 1), want, atol=1e-5)
    after = model_stats(server, "stylegan_synthesis")
    requests, executions = after[0] - before[0], after[1] - before[1]
    batched = {b: c - before[2].get(b, 0) for b, c in after[2].items() if b > 1 and c > before[2].get(b, 0)}
    with capsys_off():
        print(f"\ntriton: {requests} concurrent requests -> {executions} executions of stylegan_synthesis "
              f"(batches of size>1: {batched})")
    assert requests == n and executions < n and batched


def test_malformed_requests_get_an_error_and_the_server_keeps_serving(server):
    ae_z = np.random.default_rng(3).random((2, 2), np.float32)
    good = {"z": ae_z}
    want = stylert.AutoEncoder(backend="onnxruntime-cpu").decode(ae_z).reshape(2, -1)
    adain_stats = {"style_mean": np.zeros((1, 128, 1, 1), np.float32), "style_std": np.ones((1, 128, 1, 1), np.float32),
                   "alpha": np.ones((1, 1), np.float32)}
    bad = [("ae_decoder", {"z": np.zeros((1, 3), np.float32)}, ["x"], "unexpected shape for input 'z'"),
           ("ae_decoder", {"z": np.zeros((1, 2), np.int32)}, ["x"], "data-type is 'INT32', but model 'ae_decoder' "
                                                                     "expects 'FP32'"),
           ("ae_decoder", {"latent": ae_z}, ["x"], "unexpected inference input 'latent'"),
           ("ae_decoder", {"z": np.zeros((9, 2), np.float32)}, ["x"], "batch-size must be <= 8"),
           ("adain", {"content": np.zeros((1, 16, 16, 3), np.uint8)}, ["image"], "expected 4 inputs but got 1"),
           # a float RGB NCHW image (what format-1 repositories took) where the ensemble takes uint8 frames
           ("adain", {"content": np.zeros((1, 3, 16, 16), np.float32), **adain_stats}, ["image"],
            "data-type is 'FP32', but model 'adain' expects 'UINT8'"),
           # a frame's channels last, but 4 of them (BGRA)
           ("adain_encoder", {"frame": np.zeros((1, 16, 16, 4), np.uint8)}, ["features"],
            "unexpected shape for input 'frame'"),
           # passes Triton's checks, refused by ONNX Runtime inside the shim: its own error response
           ("adain_encoder", {"frame": np.zeros((1, 2, 2, 3), np.uint8)}, ["features"], "onnx runtime error"),
           ("nope", good, ["x"], "Request for unknown model")]
    for proto, call in both(server):
        for model, feeds, outputs, message in bad:
            with pytest.raises(InferError) as e:
                call(model, feeds, outputs)
            assert message in str(e.value), (proto, model, str(e.value))
            np.testing.assert_allclose(call("ae_decoder", good, ["x"])["x"], want, atol=1e-5)
    assert server.proc.poll() is None and server.request("/v2/health/ready")[0] == 200


def median_ms(fn, n=20, warmup=3):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        fn()
        times.append(time.perf_counter_ns() - t0)
    return float(np.median(times)) / 1e6


def test_request_latency_next_to_the_local_pipeline(server, stylizer, generator):
    """Medians of 20 (after 3 warm-up calls) for the same inputs; measured, not asserted."""
    st, style = stylizer
    mean, std = st.style_stats(style)
    content = np.random.default_rng(4).integers(0, 256, (1, 240, 320, 3), np.uint8)  # a BGR camera frame
    feeds = {"content": content, "style_mean": mean.reshape(1, -1, 1, 1).astype(np.float32),
             "style_std": std.reshape(1, -1, 1, 1).astype(np.float32), "alpha": np.ones((1, 1), np.float32)}
    client = grpc_client(server)
    sg, _ = stylegan_feeds(generator, 1, 7)
    rows = {
        "adain 320x240": (lambda: st(content, bgr=True),
                          lambda: grpc_infer(client, "adain", feeds, ["image"]),
                          lambda: http_infer(server, "adain", feeds, ["image"], binary=True)),
        "stylegan 1 image": (lambda: generator.synthesis(generator.broadcast(generator.truncate(
                                 generator.mapping(sg["z"]), 0.7)), noise=[sg[f"noise_{i}"] for i in range(4)]),
                             lambda: grpc_infer(client, "stylegan", sg, ["image"]),
                             lambda: http_infer(server, "stylegan", sg, ["image"], binary=True)),
    }
    with capsys_off():
        for name, (local, grpc, http) in rows.items():
            print(f"\ntriton latency {name}: local pipeline {median_ms(local):.1f} ms, server gRPC "
                  f"{median_ms(grpc):.1f} ms, HTTP (binary tensors) {median_ms(http):.1f} ms (median of 20)")


def test_serve_command_runs_until_interrupted(inst, repos):
    """`stylert triton serve` as users run it: ready line, answers, Ctrl-C ends it with
    nothing left running."""
    http, grpc = ts.free_port(), ts.free_port()
    proc = subprocess.Popen([sys.executable, "-m", "stylert.cli", "triton", "serve", str(repos["ae"]),
                             "--http-port", str(http), "--grpc-port", str(grpc)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        line = proc.stdout.readline()  # printed once every model is ready
        assert f"serving 2 models (ae_decoder, ae_encoder) at http://127.0.0.1:{http} (HTTP) and 127.0.0.1:{grpc}" \
               in line, line
        srv = ts.Server(inst, [], http_port=http)  # only for its HTTP helper
        assert srv.request("/v2/models/ae_encoder/ready")[0] == 200
        triton = children(proc.pid)
        assert len(triton) == 1  # tritonserver, in its own process group with its stubs
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 130
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert _group_gone(proc.pid) and _group_gone(triton[0]), "a process of `stylert triton serve` outlived it"
    ts.check_port("127.0.0.1", http, "--http-port")  # nothing listens there any more
    ts.check_port("127.0.0.1", grpc, "--grpc-port")


def broken_repo(repos, root: Path) -> Path:
    """A repository with ae_broken: the ae decoder's graph, its config saying INT32 for z."""
    (root / "ae_broken" / "1").mkdir(parents=True)
    (root / "ae_broken" / "1" / "model.onnx").write_bytes((repos["ae"] / "ae_decoder" / "1" / "model.onnx").read_bytes())
    cfg = (repos["ae"] / "ae_decoder" / "config.pbtxt").read_text().replace('"ae_decoder"', '"ae_broken"')
    (root / "ae_broken" / "config.pbtxt").write_text(cfg.replace("TYPE_FP32", "TYPE_INT32", 1))
    return root


def test_a_model_that_does_not_load_is_named_with_the_reason(inst, repos, tmp_path):
    srv = ts.Server(inst, [broken_repo(repos, tmp_path / "broken")], http_port=ts.free_port(),
                    grpc_port=ts.free_port())
    with srv, pytest.raises(ts.ServerError) as e:
        srv.wait_ready(timeout=120)
    assert str(e.value).startswith("tritonserver stopped before it was ready (exit code 1): failed to load "
                                   "'ae_broken' version 1: ")
    assert "configuration expects datatype TYPE_INT32 for input 'z', model provides TYPE_FP32" in str(e.value)
    assert _group_gone(srv.proc.pid)


def test_a_restart_reloads_the_repository(server, repos, tmp_path):
    """Stopped (no process left), the ae repository rewritten with --max-batch 4 and a model
    whose config does not match its ONNX file added; started again: the new config is served,
    and the bad model is UNAVAILABLE with the C++ backend's reason while the rest are READY."""
    assert server.request("/v2/models/ae_decoder/config")[1]["max_batch_size"] == 8
    server.stop()
    assert server.proc.returncode == 0 and _group_gone(server.proc.pid)
    write_repo("ae", repos["ae"], "--max-batch", "4", "--force")
    server.repos.append(broken_repo(repos, tmp_path / "broken"))
    server.extra_args = ["--exit-on-error=false"]
    server.http_port, server.grpc_port = ts.free_port(), ts.free_port()
    server.start()
    index = {m["name"]: m for m in server.wait_loaded(timeout=240)}
    restart_s = time.perf_counter() - server.started
    with capsys_off():
        print(f"\ntriton: restarted, 14 models loaded {restart_s:.1f} s after start")
    assert index.pop("ae_broken")["state"] == "UNAVAILABLE"
    assert server.request("/v2/models/ae_broken/ready")[0] != 200
    assert "configuration expects datatype TYPE_INT32 for input 'z', model provides TYPE_FP32" in \
        json.dumps(server.models())
    assert len(index) == 13 and all(m["state"] == "READY" for m in index.values())
    assert server.request("/v2/models/ae_decoder/config")[1]["max_batch_size"] == 4
    z = np.random.default_rng(5).random((4, 2), np.float32)
    want = stylert.AutoEncoder(backend="onnxruntime-cpu").decode(z).reshape(4, -1)
    for proto, call in both(server):
        np.testing.assert_allclose(call("ae_decoder", {"z": z}, ["x"])["x"], want, atol=1e-5, err_msg=proto)
