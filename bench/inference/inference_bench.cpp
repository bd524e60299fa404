// Prefill and decode speed of the aikid engine.
//
//   inference_bench <model.gguf> [n_prompt=32] [n_gen=64] [reps=1] [threads=1]
//   inference_bench --bandwidth [threads=1]   (memory read bandwidth, GB/s)
//   inference_bench --greedy <model.gguf> <n_gen> <id,id,...>
//       (the prompt's token ids evaluated in one eval(), then n_gen greedy
//        tokens one eval() each; prints {"tokens":[...]}: used by
//        bench/inference/kquant_bench.py to compare with llama.cpp)
//
// Decode runs at context n_prompt .. n_prompt+n_gen (so n_prompt=2000 gives
// "decode at context 2k"). ttft_ms = prefill time of the prompt (the first
// token's logits are ready then). weight_mb_tok = bytes of quantised weights
// one decode step reads (all layer matrices + the output matrix).
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
#include "actors/inference/model_impl.hpp"
#include <cstring>
#include <thread>
#include <vector>

using namespace aikid::inference;
using clk = std::chrono::steady_clock;

namespace {
double rss_mb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::atof(line.c_str() + 6) / 1024.0;
  }
  return 0;
}
}  // namespace

// Sum of a 256 MB buffer split among `threads` threads, best of 5 passes.
double bandwidth_gbs(int threads) {
  const std::size_t n = std::size_t(256) << 20;
  std::vector<std::uint64_t> buf(n / 8);
  for (std::size_t i = 0; i < buf.size(); ++i) buf[i] = i;
  double best = 1e30;
  std::vector<std::uint64_t> sinks(std::size_t(threads) * 8);
  for (int r = 0; r < 5; ++r) {
    const auto t0 = clk::now();
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
      ts.emplace_back([&, t] {
        const std::size_t per = buf.size() / std::size_t(threads) / 4 * 4;
        const std::size_t lo = per * std::size_t(t), hi = lo + per;
        std::uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (std::size_t i = lo; i < hi; i += 4) {
          s0 += buf[i]; s1 += buf[i + 1]; s2 += buf[i + 2]; s3 += buf[i + 3];
        }
        sinks[std::size_t(t) * 8] = s0 + s1 + s2 + s3;
      });
    }
    for (auto& th : ts) th.join();
    best = std::min(best, std::chrono::duration<double>(clk::now() - t0).count());
  }
  std::uint64_t all = 0;
  for (auto v : sinks) all += v;
  if (all == 42) std::fputs("", stderr);  // keeps the sums alive
  return double(buf.size() / std::size_t(threads) / 4 * 4 * std::size_t(threads) * 8) / best / 1e9;
}

std::size_t mat_bytes(const weight_view& w) { return std::size_t(w.rows) * w.row_bytes; }

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "--bandwidth") == 0) {
    const int threads = argc > 2 ? std::max(1, std::atoi(argv[2])) : 1;
    std::printf("{\"threads\":%d,\"read_gbs\":%.2f}\n", threads, bandwidth_gbs(threads));
    return 0;
  }
  if (argc >= 5 && std::strcmp(argv[1], "--greedy") == 0) {
    model_options go;
    go.path = argv[2];
    go.threads = 1;
    const int n_gen = std::atoi(argv[3]);
    std::vector<std::int32_t> ids;
    for (const char* p = argv[4]; *p;) {
      char* end = nullptr;
      ids.push_back(std::int32_t(std::strtol(p, &end, 10)));
      if (end == p) {
        std::fprintf(stderr, "--greedy: bad token id list '%s'\n", argv[4]);
        return 2;
      }
      p = *end == ',' ? end + 1 : end;
    }
    auto gm = model::load(go);
    if (!gm) {
      std::fprintf(stderr, "%s\n", gm.error().message.c_str());
      return 1;
    }
    session s(**gm, int(ids.size()) + n_gen + 8);
    if (auto r = s.eval(ids); !r) {
      std::fprintf(stderr, "%s\n", r.error().message.c_str());
      return 1;
    }
    std::printf("{\"tokens\":[");
    for (int i = 0; i < n_gen; ++i) {
      const std::int32_t tok = std::int32_t(std::max_element(s.logits().begin(), s.logits().end()) - s.logits().begin());
      std::printf("%s%d", i ? "," : "", tok);
      const std::int32_t one[] = {tok};
      if (!s.eval(one)) return 1;
    }
    std::printf("]}\n");
    return 0;
  }
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s model.gguf [n_prompt] [n_gen] [reps]\n", argv[0]);
    return 2;
  }
  model_options o;
  o.path = argv[1];
  const int n_prompt = argc > 2 ? std::atoi(argv[2]) : 32;
  const int n_gen = argc > 3 ? std::atoi(argv[3]) : 64;
  const int reps = argc > 4 ? std::atoi(argv[4]) : 1;
  o.threads = argc > 5 ? std::atoi(argv[5]) : 1;
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

  std::vector<double> t_prefill, t_decode;  // medians are reported
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
    t_prefill.push_back(std::chrono::duration<double>(t1 - t0).count());
    t_decode.push_back(std::chrono::duration<double>(t2 - t1).count());
  }
  std::sort(t_prefill.begin(), t_prefill.end());
  std::sort(t_decode.begin(), t_decode.end());
  const double best_prefill = t_prefill[t_prefill.size() / 2], best_decode = t_decode[t_decode.size() / 2];
  std::size_t wbytes = mat_bytes(mdl.global_weights().output);
  for (const auto& L : mdl.layers()) {
    for (const weight_view* w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) wbytes += mat_bytes(*w);
  }
  std::printf(
      "{\"engine\":\"aikid\",\"kernels\":\"%s\",\"packed\":%s,\"threads\":%d,\"n_prompt\":%d,\"prefill_tok_s\":%.2f,"
      "\"ttft_ms\":%.2f,\"n_gen\":%d,\"decode_tok_s\":%.2f,\"weight_mb_tok\":%.2f,\"rss_mb\":%.1f}\n",
      mdl.info().kernels.c_str(), mdl.global_weights().output.packed_by ? "true" : "false", mdl.info().n_threads, n_prompt, n_prompt / best_prefill, best_prefill * 1e3, n_gen,
      n_gen / best_decode, double(wbytes) / 1e6, rss_mb());
  return 0;
}
