"""stylert: an edge inference runtime for generative vision models.

The runtime needs only numpy, onnxruntime, OpenCV and the compiled extension
``stylert._adain``; torch is imported only by ``stylert.export`` and the optional torch
backend. The pipelines (``stylert.Stylizer`` and the others: each model family's, named by
its record in stylert.families) import on first use, so ``import stylert`` stays light.
"""

__version__ = "0.1.0"

from .folders import quiet_onnxruntime_telemetry  # noqa: E402

quiet_onnxruntime_telemetry()  # before anything imports onnxruntime (a read-only HOME: its warning line)

from . import adain  # noqa: E402  (the fused AdaIN kernels)


def _pipelines():
    from .families import pipelines  # (not at import: `python -m stylert.families` runs it as __main__)

    return pipelines()


def __getattr__(name):
    if name == "__all__":
        return ["__version__", "adain", *_pipelines()]
    spec = _pipelines().get(name)
    if spec:
        from .families import resolve

        return resolve(spec)
    raise AttributeError(f"module 'stylert' has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *_pipelines()})
