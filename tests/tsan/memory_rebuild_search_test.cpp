// The memory store's concurrency under ThreadSanitizer: the background HNSW
// build (started when the store outgrows flat_max) and its merge run while
// searchers query, batch and single writers add through the group commit,
// and a deleter removes. Every search must succeed and be well-formed
// (top_k hits, scores non-increasing, the user filter honoured, no memory
// removed before the search began); afterwards the graph must find each kept
// memory by its own vector. A race is a TSan report (halt_on_error).
#define BOOST_TEST_MODULE tsan_memory
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "actors/memory/memory.hpp"

using namespace aikid::memory;

namespace {

constexpr int kDim = 16;

std::vector<float> unit_vec(std::mt19937& g) {
  std::normal_distribution<float> n;
  std::vector<float> v(kDim);
  double s = 0;
  for (auto& x : v) {
    x = n(g);
    s += double(x) * x;
  }
  for (auto& x : v) x = static_cast<float>(x / std::sqrt(s));
  return v;
}

struct temp_dir {
  std::filesystem::path path = std::filesystem::temp_directory_path() /
                               ("aikid-tsan-memory-" + std::to_string(::getpid()));
  temp_dir() {
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

// What the worker threads found wrong (Boost.Test is not thread-safe).
struct problems {
  std::mutex mu;
  std::vector<std::string> list;
  void add(std::string what) {
    std::lock_guard lk(mu);
    if (list.size() < 20) list.push_back(std::move(what));
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(index_rebuild_and_group_commit_under_concurrent_search) {
  temp_dir d;
  store_options o;
  o.dir = d.path;
  o.dim = kDim;
  o.flat_max = 300;  // the HNSW build starts early and runs during the load
  o.hnsw_m = 8;
  o.hnsw_ef_construction = 40;
  o.dedup_threshold = 2.0;  // no dedup: every add is a new memory
  auto opened = store::open(o);
  BOOST_REQUIRE_MESSAGE(opened.has_value(), (opened ? std::string() : opened.error().message));
  auto& s = **opened;

  std::mutex kept_mu;
  std::vector<std::pair<std::int64_t, std::vector<float>>> kept;  // id, vector
  std::set<std::int64_t> removed;
  problems bad;
  std::mt19937 g0(1);
  for (int i = 0; i < 40; ++i) {  // enough for a full top_k from the start
    auto v = unit_vec(g0);
    auto a = s.add("w0", "seed", {}, v);
    BOOST_REQUIRE(a);
    kept.emplace_back(a->id, v);
  }

  std::atomic<int> writers_left{4};
  std::vector<std::thread> ts;
  // batch writers: add_batch of 40, one transaction each
  for (int w = 0; w < 2; ++w)
    ts.emplace_back([&, w] {
      std::mt19937 g(100 + w);
      for (int b = 0; b < 12; ++b) {
        std::vector<new_memory> items(40);
        for (auto& it : items) {
          it.user = "w" + std::to_string(w);
          it.text = "batch";
          it.meta = {{"b", b}};
          it.vec = unit_vec(g);
        }
        auto copy = items;
        auto r = s.add_batch(std::move(items));
        if (!r) {
          bad.add("add_batch: " + r.error().message);
          continue;
        }
        std::lock_guard lk(kept_mu);
        for (std::size_t i = 0; i < r->size(); ++i) kept.emplace_back((*r)[i].id, copy[i].vec);
      }
      --writers_left;
    });
  // single writers: each add waits for its group commit
  for (int w = 2; w < 4; ++w)
    ts.emplace_back([&, w] {
      std::mt19937 g(200 + w);
      for (int i = 0; i < 150; ++i) {
        auto v = unit_vec(g);
        auto a = s.add("w" + std::to_string(w), "single", {{"i", i}}, v);
        if (!a) {
          bad.add("add: " + a.error().message);
          continue;
        }
        std::lock_guard lk(kept_mu);
        kept.emplace_back(a->id, v);
      }
      --writers_left;
    });
  // deleter: removes every 7th kept memory while the load runs
  ts.emplace_back([&] {
    std::size_t next = 0;
    while (writers_left.load() > 0) {
      std::int64_t id = 0;
      {
        std::lock_guard lk(kept_mu);
        if (next + 7 < kept.size()) {
          next += 7;
          id = kept[next].first;
        }
      }
      if (id == 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        continue;
      }
      if (auto r = s.remove(id); !r) bad.add("remove " + std::to_string(id) + ": " + r.error().message);
      std::lock_guard lk(kept_mu);
      removed.insert(id);
    }
  });
  // searchers
  std::atomic<long> searches{0};
  for (int r = 0; r < 3; ++r)
    ts.emplace_back([&, r] {
      std::mt19937 g(300 + r);
      for (int i = 0; writers_left.load() > 0 || i < 50; ++i) {
        std::set<std::int64_t> gone;
        {
          std::lock_guard lk(kept_mu);
          gone = removed;
        }
        query q;
        q.vector = unit_vec(g);
        q.top_k = 10;
        if (i % 3 == 1) q.user = "w0";  // "w0" always has more than 10 memories
        auto got = s.search(q);
        ++searches;
        if (!got) {
          bad.add("search: " + got.error().message);
          continue;
        }
        if (got->size() != 10) bad.add("search " + std::to_string(i) + ": " + std::to_string(got->size()) + " hits");
        for (std::size_t k = 0; k < got->size(); ++k) {
          const auto& h = (*got)[k];
          if (k > 0 && h.score > (*got)[k - 1].score + 1e-6f) bad.add("scores out of order");
          if (q.user && h.rec.user != *q.user) bad.add("user filter broken: " + h.rec.user);
          if (gone.count(h.rec.id)) bad.add("removed memory " + std::to_string(h.rec.id) + " found");
        }
      }
    });
  for (auto& t : ts) t.join();
  for (const auto& p : bad.list) BOOST_ERROR(p);
  BOOST_REQUIRE(bad.list.empty());
  BOOST_TEST_MESSAGE(searches.load() << " searches during the load");

  // the background build and merge settle; then every kept memory is found
  for (int i = 0; i < 1200 && !(s.stats()["index"]["kind"] == "hnsw" && s.stats()["index"]["flat_rows"] == 0); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  BOOST_REQUIRE_MESSAGE(s.stats()["index"]["kind"] == "hnsw", s.stats().dump());
  const std::size_t want = kept.size() - removed.size();
  BOOST_TEST(s.size() == want);
  std::size_t found = 0, total = 0;
  for (const auto& [id, v] : kept) {
    if (removed.count(id)) continue;
    query q;
    q.vector = v;
    q.top_k = 1;
    auto got = s.search(q);
    BOOST_REQUIRE(got);
    ++total;
    found += !got->empty() && got->front().rec.id == id;
  }
  BOOST_TEST_MESSAGE("self-recall@1 after the rebuild: " << found << "/" << total);
  BOOST_TEST(double(found) / double(total) >= 0.95);
}
