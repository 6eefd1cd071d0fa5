// Fused AdaIN kernels: shared declarations for the CPU (adain_cpu.cpp) and CUDA
// (adain_cuda.cu) implementations and the pybind11 bindings (bindings.cpp).
//
// Data layout: `rows` channels of `len` contiguous elements each, i.e. an NCHW tensor
// seen as (N*C, H*W) or a (C, HW) matrix. Statistics are per row.
//
// Conventions (the Python layer in runtime/adain.py documents them for users):
//   mean = sum(x) / n
//   var  = sum((x - mean)^2) / (n - 1)   unbiased (the default; the reference PyTorch AdaIN)
//        = sum((x - mean)^2) / n         biased   (the original Torch AdaIN)
//   std  = sqrt(var + eps)
// A row with a single element (or, masked, fewer than two effective elements) has
// variance divisor 1 instead of n - 1 so that it gets var 0, not NaN.
// Sums are taken in double, shifted by the row's first element, so a channel with a
// large mean and a tiny spread keeps its variance.
//
// AdaIN with content/style trade-off alpha, folded into one affine map per row:
//   t = alpha * (s_std * (x - c_mean) / c_std + s_mean) + (1 - alpha) * x = a * x + b
//   a = alpha * s_std / c_std + (1 - alpha),  b = alpha * (s_mean - s_std * c_mean / c_std)
// c_std == 0 (possible only with eps == 0) normalizes to 0: the row maps to s_mean.
// The map is applied as a * (x - shift) + b with shift = the region's mean rounded to
// float: x - shift is exact for values near the mean, so a channel with a large mean and a
// small spread keeps its precision (a * x + b would cancel catastrophically in float).
//
// Style statistics have `srows` entries; row r uses entry r % srows, so srows == C shares
// one style across the batch and srows == N*C gives each sample its own.
// Masks have `mrows` rows of `len` weights in [0, 1]; row r uses mask row r / (rows / mrows).
#pragma once

#include <cmath>
#include <cstdint>

// Helpers below are shared with the CUDA kernels.
#ifdef __CUDACC__
#define STYLERT_HD __host__ __device__
#else
#define STYLERT_HD
#endif

namespace stylert {

enum class DType : int { Float32 = 0, Float16 = 1 };

struct Moments {
  double mean;  // weighted mean
  double ssd;   // weighted sum of squared deviations from the mean
  double n;     // total weight (element count when unmasked)
};

// Turns moments into a std per the convention above.
STYLERT_HD inline double std_from_moments(const Moments& m, bool unbiased, double eps) {
  double div = unbiased ? (m.n - 1.0) : m.n;
  if (div < 1.0 && unbiased) div = 1.0;
  double var = div > 0.0 ? m.ssd / div : 0.0;
  if (var < 0.0) var = 0.0;
  return sqrt(var + eps);  // NaN (from non-finite data) stays NaN
}

struct Affine {
  float a, b, shift;  // out = a * (x - shift) + b
};

STYLERT_HD inline Affine fold_adain(double c_mean, double c_std, double s_mean, double s_std,
                                    double alpha, float shift) {
  double inv = c_std > 0.0 ? 1.0 / c_std : 0.0;
  double a = alpha * s_std * inv + (1.0 - alpha);
  double b = alpha * (s_mean + s_std * (shift - c_mean) * inv) + (1.0 - alpha) * shift;
  return Affine{static_cast<float>(a), static_cast<float>(b), shift};
}

// Moments from sums of d = x - k (k: a pivot, the row's first element) with total weight n.
STYLERT_HD inline Moments moments_from_sums(double k, double s1, double s2, double n) {
  if (!(n > 0.0)) return Moments{0.0, 0.0, 0.0};
  double dm = s1 / n;
  return Moments{k + dm, s2 - s1 * dm, n};
}

// The affine map of one region; an empty region (weight 0) gets the identity, unused.
STYLERT_HD inline Affine region_affine(const Moments& m, float s_mean, float s_std,
                                       double alpha, bool unbiased, double eps) {
  if (!(m.n > 0.0)) return Affine{1.0f, 0.0f, 0.0f};
  return fold_adain(m.mean, std_from_moments(m, unbiased, eps), s_mean, s_std, alpha,
                    static_cast<float>(m.mean));
}

struct StyleStats {
  const float* mean;
  const float* std;
  int64_t rows;  // srows
};

// CPU kernels (OpenMP across rows). `x` and `out` point to float or half storage.
void cpu_channel_stats(DType dt, const void* x, int64_t rows, int64_t len, bool unbiased,
                       double eps, float* mean, float* std);
void cpu_adain(DType dt, const void* x, void* out, int64_t rows, int64_t len,
               StyleStats style, double alpha, bool unbiased, double eps);
void cpu_adain_masked(DType dt, const void* x, void* out, int64_t rows, int64_t len,
                      const float* mask, int64_t mrows, StyleStats fg, StyleStats bg,
                      double alpha, bool unbiased, double eps);
void cpu_set_num_threads(int n);
int cpu_get_num_threads();

// CUDA kernels: every pointer is device memory; `stream` is a cudaStream_t as an integer.
// They throw std::runtime_error when built without CUDA or when no device is usable.
bool cuda_compiled();
int cuda_device_count();
void cuda_channel_stats(DType dt, const void* x, int64_t rows, int64_t len, bool unbiased,
                        double eps, float* mean, float* std, uintptr_t stream);
void cuda_adain(DType dt, const void* x, void* out, int64_t rows, int64_t len,
                StyleStats style, double alpha, bool unbiased, double eps,
                uintptr_t stream);
void cuda_adain_masked(DType dt, const void* x, void* out, int64_t rows, int64_t len,
                       const float* mask, int64_t mrows, StyleStats fg, StyleStats bg,
                       double alpha, bool unbiased, double eps, uintptr_t stream);

}  // namespace stylert
