// pybind11 module stylert._adain: the low-level entry points. The user-facing API with
// full argument checking and documentation is stylert.adain (runtime/adain.py); the
// checks here only guard memory safety, so a wrong call can never read or write out of
// bounds.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "adain.h"
#include "half.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace py = pybind11;
using namespace stylert;

namespace {

constexpr int kNpyFloat32 = 11, kNpyFloat16 = 23;

DType storage_type(const py::array& a, const char* name) {
  const int num = a.dtype().num();
  const bool native = a.dtype().attr("isnative").cast<bool>();
  if (native && num == kNpyFloat32) return DType::Float32;
  if (native && num == kNpyFloat16) return DType::Float16;
  throw py::type_error(std::string(name) + " must be float32 or float16, got " +
                       py::str(a.dtype()).cast<std::string>());
}

void require_2d_contiguous(const py::array& a, const char* name) {
  if (a.ndim() != 2) throw py::value_error(std::string(name) + " must be 2-D (rows, len)");
  if (!(a.flags() & py::array::c_style))
    throw py::value_error(std::string(name) + " must be C-contiguous");
}

// A float32 vector of statistics whose length divides `rows`.
StyleStats stats_arg(const py::array& mean, const py::array& std, int64_t rows,
                     const char* name) {
  for (const py::array* a : {&mean, &std}) {
    if (a->ndim() != 1 || a->dtype().num() != kNpyFloat32 ||
        !a->dtype().attr("isnative").cast<bool>() || !(a->flags() & py::array::c_style))
      throw py::value_error(std::string(name) + " statistics must be 1-D C-contiguous float32");
  }
  const int64_t n = mean.shape(0);
  if (std.shape(0) != n || n == 0 || rows % n != 0)
    throw py::value_error(std::string(name) + " statistics length must divide the row count");
  return StyleStats{static_cast<const float*>(mean.data()),
                    static_cast<const float*>(std.data()), n};
}

struct Rows {
  DType dt;
  int64_t rows, len;
};

Rows io_args(const py::array& x, py::array& out) {
  require_2d_contiguous(x, "x");
  require_2d_contiguous(out, "out");
  DType dt = storage_type(x, "x");
  if (storage_type(out, "out") != dt || out.shape(0) != x.shape(0) ||
      out.shape(1) != x.shape(1))
    throw py::value_error("out must have the shape and dtype of x");
  if (!out.writeable()) throw py::value_error("out is read-only");
  if (x.size() == 0) throw py::value_error("x is empty");
  return Rows{dt, x.shape(0), x.shape(1)};
}

py::tuple channel_stats(const py::array& x, bool unbiased, double eps) {
  require_2d_contiguous(x, "x");
  DType dt = storage_type(x, "x");
  if (x.size() == 0) throw py::value_error("x is empty");
  const int64_t rows = x.shape(0), len = x.shape(1);
  py::array_t<float> mean(rows), std(rows);
  const void* px = x.data();
  float *pm = mean.mutable_data(), *ps = std.mutable_data();
  {
    py::gil_scoped_release nogil;
    cpu_channel_stats(dt, px, rows, len, unbiased, eps, pm, ps);
  }
  return py::make_tuple(mean, std);
}

void adain(const py::array& x, py::array& out, const py::array& smean, const py::array& sstd,
           double alpha, bool unbiased, double eps) {
  Rows r = io_args(x, out);
  StyleStats s = stats_arg(smean, sstd, r.rows, "style");
  const void* px = x.data();
  void* po = out.mutable_data();
  py::gil_scoped_release nogil;
  cpu_adain(r.dt, px, po, r.rows, r.len, s, alpha, unbiased, eps);
}

void adain_masked(const py::array& x, py::array& out, const py::array& mask,
                  const py::array& fg_mean, const py::array& fg_std, const py::array& bg_mean,
                  const py::array& bg_std, double alpha, bool unbiased, double eps) {
  Rows r = io_args(x, out);
  require_2d_contiguous(mask, "mask");
  if (mask.dtype().num() != kNpyFloat32 || !mask.dtype().attr("isnative").cast<bool>())
    throw py::value_error("mask must be float32");
  const int64_t mrows = mask.shape(0);
  if (mask.shape(1) != r.len || mrows == 0 || r.rows % mrows != 0)
    throw py::value_error("mask must be (M, len) with M dividing the row count");
  StyleStats fg = stats_arg(fg_mean, fg_std, r.rows, "foreground");
  StyleStats bg = stats_arg(bg_mean, bg_std, r.rows, "background");
  const void* px = x.data();
  void* po = out.mutable_data();
  const float* pm = static_cast<const float*>(mask.data());
  py::gil_scoped_release nogil;
  cpu_adain_masked(r.dt, px, po, r.rows, r.len, pm, mrows, fg, bg, alpha, unbiased, eps);
}

// CUDA entry points take raw device pointers; stylert.adain reads them from
// __cuda_array_interface__ after checking shapes, dtypes and contiguity.
DType dtype_code(int code) {
  if (code != 0 && code != 1) throw py::value_error("dtype code must be 0 (f32) or 1 (f16)");
  return static_cast<DType>(code);
}

void check_grid(int64_t rows, int64_t len) {
  if (rows <= 0 || len <= 0) throw py::value_error("empty input");
  if (rows > INT32_MAX) throw py::value_error("too many channels for one CUDA launch");
}

template <typename T>
T* ptr(uintptr_t p) {
  return reinterpret_cast<T*>(p);
}

// The kernels' float16 conversions, exposed so tests can check them exhaustively.
py::array_t<float> f16_bits_to_f32(const py::array_t<uint16_t, py::array::c_style>& a) {
  py::array_t<float> out(a.size());
  for (py::ssize_t i = 0; i < a.size(); ++i)
    out.mutable_data()[i] = half_bits_to_float(a.data()[i]);
  return out;
}

py::array_t<uint16_t> f32_to_f16_bits(const py::array_t<float, py::array::c_style>& a) {
  py::array_t<uint16_t> out(a.size());
  for (py::ssize_t i = 0; i < a.size(); ++i)
    out.mutable_data()[i] = float_to_half_bits(a.data()[i]);
  return out;
}

py::dict build_info() {
  py::dict d;
  d["cuda"] = cuda_compiled();
#ifdef STYLERT_CUDA_ARCHS
  d["cuda_architectures"] = STYLERT_CUDA_ARCHS;
#else
  d["cuda_architectures"] = "";
#endif
#ifdef _OPENMP
  d["openmp"] = _OPENMP;
#else
  d["openmp"] = 0;
#endif
#ifdef STYLERT_NATIVE
  d["native_arch"] = true;
#else
  d["native_arch"] = false;
#endif
#if defined(__clang__)
  d["compiler"] = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  d["compiler"] = std::string("gcc ") + __VERSION__;
#else
  d["compiler"] = "unknown";
#endif
  return d;
}

}  // namespace

PYBIND11_MODULE(_adain, m) {
  m.doc() = "Fused AdaIN kernels (low level; use stylert.adain).";
  m.def("channel_stats", &channel_stats, py::arg("x"), py::arg("unbiased"), py::arg("eps"));
  m.def("adain", &adain, py::arg("x"), py::arg("out"), py::arg("style_mean"),
        py::arg("style_std"), py::arg("alpha"), py::arg("unbiased"), py::arg("eps"));
  m.def("adain_masked", &adain_masked, py::arg("x"), py::arg("out"), py::arg("mask"),
        py::arg("fg_mean"), py::arg("fg_std"), py::arg("bg_mean"), py::arg("bg_std"),
        py::arg("alpha"), py::arg("unbiased"), py::arg("eps"));
  m.def("set_num_threads", &cpu_set_num_threads, py::arg("n"));
  m.def("get_num_threads", &cpu_get_num_threads);

  m.def("cuda_compiled", &cuda_compiled);
  m.def("cuda_device_count", &cuda_device_count);
  m.def(
      "cuda_channel_stats",
      [](int dt, uintptr_t x, int64_t rows, int64_t len, bool unbiased, double eps,
         uintptr_t mean, uintptr_t std, uintptr_t stream) {
        check_grid(rows, len);
        DType d = dtype_code(dt);
        py::gil_scoped_release nogil;
        cuda_channel_stats(d, ptr<const void>(x), rows, len, unbiased, eps,
                           ptr<float>(mean), ptr<float>(std), stream);
      },
      py::arg("dtype"), py::arg("x"), py::arg("rows"), py::arg("len"), py::arg("unbiased"),
      py::arg("eps"), py::arg("mean"), py::arg("std"), py::arg("stream"));
  m.def(
      "cuda_adain",
      [](int dt, uintptr_t x, uintptr_t out, int64_t rows, int64_t len, uintptr_t smean,
         uintptr_t sstd, int64_t srows, double alpha, bool unbiased, double eps,
         uintptr_t stream) {
        check_grid(rows, len);
        if (srows <= 0 || rows % srows) throw py::value_error("bad style statistics length");
        StyleStats s{ptr<const float>(smean), ptr<const float>(sstd), srows};
        DType d = dtype_code(dt);
        py::gil_scoped_release nogil;
        cuda_adain(d, ptr<const void>(x), ptr<void>(out), rows, len, s, alpha,
                   unbiased, eps, stream);
      },
      py::arg("dtype"), py::arg("x"), py::arg("out"), py::arg("rows"), py::arg("len"),
      py::arg("style_mean"), py::arg("style_std"), py::arg("style_rows"), py::arg("alpha"),
      py::arg("unbiased"), py::arg("eps"), py::arg("stream"));
  m.def(
      "cuda_adain_masked",
      [](int dt, uintptr_t x, uintptr_t out, int64_t rows, int64_t len, uintptr_t mask,
         int64_t mrows, uintptr_t fg_mean, uintptr_t fg_std, int64_t fg_rows,
         uintptr_t bg_mean, uintptr_t bg_std, int64_t bg_rows, double alpha, bool unbiased,
         double eps, uintptr_t stream) {
        check_grid(rows, len);
        if (mrows <= 0 || rows % mrows || fg_rows <= 0 || rows % fg_rows || bg_rows <= 0 ||
            rows % bg_rows)
          throw py::value_error("bad mask or statistics length");
        StyleStats fg{ptr<const float>(fg_mean), ptr<const float>(fg_std), fg_rows};
        StyleStats bg{ptr<const float>(bg_mean), ptr<const float>(bg_std), bg_rows};
        DType d = dtype_code(dt);
        py::gil_scoped_release nogil;
        cuda_adain_masked(d, ptr<const void>(x), ptr<void>(out), rows, len,
                          ptr<const float>(mask), mrows, fg, bg, alpha, unbiased, eps, stream);
      },
      py::arg("dtype"), py::arg("x"), py::arg("out"), py::arg("rows"), py::arg("len"),
      py::arg("mask"), py::arg("mask_rows"), py::arg("fg_mean"), py::arg("fg_std"),
      py::arg("fg_rows"), py::arg("bg_mean"), py::arg("bg_std"), py::arg("bg_rows"),
      py::arg("alpha"), py::arg("unbiased"), py::arg("eps"), py::arg("stream"));

  m.def("build_info", &build_info);
  m.def("_f16_bits_to_f32", &f16_bits_to_f32);
  m.def("_f32_to_f16_bits", &f32_to_f16_bits);
}
