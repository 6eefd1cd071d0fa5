"""The installed package: importable without torch, with the documented extension."""

import subprocess
import sys
from pathlib import Path

import stylert

ROOT = Path(__file__).resolve().parents[1]


def test_import_and_kernels_work_without_torch():
    code = (
        "import sys; sys.modules['torch'] = None\n"  # any 'import torch' now fails
        "import numpy as np, stylert\n"
        "from stylert import adain\n"
        "x = np.random.rand(1, 3, 4, 4).astype(np.float32)\n"
        "out = adain.adain(x, *adain.channel_stats(x[:, :, ::-1].copy()))\n"
        "assert out.shape == x.shape\n"
        "print(stylert.__version__)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == stylert.__version__


def test_build_info_describes_the_extension():
    info = stylert._adain.build_info()
    assert set(info) >= {"cuda", "openmp", "compiler", "native_arch"}
    assert info["openmp"] > 0  # the CPU kernels run multi-threaded


def test_kernel_benchmark_runs(tmp_path):
    # The README's first command runs this script; a tiny run proves it works end to end.
    res = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "adain_kernel.py"), "--sizes", "4",
         "--seconds", "0", "--no-save"],
        capture_output=True, text=True, timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert "stylert fused fp32" in res.stdout and "copy" in res.stdout


def test_kernel_benchmark_rejects_bad_sizes():
    res = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "adain_kernel.py"), "--sizes", "big"],
        capture_output=True, text=True, timeout=60,
    )
    assert res.returncode == 2 and "--sizes must be" in res.stderr
    assert "Traceback" not in res.stderr
