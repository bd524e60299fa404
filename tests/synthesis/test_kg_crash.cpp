// Knowledge-graph crash consistency and sync. A SQLite VFS shim, registered as
// the default VFS (as in tests/memory/memory_durability_test.cpp), counts the
// syncs of the WAL and remembers whether the WAL was written since its last
// sync: every write (kg_add, an attrs update, an alias, kg_delete_triple,
// kg_delete_entity, kg_due_take) must return only after its WAL frames were
// synced — synchronous=OFF or NORMAL in kg_open fails here, which a kill test
// alone cannot see (the page cache outlives a killed process). A failed sync is
// never acknowledged. Then a child process adds, updates and deletes triples,
// writing each acknowledged change to a pipe, and is SIGKILLed at a random
// moment; the parent reopens the graph and checks that it holds exactly the
// acknowledged triples with their exact attrs (the one change in flight may or
// may not be there, and a batch in flight is there whole or not at all).
#define BOOST_TEST_MODULE synthesis_kg_crash
#include <boost/test/unit_test.hpp>

#include <poll.h>
#include <signal.h>
#include <sqlite3.h>

#include "tests/sqlite_sync_shim.hpp"
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <tuple>

#include "actors/synthesis/synthesis.hpp"
#include "tests/synthesis/test_util.hpp"

namespace syn = aikid::synthesis;

// ---- the VFS shim (tests/sqlite_sync_shim.hpp) ----------------------------

namespace {

using namespace sync_shim;  // the shim: tests/sqlite_sync_shim.hpp

std::filesystem::path fresh_dir(const std::string& tag) {
  auto d = std::filesystem::temp_directory_path() / ("syn_crash_" + tag + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

// The write returned only after its WAL frames were synced: a WAL sync
// happened during it, and nothing was written to the WAL after that sync.
#define REQUIRE_SYNCED(what, call)                                                                  \
  do {                                                                                              \
    const int before_ = g_wal_syncs;                                                                \
    auto r_ = (call);                                                                               \
    BOOST_REQUIRE_MESSAGE(r_, what << ": " << (r_ ? "" : r_.error().message));                     \
    BOOST_TEST(g_wal_syncs > before_, what << " returned without a sync of the WAL");               \
    BOOST_TEST(!g_wal_unsynced, what << " returned with WAL frames written after the last sync");  \
  } while (0)

}  // namespace

BOOST_AUTO_TEST_CASE(shim_is_in_use) {
  BOOST_TEST(std::string(sqlite3_vfs_find(nullptr)->zName) == "aikid-test-sync-shim");
}

BOOST_AUTO_TEST_CASE(every_write_syncs_the_wal_before_returning) {
  auto dir = fresh_dir("sync");
  auto g = syn::kg_open(dir / "kg.sqlite");
  BOOST_REQUIRE(g);
  for (int i = 0; i < 20; ++i) {
    std::vector<syn::triple> t = {{"Kari" + std::to_string(i), "knows", "Per", {{"n", i}}}};
    REQUIRE_SYNCED("kg_add " << i, syn::kg_add(**g, t));
  }
  std::vector<syn::triple> upd = {{"Kari0", "knows", "Per", {{"n", 100}}}};
  REQUIRE_SYNCED("kg_add of an existing triple (new attrs)", syn::kg_add(**g, upd));
  std::vector<syn::triple> alias = {{"Per", "alias", "Peder", {}}};
  REQUIRE_SYNCED("kg_add of an alias", syn::kg_add(**g, alias));
  REQUIRE_SYNCED("kg_delete_triple", syn::kg_delete_triple(**g, {"Kari1", "knows", "Per", {}}));
  REQUIRE_SYNCED("kg_delete_entity", syn::kg_delete_entity(**g, "Kari2"));
  std::vector<syn::triple> due = {{"ola", "meets", "Per", {{"due", "2030-01-01T10:00:00Z"}}}};
  REQUIRE_SYNCED("kg_add with a due time", syn::kg_add(**g, due));
  {
    const int before = g_wal_syncs;
    auto taken = syn::kg_due_take(**g, 1893492000000);
    BOOST_REQUIRE(taken);
    BOOST_REQUIRE_EQUAL(taken->size(), 1u);
    BOOST_TEST(g_wal_syncs > before, "kg_due_take handed out a reminder before marking it fired was synced");
    BOOST_TEST(!g_wal_unsynced);
  }
  // Reads are served from memory: no sync.
  const int before = g_wal_syncs;
  BOOST_TEST(syn::kg_query(**g, "Per", 2).has_value());
  BOOST_TEST(syn::kg_entities(**g, "").has_value());
  BOOST_TEST(g_wal_syncs == before);
  g->reset();
  std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(a_failed_sync_is_never_acknowledged) {
  auto dir = fresh_dir("fsyncfail");
  const auto path = dir / "kg.sqlite";
  {
    auto g = syn::kg_open(path);
    BOOST_REQUIRE(g);
    std::vector<syn::triple> kept = {{"Kari", "likes", "kaffe", {}}};
    BOOST_REQUIRE(syn::kg_add(**g, kept));
    std::vector<syn::triple> lost = {{"Kari", "likes", "te", {}}};
    g_sync_fails = true;
    auto a = syn::kg_add(**g, lost);
    g_sync_fails = false;
    BOOST_REQUIRE(!a);
    BOOST_TEST(a.error().code == aikid::errc::internal);
    BOOST_TEST_MESSAGE(a.error().message);
    auto f = syn::kg_query(**g, "Kari", 1);
    BOOST_REQUIRE(f);
    BOOST_TEST(f->size() == 1u);  // memory was not changed
    BOOST_TEST(!syn::kg_find(**g, "te").has_value());
    // and the graph writes on once the disk answers again
    std::vector<syn::triple> after = {{"Kari", "likes", "saft", {}}};
    REQUIRE_SYNCED("kg_add after a failed sync", syn::kg_add(**g, after));
  }
  auto g = syn::kg_open(path);
  BOOST_REQUIRE(g);
  auto f = syn::kg_query(**g, "Kari", 1);
  BOOST_REQUIRE(f);
  std::set<std::string> objects;
  for (const auto& x : *f) objects.insert(x.object);
  BOOST_TEST((objects == std::set<std::string>{"kaffe", "saft"}));
  g->reset();
  std::filesystem::remove_all(dir);
}

// ---- SIGKILL at random moments ---------------------------------------------

namespace {

using key = std::tuple<std::string, std::string, std::string>;  // subject, relation, object
using model_t = std::map<key, std::int64_t>;                    // → attrs.v

constexpr int kSubjects = 12, kRelations = 3, kObjects = 12;

key random_key(std::mt19937& g) {
  return {"s" + std::to_string(g() % kSubjects), "r" + std::to_string(g() % kRelations),
          "o" + std::to_string(g() % kObjects)};
}

void say(int fd, const std::string& line) {
  const std::string l = line + "\n";
  (void)!::write(fd, l.data(), l.size());
}

std::string words(const key& k) { return std::get<0>(k) + " " + std::get<1>(k) + " " + std::get<2>(k); }

// Child: starts from `model` (the acknowledged state, inherited through
// fork) and writes until killed. Lines: "I S k v" / "S" (set a triple's
// attrs.v, new or not), "I D k" / "D" (delete), "I B k v k v k v" / "B"
// (three sets in one kg_add); "E message" and exit 3 on an error.
[[noreturn]] void child(const std::filesystem::path& path, int fd, unsigned seed, std::int64_t first_v,
                        model_t model) {
  auto g = syn::kg_open(path);
  if (!g) say(fd, "E " + g.error().message), ::_exit(3);
  std::mt19937 rng(seed);
  for (std::int64_t v = first_v;; ++v) {
    const int dice = static_cast<int>(rng() % 100);
    if (dice < 20 && !model.empty()) {
      auto it = model.begin();
      std::advance(it, rng() % model.size());
      const key k = it->first;
      say(fd, "I D " + words(k));
      auto d = syn::kg_delete_triple(**g, {std::get<0>(k), std::get<1>(k), std::get<2>(k), {}});
      if (!d) say(fd, "E " + d.error().message), ::_exit(3);
      model.erase(k);
      say(fd, "D");
    } else if (dice < 35) {
      std::map<key, std::int64_t> batch;
      while (batch.size() < 3) batch[random_key(rng)] = v;
      std::string line = "I B";
      std::vector<syn::triple> ts;
      for (const auto& [k, val] : batch) {
        line += " " + words(k) + " " + std::to_string(val);
        ts.push_back({std::get<0>(k), std::get<1>(k), std::get<2>(k), {{"v", val}}});
      }
      say(fd, line);
      auto a = syn::kg_add(**g, ts);
      if (!a) say(fd, "E " + a.error().message), ::_exit(3);
      for (const auto& [k, val] : batch) model[k] = val;
      say(fd, "B");
    } else {
      const key k = random_key(rng);
      say(fd, "I S " + words(k) + " " + std::to_string(v));
      std::vector<syn::triple> ts = {{std::get<0>(k), std::get<1>(k), std::get<2>(k), {{"v", v}}}};
      auto a = syn::kg_add(**g, ts);
      if (!a) say(fd, "E " + a.error().message), ::_exit(3);
      model[k] = v;
      say(fd, "S");
    }
  }
}

// Every triple in the graph, with attrs.v (-1 when absent), read after a reopen.
model_t read_all(const syn::kg& g) {
  model_t m;
  for (int s = 0; s < kSubjects; ++s) {
    const std::string name = "s" + std::to_string(s);
    auto f = syn::kg_query(g, name, 1);
    if (!f) {
      BOOST_TEST((f.error().code == aikid::errc::not_found), f.error().message);
      continue;
    }
    for (const auto& x : *f)
      if (x.subject == name) m[{x.subject, x.relation, x.object}] = x.attrs.value("v", std::int64_t{-1});
  }
  return m;
}

std::string show(const model_t& m, const key& k) {
  auto it = m.find(k);
  return it == m.end() ? std::string("absent") : "v=" + std::to_string(it->second);
}

}  // namespace

BOOST_AUTO_TEST_CASE(sigkill_at_random_moments_loses_no_acknowledged_change) {
  auto dir = fresh_dir("kill");
  const auto path = dir / "kg.sqlite";
  std::mt19937 g(std::random_device{}());
  model_t model;  // the acknowledged state
  std::int64_t next_v = 1;
  int total_acked = 0;
  for (int round = 0; round < 8; ++round) {
    int fds[2];
    BOOST_REQUIRE(::pipe(fds) == 0);
    const unsigned seed = g();
    const pid_t pid = ::fork();
    BOOST_REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(fds[0]);
      child(path, fds[1], seed, next_v, model);
    }
    ::close(fds[1]);
    // Kill at a random moment after the first acknowledged change.
    const int run_ms = 50 + static_cast<int>(g() % 700);
    std::string buf;
    char chunk[4096];
    std::optional<std::chrono::steady_clock::time_point> until;
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!until || std::chrono::steady_clock::now() < *until) {
      if (std::chrono::steady_clock::now() > give_up) break;
      pollfd p{fds[0], POLLIN, 0};
      if (::poll(&p, 1, 5) > 0) {
        const ssize_t n = ::read(fds[0], chunk, sizeof chunk);
        if (n <= 0) break;
        buf.append(chunk, n);
        if (!until && (buf.find("\nS\n") != std::string::npos || buf.find("\nB\n") != std::string::npos ||
                       buf.find("\nD\n") != std::string::npos))
          until = std::chrono::steady_clock::now() + std::chrono::milliseconds(run_ms);
      }
    }
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    for (ssize_t n; (n = ::read(fds[0], chunk, sizeof chunk)) > 0;) buf.append(chunk, n);
    ::close(fds[0]);
    BOOST_TEST_REQUIRE(WIFSIGNALED(status), "child exited by itself: " << buf.substr(buf.rfind("E ") == std::string::npos ? buf.size() : buf.rfind("E ")));

    // Replay the acknowledged changes; remember the one in flight.
    std::vector<std::pair<key, std::optional<std::int64_t>>> inflight;  // (triple, new v or deleted)
    std::istringstream in(buf);
    std::string line;
    int acked = 0;
    while (std::getline(in, line)) {
      if (in.eof() && !buf.empty() && buf.back() != '\n') break;  // torn last line: never acknowledged
      std::istringstream ls(line);
      std::string tag;
      ls >> tag;
      if (tag == "I") {
        std::string kind;
        ls >> kind;
        inflight.clear();
        std::string s, r, o;
        std::int64_t v;
        if (kind == "D") {
          ls >> s >> r >> o;
          inflight.push_back({{s, r, o}, std::nullopt});
        } else {
          while (ls >> s >> r >> o >> v) {
            inflight.push_back({{s, r, o}, v});
            next_v = std::max(next_v, v + 1);
          }
        }
      } else if (tag == "S" || tag == "B" || tag == "D") {
        BOOST_REQUIRE(!inflight.empty());
        for (const auto& [k, v] : inflight) {
          if (v) model[k] = *v;
          else model.erase(k);
        }
        inflight.clear();
        ++acked;
      } else {
        BOOST_FAIL("child said: " << line);
      }
    }
    total_acked += acked;
    BOOST_TEST_MESSAGE("round " << round << ": killed " << run_ms << " ms after the first acknowledgement, "
                                << acked << " acknowledged changes, " << inflight.size() << " in flight");
    BOOST_TEST(acked > 0);

    // Reopen (as a restart would) and compare, exactly.
    auto kg = syn::kg_open(path);
    BOOST_REQUIRE_MESSAGE(kg, (kg ? "" : kg.error().message));
    const model_t db = read_all(**kg);
    // The change in flight: all of it happened or none of it.
    bool applied = !inflight.empty();
    for (const auto& [k, v] : inflight)
      if (show(db, k) != (v ? "v=" + std::to_string(*v) : std::string("absent"))) applied = false;
    model_t expect = model;
    if (applied)
      for (const auto& [k, v] : inflight) {
        if (v) expect[k] = *v;
        else expect.erase(k);
      }
    for (const auto& [k, v] : expect)
      BOOST_TEST(show(db, k) == show(expect, k), "triple " << words(k) << ": acknowledged " << show(expect, k)
                                                              << ", after the kill " << show(db, k));
    for (const auto& [k, v] : db)
      BOOST_TEST(expect.count(k) == 1u, "triple " << words(k) << " (v=" << v << ") was never acknowledged"
                                                  << (inflight.empty() ? "" : " (or only half of a batch)"));
    model = db;  // the in-flight change's outcome is now known
  }
  BOOST_TEST(total_acked > 40, "only " << total_acked << " changes were acknowledged in all rounds");
  std::filesystem::remove_all(dir);
}
