"""The bundled packages: in step with the bundled checkpoints, and what the pipelines use
when no package is named (no torch needed)."""

import numpy as np
import pytest

from stylert import AutoEncoder, Generator, Stylizer
from stylert.families import KINDS
from stylert.package import BUNDLED, default_package, load, sha256


@pytest.mark.parametrize("kind", list(KINDS))
def test_bundled_packages_come_from_the_bundled_checkpoints(kind):
    pkg = load(default_package(kind))
    source = pkg.meta["source"]["checkpoint"]
    assert source["file"] == f"{kind}.pt"
    checkpoint = BUNDLED.parent / "export" / "defaults" / f"{kind}.pt"
    assert source["sha256"] == sha256(checkpoint), f"re-run `make packages` after retraining {kind}"
    assert all(r["passed"] for r in pkg.meta["parity"]["results"])
    # as `make packages` exports them: AdaIN also in fp16, for GPUs
    assert pkg.precisions(next(iter(pkg.graphs))) == (["fp32", "fp16", "int8"] if kind == "adain" else ["fp32", "int8"])


def test_pipelines_run_the_bundled_defaults():
    rng = np.random.default_rng(0)
    st = Stylizer()
    st.set_style(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
    assert st(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8), alpha=0.7).shape == (30, 40, 3)
    assert Generator()([0, 1]).shape == (2, 32, 32, 3)
    ae = AutoEncoder()
    assert ae.reconstruct(rng.random((3, 8, 8), dtype=np.float32)).shape == (3, 8, 8)


@pytest.mark.parametrize("kind", list(KINDS))
def test_verify_passes_on_every_bundled_package(kind, capsys):
    # verify runs the reference I/O saved at export (it once fed random features and
    # failed the bundled int8 decoder at 6.4 dB while the package recorded 42 dB)
    from stylert import cli

    assert cli.main(["verify", str(default_package(kind))]) == 0
    out = capsys.readouterr().out
    assert "saved at export" in out and " 0 of " not in out
