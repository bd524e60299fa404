// Durability: a kg write that returned is on disk — it survives closing and
// reopening, and a process that dies right after the write (no close, no
// destructor) loses nothing. Also: WAL mode, synchronous=FULL, schema version
// and the v1 → v2 migration; reminders taken once per due time, across a reopen.
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
  BOOST_TEST(db.execAndGet("SELECT max(version) FROM schema_version").getInt() == 5);
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

// kg_due_take: a due relation is handed out once per due time — not before it
// is due, not twice, not again after a reopen — and again for a new due time.
BOOST_AUTO_TEST_CASE(reminders_are_taken_once_per_due_time_across_a_reopen) {
  auto dir = fresh_dir("due");
  const auto path = dir / "kg.sqlite";
  const std::int64_t due = 1893492000000;  // 2030-01-01T10:00:00Z
  {
    auto g = syn::kg_open(path);
    BOOST_REQUIRE(g);
    BOOST_REQUIRE(syn::kg_add(**g, std::vector<syn::triple>{{"ola", "meets", "Per", {{"due", "2030-01-01T10:00:00Z"}}},
                                                            {"ola", "likes", "kaffe", {}}}));
    auto early = syn::kg_due_take(**g, due - 1);
    BOOST_REQUIRE(early);
    BOOST_TEST(early->empty());
    auto now = syn::kg_due_take(**g, due);
    BOOST_REQUIRE(now);
    BOOST_REQUIRE(now->size() == 1u);
    BOOST_TEST(now->front().object == "Per");
    BOOST_TEST(*now->front().due_ms == due);
    auto again = syn::kg_due_take(**g, due + 60000);
    BOOST_REQUIRE(again);
    BOOST_TEST(again->empty());
    // The same attrs again (a re-add) does not re-arm it.
    BOOST_REQUIRE(syn::kg_add(**g, std::vector<syn::triple>{{"ola", "meets", "Per", {{"due", "2030-01-01T10:00:00Z"}}}}));
    BOOST_TEST(syn::kg_due_take(**g, due + 60000)->empty());
  }
  {
    auto g = syn::kg_open(path);
    BOOST_REQUIRE(g);
    BOOST_TEST(syn::kg_due_take(**g, due + 120000)->empty());  // taken before the reopen
    BOOST_REQUIRE(syn::kg_add(**g, std::vector<syn::triple>{{"ola", "meets", "Per", {{"due", "2030-01-02T10:00:00Z"}}}}));
    auto next = syn::kg_due_take(**g, due + 86400000);
    BOOST_REQUIRE(next);
    BOOST_TEST(next->size() == 1u);
  }
  std::filesystem::remove_all(dir);
}

// A version-1 database (no `fired` column) opens, is migrated to v3 in place,
// and keeps its relations; its due relations fire once.
BOOST_AUTO_TEST_CASE(a_version_1_database_is_migrated) {
  auto dir = fresh_dir("v1");
  const auto path = dir / "kg.sqlite";
  {
    SQLite::Database db(path.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec(
        "CREATE TABLE schema_version(version INTEGER NOT NULL);"
        "INSERT INTO schema_version(version) VALUES (1);"
        "CREATE TABLE entities(id INTEGER PRIMARY KEY, name TEXT NOT NULL, key TEXT NOT NULL UNIQUE,"
        " type TEXT NOT NULL DEFAULT '', created INTEGER NOT NULL);"
        "CREATE TABLE aliases(entity_id INTEGER NOT NULL REFERENCES entities(id) ON DELETE CASCADE,"
        " alias TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY(entity_id, key));"
        "CREATE TABLE relations(id INTEGER PRIMARY KEY,"
        " subject INTEGER NOT NULL REFERENCES entities(id) ON DELETE CASCADE, relation TEXT NOT NULL,"
        " object INTEGER NOT NULL REFERENCES entities(id) ON DELETE CASCADE,"
        " attrs TEXT NOT NULL DEFAULT '{}', due INTEGER, created INTEGER NOT NULL, UNIQUE(subject, relation, object));"
        "INSERT INTO entities VALUES (1, 'ola', 'ola', '', 0), (2, 'Per', 'per', '', 0);"
        "INSERT INTO relations VALUES (1, 1, 'meets', 2, '{\"due\":\"2030-01-01T10:00:00Z\"}', 1893492000000, 0);");
  }
  auto g = syn::kg_open(path);
  BOOST_REQUIRE(g);
  BOOST_TEST(syn::kg_stats_get(**g).relations == 1u);
  BOOST_TEST(syn::kg_due_take(**g, 1893492000000)->size() == 1u);
  BOOST_TEST(syn::kg_due_take(**g, 1893492000000)->empty());
  SQLite::Database db(path.string(), SQLite::OPEN_READONLY);
  BOOST_TEST(db.execAndGet("SELECT max(version) FROM schema_version").getInt() == 5);
  BOOST_TEST(db.execAndGet("SELECT fired FROM relations WHERE id = 1").getInt64() == 1893492000000);
  // v3: the reminders and settings tables (reminders said in words)
  BOOST_TEST(db.execAndGet("SELECT count(*) FROM reminders").getInt() == 0);
  BOOST_TEST(db.execAndGet("SELECT count(*) FROM settings").getInt() == 0);
  g->reset();
  std::filesystem::remove_all(dir);
}
