"""stylert: an edge inference runtime for generative vision models.

The runtime needs only numpy, onnxruntime, OpenCV and the compiled extension
``stylert._adain``; torch is imported only by ``stylert.export``.
"""

__version__ = "0.1.0"

from . import adain  # noqa: E402  (the fused AdaIN kernels)

__all__ = ["__version__", "adain"]
