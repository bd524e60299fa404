// Re-embedding after a model change: the shadow is not searched by old-model
// queries, the switch is one transaction, a restart resumes, writes during
// re-embedding follow the rules of docs/decisions.md, damaged shadow rows
// fail the open with a clear error and leave the database untouched.
#define BOOST_TEST_MODULE memory_reindex
#include <boost/test/unit_test.hpp>

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "memory_test_util.hpp"

using namespace aikid;
using namespace aikid::memory;
using memtest::temp_dir;

namespace {

constexpr int kDim = 16;

struct logged {
  std::mutex mu;
  std::vector<std::string> lines;
  bool has(const std::string& s) {
    std::lock_guard lk(mu);
    for (const auto& l : lines)
      if (l.find(s) != std::string::npos) return true;
    return false;
  }
};

store_options opts(const temp_dir& d, const std::string& model, logged* log = nullptr) {
  store_options o;
  o.dir = d.path;
  o.dim = kDim;
  o.model_id = model;
  o.model_dir = "/models/" + model;
  o.dedup_threshold = 2.0;  // off unless a test turns it on
  if (log)
    o.log = [log](std::string_view l) {
      std::lock_guard lk(log->mu);
      log->lines.emplace_back(l);
    };
  return o;
}

std::unique_ptr<store> open_ok(const store_options& o) {
  auto s = store::open(o);
  BOOST_REQUIRE_MESSAGE(s.has_value(), (s ? "" : s.error().message));
  return std::move(*s);
}

// The two "models": each text id has an unrelated vector in each space.
std::vector<float> vec_of(const std::string& model, std::int64_t n) {
  std::mt19937 g(static_cast<unsigned>(std::hash<std::string>{}(model) ^ (n * 7919)));
  return memtest::random_vec(g, kDim);
}

std::string text_of(std::int64_t n) { return "memory " + std::to_string(n); }
std::int64_t num_of(const std::string& text) { return std::stoll(text.substr(7)); }

// The top hit's id for model's vector of text n, and the note.
std::pair<std::int64_t, search_note> top(const store& s, const std::string& model, std::int64_t n, int k = 1) {
  query q;
  q.vector = vec_of(model, n);
  q.model = model;
  q.top_k = k;
  search_note note;
  auto r = s.search(q, &note);
  BOOST_REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().message));
  return {r->empty() ? 0 : r->front().rec.id, note};
}

// Adds texts [0, n) with model A's vectors; returns their ids.
std::vector<std::int64_t> fill(store& s, int n) {
  std::vector<std::int64_t> ids;
  for (int i = 0; i < n; ++i) {
    auto a = s.add("u", text_of(i), {}, vec_of("A", i));
    BOOST_REQUIRE(a);
    ids.push_back(a->id);
  }
  return ids;
}

// Re-embeds up to `limit` todo memories with model B (as the actor does).
reindex_result put_b(store& s, std::size_t limit) {
  auto todo = s.reindex_todo(limit);
  for (auto& t : todo) t.vec = vec_of("B", num_of(t.text));
  auto r = s.reindex_put(std::move(todo));
  BOOST_REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().message));
  return *r;
}

std::string meta_value(const std::filesystem::path& db, const std::string& key) {
  SQLite::Database d(db.string(), SQLite::OPEN_READONLY);
  SQLite::Statement q(d, "SELECT value FROM meta WHERE key = ?");
  q.bind(1, key);
  return q.executeStep() ? q.getColumn(0).getString() : std::string();
}

std::int64_t count_sql(const std::filesystem::path& db, const std::string& sql) {
  SQLite::Database d(db.string(), SQLite::OPEN_READONLY);
  SQLite::Statement q(d, sql);
  q.executeStep();
  return q.getColumn(0).getInt64();
}

}  // namespace

BOOST_AUTO_TEST_CASE(shadow_is_not_searched_before_the_switch) {
  temp_dir d("rx-shadow");
  { auto s = open_ok(opts(d, "A")); fill(*s, 40); BOOST_TEST(!s->reindex_state().active); }
  auto s = open_ok(opts(d, "B"));
  auto st = s->reindex_state();
  BOOST_TEST(st.active);
  BOOST_TEST(st.from_model == "A");
  BOOST_TEST(st.from_dir == "/models/A");
  BOOST_TEST(st.to_model == "B");
  BOOST_TEST(st.done == 0u);
  BOOST_TEST(st.total == 40u);
  // old-model queries: the live index, complete
  for (int i = 0; i < 40; i += 7) {
    auto [id, note] = top(*s, "A", i);
    BOOST_TEST(id == i + 1);
    BOOST_TEST(note.index == "live");
  }
  // new-model queries: the shadow, empty so far
  BOOST_TEST(top(*s, "B", 3).first == 0);
  BOOST_TEST(put_b(*s, 20).written == 20u);
  BOOST_TEST(s->reindex_state().done == 20u);
  for (int i = 0; i < 40; ++i) {
    auto [ida, na] = top(*s, "A", i);
    BOOST_TEST(ida == i + 1);  // the old index is untouched by the shadow's vectors
    auto [idb, nb] = top(*s, "B", i);
    BOOST_TEST(nb.index == "shadow");
    BOOST_TEST(nb.done == 20u);
    BOOST_TEST(nb.total == 40u);
    if (i < 20) BOOST_TEST(idb == i + 1);
    else BOOST_TEST(idb <= 20);  // only the re-embedded half is in the shadow
  }
  // a vector of an unknown model has no index
  query q;
  q.vector = vec_of("C", 1);
  q.model = "C";
  auto r = s->search(q);
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.error().code == errc::bad_request);
  BOOST_TEST(r.error().message.find("'C'") != std::string::npos);
  // the live index's vectors stay model A's in the database
  BOOST_TEST(count_sql(d.path / "memory.db", "SELECT COUNT(*) FROM memories WHERE model = 'A'") == 40);
  BOOST_TEST(count_sql(d.path / "memory.db", "SELECT COUNT(*) FROM shadow") == 20);
  BOOST_TEST(s->stats()["reindex"]["done"] == 20);
  // update_vector cannot mix spaces
  auto uv = s->update_vector(1, vec_of("B", 0), "B");
  BOOST_REQUIRE(!uv);
  BOOST_TEST(uv.error().code == errc::bad_request);
}

// stats' stale_vectors (memories whose vector is not the configured
// model's) is counted as records change, through every path that changes one.
BOOST_AUTO_TEST_CASE(stale_vectors_follow_every_change) {
  temp_dir d("rx-stale");
  {
    auto s = open_ok(opts(d, "A"));
    fill(*s, 6);
    BOOST_TEST(s->stats()["stale_vectors"] == 0);
    BOOST_REQUIRE(s->update(3, std::string("memory 7"), std::nullopt, std::nullopt));  // text without vector
    BOOST_TEST(s->stats()["stale_vectors"] == 1);
    BOOST_REQUIRE(s->update_vector(3, vec_of("A", 7), "A"));  // mended
    BOOST_TEST(s->stats()["stale_vectors"] == 0);
    BOOST_REQUIRE(s->update(4, std::string("memory 9"), std::nullopt, std::nullopt));
    BOOST_TEST(s->stats()["stale_vectors"] == 1);
    BOOST_REQUIRE(s->remove(4));  // a deleted stale memory takes its count with it
    BOOST_TEST(s->stats()["stale_vectors"] == 0);
  }
  auto s = open_ok(opts(d, "B"));  // loaded: every vector is A's, the store wants B's
  BOOST_TEST(s->stats()["stale_vectors"] == 5);
  BOOST_TEST(put_b(*s, 2).written == 2u);  // the shadow fills; live vectors stay A's until the switch
  BOOST_TEST(s->stats()["stale_vectors"] == 5);
  BOOST_TEST(put_b(*s, 10).switched);
  BOOST_TEST(s->stats()["stale_vectors"] == 0);
}

BOOST_AUTO_TEST_CASE(switch_is_one_transaction_and_survives_restart) {
  temp_dir d("rx-switch");
  logged log;
  { auto s = open_ok(opts(d, "A")); fill(*s, 30); BOOST_REQUIRE(s->snapshot()); }
  const auto old_snap = memtest::file_bytes(d.path / "memory.index");
  {
    auto s = open_ok(opts(d, "B", &log));
    BOOST_TEST(!put_b(*s, 29).switched);
    BOOST_TEST(count_sql(d.path / "memory.db", "SELECT COUNT(*) FROM memories WHERE model = 'A'") == 30);
    BOOST_TEST(meta_value(d.path / "memory.db", "index_model") == "A");
    auto last = put_b(*s, 10);
    BOOST_TEST(last.written == 1u);
    BOOST_TEST(last.switched);
    BOOST_TEST(log.has("switched 30 memories"));
    // all at once: every row, the meta and the shadow
    BOOST_TEST(count_sql(d.path / "memory.db", "SELECT COUNT(*) FROM memories WHERE model = 'B'") == 30);
    BOOST_TEST(count_sql(d.path / "memory.db", "SELECT COUNT(*) FROM shadow") == 0);
    BOOST_TEST(meta_value(d.path / "memory.db", "index_model") == "B");
    BOOST_TEST(meta_value(d.path / "memory.db", "index_model_dir") == "/models/B");
    BOOST_TEST(!s->reindex_state().active);
    BOOST_TEST(s->get(5)->model == "B");
    for (int i = 0; i < 30; ++i) {
      auto [id, note] = top(*s, "B", i);
      BOOST_TEST(id == i + 1);
      BOOST_TEST(!note.reindexing);
    }
    query q;  // the old model's vectors are gone with its index
    q.vector = vec_of("A", 1);
    q.model = "A";
    BOOST_TEST(!s->search(q));
    BOOST_TEST(s->reindex_todo(10).empty());
  }
  // a snapshot of the old model (as if the process died before replacing it) is not used
  std::ofstream(d.path / "memory.index", std::ios::binary | std::ios::trunc) << old_snap;
  logged log2;
  auto s = open_ok(opts(d, "B", &log2));
  BOOST_TEST(log2.has("before the switch"));
  BOOST_TEST(!s->reindex_state().active);
  for (int i = 0; i < 30; ++i) BOOST_TEST(top(*s, "B", i).first == i + 1);
}

BOOST_AUTO_TEST_CASE(restart_resumes_and_another_model_starts_over) {
  temp_dir d("rx-resume");
  { auto s = open_ok(opts(d, "A")); fill(*s, 25); }
  { auto s = open_ok(opts(d, "B")); put_b(*s, 10); }
  {
    logged log;
    auto s = open_ok(opts(d, "B", &log));
    BOOST_TEST(log.has("resumes at 10/25"));
    auto st = s->reindex_state();
    BOOST_TEST(st.done == 10u);
    auto todo = s->reindex_todo(100);
    BOOST_REQUIRE(todo.size() == 15u);
    BOOST_TEST(todo.front().id == 11);  // resumes where it stopped
    for (int i = 0; i < 10; ++i) BOOST_TEST(top(*s, "B", i).first == i + 1);  // shadow vectors came back
  }
  {  // the configured model changed again: the shadow of B is dropped
    logged log;
    auto s = open_ok(opts(d, "C", &log));
    BOOST_TEST(log.has("dropping re-embedding vectors of model 'B'"));
    BOOST_TEST(s->reindex_state().done == 0u);
    BOOST_TEST(s->reindex_state().from_model == "A");
    BOOST_TEST(top(*s, "A", 4).first == 5);
  }
  BOOST_TEST(count_sql(d.path / "memory.db", "SELECT COUNT(*) FROM shadow") == 0);
  {  // back to A: nothing to do
    auto s = open_ok(opts(d, "A"));
    BOOST_TEST(!s->reindex_state().active);
    BOOST_TEST(top(*s, "A", 4).first == 5);
  }
}

BOOST_AUTO_TEST_CASE(writes_during_reindex_follow_the_rules) {
  temp_dir d("rx-writes");
  { auto s = open_ok(opts(d, "A")); fill(*s, 10); }
  auto s = open_ok(opts(d, "B"));
  // an add with both vectors: findable by both models now
  auto both = s->add_batch({new_memory{"u", text_of(100), {}, vec_of("B", 100), vec_of("A", 100)}});
  BOOST_REQUIRE(both);
  const auto id_both = (*both)[0].id;
  BOOST_TEST(top(*s, "A", 100).first == id_both);
  BOOST_TEST(top(*s, "B", 100).first == id_both);
  // an add with only the new model's vector: in the shadow only until the switch
  auto only = s->add("u", text_of(101), {}, vec_of("B", 101));
  BOOST_REQUIRE(only);
  BOOST_TEST(top(*s, "B", 101).first == only->id);
  BOOST_TEST(top(*s, "A", 101, 20).first != only->id);
  {
    query q;
    q.vector = vec_of("A", 101);
    q.model = "A";
    q.top_k = 100;
    auto hits = s->search(q);
    BOOST_REQUIRE(hits);
    BOOST_TEST(hits->size() == 11u);  // the ten old memories and the add with both vectors
    for (const auto& h : *hits) BOOST_TEST(h.rec.id != only->id);
  }
  BOOST_TEST(s->reindex_state().done == 2u);  // both new adds are re-embedded already
  // a bad live vector is named
  auto bad = s->add_batch({new_memory{"u", "x", {}, vec_of("B", 1), std::vector<float>(3, 1.f)}});
  BOOST_REQUIRE(!bad);
  BOOST_TEST(bad.error().message.rfind("live_vector: ", 0) == 0);  // one item: named by its field alone
  // a text update drops the shadow vector; an embedding made from the old text is skipped
  put_b(*s, 3);  // ids 1..3
  BOOST_TEST(s->reindex_state().done == 5u);
  BOOST_REQUIRE(s->update(2, text_of(200), std::nullopt, std::nullopt));
  BOOST_TEST(s->reindex_state().done == 4u);
  auto stale = s->reindex_put({reindex_item{2, text_of(1), vec_of("B", 1)}});
  BOOST_REQUIRE(stale);
  BOOST_TEST(stale->skipped == 1u);
  BOOST_TEST(top(*s, "A", 1).first == 2);  // still findable by its old vector until re-embedded
  // deleted memories leave the shadow
  BOOST_REQUIRE(s->remove(1));
  BOOST_TEST(s->reindex_state().done == 3u);
  BOOST_TEST(top(*s, "B", 0).first != 1);
  auto gone = s->reindex_put({reindex_item{1, text_of(0), vec_of("B", 0)}});
  BOOST_TEST(gone->skipped == 1u);
  // bad vectors are named
  auto badv = s->reindex_put({reindex_item{3, text_of(2), std::vector<float>(kDim, 0.f)}});
  BOOST_REQUIRE(!badv);
  BOOST_TEST(badv.error().message.find("items[0].vector") != std::string::npos);
  // finish: every memory, including the ones added meanwhile, is model B's
  for (int guard = 0; s->reindex_state().active && guard < 10; ++guard) put_b(*s, 4);
  BOOST_TEST(!s->reindex_state().active);
  BOOST_TEST(top(*s, "B", 101).first == only->id);
  BOOST_TEST(top(*s, "B", 100).first == id_both);
  BOOST_TEST(top(*s, "B", 200).first == 2);
  BOOST_TEST(s->size() == 11u);
  // a delete that completes the shadow switches too
  s.reset();
  { auto a = open_ok(opts(d, "C")); }
  auto c = open_ok(opts(d, "C"));
  auto todo = c->reindex_todo(100);
  for (std::size_t i = 0; i + 1 < todo.size(); ++i) todo[i].vec = vec_of("C", num_of(todo[i].text));
  const auto last_id = todo.back().id;
  todo.pop_back();
  BOOST_TEST(!c->reindex_put(std::move(todo))->switched);
  BOOST_TEST(c->reindex_state().active);
  BOOST_REQUIRE(c->remove(last_id));
  BOOST_TEST(!c->reindex_state().active);
  BOOST_TEST(c->get(3)->model == "C");
}

BOOST_AUTO_TEST_CASE(concurrent_writes_during_reindex) {
  temp_dir d("rx-race");
  { auto s = open_ok(opts(d, "A")); fill(*s, 300); }
  auto s = open_ok(opts(d, "B"));
  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  std::mutex mu;
  std::set<std::int64_t> deleted, added;
  std::thread driver([&] {
    while (s->reindex_state().active) {
      auto todo = s->reindex_todo(16);
      for (auto& t : todo) t.vec = vec_of("B", num_of(t.text));
      if (!s->reindex_put(std::move(todo))) ++failures;
    }
    done = true;
  });
  std::thread writer([&] {
    for (int i = 0; i < 200 && !done; ++i) {
      if (i % 3 == 0) {
        const std::int64_t id = 1 + (i * 37) % 300;
        auto r = s->remove(id);
        std::lock_guard lk(mu);
        if (r) deleted.insert(id);
      } else {
        const int n = 1000 + i;
        std::optional<std::int64_t> id;
        if (i % 2) {
          auto r = s->add("u", text_of(n), {}, vec_of("B", n));
          if (r) id = r->id;
        } else {
          auto r = s->add_batch({new_memory{"u", text_of(n), {}, vec_of("B", n), vec_of("A", n)}});
          if (r) id = (*r)[0].id;
        }
        if (!id) {
          ++failures;
          continue;
        }
        std::lock_guard lk(mu);
        added.insert(*id);
      }
      query q;  // searches run meanwhile (model A's fail once the switch happened)
      q.vector = vec_of("A", 5);
      q.model = "A";
      auto r = s->search(q);
      if (!r && r.error().code != errc::bad_request) ++failures;
    }
  });
  writer.join();
  driver.join();
  BOOST_TEST(failures == 0);
  BOOST_TEST(!s->reindex_state().active);
  // every memory left is found by its model-B vector
  auto all = s->list(std::nullopt, nullptr, 10000, 0);
  BOOST_REQUIRE(all);
  BOOST_TEST(all->second == static_cast<std::int64_t>(300 - deleted.size() + added.size()));
  for (const auto& r : all->first) {
    BOOST_TEST(r.model == "B");
    BOOST_TEST(top(*s, "B", num_of(r.text)).first == r.id);
  }
  for (auto id : deleted) BOOST_TEST(!s->get(id));
  // and the same after a restart (rows, not just memory)
  s.reset();
  auto s2 = open_ok(opts(d, "B"));
  BOOST_TEST(!s2->reindex_state().active);
  for (const auto& r : all->first) BOOST_TEST(top(*s2, "B", num_of(r.text)).first == r.id);
}

BOOST_AUTO_TEST_CASE(damaged_shadow_rows_fail_the_open_and_leave_the_file) {
  temp_dir d("rx-damage");
  { auto s = open_ok(opts(d, "A")); fill(*s, 12); }
  { auto s = open_ok(opts(d, "B")); put_b(*s, 6); }
  const auto db = d.path / "memory.db";
  struct damage {
    std::string what, sql, expect;
  };
  const std::vector<damage> damages = {
      {"short vector", "UPDATE shadow SET vector = x'00112233' WHERE id = 3", "shadow row 3: vector has 4 bytes"},
      {"zero vector", "UPDATE shadow SET vector = zeroblob(64) WHERE id = 4", "shadow row 4: vector is not finite"},
      {"orphan", "INSERT INTO shadow(id, vector) SELECT 99, vector FROM shadow WHERE id = 1", "shadow row 99: no memory"},
  };
  for (const auto& dm : damages) {
    // damage the healthy file (restored after each case)
    const auto healthy = memtest::file_bytes(db);
    {
      SQLite::Database w(db.string(), SQLite::OPEN_READWRITE);
      w.exec(dm.sql);
      w.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    }
    const auto damaged = memtest::file_bytes(db);
    auto s = store::open(opts(d, "B"));
    BOOST_REQUIRE_MESSAGE(!s, dm.what << ": opened");
    BOOST_TEST(s.error().code == errc::unavailable);
    BOOST_TEST(s.error().message.find(dm.expect) != std::string::npos, dm.what << ": " << s.error().message);
    BOOST_TEST(s.error().message.find("memory.db") != std::string::npos);
    BOOST_TEST(memtest::file_bytes(db) == damaged, dm.what << ": the file was changed");
    std::ofstream(db, std::ios::binary | std::ios::trunc) << healthy;  // undo for the next case
  }
  auto s = open_ok(opts(d, "B"));
  BOOST_TEST(s->reindex_state().done == 6u);
}
