import os
import tempfile

import pytest
from hypothesis import settings

from stylert import adain

# CI runs the same hypothesis examples every time (a red CI must be reproducible);
# local runs explore new random examples.
settings.register_profile("ci", derandomize=True)

# Backend verdicts and engines go to a cache of this test run, not the user's.
os.environ["STYLERT_CACHE"] = tempfile.mkdtemp(prefix="stylert-test-cache-")
if os.environ.get("CI"):
    settings.load_profile("ci")


def pytest_collection_modifyitems(config, items):
    if adain.cuda_available():
        return
    skip = pytest.mark.skip(reason="no CUDA device (or extension built without CUDA)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def packages(tmp_path_factory):
    """The three bundled defaults exported once per test run (ae through the CLI, with
    --triton-repo); needs torch."""
    pytest.importorskip("torch")
    from stylert import cli
    from stylert import package as pkgmod
    from stylert.export import package as export_pkg

    root = tmp_path_factory.mktemp("packages")
    assert cli.main(["export", "ae", "-o", str(root / "ae"), "--triton-repo", str(root / "ae-triton")]) == 0
    for kind in ("adain", "stylegan"):
        export_pkg.export(kind, root / kind, progress=False)
    return {k: pkgmod.load(root / k) for k in ("ae", "adain", "stylegan")}


@pytest.fixture(scope="session")
def full_adain(tmp_path_factory):
    """An AdaIN package with the optional whole-network graph (export --full-graph), fp32 and
    fp16; needs torch."""
    pytest.importorskip("torch")
    from stylert import cli
    from stylert import package as pkgmod

    out = tmp_path_factory.mktemp("full") / "adain"
    assert cli.main(["export", "adain", "-o", str(out), "--full-graph", "--precision", "fp32,fp16"]) == 0
    return pkgmod.load(out)
