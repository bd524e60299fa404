// AVX2 + FMA dot products (compiled with -mavx2 -mfma -mf16c; chosen at run
// time by kernels_select()). Same lane layout and reduction as ggml-cpu's
// x86 path and as kernels_portable.cpp, so results are bit-identical to the
// reference (tests/inference/kernels_test checks this on random blocks).
#include <immintrin.h>

#include "actors/inference/kernels.hpp"

namespace aikid::inference {
namespace {

// Local copy of the half->float lookup: no inline function shared with other
// translation units is instantiated here with AVX2 code (ODR/COMDAT safety).
inline float h2f(std::uint16_t h) { return detail::fp16_table[h]; }

inline float hsum_float_8(__m256 x) {
  __m128 res = _mm256_extractf128_ps(x, 1);
  res = _mm_add_ps(res, _mm256_castps256_ps128(x));
  res = _mm_add_ps(res, _mm_movehl_ps(res, res));
  res = _mm_add_ss(res, _mm_movehdup_ps(res));
  return _mm_cvtss_f32(res);
}

// 16 bytes of nibbles -> 32 bytes: low nibbles first, then high nibbles.
inline __m256i bytes_from_nibbles_32(const std::uint8_t* rsi) {
  const __m128i tmp = _mm_loadu_si128(reinterpret_cast<const __m128i*>(rsi));
  const __m256i bytes = _mm256_insertf128_si256(_mm256_castsi128_si256(tmp), _mm_srli_epi16(tmp, 4), 1);
  return _mm256_and_si256(_mm256_set1_epi8(0x0f), bytes);
}

// unsigned x signed bytes, summed in groups of 4 -> 8 int32 -> float
inline __m256 mul_sum_us8_pairs_float(__m256i ax, __m256i sy) {
  const __m256i dot = _mm256_maddubs_epi16(ax, sy);
  return _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_set1_epi16(1), dot));
}

inline __m256 mul_sum_i8_pairs_float(__m256i x, __m256i y) {
  const __m256i ax = _mm256_sign_epi8(x, x);
  const __m256i sy = _mm256_sign_epi8(y, x);
  return mul_sum_us8_pairs_float(ax, sy);
}

float dot_q4_0_q8_0(std::int64_t n, const void* vw, const void* va) {
  const auto* x = static_cast<const block_q4_0*>(vw);
  const auto* y = static_cast<const block_q8_0*>(va);
  __m256 acc = _mm256_setzero_ps();
  for (std::int64_t ib = 0; ib < n / qk; ++ib) {
    const __m256 d = _mm256_set1_ps(h2f(x[ib].d) * h2f(y[ib].d));
    const __m256i qx = _mm256_sub_epi8(bytes_from_nibbles_32(x[ib].qs), _mm256_set1_epi8(8));
    const __m256i qy = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[ib].qs));
    acc = _mm256_fmadd_ps(d, mul_sum_i8_pairs_float(qx, qy), acc);
  }
  return hsum_float_8(acc);
}

float dot_q4_1_q8_1(std::int64_t n, const void* vw, const void* va) {
  const auto* x = static_cast<const block_q4_1*>(vw);
  const auto* y = static_cast<const block_q8_1*>(va);
  __m256 acc = _mm256_setzero_ps();
  float summs = 0;
  for (std::int64_t ib = 0; ib < n / qk; ++ib) {
    const float d0 = h2f(x[ib].d), d1 = h2f(y[ib].d);
    summs += h2f(x[ib].m) * h2f(y[ib].s);  // exact product (half x half)
    const __m256 d0d1 = _mm256_mul_ps(_mm256_set1_ps(d0), _mm256_set1_ps(d1));
    const __m256i qx = bytes_from_nibbles_32(x[ib].qs);
    const __m256i qy = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[ib].qs));
    acc = _mm256_fmadd_ps(d0d1, mul_sum_us8_pairs_float(qx, qy), acc);
  }
  return hsum_float_8(acc) + summs;
}

float dot_q8_0_q8_0(std::int64_t n, const void* vw, const void* va) {
  const auto* x = static_cast<const block_q8_0*>(vw);
  const auto* y = static_cast<const block_q8_0*>(va);
  __m256 acc = _mm256_setzero_ps();
  for (std::int64_t ib = 0; ib < n / qk; ++ib) {
    const __m256 d = _mm256_set1_ps(h2f(x[ib].d) * h2f(y[ib].d));
    const __m256i qx = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[ib].qs));
    const __m256i qy = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[ib].qs));
    acc = _mm256_fmadd_ps(d, mul_sum_i8_pairs_float(qx, qy), acc);
  }
  return hsum_float_8(acc);
}

template <float (*dot)(std::int64_t, const void*, const void*)>
void rows_of(std::int64_t n, const std::byte* w, std::size_t row_bytes, int nr, const void* a, float* y) {
  for (int i = 0; i < nr; ++i) y[i] = dot(n, w + std::size_t(i) * row_bytes, a);
}

}  // namespace

const kernel_table* kernels_avx2() {
  static const kernel_table table = [] {
    kernel_table t = kernels_portable();  // f16/bf16/f32 dots and quantisers: the reference ones
    t.name = "avx2";
    t.dot_q4_0_q8_0 = dot_q4_0_q8_0;
    t.dot_q4_1_q8_1 = dot_q4_1_q8_1;
    t.dot_q8_0_q8_0 = dot_q8_0_q8_0;
    t.rows_q4_0_q8_0 = rows_of<dot_q4_0_q8_0>;
    t.rows_q4_1_q8_1 = rows_of<dot_q4_1_q8_1>;
    t.rows_q8_0_q8_0 = rows_of<dot_q8_0_q8_0>;
    return t;
  }();
  return &table;
}

}  // namespace aikid::inference
