import os

import pytest
from hypothesis import settings

from stylert import adain

# CI runs the same hypothesis examples every time (a red CI must be reproducible);
# local runs explore new random examples.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


def pytest_collection_modifyitems(config, items):
    if adain.cuda_available():
        return
    skip = pytest.mark.skip(reason="no CUDA device (or extension built without CUDA)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
