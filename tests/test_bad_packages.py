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


# -- files whose sha256 was recomputed too: only the checks of their content can object --------
def replace_file(pkg, name, data):
    """Writes ``name`` and records its new sha256 in the manifest (then resealed)."""
    (pkg / name).write_bytes(data)
    digest = pkgmod.sha256(pkg / name)

    def update(meta):
        entries = [meta["saved_io"]] + [e for g in meta["graphs"].values() for e in g["files"].values()]
        for entry in entries:
            if entry["file"] == name:
                entry["sha256"] = digest
    rewrite(pkg, update)


def npz_bytes(**arrays):
    import io
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def huge_header(pkg):
    """A parity_io.npz whose one array's header claims 10^10 floats (40 GB)."""
    import io
    import zipfile
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (10 ** 10,)})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("encoder/in/x.npy", header.getvalue() + b"\0" * 64)  # the header writer adds the magic
    replace_file(pkg, "parity_io.npz", buf.getvalue())


def nested(pkg):
    (pkg / "stylert.json").write_text("[" * 100000 + "]" * 100000)


@pytest.mark.parametrize("kind, damage, fragments", [
    pytest.param("ae", lambda p: rewrite(p, lambda m: m.update(kind=["ae"])), ["unknown model kind"], id="kind-a-list"),
    pytest.param("ae", nested, ["not valid JSON"], id="manifest-nested-too-deep"),
    pytest.param("ae", lambda p: rewrite(p, lambda m: m.pop("io")), ['"io" should be an object'], id="io-missing"),
    pytest.param("adain", lambda p: rewrite(p, lambda m: m["io"].update(eps="1e-5")), ["io.eps", "finite number"],
                 id="eps-a-string"),
    pytest.param("stylegan", lambda p: rewrite(p, lambda m: m["io"].update(w_avg=m["io"]["w_avg"][:3])),
                 ["io.w_avg", "list of 64 numbers"], id="w_avg-short"),
    pytest.param("stylegan", lambda p: rewrite(p, lambda m: m["io"].update(noise_shapes=[4, 8])),
                 ["io.noise_shapes"], id="noise-shapes-not-shapes"),
    pytest.param("ae", lambda p: rewrite(p, lambda m: m["graphs"]["encoder"].update(inputs="x")),
                 ["graphs.encoder.inputs"], id="inputs-not-a-list"),
    pytest.param("ae", lambda p: rewrite(p, lambda m: m["graphs"]["encoder"]["inputs"][0].update(name="y")),
                 ["parity_io.npz lacks encoder/in/y"], id="input-renamed"),
    pytest.param("ae", lambda p: replace_file(p, "parity_io.npz", (p / "parity_io.npz").read_bytes()[:300]),
                 ["cannot read", "parity_io.npz", "re-export the package"], id="npz-truncated"),
    pytest.param("ae", lambda p: replace_file(p, "parity_io.npz", npz_bytes(x=np.array([{"a": 1}], dtype=object))),
                 ["Python objects"], id="npz-holds-a-pickle"),
    pytest.param("ae", lambda p: replace_file(p, "parity_io.npz", npz_bytes(x=np.zeros(3, np.float32))),
                 ["parity_io.npz lacks"], id="npz-lacks-keys"),
    pytest.param("ae", huge_header, ["claims 40000000000 bytes"], id="npz-header-claims-40GB"),
    pytest.param("ae", lambda p: replace_file(p, "decoder.onnx", (p / "decoder.onnx").read_bytes()[:200]),
                 ["decoder.onnx", "not a valid ONNX graph"], id="onnx-truncated"),
    pytest.param("ae", lambda p: replace_file(p, "decoder.onnx", os.urandom(4096)),
                 ["decoder.onnx", "not a valid ONNX graph"], id="onnx-random"),
])
def test_tampered_but_resealed_package_is_refused(tmp_path, kind, damage, fragments):
    pkg = tmp_path / "pk" / kind
    shutil.copytree(pkgmod.default_package(kind), pkg)
    damage(pkg)
    done = run_cli(["verify", pkg.relative_to(tmp_path)], tmp_path)
    assert_user_error(done, *fragments)


def test_onnx_external_data_outside_the_package_is_refused_by_stylert(tmp_path):
    # Before: only ONNX Runtime's own check stopped it, with a traceback.
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto

    pkg = tmp_path / "pk" / "ae"
    shutil.copytree(pkgmod.default_package("ae"), pkg)
    model = onnx.load(str(pkg / "decoder.onnx"))
    (tmp_path / "secret.bin").write_bytes(b"\0" * 4096)
    tensor = model.graph.initializer[0]
    tensor.ClearField("raw_data")
    tensor.ClearField("float_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "../../secret.bin"), ("offset", "0")):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    replace_file(pkg, "decoder.onnx", model.SerializeToString())
    done = run_cli(["verify", pkg.relative_to(tmp_path)], tmp_path)
    assert_user_error(done, "decoder.onnx names external data outside the package", "../../secret.bin")


def test_external_data_inside_a_graph_is_found():
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto
    from stylert import onnxfile

    model = onnx.load(str(pkgmod.default_package("ae") / "encoder.onnx"))
    assert onnxfile.external_data(model.SerializeToString()) == []
    tensor = model.graph.initializer[0]
    tensor.data_location = TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", "weights.bin"
    assert onnxfile.external_data(model.SerializeToString()) == ["weights.bin"]
    with pytest.raises(ValueError):
        onnxfile.external_data(model.SerializeToString()[:100])


@pytest.mark.parametrize("args, fragments", [
    # before: "model package not found" of things that exist
    pytest.param(["verify", "afile"], ["afile is a file, not a model package folder"], id="verify-a-file"),
    pytest.param(["verify", "loop"], ["loop is a symbolic link that loops"], id="verify-a-looping-link"),
    pytest.param(["bundle", "/dev/null", "-o", "b"], ["/dev/null is a character device"], id="bundle-a-device"),
])
def test_a_package_name_that_is_no_folder_is_named_for_what_it_is(tmp_path, args, fragments):
    (tmp_path / "afile").write_text("not a package")
    os.symlink("loop", tmp_path / "loop")
    done = run_cli(args, tmp_path)
    assert_user_error(done, *fragments, "stylert export")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "loop"]


def test_an_empty_package_name_given_to_a_pipeline_is_refused():
    # before: read as None, the bundled package (as `--package ""` was on the command line)
    from stylert import Stylizer
    from stylert.errors import UsageError

    with pytest.raises(UsageError, match="package '' names no folder"):
        Stylizer(package="")
