// session: KV cache and the llama forward pass (model-facts §4-5).
//
// Per token, in data-flow order:
//   x = token_embd[token]
//   per layer:  xb = rmsnorm(x) * attn_norm
//               q = Wq·xb, k = Wk·xb, v = Wv·xb; rope(q, k) at pos (adjacent pairs)
//               K/V cache[pos] = fp16(k), fp16(v)
//               per head h (kv head h / (n_head/n_head_kv)):
//                 s[t] = fp16(q_h)·K[t] * 1/sqrt(head_dim), t <= pos; p = softmax(s)
//                 o_h = Σ_t fp16(p[t]) * V[t]
//               x += Wo·o
//               xb = rmsnorm(x) * ffn_norm
//               x += Wdown·(silu(Wgate·xb) ⊙ Wup·xb)
//   logits = Woutput·(rmsnorm(x_last) * output_norm)
// A prompt is processed in batches: each weight row is read once per batch.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>

#include "actors/inference/kernels_threads.hpp"
#include "actors/inference/model_impl.hpp"

namespace aikid::inference {

namespace {
constexpr int max_batch = 32;  // tokens per forward batch (bounds scratch memory)
}

struct session::state {
  // KV cache, F16: [layer][pos][n_head_kv * head_dim]
  std::vector<std::uint16_t> k_cache, v_cache;
  // scratch for a batch of up to max_batch tokens
  std::vector<float> x, xb, q, k, v, att_out, tmp, gate, up;
  std::vector<activation> acts, acts2;
  activation act_one;
  std::vector<float> logits;
  std::vector<float> rope_cs;  // cos/sin pairs of one position
  // per-thread attention scratch
  struct attn_scratch {
    std::vector<float> scores;
    std::vector<std::uint16_t> q16, p16;
    std::vector<float> vacc;  // lane accumulators of the V sum
  };
  std::vector<attn_scratch> attn;
  std::unique_ptr<thread_pool> pool;
};

session::session(const model& m, int n_ctx) : m_(m), s_(std::make_unique<state>()) {
  const model_info& in = m.info();
  n_ctx_ = std::min(n_ctx > 0 ? n_ctx : in.n_ctx, in.n_ctx_train);
  const int head_dim = in.n_embd / in.n_head;
  const std::size_t kvd = std::size_t(in.n_head_kv) * std::size_t(head_dim);
  s_->k_cache.assign(std::size_t(in.n_layer) * std::size_t(n_ctx_) * kvd, 0);
  s_->v_cache.assign(std::size_t(in.n_layer) * std::size_t(n_ctx_) * kvd, 0);
  const std::size_t B = max_batch, E = std::size_t(in.n_embd), F = std::size_t(in.n_ff);
  s_->x.resize(B * E);
  s_->xb.resize(B * E);
  s_->q.resize(B * E);
  s_->k.resize(B * kvd);
  s_->v.resize(B * kvd);
  s_->att_out.resize(B * E);
  s_->tmp.resize(B * E);
  s_->gate.resize(B * F);
  s_->up.resize(B * F);
  s_->acts.resize(B);
  s_->acts2.resize(B);
  s_->rope_cs.resize(std::size_t(in.n_rot));
  s_->pool = std::make_unique<thread_pool>(in.n_threads);
  s_->attn.resize(std::size_t(s_->pool->size()));
  for (auto& a : s_->attn) {
    a.scores.resize(std::size_t(n_ctx_));
    a.q16.resize(std::size_t(head_dim));
    a.p16.resize(std::size_t(n_ctx_));
    a.vacc.resize(std::size_t(head_dim) * 64);
  }
}

session::~session() = default;

std::span<const float> session::logits() const { return s_->logits; }

std::size_t session::kv_bytes() const { return (s_->k_cache.size() + s_->v_cache.size()) * 2; }

void session::truncate(int n) {
  n_past_ = std::clamp(n, 0, n_past_);
  s_->logits.clear();
}

namespace {

// ---- numerics in ggml-cpu's order (AVX-512 build, model-facts §4) ----
// Float sums are not associative, and this small quantised model amplifies
// last-bit differences (a flipped Q8 rounding moves logits by ~0.5), so the
// attention (kernel_table::attn_*) keeps llama.cpp's exact summation order.

// RMSNorm as ggml: mean of squares summed in double, scale = 1/sqrtf(mean+eps),
// then the elementwise weight.
void rmsnorm(float* out, const float* x, const float* w, int n, float eps) {
  double sum = 0;
  for (int i = 0; i < n; ++i) sum += double(x[i] * x[i]);
  const float mean = float(sum / n);
  const float scale = 1.0f / std::sqrt(mean + eps);
  for (int i = 0; i < n; ++i) out[i] = (x[i] * scale) * w[i];
}

// acts[t] = x[t] converted to the vec_dot type of W (x rows n apart).
void quantize_batch(const kernel_table& k, const weight_view& w, const float* x, int nt, activation* acts) {
  for (int t = 0; t < nt; ++t) activation_quantize(k, w.type, x + std::size_t(t) * std::size_t(w.n), w.n, acts[t]);
}

// Calls f(item, ith) for item in [0, n_items) on all pool threads. Thread i
// starts on its own contiguous share of the items (share i of n) and then
// helps the others, taking from the far end of the share with the most left:
// each thread's weight rows are one stream its prefetches run ahead in, and
// a thread the OS deschedules on a loaded machine leaves the rest of its
// share to the others (no static split to wait for). Which thread runs an
// item never changes a result.
template <class F>
void parallel_items(thread_pool& pool, int n_items, F&& f) {
  const int nth = pool.size();
  if (nth == 1 || n_items == 1) {
    for (int i = 0; i < n_items; ++i) f(i, 0);
    return;
  }
  // each share is one word: next item (high 32 bits) and end (low 32 bits);
  // the owner claims next, a helper claims end - 1, both by CAS on the word
  struct alignas(64) share {
    std::atomic<std::uint64_t> range;
  };
  auto pack = [](std::uint64_t next, std::uint64_t end) { return next << 32 | end; };
  std::vector<share> shares(static_cast<std::size_t>(nth));
  for (int i = 0; i < nth; ++i) {
    shares[std::size_t(i)].range.store(pack(std::uint64_t(std::int64_t(n_items) * i / nth),
                                            std::uint64_t(std::int64_t(n_items) * (i + 1) / nth)),
                                       std::memory_order_relaxed);
  }
  // claims one item of share j: from the front (owner) or the back (helper); -1 when empty
  auto claim = [&](int j, bool front) -> int {
    std::atomic<std::uint64_t>& r = shares[std::size_t(j)].range;
    std::uint64_t v = r.load(std::memory_order_acquire);
    for (;;) {
      const std::uint64_t next = v >> 32, end = v & 0xffffffffu;
      if (next >= end) return -1;
      const std::uint64_t want = front ? pack(next + 1, end) : pack(next, end - 1);
      if (r.compare_exchange_weak(v, want, std::memory_order_acq_rel)) return int(front ? next : end - 1);
    }
  };
  pool.run([&](int ith, int) {
    for (int i = claim(ith, true); i >= 0; i = claim(ith, true)) f(i, ith);
    for (;;) {  // then the others' shares, the fullest first, from the back
      int best = -1;
      std::uint64_t left = 0;
      for (int j = 0; j < nth; ++j) {
        const std::uint64_t v = shares[std::size_t(j)].range.load(std::memory_order_relaxed);
        const std::uint64_t next = v >> 32, end = v & 0xffffffffu;
        if (end > next && end - next > left) left = end - next, best = j;
      }
      if (best < 0) return;
      if (const int i = claim(best, false); i >= 0) f(i, ith);
    }
  });
}

constexpr std::int64_t row_chunk = 64;  // rows per work item of a parallel matmul

int chunks_of(std::int64_t rows) { return int((rows + row_chunk - 1) / row_chunk); }

// Rows of chunk c of W for nt tokens: out[t*W.rows + r].
void matmul_chunk(const kernel_table& k, const weight_view& w, const activation* acts, int nt, float* out, int c) {
  const std::int64_t r0 = std::int64_t(c) * row_chunk, r1 = std::min(w.rows, r0 + row_chunk);
  matmul_rows(k, w, acts, nt, out, std::size_t(w.rows), r0, r1);
}

// cos/sin for position pos: theta_i = pos * base^(-2i/n_rot) computed by
// repeated multiplication in float (ggml_rope_cache_init), scaled by
// freq_scale and divided by the optional frequency factors.
void rope_cache(float* cs, int n_rot, int pos, float base, float freq_scale, const std::vector<float>& ff) {
  const float theta_scale = std::pow(base, -2.0f / float(n_rot));
  float theta = float(pos);
  for (int i0 = 0; i0 < n_rot; i0 += 2) {
    const float f = ff.empty() ? 1.0f : ff[std::size_t(i0 / 2)];
    const float th = freq_scale * (theta / f);
    cs[i0] = std::cos(th);
    cs[i0 + 1] = std::sin(th);
    theta *= theta_scale;
  }
}

// Rotates adjacent pairs (x[2i], x[2i+1]) of each head's first n_rot dims.
void rope_apply(float* x, int n_heads, int head_dim, int n_rot, const float* cs) {
  for (int h = 0; h < n_heads; ++h) {
    float* v = x + std::size_t(h) * std::size_t(head_dim);
    for (int i0 = 0; i0 < n_rot; i0 += 2) {
      const float c = cs[i0], s = cs[i0 + 1];
      const float x0 = v[i0], x1 = v[i0 + 1];
      // ggml's rotate_pairs as GCC contracts it (-ffp-contract=fast, FMA):
      // x0*c - x1*s -> fma(x0, c, -(x1*s)); x0*s + x1*c -> fma(x0, s, x1*c)
      v[i0] = std::fma(x0, c, -(x1 * s));
      v[i0 + 1] = std::fma(x0, s, x1 * c);
    }
  }
}

}  // namespace

expected<void> session::eval(std::span<const std::int32_t> tokens) {
  try {
    return eval_impl(tokens);
  } catch (const std::exception& e) {
    return error{errc::internal, std::string("eval failed: ") + e.what()};
  }
}

expected<void> session::eval_impl(std::span<const std::int32_t> tokens) {
  const model_info& in = m_.info();
  if (tokens.empty()) return error{errc::bad_request, "eval: no tokens"};
  if (tokens.size() > std::size_t(n_ctx_ - n_past_)) {
    return error{errc::bad_request, "eval: " + std::to_string(tokens.size()) + " tokens do not fit in the context (" +
                                        std::to_string(n_past_) + " of " + std::to_string(n_ctx_) + " positions used)"};
  }
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= in.n_vocab) {
      return error{errc::bad_request, "eval: tokens[" + std::to_string(i) + "] = " + std::to_string(tokens[i]) +
                                          " is not a token id (n_vocab " + std::to_string(in.n_vocab) + ")"};
    }
  }

  const kernel_table& kt = m_.kernels();
  const auto& g = m_.global_weights();
  const int E = in.n_embd, H = in.n_head, HKV = in.n_head_kv, HD = E / H, F = in.n_ff;
  const int KVD = HKV * HD, group = H / HKV;
  const float kq_scale = 1.0f / std::sqrt(float(HD));
  // llama.cpp runs a multi-token batch through tinyBLAS for the F16 attention
  // products and a single token through ggml_vec_dot_f16: keep its order.
  const bool batched = tokens.size() >= 2;
  state& s = *s_;
  thread_pool& pool = *s.pool;

  for (std::size_t b0 = 0; b0 < tokens.size(); b0 += max_batch) {
    const int nt = int(std::min<std::size_t>(max_batch, tokens.size() - b0));
    const int pos0 = n_past_;

    // ---- embeddings: x[t] = token_embd[token] (dequantised row) ----
    for (int t = 0; t < nt; ++t) {
      dequantize_row(g.token_embd.type, g.token_embd.row(tokens[b0 + std::size_t(t)]),
                     s.x.data() + std::size_t(t) * std::size_t(E), E);
    }

    for (int l = 0; l < in.n_layer; ++l) {
      const layer_weights& L = m_.layers()[std::size_t(l)];
      std::uint16_t* kc = s.k_cache.data() + std::size_t(l) * std::size_t(n_ctx_) * std::size_t(KVD);
      std::uint16_t* vc = s.v_cache.data() + std::size_t(l) * std::size_t(n_ctx_) * std::size_t(KVD);

      // ---- attention ----
      for (int t = 0; t < nt; ++t) {
        rmsnorm(&s.xb[std::size_t(t * E)], &s.x[std::size_t(t * E)], L.attn_norm.data(), E, in.rms_eps);
      }
      // q = Wq·xb {E} -> {H*HD}, k = Wk·xb, v = Wv·xb {E} -> {HKV*HD}: one parallel region
      quantize_batch(kt, L.wq, s.xb.data(), nt, s.acts.data());
      const bool same_qkv = L.wk.type == L.wq.type && L.wv.type == L.wq.type;
      if (!same_qkv) quantize_batch(kt, L.wk, s.xb.data(), nt, s.acts2.data());
      const activation* akv = same_qkv ? s.acts.data() : s.acts2.data();
      const int cq = chunks_of(L.wq.rows), ck = chunks_of(L.wk.rows), cv = chunks_of(L.wv.rows);
      const bool kv_same = L.wv.type == L.wk.type;
      parallel_items(pool, cq + ck + cv, [&](int c, int) {
        if (c < cq) {
          matmul_chunk(kt, L.wq, s.acts.data(), nt, s.q.data(), c);
        } else if (c < cq + ck) {
          matmul_chunk(kt, L.wk, akv, nt, s.k.data(), c - cq);
        } else if (kv_same) {
          matmul_chunk(kt, L.wv, akv, nt, s.v.data(), c - cq - ck);
        }
      });
      if (!kv_same) {  // a mixed-type file: v's own activation (rare)
        quantize_batch(kt, L.wv, s.xb.data(), nt, s.acts2.data());
        parallel_items(pool, cv, [&](int c, int) { matmul_chunk(kt, L.wv, s.acts2.data(), nt, s.v.data(), c); });
      }
      for (int t = 0; t < nt; ++t) {
        const int pos = pos0 + t;
        rope_cache(s.rope_cs.data(), in.n_rot, pos, in.rope_freq_base, in.rope_freq_scale, g.rope_freqs);
        rope_apply(&s.q[std::size_t(t * E)], H, HD, in.n_rot, s.rope_cs.data());
        rope_apply(&s.k[std::size_t(t * KVD)], HKV, HD, in.n_rot, s.rope_cs.data());
        kt.to_fp16(&s.k[std::size_t(t * KVD)], kc + std::size_t(pos) * std::size_t(KVD), KVD);
        kt.to_fp16(&s.v[std::size_t(t * KVD)], vc + std::size_t(pos) * std::size_t(KVD), KVD);
      }
      // one work item per (token, head)
      parallel_items(pool, nt * H, [&](int item, int ith) {
        const int t = item / H, h = item % H;
        state::attn_scratch& sc = s.attn[std::size_t(ith)];
        const int pos = pos0 + t;
        const int n_kv = pos + 1;  // causal: positions 0..pos
        const int hk = h / group;
        const float* qh = &s.q[std::size_t(t * E + h * HD)];
        kt.to_fp16(qh, sc.q16.data(), HD);
        // scores = K·q (F16 x F16), scaled
        const float mx = kt.attn_scores(batched, n_kv, HD, kc + std::size_t(hk * HD), std::size_t(KVD), sc.q16.data(),
                                        kq_scale, sc.scores.data());
        // softmax (ggml_vec_soft_max_f32): exp per 16-lane chunk, chunk sums in double
        const float inv = float(1.0 / kt.softmax_exp(sc.scores.data(), n_kv, mx));
        for (int j = 0; j < n_kv; ++j) sc.scores[std::size_t(j)] *= inv;
        kt.to_fp16(sc.scores.data(), sc.p16.data(), n_kv);
        // o_h = V^T · p (F16 x F16) in ggml's lane order
        kt.attn_weighted_sum(batched, n_kv, HD, vc + std::size_t(hk * HD), std::size_t(KVD), sc.p16.data(),
                             &s.att_out[std::size_t(t * E + h * HD)], sc.vacc.data());
      });
      // x += Wo·o  {H*HD} -> {E}
      quantize_batch(kt, L.wo, s.att_out.data(), nt, s.acts.data());
      parallel_items(pool, chunks_of(L.wo.rows), [&](int c, int) { matmul_chunk(kt, L.wo, s.acts.data(), nt, s.tmp.data(), c); });
      for (int i = 0; i < nt * E; ++i) s.x[std::size_t(i)] += s.tmp[std::size_t(i)];

      // ---- feed-forward (SwiGLU) ----
      for (int t = 0; t < nt; ++t) {
        rmsnorm(&s.xb[std::size_t(t * E)], &s.x[std::size_t(t * E)], L.ffn_norm.data(), E, in.rms_eps);
      }
      // gate = Wgate·xb, up = Wup·xb {E} -> {F}, then silu(gate) * up on the same rows
      quantize_batch(kt, L.w_gate, s.xb.data(), nt, s.acts.data());
      const bool same_gu = L.w_up.type == L.w_gate.type;
      if (!same_gu) quantize_batch(kt, L.w_up, s.xb.data(), nt, s.acts2.data());
      parallel_items(pool, chunks_of(F), [&](int c, int) {
        matmul_chunk(kt, L.w_gate, s.acts.data(), nt, s.gate.data(), c);
        matmul_chunk(kt, L.w_up, same_gu ? s.acts.data() : s.acts2.data(), nt, s.up.data(), c);
        const std::int64_t r0 = std::int64_t(c) * row_chunk, r1 = std::min<std::int64_t>(F, r0 + row_chunk);
        for (int t = 0; t < nt; ++t) {  // silu(g) * u
          const std::size_t i = std::size_t(t) * std::size_t(F) + std::size_t(r0);
          kt.silu_mul(&s.gate[i], &s.up[i], int(r1 - r0));
        }
      });
      // x += Wdown·h  {F} -> {E}
      quantize_batch(kt, L.w_down, s.gate.data(), nt, s.acts.data());
      parallel_items(pool, chunks_of(L.w_down.rows), [&](int c, int) { matmul_chunk(kt, L.w_down, s.acts.data(), nt, s.tmp.data(), c); });
      for (int i = 0; i < nt * E; ++i) s.x[std::size_t(i)] += s.tmp[std::size_t(i)];
    }
    n_past_ += nt;

    // ---- output: logits of the batch's last token only ----
    if (b0 + std::size_t(nt) == tokens.size()) {
      rmsnorm(s.xb.data(), &s.x[std::size_t((nt - 1) * E)], g.output_norm.data(), E, in.rms_eps);
      s.logits.resize(std::size_t(in.n_vocab));
      activation_quantize(kt, g.output.type, s.xb.data(), E, s.act_one);  // {E} -> {n_vocab}
      parallel_items(pool, chunks_of(g.output.rows), [&](int c, int) { matmul_chunk(kt, g.output, &s.act_one, 1, s.logits.data(), c); });
    }
  }
  return {};
}

}  // namespace aikid::inference
