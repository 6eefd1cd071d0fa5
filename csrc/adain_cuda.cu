// CUDA kernels for the fused AdaIN (conventions in adain.h).
//
// Work split. A row (one (n, c) channel of `len` contiguous elements) is handled by `bpr`
// blocks ("blocks per row"), chosen per call from the row count and the device's SM count
// (queried once per device):
//   bpr == 1  one fused kernel (fused_kernel): the block reduces its row, thread 0 folds the
//             sums into the affine map, the block writes the row; its second read of the row
//             mostly hits L1/L2. Used from 2 rows per SM up: 512 threads per SM with four
//             16-byte loads in flight each keep 32 KiB per SM in flight, about what HBM needs
//             (bandwidth x latency / SMs: 4.8 TB/s x ~0.7 us / 132 SMs on an H200).
//   bpr > 1   below that (the bundled model's 128 channels on a 132-SM H200: 4 blocks per
//             row, 512 blocks): partial_kernel has each of a row's blocks reduce its share to
//             shifted sums in a scratch buffer; apply_kernel then has every block fold its
//             row's partials (in a fixed order, so the result is deterministic and every
//             block of a row computes the bitwise same map) and write its share.
//             channel_stats folds the partials in combine_stats_kernel (a warp per row).
//             Folding in apply_kernel's prologue instead of a kernel of its own saves a
//             launch and a round trip through memory for the maps.
// Either way the data is read twice (the second time mostly from L2) and written once.
//
// Per element: values are loaded 16 bytes at a time (float4, or 8 halves) where the row
// pointers allow it: a row's first elements up to a 16-byte boundary and its last ones are
// done one by one, and a row whose output (or mask) pointer is aligned differently from
// its input is done one element at a time. Each thread accumulates d = x - k (k: the row's
// first element, as on the CPU) in float and flushes into double every few iterations, so a
// float sum never holds more than kFlush * kUnroll * vector-width terms (64 float32, 128
// float16); threads and blocks are combined in double. No FP64 work per element in the
// plain kernels: consumer and embedded GPUs (Jetson) run FP64 at 1/32 to 1/64 of the FP32
// rate. The masked kernel accumulates in double (see Acc).
//
// Scratch memory (bpr > 1): stream-ordered allocations (cudaMallocFromPoolAsync /
// cudaFreeAsync on the caller's stream) from a pool of this library's own per device, which
// keeps a little memory cached between calls; no device-wide synchronisation, and in a
// CUDA graph capture they become the graph's allocation nodes. A device without memory
// pools, or a failed allocation, gets bpr == 1. Every launch uses the given stream.
//
// STYLERT_CUDA_SPLIT=n (environment, read at each call) forces n blocks per row (1: the
// fused kernel), for tests and tuning; unset or "auto" chooses.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "adain.h"

namespace stylert {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kUnroll = 4;  // independent loads in flight per thread and loop iteration
constexpr int kFlush = 4;   // loop iterations between float -> double flushes
// Splitting: rows are split when there are fewer than kSplitBelowRowsPerSm rows per SM,
// into enough blocks for kTargetBlocksPerSm blocks per SM, with at least one vector per
// thread per block and at most kMaxSplit blocks per row.
constexpr int64_t kSplitBelowRowsPerSm = 2;
constexpr int64_t kTargetBlocksPerSm = 4;
constexpr int64_t kMaxSplit = 1024;
constexpr int kMaxDevices = 64;

// ------------------------------------------------------------------- loads and stores

// N consecutive elements as floats; N > 1 needs a 16-byte aligned pointer.
template <typename T, int N>
struct Io;

template <>
struct Io<float, 1> {
  __device__ static void load(const float* p, float (&v)[1]) { v[0] = *p; }
  __device__ static void store(float* p, const float (&v)[1]) { *p = v[0]; }
};

template <>
struct Io<float, 4> {
  __device__ static void load(const float* p, float (&v)[4]) {
    const float4 q = *reinterpret_cast<const float4*>(p);
    v[0] = q.x, v[1] = q.y, v[2] = q.z, v[3] = q.w;
  }
  __device__ static void store(float* p, const float (&v)[4]) {
    *reinterpret_cast<float4*>(p) = make_float4(v[0], v[1], v[2], v[3]);
  }
};

template <>
struct Io<float, 8> {  // masks beside float16 data
  __device__ static void load(const float* p, float (&v)[8]) {
    const float4 a = reinterpret_cast<const float4*>(p)[0];
    const float4 b = reinterpret_cast<const float4*>(p)[1];
    v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w;
    v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
  }
};

template <>
struct Io<__half, 1> {
  __device__ static void load(const __half* p, float (&v)[1]) { v[0] = __half2float(*p); }
  __device__ static void store(__half* p, const float (&v)[1]) { *p = __float2half_rn(v[0]); }
};

template <>
struct Io<__half, 8> {
  __device__ static void load(const __half* p, float (&v)[8]) {
    const uint4 q = *reinterpret_cast<const uint4*>(p);
    const __half2* h = reinterpret_cast<const __half2*>(&q);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const float2 f = __half22float2(h[i]);
      v[2 * i] = f.x, v[2 * i + 1] = f.y;
    }
  }
  __device__ static void store(__half* p, const float (&v)[8]) {
    uint4 q;
    __half2* h = reinterpret_cast<__half2*>(&q);
#pragma unroll
    for (int i = 0; i < 4; ++i) h[i] = __floats2half2_rn(v[2 * i], v[2 * i + 1]);
    *reinterpret_cast<uint4*>(p) = q;
  }
};

template <typename T>
constexpr int kVec = 16 / static_cast<int>(sizeof(T));  // elements per vector: 4 floats, 8 halves

__device__ inline float ld1(const float* p) { return *p; }
__device__ inline float ld1(const __half* p) { return __half2float(*p); }

// A row as [0, head) one by one, [head, body) in vectors, [body, len) one by one.
struct Span {
  int64_t head, body;
};

// `out` and `mask` (may be null) must share the vector alignment of x + head; if they do
// not, or x is not even element-aligned, the whole row goes one element at a time.
template <typename T>
__device__ Span row_span(const T* x, const T* out, const float* mask, int64_t len) {
  constexpr int N = kVec<T>;
  const uintptr_t a = reinterpret_cast<uintptr_t>(x);
  if (a % sizeof(T) != 0) return Span{len, len};
  const int64_t head = static_cast<int64_t>((16 - a % 16) % 16 / sizeof(T));
  if (head >= len) return Span{len, len};
  bool ok = true;
  if (out) ok = ok && reinterpret_cast<uintptr_t>(out + head) % 16 == 0;
  if (mask) ok = ok && reinterpret_cast<uintptr_t>(mask + head) % 16 == 0;
  if (!ok) return Span{len, len};
  return Span{head, head + (len - head) / N * N};
}

// ------------------------------------------------------------------------- reductions

// Per-thread sums of d = x - k (and, masked, of w, w*d, w*d^2) in A (float: flushed into
// double every kFlush iterations; double: the masked kernel, see kMaskedInDouble).
template <int K, typename A>
struct Sums {
  A f[K];
  double d[K];
  __device__ Sums() {
#pragma unroll
    for (int i = 0; i < K; ++i) f[i] = A(0), d[i] = 0.0;
  }
  __device__ void flush() {
#pragma unroll
    for (int i = 0; i < K; ++i) d[i] += static_cast<double>(f[i]), f[i] = A(0);
  }
  __device__ void add(A dv) {  // K == 2
    f[0] += dv;
    f[1] += dv * dv;
  }
  __device__ void add(A dv, A w) {  // K == 5
    const A wd = w * dv;
    f[0] += dv;
    f[1] += dv * dv;
    f[2] += w;
    f[3] += wd;
    f[4] += wd * dv;
  }
};

template <bool kMasked>
constexpr int kSums = kMasked ? 5 : 2;  // d, d^2 (and, masked, w, w*d, w*d^2)

// The masked kernel accumulates in double, as the CPU does. Its regions' sums are taken
// about the row's first element, which may lie in the other region, and the background's
// are differences of two sums: in float, a region with (near) zero variance keeps a
// rounding residue as its variance, which with eps = 0 turns into a large a = s_std / c_std
// where the CPU (exact differences and squares of floats in double) gets a = 0. Masks are
// an option beside the main path; FP64 per element costs there, not in plain AdaIN.
template <bool kMasked>
using Acc = std::conditional_t<kMasked, double, float>;

// The kUnroll vectors of one step of thread g of G (vector j0 + u * G of the segment): x into
// v, the mask into w; a vector past the end gets x = fill, w = 0.
template <int N, bool kMasked, typename T>
__device__ void load_step(const T* xb, const float* mb, int64_t j0, int64_t G, int64_t nvec, float fill,
                          float (&v)[kUnroll][N], float (&w)[kUnroll][N]) {
#pragma unroll
  for (int u = 0; u < kUnroll; ++u) {
    const int64_t j = j0 + u * G;
    if (j < nvec) {
      Io<T, N>::load(xb + j * N, v[u]);
      if constexpr (kMasked) Io<float, N>::load(mb + j * N, w[u]);
    } else {
#pragma unroll
      for (int e = 0; e < N; ++e) v[u][e] = fill, w[u][e] = 0.0f;
    }
  }
}

// Accumulates elements [begin, end) (end - begin a multiple of N) assigned to thread g of
// G: vector j of the segment goes to thread j % G.
template <int N, bool kMasked, typename T>
__device__ void accumulate(const T* x, const float* m, int64_t begin, int64_t end, int64_t g,
                           int64_t G, float k, Sums<kSums<kMasked>, Acc<kMasked>>& s) {
  using A = Acc<kMasked>;
  const A ka = k;
  const int64_t nvec = (end - begin) / N;
  const T* xb = x + begin;
  const float* mb = kMasked ? m + begin : nullptr;
  int it = 0;
  for (int64_t j0 = g; j0 < nvec; j0 += kUnroll * G) {
    float v[kUnroll][N], w[kUnroll][N];
    load_step<N, kMasked>(xb, mb, j0, G, nvec, k, v, w);  // past the end: d = 0, w = 0, no effect
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
#pragma unroll
      for (int e = 0; e < N; ++e) {
        if constexpr (kMasked)
          s.add(static_cast<A>(v[u][e]) - ka, static_cast<A>(w[u][e]));
        else
          s.add(v[u][e] - k);
      }
    }
    if (++it == kFlush) s.flush(), it = 0;
  }
  s.flush();
}

// The sums of a row's elements assigned to thread g of G (double, this thread's share).
template <bool kMasked, typename T>
__device__ void thread_sums(const T* x, const float* m, int64_t len, int64_t g, int64_t G,
                            float k, double (&out)[kSums<kMasked>]) {
  constexpr int N = kVec<T>;
  Sums<kSums<kMasked>, Acc<kMasked>> s;
  const Span sp = row_span<T>(x, nullptr, kMasked ? m : nullptr, len);
  accumulate<1, kMasked>(x, m, 0, sp.head, g, G, k, s);
  accumulate<N, kMasked>(x, m, sp.head, sp.body, g, G, k, s);
  accumulate<1, kMasked>(x, m, sp.body, len, g, G, k, s);
#pragma unroll
  for (int i = 0; i < kSums<kMasked>; ++i) out[i] = s.d[i];
}

// Sums K values over the block; the result is valid in thread 0. Call once per kernel.
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

// Folds a row's bpr partial records (K doubles each) within one warp in a fixed order
// (lane l takes records l, l + 32, ...; then a fixed shuffle tree). Result in lane 0.
template <int K>
__device__ void fold_partials(const double* p, int bpr, double (&s)[K]) {
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int k = 0; k < K; ++k) s[k] = 0.0;
  for (int b = lane; b < bpr; b += 32) {
#pragma unroll
    for (int k = 0; k < K; ++k) s[k] += p[static_cast<int64_t>(b) * K + k];
  }
#pragma unroll
  for (int k = 0; k < K; ++k)
    for (int off = 16; off > 0; off >>= 1) s[k] += __shfl_down_sync(0xffffffffu, s[k], off);
}

// ------------------------------------------------------------------- maps and writes

struct Maps {
  Affine fg, bg;  // unmasked: fg only
};

template <bool kMasked>
__device__ Maps row_maps(double k, const double (&s)[kSums<kMasked>], int64_t len,
                         int64_t r, StyleStats fg, StyleStats bg, double alpha, bool unbiased,
                         double eps) {
  const double n = static_cast<double>(len);
  Maps t;
  if constexpr (kMasked) {
    const Moments mf = moments_from_sums(k, s[3], s[4], s[2]);
    const Moments mb = moments_from_sums(k, s[0] - s[3], s[1] - s[4], n - s[2]);
    t.fg = region_affine(mf, fg.mean[r % fg.rows], fg.std[r % fg.rows], alpha, unbiased, eps);
    t.bg = region_affine(mb, bg.mean[r % bg.rows], bg.std[r % bg.rows], alpha, unbiased, eps);
  } else {
    const Moments m = moments_from_sums(k, s[0], s[1], n);
    t.fg = region_affine(m, fg.mean[r % fg.rows], fg.std[r % fg.rows], alpha, unbiased, eps);
    t.bg = t.fg;
  }
  return t;
}

// Writes elements [begin, end) assigned to thread g of G (as in accumulate). Each element
// is read and then written by the same thread, so out == x is safe.
template <int N, bool kMasked, typename T>
__device__ void write(const T* x, T* o, const float* m, int64_t begin, int64_t end, int64_t g,
                      int64_t G, Maps t) {
  const int64_t nvec = (end - begin) / N;
  const T* xb = x + begin;
  T* ob = o + begin;
  const float* mb = kMasked ? m + begin : nullptr;
  for (int64_t j0 = g; j0 < nvec; j0 += kUnroll * G) {
    float v[kUnroll][N], w[kUnroll][N];
    load_step<N, kMasked>(xb, mb, j0, G, nvec, 0.0f, v, w);  // past the end: not stored below
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t j = j0 + u * G;
      if (j < nvec) {
#pragma unroll
        for (int e = 0; e < N; ++e) {
          const float f = t.fg.a * (v[u][e] - t.fg.shift) + t.fg.b;
          if constexpr (kMasked) {
            const float b = t.bg.a * (v[u][e] - t.bg.shift) + t.bg.b;
            v[u][e] = w[u][e] * f + (1.0f - w[u][e]) * b;  // exact for w = 0 or 1
          } else {
            v[u][e] = f;
          }
        }
        Io<T, N>::store(ob + j * N, v[u]);
      }
    }
  }
}

template <bool kMasked, typename T>
__device__ void write_row(const T* x, T* o, const float* m, int64_t len, int64_t g, int64_t G,
                          Maps t) {
  constexpr int N = kVec<T>;
  const Span sp = row_span<T>(x, o, kMasked ? m : nullptr, len);
  write<1, kMasked>(x, o, m, 0, sp.head, g, G, t);
  write<N, kMasked>(x, o, m, sp.head, sp.body, g, G, t);
  write<1, kMasked>(x, o, m, sp.body, len, g, G, t);
}

// ----------------------------------------------------------------------------- kernels

// Scratch layout for bpr > 1: the shift k of each row (rows floats, padded to a multiple
// of 2 so the doubles that follow are aligned), then rows * bpr records of K doubles.
// k is kept there because apply_kernel may run in place: a block of the row could
// already have overwritten x[0] when another reads it.
struct Scratch {
  float* k;
  double* partials;
};

// One block per row (blockIdx.x): statistics, or statistics and the write.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    stats_kernel(const T* x, int64_t len, bool unbiased, double eps, float* mean, float* std) {
  const int64_t r = blockIdx.x;
  const T* xr = x + r * len;
  const float k = ld1(xr);
  double s[2];
  thread_sums<false>(xr, nullptr, len, threadIdx.x, kThreads, k, s);
  block_sum(s);
  if (threadIdx.x == 0) {
    const Moments m = moments_from_sums(k, s[0], s[1], static_cast<double>(len));
    mean[r] = static_cast<float>(m.mean);
    std[r] = static_cast<float>(std_from_moments(m, unbiased, eps));
  }
}

template <bool kMasked, typename T>
__global__ void __launch_bounds__(kThreads)
    fused_kernel(const T* x, T* out, int64_t len, const float* mask, int64_t per_mask,
                 StyleStats fg, StyleStats bg, double alpha, bool unbiased, double eps) {
  __shared__ Maps maps;
  const int64_t r = blockIdx.x;
  const T* xr = x + r * len;
  const float* m = kMasked ? mask + (r / per_mask) * len : nullptr;
  const float k = ld1(xr);  // read by every thread before the barrier below
  double s[kSums<kMasked>];
  thread_sums<kMasked>(xr, m, len, threadIdx.x, kThreads, k, s);
  block_sum(s);
  if (threadIdx.x == 0) maps = row_maps<kMasked>(k, s, len, r, fg, bg, alpha, unbiased, eps);
  __syncthreads();
  write_row<kMasked>(xr, out + r * len, m, len, threadIdx.x, kThreads, maps);
}

// Block b = blockIdx.x % bpr of row r = blockIdx.x / bpr: its partial sums.
template <bool kMasked, typename T>
__global__ void __launch_bounds__(kThreads)
    partial_kernel(const T* x, int64_t len, const float* mask, int64_t per_mask, int bpr,
                   Scratch scratch) {
  constexpr int K = kSums<kMasked>;
  const int64_t r = blockIdx.x / bpr;
  const int b = static_cast<int>(blockIdx.x % bpr);
  const T* xr = x + r * len;
  const float* m = kMasked ? mask + (r / per_mask) * len : nullptr;
  const float k = ld1(xr);
  double s[K];
  thread_sums<kMasked>(xr, m, len, static_cast<int64_t>(b) * kThreads + threadIdx.x,
                       static_cast<int64_t>(bpr) * kThreads, k, s);
  block_sum(s);
  if (threadIdx.x == 0) {
    double* p = scratch.partials + static_cast<int64_t>(blockIdx.x) * K;
#pragma unroll
    for (int i = 0; i < K; ++i) p[i] = s[i];
    if (b == 0) scratch.k[r] = k;
  }
}

template <bool kMasked, typename T>
__global__ void __launch_bounds__(kThreads)
    apply_kernel(const T* x, T* out, int64_t len, const float* mask, int64_t per_mask, int bpr,
                 Scratch scratch, StyleStats fg, StyleStats bg, double alpha, bool unbiased,
                 double eps) {
  constexpr int K = kSums<kMasked>;
  __shared__ Maps maps;
  const int64_t r = blockIdx.x / bpr;
  const int b = static_cast<int>(blockIdx.x % bpr);
  if (threadIdx.x < 32) {
    double s[K];
    fold_partials<K>(scratch.partials + r * bpr * K, bpr, s);
    if (threadIdx.x == 0)
      maps = row_maps<kMasked>(scratch.k[r], s, len, r, fg, bg, alpha, unbiased, eps);
  }
  __syncthreads();
  const float* m = kMasked ? mask + (r / per_mask) * len : nullptr;
  write_row<kMasked>(x + r * len, out + r * len, m, len,
                     static_cast<int64_t>(b) * kThreads + threadIdx.x,
                     static_cast<int64_t>(bpr) * kThreads, maps);
}

// One warp per row: folds the partials into mean and std.
__global__ void __launch_bounds__(kThreads)
    combine_stats_kernel(int64_t rows, int64_t len, int bpr, Scratch scratch, bool unbiased,
                         double eps, float* mean, float* std) {
  const int64_t r = static_cast<int64_t>(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  if (r >= rows) return;  // the whole warp
  double s[2];
  fold_partials<2>(scratch.partials + r * bpr * 2, bpr, s);
  if ((threadIdx.x & 31) == 0) {
    const Moments m = moments_from_sums(scratch.k[r], s[0], s[1], static_cast<double>(len));
    mean[r] = static_cast<float>(m.mean);
    std[r] = static_cast<float>(std_from_moments(m, unbiased, eps));
  }
}

// ---------------------------------------------------------------------------- host side

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

int current_device() {
  int dev = 0;
  check(cudaGetDevice(&dev), "cudaGetDevice");
  return dev;
}

std::atomic<int> g_sm_count[kMaxDevices];  // 0: not queried yet

int sm_count(int dev) {
  int n = dev >= 0 && dev < kMaxDevices ? g_sm_count[dev].load(std::memory_order_relaxed) : 0;
  if (n > 0) return n;
  check(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev),
        "cudaDeviceGetAttribute(MultiProcessorCount)");
  if (dev >= 0 && dev < kMaxDevices) g_sm_count[dev].store(n, std::memory_order_relaxed);
  return n;
}

std::mutex g_pool_mutex;
cudaMemPool_t g_pool[kMaxDevices];
bool g_pool_checked[kMaxDevices];

// This library's stream-ordered pool on `dev` (its own, so the settings of the device's
// default pool, which other libraries share, stay untouched), or nullptr without pools.
// Created on first use, but never while `stream` is being captured into a CUDA graph
// (creating a pool there could invalidate the capture): that call runs unsplit.
cudaMemPool_t scratch_pool(int dev, cudaStream_t stream) {
  if (dev < 0 || dev >= kMaxDevices) return nullptr;
  std::lock_guard<std::mutex> lock(g_pool_mutex);
  if (!g_pool_checked[dev]) {
    cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
    if (cudaStreamIsCapturing(stream, &capture) != cudaSuccess) {
      cudaGetLastError();
      return nullptr;
    }
    if (capture != cudaStreamCaptureStatusNone) return nullptr;
    g_pool_checked[dev] = true;
    int supported = 0;
    if (cudaDeviceGetAttribute(&supported, cudaDevAttrMemoryPoolsSupported, dev) !=
        cudaSuccess) {
      cudaGetLastError();  // not the caller's error: run unsplit
      supported = 0;
    }
    if (supported) {
      cudaMemPoolProps props;
      std::memset(&props, 0, sizeof(props));
      props.allocType = cudaMemAllocationTypePinned;
      props.handleTypes = cudaMemHandleTypeNone;
      props.location.type = cudaMemLocationTypeDevice;
      props.location.id = dev;
      cudaMemPool_t pool = nullptr;
      if (cudaMemPoolCreate(&pool, &props) == cudaSuccess) {
        uint64_t keep = 4u << 20;  // keep up to 4 MiB cached between calls
        if (cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep) !=
            cudaSuccess)
          cudaGetLastError();  // only a cost: memory goes back at each synchronisation
        g_pool[dev] = pool;
      } else {
        cudaGetLastError();
      }
    }
  }
  return g_pool[dev];
}

// STYLERT_CUDA_SPLIT: 0 (auto) or the forced blocks per row.
int64_t forced_split() {
  const char* s = std::getenv("STYLERT_CUDA_SPLIT");
  if (s == nullptr || *s == '\0' || std::strcmp(s, "auto") == 0) return 0;
  char* end = nullptr;
  const long long v = std::strtoll(s, &end, 10);
  if (*end != '\0' || v < 1)
    throw std::runtime_error(std::string("STYLERT_CUDA_SPLIT must be 'auto' or a positive "
                                         "number of blocks per row, got '") + s + "'");
  return static_cast<int64_t>(v);
}

int64_t choose_split(int64_t rows, int64_t len, int vec, int dev) {
  int64_t bpr = forced_split();
  if (bpr == 0) {
    const int64_t sms = sm_count(dev);
    if (rows >= kSplitBelowRowsPerSm * sms) return 1;
    bpr = (kTargetBlocksPerSm * sms + rows - 1) / rows;
    bpr = std::min(bpr, (len + int64_t{kThreads} * vec - 1) / (int64_t{kThreads} * vec));
  }
  bpr = std::min({bpr, kMaxSplit, int64_t{INT32_MAX} / rows});
  return std::max<int64_t>(bpr, 1);
}

// The scratch buffer of one call, freed on the stream when it goes out of scope (after
// the launches that use it were queued, or on an error).
class StreamScratch {
 public:
  StreamScratch(cudaStream_t stream) : stream_(stream) {}
  ~StreamScratch() {
    if (p_ != nullptr) {
      cudaFreeAsync(p_, stream_);
      cudaGetLastError();
    }
  }
  StreamScratch(const StreamScratch&) = delete;
  StreamScratch& operator=(const StreamScratch&) = delete;

  // Allocates for rows * bpr records of K doubles; false (and no error) when the device
  // has no pool or no memory for it: the caller then runs one block per row.
  bool allocate(int dev, int64_t rows, int64_t bpr, int K) {
    cudaMemPool_t pool = scratch_pool(dev, stream_);
    if (pool == nullptr) return false;
    const size_t k_bytes = static_cast<size_t>((rows + 1) / 2 * 2) * sizeof(float);
    const size_t bytes = k_bytes + static_cast<size_t>(rows * bpr * K) * sizeof(double);
    if (cudaMallocFromPoolAsync(&p_, bytes, pool, stream_) != cudaSuccess) {
      cudaGetLastError();
      p_ = nullptr;
      return false;
    }
    s_.k = static_cast<float*>(p_);
    s_.partials = reinterpret_cast<double*>(static_cast<char*>(p_) + k_bytes);
    return true;
  }
  Scratch get() const { return s_; }

 private:
  cudaStream_t stream_;
  void* p_ = nullptr;
  Scratch s_{nullptr, nullptr};
};

template <typename T>
void channel_stats_t(const T* x, int64_t rows, int64_t len, bool unbiased, double eps,
                     float* mean, float* std, cudaStream_t st) {
  const int dev = current_device();
  int64_t bpr = choose_split(rows, len, kVec<T>, dev);
  StreamScratch scratch(st);
  if (bpr > 1 && !scratch.allocate(dev, rows, bpr, 2)) bpr = 1;
  if (bpr == 1) {
    stats_kernel<<<static_cast<unsigned>(rows), kThreads, 0, st>>>(x, len, unbiased, eps, mean,
                                                                   std);
    check(cudaGetLastError(), "channel_stats");
    return;
  }
  partial_kernel<false><<<static_cast<unsigned>(rows * bpr), kThreads, 0, st>>>(
      x, len, nullptr, 1, static_cast<int>(bpr), scratch.get());
  check(cudaGetLastError(), "channel_stats (partial sums)");
  combine_stats_kernel<<<static_cast<unsigned>((rows + kWarps - 1) / kWarps), kThreads, 0,
                         st>>>(rows, len, static_cast<int>(bpr), scratch.get(), unbiased, eps,
                               mean, std);
  check(cudaGetLastError(), "channel_stats (combine)");
}

template <bool kMasked, typename T>
void adain_t(const T* x, T* out, int64_t rows, int64_t len, const float* mask,
             int64_t per_mask, StyleStats fg, StyleStats bg, double alpha, bool unbiased,
             double eps, cudaStream_t st) {
  const char* what = kMasked ? "adain_masked" : "adain";
  const int dev = current_device();
  int64_t bpr = choose_split(rows, len, kVec<T>, dev);
  StreamScratch scratch(st);
  if (bpr > 1 && !scratch.allocate(dev, rows, bpr, kSums<kMasked>)) bpr = 1;
  if (bpr == 1) {
    fused_kernel<kMasked><<<static_cast<unsigned>(rows), kThreads, 0, st>>>(
        x, out, len, mask, per_mask, fg, bg, alpha, unbiased, eps);
    check(cudaGetLastError(), what);
    return;
  }
  const unsigned grid = static_cast<unsigned>(rows * bpr);
  partial_kernel<kMasked><<<grid, kThreads, 0, st>>>(x, len, mask, per_mask,
                                                     static_cast<int>(bpr), scratch.get());
  check(cudaGetLastError(), what);
  apply_kernel<kMasked><<<grid, kThreads, 0, st>>>(x, out, len, mask, per_mask,
                                                   static_cast<int>(bpr), scratch.get(), fg,
                                                   bg, alpha, unbiased, eps);
  check(cudaGetLastError(), what);
}

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
    channel_stats_t(static_cast<const __half*>(x), rows, len, unbiased, eps, mean, std,
                    as_stream(stream));
  else
    channel_stats_t(static_cast<const float*>(x), rows, len, unbiased, eps, mean, std,
                    as_stream(stream));
}

void cuda_adain(DType dt, const void* x, void* out, int64_t rows, int64_t len,
                StyleStats style, double alpha, bool unbiased, double eps,
                uintptr_t stream) {
  require_device();
  if (dt == DType::Float16)
    adain_t<false>(static_cast<const __half*>(x), static_cast<__half*>(out), rows, len,
                   nullptr, 1, style, style, alpha, unbiased, eps, as_stream(stream));
  else
    adain_t<false>(static_cast<const float*>(x), static_cast<float*>(out), rows, len, nullptr,
                   1, style, style, alpha, unbiased, eps, as_stream(stream));
}

void cuda_adain_masked(DType dt, const void* x, void* out, int64_t rows, int64_t len,
                       const float* mask, int64_t mrows, StyleStats fg, StyleStats bg,
                       double alpha, bool unbiased, double eps, uintptr_t stream) {
  require_device();
  const int64_t per_mask = rows / mrows;
  if (dt == DType::Float16)
    adain_t<true>(static_cast<const __half*>(x), static_cast<__half*>(out), rows, len, mask,
                  per_mask, fg, bg, alpha, unbiased, eps, as_stream(stream));
  else
    adain_t<true>(static_cast<const float*>(x), static_cast<float*>(out), rows, len, mask,
                  per_mask, fg, bg, alpha, unbiased, eps, as_stream(stream));
}

}  // namespace stylert
