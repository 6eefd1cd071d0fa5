"""stylert bench: the report's fields, per-stage times, the baseline ratio, --compare and
the bad options (timings themselves are never asserted)."""

import json
import os

import numpy as np
import pytest

from stylert import cli
from stylert.bench import probes
from helpers import cli_error as _error  # noqa: E402


def test_report_json_markdown_and_stages(tmp_path, capsys):
    argv = ["bench", "ae", "--batch", "1,32", "--precision", "fp32,int8", "--backend", "onnxruntime-cpu",
            "--iterations", "4", "--duration", "0", "--warmup", "1",
            "--json", str(tmp_path / "r.json"), "--markdown", str(tmp_path / "r.md")]
    assert cli.main(argv) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    # the schema --compare and other tools read
    assert set(report) == {"system", "model", "rows", "packages", "peak_rss_mb", "machine_warnings", "baseline"}
    assert {"cpu", "logical_cores", "stylert", "versions", "extension"} <= set(report["system"])
    row_keys = {"model", "backend", "precision", "size", "batch", "key", "n", "min_ms", "mean_ms", "median_ms",
                "p90_ms", "p95_ms", "p99_ms", "max_ms", "std_ms", "cv", "throughput_per_s", "cold_start_s",
                "rss_growth_mb", "device_peak_mb", "samples_ms", "stages_median_ms", "warnings", "engines"}
    assert all(set(r) == row_keys for r in report["rows"])
    assert report["system"]["cpu"] and report["peak_rss_mb"] > 0
    keys = [r["key"] for r in report["rows"]]
    assert keys == ["onnxruntime-cpu fp32 batch 1", "onnxruntime-cpu fp32 batch 32",
                    "onnxruntime-cpu int8 batch 1", "onnxruntime-cpu int8 batch 32"]
    for r in report["rows"]:
        assert r["n"] >= 4 and r["min_ms"] <= r["median_ms"] <= r["p99_ms"] <= r["max_ms"]
        assert set(r["stages_median_ms"]) == {"encoder", "decoder"} and r["cold_start_s"] > 0
        assert "only 4 iterations" in r["warnings"]
    assert all(v["checksum"] for v in report["packages"].values())
    assert (tmp_path / "r.md").read_text().startswith("| combination |")
    capsys.readouterr()
    assert cli.main(["bench", "--compare", str(tmp_path / "r.json"), str(tmp_path / "r.json")]) == 0
    assert "| onnxruntime-cpu int8 batch 32 |" in capsys.readouterr().out


def test_adain_stages_and_torch_baseline(tmp_path):
    pytest.importorskip("torch")
    assert cli.main(["bench", "adain", "--size", "64", "--backend", "onnxruntime-cpu", "--baseline", "torch-eager",
                     "--iterations", "3", "--duration", "0", "--warmup", "1", "--json", str(tmp_path / "r.json")]) == 0
    rows = json.loads((tmp_path / "r.json").read_text())["rows"]
    assert [r["backend"] for r in rows] == ["torch", "onnxruntime-cpu"]
    assert rows[0]["speedup_vs_baseline"] == 1.0 and rows[1]["speedup_vs_baseline"] > 0
    assert set(rows[1]["stages_median_ms"]) == {"pre-process", "encoder", "adain", "decoder", "post-process"}


def test_bad_bench_options(tmp_path, capsys):
    assert "name a model" in _error(capsys, ["bench"])
    assert "--size applies to adain, kernel, live" in _error(capsys, ["bench", "ae", "--size", "64"])
    (tmp_path / "x.json").write_text("{}")
    assert "not a `stylert bench --json` report" in _error(capsys, ["bench", "--compare", str(tmp_path / "x.json"),
                                                                  str(tmp_path / "x.json")])
    assert "cannot read" in _error(capsys, ["bench", "--compare", str(tmp_path / "no.json"), str(tmp_path / "x.json")])
    # rows without a key or with a zero median: before, a KeyError / ZeroDivisionError traceback
    for row in ({"median_ms": 1.0}, {"key": "a", "median_ms": 0}, {"key": "a"}, ["a list"]):
        (tmp_path / "y.json").write_text(json.dumps({"system": {}, "rows": [row]}))
        assert "a row without a key and a positive median_ms" in _error(
            capsys, ["bench", "--compare", str(tmp_path / "y.json"), str(tmp_path / "y.json")])
    assert "not available here" in _error(capsys, ["bench", "ae", "--backend", "tensorrt", "--iterations", "1"])
    for bad in (["bench", "ae", "--backend", "cuda"], ["bench", "ae", "--precision", "fp8"], ["bench", "gan"]):
        with pytest.raises(SystemExit):
            cli.main(bad)


def test_live_mode(tmp_path, capsys):
    assert cli.main(["bench", "live", "--size", "160", "--backend", "onnxruntime-cpu", "--precision", "int8",
                     "--iterations", "3", "--duration", "0", "--warmup", "1", "--json", str(tmp_path / "l.json")]) == 0
    assert "live FPS" in capsys.readouterr().out
    (row,) = json.loads((tmp_path / "l.json").read_text())["rows"]
    assert row["key"] == "onnxruntime-cpu int8 160x120 from 640x480"
    assert {"resize in", "encoder", "adain", "decoder", "resize out"} <= set(row["stages_median_ms"])
    live = row["live"]  # the threaded run on the camera-paced demo scene
    assert live["fps"] > 0 and 0 < live["frames_processed"] <= live["frames_captured"]
    assert live["latency_ms"]["p50"] <= live["latency_ms"]["p95"]
    assert "one camera frame at a time" in _error(capsys, ["bench", "live", "--batch", "2"])
    assert "processing widths from 16 to 640" in _error(capsys, ["bench", "live", "--size", "800"])


def test_kernel_mode(tmp_path):
    assert cli.main(["bench", "kernel", "--size", "8", "--iterations", "3", "--duration", "0", "--warmup", "1",
                     "--json", str(tmp_path / "k.json")]) == 0
    rows = json.loads((tmp_path / "k.json").read_text())["rows"]
    names = [r["backend"] for r in rows]
    assert names[:4] == ["stylert fused fp32", "stylert fused fp16", "numpy composite", "copy (np.copyto)"]
    assert all(r["key"].endswith("1x512x8x8") for r in rows)


def test_plot(tmp_path):
    pytest.importorskip("matplotlib")
    import cv2

    assert cli.main(["bench", "ae", "--backend", "onnxruntime-cpu", "--iterations", "3", "--duration", "0",
                     "--plot", str(tmp_path / "p.png")]) == 0
    img = cv2.imread(str(tmp_path / "p.png"))
    assert img is not None and img.shape[1] > 1000


def test_gpu_clock_warnings(tmp_path):
    smi = tmp_path / "nvidia-smi"

    def fake(output, rc=0):
        smi.write_text(f"#!/bin/sh\necho '{output}'\nexit {rc}\n")
        smi.chmod(0o755)
        return probes.gpu_warnings(str(smi))

    assert fake("0x0000000000000002, 1410, 1410") == []  # locked (user-defined clocks), no slowdown
    unlocked = fake("0x0000000000000000, 1755, 1980")
    assert len(unlocked) == 1 and "not locked (SM 1755 of 1980 MHz" in unlocked[0] and "-lgc 1980" in unlocked[0]
    hot = fake("0x0000000000000046, 1200, 1410")  # locked, but power-capped and thermal-throttled
    assert len(hot) == 1 and "software power cap, hardware thermal slowdown" in hot[0]
    assert fake("[N/A], [N/A], [N/A]") == [] and fake("", rc=9) == []
    assert probes.gpu_warnings(str(tmp_path / "missing")) == []


def test_device_memory_of_cupy_backends_is_the_growth_since_the_reset(monkeypatch):
    """The figure for ONNX Runtime's arena and TensorRT (no torch-CUDA), from a stand-in
    for CuPy's memGetInfo: control flow only, no GPU ran this."""
    import sys
    from types import SimpleNamespace

    free = [8000 * 2**20]
    fake = SimpleNamespace(cuda=SimpleNamespace(runtime=SimpleNamespace(memGetInfo=lambda: (free[0], 10000 * 2**20))))
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    monkeypatch.delitem(sys.modules, "cupy", raising=False)
    assert probes.device_mb(reset=True) is None  # no GPU pipeline: nothing to report
    monkeypatch.setitem(sys.modules, "cupy", fake)
    assert probes.device_mb() == 2000.0  # CUDA started inside the pipeline: all of it counts
    assert probes.device_mb(reset=True) == 0.0
    free[0] -= 300 * 2**20
    assert probes.device_mb() == 300.0


@pytest.fixture
def graph_backend(monkeypatch):
    """A stand-in "onnxruntime-cuda" that can capture CUDA graphs (``graphs=True``): it records
    the cuda_graphs option and STYLERT_CUDA_GRAPHS as its opener sees them, then opens the
    graphs on the CPU provider; the self-check passes."""
    from types import SimpleNamespace

    from stylert import backends
    from stylert.backends import onnxrt

    seen = []

    def open_graphs(pkg, names, precision, spin=True, **options):
        seen.append((options, os.environ.get("STYLERT_CUDA_GRAPHS")))
        return onnxrt._opener(onnxrt.CPU)(pkg, names, precision, spin)

    monkeypatch.setattr(backends, "REGISTRY", {
        "onnxruntime-cuda": backends.Backend("onnxruntime-cuda", lambda: "", open_graphs, graphs=True)})
    monkeypatch.setattr(backends.selfcheck, "check", lambda *a, **k: SimpleNamespace(passed=True, detail=""))
    backends._probe.cache_clear()
    yield seen
    backends._probe.cache_clear()


def test_cuda_graphs_are_an_explicit_option_and_the_environment_is_left_alone(graph_backend, monkeypatch):
    from stylert.bench import harness

    monkeypatch.setenv("STYLERT_CUDA_GRAPHS", "1")  # the user's setting, which the bench overrides per backend
    before = dict(os.environ)
    report = harness.run("ae", ["onnxruntime-cuda+graphs", "onnxruntime-cuda"], ["fp32"], [0], [1], warmup=1,
                         iterations=2, seconds=0, baseline=None, package=None, progress=False)
    assert dict(os.environ) == before
    assert graph_backend == [({"cuda_graphs": True}, "1"), ({"cuda_graphs": False}, "1")]  # never via the env
    assert [r["key"] for r in report["rows"]] == ["onnxruntime-cuda+graphs fp32 batch 1",
                                                  "onnxruntime-cuda fp32 batch 1"]


def test_without_an_explicit_option_the_users_environment_decides(graph_backend, monkeypatch):
    from stylert import backends
    from stylert.backends.cuda import graphs_wanted
    from stylert.package import default_package, load

    monkeypatch.setenv("STYLERT_CUDA_GRAPHS", "1")
    assert graphs_wanted() and graphs_wanted(True) and not graphs_wanted(False)
    backends.open_engines(load(default_package("ae")), "onnxruntime-cuda")
    assert graph_backend == [({}, "1")]  # the opener reads STYLERT_CUDA_GRAPHS itself (graphs_wanted(None))
    monkeypatch.setenv("STYLERT_CUDA_GRAPHS", "0")
    assert not graphs_wanted() and graphs_wanted(True)


def test_a_stage_the_pipeline_does_not_declare_still_shows_up(tmp_path, monkeypatch, capsys):
    """The table's columns come from the pipeline's stages_order; a stage it times but does not
    declare is appended, never dropped (the old fixed list silently dropped "stabilize")."""
    from stylert.bench import report
    from stylert.pipelines.autoencoder import AutoEncoder

    monkeypatch.setattr(AutoEncoder, "stages_order", ("decoder",))  # "encoder" undeclared
    assert cli.main(["bench", "ae", "--backend", "onnxruntime-cpu", "--iterations", "2", "--duration", "0",
                     "--warmup", "1", "--json", str(tmp_path / "r.json")]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert header.index("decoder (median)") < header.index("encoder (median)")
    (row,) = json.loads((tmp_path / "r.json").read_text())["rows"]
    assert list(row["stages_median_ms"]) == ["decoder", "encoder"]

    assert report.in_order(["stabilize", "mystery", "encoder"], ("encoder", "stabilize")) == \
        ["encoder", "stabilize", "mystery"]
    rows = [{"stages_median_ms": {"pre-process": 1.0, "encoder": 2.0, "decoder": 3.0, "mystery": 4.0}},
            {"stages_median_ms": {"pre-process": 1.0, "host->device": 0.5, "encoder": 2.0, "decoder": 3.0,
                                  "device->host": 0.5}}]
    assert report.stage_columns(rows) == ["pre-process", "host->device", "encoder", "decoder", "device->host",
                                          "mystery"]


def test_every_pipeline_declares_the_stages_it_times():
    from stylert.pipelines.autoencoder import AutoEncoder
    from stylert.pipelines.generator import Generator
    from stylert.pipelines.stylizer import Stylizer

    assert AutoEncoder.stages_order == ("encoder", "decoder")
    assert Generator.stages_order == ("mapping", "synthesis", "post-process")
    # what a live frame times (the stabiliser's stage included) is all declared, in call order
    from stylert.pipelines.temporal import Stabilizer

    st = Stylizer(backend="onnxruntime-cpu")
    st.set_style(np.full((64, 64, 3), 128, np.uint8))
    st.stages.enabled = True
    st.frame(np.zeros((48, 64, 3), np.uint8), (32, 24), stabilizer=Stabilizer())
    timed = list(st.stages.collect())
    assert set(timed) <= set(Stylizer.stages_order) and "stabilize" in timed
    assert timed == [s for s in Stylizer.stages_order if s in timed]


def test_harness_statistics_on_a_stand_in_callable(monkeypatch):
    """measure on callables that take known times (a stand-in clock they advance): warm-up
    calls untimed, then the medians, percentiles, warnings and per-pair ratios of exactly
    those times."""
    from types import SimpleNamespace

    from stylert import timing
    from stylert.bench import harness

    now = [0]
    monkeypatch.setattr(timing, "time", SimpleNamespace(perf_counter_ns=lambda: now[0],
                                                        perf_counter=lambda: now[0] / 1e9, sleep=lambda s: None))
    slow = iter([9, 9, 1, 2, 3, 4, 10])  # ms: two warm-up calls, then five timed ones
    calls = {"a": 0, "base": 0}

    def a():
        calls["a"] += 1
        now[0] += next(slow) * 10**6

    def base():
        calls["base"] += 1
        now[0] += 2 * 10**6

    figs = harness.measure({"a": a, "base": base}, warmup=2, iterations=5, seconds=0,
                           baselines={"a": "base", "base": "base"})
    assert calls == {"a": 7, "base": 7}
    fa, fb = figs["a"], figs["base"]
    assert fa.samples_ns == [t * 10**6 for t in (1, 2, 3, 4, 10)]
    assert (fa.stats["n"], fa.stats["min_ms"], fa.stats["median_ms"], fa.stats["max_ms"]) == (5, 1.0, 3.0, 10.0)
    assert fa.stats["mean_ms"] == 4.0 and fa.stats["p90_ms"] == pytest.approx(7.6)  # numpy's linear percentiles
    assert fa.speedup == pytest.approx(2 / 3)  # median of 2/1, 2/2, 2/3, 2/4, 2/10
    assert fb.speedup == 1.0 and fb.stats["cv"] == 0.0
    assert fa.warnings == ["noisy: coefficient of variation 88%", "only 5 iterations"]
    assert fb.warnings == ["only 5 iterations"]
    assert harness.measure({"b": base}, warmup=0, iterations=1, seconds=0)["b"].speedup is None


def test_library_code_raises_stylert_errors_not_system_exit(monkeypatch, capsys):
    """A kernel that disagrees with PyTorch stops the kernel bench with a BenchError (the CLI
    prints one line, exit 2); no module of stylert.bench raises SystemExit."""
    import ast
    from pathlib import Path

    import stylert.bench
    from stylert import adain
    from stylert.bench import kernel
    from stylert.errors import BenchError, StylertError

    for path in Path(stylert.bench.__file__).parent.glob("*.py"):
        raised = [ast.unparse(n.exc) for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Raise) and n.exc]
        assert not any("SystemExit" in r or "exit(" in r for r in raised), (path.name, raised)
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(adain, "adain", lambda x, *a, **k: np.zeros_like(x))  # a broken kernel
    with pytest.raises(BenchError, match="disagrees with PyTorch at 8x8") as caught:
        kernel.kernel_candidates(8, np.random.default_rng(0), torch)
    assert isinstance(caught.value, StylertError) and not isinstance(caught.value, SystemExit)
    assert "disagrees with PyTorch" in _error(capsys, ["bench", "kernel", "--size", "8", "--iterations", "1",
                                                       "--duration", "0"])
