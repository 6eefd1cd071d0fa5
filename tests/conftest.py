import pytest

from stylert import adain


def pytest_collection_modifyitems(config, items):
    if adain.cuda_available():
        return
    skip = pytest.mark.skip(reason="no CUDA device (or extension built without CUDA)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
