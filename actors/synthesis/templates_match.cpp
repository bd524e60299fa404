// Matching a percept to a template: by meaning (the percept's vector against
// every example in the set's faiss::IndexFlatIP) and by keywords (one
// automaton over all templates' keywords).
//
// Debian's FAISS is built without AVX (OPTIMIZE GENERIC), so a one-query flat
// search runs scalar code; by default the scan below reads the same index's
// storage (get_xb(): [n × dim] floats) with a kernel compiled for AVX-512,
// AVX2 and baseline, chosen at load time. use_faiss_search selects FAISS's own
// search instead (same results).
#include <algorithm>
#include <cmath>

#include "actors/synthesis/template_set.hpp"

namespace aikid::synthesis {

namespace {

// dot(x[i], q) for each row i of x [n × d]. Four rows at a time, 16 lanes
// each: four independent FMA chains share every load of q, and the compiler
// vectorises the fixed-width lanes without reassociating one long sum.
__attribute__((target_clones("avx512f", "avx2", "default")))
void dot_rows(const float* __restrict x, std::size_t n, std::size_t d, const float* __restrict q,
              float* __restrict out) {
  const std::size_t d16 = d & ~std::size_t{15};
  auto reduce = [](float* a) {
    for (int w = 8; w >= 1; w /= 2)
      for (int j = 0; j < w; ++j) a[j] += a[j + w];
    return a[0];
  };
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const float* r0 = x + i * d;
    const float* r1 = r0 + d;
    const float* r2 = r1 + d;
    const float* r3 = r2 + d;
    float a0[16] = {}, a1[16] = {}, a2[16] = {}, a3[16] = {};
    for (std::size_t k = 0; k < d16; k += 16) {
      for (int j = 0; j < 16; ++j) {
        const float qj = q[k + j];
        a0[j] += r0[k + j] * qj;
        a1[j] += r1[k + j] * qj;
        a2[j] += r2[k + j] * qj;
        a3[j] += r3[k + j] * qj;
      }
    }
    float s0 = reduce(a0), s1 = reduce(a1), s2 = reduce(a2), s3 = reduce(a3);
    for (std::size_t k = d16; k < d; ++k) {
      s0 += r0[k] * q[k];
      s1 += r1[k] * q[k];
      s2 += r2[k] * q[k];
      s3 += r3[k] * q[k];
    }
    out[i] = s0;
    out[i + 1] = s1;
    out[i + 2] = s2;
    out[i + 3] = s3;
  }
  for (; i < n; ++i) {
    const float* r = x + i * d;
    float acc[16] = {};
    for (std::size_t k = 0; k < d16; k += 16)
      for (int j = 0; j < 16; ++j) acc[j] += r[k + j] * q[k + j];
    float s = reduce(acc);
    for (std::size_t k = d16; k < d; ++k) s += r[k] * q[k];
    out[i] = s;
  }
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
  thread_local std::vector<float> q, scores;
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
    scores.resize(e - b);
    dot_rows(s.index->get_xb() + std::size_t(b) * s.dim, e - b, s.dim, q.data(), scores.data());
    return *std::max_element(scores.begin(), scores.end());
  };
  // Meaning: the single closest example.
  if (use_vec) {
    std::int64_t top = -1;
    float top_score = -2.f;
    const auto n = static_cast<std::size_t>(s.index->ntotal);
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
      scores.resize(n);
      dot_rows(s.index->get_xb(), n, s.dim, q.data(), scores.data());
      for (std::size_t i = 0; i < n; ++i) {
        if (scores[i] > top_score) {
          top_score = scores[i];
          top = static_cast<std::int64_t>(i);
        }
      }
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
