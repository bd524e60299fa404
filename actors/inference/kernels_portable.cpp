// Portable reference kernels. The quantised dot products keep ggml-cpu's x86
// summation order (model-facts §4): the integer products of each 32-block are
// summed in 8 lanes of 4 consecutive elements, each lane accumulates
// fma(d_w*d_a, lane_sum, acc) across blocks, and the 8 lanes are reduced as
// hsum_float_8 does ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)). The integer part
// is exact, so results equal llama.cpp's AVX2 build bit for bit. The
// K-quant dots (Q4_K, Q6_K x Q8_K) follow ggml's AVX2 ggml_vec_dot_*_q8_K
// the same way: one set of 8 integer lanes per 256-block (4 consecutive
// products each, times the sub-block scale), one FMA per lane and block.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "actors/inference/kernels.hpp"

namespace aikid::inference {
namespace {

// fmaf(a, b, c) for |b| < 2^24 integers: a*b is exact in double, so one
// double add and a rounding to float equal a fused multiply-add except in
// double-rounding ties (never seen in practice). Baseline x86-64 has no FMA
// instruction and libm's fmaf is a call; the ISA kernels use real FMA.
inline float fma_f32(float a, float b, float c) { return float(double(a) * double(b) + double(c)); }

float hsum8(const float acc[8]) {
  const float a0 = acc[0] + acc[4], a1 = acc[1] + acc[5], a2 = acc[2] + acc[6], a3 = acc[3] + acc[7];
  return (a0 + a2) + (a1 + a3);
}

// Unpacks a 4-bit block to 32 values in element order (low nibbles, then high).
inline void unpack_nibbles(const std::uint8_t* qs, int out[32]) {
  for (int j = 0; j < 16; ++j) {
    out[j] = qs[j] & 0x0f;
    out[j + 16] = qs[j] >> 4;
  }
}

float dot_q4_0_q8_0(std::int64_t n, const void* vw, const void* va) {
  const auto* w = static_cast<const block_q4_0*>(vw);
  const auto* a = static_cast<const block_q8_0*>(va);
  float acc[8] = {};
  for (std::int64_t b = 0; b < n / qk; ++b) {
    const float d = fp16_to_fp32(w[b].d) * fp16_to_fp32(a[b].d);
    int q[32];
    unpack_nibbles(w[b].qs, q);
    for (int l = 0; l < 8; ++l) {
      int s = 0;
      for (int j = 4 * l; j < 4 * l + 4; ++j) s += (q[j] - 8) * a[b].qs[j];
      acc[l] = fma_f32(d, float(s), acc[l]);
    }
  }
  return hsum8(acc);
}

float dot_q4_1_q8_1(std::int64_t n, const void* vw, const void* va) {
  const auto* w = static_cast<const block_q4_1*>(vw);
  const auto* a = static_cast<const block_q8_1*>(va);
  float acc[8] = {};
  float summs = 0;
  for (std::int64_t b = 0; b < n / qk; ++b) {
    const float d0 = fp16_to_fp32(w[b].d), d1 = fp16_to_fp32(a[b].d);
    summs += fp16_to_fp32(w[b].m) * fp16_to_fp32(a[b].s);
    const float d = d0 * d1;
    int q[32];
    unpack_nibbles(w[b].qs, q);
    for (int l = 0; l < 8; ++l) {
      int s = 0;
      for (int j = 4 * l; j < 4 * l + 4; ++j) s += q[j] * a[b].qs[j];
      acc[l] = fma_f32(d, float(s), acc[l]);
    }
  }
  return hsum8(acc) + summs;
}

float dot_q8_0_q8_0(std::int64_t n, const void* vw, const void* va) {
  const auto* w = static_cast<const block_q8_0*>(vw);
  const auto* a = static_cast<const block_q8_0*>(va);
  float acc[8] = {};
  for (std::int64_t b = 0; b < n / qk; ++b) {
    const float d = fp16_to_fp32(w[b].d) * fp16_to_fp32(a[b].d);
    for (int l = 0; l < 8; ++l) {
      int s = 0;
      for (int j = 4 * l; j < 4 * l + 4; ++j) s += int(w[b].qs[j]) * int(a[b].qs[j]);
      acc[l] = fma_f32(d, float(s), acc[l]);
    }
  }
  return hsum8(acc);
}

// Q5_0 / Q5_1: the 5-bit value of element j (low nibbles, then high; bit j
// of qh is element j's fifth bit).
inline void unpack_q5(const std::uint8_t* qs, const std::uint8_t* qh8, int out[32]) {
  std::uint32_t qh;
  std::memcpy(&qh, qh8, 4);
  for (int j = 0; j < 16; ++j) {
    out[j] = (qs[j] & 0x0f) | int(((qh >> j) & 1) << 4);
    out[j + 16] = (qs[j] >> 4) | int(((qh >> (j + 16)) & 1) << 4);
  }
}

float dot_q5_0_q8_0(std::int64_t n, const void* vw, const void* va) {
  const auto* w = static_cast<const block_q5_0*>(vw);
  const auto* a = static_cast<const block_q8_0*>(va);
  float acc[8] = {};
  for (std::int64_t b = 0; b < n / qk; ++b) {
    const float d = fp16_to_fp32(w[b].d) * fp16_to_fp32(a[b].d);
    int q[32];
    unpack_q5(w[b].qs, w[b].qh, q);
    for (int l = 0; l < 8; ++l) {
      int s = 0;
      for (int j = 4 * l; j < 4 * l + 4; ++j) s += (q[j] - 16) * a[b].qs[j];
      acc[l] = fma_f32(d, float(s), acc[l]);
    }
  }
  return hsum8(acc);
}

float dot_q5_1_q8_1(std::int64_t n, const void* vw, const void* va) {
  const auto* w = static_cast<const block_q5_1*>(vw);
  const auto* a = static_cast<const block_q8_1*>(va);
  float acc[8] = {};
  float summs = 0;
  for (std::int64_t b = 0; b < n / qk; ++b) {
    summs += fp16_to_fp32(w[b].m) * fp16_to_fp32(a[b].s);  // exact product (half x half)
    const float d = fp16_to_fp32(w[b].d) * fp16_to_fp32(a[b].d);
    int q[32];
    unpack_q5(w[b].qs, w[b].qh, q);
    for (int l = 0; l < 8; ++l) {
      int s = 0;
      for (int j = 4 * l; j < 4 * l + 4; ++j) s += q[j] * a[b].qs[j];
      acc[l] = fma_f32(d, float(s), acc[l]);
    }
  }
  return hsum8(acc) + summs;
}

// Q4_K x Q8_K (ggml AVX2): d = d_a * d_w, dmin = -d_a * dmin_w; lane k of
// block b sums sc[2j] * Σ q_lo * a + sc[2j+1] * Σ q_hi * a over the four
// 64-element chunks j (bytes 4k..4k+3 of each chunk); the mins term is
// Σ min[i] * (bsums[2i] + bsums[2i+1]) in 4 lanes of two sub-blocks each,
// FMA'd with dmin and reduced (m0+m2)+(m1+m3) at the end. The lane sums of
// a block stay below 2^24 (exact as floats). Real FMA (std::fma) as the
// products d * lane are not exact.
float dot_q4_k_q8_k(std::int64_t n, const void* vw, const void* va) {
  const auto* w = static_cast<const block_q4_k*>(vw);
  const auto* a = static_cast<const block_q8_k*>(va);
  float acc[8] = {}, accm[4] = {};
  for (std::int64_t b = 0; b < n / qk_k; ++b) {
    const float d = a[b].d * fp16_to_fp32(w[b].d);
    const float dmin = -a[b].d * fp16_to_fp32(w[b].dmin);
    int sc[8], mn[8];
    for (int j = 0; j < 8; ++j) scale_min_k4(j, w[b].scales, sc[j], mn[j]);
    for (int k = 0; k < 4; ++k) {
      const int q0 = a[b].bsums[4 * k] + a[b].bsums[4 * k + 1], q1 = a[b].bsums[4 * k + 2] + a[b].bsums[4 * k + 3];
      accm[k] = std::fma(dmin, float(mn[2 * k] * q0 + mn[2 * k + 1] * q1), accm[k]);
    }
    int sumi[8] = {};
    for (int j = 0; j < 4; ++j) {
      const std::uint8_t* q4 = w[b].qs + 32 * j;
      const std::int8_t* q8 = a[b].qs + 64 * j;
      for (int k = 0; k < 8; ++k) {
        int lo = 0, hi = 0;
        for (int e = 4 * k; e < 4 * k + 4; ++e) {
          lo += (q4[e] & 0x0f) * q8[e];
          hi += (q4[e] >> 4) * q8[32 + e];
        }
        sumi[k] += sc[2 * j] * lo + sc[2 * j + 1] * hi;
      }
    }
    for (int k = 0; k < 8; ++k) acc[k] = std::fma(d, float(sumi[k]), acc[k]);
  }
  return hsum8(acc) + ((accm[0] + accm[2]) + (accm[1] + accm[3]));
}

// The unsigned 6-bit values (0..63) of the 32 elements 128h + 32kk + e of a
// Q6_K block (ggml AVX2's q4_0..q4_3 of half h).
inline void unpack_q6(const block_q6_k& w, int h, int kk, int out[32]) {
  const std::uint8_t* ql = w.ql + 64 * h + (kk & 1) * 32;
  const std::uint8_t* qh = w.qh + 32 * h;
  const int lsh = (kk >> 1) * 4, hsh = 2 * kk;
  for (int e = 0; e < 32; ++e) out[e] = ((ql[e] >> lsh) & 0x0f) | (((qh[e] >> hsh) & 3) << 4);
}

// Q6_K x Q8_K (ggml AVX2): the -32 offset is taken out once per block as
// 32 * (bsums[2k] * sc[2k] + bsums[2k+1] * sc[2k+1]) from lane k; lane k of
// the products sums sc * Σ q * a over bytes 4k..4k+3 of each 32-element run
// (run m = 4h + kk uses sc[2m] for lanes 0-3 and sc[2m+1] for lanes 4-7).
float dot_q6_k_q8_k(std::int64_t n, const void* vw, const void* va) {
  const auto* w = static_cast<const block_q6_k*>(vw);
  const auto* a = static_cast<const block_q8_k*>(va);
  float acc[8] = {};
  for (std::int64_t b = 0; b < n / qk_k; ++b) {
    const float d = a[b].d * fp16_to_fp32(w[b].d);
    const std::int8_t* sc = w[b].scales;
    int sumi[8] = {};
    for (int h = 0; h < 2; ++h) {
      for (int kk = 0; kk < 4; ++kk) {
        int q[32];
        unpack_q6(w[b], h, kk, q);
        const std::int8_t* q8 = a[b].qs + 128 * h + 32 * kk;
        const int m = 4 * h + kk;
        for (int k = 0; k < 8; ++k) {
          int s = 0;
          for (int e = 4 * k; e < 4 * k + 4; ++e) s += q[e] * q8[e];
          sumi[k] += int(sc[2 * m + (k >= 4)]) * s;
        }
      }
    }
    for (int k = 0; k < 8; ++k) {
      const int sub = 32 * (a[b].bsums[2 * k] * sc[2 * k] + a[b].bsums[2 * k + 1] * sc[2 * k + 1]);
      acc[k] = std::fma(d, float(sumi[k] - sub), acc[k]);
    }
  }
  return hsum8(acc);
}

// Q2_K x Q8_K (ggml AVX2): lane k first takes fma(dmin, min[2k]*bsums[2k] +
// min[2k+1]*bsums[2k+1]) (the 4-bit mins of the 16 sub-blocks), then
// fma(d, Σ over runs of scale * Σ q2 * a) as Q6_K's lanes (no offset).
float dot_q2_k_q8_k(std::int64_t n, const void* vw, const void* va) {
  const auto* w = static_cast<const block_q2_k*>(vw);
  const auto* a = static_cast<const block_q8_k*>(va);
  float acc[8] = {};
  for (std::int64_t b = 0; b < n / qk_k; ++b) {
    const float d = a[b].d * fp16_to_fp32(w[b].d);
    const float dmin = -a[b].d * fp16_to_fp32(w[b].dmin);
    const std::uint8_t* sc = w[b].scales;
    for (int k = 0; k < 8; ++k) {
      acc[k] = std::fma(dmin, float((sc[2 * k] >> 4) * a[b].bsums[2 * k] + (sc[2 * k + 1] >> 4) * a[b].bsums[2 * k + 1]), acc[k]);
    }
    int sumi[8] = {};
    for (int j = 0; j < 2; ++j) {
      const std::uint8_t* q2 = w[b].qs + 32 * j;
      for (int s = 0; s < 4; ++s) {
        const std::int8_t* q8 = a[b].qs + 128 * j + 32 * s;
        for (int k = 0; k < 8; ++k) {
          int sum = 0;
          for (int e = 4 * k; e < 4 * k + 4; ++e) sum += ((q2[e] >> (2 * s)) & 3) * q8[e];
          sumi[k] += (sc[8 * j + 2 * s + (k >= 4)] & 0xF) * sum;
        }
      }
    }
    for (int k = 0; k < 8; ++k) acc[k] = std::fma(d, float(sumi[k]), acc[k]);
  }
  return hsum8(acc);
}

// Q3_K x Q8_K (ggml AVX2): value = low 2 bits - 4 when the hmask bit is
// clear, scale = 6-bit scale - 32; lanes as Q2_K's products.
float dot_q3_k_q8_k(std::int64_t n, const void* vw, const void* va) {
  constexpr std::uint32_t kmask1 = 0x03030303, kmask2 = 0x0f0f0f0f;
  const auto* w = static_cast<const block_q3_k*>(vw);
  const auto* a = static_cast<const block_q8_k*>(va);
  float acc[8] = {};
  for (std::int64_t b = 0; b < n / qk_k; ++b) {
    const float d = a[b].d * fp16_to_fp32(w[b].d);
    std::uint32_t aux[4];
    std::memcpy(aux, w[b].scales, 12);
    const std::uint32_t tmp = aux[2];
    aux[2] = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4);
    aux[3] = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4);
    aux[0] = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4);
    aux[1] = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4);
    std::int8_t sc[16];
    std::memcpy(sc, aux, 16);
    int sumi[8] = {};
    for (int j = 0; j < 2; ++j) {
      const std::uint8_t* q3 = w[b].qs + 32 * j;
      for (int s = 0; s < 4; ++s) {
        const int bit = 4 * j + s;
        const std::int8_t* q8 = a[b].qs + 128 * j + 32 * s;
        for (int k = 0; k < 8; ++k) {
          int sum = 0;
          for (int e = 4 * k; e < 4 * k + 4; ++e) {
            sum += (((q3[e] >> (2 * s)) & 3) - (((w[b].hmask[e] >> bit) & 1) ? 0 : 4)) * q8[e];
          }
          sumi[k] += (sc[8 * j + 2 * s + (k >= 4)] - 32) * sum;
        }
      }
    }
    for (int k = 0; k < 8; ++k) acc[k] = std::fma(d, float(sumi[k]), acc[k]);
  }
  return hsum8(acc);
}

// Q5_K x Q8_K (ggml AVX2): Q4_K's lanes with a fifth bit from qh; the mins
// term is one integer per block, summs = fma(dmin, that, summs) (ggml's
// `summs += dmin * int` as GCC contracts it with -ffp-contract=fast).
float dot_q5_k_q8_k(std::int64_t n, const void* vw, const void* va) {
  const auto* w = static_cast<const block_q5_k*>(vw);
  const auto* a = static_cast<const block_q8_k*>(va);
  float acc[8] = {}, summs = 0;
  for (std::int64_t b = 0; b < n / qk_k; ++b) {
    const float d = a[b].d * fp16_to_fp32(w[b].d);
    const float dmin = -a[b].d * fp16_to_fp32(w[b].dmin);
    int sc[8], mn[8];
    for (int j = 0; j < 8; ++j) scale_min_k4(j, w[b].scales, sc[j], mn[j]);
    int msum = 0;
    for (int j = 0; j < 8; ++j) msum += mn[j] * (a[b].bsums[2 * j] + a[b].bsums[2 * j + 1]);
    summs = std::fma(dmin, float(msum), summs);
    int sumi[8] = {};
    for (int j = 0; j < 4; ++j) {
      const std::uint8_t* q5 = w[b].qs + 32 * j;
      const std::int8_t* q8 = a[b].qs + 64 * j;
      for (int k = 0; k < 8; ++k) {
        int lo = 0, hi = 0;
        for (int e = 4 * k; e < 4 * k + 4; ++e) {
          const int h = w[b].qh[e];
          lo += ((q5[e] & 0x0f) | (((h >> (2 * j)) & 1) << 4)) * q8[e];
          hi += ((q5[e] >> 4) | (((h >> (2 * j + 1)) & 1) << 4)) * q8[32 + e];
        }
        sumi[k] += sc[2 * j] * lo + sc[2 * j + 1] * hi;
      }
    }
    for (int k = 0; k < 8; ++k) acc[k] = std::fma(d, float(sumi[k]), acc[k]);
  }
  return hsum8(acc) + summs;
}

// Half-precision dot: 16 float lanes, reduced pairwise; sum in double at the
// end as ggml does (ggml_float).
template <float (*cvt)(std::uint16_t)>
float dot_half(std::int64_t n, const void* vw, const void* va) {
  const auto* w = static_cast<const std::uint8_t*>(vw);
  const auto* a = static_cast<const std::uint8_t*>(va);
  float acc[16] = {};
  std::int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    for (int l = 0; l < 16; ++l) {
      std::uint16_t x, y;
      std::memcpy(&x, w + 2 * (i + l), 2);
      std::memcpy(&y, a + 2 * (i + l), 2);
      acc[l] += cvt(x) * cvt(y);  // exact product: same as fma
    }
  }
  double sum = 0;
  for (int l = 0; l < 16; ++l) sum += acc[l];
  for (; i < n; ++i) {
    std::uint16_t x, y;
    std::memcpy(&x, w + 2 * i, 2);
    std::memcpy(&y, a + 2 * i, 2);
    sum += double(cvt(x)) * double(cvt(y));
  }
  return float(sum);
}

float dot_f32_f32(std::int64_t n, const void* vw, const void* va) {
  const auto* w = static_cast<const float*>(vw);
  const auto* a = static_cast<const float*>(va);
  double sum = 0;
  for (std::int64_t i = 0; i < n; ++i) sum += double(w[i]) * double(a[i]);
  return float(sum);
}

template <float (*dot)(std::int64_t, const void*, const void*)>
void rows_of(std::int64_t n, const std::byte* w, std::size_t row_bytes, int nr, const void* a, float* y) {
  for (int i = 0; i < nr; ++i) y[i] = dot(n, w + std::size_t(i) * row_bytes, a);
}

// ---- attention numerics in ggml-cpu's order (AVX-512 build, model-facts §4) ----
// Products of two halves are exact in float, so every "fma" is a plain add.

// _mm512_reduce_add_ps as GCC expands it.
float reduce16(const float v[16]) {
  float a[8], b[4];
  for (int l = 0; l < 8; ++l) a[l] = v[l + 8] + v[l];
  for (int l = 0; l < 4; ++l) b[l] = a[l + 4] + a[l];
  return (b[0] + b[2]) + (b[1] + b[3]);
}

// tinyBLAS (one 16-lane accumulator) for batches, ggml_vec_dot_f16 (four
// 16-lane accumulators reduced pairwise) for single tokens.
float attn_dot_f16(bool batched, int n, const std::uint16_t* x, const std::uint16_t* y) {
  if (batched) {
    float acc[16] = {};
    for (int i = 0; i < n; i += 16) {
      for (int l = 0; l < 16; ++l) acc[l] += fp16_to_fp32(x[i + l]) * fp16_to_fp32(y[i + l]);
    }
    return reduce16(acc);
  }
  float acc[4][16] = {};
  for (int i = 0; i < n; i += 64) {
    for (int j = 0; j < 4; ++j) {
      for (int l = 0; l < 16; ++l) acc[j][l] += fp16_to_fp32(x[i + 16 * j + l]) * fp16_to_fp32(y[i + 16 * j + l]);
    }
  }
  float r[16];
  for (int l = 0; l < 16; ++l) r[l] = (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l]);
  return float(double(reduce16(r)));
}

// out[d] = Σ_j p[j] * V[j][d] for j < n_kv with the lane assignment of the
// same two paths (lane = j mod 16 or 64; llama.cpp's padded, masked KV
// positions only add zeros).
void attn_weighted_sum(bool batched, int n_kv, int hd, const std::uint16_t* v, std::size_t stride,
                       const std::uint16_t* p, float* out, float* acc) {
  const int lanes = batched ? 16 : 64;
  std::fill(acc, acc + std::size_t(hd) * std::size_t(lanes), 0.0f);
  for (int j = 0; j < n_kv; ++j) {
    const float pj = fp16_to_fp32(p[j]);
    const std::uint16_t* vj = v + std::size_t(j) * stride;
    const int lane = j % lanes;
    for (int d = 0; d < hd; ++d) acc[std::size_t(d * lanes + lane)] += fp16_to_fp32(vj[d]) * pj;
  }
  for (int d = 0; d < hd; ++d) {
    const float* a = acc + std::size_t(d * lanes);
    if (batched) {
      out[d] = reduce16(a);
    } else {
      float r[16];
      for (int l = 0; l < 16; ++l) r[l] = (a[l] + a[32 + l]) + (a[16 + l] + a[48 + l]);
      out[d] = reduce16(r);
    }
  }
}

float attn_scores(bool batched, int n_kv, int hd, const std::uint16_t* k, std::size_t stride, const std::uint16_t* q,
                  float scale, float* out) {
  float mx = -INFINITY;
  for (int j = 0; j < n_kv; ++j) {
    out[j] = attn_dot_f16(batched, hd, k + std::size_t(j) * stride, q) * scale;
    mx = std::max(mx, out[j]);
  }
  return mx;
}

// ---- elementwise: exp, SiLU, softmax, fp16 ----

// ggml_v_expf (AVX-512 version, after ARM's optimized routine) one lane at a
// time: max error ~1.5 ulp; ggml uses it for softmax and SiLU.
float vexp(float x) {
  const float r = 0x1.8p23f;
  const float z = std::fma(x, 0x1.715476p+0f, r);
  const float n = z - r;
  const float b = std::fma(-n, 0x1.7f7d1cp-20f, std::fma(-n, 0x1.62e4p-1f, x));
  if (std::isnan(n)) return n;
  if (std::fabs(n) > 192.0f) return n <= 0.0f ? 0.0f : INFINITY;  // flushes to 0 / inf
  const float u = b * b;
  const float j = std::fma(std::fma(std::fma(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u, std::fma(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
                           u, std::fma(0x1.ffffecp-1f, b, 1.0f));
  return std::ldexp(j, int(n));
}

void silu_mul(float* gate, const float* up, int n) {
  for (int i = 0; i < n; ++i) gate[i] = gate[i] / (1.0f + vexp(-gate[i])) * up[i];
}

double softmax_exp(float* x, int n, float mx) {
  double sum = 0;
  for (int i = 0; i < n; i += 16) {
    float v[16] = {};
    for (int l = 0; l < 16 && i + l < n; ++l) {
      v[l] = vexp(x[i + l] - mx);
      x[i + l] = v[l];
    }
    sum += double(reduce16(v));
  }
  return sum;
}

void to_fp16(const float* x, std::uint16_t* y, int n) {
  for (int i = 0; i < n; ++i) y[i] = fp32_to_fp16(x[i]);
}

constexpr kernel_table portable_table{
    "portable",      dot_q4_0_q8_0,     dot_q4_1_q8_1,    dot_q8_0_q8_0, dot_half<fp16_to_fp32>,
    dot_half<bf16_to_fp32>, dot_f32_f32, quantize_row_q8_0, quantize_row_q8_1,
    rows_of<dot_q4_0_q8_0>, rows_of<dot_q4_1_q8_1>, rows_of<dot_q8_0_q8_0>,
    attn_dot_f16, attn_weighted_sum, attn_scores,
    silu_mul, softmax_exp, to_fp16,
    nullptr, nullptr, nullptr,  // no packed layout
    dot_q5_0_q8_0, dot_q5_1_q8_1, dot_q4_k_q8_k, dot_q6_k_q8_k, quantize_row_q8_k,
    rows_of<dot_q5_0_q8_0>, rows_of<dot_q5_1_q8_1>, rows_of<dot_q4_k_q8_k>, rows_of<dot_q6_k_q8_k>,
    dot_q2_k_q8_k, dot_q3_k_q8_k, dot_q5_k_q8_k,
    rows_of<dot_q2_k_q8_k>, rows_of<dot_q3_k_q8_k>, rows_of<dot_q5_k_q8_k>,
};

}  // namespace

const kernel_table& kernels_portable() { return portable_table; }

bool cpu_has_avx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

bool cpu_has_avx512_vnni() {
  __builtin_cpu_init();
  return cpu_has_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
}

const kernel_table& kernels_select() {
  // Each ISA table is verified against kernels_portable() in
  // tests/inference/quants_test (bit-identical results).
  const char* env = std::getenv("AIKID_KERNELS");
  const std::string_view want = env ? env : "";
  if (want == "portable") return portable_table;
  if (want != "avx2" && cpu_has_avx512_vnni()) return *kernels_avx512();
  if (cpu_has_avx2()) return *kernels_avx2();
  return portable_table;
}

// ---- activation conversion and mat-vec -------------------------------------------
ggml_type vec_dot_type(ggml_type t) {
  switch (t) {
    case ggml_type::q4_0: case ggml_type::q5_0: case ggml_type::q8_0: return ggml_type::q8_0;
    case ggml_type::q4_1: case ggml_type::q5_1: return ggml_type::q8_1;
    case ggml_type::q2_k: case ggml_type::q3_k: case ggml_type::q4_k: case ggml_type::q5_k: case ggml_type::q6_k:
      return ggml_type::q8_k;
    case ggml_type::f16: return ggml_type::f16;
    case ggml_type::bf16: return ggml_type::bf16;
    default: return ggml_type::f32;
  }
}

void activation_quantize(const kernel_table& k, ggml_type wt, const float* x, std::int64_t n,
                         activation& out) {
  out.dot_type = vec_dot_type(wt);
  out.n = n;
  switch (out.dot_type) {
    case ggml_type::q8_0:
      out.data.resize(std::size_t(n / qk) * sizeof(block_q8_0));
      k.quantize_q8_0(x, reinterpret_cast<block_q8_0*>(out.data.data()), n);
      break;
    case ggml_type::q8_1:
      out.data.resize(std::size_t(n / qk) * sizeof(block_q8_1));
      k.quantize_q8_1(x, reinterpret_cast<block_q8_1*>(out.data.data()), n);
      break;
    case ggml_type::q8_k:  // block_q8_k holds a float: the vector's storage is aligned for it
      out.data.resize(std::size_t(n / qk_k) * sizeof(block_q8_k));
      k.quantize_q8_k(x, reinterpret_cast<block_q8_k*>(out.data.data()), n);
      break;
    case ggml_type::f16:
    case ggml_type::bf16: {
      out.data.resize(std::size_t(n) * 2);
      for (std::int64_t i = 0; i < n; ++i) {
        const std::uint16_t h = out.dot_type == ggml_type::f16 ? fp32_to_fp16(x[i]) : fp32_to_bf16(x[i]);
        std::memcpy(out.data.data() + 2 * i, &h, 2);
      }
      break;
    }
    default:
      out.data.resize(std::size_t(n) * 4);
      std::memcpy(out.data.data(), x, std::size_t(n) * 4);
      break;
  }
}

float row_dot(const kernel_table& k, ggml_type wt, std::int64_t n, const void* w,
              const activation& a) {
  const void* x = a.data.data();
  switch (wt) {
    case ggml_type::q4_0: return k.dot_q4_0_q8_0(n, w, x);
    case ggml_type::q4_1: return k.dot_q4_1_q8_1(n, w, x);
    case ggml_type::q8_0: return k.dot_q8_0_q8_0(n, w, x);
    case ggml_type::q5_0: return k.dot_q5_0_q8_0(n, w, x);
    case ggml_type::q5_1: return k.dot_q5_1_q8_1(n, w, x);
    case ggml_type::q4_k: return k.dot_q4_k_q8_k(n, w, x);
    case ggml_type::q6_k: return k.dot_q6_k_q8_k(n, w, x);
    case ggml_type::q2_k: return k.dot_q2_k_q8_k(n, w, x);
    case ggml_type::q3_k: return k.dot_q3_k_q8_k(n, w, x);
    case ggml_type::q5_k: return k.dot_q5_k_q8_k(n, w, x);
    case ggml_type::f16: return k.dot_f16_f16(n, w, x);
    case ggml_type::bf16: return k.dot_bf16_bf16(n, w, x);
    default: return k.dot_f32_f32(n, w, x);
  }
}

void matvec(const kernel_table& k, const weight_view& w, const activation& x, float* y,
            std::int64_t r0, std::int64_t r1) {
  matmul_rows(k, w, &x, 1, y, 0, r0, r1);
}

void matmul_rows(const kernel_table& k, const weight_view& w, const activation* x, int nt, float* out,
                 std::size_t ldo, std::int64_t r0, std::int64_t r1) {
  if (w.packed_by) {
    w.packed_by->matmul_packed(w, x, nt, out, ldo, r0, r1);
    return;
  }
  decltype(k.rows_q4_1_q8_1) rows = nullptr;
  switch (w.type) {
    case ggml_type::q4_0: rows = k.rows_q4_0_q8_0; break;
    case ggml_type::q4_1: rows = k.rows_q4_1_q8_1; break;
    case ggml_type::q8_0: rows = k.rows_q8_0_q8_0; break;
    case ggml_type::q5_0: rows = k.rows_q5_0_q8_0; break;
    case ggml_type::q5_1: rows = k.rows_q5_1_q8_1; break;
    case ggml_type::q4_k: rows = k.rows_q4_k_q8_k; break;
    case ggml_type::q6_k: rows = k.rows_q6_k_q8_k; break;
    case ggml_type::q2_k: rows = k.rows_q2_k_q8_k; break;
    case ggml_type::q3_k: rows = k.rows_q3_k_q8_k; break;
    case ggml_type::q5_k: rows = k.rows_q5_k_q8_k; break;
    default: break;
  }
  // a panel of rows small enough to stay in L2 while every token reads it
  const std::int64_t panel = std::max<std::int64_t>(4, std::int64_t(32768 / std::max<std::size_t>(w.row_bytes, 1)) & ~3);
  for (std::int64_t p0 = r0; p0 < r1; p0 += panel) {
    const std::int64_t p1 = std::min(r1, p0 + panel);
    for (int t = 0; t < nt; ++t) {
      float* y = out + std::size_t(t) * ldo;
      if (rows) {
        rows(w.n, w.row(p0), w.row_bytes, int(p1 - p0), x[t].data.data(), y + p0);
      } else {
        for (std::int64_t r = p0; r < p1; ++r) y[r] = row_dot(k, w.type, w.n, w.row(r), x[t]);
      }
    }
  }
}

void matvec(const kernel_table& k, const weight_view& w, const float* x, float* y,
            activation& scratch) {
  activation_quantize(k, w.type, x, w.n, scratch);
  matvec(k, w, scratch, y, 0, w.rows);
}

}  // namespace aikid::inference
