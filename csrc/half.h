// IEEE binary16 storage for the CPU kernels; all math is done in float.
// The conversions are branch-free integer/float arithmetic (selects by masks), so GCC
// and Clang vectorize them on any x86-64 (SSE2 and up) and on aarch64 alike: compilers'
// own _Float16 conversions do not vectorize without AVX512-FP16, and intrinsics would
// tie the code to one architecture. tests/ checks them exhaustively against numpy.
#pragma once

#include <cstdint>
#include <cstring>

namespace stylert {

using half_t = uint16_t;  // the bits of an IEEE binary16

inline uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

inline float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline float half_bits_to_float(uint16_t h) {
  uint32_t o = static_cast<uint32_t>(h & 0x7fffu) << 13;  // exponent and mantissa
  const uint32_t exp = o & 0x0f800000u;
  const uint32_t is_special = 0u - static_cast<uint32_t>(exp == 0x0f800000u);  // inf, NaN
  const uint32_t is_subnormal = 0u - static_cast<uint32_t>(exp == 0u);         // and zero
  o += 0x38000000u + (is_special & 0x38000000u);  // rebias 15 -> 127 (special: to 255)
  // A subnormal m * 2^-24 is (1 + m/1024) * 2^-14 - 2^-14, exact in float.
  const uint32_t sub = float_bits(bits_float(o + 0x00800000u) - 6.103515625e-05f);
  const uint32_t r = (is_subnormal & sub) | (~is_subnormal & o);
  return bits_float(r | (static_cast<uint32_t>(h & 0x8000u) << 16));
}

// Round to nearest, ties to even; overflow gives inf, NaN stays NaN (quiet).
inline uint16_t float_to_half_bits(float f) {
  uint32_t x = float_bits(f);
  const uint32_t sign = (x >> 16) & 0x8000u;
  x &= 0x7fffffffu;
  // Normal range: rebias the exponent (127 -> 15) and round the 13 dropped bits.
  const uint32_t normal = (x + 0xc8000fffu + ((x >> 13) & 1u)) >> 13;
  // Below 2^-14: adding 0.5 lines the half's subnormal bits up with the float's low
  // mantissa bits, and the float addition rounds to nearest even for us.
  const uint32_t sub = float_bits(bits_float(x) + 0.5f) - 0x3f000000u;
  const uint32_t special = 0x7c00u | ((0u - static_cast<uint32_t>(x > 0x7f800000u)) & 0x0200u);
  const uint32_t is_big = 0u - static_cast<uint32_t>(x >= 0x47800000u);  // >= 65536
  const uint32_t is_small = 0u - static_cast<uint32_t>(x < 0x38800000u);
  const uint32_t r = (is_big & special) | (~is_big & ((is_small & sub) | (~is_small & normal)));
  return static_cast<uint16_t>(r | sign);
}

inline float to_float(float f) { return f; }
inline float to_float(half_t h) { return half_bits_to_float(h); }

template <typename T>
inline T store_as(float f);
template <>
inline float store_as<float>(float f) { return f; }
template <>
inline half_t store_as<half_t>(float f) { return float_to_half_bits(f); }

}  // namespace stylert
