// AVX2 + FMA dot products (compiled with -mavx2 -mfma -mf16c; chosen at run
// time by kernels_select()). Same lane layout and reduction as ggml-cpu's
// x86 path and as kernels_portable.cpp, so results are bit-identical to the
// reference (tests/inference/kernels_test checks this on random blocks).
#include <immintrin.h>

#include <cmath>
#include <cstring>

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

// 32 bits -> 32 bytes, 0xFF where the bit is set (byte j <- bit j).
inline __m256i bytes_from_bits_32(const std::uint8_t* x) {
  std::uint32_t x32;
  std::memcpy(&x32, x, 4);
  const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
  __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(int(x32)), shuf);
  bytes = _mm256_or_si256(bytes, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
  return _mm256_cmpeq_epi8(bytes, _mm256_set1_epi64x(-1));
}

float dot_q5_0_q8_0(std::int64_t n, const void* vw, const void* va) {
  const auto* x = static_cast<const block_q5_0*>(vw);
  const auto* y = static_cast<const block_q8_0*>(va);
  __m256 acc = _mm256_setzero_ps();
  for (std::int64_t ib = 0; ib < n / qk; ++ib) {
    const __m256 d = _mm256_set1_ps(h2f(x[ib].d) * h2f(y[ib].d));
    // (q | bit << 4) - 16: a clear fifth bit makes the byte q | 0xF0 = q - 16
    const __m256i hi = _mm256_andnot_si256(bytes_from_bits_32(x[ib].qh), _mm256_set1_epi8(char(0xF0)));
    const __m256i qx = _mm256_or_si256(bytes_from_nibbles_32(x[ib].qs), hi);
    const __m256i qy = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[ib].qs));
    acc = _mm256_fmadd_ps(d, mul_sum_i8_pairs_float(qx, qy), acc);
  }
  return hsum_float_8(acc);
}

float dot_q5_1_q8_1(std::int64_t n, const void* vw, const void* va) {
  const auto* x = static_cast<const block_q5_1*>(vw);
  const auto* y = static_cast<const block_q8_1*>(va);
  __m256 acc = _mm256_setzero_ps();
  float summs = 0;
  for (std::int64_t ib = 0; ib < n / qk; ++ib) {
    summs += h2f(x[ib].m) * h2f(y[ib].s);  // exact product (half x half)
    const __m256 dxdy = _mm256_mul_ps(_mm256_set1_ps(h2f(x[ib].d)), _mm256_set1_ps(h2f(y[ib].d)));
    const __m256i hi = _mm256_and_si256(bytes_from_bits_32(x[ib].qh), _mm256_set1_epi8(0x10));
    const __m256i qx = _mm256_or_si256(bytes_from_nibbles_32(x[ib].qs), hi);
    const __m256i qy = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[ib].qs));
    acc = _mm256_fmadd_ps(mul_sum_us8_pairs_float(qx, qy), dxdy, acc);
  }
  return hsum_float_8(acc) + summs;
}

// The 8 scales (low 16 bytes) and 8 mins (high) of a Q4_K block as int16.
inline __m256i q4k_scales_mins(const std::uint8_t* s12) {
  constexpr std::uint32_t kmask1 = 0x3f3f3f3f, kmask2 = 0x0f0f0f0f, kmask3 = 0x03030303;
  std::uint32_t u[4];
  std::memcpy(u, s12, 12);
  u[3] = ((u[2] >> 4) & kmask2) | (((u[1] >> 6) & kmask3) << 4);
  const std::uint32_t uaux = u[1] & kmask1;
  u[1] = (u[2] & kmask2) | (((u[0] >> 6) & kmask3) << 4);
  u[2] = uaux;
  u[0] &= kmask1;
  return _mm256_cvtepu8_epi16(_mm_set_epi32(int(u[3]), int(u[2]), int(u[1]), int(u[0])));
}

float dot_q4_k_q8_k(std::int64_t n, const void* vw, const void* va) {
  const auto* x = static_cast<const block_q4_k*>(vw);
  const auto* y = static_cast<const block_q8_k*>(va);
  const __m256i m4 = _mm256_set1_epi8(0xF);
  __m256 acc = _mm256_setzero_ps();
  __m128 acc_m = _mm_setzero_ps();
  for (std::int64_t i = 0; i < n / qk_k; ++i) {
    const float d = y[i].d * h2f(x[i].d);
    const float dmin = -y[i].d * h2f(x[i].dmin);
    const __m256i ms = q4k_scales_mins(x[i].scales);
    const __m256i q8sums = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].bsums));
    const __m128i q8s = _mm_hadd_epi16(_mm256_extracti128_si256(q8sums, 0), _mm256_extracti128_si256(q8sums, 1));
    const __m128i prod = _mm_madd_epi16(_mm256_extracti128_si256(ms, 1), q8s);
    acc_m = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(prod), acc_m);
    const __m128i sc128 = _mm256_extracti128_si256(ms, 0);
    const __m256i scales = _mm256_set_m128i(sc128, sc128);
    const std::uint8_t* q4 = x[i].qs;
    const std::int8_t* q8 = y[i].qs;
    __m256i sumi = _mm256_setzero_si256();
    for (int j = 0; j < 4; ++j, q4 += 32, q8 += 64) {
      // int16 lanes holding scale 2j (lo) and 2j+1 (hi): bytes 4j..4j+3 of scales
      const __m256i scale_l = _mm256_shuffle_epi8(scales, _mm256_set1_epi16(short(0x0100 + 0x0202 * (2 * j))));
      const __m256i scale_h = _mm256_shuffle_epi8(scales, _mm256_set1_epi16(short(0x0100 + 0x0202 * (2 * j + 1))));
      const __m256i bits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q4));
      const __m256i lo = _mm256_and_si256(bits, m4), hi = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
      const __m256i pl = _mm256_madd_epi16(scale_l, _mm256_maddubs_epi16(lo, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q8))));
      const __m256i ph = _mm256_madd_epi16(scale_h, _mm256_maddubs_epi16(hi, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q8 + 32))));
      sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(pl, ph));
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
  }
  acc_m = _mm_add_ps(acc_m, _mm_movehl_ps(acc_m, acc_m));
  acc_m = _mm_add_ss(acc_m, _mm_movehdup_ps(acc_m));
  return hsum_float_8(acc) + _mm_cvtss_f32(acc_m);
}

float dot_q6_k_q8_k(std::int64_t n, const void* vw, const void* va) {
  const auto* x = static_cast<const block_q6_k*>(vw);
  const auto* y = static_cast<const block_q8_k*>(va);
  const __m256i m3 = _mm256_set1_epi8(3), m15 = _mm256_set1_epi8(15);
  __m256 acc = _mm256_setzero_ps();
  for (std::int64_t i = 0; i < n / qk_k; ++i) {
    const float d = y[i].d * h2f(x[i].d);
    const std::uint8_t* q4 = x[i].ql;
    const std::uint8_t* qh = x[i].qh;
    const std::int8_t* q8 = y[i].qs;
    const __m256i q8sums = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].bsums));
    const __m128i scales = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[i].scales));
    const __m256i q8sclsub = _mm256_slli_epi32(_mm256_madd_epi16(q8sums, _mm256_cvtepi8_epi16(scales)), 5);
    __m256i sumi = _mm256_setzero_si256();
    for (int j = 0; j < 2; ++j, q4 += 64, qh += 32, q8 += 128) {
      const __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q4));
      const __m256i b2 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q4 + 32));
      const __m256i bh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qh));
      const __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(bh, m3), 4);
      const __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(bh, _mm256_set1_epi8(12)), 2);
      const __m256i h2 = _mm256_and_si256(bh, _mm256_set1_epi8(48));
      const __m256i h3 = _mm256_srli_epi16(_mm256_and_si256(bh, _mm256_set1_epi8(char(0xC0))), 2);
      const __m256i v[4] = {_mm256_or_si256(_mm256_and_si256(b1, m15), h0),
                            _mm256_or_si256(_mm256_and_si256(b2, m15), h1),
                            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b1, 4), m15), h2),
                            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b2, 4), m15), h3)};
      __m256i p[4];
      for (int k = 0; k < 4; ++k) {
        const int m = 4 * j + k;  // 8 bytes of scale 2m, then 8 of scale 2m+1
        const __m128i sh = _mm_set_epi64x(0x0101010101010101LL * (2 * m + 1), 0x0101010101010101LL * (2 * m));
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(scales, sh));
        p[k] = _mm256_madd_epi16(sc16, _mm256_maddubs_epi16(v[k], _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q8 + 32 * k))));
      }
      sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p[0], p[1]));
      sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p[2], p[3]));
    }
    sumi = _mm256_sub_epi32(sumi, q8sclsub);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
  }
  return hsum_float_8(acc);
}

// Q5_K: Q4_K's scales and lanes with the fifth bit from qh (bit 2j / 2j+1
// of byte e for chunk j); the mins term as one integer per block, FMA'd
// into a scalar (ggml's `summs += dmin * int` contracted).
float dot_q5_k_q8_k(std::int64_t n, const void* vw, const void* va) {
  const auto* x = static_cast<const block_q5_k*>(vw);
  const auto* y = static_cast<const block_q8_k*>(va);
  const __m256i m4 = _mm256_set1_epi8(0xF), one = _mm256_set1_epi8(1);
  __m256 acc = _mm256_setzero_ps();
  float summs = 0;
  for (std::int64_t i = 0; i < n / qk_k; ++i) {
    const float d = y[i].d * h2f(x[i].d);
    const float dmin = -y[i].d * h2f(x[i].dmin);
    const __m256i ms = q4k_scales_mins(x[i].scales);
    const __m256i q8sums = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].bsums));
    const __m128i q8s = _mm_hadd_epi16(_mm256_extracti128_si256(q8sums, 0), _mm256_extracti128_si256(q8sums, 1));
    const __m128i prod = _mm_madd_epi16(_mm256_extracti128_si256(ms, 1), q8s);
    const __m128i hs = _mm_hadd_epi32(_mm_hadd_epi32(prod, _mm_setzero_si128()), _mm_setzero_si128());
    summs = std::fma(dmin, float(_mm_cvtsi128_si32(hs)), summs);
    const __m128i sc128 = _mm256_extracti128_si256(ms, 0);
    const __m256i scales = _mm256_set_m128i(sc128, sc128);
    const __m256i hbits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i].qh));
    const std::uint8_t* q5 = x[i].qs;
    const std::int8_t* q8 = y[i].qs;
    __m256i sumi = _mm256_setzero_si256();
    for (int j = 0; j < 4; ++j, q5 += 32, q8 += 64) {
      const __m256i scale_l = _mm256_shuffle_epi8(scales, _mm256_set1_epi16(short(0x0100 + 0x0202 * (2 * j))));
      const __m256i scale_h = _mm256_shuffle_epi8(scales, _mm256_set1_epi16(short(0x0100 + 0x0202 * (2 * j + 1))));
      const __m256i bits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q5));
      const __m256i hl = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 2 * j), one), 4);
      const __m256i hh = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 2 * j + 1), one), 4);
      const __m256i lo = _mm256_or_si256(_mm256_and_si256(bits, m4), hl);
      const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(bits, 4), m4), hh);
      const __m256i pl = _mm256_madd_epi16(scale_l, _mm256_maddubs_epi16(lo, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q8))));
      const __m256i ph = _mm256_madd_epi16(scale_h, _mm256_maddubs_epi16(hi, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q8 + 32))));
      sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(pl, ph));
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
  }
  return hsum_float_8(acc) + summs;
}

// int16 scales of a 128-element half (8 per half, both 128-bit lanes) ->
// for run s: scale 2s in the low lane, 2s+1 in the high lane
inline __m256i q23k_scale(__m256i scales, int s) {
  const __m128i lo = _mm_set1_epi16(short(0x0100 + 0x0202 * (2 * s)));
  const __m128i hi = _mm_set1_epi16(short(0x0100 + 0x0202 * (2 * s + 1)));
  return _mm256_shuffle_epi8(scales, _mm256_set_m128i(hi, lo));
}

float dot_q2_k_q8_k(std::int64_t n, const void* vw, const void* va) {
  const auto* x = static_cast<const block_q2_k*>(vw);
  const auto* y = static_cast<const block_q8_k*>(va);
  const __m256i m3 = _mm256_set1_epi8(3);
  const __m128i m4 = _mm_set1_epi8(0xF);
  __m256 acc = _mm256_setzero_ps();
  for (std::int64_t i = 0; i < n / qk_k; ++i) {
    const float d = y[i].d * h2f(x[i].d);
    const float dmin = -y[i].d * h2f(x[i].dmin);
    const __m128i ms = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[i].scales));
    const __m256i mins = _mm256_cvtepi8_epi16(_mm_and_si128(_mm_srli_epi16(ms, 4), m4));
    const __m256i prod = _mm256_madd_epi16(mins, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].bsums)));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(prod), acc);
    const __m256i all = _mm256_cvtepi8_epi16(_mm_and_si128(ms, m4));
    const __m128i ls = _mm256_extracti128_si256(all, 0), hs = _mm256_extracti128_si256(all, 1);
    const __m256i scales[2] = {_mm256_set_m128i(ls, ls), _mm256_set_m128i(hs, hs)};
    const std::uint8_t* q2 = x[i].qs;
    const std::int8_t* q8 = y[i].qs;
    __m256i sumi = _mm256_setzero_si256();
    for (int j = 0; j < 2; ++j, q2 += 32) {
      const __m256i bits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q2));
      __m256i p[4];
      for (int s = 0; s < 4; ++s, q8 += 32) {
        const __m256i q = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * s), m3);
        p[s] = _mm256_madd_epi16(q23k_scale(scales[j], s),
                                 _mm256_maddubs_epi16(q, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q8))));
      }
      sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(_mm256_add_epi32(p[0], p[1]), _mm256_add_epi32(p[2], p[3])));
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
  }
  return hsum_float_8(acc);
}

float dot_q3_k_q8_k(std::int64_t n, const void* vw, const void* va) {
  constexpr std::uint32_t kmask1 = 0x03030303, kmask2 = 0x0f0f0f0f;
  const auto* x = static_cast<const block_q3_k*>(vw);
  const auto* y = static_cast<const block_q8_k*>(va);
  const __m256i m3 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
  __m256 acc = _mm256_setzero_ps();
  for (std::int64_t i = 0; i < n / qk_k; ++i) {
    const float d = y[i].d * h2f(x[i].d);
    std::uint32_t aux[3];
    std::memcpy(aux, x[i].scales, 12);
    __m128i s128 = _mm_set_epi32(int(((aux[1] >> 4) & kmask2) | (((aux[2] >> 6) & kmask1) << 4)),
                                 int(((aux[0] >> 4) & kmask2) | (((aux[2] >> 4) & kmask1) << 4)),
                                 int((aux[1] & kmask2) | (((aux[2] >> 2) & kmask1) << 4)),
                                 int((aux[0] & kmask2) | (((aux[2] >> 0) & kmask1) << 4)));
    s128 = _mm_sub_epi8(s128, _mm_set1_epi8(32));
    const __m256i all = _mm256_cvtepi8_epi16(s128);
    const __m128i ls = _mm256_extracti128_si256(all, 0), hs = _mm256_extracti128_si256(all, 1);
    const __m256i scales[2] = {_mm256_set_m128i(ls, ls), _mm256_set_m128i(hs, hs)};
    const __m256i hbits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i].hmask));
    const std::uint8_t* q3 = x[i].qs;
    const std::int8_t* q8 = y[i].qs;
    __m256i sumi = _mm256_setzero_si256();
    for (int j = 0; j < 2; ++j, q3 += 32) {
      const __m256i bits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q3));
      __m256i p[4];
      for (int s = 0; s < 4; ++s, q8 += 32) {
        const int bit = 4 * j + s;
        const __m256i ql = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * s), m3);
        // 4 where the high bit is clear (subtracted), 0 where it is set
        const __m256i qh = _mm256_slli_epi16(_mm256_andnot_si256(_mm256_and_si256(_mm256_srli_epi16(hbits, bit), one), one), 2);
        const __m256i a8 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q8));
        const __m256i p16 = _mm256_sub_epi16(_mm256_maddubs_epi16(ql, a8), _mm256_maddubs_epi16(qh, a8));
        p[s] = _mm256_madd_epi16(q23k_scale(scales[j], s), p16);
      }
      sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(_mm256_add_epi32(p[0], p[1]), _mm256_add_epi32(p[2], p[3])));
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
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
    t.dot_q5_0_q8_0 = dot_q5_0_q8_0;
    t.dot_q5_1_q8_1 = dot_q5_1_q8_1;
    t.dot_q4_k_q8_k = dot_q4_k_q8_k;
    t.dot_q6_k_q8_k = dot_q6_k_q8_k;
    t.rows_q5_0_q8_0 = rows_of<dot_q5_0_q8_0>;
    t.rows_q5_1_q8_1 = rows_of<dot_q5_1_q8_1>;
    t.rows_q4_k_q8_k = rows_of<dot_q4_k_q8_k>;
    t.rows_q6_k_q8_k = rows_of<dot_q6_k_q8_k>;
    t.dot_q2_k_q8_k = dot_q2_k_q8_k;
    t.dot_q3_k_q8_k = dot_q3_k_q8_k;
    t.dot_q5_k_q8_k = dot_q5_k_q8_k;
    t.rows_q2_k_q8_k = rows_of<dot_q2_k_q8_k>;
    t.rows_q3_k_q8_k = rows_of<dot_q3_k_q8_k>;
    t.rows_q5_k_q8_k = rows_of<dot_q5_k_q8_k>;
    return t;
  }();
  return &table;
}

}  // namespace aikid::inference
