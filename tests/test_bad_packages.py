"""Broken, edited and hostile model packages: refused with one line when loaded."""

import json
import os
import shutil

import cv2
import numpy as np
import pytest

from badinput import assert_user_error, files, leftovers, run_cli
from stylert import package as pkgmod


def rewrite(pkg, change, reseal=True):
    """Edits stylert.json; ``reseal``: recompute its checksum, so only later checks can object."""
    path = pkg / "stylert.json"
    meta = json.loads(path.read_text())
    change(meta)
    if reseal:
        meta["checksum"] = pkgmod.checksum(meta)
    path.write_text(json.dumps(meta, indent=1))


def escape(pkg):  # the named file exists outside and matches its sha256: only confinement can object
    shutil.copy(pkg / "encoder.onnx", pkg.parent.parent / "x.onnx")
    rewrite(pkg, lambda m: m["graphs"]["encoder"]["files"]["fp32"].update(file="../../x.onnx"))


def symlink_out(pkg):  # the same bytes, but behind a link out of the package
    outside = pkg.parent.parent / "outside.onnx"
    os.replace(pkg / "encoder.onnx", outside)
    os.symlink(outside, pkg / "encoder.onnx")


def modify_graph(pkg):
    with open(pkg / "decoder.onnx", "ab") as f:
        f.write(b"\0")


def verify(pkg):
    return ["verify", pkg]


def stylize(pkg):
    return ["stylize", "c.png", "--style", "c.png", "-o", "out", "--package", pkg]


@pytest.mark.parametrize("kind, damage, command, fragments", [
    pytest.param("ae", shutil.rmtree, stylize, ["not found", "stylert export"], id="missing-folder"),
    pytest.param("ae", lambda p: (p / "stylert.json").unlink(), verify, ["no stylert.json"], id="no-manifest"),
    pytest.param("ae", lambda p: (p / "stylert.json").write_text("{not json"), verify, ["not valid JSON"],
                 id="manifest-not-json"),
    pytest.param("ae", lambda p: rewrite(p, lambda m: m["model"].update(latent=3), reseal=False), verify,
                 ["edited after export", "re-export"], id="manifest-edited"),
    pytest.param("ae", modify_graph, verify, ["decoder.onnx", "sha256", "re-export"], id="graph-modified"),
    pytest.param("ae", escape, verify, ["outside the package", "../../x.onnx"], id="manifest-names-parent"),
    pytest.param("adain", escape, stylize, ["outside the package", "../../x.onnx"], id="stylize-names-parent"),
    pytest.param("ae", symlink_out, verify, ["outside the package", "encoder.onnx"], id="graph-symlinked-out"),
    pytest.param("stylegan", lambda p: None, stylize, ["stylegan package", "adain"], id="wrong-kind"),
    pytest.param("ae", lambda p: (p / "parity_io.npz").unlink(), verify, ["parity_io.npz", "re-export"],
                 id="verify-without-parity-io"),
])
def test_bad_package_is_refused(tmp_path, kind, damage, command, fragments):
    cv2.imwrite(str(tmp_path / "c.png"), np.full((24, 32, 3), 90, np.uint8))
    pkg = tmp_path / "pk" / kind
    shutil.copytree(pkgmod.default_package(kind), pkg)
    damage(pkg)
    done = run_cli(command(pkg.relative_to(tmp_path)), tmp_path)
    assert files(tmp_path / "out") == []
    assert leftovers(tmp_path) == []
    assert_user_error(done, *fragments)
