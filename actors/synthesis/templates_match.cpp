// Matching a percept to a template: by meaning (the percept's vector against
// every example in the set's faiss::IndexFlatIP) and by keywords (one
// automaton over all templates' keywords).
//
// The search by meaning is exact — the example with the highest fp32 cosine,
// the lowest row on a tie, as a full fp32 scan finds it — in two passes:
//   1. every example's int8 code (template_set::codes, 1/4 of the fp32 bytes)
//      against the query quantised to int8: an estimate of each cosine with a
//      rigorous error bound (Cauchy–Schwarz on both quantisation residuals,
//      plus fp32 rounding);
//   2. fp32 dot products (dot_row, the same code the full scan runs) for the
//      rows whose upper bound reaches the best lower bound — only those can
//      hold the maximum. Usually a handful; on near-ties more, never wrong.
// match_options::exact_scan runs the full fp32 scan instead (the reference),
// use_faiss_search FAISS's own search (Debian's FAISS is built without AVX,
// so that is scalar code; same template up to fp32 summation order).
#include <algorithm>
#include <cmath>
#include <tuple>

#include <immintrin.h>

#include "actors/synthesis/template_set.hpp"

namespace aikid::synthesis {

namespace {

// dot(x, q) over d floats: 16 independent lanes (vectorised without
// reassociating one long sum), a fixed reduction tree, then the tail. Every
// fp32 score in this file comes from here, so the two-pass search and the
// full scan compute bit-identical values for a row.
__attribute__((target_clones("avx512f", "avx2", "default")))
float dot_row(const float* __restrict x, const float* __restrict q, std::size_t d) {
  const std::size_t d16 = d & ~std::size_t{15};
  float a[16] = {};
  for (std::size_t k = 0; k < d16; k += 16)
    for (int j = 0; j < 16; ++j) a[j] += x[k + j] * q[k + j];
  for (int w = 8; w >= 1; w /= 2)
    for (int j = 0; j < w; ++j) a[j] += a[j + w];
  float s = a[0];
  for (std::size_t k = d16; k < d; ++k) s += x[k] * q[k];
  return s;
}

// ---- int8 kernels: out[i] = Σ_j codes[i·cd + j] · qd[j], exact in int32 --------
// codes [n × cd] int8, cd a multiple of 64; qd [cd] int8 in [-127, 127];
// qu[j] = qd[j] + 128 (for u8 × s8 instructions); row_sum[i] = Σ_j codes[i·cd + j].

void code_dot_scalar(const std::int8_t* codes, std::size_t n, std::size_t cd, const std::int8_t* qd,
                     const std::uint8_t*, const std::int32_t*, std::int32_t* out) {
  for (std::size_t i = 0; i < n; ++i) {
    const std::int8_t* r = codes + i * cd;
    std::int32_t acc = 0;
    for (std::size_t j = 0; j < cd; ++j) acc += std::int32_t(r[j]) * std::int32_t(qd[j]);
    out[i] = acc;
  }
}

// AVX2: sign-extend 16 bytes to int16, multiply-add pairs into int32.
__attribute__((target("avx2")))
void code_dot_avx2(const std::int8_t* codes, std::size_t n, std::size_t cd, const std::int8_t* qd,
                   const std::uint8_t*, const std::int32_t*, std::int32_t* out) {
  for (std::size_t i = 0; i < n; ++i) {
    const std::int8_t* r = codes + i * cd;
    __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
    for (std::size_t k = 0; k < cd; k += 32) {
      const __m256i c0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(r + k)));
      const __m256i c1 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(r + k + 16)));
      const __m256i q0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qd + k)));
      const __m256i q1 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qd + k + 16)));
      acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(c0, q0));
      acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(c1, q1));
    }
    const __m256i acc = _mm256_add_epi32(acc0, acc1);
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    out[i] = _mm_cvtsi128_si32(s);
  }
}

// AVX-512 VNNI: vpdpbusd multiplies u8 × s8 and adds groups of four into
// int32: Σ qu·c = Σ qd·c + 128·Σ c. Four rows share each load of the query.
__attribute__((target("avx512f,avx512bw,avx512vnni")))
void code_dot_vnni(const std::int8_t* codes, std::size_t n, std::size_t cd, const std::int8_t*,
                   const std::uint8_t* qu, const std::int32_t* row_sum, std::int32_t* out) {
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const std::int8_t* r = codes + i * cd;
    __m512i a0 = _mm512_setzero_si512(), a1 = _mm512_setzero_si512();
    __m512i a2 = _mm512_setzero_si512(), a3 = _mm512_setzero_si512();
    // The codes stream through once per query: fetch the next rows "non-temporal"
    // so they do not push the caller's working set (rendering) out of L2.
    if (i + 8 <= n)
      for (std::size_t k = 0; k < 4 * cd; k += 64) _mm_prefetch(reinterpret_cast<const char*>(r + 4 * cd + k), _MM_HINT_NTA);
    for (std::size_t k = 0; k < cd; k += 64) {
      const __m512i u = _mm512_loadu_si512(qu + k);
      a0 = _mm512_dpbusd_epi32(a0, u, _mm512_loadu_si512(r + k));
      a1 = _mm512_dpbusd_epi32(a1, u, _mm512_loadu_si512(r + cd + k));
      a2 = _mm512_dpbusd_epi32(a2, u, _mm512_loadu_si512(r + 2 * cd + k));
      a3 = _mm512_dpbusd_epi32(a3, u, _mm512_loadu_si512(r + 3 * cd + k));
    }
    // Four horizontal sums at once: interleave and add until each 128-bit
    // lane holds [a0 a1 a2 a3] partial sums, then add the four lanes.
    // (maskz forms with full masks: the same instructions, without GCC 12's
    // false "may be used uninitialized" warning from the unmasked intrinsics.)
    constexpr __mmask16 m16 = 0xffff;
    constexpr __mmask8 m8 = 0xff;
    const __m512i t0 = _mm512_add_epi32(_mm512_maskz_unpacklo_epi32(m16, a0, a1), _mm512_maskz_unpackhi_epi32(m16, a0, a1));
    const __m512i t1 = _mm512_add_epi32(_mm512_maskz_unpacklo_epi32(m16, a2, a3), _mm512_maskz_unpackhi_epi32(m16, a2, a3));
    __m512i u = _mm512_add_epi32(_mm512_maskz_unpacklo_epi64(m8, t0, t1), _mm512_maskz_unpackhi_epi64(m8, t0, t1));
    u = _mm512_add_epi32(u, _mm512_maskz_shuffle_i32x4(m16, u, u, 0x4e));
    u = _mm512_add_epi32(u, _mm512_maskz_shuffle_i32x4(m16, u, u, 0xb1));
    const __m128i rs = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row_sum + i));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                     _mm_sub_epi32(_mm512_maskz_extracti32x4_epi32(0xf, u, 0), _mm_slli_epi32(rs, 7)));
  }
  for (; i < n; ++i) {
    const std::int8_t* r = codes + i * cd;
    __m512i a = _mm512_setzero_si512();
    for (std::size_t k = 0; k < cd; k += 64)
      a = _mm512_dpbusd_epi32(a, _mm512_loadu_si512(qu + k), _mm512_loadu_si512(r + k));
    alignas(64) std::int32_t lanes[16];
    _mm512_store_si512(lanes, a);
    std::int32_t sum = 0;
    for (std::int32_t v : lanes) sum += v;
    out[i] = sum - 128 * row_sum[i];
  }
}

std::vector<detail::code_kernel> kernels_here() {
  std::vector<detail::code_kernel> k{{"scalar", code_dot_scalar}};
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2")) k.push_back({"avx2", code_dot_avx2});
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vnni"))
    k.push_back({"avx512vnni", code_dot_vnni});
  return k;
}

// The fastest kernel this CPU runs (the last one listed).
detail::code_dot_fn code_dot() {
  static const detail::code_dot_fn fn = kernels_here().back().fn;
  return fn;
}

// x ≈ scale · code, code in [-127, 127]. Returns (scale, ‖x − scale·code‖₂,
// ‖scale·code‖₂), the norms rounded up to floats.
struct quantised {
  float scale, err, norm;
  std::int32_t sum;
};
// (Cloned so that nearbyint is one rounding instruction instead of a libm
// call per element; every clone computes the same codes and norms: the
// double sums are not reassociated.)
__attribute__((target_clones("avx2", "default")))
quantised quantise(const float* x, std::size_t d, std::int8_t* code) {
  float maxabs = 0;
  for (std::size_t j = 0; j < d; ++j) maxabs = std::max(maxabs, std::fabs(x[j]));
  const float scale = maxabs > 0 ? maxabs / 127.f : 1.f;
  double err2 = 0, norm2 = 0;
  std::int32_t sum = 0;
  for (std::size_t j = 0; j < d; ++j) {
    const float c = std::clamp(std::nearbyint(x[j] / scale), -127.f, 127.f);
    code[j] = static_cast<std::int8_t>(c);
    sum += code[j];
    const double r = double(scale) * c;
    err2 += (double(x[j]) - r) * (double(x[j]) - r);
    norm2 += r * r;
  }
  auto up = [](double v) { return std::nextafter(static_cast<float>(std::sqrt(v) * (1 + 1e-9)), INFINITY); };
  return {scale, up(err2), up(norm2), sum};
}

bool all_finite(const float* x, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    if (!std::isfinite(x[i])) return false;
  return true;
}

}  // namespace

namespace detail {
std::vector<code_kernel> code_kernels() { return kernels_here(); }
}  // namespace detail

void templates_build_codes(template_set& s) {
  s.codes.clear();
  s.code_scale.clear();
  s.code_err.clear();
  s.code_norm.clear();
  s.code_sum.clear();
  if (!s.index || s.index->ntotal == 0 || s.dim <= 0) return;
  const auto n = static_cast<std::size_t>(s.index->ntotal);
  const auto d = static_cast<std::size_t>(s.dim);
  const float* x = s.index->get_xb();
  if (!all_finite(x, n * d)) return;  // fp32 scan only
  s.code_dim = (d + 63) / 64 * 64;
  s.codes.assign(n * s.code_dim, 0);
  s.code_scale.resize(n);
  s.code_err.resize(n);
  s.code_norm.resize(n);
  s.code_sum.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto qz = quantise(x + i * d, d, s.codes.data() + i * s.code_dim);
    s.code_scale[i] = qz.scale;
    s.code_err[i] = qz.err;
    s.code_norm[i] = qz.norm;
    s.code_sum[i] = qz.sum;
  }
}

namespace {

// Pass 1's bounds, row by row: est = scale·(t·dot), bound = err·‖q‖ + norm·e_q
// + slack; upper[i] = est + bound. Returns the best lower bound, max(est − bound).
// Sixteen running maxima (element-wise, so the compiler vectorises the loop
// without reassociating anything), then their maximum.
__attribute__((target_clones("avx512f", "avx2", "default")))
float row_bounds(const std::int32_t* __restrict dot, const float* __restrict scale, const float* __restrict err,
                 const float* __restrict norm, std::size_t n, float qscale, float qn, float qerr, float slack,
                 float* __restrict upper) {
  float m[16];
  for (float& x : m) x = -INFINITY;
  const std::size_t n16 = n & ~std::size_t{15};
  for (std::size_t k = 0; k < n16; k += 16) {
    for (int j = 0; j < 16; ++j) {
      const std::size_t i = k + j;
      const float e = scale[i] * (qscale * float(dot[i]));
      const float b = err[i] * qn + norm[i] * qerr + slack;
      upper[i] = e + b;
      const float lo = e - b;
      m[j] = m[j] > lo ? m[j] : lo;
    }
  }
  float best = -INFINITY;
  for (float x : m) best = best > x ? best : x;
  for (std::size_t i = n16; i < n; ++i) {
    const float e = scale[i] * (qscale * float(dot[i]));
    const float b = err[i] * qn + norm[i] * qerr + slack;
    upper[i] = e + b;
    best = best > e - b ? best : e - b;
  }
  return best;
}

// The rows with upper[i] ≥ lo, in row order, into out; returns their count.
// Blocks of 16 are tested at once (usually none passes), then scanned.
__attribute__((target_clones("avx512f", "avx2", "default")))
std::size_t rows_reaching(const float* __restrict upper, std::size_t n, float lo, std::uint32_t* __restrict out) {
  std::size_t k = 0;
  const std::size_t n16 = n & ~std::size_t{15};
  auto scan = [&](std::size_t b, std::size_t e) {
    for (std::size_t i = b; i < e; ++i) {
      out[k] = static_cast<std::uint32_t>(i);
      k += upper[i] >= lo;
    }
  };
  for (std::size_t b = 0; b < n16; b += 16) {
    int any = 0;
    for (int j = 0; j < 16; ++j) any |= upper[b + j] >= lo;
    if (any) scan(b, b + 16);
  }
  scan(n16, n);
  return k;
}

// The exact best example for unit query q: (row, fp32 score), lowest row on a tie.
std::pair<std::int64_t, float> best_example(const template_set& s, const float* q, bool exact_scan) {
  const auto n = static_cast<std::size_t>(s.index->ntotal);
  const auto d = static_cast<std::size_t>(s.dim);
  const float* x = s.index->get_xb();
  std::int64_t top = -1;
  float top_score = -2.f;
  auto take = [&](std::size_t i) {
    const float v = dot_row(x + i * d, q, d);
    if (v > top_score) {
      top_score = v;
      top = static_cast<std::int64_t>(i);
    }
  };
  if (exact_scan || s.codes.empty() || !all_finite(q, d)) {
    for (std::size_t i = 0; i < n; ++i) take(i);
    return {top, top_score};
  }
  // Pass 1: the query as int8, t · qd ≈ q, with e_q = ‖q − t·qd‖₂. The
  // buffers are the thread's own, sized once.
  thread_local std::vector<std::int8_t> qd;
  thread_local std::vector<std::uint8_t> qu;
  thread_local std::vector<std::int32_t> dots;
  thread_local std::vector<float> upper;
  thread_local std::vector<std::uint32_t> candidates;
  qd.assign(s.code_dim, 0);
  qu.assign(s.code_dim, 128);
  const auto qz = quantise(q, d, qd.data());
  for (std::size_t j = 0; j < d; ++j) qu[j] = static_cast<std::uint8_t>(qd[j] + 128);
  double qn2 = 0;
  for (std::size_t j = 0; j < d; ++j) qn2 += double(q[j]) * q[j];
  const float qn = float(std::sqrt(qn2) * (1 + 1e-6));
  // |fl(x·q) − est| ≤ err·‖q‖ + norm·e_q + fp32 rounding of dot_row and of est.
  const float slack = 1e-4f + 1e-7f * float(d);
  if (dots.size() < n) {
    dots.resize(n);
    upper.resize(n);
    candidates.resize(n);
  }
  code_dot()(s.codes.data(), n, s.code_dim, qd.data(), qu.data(), s.code_sum.data(), dots.data());
  const float best_lo = row_bounds(dots.data(), s.code_scale.data(), s.code_err.data(), s.code_norm.data(), n,
                                   qz.scale, qn, qz.err, slack, upper.data());
  // Pass 2: fp32 for every row that can still reach best_lo, in row order.
  const std::size_t nc = rows_reaching(upper.data(), n, best_lo, candidates.data());
  for (std::size_t c = 0; c < nc; ++c) take(candidates[c]);
  return {top, top_score};
}

}  // namespace

expected<template_match> templates_match(const template_set& s, std::string_view text,
                                         std::span<const float> vector, const match_options& opt) {
  template_match best;
  const bool use_vec = !vector.empty() && s.index && s.index->ntotal > 0;
  if (!vector.empty() && s.dim != 0 && vector.size() != static_cast<std::size_t>(s.dim)) {
    return error{errc::bad_request, "vector: dimension " + std::to_string(vector.size()) +
                                        " differs from the templates' " + std::to_string(s.dim)};
  }
  // The query as a unit vector.
  thread_local std::vector<float> q;
  if (use_vec) {
    q.assign(vector.begin(), vector.end());
    double n2 = 0;
    for (float x : q) n2 += double(x) * x;
    if (n2 > 0) {
      const float inv = float(1.0 / std::sqrt(n2));
      for (float& x : q) x *= inv;
    }
  }
  auto consider = [&](int t, float vec, bool kw) {
    const auto& def = s.defs[static_cast<std::size_t>(t)];
    float score = def.examples.empty() ? (kw ? 1.f : 0.f) : vec + (kw ? opt.keyword_boost : 0.f);
    if (best.index < 0 || score > best.score || (score == best.score && t < best.index)) {
      best.index = t;
      best.score = score;
      best.vector_score = vec;
      best.keyword = kw;
    }
  };
  // Keywords: which templates have a hit.
  thread_local std::vector<detail::folded_cp> stream;
  thread_local std::vector<detail::ac_automaton::hit> hits;
  thread_local std::vector<std::uint32_t> kw_templates;
  kw_templates.clear();
  if (s.keywords.size() > 0) {
    detail::text_fold_stream(text, stream);
    s.keywords.find(stream, hits, true);
    for (const auto& h : hits)
      for (auto t : s.keyword_owner[h.pattern]) kw_templates.push_back(t);
    std::sort(kw_templates.begin(), kw_templates.end());
    kw_templates.erase(std::unique(kw_templates.begin(), kw_templates.end()), kw_templates.end());
  }
  auto template_vec = [&](std::uint32_t t) -> float {
    if (!use_vec) return 0.f;
    auto [b, e] = s.example_rows[t];
    if (b == e) return 0.f;
    float v = -2.f;
    for (auto i = b; i < e; ++i)
      v = std::max(v, dot_row(s.index->get_xb() + std::size_t(i) * s.dim, q.data(), std::size_t(s.dim)));
    return v;
  };
  // Meaning: the single closest example.
  if (use_vec) {
    std::int64_t top = -1;
    float top_score = -2.f;
    if (opt.use_faiss_search) {
      float D = 0;
      faiss::Index::idx_t I = -1;
      try {
        s.index->search(1, q.data(), 1, &D, &I);
      } catch (const std::exception& e) {
        return error{errc::internal, std::string("templates: faiss search: ") + e.what()};
      }
      top = I;
      top_score = D;
    } else {
      std::tie(top, top_score) = best_example(s, q.data(), opt.exact_scan);
    }
    if (top >= 0) {
      const auto t = s.example_owner[static_cast<std::size_t>(top)];
      const bool kw = std::binary_search(kw_templates.begin(), kw_templates.end(), t);
      consider(static_cast<int>(t), top_score, kw);
    }
  }
  for (auto t : kw_templates) consider(static_cast<int>(t), template_vec(t), true);
  if (best.index >= 0 && best.score < opt.threshold) {
    template_match none;
    none.score = best.score;
    none.vector_score = best.vector_score;
    none.keyword = best.keyword;
    return none;  // index -1, but the best score is reported for tuning
  }
  return best;
}

}  // namespace aikid::synthesis
