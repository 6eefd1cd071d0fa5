"""The `stylert` console script."""

import json
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest

from stylert import __version__
from stylert.cli import main


def test_info_prints_the_machine_and_build(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert f"stylert {__version__}" in out and "AdaIN extension" in out and "CUDA kernels" in out


def test_info_json(capsys):
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["stylert"] == __version__ and "extension" in info


def test_no_command_shows_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "usage" in capsys.readouterr().out


def test_console_script_is_installed():
    # Next to this interpreter (a venv that is not activated), else on PATH.
    local = Path(sysconfig.get_path("scripts")) / "stylert"
    exe = str(local) if local.exists() else shutil.which("stylert")
    assert exe, "the stylert console script is not installed"
    res = subprocess.run([exe, "--version"], capture_output=True, text=True)
    assert res.returncode == 0 and __version__ in res.stdout
    bad = subprocess.run([exe, "frobnicate"], capture_output=True, text=True)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


def test_train_ae_writes_model_card_and_picture(tmp_path, capsys):
    pytest.importorskip("torch")
    out = tmp_path / "ae"
    assert main(["train", "ae", "--out", str(out), "--steps", "30", "--hidden", "16"]) == 0
    assert "held-out MSE" in capsys.readouterr().out
    assert {p.name for p in out.iterdir()} == {"ae.pt", "ae.md", "ae.png", "ae.train.pt"}
    assert f"stylert train ae --out {out} --steps 30 --hidden 16" in (out / "ae.md").read_text()
    # Resuming with other settings is a user error: one line, exit 2.
    assert main(["train", "ae", "--out", str(out), "--steps", "40", "--hidden", "8", "--resume"]) == 2
    assert "different run" in capsys.readouterr().err


def test_train_adain_vgg_that_needs_pickle_points_to_the_opt_in_flag(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    import io

    vgg = tmp_path / "vgg_normalised.pth"
    torch.save({"0.weight": io.BytesIO(b"x")}, vgg)  # a Python object inside
    assert main(["train", "adain", "--vgg", str(vgg), "--steps", "1", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "--unsafe-pickle" in err and err.count("\n") == 1
