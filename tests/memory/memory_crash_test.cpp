// Crash test: a child process runs a stream of adds, updates, deletes and
// snapshots, writing each acknowledged op to a pipe; the parent SIGKILLs it
// at a random moment, reopens the store and checks that every acknowledged
// change is there (the one op in flight may or may not be) and that the
// index agrees with the database. Three rounds on the same folder.
#define BOOST_TEST_MODULE memory_crash
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <sstream>

#include "memory_test_util.hpp"

using namespace aikid;
using namespace aikid::memory;
using memtest::temp_dir;

namespace {

constexpr int kDim = 16;

std::vector<float> vec_of(const std::string& text) {  // each text has its own vector
  std::mt19937 g(static_cast<std::uint32_t>(std::hash<std::string>{}(text)));
  return memtest::random_vec(g, kDim);
}

store_options opts(const std::filesystem::path& dir) {
  store_options o;
  o.dir = dir;
  o.dim = kDim;
  o.flat_max = 60;   // HNSW build + merges + tombstones happen during the run
  o.hnsw_m = 8;
  o.hnsw_ef_construction = 40;
  o.dedup_threshold = 2.0;
  return o;
}

void say(int fd, const std::string& line) {
  const std::string l = line + "\n";
  (void)!::write(fd, l.data(), l.size());
}

[[noreturn]] void child(const std::filesystem::path& dir, int fd, unsigned seed, int round) {
  auto s = store::open(opts(dir));
  if (!s) {
    say(fd, "E " + s.error().message);
    ::_exit(3);
  }
  std::mt19937 g(seed);
  std::vector<std::int64_t> live;
  {
    auto l = (*s)->list(std::nullopt, {}, 1 << 30, 0);
    for (const auto& r : l->first) live.push_back(r.id);
  }
  for (int n = 0;; ++n) {
    const int dice = static_cast<int>(g() % 100);
    const std::string text = "r" + std::to_string(round) + "-op" + std::to_string(n);
    if (dice < 55 || live.size() < 5) {
      say(fd, "I A " + text);
      auto a = (*s)->add("u" + std::to_string(n % 3), text, {{"n", n}}, vec_of(text));
      if (!a) say(fd, "E " + a.error().message), ::_exit(3);
      live.push_back(a->id);
      say(fd, "A " + std::to_string(a->id) + " " + text);
    } else if (dice < 80) {
      const std::int64_t id = live[g() % live.size()];
      say(fd, "I U " + std::to_string(id) + " " + text);
      auto u = (*s)->update(id, text, std::nullopt, vec_of(text));
      if (!u) say(fd, "E " + u.error().message), ::_exit(3);
      say(fd, "U " + std::to_string(id) + " " + text);
    } else if (dice < 97) {
      const std::size_t at = g() % live.size();
      const std::int64_t id = live[at];
      say(fd, "I D " + std::to_string(id));
      auto d = (*s)->remove(id);
      if (!d) say(fd, "E " + d.error().message), ::_exit(3);
      live.erase(live.begin() + at);
      say(fd, "D " + std::to_string(id));
    } else {
      auto sn = (*s)->snapshot();
      if (!sn) say(fd, "E " + sn.error().message), ::_exit(3);
      say(fd, "S");
    }
  }
}

struct pending_op {
  char kind = 0;  // A U D or 0
  std::int64_t id = 0;
  std::string text;
};

}  // namespace

BOOST_AUTO_TEST_CASE(sigkill_loses_no_acknowledged_change) {
  temp_dir d("crash");
  std::mt19937 g(std::random_device{}());
  std::map<std::int64_t, std::string> model;  // id → text, the acknowledged state
  for (int round = 0; round < 3; ++round) {
    int fds[2];
    BOOST_REQUIRE(::pipe(fds) == 0);
    const unsigned seed = g();
    const pid_t pid = ::fork();
    BOOST_REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(fds[0]);
      child(d.path, fds[1], seed, round);
    }
    ::close(fds[1]);
    const int run_ms = 400 + static_cast<int>(g() % 1200);
    std::string buf;
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(run_ms);
    char chunk[4096];
    while (std::chrono::steady_clock::now() < until) {
      pollfd p{fds[0], POLLIN, 0};
      if (::poll(&p, 1, 20) > 0) {
        const ssize_t n = ::read(fds[0], chunk, sizeof chunk);
        if (n <= 0) break;
        buf.append(chunk, n);
      }
    }
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    for (ssize_t n; (n = ::read(fds[0], chunk, sizeof chunk)) > 0;) buf.append(chunk, n);
    ::close(fds[0]);
    BOOST_TEST_REQUIRE(WIFSIGNALED(status), "child exited by itself: " << buf.substr(buf.rfind("E ") == std::string::npos ? buf.size() : buf.rfind("E ")));

    // replay the acknowledged ops into the model; remember the op in flight
    pending_op inflight;
    std::istringstream in(buf);
    std::string line;
    int acked = 0;
    while (std::getline(in, line)) {
      if (in.eof() && !buf.empty() && buf.back() != '\n') break;  // torn last line: never acknowledged
      std::istringstream ls(line);
      std::string tag;
      ls >> tag;
      if (tag == "I") {
        std::string k;
        ls >> k;
        inflight.kind = k[0];
        if (k == "A") ls >> inflight.text;
        else if (k == "U") ls >> inflight.id >> inflight.text;
        else ls >> inflight.id;
      } else if (tag == "A") {
        std::int64_t id;
        std::string text;
        ls >> id >> text;
        model[id] = text;
        inflight = {};
        ++acked;
      } else if (tag == "U") {
        std::int64_t id;
        std::string text;
        ls >> id >> text;
        model[id] = text;
        inflight = {};
        ++acked;
      } else if (tag == "D") {
        std::int64_t id;
        ls >> id;
        model.erase(id);
        inflight = {};
        ++acked;
      } else if (tag == "S") {
        ++acked;
      } else {
        BOOST_FAIL("child said: " << line);
      }
    }
    BOOST_TEST_MESSAGE("round " << round << ": killed after " << run_ms << " ms, " << acked
                                << " acknowledged ops, in flight: " << (inflight.kind ? inflight.kind : '-'));

    // reopen and compare
    auto s = store::open(opts(d.path));
    BOOST_REQUIRE_MESSAGE(s, (s ? "" : s.error().message));
    auto all = (*s)->list(std::nullopt, {}, 1 << 30, 0);
    BOOST_REQUIRE(all);
    std::map<std::int64_t, std::string> db;
    for (const auto& r : all->first) db[r.id] = r.text;
    for (const auto& [id, text] : model) {
      auto it = db.find(id);
      const bool inflight_here = inflight.kind && inflight.id == id;
      if (it == db.end()) {
        BOOST_TEST((inflight_here && inflight.kind == 'D'), "acknowledged memory " << id << " lost");
        continue;
      }
      BOOST_TEST((it->second == text || (inflight_here && inflight.kind == 'U' && it->second == inflight.text)),
                 "memory " << id << " has '" << it->second << "', acknowledged '" << text << "'");
    }
    for (const auto& [id, text] : db)
      if (!model.count(id))
        BOOST_TEST((inflight.kind == 'A' && text == inflight.text), "memory " << id << " '" << text
                                                                              << "' was never acknowledged");
    // the index agrees with the database: every memory is found by its own vector
    BOOST_TEST((*s)->stats()["index"]["live"].get<std::size_t>() == db.size());
    for (const auto& [id, text] : db) {
      query q;
      q.vector = vec_of(text);
      q.top_k = 1;
      auto h = (*s)->search(q);
      BOOST_REQUIRE(h);
      BOOST_TEST((!h->empty() && h->front().rec.id == id && h->front().score > 0.999f),
                 "memory " << id << " not found by its vector");
    }
    model = db;  // the in-flight op's outcome is now known
  }
}
