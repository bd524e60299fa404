// Embedding engine benchmark: single-sentence latency (p50/p99) at fixed token
// counts, throughput at batch 1/8/32, achieved GFLOP/s and BLIS's measured
// sgemm peak, for 1 and 2 threads. Prints one JSON object per measurement
// (bench/embedding/run_bench.py runs this next to sentence-transformers and
// writes the table).
//
//   embedding_bench [--model DIR] [--threads 1,2] [--quick]
#include <blis.h>

#include <algorithm>
#include <numeric>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/embedding/bert.hpp"
#include "actors/embedding/embedding.hpp"

using namespace aikid::embedding;
using clk = std::chrono::steady_clock;

namespace {

double seconds_since(clk::time_point t0) { return std::chrono::duration<double>(clk::now() - t0).count(); }

// Process CPU seconds (all threads): on a shared machine the wall clock also
// counts time spent waiting for a core; CPU time does not.
double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + t.tv_nsec * 1e-9;
}

// A sentence of exactly n tokens incl. [CLS]/[SEP] (each word is one token).
std::string sentence_of(encoder& e, int n) {
  static const char* words[] = {"the", "cat", "sat", "on", "a", "mat", "and", "we", "went", "home", "after",
                                "dinner", "with", "my", "old", "friend", "from", "school", "in", "oslo"};
  std::string s;
  for (int i = 0; i < n - 2; ++i) s += std::string(i ? " " : "") + words[i % 20];
  auto ids = e.tokenize(s);
  if (!ids || static_cast<int>(ids->size()) != n) std::fprintf(stderr, "warning: %d-token sentence has %zu\n", n, ids ? ids->size() : 0);
  return s;
}

// GFLOP/s of a square BLIS sgemm, best of several runs.
double blis_peak(int threads, int n = 512) {
  std::vector<float> a(n * n, 0.5f), b(n * n, 0.25f), c(n * n, 0.0f);
  rntm_t rntm;
  bli_rntm_init(&rntm);
  bli_rntm_set_num_threads(threads, &rntm);
  float one = 1.0f, zero = 0.0f;
  double best = 0;
  for (int r = 0; r < 30; ++r) {
    auto t0 = clk::now();
    bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, n, n, n, &one, a.data(), n, 1, b.data(), n, 1, &zero, c.data(), n,
                 1, nullptr, &rntm);
    best = std::max(best, 2.0 * n * n * n / seconds_since(t0) / 1e9);
  }
  return best;
}

std::vector<std::string> corpus_sentences() {
  std::vector<std::string> out;
  std::ifstream in(std::string(AIKID_SOURCE_DIR) + "/tests/embedding/fixtures/minilm_sentences.jsonl");
  std::string line;
  bool first = true;
  while (std::getline(in, line)) {
    if (first) { first = false; continue; }
    auto j = nlohmann::json::parse(line);
    auto t = j.at("text").get<std::string>();
    auto n = j.at("ids").size();
    if (n >= 6 && n <= 40) out.push_back(t);  // everyday sentences, not the stress cases
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  aikid::embedding::blis_arch_pick();  // before BLIS's first call (embedding.hpp)
  std::string model = std::string(AIKID_MODELS_DIR) + "/all-MiniLM-L6-v2";
  std::vector<int> thread_list{1, 2};
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--model" && i + 1 < argc) model = argv[++i];
    else if (a == "--threads" && i + 1 < argc) {
      thread_list.clear();
      std::string s = argv[++i];
      for (std::size_t p = 0; p < s.size();) {
        auto q = s.find(',', p);
        thread_list.push_back(std::stoi(s.substr(p, q - p)));
        p = q == std::string::npos ? s.size() : q + 1;
      }
    } else if (a == "--quick") quick = true;
  }
  auto loaded = encoder::load({model, 1, 32});
  if (!loaded) {
    std::fprintf(stderr, "load: %s\n", loaded.error().message.c_str());
    return 1;
  }
  encoder& e = **loaded;
  auto cfg = bert_config_load(model);
  const auto corpus = corpus_sentences();

  for (int threads : thread_list) {
    e.set_threads(threads);
    std::printf("{\"kind\":\"peak\",\"threads\":%d,\"gflops\":%.1f}\n", threads, blis_peak(threads));
    // --- latency -----------------------------------------------------------
    for (int n : {8, 16, 32, 128}) {
      const std::string s = sentence_of(e, n);
      const int reps = quick ? 20 : (n <= 32 ? 300 : 60);
      for (int w = 0; w < 10; ++w) (void)e.encode({s});
      std::vector<double> ms, cpu_ms;
      for (int r = 0; r < reps; ++r) {
        const double c0 = cpu_seconds();
        auto t0 = clk::now();
        auto out = e.encode({s});
        ms.push_back(seconds_since(t0) * 1e3);
        cpu_ms.push_back((cpu_seconds() - c0) * 1e3);
        if (!out) return 1;
      }
      std::sort(ms.begin(), ms.end());
      std::sort(cpu_ms.begin(), cpu_ms.end());
      const double p50 = ms[ms.size() / 2], p99 = ms[std::min(ms.size() - 1, ms.size() * 99 / 100)];
      const double cpu50 = cpu_ms[cpu_ms.size() / 2];
      const double gf = bert_flops(*cfg, {n}) / (p50 * 1e-3) / 1e9;
      std::printf("{\"kind\":\"latency\",\"threads\":%d,\"tokens\":%d,\"p50_ms\":%.3f,\"p99_ms\":%.3f,"
                  "\"cpu_p50_ms\":%.3f,\"gflops\":%.1f}\n",
                  threads, n, p50, p99, cpu50, gf);
      std::fflush(stdout);
    }
    // --- throughput --------------------------------------------------------
    for (int batch : {1, 8, 32}) {
      const std::size_t total = quick ? 64 : 512;
      std::vector<std::string> texts;
      for (std::size_t i = 0; i < total; ++i) texts.push_back(corpus[i % corpus.size()]);
      double flops = 0;
      std::vector<int> lens;
      for (auto& t : texts) lens.push_back(static_cast<int>(e.tokenize(t)->size()));
      flops = bert_flops(*cfg, lens);
      (void)e.encode(std::vector<std::string>(texts.begin(), texts.begin() + batch));  // warm-up
      const double c0 = cpu_seconds();
      auto t0 = clk::now();
      for (std::size_t i = 0; i < total; i += batch) {
        std::vector<std::string> chunk(texts.begin() + i, texts.begin() + std::min(total, i + batch));
        if (!e.encode(chunk)) return 1;
      }
      const double sec = seconds_since(t0), cpu = cpu_seconds() - c0;
      std::printf("{\"kind\":\"throughput\",\"threads\":%d,\"batch\":%d,\"sentences_per_s\":%.1f,\"gflops\":%.1f,"
                  "\"cpu_s\":%.3f,\"mean_tokens\":%.1f}\n",
                  threads, batch, total / sec, flops / sec / 1e9, cpu,
                  static_cast<double>(std::accumulate(lens.begin(), lens.end(), 0)) / lens.size());
      std::fflush(stdout);
    }
  }
  return 0;
}
