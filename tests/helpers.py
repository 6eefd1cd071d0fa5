"""Small helpers shared by the test modules."""

import pytest

from stylert import cli
from stylert.backends import choose
from stylert.backends.tensorrt import cuda_device

# What `auto` picks on this machine (onnxruntime-cpu without a GPU), for tests that run
# wherever the suite runs, a GPU machine included.
AUTO = choose("auto")[0]
# For tests of the fallback of a machine with no GPU (this one and CI).
no_gpu = pytest.mark.skipif(cuda_device() is not None, reason="checks a machine without a GPU")


def cli_error(capsys, argv):
    """Runs the CLI, expects exit 2 with exactly one `stylert: error:` line; returns it."""
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("stylert: error:"), err
    return err
