// libFuzzer target for the understanding engine (actors/synthesis/understand.cpp,
// synthesis.hpp section 11): what a person says becomes facts in their part of
// the knowledge graph, and questions about it are answered from the graph.
// The shipped data (config/understand/, config/time/) is loaded once, and one
// knowledge graph is opened once on a temp file (in /dev/shm when there is
// one: every write is synced). Each input is up to six percepts, one a line
// ('\n'); the first byte (which stays part of the text) picks the user among
// three (so the users' scopes mix in the one graph across inputs), and each percept is understood with the
// earlier percepts' texts as the recalled memories (most recent first), the
// time words of both languages, Europe/Oslo and a fixed now. The bytes are
// passed as they are: invalid UTF-8 is read as U+FFFD by the engine.
// Any input must give nothing, or an answer with a text that is non-empty
// valid UTF-8, a language, and a source among understood / facts / memory /
// unknown / forgot / noted — never an error (the graph is healthy), a crash or a
// sanitizer report.
//
// Each input starts with a fresh conversation state (the last person named,
// the last dated fact), so a crasher replays by itself; the graph keeps what
// earlier inputs told (emptied when it passes 4000 relations), so a finding
// that needs facts told by another input shows when the inputs are replayed
// together. An input taking over 100 ms is logged to stderr ("slow: …") and,
// when AIKID_FUZZ_SLOW_DIR is set, written there as slow-<ms>-<pid>-<n>.
// AIKID_FUZZ_UNDERSTAND_ECHO=1 prints each percept and its answer (to read
// what a replayed input does).
//
// Build + run (from the repo root):
//   tests/fuzz/fuzz.sh understand /tmp/fuzz 600     (the compile line is in fuzz.sh)
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "actors/synthesis/synthesis.hpp"
#include "common/utf8.hpp"

using namespace aikid;
using namespace aikid::synthesis;
namespace fs = std::filesystem;

namespace {

// Monday 7 December 2026 13:49 in Oslo (as tests/synthesis/test_understand.cpp).
constexpr std::int64_t kNow = 1796651340000;
constexpr std::size_t kMaxPercepts = 6;
constexpr std::size_t kMaxRelations = 4000;
const char* const kUsers[] = {"alice", "bob", "carol"};

[[noreturn]] void fail(const std::string& why) {
  std::fprintf(stderr, "understand_fuzz: %s\n", why.c_str());
  std::abort();
}

struct world {
  understanding_ptr u;
  std::vector<time_words_ptr> words;
  zone_ptr oslo;
  fs::path dir;
  kg_ptr g;
  std::size_t inputs = 0;
  bool lenient = false;
  bool echo = false;  // AIKID_FUZZ_UNDERSTAND_ECHO=1: each percept and its answer to stderr
};

fs::path temp_dir() {
  std::error_code ec;
  const fs::path shm = "/dev/shm";
  const fs::path base = fs::is_directory(shm, ec) ? shm : fs::temp_directory_path();
  return base / ("aikid-understand-fuzz-" + std::to_string(::getpid()));
}

world& W() {
  static world* w = [] {
    auto* r = new world;  // never freed: the graph lives as long as the process
    const fs::path src = AIKID_SOURCE_DIR;
    auto u = understanding_load_dir(src / "config" / "understand");
    if (!u) fail("config/understand: " + u.error().message);
    r->u = *u;
    auto words = time_words_load_dir(src / "config" / "time");
    if (!words) fail("config/time: " + words.error().message);
    r->words = *words;
    auto z = zone_open("Europe/Oslo");
    if (!z) fail("Europe/Oslo: " + z.error().message);
    r->oslo = *z;
    const char* lenient = std::getenv("AIKID_FUZZ_UNDERSTAND_LENIENT");
    r->lenient = lenient && std::string_view(lenient) == "1";
    const char* echo = std::getenv("AIKID_FUZZ_UNDERSTAND_ECHO");
    r->echo = echo && std::string_view(echo) == "1";
    r->dir = temp_dir();
    fs::remove_all(r->dir);
    fs::create_directories(r->dir);
    auto g = kg_open(r->dir / "kg.sqlite");
    if (!g) fail("kg_open: " + g.error().message);
    r->g = std::move(*g);
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(temp_dir(), ec);
    });
    return r;
  }();
  return *w;
}

bool known_source(std::string_view s) {
  return s == "understood" || s == "facts" || s == "memory" || s == "unknown" || s == "forgot" ||
         s == "noted";  // heard, nothing stored (a sentence that only looks like a fact)
}

void note_slow(const std::string& all, long ms) {
  std::fprintf(stderr, "understand_fuzz: slow: %ld ms for %zu bytes\n", ms, all.size());
  if (const char* d = std::getenv("AIKID_FUZZ_SLOW_DIR")) {
    static int n = 0;
    std::ofstream(fs::path(d) / ("slow-" + std::to_string(ms) + "-" + std::to_string(::getpid()) + "-" +
                                 std::to_string(++n)),
                  std::ios::binary)
        << all;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  world& w = W();
  if (size == 0) return 0;
  const std::string all(reinterpret_cast<const char*>(data), size);
  const std::string_view user = kUsers[data[0] % 3];

  std::vector<std::string> percepts;
  for (std::size_t at = 0; at <= all.size() && percepts.size() < kMaxPercepts;) {
    const auto nl = all.find('\n', at);
    percepts.push_back(all.substr(at, nl == std::string::npos ? std::string::npos : nl - at));
    if (nl == std::string::npos) break;
    at = nl + 1;
  }

  const auto t0 = std::chrono::steady_clock::now();
  auto st = understand_state_new();
  std::vector<memory_hit> memories;  // the earlier percepts, most recent first
  for (std::size_t i = 0; i < percepts.size(); ++i) {
    understand_input in;
    in.user = user;
    in.text = percepts[i];
    in.memories = memories;
    in.words = &w.words;
    in.tz = w.oslo.get();
    in.now_ms = kNow + static_cast<std::int64_t>(i) * 60000;
    auto r = understand(*w.g, *w.u, *st, in);
    if (!r) {
      // AIKID_FUZZ_UNDERSTAND_LENIENT=1: a percept that is not UTF-8 may fail
      // with bad_request (the graph refusing a name cut from its bytes), to
      // fuzz past that finding; the wire refuses such text before it gets here.
      if (r.error().code == errc::bad_request && utf8_first_invalid(percepts[i]) >= 0 && w.lenient) continue;
      fail("percept " + std::to_string(i) + ": understand failed: " + r.error().message);
    }
    if (w.echo) std::fprintf(stderr, "understand_fuzz: [%s] %s\n  -> %s\n", std::string(user).c_str(), percepts[i].c_str(),
                             *r ? ((*r)->source + " (" + (*r)->lang + "): " + (*r)->text).c_str() : "nothing");
    if (const auto& a = *r) {
      if (a->text.empty()) fail("percept " + std::to_string(i) + ": empty text (source " + a->source + ")");
      if (!known_source(a->source)) fail("percept " + std::to_string(i) + ": unknown source \"" + a->source + "\"");
      if (const auto bad = utf8_first_invalid(a->text); bad >= 0)
        fail("percept " + std::to_string(i) + ": text not UTF-8 at byte " + std::to_string(bad) + ": " + a->text);
      if (a->lang.empty()) fail("percept " + std::to_string(i) + ": no language");
    }
    memories.insert(memories.begin(), memory_hit{static_cast<std::int64_t>(i + 1), percepts[i],
                                                 1.0f - 0.1f * static_cast<float>(i)});
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  if (ms > 100) note_slow(all, static_cast<long>(ms));

  if (++w.inputs % 64 == 0 && kg_stats_get(*w.g).relations > kMaxRelations) {
    for (const char* u : kUsers)
      if (auto d = kg_delete_user(*w.g, u); !d) fail(std::string("kg_delete_user: ") + d.error().message);
  }
  return 0;
}
