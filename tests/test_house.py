"""The house: model families in one record each, the backend registry and its Choice, the one
error channel, exclusive publishing, and the small guards of the Stylizer."""

import logging

import numpy as np
import pytest

from stylert import Stylizer, families, package
from stylert.backends import AUTO_ORDER, REGISTRY, Choice, choose, reasons
from stylert.backends.tensorrt import cuda_device
from stylert.errors import FolderError, ImageError, StylertError
from stylert.folders import building


@pytest.mark.parametrize("kind", families.KINDS)
def test_each_family_record_names_real_pieces(kind):
    f = families.get(kind)
    assert f.pipeline_class().kind == kind and callable(families.resolve(f.bench))
    model = f.model_module()  # the export side: torch
    assert all(callable(getattr(model, name)) for name in ("MODEL", "modules", "graphs", "io_rules"))
    assert set(f.ranges) >= {"batch", "height", "width"}
    if f.triton:
        assert callable(families.resolve(f.triton))
    import importlib

    import stylert

    assert getattr(stylert, f.pipeline.rpartition(":")[2]) is f.pipeline_class()  # stylert.<Pipeline>
    assert all(callable(importlib.import_module(m).add_parser) for m in f.apps)
    for name, module in f.train.items():  # each recipe declares what `stylert train NAME` takes and says
        recipe = importlib.import_module(module)
        assert all(hasattr(recipe, a) for a in ("HELP", "STEPS", "EVERY", "OPTIONS", "summary", "run")), name


def test_the_core_is_torch_free_and_export_imports_no_pipeline_or_app():
    """errors, folders, the package format, families, the digits split and the argument types
    load without torch; no export module imports a runtime pipeline, app or the CLI (the export
    gate reaches a pipeline only through its family's record, when it runs the chain); the CLI
    builds every command's parser without torch."""
    import subprocess
    import sys

    core = "errors folders package families digits argtypes limits".split()
    code = ("import sys\nimport " + ", ".join(f"stylert.{m}" for m in core) + "\nimport stylert.cli\n"
            "stylert.cli.build_parser()\nprint('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.split() == ["False"], done.stderr
    pytest.importorskip("torch")
    exported = ("data models package triton vgg vgg16_hed data_fetch gcompris qt_resources quality checkpoints ops "
                "graphs convert "
                "train.loop " + " ".join(m.split(".", 2)[2] for f in families.FAMILIES.values()
                                         for m in [f.model, *f.train.values()])).split()
    code = ("import sys\nimport " + ", ".join(f"stylert.export.{m}" for m in exported) + "\n"
            "print(sorted(m for m in sys.modules if m.startswith(('stylert.pipelines', 'stylert.apps', "
            "'stylert.cli', 'stylert.video'))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr


def test_python_m_families_lists_each_kind_and_its_bundled_precisions():
    """What `make packages` exports (one package per family with a default in export/defaults)."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "stylert.families"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and not done.stderr
    assert done.stdout.splitlines() == [f"{f.kind} {','.join(f.bundled)}" for f in families.FAMILIES.values()]
    assert "adain fp32,fp16,int8" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "stylert.families", "gan"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "unknown model kind 'gan'" in bad.stderr


def test_unknown_kind_is_a_user_error():
    with pytest.raises(StylertError, match="unknown model kind 'gan'"):
        families.get("gan")


def test_registry_holds_the_auto_order_with_a_reason_for_each_skip():
    assert AUTO_ORDER == ("tensorrt", "onnxruntime-tensorrt", "onnxruntime-cuda", "onnxruntime-cpu", "torch")
    assert set(REGISTRY) == set(reasons())
    chosen, skipped = choose("auto")
    why = reasons()  # true on any machine: the first backend that can run, each one before it said
    assert chosen == next(b for b in AUTO_ORDER if not why[b]) and why["onnxruntime-cpu"] == ""
    for before in AUTO_ORDER[:AUTO_ORDER.index(chosen)]:
        assert f"{before}: {why[before]}" in skipped
    if cuda_device() is None:  # here and in CI
        assert chosen == "onnxruntime-cpu" and "onnxruntime-cuda:" in skipped
        assert "onnxruntime-tensorrt: ONNX Runtime's TensorRT provider does not load here" in skipped


def test_choice_is_a_record_and_one_line():
    c = Choice("onnxruntime-cpu", "int8", "cpu", "skipped tensorrt: TensorRT is not installed")
    assert str(c) == "backend: onnxruntime-cpu, int8 (skipped tensorrt: TensorRT is not installed)"
    st = Stylizer(backend="onnxruntime-cpu", precision="int8")
    assert (st.choice.backend, st.choice.precision, st.choice.device) == ("onnxruntime-cpu", "int8", "cpu")
    assert st.backend == "onnxruntime-cpu"


def test_a_second_writer_of_the_same_folder_is_refused_not_silently_replacing(tmp_path):
    out = tmp_path / "pkg"
    with pytest.raises(FolderError, match="written meanwhile"):
        with building(out, force=False) as first:
            (first / "a").write_text("first run")
            with building(out, force=False) as second:  # another run, started at the same time
                (second / "a").write_text("second run")
            # the second published first; the first must not replace it
    assert (out / "a").read_text() == "second run"
    assert [p.name for p in tmp_path.iterdir()] == ["pkg"]  # no partial folders left


def test_force_replaces_at_publish_time(tmp_path):
    out = tmp_path / "pkg"
    for text in ("old", "new"):
        with building(out, force=True) as tmp:
            (tmp / "a").write_text(text)
    assert (out / "a").read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["pkg"]


def test_empty_frames_and_masks_are_image_errors():
    st = Stylizer()
    st.set_style(np.full((32, 32, 3), 128, np.uint8), background=np.zeros((32, 32, 3), np.uint8))
    for frames in (np.zeros((0, 0, 3), np.uint8), np.zeros((2, 0, 5, 3), np.uint8), np.zeros((0, 3, 8, 8), np.float32)):
        with pytest.raises(ImageError, match="empty"):
            st(frames)
    with pytest.raises(ImageError, match="mask"):
        st(np.zeros((16, 16, 3), np.uint8), mask=np.zeros((0, 0), np.uint8))


def test_a_mask_of_another_size_is_stretched_and_said_once(caplog):
    st = Stylizer()
    st.set_style(np.full((32, 32, 3), 200, np.uint8), background=np.zeros((32, 32, 3), np.uint8))
    frame, mask = np.zeros((24, 32, 3), np.uint8), np.full((12, 16), 255, np.uint8)
    with caplog.at_level(logging.WARNING, logger="stylert"):
        for _ in range(3):
            assert st(frame, mask=mask).shape == frame.shape
        st(frame, mask=np.full((24, 32), 255, np.uint8))  # the frame's size: nothing to say
    said = [r.getMessage() for r in caplog.records if "stretched" in r.getMessage()]
    assert said == ["mask is 16x12, the frame 32x24: the mask is stretched to the frame"]


# -- the family promise: a new family is its record, its export module, its pipeline (and a
# training recipe and its own command, if it has them); nothing else in stylert changes. ------
TOY = {
    "toy_family/__init__.py": '''
"""A model family outside stylert's tree: importing it registers its record."""
from stylert import families

FAMILY = families.register(families.Family(
    "toy", ("net",), "toy_family.pipeline:Toy", "toy_family.model", "toy_family.pipeline:bench_call", [16],
    ["toy", "--package", "package"], chain="toy_family.pipeline:chain", io={"gain": "number"},
    apps=("toy_family.app",), train={"toy": "toy_family.recipe"}))
''',
    "toy_family/model.py": '''
"""The export side (torch): a 1x1 convolution times a gain, images (N, 3, H, W) -> the same."""
import torch
from torch import nn

from stylert.export.graphs import Graph, as_numpy


class Toy(nn.Module):
    def __init__(self, gain: float = 2.0):
        super().__init__()
        self.config = {"gain": gain}
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x):
        return self.conv(x) * self.config["gain"]


MODEL = Toy


def modules(model):
    return {"net": model}


def io_rules(model):
    return {"gain": model.config["gain"]}


def graphs(model):
    g = torch.Generator().manual_seed(0)
    sample = torch.rand(2, 3, 16, 16, generator=g)
    calibration = [[as_numpy(torch.rand(2, 3, 16, 16, generator=g))] for _ in range(4)]
    return [Graph("net", model, {"x": ("batch", 3, "height", "width")}, "y", [as_numpy(sample)], calibration)]
''',
    "toy_family/pipeline.py": '''
"""The runtime side (no torch)."""
import numpy as np

from stylert.pipelines import Pipeline


class Toy(Pipeline):
    kind = "toy"
    stages_order = ("net",)

    def setup(self):
        self.gain = float(self.package.meta["io"]["gain"])

    def __call__(self, x):
        with self.stages("net"):
            return self.engines["net"].run({"x": np.asarray(x, np.float32)})


def chain(p, probe):
    return p(probe["net/in/x"])


def bench_call(p, size, batch):
    x = np.random.default_rng(0).random((batch, 3, size, size), dtype=np.float32)
    return lambda: p(x)
''',
    "toy_family/recipe.py": '''
"""`stylert train toy`: the convolution learns the identity (so the model doubles its input)."""
from pathlib import Path

import numpy as np
import torch

from stylert.export.train.loop import publish, train
from toy_family.model import Toy

HELP = "the toy family's recipe"
STEPS, EVERY = 20, 10
OPTIONS = [("--gain", dict(type=float, default=2.0))]


def summary(m):
    return f"toy loss {m['loss']:.4f}"


def run(out, *, steps, seed=0, every=10, resume=False, command="", gain=2.0):
    torch.manual_seed(seed)
    model = Toy(gain)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)

    def step_fn(step, g):
        x = torch.rand(4, 3, 8, 8, generator=g)
        loss = torch.nn.functional.mse_loss(model(x), gain * x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return {"loss": loss.item()}

    history = train(kind="toy", steps=steps, step_fn=step_fn, parts={"model": model, "opt": opt},
                    gen=torch.Generator().manual_seed(seed), out=Path(out), every=every, resume=resume,
                    config={"steps": steps, "seed": seed, **model.config})
    publish(out, "toy", model.eval(), np.zeros((8, 8, 3), np.uint8), f"# toy\\n\\nMade with `{command}`\\n")
    return {"loss": history[-1]["loss"]}
''',
    "toy_family/app.py": '''
"""`stylert toy`: its own command (what its bundle runs)."""
import numpy as np

from stylert.apps import pipeline_options


def add_parser(sub):
    p = sub.add_parser("toy", help="the toy family on a random image")
    pipeline_options(p)
    p.set_defaults(func=command)


def command(args):
    import stylert

    toy = stylert.Toy(args.package, backend=args.backend, precision=args.precision)
    x = np.random.default_rng(1).random((1, 3, 24, 32), dtype=np.float32)
    print(f"toy {toy.choice.precision}: out {toy(x).shape}, gain {toy.gain}")
    return 0
''',
    "stylert_toy.py": '''
import sys

import toy_family  # noqa: F401  (registers the family)
from stylert.cli import main

sys.exit(main())
''',
}


def test_a_new_family_is_its_record_export_module_pipeline_and_recipe(tmp_path):
    """A toy family in a temporary tree (record, export module, pipeline, recipe, its command),
    registered in a fresh process, goes through train -> export -> verify -> bench -> bundle ->
    Triton (a family without glue: its graphs served as separate models) and the Python API
    with nothing else touched."""
    pytest.importorskip("torch")
    import os
    import subprocess
    import sys

    for name, text in TOY.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text.lstrip())
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")])

    def stylert(*args):
        done = subprocess.run([sys.executable, "stylert_toy.py", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"stylert {' '.join(args)}:\n{done.stderr}\n{done.stdout}"
        return done.stdout

    assert "toy" in stylert("train", "--help") and "toy" in stylert("--help")
    assert "toy loss" in stylert("train", "toy", "--out", "t", "--steps", "20")
    assert "parity gate passed" in stylert("export", "toy", "--checkpoint", "t/toy.pt", "-o", "pkg",
                                           "--precision", "fp32,int8")
    verified = stylert("verify", "pkg")
    assert "toy package" in verified and "chain" in verified
    bench = stylert("bench", "toy", "--package", "pkg", "--precision", "fp32,int8", "--warmup", "1",
                    "--iterations", "2", "--duration", "0")
    assert "16" in bench and "net" in bench  # the record's bench size; the pipeline's stage
    stylert("bundle", "pkg", "-o", "bundle")
    assert "stylert toy --package package" in (tmp_path / "bundle" / "run.sh").read_text()
    assert "toy int8: out (1, 3, 24, 32), gain 2.0" in stylert("toy", "--package", "bundle/package",
                                                               "--precision", "int8")
    stylert("triton", "pkg", "-o", "repo", "--device", "cpu")
    assert sorted(p.name for p in (tmp_path / "repo").iterdir()) == ["README.md", "toy_net"]
    assert "are separate models" in (tmp_path / "repo" / "README.md").read_text()
    api = subprocess.run([sys.executable, "-c", "import numpy as np, torch, toy_family, stylert\n"
                          "from stylert.export.models import load\n"
                          "toy, trained = stylert.Toy('pkg', precision='fp32'), load('toy', 't/toy.pt')\n"
                          "x = np.random.default_rng(0).random((2, 3, 8, 8), dtype=np.float32)\n"
                          "print(float(np.abs(toy(x) - trained(torch.from_numpy(x)).detach().numpy()).max()))"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert api.returncode == 0, api.stderr
    assert float(api.stdout) < 1e-5  # stylert.Toy runs the trained checkpoint
    assert "toy" not in families.FAMILIES  # this process: untouched
