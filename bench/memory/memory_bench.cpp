// memory_bench: in-process numbers for the memory engine, driven by
// run_bench.py (which runs the peers on the same data in the same run).
//
//   memory_bench search DATA QUERIES OUT_IDS FLAT_MAX EF_SEARCH WORKDIR
//     loads DATA (int32 n, int32 dim, n*dim float32) with add_batch, waits
//     for the background HNSW build when n > FLAT_MAX, then times one
//     search(top_k=10) per query for each efSearch in EF_SEARCH (a comma
//     list); writes the ids to OUT_IDS.<ef> (int64, q*10, id-1 = row) and
//     prints one JSON line per ef with p50/p99 latency in µs.
//   memory_bench adds WORKDIR THREADS COUNT DIM
//     durable adds (one sync each, group commit across threads); prints
//     adds per second.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <random>
#include <thread>

#include "actors/memory/memory.hpp"

using namespace aikid::memory;
using clk = std::chrono::steady_clock;

static std::vector<float> read_matrix(const char* path, int& n, int& dim) {
  std::ifstream in(path, std::ios::binary);
  in.read(reinterpret_cast<char*>(&n), 4);
  in.read(reinterpret_cast<char*>(&dim), 4);
  std::vector<float> m(static_cast<std::size_t>(n) * dim);
  in.read(reinterpret_cast<char*>(m.data()), m.size() * 4);
  if (!in) {
    std::cerr << path << ": short read\n";
    std::exit(2);
  }
  return m;
}

static double seconds_since(clk::time_point t) { return std::chrono::duration<double>(clk::now() - t).count(); }

static int run_search(char** argv) {
  int n, dim, qn, qdim;
  const auto data = read_matrix(argv[2], n, dim);
  const auto queries = read_matrix(argv[3], qn, qdim);
  store_options o;
  o.dir = argv[7];
  o.dim = dim;
  o.flat_max = std::stoul(argv[5]);
  std::vector<int> efs;  // EF_SEARCH may be a list: 64,128
  for (std::string e, list = argv[6]; !list.empty();) {
    const auto c = list.find(',');
    e = list.substr(0, c);
    list = c == std::string::npos ? "" : list.substr(c + 1);
    efs.push_back(std::stoi(e));
  }
  o.hnsw_ef_search = efs.front();
  o.dedup_threshold = 2.0;
  o.model_id = "bench";
  std::filesystem::remove_all(o.dir);
  auto s = store::open(o);
  if (!s) {
    std::cerr << s.error().message << "\n";
    return 1;
  }
  auto t0 = clk::now();
  for (int i = 0; i < n; i += 2000) {
    std::vector<new_memory> batch;
    for (int j = i; j < std::min(n, i + 2000); ++j)
      batch.push_back({"user", "memory " + std::to_string(j), {{"j", j}},
                       std::vector<float>(data.begin() + std::size_t(j) * dim, data.begin() + std::size_t(j + 1) * dim)});
    auto r = (*s)->add_batch(std::move(batch));
    if (!r) {
      std::cerr << r.error().message << "\n";
      return 1;
    }
  }
  const double load_s = seconds_since(t0);
  t0 = clk::now();
  if (static_cast<std::size_t>(n) > o.flat_max)
    while (!((*s)->stats()["index"]["kind"] == "hnsw" && (*s)->stats()["index"]["flat_rows"] == 0))
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const double build_s = seconds_since(t0);
  for (int ef : efs) {
    (*s)->set_ef_search(ef);
    std::vector<double> us;
    std::vector<std::int64_t> ids(static_cast<std::size_t>(qn) * 10, -1);
    for (int rep = 0; rep < 2; ++rep) {  // the first pass warms caches
      us.clear();
      for (int qi = 0; qi < qn; ++qi) {
        query q;
        q.vector.assign(queries.begin() + std::size_t(qi) * dim, queries.begin() + std::size_t(qi + 1) * dim);
        q.top_k = 10;
        const auto a = clk::now();
        auto h = (*s)->search(q);
        us.push_back(std::chrono::duration<double, std::micro>(clk::now() - a).count());
        for (std::size_t k = 0; k < h->size() && k < 10; ++k) ids[std::size_t(qi) * 10 + k] = (*h)[k].rec.id - 1;
      }
    }
    std::ofstream out(std::string(argv[4]) + "." + std::to_string(ef), std::ios::binary);
    out.write(reinterpret_cast<const char*>(ids.data()), ids.size() * 8);
    std::sort(us.begin(), us.end());
    auto pct = [&](double p) { return us[std::min(us.size() - 1, static_cast<std::size_t>(p * us.size()))]; };
    nlohmann::json j = {{"n", n},          {"dim", dim},           {"ef", ef},
                        {"load_s", load_s}, {"build_s", build_s},   {"p50_us", pct(0.50)},
                        {"p99_us", pct(0.99)}, {"index", (*s)->stats()["index"]}};
    std::cout << j.dump() << std::endl;
  }
  s->reset();
  std::filesystem::remove_all(o.dir);
  return 0;
}

static int run_adds(char** argv) {
  store_options o;
  o.dir = argv[2];
  const int threads = std::stoi(argv[3]), count = std::stoi(argv[4]);
  o.dim = std::stoi(argv[5]);
  o.model_id = "bench";
  std::filesystem::remove_all(o.dir);
  auto s = store::open(o);
  if (!s) return 1;
  std::vector<std::thread> ts;
  std::atomic<int> failed{0};
  const auto t0 = clk::now();
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      std::mt19937 g(t);
      std::normal_distribution<float> nd;
      for (int i = 0; i < count / threads; ++i) {
        std::vector<float> v(o.dim);
        for (auto& x : v) x = nd(g);
        if (!(*s)->add("user" + std::to_string(t), "memory", {{"i", i}}, std::move(v))) ++failed;
      }
    });
  for (auto& t : ts) t.join();
  const double secs = seconds_since(t0);
  const auto st = (*s)->stats();
  nlohmann::json j = {{"threads", threads},
                      {"adds", count},
                      {"failed", failed.load()},
                      {"seconds", secs},
                      {"adds_per_s", count / secs},
                      {"batches", st["batches"]}};
  std::cout << j.dump() << std::endl;
  s->reset();
  std::filesystem::remove_all(o.dir);
  return 0;
}

int main(int argc, char** argv) {
  if (argc >= 8 && std::string(argv[1]) == "search") return run_search(argv);
  if (argc >= 6 && std::string(argv[1]) == "adds") return run_adds(argv);
  std::cerr << "usage: memory_bench search DATA QUERIES OUT_IDS FLAT_MAX EF_SEARCH WORKDIR\n"
               "       memory_bench adds WORKDIR THREADS COUNT DIM\n";
  return 2;
}
