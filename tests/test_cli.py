"""The `stylert` console script."""

import json
import shutil
import subprocess
import sysconfig
from pathlib import Path

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
