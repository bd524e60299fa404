// AVX-512 (F/BW/VL) + VNNI kernels (compiled with -mavx512f -mavx512bw
// -mavx512vl -mavx512vnni -mf16c -mfma; chosen at run time by
// kernels_select() when cpu_has_avx512_vnni()).
//
// Bit-identical to kernels_portable.cpp, hence to llama.cpp's x86 order:
//  - quantised dots: one 32-block -> 8 int32 lanes of 4 consecutive products
//    (vpdpbusd gives exactly the integer sums maddubs+madd give), each lane
//    accumulates fma(d_w*d_a, lane, acc) over blocks, hsum at the end. Four
//    rows are computed together: four independent FMA chains and one load of
//    each activation block for four rows (the single-row dot is latency-bound).
//    Q5_0/Q5_1 and the K-quants use the AVX2 kernels (kernels_avx2.cpp).
//  - attention: the portable lane layout, vectorised over the head dimension
//    (products of two halves are exact, so fma == mul + add).
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "actors/inference/kernels.hpp"
#include "actors/inference/kernels_avx512_inline.hpp"

namespace aikid::inference {
namespace {

// Prefetch distance for the weight rows, in bytes (a few blocks ahead).
constexpr std::size_t prefetch_ahead = 2048;

// 16 bytes of nibbles -> 32 bytes: low nibbles first, then high nibbles.
inline __m256i nibbles_32(const std::uint8_t* p) {
  const __m128i tmp = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m256i bytes = _mm256_inserti128_si256(_mm256_castsi128_si256(tmp), _mm_srli_epi16(tmp, 4), 1);
  return _mm256_and_si256(_mm256_set1_epi8(0x0f), bytes);
}

// signed x signed bytes -> 8 int32 sums of 4 -> float (|x|, sign(y, x) trick)
inline __m256 dot_i8(__m256i x, __m256i y) {
  const __m256i ax = _mm256_sign_epi8(x, x);
  const __m256i sy = _mm256_sign_epi8(y, x);
  return _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(_mm256_setzero_si256(), ax, sy));
}
// unsigned x signed bytes
inline __m256 dot_u8(__m256i ux, __m256i y) {
  return _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(_mm256_setzero_si256(), ux, y));
}

// ---- quantised rows, R at a time ----
template <int R>
void rows_q4_1(std::int64_t n, const std::byte* w, std::size_t rb, const void* va, float* y) {
  const auto* a = static_cast<const block_q8_1*>(va);
  const block_q4_1* x[R];
  for (int r = 0; r < R; ++r) x[r] = reinterpret_cast<const block_q4_1*>(w + std::size_t(r) * rb);
  __m256 acc[R];
  float summs[R];
  for (int r = 0; r < R; ++r) { acc[r] = _mm256_setzero_ps(); summs[r] = 0; }
  for (std::int64_t ib = 0; ib < n / qk; ++ib) {
    const float d1 = h2f(a[ib].d), s1 = h2f(a[ib].s);
    const __m256i qy = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[ib].qs));
    for (int r = 0; r < R; ++r) {
      const block_q4_1& b = x[r][ib];
      _mm_prefetch(reinterpret_cast<const char*>(&b) + prefetch_ahead, _MM_HINT_T0);
      summs[r] += h2f(b.m) * s1;
      const __m256 f = dot_u8(nibbles_32(b.qs), qy);
      acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(h2f(b.d) * d1), f, acc[r]);
    }
  }
  for (int r = 0; r < R; ++r) y[r] = hsum_float_8(acc[r]) + summs[r];
}

template <int R>
void rows_q4_0(std::int64_t n, const std::byte* w, std::size_t rb, const void* va, float* y) {
  const auto* a = static_cast<const block_q8_0*>(va);
  const block_q4_0* x[R];
  for (int r = 0; r < R; ++r) x[r] = reinterpret_cast<const block_q4_0*>(w + std::size_t(r) * rb);
  __m256 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
  const __m256i eight = _mm256_set1_epi8(8);
  for (std::int64_t ib = 0; ib < n / qk; ++ib) {
    const float d1 = h2f(a[ib].d);
    const __m256i qy = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[ib].qs));
    for (int r = 0; r < R; ++r) {
      const block_q4_0& b = x[r][ib];
      const __m256 f = dot_i8(_mm256_sub_epi8(nibbles_32(b.qs), eight), qy);
      acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(h2f(b.d) * d1), f, acc[r]);
    }
  }
  for (int r = 0; r < R; ++r) y[r] = hsum_float_8(acc[r]);
}

template <int R>
void rows_q8_0(std::int64_t n, const std::byte* w, std::size_t rb, const void* va, float* y) {
  const auto* a = static_cast<const block_q8_0*>(va);
  const block_q8_0* x[R];
  for (int r = 0; r < R; ++r) x[r] = reinterpret_cast<const block_q8_0*>(w + std::size_t(r) * rb);
  __m256 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
  for (std::int64_t ib = 0; ib < n / qk; ++ib) {
    const float d1 = h2f(a[ib].d);
    const __m256i qy = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[ib].qs));
    for (int r = 0; r < R; ++r) {
      const block_q8_0& b = x[r][ib];
      _mm_prefetch(reinterpret_cast<const char*>(&b) + prefetch_ahead, _MM_HINT_T0);
      const __m256 f = dot_i8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs)), qy);
      acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(h2f(b.d) * d1), f, acc[r]);
    }
  }
  for (int r = 0; r < R; ++r) y[r] = hsum_float_8(acc[r]);
}

template <void (*K4)(std::int64_t, const std::byte*, std::size_t, const void*, float*),
          void (*K1)(std::int64_t, const std::byte*, std::size_t, const void*, float*)>
void rows_of(std::int64_t n, const std::byte* w, std::size_t rb, int nr, const void* a, float* y) {
  int i = 0;
  for (; i + 4 <= nr; i += 4) K4(n, w + std::size_t(i) * rb, rb, a, y + i);
  for (; i < nr; ++i) K1(n, w + std::size_t(i) * rb, rb, a, y + i);
}

template <void (*K1)(std::int64_t, const std::byte*, std::size_t, const void*, float*)>
float dot_of(std::int64_t n, const void* w, const void* a) {
  float y;
  K1(n, static_cast<const std::byte*>(w), 0, a, &y);
  return y;
}

// ---- attention ----
inline __m512 load_h16(const std::uint16_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

// _mm512_reduce_add_ps as GCC expands it (same as the portable reduce16).
inline float reduce16(__m512 v) {
  alignas(64) float t[16];
  _mm512_store_ps(t, v);
  float a[8], b[4];
  for (int l = 0; l < 8; ++l) a[l] = t[l + 8] + t[l];
  for (int l = 0; l < 4; ++l) b[l] = a[l + 4] + a[l];
  return (b[0] + b[2]) + (b[1] + b[3]);
}

float attn_dot_f16(bool batched, int n, const std::uint16_t* x, const std::uint16_t* y) {
  if (batched) {
    __m512 acc = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) acc = _mm512_fmadd_ps(load_h16(x + i), load_h16(y + i), acc);
    return reduce16(acc);
  }
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  for (int i = 0; i < n; i += 64) {
    a0 = _mm512_fmadd_ps(load_h16(x + i), load_h16(y + i), a0);
    a1 = _mm512_fmadd_ps(load_h16(x + i + 16), load_h16(y + i + 16), a1);
    a2 = _mm512_fmadd_ps(load_h16(x + i + 32), load_h16(y + i + 32), a2);
    a3 = _mm512_fmadd_ps(load_h16(x + i + 48), load_h16(y + i + 48), a3);
  }
  return reduce16(_mm512_add_ps(_mm512_add_ps(a0, a2), _mm512_add_ps(a1, a3)));
}

// acc layout here is [lane][d] (the portable one is [d][lane]). Each lane's
// sum runs over positions j = lane, lane + lanes, ... in increasing order as
// in the portable kernel; the loops are turned so that 16 lanes x 16 dims
// stay in registers while V streams past (one pass per (dims, lane group)),
// and the lanes are stored once at the end (a lane no position reaches
// stays 0, as the portable one reads it).
void attn_weighted_sum(bool batched, int n_kv, int hd, const std::uint16_t* v, std::size_t stride,
                       const std::uint16_t* p, float* out, float* acc) {
  if (hd % 16 != 0) {
    kernels_portable().attn_weighted_sum(batched, n_kv, hd, v, stride, p, out, acc);
    return;
  }
  const int lanes = batched ? 16 : 64;
  for (int d = 0; d < hd; d += 16) {
    for (int lg = 0; lg < lanes; lg += 16) {
      __m512 a[16];
      for (int l = 0; l < 16; ++l) a[l] = _mm512_setzero_ps();
      int j0 = lg;
      for (; j0 + 16 <= n_kv; j0 += lanes) {
        for (int l = 0; l < 16; ++l) {
          const int j = j0 + l;
          a[l] = _mm512_fmadd_ps(load_h16(v + std::size_t(j) * stride + std::size_t(d)), _mm512_set1_ps(h2f(p[j])), a[l]);
        }
      }
      for (int l = 0; l < 16 && j0 + l < n_kv; ++l) {
        const int j = j0 + l;
        a[l] = _mm512_fmadd_ps(load_h16(v + std::size_t(j) * stride + std::size_t(d)), _mm512_set1_ps(h2f(p[j])), a[l]);
      }
      for (int l = 0; l < 16; ++l) _mm512_storeu_ps(acc + std::size_t(lg + l) * std::size_t(hd) + std::size_t(d), a[l]);
    }
  }
  for (int d = 0; d < hd; d += 16) {
    auto L = [&](int l) { return _mm512_loadu_ps(acc + std::size_t(l) * std::size_t(hd) + std::size_t(d)); };
    __m512 r[16];
    for (int l = 0; l < 16; ++l) {
      r[l] = batched ? L(l) : _mm512_add_ps(_mm512_add_ps(L(l), L(32 + l)), _mm512_add_ps(L(16 + l), L(48 + l)));
    }
    __m512 a[8], b[4];
    for (int l = 0; l < 8; ++l) a[l] = _mm512_add_ps(r[l + 8], r[l]);
    for (int l = 0; l < 4; ++l) b[l] = _mm512_add_ps(a[l + 4], a[l]);
    _mm512_storeu_ps(out + d, _mm512_add_ps(_mm512_add_ps(b[0], b[2]), _mm512_add_ps(b[1], b[3])));
  }
}

// Scores of 16 positions at a time: each position's 16 lane partial sums
// (as attn_dot_f16 forms them) are reduced by the tree of reduce16 —
// fold 8, fold 4, then (b0+b2)+(b1+b3) — applied to 16 positions at once by
// shuffling pairs of vectors; lane i then holds position reduce_order[i]
// (its own inverse), which one permute puts back in order.
inline __m512 reduce16_x16(__m512 v[16]) {
  __m512 w[8], x[4], y[2];
  for (int p = 0; p < 8; ++p) w[p] = _mm512_add_ps(_mm512_shuffle_f32x4(v[p], v[p + 8], 0x44), _mm512_shuffle_f32x4(v[p], v[p + 8], 0xEE));
  for (int p = 0; p < 4; ++p) x[p] = _mm512_add_ps(_mm512_shuffle_f32x4(w[p], w[p + 4], 0x88), _mm512_shuffle_f32x4(w[p], w[p + 4], 0xDD));
  for (int p = 0; p < 2; ++p) y[p] = _mm512_add_ps(_mm512_shuffle_ps(x[p], x[p + 2], 0x44), _mm512_shuffle_ps(x[p], x[p + 2], 0xEE));
  const __m512 z = _mm512_add_ps(_mm512_shuffle_ps(y[0], y[1], 0x88), _mm512_shuffle_ps(y[0], y[1], 0xDD));
  return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 2, 1, 3, 8, 10, 9, 11, 4, 6, 5, 7, 12, 14, 13, 15), z);
}

float attn_scores(bool batched, int n_kv, int hd, const std::uint16_t* k, std::size_t stride, const std::uint16_t* q,
                  float scale, float* out) {
  if (hd % 64 != 0 || hd > 256) return kernels_portable().attn_scores(batched, n_kv, hd, k, stride, q, scale, out);
  __m512 qv[16];
  for (int i = 0; i < hd / 16; ++i) qv[i] = load_h16(q + 16 * i);
  __m512 mx = _mm512_set1_ps(-INFINITY);
  const __m512 vs = _mm512_set1_ps(scale);
  for (int j0 = 0; j0 < n_kv; j0 += 16) {
    const int cnt = std::min(16, n_kv - j0);
    __m512 v[16];
    for (int p = 0; p < 16; ++p) {
      if (p >= cnt) {
        v[p] = _mm512_setzero_ps();
        continue;
      }
      const std::uint16_t* kj = k + std::size_t(j0 + p) * stride;
      if (batched) {  // one 16-lane accumulator along the row
        __m512 acc = _mm512_setzero_ps();
        for (int i = 0; i < hd; i += 16) acc = _mm512_fmadd_ps(load_h16(kj + i), qv[i / 16], acc);
        v[p] = acc;
      } else {  // four, then (a0+a2)+(a1+a3)
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int i = 0; i < hd; i += 64) {
          a0 = _mm512_fmadd_ps(load_h16(kj + i), qv[i / 16], a0);
          a1 = _mm512_fmadd_ps(load_h16(kj + i + 16), qv[i / 16 + 1], a1);
          a2 = _mm512_fmadd_ps(load_h16(kj + i + 32), qv[i / 16 + 2], a2);
          a3 = _mm512_fmadd_ps(load_h16(kj + i + 48), qv[i / 16 + 3], a3);
        }
        v[p] = _mm512_add_ps(_mm512_add_ps(a0, a2), _mm512_add_ps(a1, a3));
      }
    }
    const __mmask16 m = tail_mask(cnt);
    const __m512 s = _mm512_mul_ps(reduce16_x16(v), vs);
    _mm512_mask_storeu_ps(out + j0, m, s);
    mx = _mm512_mask_max_ps(mx, m, s, mx);
  }
  return _mm512_reduce_max_ps(mx);
}

// ---- elementwise ----
// ggml_v_expf, AVX-512 (the portable vexp lane by lane; scalef == ldexp).
inline __m512 v_expf(__m512 x) {
  const __m512 r = _mm512_set1_ps(0x1.8p23f);
  const __m512 z = _mm512_fmadd_ps(x, _mm512_set1_ps(0x1.715476p+0f), r);
  const __m512 n = _mm512_sub_ps(z, r);
  const __m512 b = _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.7f7d1cp-20f), _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.62e4p-1f), x));
  const __mmask16 d = _mm512_cmp_ps_mask(_mm512_abs_ps(n), _mm512_set1_ps(192), _CMP_GT_OQ);
  const __m512 u = _mm512_mul_ps(b, b);
  const __m512 j = _mm512_fmadd_ps(
      _mm512_fmadd_ps(_mm512_fmadd_ps(_mm512_set1_ps(0x1.0e4020p-7f), b, _mm512_set1_ps(0x1.573e2ep-5f)), u,
                      _mm512_fmadd_ps(_mm512_set1_ps(0x1.555e66p-3f), b, _mm512_set1_ps(0x1.fffdb6p-2f))),
      u, _mm512_fmadd_ps(_mm512_set1_ps(0x1.ffffecp-1f), b, _mm512_set1_ps(1.0f)));
  const __m512 res = _mm512_scalef_ps(j, n);
  if (_mm512_kortestz(d, d)) return res;
  const __m512 alt = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(n, _mm512_setzero_ps(), _CMP_LE_OQ),
                                          _mm512_set1_ps(INFINITY), _mm512_setzero_ps());
  return _mm512_mask_blend_ps(d, res, alt);
}

void silu_mul(float* gate, const float* up, int n) {
  for (int i = 0; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    const __m512 g = _mm512_maskz_loadu_ps(m, gate + i);
    const __m512 e = v_expf(_mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(g), _mm512_set1_epi32(INT32_MIN))));  // -g
    const __m512 s = _mm512_div_ps(g, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
    _mm512_mask_storeu_ps(gate + i, m, _mm512_mul_ps(s, _mm512_maskz_loadu_ps(m, up + i)));
  }
}

double softmax_exp(float* x, int n, float mx) {
  double sum = 0;
  for (int i = 0; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    const __m512 v = _mm512_maskz_mov_ps(m, v_expf(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), _mm512_set1_ps(mx))));
    _mm512_mask_storeu_ps(x + i, m, v);
    sum += double(reduce16(v));
  }
  return sum;
}

void to_fp16(const float* x, std::uint16_t* y, int n) {
  for (int i = 0; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    const __m256i h = _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm256_mask_storeu_epi16(y + i, m, h);
  }
}

// ---- activation quantisers (the portable ones lane by lane: max is exact,
// x*id rounds to nearest even as nearbyint does, |q| <= 127) ----
template <bool Sum>
inline void quantize_block(const float* x, std::uint16_t& d16, std::int8_t* qs, std::uint16_t* s16) {
  const __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
  const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
  const float d = amax / 127.f;
  const float id = amax != 0.0f ? 127.f / amax : 0.0f;
  d16 = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
  const __m512 vid = _mm512_set1_ps(id);
  const __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, vid)), q1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, vid));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(qs), _mm512_cvtepi32_epi8(q0));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(qs + 16), _mm512_cvtepi32_epi8(q1));
  if constexpr (Sum) *s16 = _cvtss_sh(d * float(_mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1))), _MM_FROUND_TO_NEAREST_INT);
}

void quantize_q8_0(const float* x, block_q8_0* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n / qk; ++i) quantize_block<false>(x + i * qk, y[i].d, y[i].qs, nullptr);
}

void quantize_q8_1(const float* x, block_q8_1* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n / qk; ++i) quantize_block<true>(x + i * qk, y[i].d, y[i].qs, &y[i].s);
}

}  // namespace

const kernel_table* kernels_avx512() {
  static const kernel_table table = [] {
    kernel_table t = kernels_portable();  // f16/bf16/f32 dots: the reference ones
    t.name = "avx512";
    t.dot_q4_0_q8_0 = dot_of<rows_q4_0<1>>;
    t.dot_q4_1_q8_1 = dot_of<rows_q4_1<1>>;
    t.dot_q8_0_q8_0 = dot_of<rows_q8_0<1>>;
    t.rows_q4_0_q8_0 = rows_of<rows_q4_0<4>, rows_q4_0<1>>;
    t.rows_q4_1_q8_1 = rows_of<rows_q4_1<4>, rows_q4_1<1>>;
    t.rows_q8_0_q8_0 = rows_of<rows_q8_0<4>, rows_q8_0<1>>;
    t.attn_dot_f16 = attn_dot_f16;
    t.attn_weighted_sum = attn_weighted_sum;
    t.attn_scores = attn_scores;
    t.quantize_q8_0 = quantize_q8_0;
    t.quantize_q8_1 = quantize_q8_1;
    t.silu_mul = silu_mul;
    t.softmax_exp = softmax_exp;
    t.to_fp16 = to_fp16;
    // Q5_0/Q5_1 and the K-quants: the AVX2 kernels (this CPU runs them;
    // they were written and verified on a machine without AVX-512)
    const kernel_table& a2 = *kernels_avx2();
    t.dot_q5_0_q8_0 = a2.dot_q5_0_q8_0;
    t.dot_q5_1_q8_1 = a2.dot_q5_1_q8_1;
    t.rows_q5_0_q8_0 = a2.rows_q5_0_q8_0;
    t.rows_q5_1_q8_1 = a2.rows_q5_1_q8_1;
    t.dot_q4_k_q8_k = a2.dot_q4_k_q8_k;
    t.dot_q6_k_q8_k = a2.dot_q6_k_q8_k;
    t.rows_q4_k_q8_k = a2.rows_q4_k_q8_k;
    t.rows_q6_k_q8_k = a2.rows_q6_k_q8_k;
    t.dot_q2_k_q8_k = a2.dot_q2_k_q8_k;
    t.dot_q3_k_q8_k = a2.dot_q3_k_q8_k;
    t.dot_q5_k_q8_k = a2.dot_q5_k_q8_k;
    t.rows_q2_k_q8_k = a2.rows_q2_k_q8_k;
    t.rows_q3_k_q8_k = a2.rows_q3_k_q8_k;
    t.rows_q5_k_q8_k = a2.rows_q5_k_q8_k;
    kernels_avx512_packing(t);
    return t;
  }();
  return &table;
}

}  // namespace aikid::inference
