// Prefill and decode speed of the aikid engine on one thread.
//
//   inference_bench <model.gguf> [n_prompt=32] [n_gen=64] [reps=1]
//
// Prefill: a plain-text prompt of exactly n_prompt tokens evaluated in one
// eval() call. Decode: n_gen greedy tokens, one eval() each. Prints one JSON
// line (read by bench/inference/bench.py, which also runs llama-cpp-python):
//   {"engine":"aikid","n_prompt":32,"prefill_tok_s":...,"n_gen":64,"decode_tok_s":...,"rss_mb":...}
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "actors/inference/inference.hpp"

using namespace aikid::inference;
using clk = std::chrono::steady_clock;

namespace {
double rss_mb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atof(line.c_str() + 6) / 1024.0;
  }
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s model.gguf [n_prompt] [n_gen] [reps]\n", argv[0]);
    return 2;
  }
  model_options o;
  o.path = argv[1];
  const int n_prompt = argc > 2 ? std::atoi(argv[2]) : 32;
  const int n_gen = argc > 3 ? std::atoi(argv[3]) : 64;
  const int reps = argc > 4 ? std::atoi(argv[4]) : 1;
  auto m = model::load(o);
  if (!m) {
    std::fprintf(stderr, "%s\n", m.error().message.c_str());
    return 1;
  }
  const model& mdl = **m;
  // a prompt of exactly n_prompt tokens (the same text bench.py gives llama.cpp)
  std::string text;
  std::vector<std::int32_t> prompt;
  while (int(prompt.size()) < n_prompt) {
    text += "The quick brown fox jumps over the lazy dog near the river bank. ";
    prompt = mdl.tokenize(text);
  }
  prompt.resize(std::size_t(n_prompt));

  double best_prefill = 1e30, best_decode = 1e30;
  for (int r = 0; r < reps; ++r) {
    session s(mdl, n_prompt + n_gen + 8);
    const auto t0 = clk::now();
    if (!s.eval(prompt)) return 1;
    const auto t1 = clk::now();
    std::int32_t tok = std::int32_t(std::max_element(s.logits().begin(), s.logits().end()) - s.logits().begin());
    for (int i = 0; i < n_gen; ++i) {
      const std::int32_t one[] = {tok};
      if (!s.eval(one)) return 1;
      tok = std::int32_t(std::max_element(s.logits().begin(), s.logits().end()) - s.logits().begin());
    }
    const auto t2 = clk::now();
    best_prefill = std::min(best_prefill, std::chrono::duration<double>(t1 - t0).count());
    best_decode = std::min(best_decode, std::chrono::duration<double>(t2 - t1).count());
  }
  std::printf(
      "{\"engine\":\"aikid\",\"kernels\":\"%s\",\"n_prompt\":%d,\"prefill_tok_s\":%.2f,\"n_gen\":%d,"
      "\"decode_tok_s\":%.2f,\"rss_mb\":%.1f}\n",
      mdl.info().kernels.c_str(), n_prompt, n_prompt / best_prefill, n_gen, n_gen / best_decode, rss_mb());
  return 0;
}
