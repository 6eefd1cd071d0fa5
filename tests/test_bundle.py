"""stylert bundle: contents, refusals, and the bundle running with torch unavailable."""

import json
import subprocess
import sys

from stylert import cli
from stylert.package import default_package

from helpers import cli_error, AUTO


def test_bundle_contents_and_refusals(tmp_path, capsys):
    out = tmp_path / "b"
    assert cli.main(["bundle", str(default_package("ae")), "-o", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "bundle.json", "package", "run.sh"]
    info = json.loads((out / "bundle.json").read_text())
    assert info["kind"] == "ae" and info["command"][:2] == ["stylert", "manifold"]
    assert (out / "package" / "stylert.json").is_file() and not (out / "package" / "model.pt").exists()
    assert "--package package" in (out / "run.sh").read_text()
    assert "exists and is not empty" in cli_error(capsys, ["bundle", str(default_package("ae")), "-o", str(out)])
    assert cli.main(["bundle", str(default_package("stylegan")), "-o", str(out), "--force"]) == 0
    assert json.loads((out / "bundle.json").read_text())["kind"] == "stylegan"
    assert "not found" in cli_error(capsys, ["bundle", str(tmp_path / "nope"), "-o", str(tmp_path / "c")])
    assert not list(tmp_path.glob(".*partial*"))


def test_bundle_runs_without_torch(tmp_path):
    out = tmp_path / "b"
    assert cli.main(["bundle", str(default_package("adain")), "-o", str(out)]) == 0
    # torch made unimportable: the bundle's package must run on the runtime's dependencies alone
    code = ("import sys; sys.modules['torch'] = None\n"
            "import numpy as np, stylert\n"
            "st = stylert.Stylizer('package')\n"
            "st.set_style(np.full((32, 32, 3), 128, np.uint8))\n"
            "print(st(np.zeros((24, 40, 3), np.uint8)).shape, st.backend)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=out, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"(24, 40, 3) {AUTO}" in done.stdout
