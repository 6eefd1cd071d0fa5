"""The TensorRT layer's logic that needs no GPU: profiles, precision policy, the engine
cache (keys, atomic entries, stale/corrupt rebuilds, locking) and the clear refusal."""

import json
import threading
import time
from types import SimpleNamespace

import pytest

from stylert import backends, cli
from stylert import families
from stylert.errors import PackageError
from stylert.backends import tensorrt as trt_backend
from stylert.backends.tensorrt import build as trt
from stylert.backends.tensorrt import cache

ADAIN_ENCODER = {"inputs": [{"name": "image", "shape": ["batch", 3, "height", "width"], "dtype": "float32"}]}
ADAIN_DECODER = {"inputs": [{"name": "features", "shape": ["batch", 128, "fheight", "fwidth"], "dtype": "float32"}]}
SYNTHESIS = {"inputs": [{"name": "ws", "shape": ["batch", 4, 64], "dtype": "float32"},
                        {"name": "noise_0", "shape": ["batch", 1, 4, 4], "dtype": "float32"}]}


def test_default_profiles_follow_the_symbolic_shapes():
    assert trt.profile(ADAIN_ENCODER) == {"image": ((1, 3, 64, 64), (1, 3, 480, 640), (4, 3, 1088, 1920))}
    dec = trt.profile(ADAIN_DECODER, ranges=families.get("adain").ranges)["features"]
    assert dec[1] == (1, 128, 60, 80)  # the decoder's opt is the encoder's opt / 8
    syn = trt.profile(SYNTHESIS)
    assert syn["ws"] == ((1, 4, 64), (1, 4, 64), (4, 4, 64)) and syn["noise_0"][2] == (4, 1, 4, 4)


def test_shapes_option():
    given = trt.parse_shapes("image=1x3x128x128:1x3x720x1280:2x3x1088x1920")
    assert trt.profile(ADAIN_ENCODER, given)["image"][1] == (1, 3, 720, 1280)
    fixed = trt.parse_shapes("image=1x3x256x256")
    assert trt.profile(ADAIN_ENCODER, fixed)["image"] == ((1, 3, 256, 256),) * 3
    for bad in ["image", "image=1x3:2", "image=ax3x4x4", "image=1x3x4x4:1x3x4x4"]:
        with pytest.raises(trt.TensorRTError, match="NAME=MIN"):
            trt.parse_shapes(bad)
    with pytest.raises(trt.TensorRTError, match="fixed at 3"):
        trt.profile(ADAIN_ENCODER, trt.parse_shapes("image=1x4x64x64"))
    with pytest.raises(trt.TensorRTError, match="min <= opt <= max"):
        trt.profile(ADAIN_ENCODER, trt.parse_shapes("image=1x3x512x512:1x3x256x256:1x3x1024x1024"))
    with pytest.raises(trt.TensorRTError, match="4 dimensions"):
        trt.profile(ADAIN_ENCODER, trt.parse_shapes("image=1x3x64"))
    with pytest.raises(trt.TensorRTError, match="names no input"):
        trt.profile(ADAIN_ENCODER, trt.parse_shapes("content=1x3x64x64"))
    with pytest.raises(trt.TensorRTError, match="no default range"):
        trt.profile({"inputs": [{"name": "x", "shape": ["frames", 3]}]})


def test_precision_policy():
    for p in ("fp32", "fp16", "int8"):  # TensorRT 10+: the graph's own types, strongly typed
        assert trt.precision_plan(p, "10.13.0") == {"onnx": p, "strongly_typed": True, "flags": [],
                                                    "tf32": p != "fp32"}
    old = trt.precision_plan("fp16", "8.5.2")  # JetPack 5
    assert old["onnx"] == "fp32" and not old["strongly_typed"]
    assert {"FP16", "OBEY_PRECISION_CONSTRAINTS"} <= set(old["flags"])
    # explicit QDQ: the package's int8 graph (symmetric int8 on the weighted ops' inputs, float32
    # elsewhere, tests/test_int8_qdq.py) built as it is, INT8 alone: FP16 would run its float32
    # islands (normalisation included) in fp16, which is not what the export's gate measured
    assert trt.precision_plan("int8", "8.6.1") == {"onnx": "int8", "strongly_typed": False, "flags": ["INT8"],
                                                   "tf32": True}
    with pytest.raises(trt.TensorRTError, match="unknown precision"):
        trt.precision_plan("fp8", "10.0")


def _key(**change):
    base = dict(onnx_sha256="ab" * 32, prof=trt.profile(ADAIN_ENCODER), precision="fp16",
                trt_version="10.13.0", compute_capability="8.7")
    base.update(change)
    return cache.cache_key(**base)


def test_cache_key_names_every_dependency(tmp_path):
    names = {cache.entry_paths(_key(), "encoder", tmp_path)[0]}
    for change in [dict(onnx_sha256="cd" * 32), dict(precision="int8"), dict(trt_version="10.14.0"),
                   dict(compute_capability="8.9"), dict(prof=trt.profile(ADAIN_ENCODER, trt.parse_shapes("image=1x3x64x64")))]:
        names.add(cache.entry_paths(_key(**change), "encoder", tmp_path)[0])
    assert len(names) == 6
    assert cache.entry_paths(_key(), "encoder", tmp_path) == cache.entry_paths(_key(), "encoder", tmp_path)


def test_cache_builds_once_and_rebuilds_bad_entries(tmp_path):
    calls = []

    def build():
        calls.append(1)
        return b"engine-%d" % len(calls)

    key = _key()
    path, built = cache.cached_engine(key, "encoder", build, tmp_path)
    assert built and path.read_bytes() == b"engine-1"
    assert cache.cached_engine(key, "encoder", build, tmp_path) == (path, False) and len(calls) == 1
    path.write_bytes(b"truncated")  # corrupt: the sidecar's sha256 no longer matches
    assert cache.cached_engine(key, "encoder", build, tmp_path)[1] and path.read_bytes() == b"engine-2"
    sidecar = path.with_suffix(".json")
    meta = json.loads(sidecar.read_text())
    meta["key"]["tensorrt"] = "9.0"  # stale
    sidecar.write_text(json.dumps(meta))
    assert cache.cached_engine(key, "encoder", build, tmp_path)[1] and len(calls) == 3
    sidecar.write_text("[1, 2]")  # not an object: before, an AttributeError traceback
    assert cache.cached_engine(key, "encoder", build, tmp_path)[1] and len(calls) == 4
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_failed_build_leaves_no_entry(tmp_path):
    def build():
        raise trt.TensorRTError("out of memory")

    with pytest.raises(trt.TensorRTError):
        cache.cached_engine(_key(), "encoder", build, tmp_path)
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".lock"]


def test_concurrent_builders_build_once(tmp_path):
    calls = []

    def slow_build():
        calls.append(1)
        time.sleep(0.3)
        return b"engine"

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.cached_engine(_key(), "encoder", slow_build, tmp_path)))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and sorted(built for _, built in results) == [False, False, True]


def _tiny_package(path):
    """A valid 'ae' package whose graphs are the one-node probe model (no torch needed)."""
    from stylert import package
    from stylert.backends.onnxrt import _PROBE_MODEL

    path.mkdir()
    graphs = {}
    for name in ("encoder", "decoder"):
        (path / f"{name}.onnx").write_bytes(_PROBE_MODEL)
        graphs[name] = {"inputs": [{"name": "x", "shape": [1], "dtype": "float32"}],
                        "outputs": [{"name": "y", "shape": [1], "dtype": "float32"}],
                        "files": {"fp32": {"file": f"{name}.onnx", "sha256": package.sha256(path / f"{name}.onnx")}}}
    meta = {"format": package.FORMAT, "format_version": package.FORMAT_VERSION, "kind": "ae", "graphs": graphs,
            "io": {"image_shape": [1, 1], "latent": 1}}
    meta["checksum"] = package.checksum(meta)
    (path / package.MANIFEST).write_text(json.dumps(meta))
    return package.load(path)


def test_build_without_tensorrt_is_one_clear_line(tmp_path, capsys, monkeypatch):
    pkg = _tiny_package(tmp_path / "pkg")
    monkeypatch.setattr(trt, "unavailable_reason", lambda: "TensorRT is not installed")
    assert cli.main(["build", str(pkg.path), "--precision", "fp16"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("stylert: error: TensorRT is not installed: pip install 'stylert[tensorrt]'")
    assert len(err.splitlines()) == 1
    assert cli.main(["build", str(tmp_path / "nothing")]) == 2
    assert "not found" in capsys.readouterr().err
    monkeypatch.undo()
    try:
        import tensorrt  # noqa: F401
    except ImportError:  # this machine (and CI): the real reason is given
        assert "TensorRT is not installed" in trt_backend.unavailable_reason()


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("STYLERT_CACHE", str(tmp_path))
    assert cache.cache_dir() == tmp_path / "engines"


# -- a backend that cannot build a package is a skip in auto mode ----------------------------
class _Engine(backends.Engine):
    backend, device = "standin", "cpu"

    def run_native(self, feeds):
        return next(iter(feeds.values()))


@pytest.fixture
def standins(monkeypatch):
    """The registry replaced by two stand-ins, in auto order: "tensorrt", whose open raises what
    ``raises`` holds (as build_engine raises a TensorRT parse failure), then "onnxruntime-cpu",
    which opens; the self-check passes."""
    raises = {"error": trt.TensorRTError("TensorRT could not parse decoder.int8.onnx"
                                         + trt.INT8_HINT + ": Non-zero zero point is not supported.")}

    def failing(pkg, names, precision, spin=True):
        raise raises["error"]

    def working(pkg, names, precision, spin=True):
        return {n: _Engine() for n in names}

    monkeypatch.setattr(backends, "REGISTRY", {
        "tensorrt": backends.Backend("tensorrt", lambda: "", failing),
        "onnxruntime-cpu": backends.Backend("onnxruntime-cpu", lambda: "", working)})
    monkeypatch.setattr(backends.selfcheck, "check", lambda *a, **k: SimpleNamespace(passed=True, detail=""))
    backends._probe.cache_clear()
    yield raises
    backends._probe.cache_clear()


def test_a_tensorrt_build_failure_is_a_skip_in_auto_mode(standins, tmp_path):
    pkg = _tiny_package(tmp_path / "pkg")
    engines, choice = backends.open_engines(pkg, "auto")
    assert choice.backend == "onnxruntime-cpu" and set(engines) == {"encoder", "decoder"}
    assert "skipped tensorrt: TensorRT could not parse decoder.int8.onnx (an int8 graph" in str(choice)
    assert "re-export the package" in str(choice) and "Non-zero zero point" in str(choice)
    with pytest.raises(trt.TensorRTError, match="could not parse"):  # a named backend still fails
        backends.open_engines(pkg, "tensorrt")


def test_user_mistakes_still_raise_in_auto_mode(standins, tmp_path):
    pkg = _tiny_package(tmp_path / "pkg")
    standins["error"] = PackageError(f"{pkg.path}: encoder.onnx does not match the sha256 in stylert.json")
    with pytest.raises(PackageError, match="does not match"):
        backends.open_engines(pkg, "auto")
    with pytest.raises(PackageError, match="no int8 variant"):  # a missing variant, before any backend opens
        backends.open_engines(pkg, "auto", precision="int8")


def _fake_tensorrt(log):
    """Just enough of the TensorRT Python API for build_engine, recording the builder
    config's flags. Modelled on TensorRT 10/11 (include/NvInfer.h): BuilderFlag.TF32 is
    enabled by default, also for strongly typed networks."""

    class Config:
        def __init__(self):
            self.flags = {"TF32"}

        def set_flag(self, flag):
            self.flags.add(flag)

        def clear_flag(self, flag):
            self.flags.discard(flag)

        def add_optimization_profile(self, p):
            pass

        def create_timing_cache(self, data):
            return SimpleNamespace(serialize=lambda: b"timing")

        def set_timing_cache(self, cache, ignore_mismatch):
            pass

    class Builder:
        def __init__(self, logger):
            pass

        def create_network(self, flags):
            return SimpleNamespace()

        def create_builder_config(self):
            return Config()

        def create_optimization_profile(self):
            return SimpleNamespace(set_shape=lambda *a: None)

        def build_serialized_network(self, network, config):
            log.append(set(config.flags))
            return b"engine"

    class Logger:
        WARNING = 0

        def __init__(self, level):
            pass

    names = ["FP16", "INT8", "TF32", "OBEY_PRECISION_CONSTRAINTS"]
    return SimpleNamespace(
        Logger=Logger, Builder=Builder,
        NetworkDefinitionCreationFlag=SimpleNamespace(STRONGLY_TYPED=0),
        OnnxParser=lambda network, logger: SimpleNamespace(parse_from_file=lambda path: True),
        BuilderFlag=SimpleNamespace(**{n: n for n in names}))


@pytest.mark.parametrize("precision, tf32", [("fp32", False), ("fp16", True), ("int8", True)])
def test_fp32_engines_are_built_without_tf32(monkeypatch, tmp_path, precision, tf32):
    # Before: TensorRT's default (TF32 on) for fp32 engines, whose gate TF32 misses.
    log = []
    fake = _fake_tensorrt(log)
    monkeypatch.setattr(trt, "_trt", lambda: fake)
    trt.build_engine(tmp_path / "g.onnx", {}, trt.precision_plan(precision, "10.13.0"), tmp_path / "t.cache")
    assert ("TF32" in log[0]) == tf32
