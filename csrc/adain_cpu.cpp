// CPU kernels: one OpenMP task per row (an (n, c) channel). Each row is read once for
// its statistics and then, while it is still in cache, once more to write a * x + b,
// so the data crosses memory one time in and one time out. Rows are independent, so
// in-place operation (out == x) is safe.
// Loops are plain C++ with `omp simd` reductions, so GCC/Clang vectorize them on x86-64
// (SSE/AVX) and aarch64 (NEON) alike; no intrinsics.
#include <atomic>

#include "adain.h"
#include "half.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace stylert {
namespace {

// Below this many elements in total, threads cost more than they save.
constexpr int64_t kParallelMin = 1 << 15;

std::atomic<int> g_threads{0};  // 0: OpenMP's default (all cores or OMP_NUM_THREADS)

int thread_count() {
#ifdef _OPENMP
  int n = g_threads.load();
  return n > 0 ? n : omp_get_max_threads();
#else
  return 1;
#endif
}

template <typename T>
Moments row_moments(const T* x, int64_t len) {
  const double k = to_float(x[0]);
  double s1 = 0.0, s2 = 0.0;
#pragma omp simd reduction(+ : s1, s2)
  for (int64_t i = 0; i < len; ++i) {
    double d = static_cast<double>(to_float(x[i])) - k;
    s1 += d;
    s2 += d * d;
  }
  return moments_from_sums(k, s1, s2, static_cast<double>(len));
}

// Moments of the foreground (weights m) and background (weights 1 - m) in one pass.
template <typename T>
void row_moments_masked(const T* x, const float* m, int64_t len, Moments* fg, Moments* bg) {
  const double k = to_float(x[0]);
  double s1 = 0.0, s2 = 0.0, w0 = 0.0, w1 = 0.0, w2 = 0.0;
#pragma omp simd reduction(+ : s1, s2, w0, w1, w2)
  for (int64_t i = 0; i < len; ++i) {
    double d = static_cast<double>(to_float(x[i])) - k;
    double w = m[i];
    s1 += d;
    s2 += d * d;
    w0 += w;
    w1 += w * d;
    w2 += w * d * d;
  }
  *fg = moments_from_sums(k, w1, w2, w0);
  *bg = moments_from_sums(k, s1 - w1, s2 - w2, static_cast<double>(len) - w0);
}

template <typename T>
void row_affine(const T* x, T* out, int64_t len, Affine t) {
#pragma omp simd
  for (int64_t i = 0; i < len; ++i) out[i] = store_as<T>(t.a * (to_float(x[i]) - t.shift) + t.b);
}

// Each region's map about its own mean (one shared shift would cancel badly when a small
// region has a tiny spread), blended by the mask weight.
template <typename T>
void row_affine_masked(const T* x, T* out, const float* m, int64_t len, Affine fg, Affine bg) {
#pragma omp simd
  for (int64_t i = 0; i < len; ++i) {
    const float v = to_float(x[i]), w = m[i];
    const float f = fg.a * (v - fg.shift) + fg.b, b = bg.a * (v - bg.shift) + bg.b;
    out[i] = store_as<T>(w * f + (1.0f - w) * b);  // exact for w = 0 or 1
  }
}

template <typename T>
void channel_stats_t(const T* x, int64_t rows, int64_t len, bool unbiased, double eps,
                     float* mean, float* std) {
#pragma omp parallel for schedule(static) num_threads(thread_count()) \
    if (rows * len >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    Moments m = row_moments(x + r * len, len);
    mean[r] = static_cast<float>(m.mean);
    std[r] = static_cast<float>(std_from_moments(m, unbiased, eps));
  }
}

template <typename T>
void adain_t(const T* x, T* out, int64_t rows, int64_t len, StyleStats s, double alpha,
             bool unbiased, double eps) {
#pragma omp parallel for schedule(static) num_threads(thread_count()) \
    if (rows * len >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * len;
    int64_t si = r % s.rows;
    Affine t = region_affine(row_moments(xr, len), s.mean[si], s.std[si], alpha, unbiased,
                             eps);
    row_affine(xr, out + r * len, len, t);
  }
}

template <typename T>
void adain_masked_t(const T* x, T* out, int64_t rows, int64_t len, const float* mask,
                    int64_t mrows, StyleStats fg, StyleStats bg, double alpha, bool unbiased,
                    double eps) {
  const int64_t per_mask = rows / mrows;
#pragma omp parallel for schedule(static) num_threads(thread_count()) \
    if (rows * len >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * len;
    const float* m = mask + (r / per_mask) * len;
    Moments mf, mb;
    row_moments_masked(xr, m, len, &mf, &mb);
    Affine tf = region_affine(mf, fg.mean[r % fg.rows], fg.std[r % fg.rows], alpha,
                              unbiased, eps);
    Affine tb = region_affine(mb, bg.mean[r % bg.rows], bg.std[r % bg.rows], alpha,
                              unbiased, eps);
    row_affine_masked(xr, out + r * len, m, len, tf, tb);
  }
}

}  // namespace

void cpu_channel_stats(DType dt, const void* x, int64_t rows, int64_t len, bool unbiased,
                       double eps, float* mean, float* std) {
  if (dt == DType::Float16)
    channel_stats_t(static_cast<const half_t*>(x), rows, len, unbiased, eps, mean, std);
  else
    channel_stats_t(static_cast<const float*>(x), rows, len, unbiased, eps, mean, std);
}

void cpu_adain(DType dt, const void* x, void* out, int64_t rows, int64_t len,
               StyleStats style, double alpha, bool unbiased, double eps) {
  if (dt == DType::Float16)
    adain_t(static_cast<const half_t*>(x), static_cast<half_t*>(out), rows, len, style,
            alpha, unbiased, eps);
  else
    adain_t(static_cast<const float*>(x), static_cast<float*>(out), rows, len, style, alpha,
            unbiased, eps);
}

void cpu_adain_masked(DType dt, const void* x, void* out, int64_t rows, int64_t len,
                      const float* mask, int64_t mrows, StyleStats fg, StyleStats bg,
                      double alpha, bool unbiased, double eps) {
  if (dt == DType::Float16)
    adain_masked_t(static_cast<const half_t*>(x), static_cast<half_t*>(out), rows, len, mask,
                   mrows, fg, bg, alpha, unbiased, eps);
  else
    adain_masked_t(static_cast<const float*>(x), static_cast<float*>(out), rows, len, mask,
                   mrows, fg, bg, alpha, unbiased, eps);
}

void cpu_set_num_threads(int n) { g_threads.store(n > 0 ? n : 0); }

int cpu_get_num_threads() { return thread_count(); }

}  // namespace stylert
