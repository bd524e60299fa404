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
#include <cmath>
#include <cstring>

#include "actors/inference/model_impl.hpp"

namespace aikid::inference {

namespace {
constexpr int max_batch = 32;  // tokens per forward batch (bounds scratch memory)
}

struct session::state {
  // KV cache, F16: [layer][pos][n_head_kv * head_dim]
  std::vector<std::uint16_t> k_cache, v_cache;
  // scratch for a batch of up to max_batch tokens
  std::vector<float> x, xb, q, k, v, att_out, tmp, gate, up, scores;
  std::vector<activation> acts;
  activation act_one;
  std::vector<std::uint16_t> q16, p16;
  std::vector<float> logits;
  std::vector<float> rope_cs;  // cos/sin pairs of one position
  std::vector<float> vacc;     // lane accumulators of the attention V sum
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
  s_->scores.resize(std::size_t(n_ctx_));
  s_->acts.resize(B);
  s_->q16.resize(std::size_t(head_dim));
  s_->p16.resize(std::size_t(n_ctx_));
  s_->rope_cs.resize(std::size_t(in.n_rot));
  s_->vacc.resize(std::size_t(head_dim) * 64);
}

session::~session() = default;

std::span<const float> session::logits() const { return s_->logits; }

std::size_t session::kv_bytes() const { return (s_->k_cache.size() + s_->v_cache.size()) * 2; }

void session::truncate(int n) {
  n_past_ = std::clamp(n, 0, n_past_);
  s_->logits.clear();
}

namespace {

// ---- attention numerics in ggml-cpu's order (AVX-512 build, model-facts §4) ----
// Float sums are not associative, and this small quantised model amplifies
// last-bit differences (a flipped Q8 rounding moves logits by ~0.5), so the
// attention keeps llama.cpp's exact summation order. Products of two halves
// are exact in float, so every "fma" below is a plain add.

// _mm512_reduce_add_ps as GCC expands it.
float reduce16(const float v[16]) {
  float a[8], b[4];
  for (int l = 0; l < 8; ++l) a[l] = v[l + 8] + v[l];
  for (int l = 0; l < 4; ++l) b[l] = a[l + 4] + a[l];
  return (b[0] + b[2]) + (b[1] + b[3]);
}

// Dot of two F16 rows of length n (a multiple of 64): tinyBLAS (one 16-lane
// accumulator) for batches, ggml_vec_dot_f16 (four 16-lane accumulators
// reduced pairwise) for single tokens.
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
// same two paths (the padded, masked positions of llama.cpp's KV window only
// add zeros, which leave every lane unchanged).
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

// ggml_v_expf (AVX-512 version, after ARM's optimized routine): max error
// ~1.5 ulp; ggml uses it for softmax and SiLU.
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

// x[j] <- exp(x[j] - mx) for j < n; returns Σ as ggml: 16-lane chunks reduced
// in float, accumulated in double (entries past n are masked zeros).
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

// RMSNorm as ggml: mean of squares summed in double, scale = 1/sqrtf(mean+eps),
// then the elementwise weight.
void rmsnorm(float* out, const float* x, const float* w, int n, float eps) {
  double sum = 0;
  for (int i = 0; i < n; ++i) sum += double(x[i] * x[i]);
  const float mean = float(sum / n);
  const float scale = 1.0f / std::sqrt(mean + eps);
  for (int i = 0; i < n; ++i) out[i] = (x[i] * scale) * w[i];
}

// out[t][r] = W.row(r) · x[t] for t < nt (x rows n apart, out rows w.rows apart).
void matmul(const kernel_table& k, const weight_view& w, const float* x, int nt, float* out,
            std::vector<activation>& acts) {
  for (int t = 0; t < nt; ++t) activation_quantize(k, w.type, x + std::size_t(t) * std::size_t(w.n), w.n, acts[std::size_t(t)]);
  for (std::int64_t r = 0; r < w.rows; ++r) {
    const std::byte* row = w.row(r);
    for (int t = 0; t < nt; ++t) {
      out[std::size_t(t) * std::size_t(w.rows) + std::size_t(r)] = row_dot(k, w.type, w.n, row, acts[std::size_t(t)]);
    }
  }
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
      matmul(kt, L.wq, s.xb.data(), nt, s.q.data(), s.acts);  // {E} -> {H*HD}
      matmul(kt, L.wk, s.xb.data(), nt, s.k.data(), s.acts);  // {E} -> {HKV*HD}
      matmul(kt, L.wv, s.xb.data(), nt, s.v.data(), s.acts);  // {E} -> {HKV*HD}
      for (int t = 0; t < nt; ++t) {
        const int pos = pos0 + t;
        rope_cache(s.rope_cs.data(), in.n_rot, pos, in.rope_freq_base, in.rope_freq_scale, g.rope_freqs);
        rope_apply(&s.q[std::size_t(t * E)], H, HD, in.n_rot, s.rope_cs.data());
        rope_apply(&s.k[std::size_t(t * KVD)], HKV, HD, in.n_rot, s.rope_cs.data());
        for (int i = 0; i < KVD; ++i) {
          kc[std::size_t(pos) * std::size_t(KVD) + std::size_t(i)] = fp32_to_fp16(s.k[std::size_t(t * KVD + i)]);
          vc[std::size_t(pos) * std::size_t(KVD) + std::size_t(i)] = fp32_to_fp16(s.v[std::size_t(t * KVD + i)]);
        }
      }
      for (int t = 0; t < nt; ++t) {
        const int pos = pos0 + t;
        const int n_kv = pos + 1;  // causal: positions 0..pos
        for (int h = 0; h < H; ++h) {
          const int hk = h / group;
          const float* qh = &s.q[std::size_t(t * E + h * HD)];
          for (int d = 0; d < HD; ++d) s.q16[std::size_t(d)] = fp32_to_fp16(qh[d]);
          // scores = K·q (F16 x F16), scaled
          float mx = -INFINITY;
          for (int j = 0; j < n_kv; ++j) {
            const std::uint16_t* kj = kc + std::size_t(j) * std::size_t(KVD) + std::size_t(hk * HD);
            const float sc = attn_dot_f16(batched, HD, kj, s.q16.data()) * kq_scale;
            s.scores[std::size_t(j)] = sc;
            mx = std::max(mx, sc);
          }
          // softmax (ggml_vec_soft_max_f32): exp per 16-lane chunk, chunk sums in double
          const float inv = float(1.0 / softmax_exp(s.scores.data(), n_kv, mx));
          for (int j = 0; j < n_kv; ++j) s.p16[std::size_t(j)] = fp32_to_fp16(s.scores[std::size_t(j)] * inv);
          // o_h = V^T · p (F16 x F16) in ggml's lane order
          attn_weighted_sum(batched, n_kv, HD, vc + std::size_t(hk * HD), std::size_t(KVD), s.p16.data(),
                            &s.att_out[std::size_t(t * E + h * HD)], s.vacc.data());
        }
      }
      matmul(kt, L.wo, s.att_out.data(), nt, s.tmp.data(), s.acts);  // {H*HD} -> {E}
      for (int i = 0; i < nt * E; ++i) s.x[std::size_t(i)] += s.tmp[std::size_t(i)];

      // ---- feed-forward (SwiGLU) ----
      for (int t = 0; t < nt; ++t) {
        rmsnorm(&s.xb[std::size_t(t * E)], &s.x[std::size_t(t * E)], L.ffn_norm.data(), E, in.rms_eps);
      }
      matmul(kt, L.w_gate, s.xb.data(), nt, s.gate.data(), s.acts);  // {E} -> {F}
      matmul(kt, L.w_up, s.xb.data(), nt, s.up.data(), s.acts);      // {E} -> {F}
      for (int i = 0; i < nt * F; ++i) {
        const float gv = s.gate[std::size_t(i)];
        s.gate[std::size_t(i)] = gv / (1.0f + vexp(-gv)) * s.up[std::size_t(i)];  // silu(g) * u
      }
      matmul(kt, L.w_down, s.gate.data(), nt, s.tmp.data(), s.acts);  // {F} -> {E}
      for (int i = 0; i < nt * E; ++i) s.x[std::size_t(i)] += s.tmp[std::size_t(i)];
    }
    n_past_ += nt;

    // ---- output: logits of the batch's last token only ----
    if (b0 + std::size_t(nt) == tokens.size()) {
      rmsnorm(s.xb.data(), &s.x[std::size_t((nt - 1) * E)], g.output_norm.data(), E, in.rms_eps);
      s.logits.resize(std::size_t(in.n_vocab));
      matvec(kt, g.output, s.xb.data(), s.logits.data(), s.act_one);  // {E} -> {n_vocab}
    }
  }
  return {};
}

}  // namespace aikid::inference
