// bert_forward: the encoder's forward pass, in data-flow order:
//   embeddings + LayerNorm → N × (self-attention → add & LN → FFN (GELU) →
//   add & LN) → pooling → L2 normalisation.
// Activations are feature-major: [features, rows] row-major (each feature's
// values for all tokens are contiguous) with the batch's sequences packed
// side by side. Every matrix product goes through BLIS (bli_sgemm_ex, fp32,
// general strides). Why feature-major: with few tokens in flight BLIS's sup
// kernels then walk the transposed weights Wᵀ [in, out] as one sequential
// stream per row block and run the 6-layer MiniLM at ~90 % of the sgemm
// peak for a 16-token sentence, against ~55 % for token-major activations
// with PyTorch-layout weights (bench/results/embedding.md).
#include <blis.h>

#include <cpuid.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "actors/embedding/bert.hpp"
#include "actors/embedding/embedding.hpp"

namespace aikid::embedding {

namespace {

// The element-wise loops get an AVX2/FMA clone picked at run time.
#define AIKID_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))

// --- BLIS matrix products ------------------------------------------------------

// Every BLIS call runs on one thread: the team (bert_team) splits the work
// itself. BLIS 0.9 (pthreads) creates and joins its threads inside every call
// and its barriers spin, which costs more than a second core saves when only
// a few token rows are in flight, and collapses when another process holds
// the other core.
struct blis_one_thread {
  rntm_t rntm;
  blis_one_thread() {
    blis_arch_pick();
    bli_rntm_init(&rntm);
    bli_rntm_set_num_threads(1, &rntm);
  }
};

}  // namespace

void blis_arch_pick() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (std::getenv("BLIS_ARCH_TYPE")) return;
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return;
    const bool amd = b == 0x68747541 && d == 0x69746e65 && c == 0x444d4163;  // "AuthenticAMD"
    if (!amd || !__get_cpuid(1, &a, &b, &c, &d)) return;
    const unsigned family = ((a >> 8) & 0xf) + ((a >> 20) & 0xff);
    if (family < 0x19 || !__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return;
    // BLIS 0.9 reads the variable as a number (its arch_t; a name reads as 0, skx)
    setenv("BLIS_ARCH_TYPE", std::to_string(static_cast<int>(BLIS_ARCH_ZEN3)).c_str(), 0);
  });
}

std::string blis_arch_name() {
  blis_arch_pick();
  bli_init();  // with BLIS_ARCH_TYPE set, BLIS 0.9 checks the id against its kernel table: initialised first
  return bli_arch_string(bli_arch_query_id());
}

namespace {

// A strided matrix view for BLIS: element (i, j) at p[i * rs + j * cs].
struct mat {
  const float* p;
  inc_t rs, cs;
};

// C[m×n] = alpha · A[m×k] · B[k×n] + beta · C, any strides, on the calling thread.
void gemm(dim_t m, dim_t n, dim_t k, float alpha, mat a, mat b, float beta, float* c, inc_t crs, inc_t ccs) {
  static thread_local blis_one_thread one;
  bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, m, n, k, &alpha, const_cast<float*>(a.p), a.rs, a.cs,
               const_cast<float*>(b.p), b.rs, b.cs, &beta, c, crs, ccs, nullptr, &one.rntm);
}

// Member i's share [begin, end) of n items split among `members`, cut at
// multiples of `align`.
std::pair<int, int> share(int n, int members, int i, int align) {
  const int blocks = (n + align - 1) / align;
  const int b0 = blocks * i / members, b1 = blocks * (i + 1) / members;
  return {std::min(n, b0 * align), std::min(n, b1 * align)};
}

// --- element-wise pieces -------------------------------------------------------

// x[:, r] = LN(x[:, r] + res[:, r]) · g + b for every token column r of the
// feature-major x [h, rows] (res may be null). The inner loops run over
// tokens (contiguous); each column's sums still add features in order.
AIKID_VECTOR_CLONES
void add_layer_norm(int rows, int h, float* x, const float* res, const float* g, const float* b, float eps,
                    float* mean, float* rstd) {
  const std::size_t n = static_cast<std::size_t>(rows) * h;
  if (res)
    for (std::size_t i = 0; i < n; ++i) x[i] += res[i];
  std::fill_n(mean, rows, 0.0f);
  std::fill_n(rstd, rows, 0.0f);
  for (int i = 0; i < h; ++i) {
    const float* v = x + static_cast<std::size_t>(i) * rows;
    for (int r = 0; r < rows; ++r) mean[r] += v[r];
  }
  for (int r = 0; r < rows; ++r) mean[r] /= static_cast<float>(h);
  for (int i = 0; i < h; ++i) {
    const float* v = x + static_cast<std::size_t>(i) * rows;
    for (int r = 0; r < rows; ++r) {
      const float d = v[r] - mean[r];
      rstd[r] += d * d;
    }
  }
  for (int r = 0; r < rows; ++r) rstd[r] = 1.0f / std::sqrt(rstd[r] / static_cast<float>(h) + eps);
  for (int i = 0; i < h; ++i) {
    float* v = x + static_cast<std::size_t>(i) * rows;
    const float gi = g[i], bi = b[i];
    for (int r = 0; r < rows; ++r) v[r] = (v[r] - mean[r]) * rstd[r] * gi + bi;
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

// --- Linear layers --------------------------------------------------------------

// y[out, rows] = act(W · x + bias)  (feature-major x [in, rows]; W [out, in]
// given as wt = Wᵀ [in, out] row-major; a PyTorch Linear; act optional).
// As BLIS sees it: C (rows × out) = A (rows × in) · B (in × out) with A and C
// column-stored and B row-stored. The team splits the out features (each
// member streams its share of the weights); 48 = a whole number of BLIS's
// 6- and 16-wide register blocks.
void linear(bert_team& team, int rows, int in, int out, const float* x, const float* wt, const float* bias,
            float* y, const bert_act* act = nullptr) {
  team.run([&](int i) {
    const auto [o0, o1] = share(out, team.size(), i, 48);
    if (o0 == o1) return;
    float* yi = y + static_cast<std::size_t>(o0) * rows;
    for (int o = o0; o < o1; ++o) std::fill_n(y + static_cast<std::size_t>(o) * rows, rows, bias[o]);
    gemm(rows, o1 - o0, in, 1.0f, {x, 1, rows}, {wt + o0, out, 1}, 1.0f, yi, 1, rows);
    if (act) activation(*act, static_cast<std::size_t>(o1 - o0) * rows, yi);
  });
}

// Token columns are padded to a multiple of this: BLIS's sup kernels are
// 6×16 / 6×8 / 6×4 register blocks and an odd column count (13 tokens) falls
// to their slow edge cases — 13 tokens took twice as long as 16.
constexpr int k_col_block = 8;

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
  // Activations have R = rows rounded up to k_col_block columns; the extra
  // columns are padding that every column-wise step carries along and
  // attention and pooling never read.
  const int cols = (rows + k_col_block - 1) / k_col_block * k_col_block;
  const std::size_t R = static_cast<std::size_t>(cols);  // row stride of every activation
  const std::size_t RH = R * H;
  grow(s.x, RH); grow(s.qkv, 3 * RH); grow(s.ctx, RH); grow(s.tmp, RH);
  grow(s.ff, R * F);
  if (!s.team || s.team->size() != std::max(1, threads)) {
    s.team.reset();
    s.team = std::make_unique<bert_team>(threads);
  }
  bert_team& team = *s.team;
  const std::size_t LL = static_cast<std::size_t>(lmax) * lmax;
  grow(s.scores, LL * team.size());  // one [n, n] score block per member
  grow(s.mean, R); grow(s.rstd, R);
  float *x = s.x.data(), *qkv = s.qkv.data(), *ctx = s.ctx.data(),
        *tmp = s.tmp.data(), *ff = s.ff.data();

  // --- embeddings: x[:, r] = word[id] + pos[i] + type[0], then LayerNorm ------------
  for (int j = 0; j < H; ++j) {  // padding columns: zeros (attention leaves ctx's alone)
    std::fill(x + j * R + rows, x + (j + 1) * R, 0.0f);
    std::fill(ctx + j * R + rows, ctx + (j + 1) * R, 0.0f);
  }
  for (int b = 0, r = 0; b < nb; ++b)
    for (int i = 0; i < lens[b]; ++i, ++r) {
      const float* we = w.word + static_cast<std::size_t>(ids[r]) * H;
      const float* pe = w.pos + static_cast<std::size_t>(i) * H;
      for (int j = 0; j < H; ++j) x[j * R + r] = we[j] + pe[j] + w.type[j];
    }
  add_layer_norm(cols, H, x, nullptr, w.ln_g, w.ln_b, c.ln_eps, s.mean.data(), s.rstd.data());

  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  for (const bert_layer& L : w.layer) {
    // --- self-attention: [Q; K; V] = Wqkv·x + b   ([3H, R]) ----------------------------
    linear(team, cols, H, 3 * H, x, L.wqkv_t, L.bqkv, qkv);
    // per sequence, per head: softmax(Q_h K_hᵀ / √d) V_h; keys of other sequences
    // (and padding) are never seen — the attention mask. Q_h is the [n, hd]
    // view qkv[h·hd + d][r0 + i] (rs 1, cs R); K_h and V_h likewise at +H, +2H.
    // The team shares the (sequence, head) pairs.
    team.run([&](int member) {
      float* sc = s.scores.data() + LL * member;
      for (int b = 0, r0 = 0, item = 0; b < nb; r0 += lens[b], ++b) {
        const int n = lens[b];
        for (int h = 0; h < nh; ++h, ++item) {
          if (item % team.size() != member) continue;
          const float* qh = qkv + static_cast<std::size_t>(h) * hd * R + r0;
          const float* kh = qh + static_cast<std::size_t>(H) * R;
          const float* vh = qh + 2 * static_cast<std::size_t>(H) * R;
          float* ch = ctx + static_cast<std::size_t>(h) * hd * R + r0;
          gemm(n, n, hd, scale, {qh, 1, static_cast<inc_t>(R)}, {kh, static_cast<inc_t>(R), 1}, 0.0f, sc, n,
               1);  // scores [n, n] = Q_h K_hᵀ · scale
          softmax_rows(n, sc, n);
          gemm(n, hd, n, 1.0f, {sc, n, 1}, {vh, 1, static_cast<inc_t>(R)}, 0.0f, ch, 1,
               static_cast<inc_t>(R));  // ctx_h [n, hd] = P V_h, stored feature-major
        }
      }
    });
    // --- attention output: LN(Wo·ctx + bo + x) ---------------------------------------
    linear(team, cols, H, H, ctx, L.wo_t, L.bo, tmp);
    add_layer_norm(cols, H, x, tmp, L.ln1_g, L.ln1_b, c.ln_eps, s.mean.data(), s.rstd.data());
    // --- feed-forward: LN(W2·act(W1·x + b1) + b2 + x) ------------------------------
    linear(team, cols, H, F, x, L.w1_t, L.b1, ff, &c.act);
    linear(team, cols, F, H, ff, L.w2_t, L.b2, tmp);
    add_layer_norm(cols, H, x, tmp, L.ln2_g, L.ln2_b, c.ln_eps, s.mean.data(), s.rstd.data());
  }

  // --- pooling over each sequence's columns, then L2 normalisation ------------------
  for (int b = 0, r0 = 0; b < nb; r0 += lens[b], ++b) {
    float* o = out + static_cast<std::size_t>(b) * H;
    const int n = lens[b];
    for (int j = 0; j < H; ++j) {
      const float* xj = x + j * R + r0;  // feature j of this sequence's tokens
      switch (c.pooling) {
        case bert_pooling::cls:
          o[j] = xj[0];
          break;
        case bert_pooling::max:
          o[j] = *std::max_element(xj, xj + n);
          break;
        case bert_pooling::mean:
        case bert_pooling::mean_sqrt_len: {
          double acc = 0;
          for (int i = 0; i < n; ++i) acc += xj[i];
          const double div = c.pooling == bert_pooling::mean ? n : std::sqrt(static_cast<double>(n));
          o[j] = static_cast<float>(acc / div);
          break;
        }
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
