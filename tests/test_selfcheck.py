"""Backends verify themselves before a pipeline trusts them: a registered test backend whose
decoder really computes something wrong (perturbed weights) is skipped by auto with the
figure, refused when named, run anyway with unverified=True, and its verdict is cached."""

import json

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from stylert import Stylizer, backends, cli
from stylert.backends import selfcheck
from stylert.backends.base import Backend
from stylert.backends.onnxrt import CPU, OnnxRuntimeEngine
from stylert.errors import BackendError
from stylert.package import default_package, load
from helpers import AUTO, cli_error


@pytest.fixture
def perturbed(tmp_path, monkeypatch):
    """A backend 'perturbed', first in the auto order, whose decoder weights are off by 20%."""
    monkeypatch.setenv("STYLERT_CACHE", str(tmp_path / "cache"))
    runs = []

    def open_graphs(pkg, names, precision, spin=True):
        engines = {}
        for name in names:
            model = onnx.load(str(pkg.onnx(name)))
            if name == "decoder":
                for init in model.graph.initializer:
                    if len(init.dims) == 4:  # the first convolution's kernel
                        init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * 1.2, init.name))
                        break
            path = tmp_path / f"{name}.onnx"
            onnx.save(model, str(path))
            engines[name] = OnnxRuntimeEngine(path, CPU, 1)
            runs.append(name)
        return engines

    entry = Backend("perturbed", lambda: "", open_graphs, version=lambda: "1")
    monkeypatch.setattr(backends, "REGISTRY", {"perturbed": entry, **backends.REGISTRY})
    return runs


def test_auto_rejects_a_wrong_backend_with_the_figure_and_falls_back(perturbed):
    st = Stylizer()
    assert st.backend == AUTO
    assert "perturbed: parity check failed, decoder fp32 max abs error" in st.choice.reason
    verdicts = json.loads(selfcheck.verdicts_file().read_text())
    assert {v["backend"]: v["passed"] for v in verdicts.values()} == {"perturbed": False, AUTO: True}


def test_a_named_backend_that_fails_is_an_error_unless_unverified(perturbed):
    with pytest.raises(BackendError, match="backend perturbed: parity check failed, decoder fp32 .*--unverified"):
        Stylizer(backend="perturbed")
    st = Stylizer(backend="perturbed", unverified=True)
    assert st.backend == "perturbed" and "unverified: decoder fp32" in st.choice.reason
    st.set_style(np.full((32, 32, 3), 128, np.uint8))
    assert st(np.zeros((24, 32, 3), np.uint8)).shape == (24, 32, 3)


def test_the_verdict_is_cached_per_package_backend_version_and_variant(perturbed, monkeypatch):
    pkg = load(default_package("adain"))
    calls = []
    real = selfcheck.run_probe
    monkeypatch.setattr(selfcheck, "run_probe", lambda *a, **k: calls.append(1) or real(*a, **k))
    for _ in range(3):
        Stylizer(pkg)
    assert len(calls) == 2  # the perturbed and the CPU backends once each, then from the cache
    Stylizer(pkg, precision="int8")  # the CPU backend's int8-cpu files: checked anew (the
    assert len(calls) == 3           # perturbed one opens its fp32 files again: cached)


def test_a_crashing_backend_fails_the_check_with_the_reason():
    pkg = load(default_package("ae"))

    class Broken(OnnxRuntimeEngine):
        def run_native(self, feeds):
            raise RuntimeError("CUDA error: an illegal memory access")

    engines = {"encoder": Broken(pkg.onnx("encoder"), CPU, 1)}
    verdict = selfcheck.run_probe(pkg, engines)
    assert not verdict.passed and "encoder fp32 failed to run (RuntimeError: CUDA error" in verdict.detail


def test_auto_skips_a_backend_that_fails_to_open(monkeypatch):
    def broken(pkg, names, precision, spin=True):
        raise OSError("libcudnn.so.9: cannot open shared object file")

    entry = Backend("half-installed", lambda: "", broken)
    monkeypatch.setattr(backends, "REGISTRY", {"half-installed": entry, **backends.REGISTRY})
    st = Stylizer()
    assert st.backend == AUTO
    assert "half-installed: failed to open (OSError: libcudnn.so.9: cannot open" in st.choice.reason


def test_verify_json_lists_the_whole_chain_checks(packages, tmp_path, capsys):
    path = tmp_path / "v.json"
    assert cli.main(["verify", str(packages["ae"].path), "--json", str(path)]) == 0
    report = json.loads(path.read_text())
    chains = [c for c in report["checks"] if c["graph"] == "chain"]
    assert report["chain_reference"] and report["passed"] and AUTO in {c["backend"] for c in chains}
    assert all(c["passed"] for c in chains) and {c["precision"] for c in chains} >= {"fp32", "fp16"}
    err = cli_error(capsys, ["verify", str(packages["ae"].path), "--json", str(tmp_path)])  # a folder
    assert f"cannot write {tmp_path}" in err


def test_a_verdict_cache_entry_of_the_wrong_shape_is_checked_again(monkeypatch, tmp_path):
    # before: a TypeError traceback on the entry's fields
    monkeypatch.setenv("STYLERT_CACHE", str(tmp_path))
    Stylizer(backend="onnxruntime-cpu")
    path = selfcheck.verdicts_file()
    known = json.loads(path.read_text())
    path.write_text(json.dumps({key: ["passed"] for key in known}))
    assert Stylizer(backend="onnxruntime-cpu").backend == "onnxruntime-cpu"
    assert all(isinstance(v, dict) and v["passed"] for v in json.loads(path.read_text()).values())
