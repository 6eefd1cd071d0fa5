#!/bin/sh
# The GPU check, in one call on a machine with an NVIDIA GPU (under 8 minutes): builds the
# extension with its CUDA kernels for that GPU, runs the GPU tests, the CUDA kernel against
# PyTorch and the memory bandwidth, and `stylert bench` with the torch backend on the GPU
# against ONNX Runtime on the CPU. It copes with a machine that has torch with CUDA, CuPy
# and nvcc but no TensorRT and no onnxruntime-gpu: the backends that cannot run are listed
# with their reasons (`stylert info`). Results go to $OUT (or benchmarks/results/).
#
#   sh benchmarks/gpu_check.sh            # ARCH=90 for an H100/H200, 87 for Jetson Orin, 86 ...
set -eu
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/results}
ARCH=${ARCH:-$(python3 -c "import torch; m, n = torch.cuda.get_device_capability(); print(f'{m}{n}')")}
SITE=${SITE:-/tmp/stylert-site}
mkdir -p "$OUT"
python3 -m pip install -q --no-deps --no-build-isolation --target "$SITE" \
  -Ccmake.define.STYLERT_CUDA=ON -Ccmake.define.STYLERT_CUDA_ARCHITECTURES="$ARCH" . 2>&1 | tail -3
export PYTHONPATH="$SITE"
python3 -m stylert.cli info | tee "$OUT/gpu-info.txt"
python3 -m pytest -q -m gpu tests/test_adain_cuda.py tests/test_gpu_pipeline.py 2>&1 | tee "$OUT/gpu-tests.txt"
python3 benchmarks/gpu_kernel.py --out "$OUT"
python3 -m stylert.cli bench adain --backend torch,onnxruntime-cpu --size 256,512 --duration 3 \
  --json "$OUT/bench-adain-gpu.json" --markdown "$OUT/bench-adain-gpu.md"
