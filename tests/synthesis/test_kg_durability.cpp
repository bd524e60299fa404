// Durability: a kg write that returned is on disk — it survives closing and
// reopening, and a process that dies right after the write (no close, no
// destructor) loses nothing. Also: WAL mode, synchronous=FULL, schema version.
#define BOOST_TEST_MODULE synthesis_kg_durability
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <sys/wait.h>
#include <unistd.h>

#include <SQLiteCpp/SQLiteCpp.h>

#include "actors/synthesis/synthesis.hpp"
#include "tests/synthesis/test_util.hpp"

namespace syn = aikid::synthesis;

namespace {
std::filesystem::path fresh_dir(const std::string& tag) {
  auto d = std::filesystem::temp_directory_path() / ("syn_dur_" + tag + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}
}  // namespace

BOOST_AUTO_TEST_CASE(writes_survive_reopen) {
  auto dir = fresh_dir("reopen");
  const auto path = dir / "kg.sqlite";
  {
    auto g = syn::kg_open(path);
    BOOST_REQUIRE(g);
    std::vector<syn::triple> t = {{"Åse", "likes", "kaffe", {{"weight", 2}}},
                                  {"Åse", "alias", "Åsa", {}},
                                  {"Åse", "has_task", "tannlege", {{"due", "2024-06-01T09:00:00Z"}}},
                                  {"Per", "knows", "Åse", {{"subject_type", "person"}}}};
    BOOST_REQUIRE(syn::kg_add(**g, t));
    BOOST_REQUIRE(syn::kg_delete_triple(**g, {"Per", "knows", "Åse", {}}));
  }
  auto g = syn::kg_open(path);
  BOOST_REQUIRE(g);
  auto st = syn::kg_stats_get(**g);
  BOOST_TEST(st.entities == 4u);
  BOOST_TEST(st.relations == 2u);
  auto f = syn::kg_query(**g, "åsa", 1);
  BOOST_REQUIRE(f);
  BOOST_TEST(f->size() == 2u);
  auto per = syn::kg_find(**g, "per");
  BOOST_REQUIRE(per);
  BOOST_TEST(per->type == "person");
  BOOST_TEST(syn::kg_due(**g, 0, 1LL << 50).size() == 1u);
  // Pragmas and schema version, read by an independent connection.
  SQLite::Database db(path.string(), SQLite::OPEN_READONLY);
  BOOST_TEST(db.execAndGet("PRAGMA journal_mode").getString() == "wal");
  BOOST_TEST(db.execAndGet("SELECT max(version) FROM schema_version").getInt() == 1);
  g->reset();
  std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(write_survives_a_crash_right_after_it_returns) {
  auto dir = fresh_dir("crash");
  const auto path = dir / "kg.sqlite";
  pid_t pid = ::fork();
  BOOST_REQUIRE(pid >= 0);
  if (pid == 0) {
    auto g = syn::kg_open(path);
    if (!g) ::_exit(2);
    std::vector<syn::triple> t = {{"Kari", "lives_in", "Bergen", {}}};
    auto a = syn::kg_add(**g, t);
    ::_exit(a && *a == 1 ? 0 : 3);  // no destructor, no close: as if killed
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  BOOST_REQUIRE(WIFEXITED(status));
  BOOST_REQUIRE_EQUAL(WEXITSTATUS(status), 0);
  auto g = syn::kg_open(path);
  BOOST_REQUIRE(g);
  auto f = syn::kg_query(**g, "Kari", 1);
  BOOST_REQUIRE(f);
  BOOST_REQUIRE_EQUAL(f->size(), 1u);
  BOOST_TEST((*f)[0].object == "Bergen");
  g->reset();
  std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(newer_schema_and_garbage_file_are_refused) {
  auto dir = fresh_dir("schema");
  {
    auto g = syn::kg_open(dir / "a.sqlite");
    BOOST_REQUIRE(g);
  }
  {
    SQLite::Database db((dir / "a.sqlite").string(), SQLite::OPEN_READWRITE);
    db.exec("INSERT INTO schema_version(version) VALUES (99)");
  }
  auto g = syn::kg_open(dir / "a.sqlite");
  BOOST_REQUIRE(!g);
  BOOST_TEST(g.error().code == aikid::errc::unavailable);
  BOOST_TEST(g.error().message.find("schema version 99") != std::string::npos);
  {
    std::FILE* f = std::fopen((dir / "b.sqlite").c_str(), "wb");
    std::fputs("this is not a database file, not at all, really not", f);
    std::fclose(f);
  }
  auto h = syn::kg_open(dir / "b.sqlite");
  BOOST_REQUIRE(!h);
  BOOST_TEST(h.error().code == aikid::errc::unavailable);
  std::filesystem::remove_all(dir);
}
