"""stylert: an edge inference runtime for generative vision models.

The runtime needs only numpy, onnxruntime, OpenCV and the compiled extension
``stylert._adain``; torch is imported only by ``stylert.export`` and the optional torch
backend. The pipelines import on first use, so ``import stylert`` stays light.
"""

__version__ = "0.1.0"

from . import adain  # noqa: E402  (the fused AdaIN kernels)

_PIPELINES = {"Stylizer": "pipelines.stylizer", "Generator": "pipelines.generator",
              "AutoEncoder": "pipelines.autoencoder"}
__all__ = ["__version__", "adain", *_PIPELINES]


def __getattr__(name):
    if name in _PIPELINES:
        import importlib

        return getattr(importlib.import_module(f".{_PIPELINES[name]}", __name__), name)
    raise AttributeError(f"module 'stylert' has no attribute {name!r}")
