// Small helpers shared by the AVX-512 translation units (kernels_avx512.cpp,
// kernels_avx512_packed.cpp), which are compiled with the same ISA flags.
// Internal linkage on purpose: a translation unit built for another ISA
// (kernels_avx2.cpp, kernels_portable.cpp) must never share these inline
// functions with them, or the linker could keep one ISA's copy for both.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace aikid::inference {
namespace {

// IEEE half -> float by F16C: exact, like the table, without a dependent
// load from a 256 KB table in the inner loop.
inline float h2f(std::uint16_t h) { return _cvtsh_ss(h); }

// The 8 lanes reduced as llama.cpp's hsum_float_8: ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)).
inline float hsum_float_8(__m256 x) {
  __m128 res = _mm256_extractf128_ps(x, 1);
  res = _mm_add_ps(res, _mm256_castps256_ps128(x));
  res = _mm_add_ps(res, _mm_movehl_ps(res, res));
  res = _mm_add_ss(res, _mm_movehdup_ps(res));
  return _mm_cvtss_f32(res);
}

// The first min(left, 16) lanes.
inline __mmask16 tail_mask(int left) { return left >= 16 ? __mmask16(0xffff) : __mmask16((1u << left) - 1); }

}  // namespace
}  // namespace aikid::inference
