// Built instead of adain_cuda.cu when CMake found no CUDA compiler (or STYLERT_CUDA=OFF):
// the CUDA entry points exist and say clearly why they cannot run.
#include <stdexcept>

#include "adain.h"

namespace stylert {
namespace {

[[noreturn]] void unavailable() {
  throw std::runtime_error(
      "stylert._adain was built without CUDA kernels (no nvcc at build time, or "
      "STYLERT_CUDA=OFF): reinstall on a machine with the CUDA toolkit, e.g. "
      "pip install . -Ccmake.define.STYLERT_CUDA=ON");
}

}  // namespace

bool cuda_compiled() { return false; }
int cuda_device_count() { return 0; }
void cuda_channel_stats(DType, const void*, int64_t, int64_t, bool, double, float*, float*,
                        uintptr_t) {
  unavailable();
}
void cuda_adain(DType, const void*, void*, int64_t, int64_t, StyleStats, double, bool, double,
                uintptr_t) {
  unavailable();
}
void cuda_adain_masked(DType, const void*, void*, int64_t, int64_t, const float*, int64_t,
                       StyleStats, StyleStats, double, bool, double, uintptr_t) {
  unavailable();
}

}  // namespace stylert
