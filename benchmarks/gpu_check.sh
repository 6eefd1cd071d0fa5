#!/usr/bin/env bash
# The GPU check, in one call on a machine with an NVIDIA GPU (under 8 minutes on an H200): a
# clean build of the extension with its CUDA kernels for that GPU, then every GPU path this
# machine can run, each ending in one summary line (passed / FAILED with its figure / not run
# with the reason). It needs torch with CUDA, CuPy, nvcc, CMake, scikit-build-core and pybind11
# (no download); TensorRT and onnxruntime-gpu are optional: what cannot run says why.
#
#   bash benchmarks/gpu_check.sh     # ARCH=90 for an H100/H200, 87 for Jetson Orin, 86 ...
#
# A failed build stops it at once; a failed path is reported and the script exits 1 at the
# end. Results and logs go to $OUT (or benchmarks/results/gpu-check/).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/results/gpu-check}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
ARCH=${ARCH:-$($PY -c "import torch; m, n = torch.cuda.get_device_capability(); print(f'{m}{n}')")}
SITE=$(mktemp -d /tmp/stylert-site.XXXXXX)   # a fresh install and build folder every run:
BUILD=$(mktemp -d /tmp/stylert-build.XXXXXX) # nothing stale from an earlier build
trap 'rm -rf "$SITE" "$BUILD"' EXIT
SUMMARY="$OUT/summary.txt"
: >"$SUMMARY"
failed=0

say() { echo "$*" | tee -a "$SUMMARY"; }

# step NAME LOG CMD...: runs CMD with its output in $OUT/LOG; one line either way.
step() {
  local name=$1 log=$OUT/$2; shift 2
  local t0=$SECONDS
  if "$@" >"$log" 2>&1; then
    say "$name: passed ($((SECONDS - t0)) s)"
  else
    failed=1
    say "$name: FAILED ($((SECONDS - t0)) s; last lines of $log:)"
    tail -15 "$log" | sed 's/^/    /' | tee -a "$SUMMARY"
  fi
}

t0=$SECONDS
if ! $PY -m pip install --no-deps --no-build-isolation --target "$SITE" -Cbuild-dir="$BUILD" \
     -Ccmake.define.STYLERT_CUDA=ON -Ccmake.define.STYLERT_CUDA_ARCHITECTURES="$ARCH" . >"$OUT/build.log" 2>&1; then
  say "build (CUDA kernels for sm_$ARCH): FAILED"; tail -30 "$OUT/build.log"; exit 1
fi
export PYTHONPATH="$SITE"
if ! why=$($PY -c "import stylert.adain as a
print('' if a.cuda_available() else 'built without its CUDA kernels' if not a._adain.cuda_compiled()
      else 'built with its CUDA kernels, but no CUDA device is visible')"); then
  say "build (CUDA kernels for sm_$ARCH): FAILED (stylert does not import)"; exit 1
elif [ -n "$why" ]; then
  say "build (CUDA kernels for sm_$ARCH): FAILED ($why)"; exit 1
fi
say "build (CUDA kernels for sm_$ARCH): passed ($((SECONDS - t0)) s)"
$PY -m stylert.cli info >"$OUT/info.txt" 2>&1 || true

step "CUDA AdaIN kernel against the CPU kernel (pytest -m gpu tests/test_adain_cuda.py)" kernel-tests.log \
  $PY -m pytest -q -p no:cacheprovider -m gpu tests/test_adain_cuda.py
step "GPU pipelines: torch-CUDA Stylizer, CuPy streams, bench memory (pytest -m gpu tests/test_gpu_pipeline.py)" \
  pipeline-tests.log $PY -m pytest -q -p no:cacheprovider -m gpu tests/test_gpu_pipeline.py
step "stand-in tests of the GPU paths, on this machine too (tests/test_gpu_streams.py, test_tensorrt_runner.py)" \
  standin-tests.log $PY -m pytest -q -p no:cacheprovider tests/test_gpu_streams.py tests/test_tensorrt_runner.py
step "CUDA kernel bandwidth (benchmarks/gpu_kernel.py)" kernel-bench.log \
  $PY benchmarks/gpu_kernel.py --out "$OUT"
for kind in adain stylegan ae; do  # every backend here, graph by graph and the whole chain
  step "stylert verify $kind (every backend here, whole chain included)" "verify-$kind.log" \
    $PY -m stylert.cli verify "runtime/packages/$kind" --json "$OUT/verify-$kind.json"
done
step "stylert bench adain: torch on the GPU vs ONNX Runtime on the CPU" bench.log \
  $PY -m stylert.cli bench adain --backend torch,onnxruntime-cpu --size 256,512 --duration 3 \
  --json "$OUT/bench-adain-gpu.json" --markdown "$OUT/bench-adain-gpu.md"
$PY benchmarks/gpu_summary.py "$OUT" | tee -a "$SUMMARY" || failed=1
if [ "$failed" != 0 ]; then
  echo "gpu_check: FAILED (see $SUMMARY)"; exit 1
fi
echo "gpu_check: all GPU paths that can run here passed (see $SUMMARY)"
