// memory_bench: in-process numbers for the memory engine, driven by
// run_bench.py (which runs the peers on the same data in the same run).
//
//   memory_bench search DATA QUERIES OUT_IDS FLAT_MAX EF_SEARCH WORKDIR
//     loads DATA (int32 n, int32 dim, n*dim float32) with add_batch, waits
//     for the background HNSW build when n > FLAT_MAX, then times one
//     search(top_k=10) per query for each efSearch in EF_SEARCH (a comma
//     list); writes the ids to OUT_IDS.<ef> (int64, q*10, id-1 = row) and
//     prints one JSON line per ef with p50/p99 latency in µs.
//   memory_bench build DATA DIR FLAT_MAX M EFC MODEL
//     the BUILD phase: a fresh store in DIR (a daemon's DATA_DIR/memory)
//     holding DATA (ids 1..n in row order), HNSW (M, EFC) built when
//     n > FLAT_MAX, vectors recorded as made by MODEL (the daemon's embedder
//     id, so that it re-embeds nothing), snapshot written; prints JSON.
//   memory_bench query DIR QUERIES OUT_IDS FLAT_MAX EF_SEARCH MODEL
//     the QUERY phase: opens DIR (index from the snapshot; warns on stderr
//     when it had to rebuild) and times searches as `search` does.
//   memory_bench adds WORKDIR THREADS COUNT DIM
//     durable adds (one sync each, group commit across threads); prints
//     adds per second.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <thread>

#include "actors/memory/memory.hpp"

using namespace aikid::memory;
using clk = std::chrono::steady_clock;

// Reads DATA/QUERIES; exits with the path and reason when short or missing.
static std::vector<float> read_matrix(const char* path, int& n, int& dim) {
  std::ifstream in(path, std::ios::binary);
  in.read(reinterpret_cast<char*>(&n), 4);
  in.read(reinterpret_cast<char*>(&dim), 4);
  if (!in || n < 1 || dim < 1) {
    std::cerr << path << ": missing, or not a matrix file (int32 n, int32 dim, floats)\n";
    std::exit(2);
  }
  std::vector<float> m(static_cast<std::size_t>(n) * dim);
  in.read(reinterpret_cast<char*>(m.data()), m.size() * 4);
  if (!in) {
    std::cerr << path << ": short read\n";
    std::exit(2);
  }
  return m;
}

static double seconds_since(clk::time_point t) { return std::chrono::duration<double>(clk::now() - t).count(); }

// "64,128" -> {64, 128}; exits with the reason on a malformed list.
static std::vector<int> parse_efs(const std::string& arg) {
  std::vector<int> efs;
  for (std::string e, list = arg; !list.empty();) {
    const auto c = list.find(',');
    e = list.substr(0, c);
    list = c == std::string::npos ? "" : list.substr(c + 1);
    try {
      efs.push_back(std::stoi(e));
    } catch (const std::exception&) {
      std::cerr << "EF_SEARCH: '" << e << "' is not a number\n";
      std::exit(2);
    }
  }
  if (efs.empty()) {
    std::cerr << "EF_SEARCH: empty list\n";
    std::exit(2);
  }
  return efs;
}

// Opens (or creates) the store; exits with the store's error message on failure.
static std::unique_ptr<store> store_open_or_exit(const store_options& o) {
  auto s = store::open(o);
  if (!s) {
    std::cerr << o.dir << ": " << s.error().message << "\n";
    std::exit(1);
  }
  return std::move(*s);
}

// Adds DATA's rows (user "bench", text "memory <row>", meta {"j": row}) in
// batches of 2000, so that id - 1 = row, then waits for the background HNSW
// build when n > flat_max. Returns {load seconds, build seconds}; exits with
// the engine's message when an add fails.
static std::pair<double, double> store_fill(store& s, const std::vector<float>& data, int n, int dim,
                                            std::size_t flat_max) {
  auto t0 = clk::now();
  for (int i = 0; i < n; i += 2000) {
    std::vector<new_memory> batch;
    for (int j = i; j < std::min(n, i + 2000); ++j)
      batch.push_back({"bench", "memory " + std::to_string(j), {{"j", j}},
                       std::vector<float>(data.begin() + std::size_t(j) * dim, data.begin() + std::size_t(j + 1) * dim), {}});
    auto r = s.add_batch(std::move(batch));
    if (!r) {
      std::cerr << "add_batch at row " << i << ": " << r.error().message << "\n";
      std::exit(1);
    }
  }
  const double load_s = seconds_since(t0);
  t0 = clk::now();
  // once a second is plenty: a build that gets here takes minutes
  if (static_cast<std::size_t>(n) > flat_max)
    while (true) {
      const auto ix = s.stats()["index"];
      if (ix["kind"] == "hnsw" && ix["flat_rows"] == 0) break;
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  return {load_s, seconds_since(t0)};
}

// Times one search(top_k=10) per query for each ef (two passes, the first
// warms caches), writes the ids to OUT_IDS.<ef> (int64, q*10, id-1 = row,
// -1 = none) and prints one JSON line per ef. Exits on a failed search or an
// unwritable OUT_IDS.
static void searches_time(store& s, const std::vector<float>& queries, int qn, int dim, const std::vector<int>& efs,
                          const std::string& out_ids, nlohmann::json extra) {
  for (int ef : efs) {
    s.set_ef_search(ef);
    std::vector<double> us;
    std::vector<std::int64_t> ids(static_cast<std::size_t>(qn) * 10, -1);
    for (int rep = 0; rep < 2; ++rep) {
      us.clear();
      for (int qi = 0; qi < qn; ++qi) {
        query q;
        q.vector.assign(queries.begin() + std::size_t(qi) * dim, queries.begin() + std::size_t(qi + 1) * dim);
        q.top_k = 10;
        const auto a = clk::now();
        auto h = s.search(q);
        us.push_back(std::chrono::duration<double, std::micro>(clk::now() - a).count());
        if (!h) {
          std::cerr << "search " << qi << " (ef " << ef << "): " << h.error().message << "\n";
          std::exit(1);
        }
        for (std::size_t k = 0; k < h->size() && k < 10; ++k) ids[std::size_t(qi) * 10 + k] = (*h)[k].rec.id - 1;
      }
    }
    const std::string path = out_ids + "." + std::to_string(ef);
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(ids.data()), static_cast<std::streamsize>(ids.size() * 8));
    if (!out) {
      std::cerr << path << ": cannot write\n";
      std::exit(1);
    }
    std::sort(us.begin(), us.end());
    auto pct = [&](double p) { return us[std::min(us.size() - 1, static_cast<std::size_t>(p * us.size()))]; };
    nlohmann::json j = extra;
    j.update({{"dim", dim}, {"ef", ef}, {"p50_us", pct(0.50)}, {"p99_us", pct(0.99)}, {"index", s.stats()["index"]}});
    std::cout << j.dump() << std::endl;
  }
}

// The options every phase opens its store with: DIR, vectors of DIM, exact
// below FLAT_MAX, vectors made by MODEL, dedup off (no cosine reaches 2).
static store_options bench_options(std::filesystem::path dir, int dim, std::size_t flat_max, std::string model) {
  store_options o;
  o.dir = std::move(dir);
  o.dim = dim;
  o.flat_max = flat_max;
  o.model_id = std::move(model);
  o.dedup_threshold = 2.0;
  return o;
}

static int run_search(char** argv) {
  int n, dim, qn, qdim;
  const auto data = read_matrix(argv[2], n, dim);
  const auto queries = read_matrix(argv[3], qn, qdim);
  store_options o = bench_options(argv[7], dim, std::stoul(argv[5]), "bench");
  const auto efs = parse_efs(argv[6]);
  o.hnsw_ef_search = efs.front();
  std::filesystem::remove_all(o.dir);
  auto s = store_open_or_exit(o);
  const auto [load_s, build_s] = store_fill(*s, data, n, dim, o.flat_max);
  searches_time(*s, queries, qn, dim, efs, argv[4], {{"n", n}, {"load_s", load_s}, {"build_s", build_s}});
  s.reset();
  std::filesystem::remove_all(o.dir);
  return 0;
}

// memory_bench build DATA DIR FLAT_MAX M EFC MODEL: a fresh store in DIR
// (the daemon's DATA_DIR/memory) holding DATA, its index built and saved.
static int run_build(char** argv) {
  int n, dim;
  const auto data = read_matrix(argv[2], n, dim);
  store_options o = bench_options(argv[3], dim, std::stoul(argv[4]), argv[7]);
  o.hnsw_m = std::stoi(argv[5]);
  o.hnsw_ef_construction = std::stoi(argv[6]);
  std::filesystem::remove_all(o.dir);
  auto s = store_open_or_exit(o);
  const auto [load_s, build_s] = store_fill(*s, data, n, dim, o.flat_max);
  const auto t0 = clk::now();
  if (auto r = s->snapshot(); !r) {
    std::cerr << o.dir << ": snapshot: " << r.error().message << "\n";
    return 1;
  }
  nlohmann::json j = {{"n", n},           {"dim", dim},           {"load_s", load_s},
                      {"build_s", build_s}, {"snapshot_s", seconds_since(t0)}, {"index", s->stats()["index"]}};
  s.reset();
  std::cout << j.dump() << std::endl;
  return 0;
}

// memory_bench query DIR QUERIES OUT_IDS FLAT_MAX EF_SEARCH MODEL: opens the
// store built by `build` (index from its snapshot) and times searches.
static int run_query(char** argv) {
  int qn, dim;
  const auto queries = read_matrix(argv[3], qn, dim);
  store_options o = bench_options(argv[2], dim, std::stoul(argv[5]), argv[7]);
  const auto efs = parse_efs(argv[6]);
  o.hnsw_ef_search = efs.front();
  std::string rebuilt;
  o.log = [&](std::string_view line) {
    if (line.find("rebuilding") != std::string_view::npos) rebuilt = line;
  };
  if (!std::filesystem::exists(o.dir / "memory.db")) {
    std::cerr << o.dir << ": no memory.db (run the build phase first)\n";
    return 1;
  }
  const auto t0 = clk::now();
  auto s = store_open_or_exit(o);
  const double open_s = seconds_since(t0);
  if (!rebuilt.empty()) std::cerr << "warning: " << rebuilt << "\n";
  searches_time(*s, queries, qn, dim, efs, argv[4],
                {{"n", s->size()}, {"open_s", open_s}, {"snapshot_used", rebuilt.empty()}});
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
  if (argc >= 8 && std::string(argv[1]) == "build") return run_build(argv);
  if (argc >= 8 && std::string(argv[1]) == "query") return run_query(argv);
  if (argc >= 6 && std::string(argv[1]) == "adds") return run_adds(argv);
  std::cerr << "usage: memory_bench search DATA QUERIES OUT_IDS FLAT_MAX EF_SEARCH WORKDIR\n"
               "       memory_bench build DATA DIR FLAT_MAX M EFC MODEL\n"
               "       memory_bench query DIR QUERIES OUT_IDS FLAT_MAX EF_SEARCH MODEL\n"
               "       memory_bench adds WORKDIR THREADS COUNT DIM\n";
  return 2;
}
