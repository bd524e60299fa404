// Recovery: a damaged or missing index snapshot is rebuilt from SQLite (with
// progress in the log); changes newer than the snapshot are replayed; a
// corrupt database is refused with `unavailable` and left byte-for-byte as
// it was.
#define BOOST_TEST_MODULE memory_recovery
#include <boost/test/unit_test.hpp>

#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "memory_test_util.hpp"

using namespace aikid;
using namespace aikid::memory;
using memtest::temp_dir;

namespace {

constexpr int kDim = 24;

struct logged {
  std::vector<std::string> lines;
  bool has(const std::string& s) const {
    for (const auto& l : lines)
      if (l.find(s) != std::string::npos) return true;
    return false;
  }
};

store_options opts(const std::filesystem::path& dir, logged* log, std::size_t flat_max = 50000) {
  store_options o;
  o.dir = dir;
  o.dim = kDim;
  o.flat_max = flat_max;
  o.hnsw_m = 8;
  o.hnsw_ef_construction = 40;
  o.dedup_threshold = 2.0;
  if (log) o.log = [log](std::string_view l) { log->lines.emplace_back(l); };
  return o;
}

// n memories, added in batches; returns their vectors by id
std::map<std::int64_t, std::vector<float>> fill(store& s, std::mt19937& g, int n) {
  std::map<std::int64_t, std::vector<float>> out;
  std::vector<new_memory> batch;
  for (int i = 0; i < n; ++i) batch.push_back({"u" + std::to_string(i % 3), "t" + std::to_string(i), {{"i", i}},
                                               memtest::random_vec(g, kDim), {}});
  auto r = s.add_batch(batch);
  BOOST_REQUIRE(r);
  for (std::size_t i = 0; i < r->size(); ++i) out[(*r)[i].id] = batch[i].vec;
  return out;
}

void expect_all_found(store& s, const std::map<std::int64_t, std::vector<float>>& vecs) {
  BOOST_TEST(s.size() == vecs.size());
  for (const auto& [id, v] : vecs) {
    query q;
    q.vector = v;
    q.top_k = 1;
    auto h = s.search(q);
    BOOST_REQUIRE(h);
    BOOST_TEST((!h->empty() && h->front().rec.id == id), "memory " << id << " not found by its vector");
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(snapshot_damage_is_rebuilt) {
  temp_dir d("snap");
  std::mt19937 g(3);
  std::map<std::int64_t, std::vector<float>> vecs;
  {
    auto s = std::move(*store::open(opts(d.path, nullptr)));
    vecs = fill(*s, g, 400);
    BOOST_REQUIRE(s->snapshot());
  }
  const auto snap = d.path / "memory.index";
  BOOST_REQUIRE(std::filesystem::exists(snap));
  const std::string good = memtest::file_bytes(snap);
  const std::vector<std::pair<std::string, std::string>> damages = {
      {"flipped byte", [&] { auto b = good; b[b.size() / 2] ^= 0x5a; return b; }()},
      {"truncated", good.substr(0, good.size() / 3)},
      {"garbage", std::string(5000, 'x')},
      {"empty", ""},
  };
  for (const auto& [what, bytes] : damages) {
    std::ofstream(snap, std::ios::binary | std::ios::trunc) << bytes;
    logged log;
    auto s = store::open(opts(d.path, &log));
    BOOST_REQUIRE_MESSAGE(s, what);
    BOOST_TEST(log.has("rebuilding"), what << ": no rebuild in the log");
    BOOST_TEST(log.has("rebuilt"), what << ": no progress in the log");
    expect_all_found(**s, vecs);
  }
  std::filesystem::remove(snap);
  logged log;
  auto s = store::open(opts(d.path, &log));
  BOOST_REQUIRE(s);
  BOOST_TEST(log.has("(missing)"));
  expect_all_found(**s, vecs);
  s->reset();
  // a clean close left a good snapshot: no rebuild this time
  logged log2;
  auto s2 = store::open(opts(d.path, &log2));
  BOOST_TEST(log2.has("snapshot loaded"));
  BOOST_TEST(!log2.has("rebuilding"));
}

BOOST_AUTO_TEST_CASE(newer_changes_are_replayed) {
  temp_dir d("replay");
  std::mt19937 g(4);
  // a child writes a snapshot, makes more changes and exits without closing
  const pid_t pid = ::fork();
  BOOST_REQUIRE(pid >= 0);
  if (pid == 0) {
    auto s = std::move(*store::open(opts(d.path, nullptr, 100)));
    fill(*s, g, 300);  // above flat_max: an HNSW part
    for (int i = 0; i < 200 && s->stats()["index"]["kind"] != "hnsw"; ++i) ::usleep(50000);
    if (!s->snapshot()) ::_exit(2);
    std::vector<new_memory> more;
    for (int i = 0; i < 20; ++i) more.push_back({"late", "late" + std::to_string(i), {}, memtest::random_vec(g, kDim), {}});
    if (!s->add_batch(more)) ::_exit(3);
    if (!s->remove(1) || !s->remove(2)) ::_exit(4);
    if (!s->update(3, std::string("moved"), std::nullopt, memtest::random_vec(g, kDim))) ::_exit(5);
    ::_exit(0);  // no destructor: the snapshot stays behind the database
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  BOOST_REQUIRE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  logged log;
  auto s = store::open(opts(d.path, &log, 100));
  BOOST_REQUIRE(s);
  BOOST_TEST(log.has("snapshot loaded"));
  BOOST_TEST(log.has("replayed 23 changes"));
  BOOST_TEST(!log.has("rebuilding"));
  BOOST_TEST((*s)->size() == 318u);
  BOOST_TEST(!(*s)->get(1));
  BOOST_TEST((*s)->get(3)->text == "moved");
  BOOST_TEST((*s)->list(std::string("late"), {}, 100, 0)->second == 20);
  // every memory is findable by its stored vector: exported, then searched
  const auto file = d.path / "all.jsonl";
  BOOST_REQUIRE((*s)->export_jsonl(file));
  std::ifstream in(file);
  std::string line;
  int checked = 0;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    if (j["type"] != "memory") continue;
    query q;
    q.vector = j["vector"].get<std::vector<float>>();
    q.top_k = 1;
    q.user = j["user"].get<std::string>();
    auto h = (*s)->search(q);
    BOOST_TEST((h && !h->empty() && h->front().rec.id == j["id"].get<std::int64_t>()));
    ++checked;
  }
  BOOST_TEST(checked == 318);
}

BOOST_AUTO_TEST_CASE(corrupt_database_is_refused_and_untouched) {
  temp_dir d("corrupt");
  std::mt19937 g(5);
  {
    auto s = std::move(*store::open(opts(d.path, nullptr)));
    fill(*s, g, 600);  // several pages of memories
  }
  const auto db = d.path / "memory.db";
  const std::string good = memtest::file_bytes(db);
  BOOST_REQUIRE(good.size() > 8 * 4096);
  struct damage {
    std::string what, bytes;
  };
  std::vector<damage> damages;
  {
    auto b = good;
    for (int i = 0; i < 16; ++i) b[i] = 'Z';
    damages.push_back({"bad header", b});
  }
  {
    auto b = good;
    for (std::size_t page = 2; page * 4096 < b.size(); page += 3)
      for (int i = 0; i < 12; ++i) b[page * 4096 + i] = static_cast<char>(0xA5 + i);
    damages.push_back({"mangled pages", b});
  }
  damages.push_back({"truncated", good.substr(0, good.size() / 2 + 100)});
  damages.push_back({"text file", std::string("this is not a database\n")});
  for (const auto& dm : damages) {
    std::filesystem::remove(d.path / "memory.index");
    std::filesystem::remove(d.path / "memory.db-wal");
    std::filesystem::remove(d.path / "memory.db-shm");
    std::ofstream(db, std::ios::binary | std::ios::trunc) << dm.bytes;
    auto s = store::open(opts(d.path, nullptr));
    BOOST_REQUIRE_MESSAGE(!s, dm.what << ": opened a corrupt database");
    BOOST_TEST(s.error().code == errc::unavailable);
    BOOST_TEST(s.error().message.find("memory.db") != std::string::npos, dm.what << ": " << s.error().message);
    BOOST_TEST_MESSAGE(dm.what << ": " << s.error().message);
    BOOST_TEST(memtest::file_bytes(db) == dm.bytes, dm.what << ": the file was changed");
    BOOST_TEST(!std::filesystem::exists(d.path / "memory.index"), dm.what << ": wrote a snapshot");
  }
}

BOOST_AUTO_TEST_CASE(concurrent_snapshots_and_writes) {
  temp_dir d("snaprace");
  std::mt19937 g(6);
  auto s = std::move(*store::open(opts(d.path, nullptr)));
  std::atomic<int> failures{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 3; ++t)
    ts.emplace_back([&] {
      for (int i = 0; i < 5; ++i)
        if (!s->snapshot()) ++failures;
    });
  std::map<std::int64_t, std::vector<float>> vecs;
  for (int i = 0; i < 40; ++i) {
    auto v = memtest::random_vec(g, kDim);
    auto a = s->add("w", "t" + std::to_string(i), {}, v);
    if (!a) ++failures;
    else vecs[a->id] = v;
  }
  for (auto& t : ts) t.join();
  BOOST_TEST(failures == 0);
  BOOST_REQUIRE(s->snapshot());
  s.reset();
  logged log;
  auto r = store::open(opts(d.path, &log));
  BOOST_REQUIRE(r);
  BOOST_TEST(log.has("snapshot loaded"));
  expect_all_found(**r, vecs);
}
