// Prefill's matrix products: aikid's int8 kernels vs BLIS sgemm on
// dequantised weights, on one core, for SmolLM2's matrix shapes.
//
//   prefill_gemm_bench model.gguf [reps=20]
//
// For each shape (rows x n) of the model's Q4_1 layer matrices and each
// batch of tokens (1, 4, 32, 128): the time of
//   int8   matmul_rows over the model's weights (packed when the kernel table
//          packs; activations quantised to Q8_1 inside, as the engine does),
//   sgemm  bli_sgemm on the same weights dequantised to fp32 beforehand
//          (the dequantisation not counted: a 4x larger copy of the model
//          kept in memory),
//   sgemm+dq  the same with the weight panel dequantised in each call (what a
//          prefill without that copy pays).
// Prints a markdown table in GFLOP/s (2 x rows x n x tokens / time).
#include <blis.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "actors/inference/gguf.hpp"
#include "actors/inference/inference.hpp"
#include "actors/inference/model_impl.hpp"

using namespace aikid::inference;
using clk = std::chrono::steady_clock;

namespace {

template <class F>
double best_seconds(int reps, F&& f) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = clk::now();
    f();
    best = std::min(best, std::chrono::duration<double>(clk::now() - t0).count());
  }
  return best;
}

// W (rows x n, row-major fp32) times X^T (tokens x n) -> out (tokens x rows).
void sgemm(const float* w, std::int64_t rows, std::int64_t n, const float* x, int nt, float* out) {
  float one = 1.0f, zero = 0.0f;
  // out^T (rows x nt) = W (rows x n) * X^T (n x nt); out is nt x rows row-major = rows x nt column-major
  bli_sgemm(BLIS_NO_TRANSPOSE, BLIS_TRANSPOSE, rows, nt, n, &one, const_cast<float*>(w), n, 1, const_cast<float*>(x),
            n, 1, &zero, out, 1, rows);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s model.gguf [reps]\n", argv[0]);
    return 2;
  }
  const int reps = argc > 2 ? std::atoi(argv[2]) : 20;
  bli_thread_set_num_threads(1);
  model_options o;
  o.path = argv[1];
  auto m = model::load(o);
  if (!m) {
    std::fprintf(stderr, "%s\n", m.error().message.c_str());
    return 1;
  }
  const model& mdl = **m;
  const kernel_table& k = mdl.kernels();
  const layer_weights& L = mdl.layers()[0];
  // the file's layout of the same matrices, for dequantising
  const gguf_file& f = mdl.file();
  std::printf("kernels %s, weights packed: %s, one thread; GFLOP/s = 2 x rows x n x tokens / best of %d\n\n",
              std::string(k.name).c_str(), L.wq.packed_by ? "yes" : "no", reps);
  std::printf("| matrix | rows x n | tokens | int8 (aikid) | sgemm, fp32 copy | sgemm + dequantise | int8 / best sgemm |\n");
  std::printf("|---|---|---:|---:|---:|---:|---:|\n");
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.f, 1.f);
  for (auto [name, w] : {std::pair{"ffn_up", &L.w_up}, std::pair{"ffn_down", &L.w_down}, std::pair{"attn_q", &L.wq}}) {
    const std::string tname = std::string("blk.0.") + (w == &L.w_up ? "ffn_up" : w == &L.w_down ? "ffn_down" : "attn_q") + ".weight";
    const gguf_tensor* t = f.find_tensor(tname);
    if (!t) return 1;
    const std::int64_t n = w->n, rows = w->rows;
    const std::size_t row_bytes = std::size_t(n / 32) * 20;
    std::vector<float> wf(std::size_t(rows * n));
    auto dequant = [&](float* dst) {
      for (std::int64_t r = 0; r < rows; ++r) dequantize_row(t->type, t->data + std::size_t(r) * row_bytes, dst + r * n, n);
    };
    dequant(wf.data());
    for (int nt : {1, 4, 32, 128}) {
      std::vector<float> x(std::size_t(nt * n)), out(std::size_t(nt * rows));
      for (auto& v : x) v = nd(rng);
      std::vector<activation> acts(static_cast<std::size_t>(nt));
      const double t_int8 = best_seconds(reps, [&] {
        for (int i = 0; i < nt; ++i) activation_quantize(k, w->type, x.data() + std::size_t(i) * std::size_t(n), n, acts[std::size_t(i)]);
        matmul_rows(k, *w, acts.data(), nt, out.data(), std::size_t(rows), 0, rows);
      });
      const double t_sgemm = best_seconds(reps, [&] { sgemm(wf.data(), rows, n, x.data(), nt, out.data()); });
      std::vector<float> panel(wf.size());
      const double t_sgemm_dq = best_seconds(reps, [&] {
        dequant(panel.data());
        sgemm(panel.data(), rows, n, x.data(), nt, out.data());
      });
      const double flop = 2.0 * double(rows) * double(n) * nt;
      std::printf("| %s | %lld x %lld | %d | %.1f | %.1f | %.1f | %.2f |\n", name, (long long)rows, (long long)n, nt,
                  flop / t_int8 / 1e9, flop / t_sgemm / 1e9, flop / t_sgemm_dq / 1e9,
                  std::min(t_sgemm, t_sgemm_dq) / t_int8);
    }
  }
  return 0;
}
