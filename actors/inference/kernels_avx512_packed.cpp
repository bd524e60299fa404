// The 4-row packed weight layout and its AVX-512 VNNI kernels (compiled with
// the flags of kernels_avx512.cpp; used only when kernels_select() picks the
// avx512 table).
//
// Why: in the file's layout a Q4_1 row is a run of 20-byte blocks, so a
// kernel working on 4 rows issues per block and row a scalar load and a
// conversion of each half (d, m), a 128-bit load, a shift and an insert —
// about 21 µops per 32 weights, which keeps decoding compute-bound at
// ~9 GB/s. Packed, the blocks of 4 consecutive rows sit side by side:
//
//   Q4_1 group block (80 B):  d[4] f16 | m[4] f16 | qs[4][16]
//   Q8_0 group block (136 B): d[4] f16 |            qs[4][32]
//
// so one 16-byte conversion gives the 4 rows' scales, one 64-byte load their
// quants, and a 512-bit VNNI product covers 2 rows: ~6 µops per 32 weights.
// Groups follow each other in row order (group g = rows 4g..4g+3), so a
// range of rows is still one contiguous stream.
//
// Numerics are those of kernels_avx512.cpp's row kernels, lane for lane: each
// row keeps its own 8 float lanes (the low or high half of a 512-bit
// accumulator), each block's 8 int32 lane sums are converted and multiplied
// by fp32(d_w) * fp32(d_a) in one FMA, the Q4_1 term Σ m_w * s_a is summed in
// block order, and the 8 lanes are reduced the same way at the end. Tested
// against the portable reference in tests/inference/quants_test.cpp.
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "actors/inference/kernels.hpp"
#include "actors/inference/kernels_avx512_inline.hpp"

namespace aikid::inference {
namespace {

constexpr int group_rows = 4;

struct pblock_q4_1 {
  std::uint16_t d[4], m[4];
  std::uint8_t qs[4][qk / 2];
};
struct pblock_q8_0 {
  std::uint16_t d[4];
  std::int8_t qs[4][qk];
};
static_assert(sizeof(pblock_q4_1) == 80 && sizeof(pblock_q8_0) == 136);

constexpr std::size_t prefetch_ahead = 4096;  // bytes ahead in the weight stream

inline __m256 high8(__m512 v) { return _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)); }

// Lane indices that broadcast float lane i to the low 8 and lane j to the high 8.
inline __m512i pair_index(int i, int j) {
  return _mm512_set_epi32(j, j, j, j, j, j, j, j, i, i, i, i, i, i, i, i);
}

// ---- packing ----------------------------------------------------------------
std::size_t pack_bytes(ggml_type t, std::int64_t n, std::int64_t rows) {
  if (n <= 0 || rows <= 0 || n % qk != 0 || rows % group_rows != 0) return 0;
  const std::size_t groups = std::size_t(rows / group_rows), nb = std::size_t(n / qk);
  switch (t) {
    case ggml_type::q4_1: return groups * nb * sizeof(pblock_q4_1);
    case ggml_type::q8_0: return groups * nb * sizeof(pblock_q8_0);
    default: return 0;
  }
}

void pack(ggml_type t, std::int64_t n, std::int64_t rows, const std::byte* src, std::size_t row_bytes, std::byte* dst) {
  const std::int64_t nb = n / qk;
  for (std::int64_t g = 0; g < rows / group_rows; ++g) {
    for (std::int64_t ib = 0; ib < nb; ++ib) {
      for (int r = 0; r < group_rows; ++r) {
        const std::byte* row = src + std::size_t(g * group_rows + r) * row_bytes;
        if (t == ggml_type::q4_1) {
          block_q4_1 b;
          std::memcpy(&b, row + std::size_t(ib) * sizeof(block_q4_1), sizeof b);
          auto* p = reinterpret_cast<pblock_q4_1*>(dst) + std::size_t(g * nb + ib);
          p->d[r] = b.d;
          p->m[r] = b.m;
          std::memcpy(p->qs[r], b.qs, sizeof b.qs);
        } else {
          block_q8_0 b;
          std::memcpy(&b, row + std::size_t(ib) * sizeof(block_q8_0), sizeof b);
          auto* p = reinterpret_cast<pblock_q8_0*>(dst) + std::size_t(g * nb + ib);
          p->d[r] = b.d;
          std::memcpy(p->qs[r], b.qs, sizeof b.qs);
        }
      }
    }
  }
}

// ---- activations, prepared once per token and call ---------------------------
// One cache line per block: the scale vector the kernels multiply by
// (Q4_1 x Q8_1: [d_a x4, s_a x4]; Q8_0: [d_a x4, 0 x4]) and the 32 quants,
// aligned (an activation block is 34 or 36 bytes, so half of its 32-byte
// quant loads would straddle two cache lines).
struct alignas(64) prep_block {
  float sc[8];
  std::int8_t qs[qk];
};

void prepare(ggml_type t, std::int64_t nb, const void* a, prep_block* out) {
  for (std::int64_t ib = 0; ib < nb; ++ib) {
    float d, s = 0.0f;
    const std::int8_t* qs;
    if (t == ggml_type::q4_1) {
      const auto& b = static_cast<const block_q8_1*>(a)[ib];
      d = h2f(b.d);
      s = h2f(b.s);
      qs = b.qs;
    } else {
      const auto& b = static_cast<const block_q8_0*>(a)[ib];
      d = h2f(b.d);
      qs = b.qs;
    }
    _mm256_store_ps(out[ib].sc, _mm256_setr_ps(d, d, d, d, s, s, s, s));
    _mm256_store_si256(reinterpret_cast<__m256i*>(out[ib].qs), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs)));
  }
}

// ---- Q4_1 x Q8_1: one group of 4 rows, T tokens ------------------------------
template <int T>
void group_q4_1(std::int64_t nb, const pblock_q4_1* g, const prep_block* const* a, float* const* y) {
  const __m512i idx01 = _mm512_setr_epi64(0, 1, 0, 1, 2, 3, 2, 3), idx23 = _mm512_setr_epi64(4, 5, 4, 5, 6, 7, 6, 7);
  const __m512i shifts = _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4);
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  const __m512i i01 = pair_index(0, 1), i23 = pair_index(2, 3);
  __m512 acc01[T], acc23[T];
  __m256 summ[T];
  for (int t = 0; t < T; ++t) {
    acc01[t] = acc23[t] = _mm512_setzero_ps();
    summ[t] = _mm256_setzero_ps();
  }
  for (std::int64_t ib = 0; ib < nb; ++ib) {
    const pblock_q4_1& b = g[ib];
    _mm_prefetch(reinterpret_cast<const char*>(&b) + prefetch_ahead, _MM_HINT_T0);
    const __m256 dm = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(&b)));  // d0..3, m0..3
    const __m512i q = _mm512_loadu_si512(b.qs);
    // [row0 low nibbles | row0 high | row1 low | row1 high], same for rows 2, 3
    const __m512i w01 = _mm512_and_si512(_mm512_srlv_epi64(_mm512_permutexvar_epi64(idx01, q), shifts), low4);
    const __m512i w23 = _mm512_and_si512(_mm512_srlv_epi64(_mm512_permutexvar_epi64(idx23, q), shifts), low4);
    for (int t = 0; t < T; ++t) {
      const __m256 mult = _mm256_mul_ps(dm, _mm256_load_ps(a[t][ib].sc));  // d_r*d_a (lanes 0-3), m_r*s_a (lanes 4-7)
      summ[t] = _mm256_add_ps(summ[t], mult);
      const __m512 m = _mm512_castps256_ps512(mult);
      const __m512i qy = _mm512_broadcast_i64x4(_mm256_load_si256(reinterpret_cast<const __m256i*>(a[t][ib].qs)));
      const __m512 f01 = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(_mm512_setzero_si512(), w01, qy));
      const __m512 f23 = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(_mm512_setzero_si512(), w23, qy));
      acc01[t] = _mm512_fmadd_ps(_mm512_permutexvar_ps(i01, m), f01, acc01[t]);
      acc23[t] = _mm512_fmadd_ps(_mm512_permutexvar_ps(i23, m), f23, acc23[t]);
    }
  }
  for (int t = 0; t < T; ++t) {
    alignas(32) float s[8];
    _mm256_store_ps(s, summ[t]);
    y[t][0] = hsum_float_8(_mm512_castps512_ps256(acc01[t])) + s[4];
    y[t][1] = hsum_float_8(high8(acc01[t])) + s[5];
    y[t][2] = hsum_float_8(_mm512_castps512_ps256(acc23[t])) + s[6];
    y[t][3] = hsum_float_8(high8(acc23[t])) + s[7];
  }
}

// ---- Q8_0 x Q8_0: one group of 4 rows, T tokens ------------------------------
template <int T>
void group_q8_0(std::int64_t nb, const pblock_q8_0* g, const prep_block* const* a, float* const* y) {
  const __m512i i01 = pair_index(0, 1), i23 = pair_index(2, 3);
  __m512 acc01[T], acc23[T];
  for (int t = 0; t < T; ++t) acc01[t] = acc23[t] = _mm512_setzero_ps();
  for (std::int64_t ib = 0; ib < nb; ++ib) {
    const pblock_q8_0& b = g[ib];
    _mm_prefetch(reinterpret_cast<const char*>(&b) + prefetch_ahead, _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(&b) + prefetch_ahead + 64, _MM_HINT_T0);
    const __m256 d = _mm256_zextps128_ps256(_mm_cvtph_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(b.d))));
    const __m512i x01 = _mm512_loadu_si512(b.qs[0]), x23 = _mm512_loadu_si512(b.qs[2]);
    // signed x signed as in the row kernels: |x| times y with x's sign
    const __m512i ax01 = _mm512_abs_epi8(x01), ax23 = _mm512_abs_epi8(x23);
    const __mmask64 n01 = _mm512_movepi8_mask(x01), n23 = _mm512_movepi8_mask(x23);
    for (int t = 0; t < T; ++t) {
      const __m512 m = _mm512_castps256_ps512(_mm256_mul_ps(d, _mm256_load_ps(a[t][ib].sc)));  // d_r*d_a in lanes 0-3
      const __m512i qy = _mm512_broadcast_i64x4(_mm256_load_si256(reinterpret_cast<const __m256i*>(a[t][ib].qs)));
      const __m512i sy01 = _mm512_mask_sub_epi8(qy, n01, _mm512_setzero_si512(), qy);
      const __m512i sy23 = _mm512_mask_sub_epi8(qy, n23, _mm512_setzero_si512(), qy);
      const __m512 f01 = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(_mm512_setzero_si512(), ax01, sy01));
      const __m512 f23 = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(_mm512_setzero_si512(), ax23, sy23));
      acc01[t] = _mm512_fmadd_ps(_mm512_permutexvar_ps(i01, m), f01, acc01[t]);
      acc23[t] = _mm512_fmadd_ps(_mm512_permutexvar_ps(i23, m), f23, acc23[t]);
    }
  }
  for (int t = 0; t < T; ++t) {
    y[t][0] = hsum_float_8(_mm512_castps512_ps256(acc01[t]));
    y[t][1] = hsum_float_8(high8(acc01[t]));
    y[t][2] = hsum_float_8(_mm512_castps512_ps256(acc23[t]));
    y[t][3] = hsum_float_8(high8(acc23[t]));
  }
}

template <class PB, template <int> class K>
void matmul_groups(const weight_view& w, const activation* x, int nt, float* out, std::size_t ldo, std::int64_t r0,
                   std::int64_t r1) {
  const std::int64_t nb = w.n / qk;
  thread_local std::vector<prep_block> prep;
  prep.resize(std::size_t(nb) * std::size_t(nt));
  for (int t = 0; t < nt; ++t) prepare(w.type, nb, x[t].data.data(), prep.data() + std::size_t(t) * std::size_t(nb));
  const auto* groups = reinterpret_cast<const PB*>(w.data);
  for (std::int64_t g = r0 / group_rows; g < (r1 + group_rows - 1) / group_rows; ++g) {
    const PB* gb = groups + std::size_t(g) * std::size_t(nb);
    for (int t0 = 0; t0 < nt; t0 += 4) {
      const int tn = std::min(4, nt - t0);
      const prep_block* a[4];
      float* y[4];
      float tmp[4][4];
      const bool whole = g * group_rows >= r0 && (g + 1) * group_rows <= r1;
      for (int t = 0; t < tn; ++t) {
        a[t] = prep.data() + std::size_t(t0 + t) * std::size_t(nb);
        y[t] = whole ? out + std::size_t(t0 + t) * ldo + std::size_t(g * group_rows) : tmp[t];
      }
      switch (tn) {
        case 4: K<4>::run(nb, gb, a, y); break;
        case 3: K<3>::run(nb, gb, a, y); break;
        case 2: K<2>::run(nb, gb, a, y); break;
        default: K<1>::run(nb, gb, a, y); break;
      }
      if (!whole) {  // a range that cuts a group: keep only its rows
        for (int t = 0; t < tn; ++t) {
          for (int r = 0; r < group_rows; ++r) {
            const std::int64_t row = g * group_rows + r;
            if (row >= r0 && row < r1) out[std::size_t(t0 + t) * ldo + std::size_t(row)] = tmp[t][r];
          }
        }
      }
    }
  }
}

template <int T>
struct run_q4_1 {
  static void run(std::int64_t nb, const pblock_q4_1* g, const prep_block* const* a, float* const* y) {
    group_q4_1<T>(nb, g, a, y);
  }
};
template <int T>
struct run_q8_0 {
  static void run(std::int64_t nb, const pblock_q8_0* g, const prep_block* const* a, float* const* y) {
    group_q8_0<T>(nb, g, a, y);
  }
};

void matmul_packed(const weight_view& w, const activation* x, int nt, float* out, std::size_t ldo, std::int64_t r0,
                   std::int64_t r1) {
  if (w.type == ggml_type::q4_1) matmul_groups<pblock_q4_1, run_q4_1>(w, x, nt, out, ldo, r0, r1);
  else matmul_groups<pblock_q8_0, run_q8_0>(w, x, nt, out, ldo, r0, r1);
}

}  // namespace

void kernels_avx512_packing(kernel_table& t) {
  t.pack_bytes = pack_bytes;
  t.pack = pack;
  t.matmul_packed = matmul_packed;
}

}  // namespace aikid::inference
