// Mat-vec speed of aikid's Q4_K / Q6_K / Q5_0 / Q8_0 dot kernels against
// llama.cpp's own (ggml-cpu's vec_dot, loaded from llama-cpp-python's
// libggml-cpu.so with dlopen), same weights, same activation, same process.
//
//   kquant_dot_bench <path/to/libggml-cpu.so> [reps=200]
//
// Contents: ggml_api (the three ggml symbols used), run_case (one type and
// shape: quantise random weights with ggml_quantize_chunk, convert one
// activation each way, time W·x row by row for llama.cpp and with matvec
// for aikid, count bit-identical rows), main (prints one JSON line per case,
// read by bench/inference/kquant_bench.py).
//
// llama.cpp's matmul calls vec_dot once per row for these types when the
// weights are not repacked, so its column here is that loop on one thread;
// aikid's is kernels_select()'s matvec (the same kernels decode uses). Both
// read the same bytes; GB/s = weight bytes / time. A missing library or
// symbol is reported on stderr with exit code 2.
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "actors/inference/kernels.hpp"
#include "actors/inference/quants.hpp"

using namespace aikid::inference;
using clk = std::chrono::steady_clock;

namespace {

struct ggml_traits_cpu {
  void (*from_float)(const float* x, void* y, std::int64_t k);
  void (*vec_dot)(int n, float* s, std::size_t bs, const void* x, std::size_t bx, const void* y, std::size_t by,
                  int nrc);
  int vec_dot_type;
  std::int64_t nrows;
};

struct ggml_api {
  const ggml_traits_cpu* (*traits)(int type) = nullptr;
  void (*cpu_init)() = nullptr;
  std::size_t (*quantize_chunk)(int type, const float* src, void* dst, std::int64_t start, std::int64_t nrows,
                                std::int64_t n_per_row, const float* imatrix) = nullptr;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void run_case(const ggml_api& g, ggml_type t, std::int64_t n, std::int64_t rows, int reps) {
  const auto tr = *type_traits_of(std::uint32_t(t));
  const std::size_t row_bytes = std::size_t(n / tr.block) * std::size_t(tr.block_bytes);
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> wf(std::size_t(n * rows));
  for (auto& v : wf) v = nd(rng) * 0.05f;
  std::vector<std::byte> w(row_bytes * std::size_t(rows));
  g.quantize_chunk(int(t), wf.data(), w.data(), 0, rows, n, nullptr);
  std::vector<float> x(static_cast<std::size_t>(n));
  for (auto& v : x) v = nd(rng);

  const kernel_table& k = kernels_select();
  activation a;
  activation_quantize(k, t, x.data(), n, a);
  const ggml_traits_cpu* tw = g.traits(int(t));
  const ggml_traits_cpu* ta = g.traits(tw->vec_dot_type);
  std::vector<std::byte> theirs_act(a.data.size());
  ta->from_float(x.data(), theirs_act.data(), n);
  const bool same_act = theirs_act == a.data;

  const weight_view wv{t, n, rows, row_bytes, w.data()};
  std::vector<float> ours(static_cast<std::size_t>(rows)), theirs(static_cast<std::size_t>(rows));
  std::vector<double> t_ours, t_theirs;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = clk::now();
    matvec(k, wv, a, ours.data(), 0, rows);
    const auto t1 = clk::now();
    for (std::int64_t i = 0; i < rows; ++i) {
      tw->vec_dot(int(n), &theirs[std::size_t(i)], 0, wv.row(i), 0, theirs_act.data(), 0, 1);
    }
    const auto t2 = clk::now();
    t_ours.push_back(std::chrono::duration<double>(t1 - t0).count());
    t_theirs.push_back(std::chrono::duration<double>(t2 - t1).count());
  }
  int identical = 0;
  for (std::int64_t i = 0; i < rows; ++i) identical += std::memcmp(&ours[std::size_t(i)], &theirs[std::size_t(i)], 4) == 0;
  const double mo = median(t_ours), mt = median(t_theirs);
  const double mb = double(w.size()) / 1e6;
  std::printf(
      "{\"type\":\"%s\",\"n\":%lld,\"rows\":%lld,\"weight_mb\":%.3f,\"kernels\":\"%s\",\"aikid_us\":%.2f,"
      "\"llama_cpp_us\":%.2f,\"aikid_gbs\":%.2f,\"llama_cpp_gbs\":%.2f,\"same_activation\":%s,\"identical_rows\":%d}\n",
      std::string(tr.name).c_str(), static_cast<long long>(n), static_cast<long long>(rows), mb,
      std::string(k.name).c_str(), mo * 1e6, mt * 1e6, mb / 1e3 / mo, mb / 1e3 / mt, same_act ? "true" : "false",
      identical);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s path/to/libggml-cpu.so [reps]\n", argv[0]);
    return 2;
  }
  void* h = dlopen(argv[1], RTLD_NOW | RTLD_GLOBAL);
  if (!h) {
    std::fprintf(stderr, "dlopen %s: %s\n", argv[1], dlerror());
    return 2;
  }
  ggml_api g;
  g.traits = reinterpret_cast<decltype(g.traits)>(dlsym(h, "ggml_get_type_traits_cpu"));
  g.cpu_init = reinterpret_cast<decltype(g.cpu_init)>(dlsym(h, "ggml_cpu_init"));
  g.quantize_chunk = reinterpret_cast<decltype(g.quantize_chunk)>(dlsym(RTLD_DEFAULT, "ggml_quantize_chunk"));
  if (!g.traits || !g.cpu_init || !g.quantize_chunk) {
    std::fprintf(stderr, "%s: ggml_get_type_traits_cpu / ggml_cpu_init / ggml_quantize_chunk not found\n", argv[1]);
    return 2;
  }
  g.cpu_init();
  const int reps = argc > 2 ? std::max(1, std::atoi(argv[2])) : 200;
  // SmolLM2's ffn_down shape (1536 x 576, fits in L2) and a 4096 x 4096
  // matrix of a 7B-class model (read from memory)
  for (ggml_type t : {ggml_type::q4_k, ggml_type::q6_k, ggml_type::q5_0, ggml_type::q8_0}) {
    run_case(g, t, 1536, 576, reps);
    run_case(g, t, 4096, 4096, std::max(1, reps / 20));
  }
  return 0;
}
