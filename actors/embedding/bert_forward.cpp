// bert_forward: the encoder's forward pass, in data-flow order:
//   embeddings + LayerNorm → N × (self-attention → add & LN → FFN (GELU) →
//   add & LN) → pooling → L2 normalisation.
// Activations are [rows, H] row-major with the batch's sequences packed back
// to back. Every matrix product goes through BLIS (bli_sgemm_ex, fp32).
#include <blis.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "actors/embedding/bert.hpp"

namespace aikid::embedding {

namespace {

// The element-wise loops get an AVX2/FMA clone picked at run time.
#define AIKID_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))

// --- BLIS matrix products ------------------------------------------------------

struct blis_threads {
  rntm_t rntm;
  explicit blis_threads(int n) {
    bli_rntm_init(&rntm);
    bli_rntm_set_num_threads(std::max(1, n), &rntm);
  }
};

// C[m×n] = alpha · A[m×k] · B[n×k]ᵀ + beta · C   (all row-major, leading dims given)
void gemm_nt(int m, int n, int k, float alpha, const float* a, int lda, const float* b, int ldb, float beta,
             float* c, int ldc, blis_threads& t) {
  bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_TRANSPOSE, m, n, k, &alpha, const_cast<float*>(a), lda, 1,
               const_cast<float*>(b), ldb, 1, &beta, c, ldc, 1, nullptr, &t.rntm);
}

// C[m×n] = alpha · A[m×k] · B[k×n] + beta · C
void gemm_nn(int m, int n, int k, float alpha, const float* a, int lda, const float* b, int ldb, float beta,
             float* c, int ldc, blis_threads& t) {
  bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, m, n, k, &alpha, const_cast<float*>(a), lda, 1,
               const_cast<float*>(b), ldb, 1, &beta, c, ldc, 1, nullptr, &t.rntm);
}

// y[rows, out] = x[rows, in] · Wᵀ + bias, W: [out, in] (a PyTorch Linear).
void linear(int rows, int in, int out, const float* x, const float* w, const float* bias, float* y,
            blis_threads& t) {
  for (int r = 0; r < rows; ++r) std::memcpy(y + static_cast<std::size_t>(r) * out, bias, sizeof(float) * out);
  gemm_nt(rows, out, in, 1.0f, x, in, w, in, 1.0f, y, out, t);
}

// --- element-wise pieces -------------------------------------------------------

// x[r] = LN(x[r] + res[r]) · g + b for every row (res may be null).
AIKID_VECTOR_CLONES
void add_layer_norm(int rows, int h, float* x, const float* res, const float* g, const float* b, float eps) {
  for (int r = 0; r < rows; ++r) {
    float* v = x + static_cast<std::size_t>(r) * h;
    if (res) {
      const float* u = res + static_cast<std::size_t>(r) * h;
      for (int i = 0; i < h; ++i) v[i] += u[i];
    }
    float mean = 0;
    for (int i = 0; i < h; ++i) mean += v[i];
    mean /= static_cast<float>(h);
    float var = 0;
    for (int i = 0; i < h; ++i) {
      float d = v[i] - mean;
      var += d * d;
    }
    var /= static_cast<float>(h);
    const float inv = 1.0f / std::sqrt(var + eps);
    for (int i = 0; i < h; ++i) v[i] = (v[i] - mean) * inv * g[i] + b[i];
  }
}

// e^x for the element-wise loops: Cody–Waite range reduction and the Cephes
// expf polynomial (relative error ~1e-7), written without calls or branches
// so the loops vectorise. x is clamped to [-87.3, 88.7].
inline float exp_fast(float x) {
  x = std::min(88.7f, std::max(-87.3f, x));
  const float shifter = 12582912.0f;  // 1.5·2^23: adding it rounds to an integer
  const float n = (x * 1.44269504088896341f + shifter) - shifter;
  const float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float y = p * r * r + r + 1.0f;
  const std::int32_t bits = (static_cast<std::int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return y * scale;
}

// erf(x) = 1 − erfc(|x|) with the sign of x; erfc from the Chebyshev fit of
// Numerical Recipes ("erfcc", relative error < 1.2e-7 everywhere). Branch-free
// so the GELU loop vectorises; the absolute error it leaves in GELU is below
// 1e-7·|x|.
inline float erf_fast(float x) {
  const float ax = std::fabs(x);
  const float t = 1.0f / (1.0f + 0.5f * ax);
  const float y = t * exp_fast(-ax * ax - 1.26551223f +
                               t * (1.00002368f + t * (0.37409196f + t * (0.09678418f +
                               t * (-0.18628806f + t * (0.27886807f + t * (-1.13520398f +
                               t * (1.48851587f + t * (-0.82215223f + t * 0.17087277f)))))))));
  return std::copysign(1.0f - y, x);
}

AIKID_VECTOR_CLONES
void activation(bert_act act, std::size_t n, float* x) {
  switch (act) {
    case bert_act::gelu_erf:
      for (std::size_t i = 0; i < n; ++i) x[i] = 0.5f * x[i] * (1.0f + erf_fast(x[i] * 0.70710678118654752f));
      break;
    case bert_act::gelu_tanh:
      for (std::size_t i = 0; i < n; ++i) {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + std::tanh(0.7978845608028654f * (v + 0.044715f * v * v * v)));
      }
      break;
    case bert_act::relu:
      for (std::size_t i = 0; i < n; ++i) x[i] = std::max(0.0f, x[i]);
      break;
  }
}

// Row-wise softmax of an [n, n] score block (row stride ld).
AIKID_VECTOR_CLONES
void softmax_rows(int n, float* s, int ld) {
  for (int i = 0; i < n; ++i) {
    float* row = s + static_cast<std::size_t>(i) * ld;
    float mx = row[0];
    for (int j = 1; j < n; ++j) mx = std::max(mx, row[j]);
    for (int j = 0; j < n; ++j) row[j] = exp_fast(row[j] - mx);
    float sum = 0;
    for (int j = 0; j < n; ++j) sum += row[j];
    const float inv = 1.0f / sum;
    for (int j = 0; j < n; ++j) row[j] *= inv;
  }
}

void grow(std::vector<float>& v, std::size_t n) {
  if (v.size() < n) v.resize(n);
}

}  // namespace

void bert_forward(const bert_config& c, const bert_weights& w, const std::int32_t* ids, const std::vector<int>& lens,
                  int threads, bert_scratch& s, float* out) {
  const int H = c.hidden, F = c.ffn, nh = c.heads, hd = c.head_dim;
  const int nb = static_cast<int>(lens.size());
  int rows = 0, lmax = 0;
  for (int l : lens) {
    rows += l;
    lmax = std::max(lmax, l);
  }
  const std::size_t RH = static_cast<std::size_t>(rows) * H;
  grow(s.x, RH); grow(s.qkv, 3 * RH); grow(s.ctx, RH); grow(s.tmp, RH);
  grow(s.ff, static_cast<std::size_t>(rows) * F);
  grow(s.scores, static_cast<std::size_t>(lmax) * lmax);
  const int H3 = 3 * H;
  float *x = s.x.data(), *qkv = s.qkv.data(), *ctx = s.ctx.data(),
        *tmp = s.tmp.data(), *ff = s.ff.data(), *sc = s.scores.data();
  blis_threads big(threads);  // large products (Linear layers)
  blis_threads one(1);        // per-head attention products: too small to split

  // --- embeddings: word[id] + pos[i] + type[0], then LayerNorm -------------------
  for (int b = 0, r = 0; b < nb; ++b)
    for (int i = 0; i < lens[b]; ++i, ++r) {
      const float* we = w.word + static_cast<std::size_t>(ids[r]) * H;
      const float* pe = w.pos + static_cast<std::size_t>(i) * H;
      float* xr = x + static_cast<std::size_t>(r) * H;
      for (int j = 0; j < H; ++j) xr[j] = we[j] + pe[j] + w.type[j];
    }
  add_layer_norm(rows, H, x, nullptr, w.ln_g, w.ln_b, c.ln_eps);

  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  for (const bert_layer& L : w.layer) {
    // --- self-attention: [Q|K|V] = x·Wqkvᵀ + b   ([rows, 3H]) -------------------------
    linear(rows, H, 3 * H, x, L.wqkv, L.bqkv, qkv, big);
    // per sequence, per head: softmax(Q_h K_hᵀ / √d) V_h; keys of other sequences
    // (and padding) are never seen — the attention mask.
    for (int b = 0, r0 = 0; b < nb; r0 += lens[b], ++b) {
      const int n = lens[b];
      for (int h = 0; h < nh; ++h) {
        const float* qh = qkv + static_cast<std::size_t>(r0) * H3 + static_cast<std::size_t>(h) * hd;
        const float* kh = qh + H;
        const float* vh = qh + 2 * H;
        float* ch = ctx + static_cast<std::size_t>(r0) * H + static_cast<std::size_t>(h) * hd;
        gemm_nt(n, n, hd, scale, qh, H3, kh, H3, 0.0f, sc, n, one);  // scores [n, n]
        softmax_rows(n, sc, n);
        gemm_nn(n, hd, n, 1.0f, sc, n, vh, H3, 0.0f, ch, H, one);  // [n, hd] into ctx
      }
    }
    // --- attention output: LN(ctx·Woᵀ + bo + x) -------------------------------------
    linear(rows, H, H, ctx, L.wo, L.bo, tmp, big);
    add_layer_norm(rows, H, x, tmp, L.ln1_g, L.ln1_b, c.ln_eps);  // x = LN(x + tmp)
    // --- feed-forward: LN(act(x·W1ᵀ + b1)·W2ᵀ + b2 + x) ------------------------------
    linear(rows, H, F, x, L.w1, L.b1, ff, big);
    activation(c.act, static_cast<std::size_t>(rows) * F, ff);
    linear(rows, F, H, ff, L.w2, L.b2, tmp, big);
    add_layer_norm(rows, H, x, tmp, L.ln2_g, L.ln2_b, c.ln_eps);
  }

  // --- pooling, then L2 normalisation ------------------------------------------------
  for (int b = 0, r0 = 0; b < nb; r0 += lens[b], ++b) {
    float* o = out + static_cast<std::size_t>(b) * H;
    const int n = lens[b];
    const float* xb = x + static_cast<std::size_t>(r0) * H;
    switch (c.pooling) {
      case bert_pooling::cls:
        std::memcpy(o, xb, sizeof(float) * H);
        break;
      case bert_pooling::max:
        std::memcpy(o, xb, sizeof(float) * H);
        for (int i = 1; i < n; ++i)
          for (int j = 0; j < H; ++j) o[j] = std::max(o[j], xb[static_cast<std::size_t>(i) * H + j]);
        break;
      case bert_pooling::mean:
      case bert_pooling::mean_sqrt_len: {
        std::vector<double> acc(H, 0.0);
        for (int i = 0; i < n; ++i)
          for (int j = 0; j < H; ++j) acc[j] += xb[static_cast<std::size_t>(i) * H + j];
        const double div = c.pooling == bert_pooling::mean ? n : std::sqrt(static_cast<double>(n));
        for (int j = 0; j < H; ++j) o[j] = static_cast<float>(acc[j] / div);
        break;
      }
    }
    double norm = 0;
    for (int j = 0; j < H; ++j) norm += static_cast<double>(o[j]) * o[j];
    const float inv = static_cast<float>(1.0 / std::max(std::sqrt(norm), 1e-12));
    for (int j = 0; j < H; ++j) o[j] *= inv;
  }
}

double bert_flops(const bert_config& c, const std::vector<int>& lens) {
  double f = 0;
  const double H = c.hidden, F = c.ffn;
  for (int n : lens) {
    const double linear = 2.0 * n * (4.0 * H * H + 2.0 * H * F);
    const double attn = 2.0 * 2.0 * static_cast<double>(n) * n * H;  // QKᵀ and PV over all heads
    f += c.layers * (linear + attn);
  }
  return f;
}

}  // namespace aikid::embedding
