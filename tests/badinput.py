"""Shared by the test_bad_* modules: run the CLI as a user would, and judge how it failed.

A user's mistake must end in exit code 2 and exactly one stderr line, ``stylert: error:
...``, naming the problem and the fix; no traceback, and nothing half-written left behind.
"""

import os
import subprocess
import sys
from pathlib import Path

STYLERT = [sys.executable, "-m", "stylert.cli"]


def cli_env(env=None):
    """The test's environment without a display (a stray DISPLAY would change what `live`
    does), plus ``env``."""
    full = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    full.update(env or {})
    return full


def run_cli(args, cwd, env=None, timeout=180) -> subprocess.CompletedProcess:
    """`stylert ARGS` in a subprocess, in ``cwd``."""
    return subprocess.run([*STYLERT, *map(str, args)], cwd=cwd, env=cli_env(env), capture_output=True,
                          text=True, timeout=timeout)


def assert_user_error(done: subprocess.CompletedProcess, *fragments: str, usage: bool = False) -> str:
    """Exit 2, one ``stylert: error:`` line holding every fragment, no traceback. ``usage``:
    an argparse error, whose usage lines come before its ``error:`` line. Returns stderr."""
    err = done.stderr
    shown = f"exit code {done.returncode}\n--- stderr:\n{err}--- stdout:\n{done.stdout}"
    assert done.returncode == 2, shown
    assert "Traceback" not in err + done.stdout, shown
    if usage:
        assert "error:" in err, shown
    else:
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("stylert: error: "), shown
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in stderr\n{shown}"
    return err.strip()


def files(folder) -> list:
    """Every file under ``folder`` (relative names, hidden ones included); [] if it is missing."""
    folder = Path(folder)
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if not p.is_dir()) if folder.exists() else []


def leftovers(folder) -> list:
    """Hidden temporaries under ``folder``: .NAME.tmp.png, .NAME.partial-PID/, .x.partial.mp4, ..."""
    folder = Path(folder)
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".*"))
