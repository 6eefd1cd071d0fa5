"""A local Triton Inference Server for development (``stylert triton serve REPO``) and the
tests: NVIDIA's tritonserver 2.51 as PyPI's ``nvidia-pytriton`` wheel ships it (the server,
its python backend and the stubs), set up once in a cached venv, with ``backends/onnxruntime``
(this folder's shim, run by the python backend) standing in for the C++ ONNX Runtime backend.
See server.py for the setup and backends/onnxruntime/model.py for what the shim models.
The runtime never imports pytriton: the server runs as a separate process.
"""
