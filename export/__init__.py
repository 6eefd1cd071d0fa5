"""stylert.export: PyTorch models, checkpoint loaders and ONNX/TensorRT export.

Everything here needs torch (``pip install 'stylert[export]'``); the runtime never
imports this package.
"""
