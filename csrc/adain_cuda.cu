// CUDA kernels: one thread block per row (an (n, c) channel). The block reduces the
// row's shifted sums in double, thread 0 folds them into a * x + b, and the whole block
// writes the row: statistics and output in a single launch.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "adain.h"

namespace stylert {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;

__device__ inline float ld(const float* p, int64_t i) { return p[i]; }
__device__ inline float ld(const __half* p, int64_t i) { return __half2float(p[i]); }
__device__ inline void st(float* p, int64_t i, float v) { p[i] = v; }
__device__ inline void st(__half* p, int64_t i, float v) { p[i] = __float2half_rn(v); }

// Sums K values over the block; the result is valid in thread 0.
template <int K>
__device__ void block_sum(double (&v)[K]) {
  __shared__ double partial[K][kWarps];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
  for (int k = 0; k < K; ++k) {
    for (int off = 16; off > 0; off >>= 1) v[k] += __shfl_down_sync(0xffffffffu, v[k], off);
    if (lane == 0) partial[k][warp] = v[k];
  }
  __syncthreads();
  if (warp == 0) {
#pragma unroll
    for (int k = 0; k < K; ++k) {
      v[k] = lane < kWarps ? partial[k][lane] : 0.0;
      for (int off = 16; off > 0; off >>= 1) v[k] += __shfl_down_sync(0xffffffffu, v[k], off);
    }
  }
}

template <typename T>
__device__ Moments row_moments(const T* x, int64_t len) {
  const double k = ld(x, 0);
  double s[2] = {0.0, 0.0};
  for (int64_t i = threadIdx.x; i < len; i += kThreads) {
    double d = static_cast<double>(ld(x, i)) - k;
    s[0] += d;
    s[1] += d * d;
  }
  block_sum(s);
  return moments_from_sums(k, s[0], s[1], static_cast<double>(len));
}

template <typename T>
__global__ void stats_kernel(const T* x, int64_t len, bool unbiased, double eps, float* mean,
                             float* std) {
  const int64_t r = blockIdx.x;
  Moments m = row_moments(x + r * len, len);
  if (threadIdx.x == 0) {
    mean[r] = static_cast<float>(m.mean);
    std[r] = static_cast<float>(std_from_moments(m, unbiased, eps));
  }
}

template <typename T>
__global__ void adain_kernel(const T* x, T* out, int64_t len, StyleStats s, double alpha,
                             bool unbiased, double eps) {
  __shared__ Affine t;
  const int64_t r = blockIdx.x;
  const T* xr = x + r * len;
  Moments m = row_moments(xr, len);
  if (threadIdx.x == 0) {
    int64_t si = r % s.rows;
    t = region_affine(m, s.mean[si], s.std[si], alpha, unbiased, eps);
  }
  __syncthreads();
  const Affine tt = t;
  T* o = out + r * len;
  for (int64_t i = threadIdx.x; i < len; i += kThreads)
    st(o, i, tt.a * (ld(xr, i) - tt.shift) + tt.b);
}

template <typename T>
__global__ void adain_masked_kernel(const T* x, T* out, int64_t len, const float* mask,
                                    int64_t per_mask, StyleStats fg, StyleStats bg,
                                    double alpha, bool unbiased, double eps) {
  __shared__ Affine t[2];
  const int64_t r = blockIdx.x;
  const T* xr = x + r * len;
  const float* m = mask + (r / per_mask) * len;
  const double k = ld(xr, 0);
  double s[5] = {0.0, 0.0, 0.0, 0.0, 0.0};
  for (int64_t i = threadIdx.x; i < len; i += kThreads) {
    double d = static_cast<double>(ld(xr, i)) - k, w = m[i];
    s[0] += d;
    s[1] += d * d;
    s[2] += w;
    s[3] += w * d;
    s[4] += w * d * d;
  }
  block_sum(s);
  if (threadIdx.x == 0) {
    Moments mf = moments_from_sums(k, s[3], s[4], s[2]);
    Moments mb = moments_from_sums(k, s[0] - s[3], s[1] - s[4], static_cast<double>(len) - s[2]);
    t[0] = region_affine(mf, fg.mean[r % fg.rows], fg.std[r % fg.rows], alpha, unbiased, eps);
    t[1] = region_affine(mb, bg.mean[r % bg.rows], bg.std[r % bg.rows], alpha, unbiased, eps);
  }
  __syncthreads();
  const Affine tf = t[0], tb = t[1];
  T* o = out + r * len;
  for (int64_t i = threadIdx.x; i < len; i += kThreads) {
    const float v = ld(xr, i), w = m[i];
    const float f = tf.a * (v - tf.shift) + tf.b, b = tb.a * (v - tb.shift) + tb.b;
    st(o, i, w * f + (1.0f - w) * b);  // exact for w = 0 or 1
  }
}

void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess)
    throw std::runtime_error(std::string("CUDA error in ") + what + ": " +
                             cudaGetErrorString(err));
}

void require_device() {
  if (cuda_device_count() == 0)
    throw std::runtime_error(
        "no CUDA device is available: run on the CPU (pass numpy arrays) or check the "
        "driver with nvidia-smi");
}

cudaStream_t as_stream(uintptr_t s) { return reinterpret_cast<cudaStream_t>(s); }

}  // namespace

bool cuda_compiled() { return true; }

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return n;
}

void cuda_channel_stats(DType dt, const void* x, int64_t rows, int64_t len, bool unbiased,
                        double eps, float* mean, float* std, uintptr_t stream) {
  require_device();
  if (dt == DType::Float16)
    stats_kernel<<<rows, kThreads, 0, as_stream(stream)>>>(static_cast<const __half*>(x), len,
                                                           unbiased, eps, mean, std);
  else
    stats_kernel<<<rows, kThreads, 0, as_stream(stream)>>>(static_cast<const float*>(x), len,
                                                           unbiased, eps, mean, std);
  check(cudaGetLastError(), "channel_stats");
}

void cuda_adain(DType dt, const void* x, void* out, int64_t rows, int64_t len,
                StyleStats style, double alpha, bool unbiased, double eps,
                uintptr_t stream) {
  require_device();
  if (dt == DType::Float16)
    adain_kernel<<<rows, kThreads, 0, as_stream(stream)>>>(
        static_cast<const __half*>(x), static_cast<__half*>(out), len, style, alpha, unbiased,
        eps);
  else
    adain_kernel<<<rows, kThreads, 0, as_stream(stream)>>>(
        static_cast<const float*>(x), static_cast<float*>(out), len, style, alpha, unbiased,
        eps);
  check(cudaGetLastError(), "adain");
}

void cuda_adain_masked(DType dt, const void* x, void* out, int64_t rows, int64_t len,
                       const float* mask, int64_t mrows, StyleStats fg, StyleStats bg,
                       double alpha, bool unbiased, double eps, uintptr_t stream) {
  require_device();
  const int64_t per_mask = rows / mrows;
  if (dt == DType::Float16)
    adain_masked_kernel<<<rows, kThreads, 0, as_stream(stream)>>>(
        static_cast<const __half*>(x), static_cast<__half*>(out), len, mask, per_mask, fg, bg,
        alpha, unbiased, eps);
  else
    adain_masked_kernel<<<rows, kThreads, 0, as_stream(stream)>>>(
        static_cast<const float*>(x), static_cast<float*>(out), len, mask, per_mask, fg, bg,
        alpha, unbiased, eps);
  check(cudaGetLastError(), "adain_masked");
}

}  // namespace stylert
