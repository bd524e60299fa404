// Durability: a SQLite VFS shim registered as the default VFS records every
// xSync; an add (update, delete) must see a sync of the WAL happen before it
// returns. Group commit: 8 threads adding at once share transactions+syncs.
// Queued adds (add_enqueue + add_flush): done hears of the sync, never before it.
#define BOOST_TEST_MODULE memory_durability
#include <boost/test/unit_test.hpp>

#include <sqlite3.h>

#include "tests/sqlite_sync_shim.hpp"

#include <atomic>
#include <chrono>
#include <future>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "memory_test_util.hpp"

using namespace aikid;
using namespace aikid::memory;
using memtest::temp_dir;

// ---- the VFS shim (tests/sqlite_sync_shim.hpp) ----------------------------

namespace {

using namespace sync_shim;  // the shim: tests/sqlite_sync_shim.hpp

constexpr int kDim = 8;

// The tests' store: in d, kDim-dimensional, dedup at `dedup` (2.0: off).
store_options options_for(const temp_dir& d, double dedup) {
  store_options o;
  o.dir = d.path;
  o.dim = kDim;
  o.dedup_threshold = dedup;
  return o;
}

std::vector<float> vec(int i) {
  std::vector<float> v(kDim, 0.01f);
  v[i % kDim] = 1.f + i * 0.001f;
  v[(i / kDim) % kDim] += 0.5f;
  return memtest::unit(v);
}

}  // namespace

BOOST_AUTO_TEST_CASE(shim_is_in_use) {
  BOOST_TEST(std::string(sqlite3_vfs_find(nullptr)->zName) == "aikid-test-sync-shim");
}

BOOST_AUTO_TEST_CASE(every_write_syncs_the_wal_before_returning) {
  temp_dir d("sync");
  const store_options o = options_for(d, 2.0);
  auto s = std::move(*store::open(o));
  for (int i = 0; i < 5; ++i) {
    const int before = g_wal_syncs;
    auto a = s->add("u", "t" + std::to_string(i), {}, vec(i));
    BOOST_REQUIRE(a);
    BOOST_TEST(g_wal_syncs > before, "add " << i << " returned before the WAL was synced");
    // and the row is committed: a separate connection sees it
    sqlite3* db = nullptr;
    BOOST_REQUIRE(sqlite3_open_v2((d.path / "memory.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, "SELECT text FROM memories WHERE id = ?", -1, &st, nullptr);
    sqlite3_bind_int64(st, 1, a->id);
    BOOST_TEST(sqlite3_step(st) == SQLITE_ROW);
    sqlite3_finalize(st);
    sqlite3_close(db);
  }
  int before = g_wal_syncs;
  BOOST_REQUIRE(s->update(1, std::string("changed"), std::nullopt, std::nullopt));
  BOOST_TEST(g_wal_syncs > before);
  before = g_wal_syncs;
  BOOST_REQUIRE(s->remove(2));
  BOOST_TEST(g_wal_syncs > before);
  before = g_wal_syncs;
  BOOST_REQUIRE(*s->delete_all("u") == 4);
  BOOST_TEST(g_wal_syncs > before);
  // reads do not sync
  before = g_syncs;
  query q;
  q.vector = vec(1);
  BOOST_REQUIRE(s->search(q));
  BOOST_REQUIRE(s->list(std::nullopt, {}, 10, 0));
  BOOST_TEST(g_syncs == before);
}

BOOST_AUTO_TEST_CASE(group_commit_batches_concurrent_writers) {
  temp_dir d("group");
  const store_options o = options_for(d, 2.0);
  auto s = std::move(*store::open(o));
  g_sync_delay_us = 2000;  // a slow disk: writers pile up behind each sync
  const int before_syncs = g_wal_syncs;
  const auto c0 = s->stats()["commits"].get<std::uint64_t>();
  const auto b0 = s->stats()["batches"].get<std::uint64_t>();
  constexpr int kThreads = 8, kEach = 40;
  std::vector<std::thread> ts;
  std::mutex mu;
  std::vector<std::int64_t> ids;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        auto a = s->add("user" + std::to_string(t), "m", {{"t", t}}, vec(t * kEach + i));
        if (!a) {
          ++failures;
          continue;
        }
        std::lock_guard lk(mu);
        ids.push_back(a->id);
      }
    });
  for (auto& t : ts) t.join();
  g_sync_delay_us = 0;
  BOOST_TEST(failures == 0);
  BOOST_TEST(ids.size() == std::size_t(kThreads * kEach));
  const auto commits = s->stats()["commits"].get<std::uint64_t>() - c0;
  const auto batches = s->stats()["batches"].get<std::uint64_t>() - b0;
  BOOST_TEST_MESSAGE("writes " << commits << " in " << batches << " batches, WAL syncs "
                               << (g_wal_syncs - before_syncs));
  // adds that queue up together are applied as one write (one job), and
  // jobs that queue up together share one transaction and one sync
  constexpr std::uint64_t writes = kThreads * kEach;
  BOOST_TEST(commits >= 1u);
  BOOST_TEST(commits <= writes);
  BOOST_TEST(batches <= commits);
  BOOST_TEST(batches < writes / 2);  // grouped
  BOOST_TEST(g_wal_syncs - before_syncs < int(writes / 2));
  std::sort(ids.begin(), ids.end());
  BOOST_TEST((std::adjacent_find(ids.begin(), ids.end()) == ids.end()));  // no id twice
  for (auto id : ids) BOOST_TEST(s->get(id).has_value());
  // all there after a reopen too
  s.reset();
  auto r = std::move(*store::open(o));
  BOOST_TEST(r->size() == ids.size());
}

// done runs once, on the commit thread, after the WAL sync; the memory is
// searchable as soon as add_flush returns. With if_free, a store held by
// another write (a snapshot waiting for that sync) leaves the queued add
// queued, untouched, for a flush that may wait. Adds queued together are
// applied by one flush, in one transaction.
BOOST_AUTO_TEST_CASE(queued_adds_tell_done_after_the_sync) {
  temp_dir d("async");
  const store_options o = options_for(d, 2.0);
  auto s = std::move(*store::open(o));
  struct told {
    std::promise<expected<std::vector<add_result>>> result;
    std::future<expected<std::vector<add_result>>> future = result.get_future();
    std::atomic<int> syncs_then{0}, calls{0};
    std::thread::id on;  // read after result is ready
  };
  auto done_for = [](told& t) -> store::add_done {
    return [&t](expected<std::vector<add_result>> r) {
      t.syncs_then = g_wal_syncs.load();
      t.on = std::this_thread::get_id();
      if (++t.calls == 1) t.result.set_value(std::move(r));
    };
  };
  g_sync_held = true;
  const int syncs0 = g_wal_syncs;
  told first, second;
  s->add_enqueue({new_memory{"u", "first", {}, vec(1), {}}}, done_for(first));
  s->add_enqueue({new_memory{"u", "first too", {}, vec(5), {}}}, done_for(second));
  BOOST_TEST(s->add_flush(true));
  BOOST_TEST(first.calls == 0);  // its sync has not happened
  query q;
  q.vector = vec(1);
  q.top_k = 1;
  auto hits = s->search(q);
  BOOST_REQUIRE(hits);
  BOOST_REQUIRE(hits->size() == 1u);
  BOOST_TEST(hits->front().rec.text == "first");  // applied already
  // a snapshot takes the store and waits for that sync: an if_free flush
  // leaves the add queued (tried until the snapshot holds the store)
  auto snap = std::async(std::launch::async, [&] { return s->snapshot(); });
  std::deque<told> tries;  // tries flushed before the snapshot held the store are applied, and told later
  bool left = false;
  for (int i = 0; i < 10000 && !left; ++i) {
    s->add_enqueue({new_memory{"u", "second", {}, vec(2), {}}}, done_for(tries.emplace_back()));
    left = !s->add_flush(true);
    if (!left) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  BOOST_REQUIRE(left);
  BOOST_TEST(tries.back().calls == 0);
  BOOST_TEST(g_wal_syncs == syncs0);
  g_sync_held = false;
  auto r1 = first.future.get();
  BOOST_REQUIRE(r1);
  BOOST_TEST(r1->size() == 1u);
  BOOST_TEST(first.syncs_then > syncs0);  // told after the WAL sync
  BOOST_TEST((first.on != std::this_thread::get_id()));
  auto r2 = second.future.get();
  BOOST_REQUIRE(r2);
  BOOST_TEST(s->get(r2->front().id)->text == "first too");
  BOOST_TEST(second.syncs_then == first.syncs_then);  // one flush, one transaction, one sync
  BOOST_REQUIRE(snap.get());
  BOOST_TEST(tries.back().calls == 0);  // still queued once the snapshot is done
  // a flush from a thread that may wait applies it
  BOOST_TEST(s->add_flush());
  auto r3 = tries.back().future.get();
  BOOST_REQUIRE(r3);
  BOOST_TEST(s->get(r3->front().id)->text == "second");
  BOOST_TEST(first.calls == 1);
  BOOST_TEST(second.calls == 1);
  for (auto& t : tries) {
    if (t.calls == 0) t.future.wait();
    BOOST_TEST(t.calls == 1);
  }
  // a bad item is told at once, on the caller's thread, and nothing is queued
  told bad, good;
  s->add_enqueue({new_memory{"u", "x", {}, std::vector<float>(kDim + 1, 1.f), {}}}, done_for(bad));
  BOOST_TEST(bad.calls == 1);
  BOOST_TEST((bad.on == std::this_thread::get_id()));
  auto rb = bad.future.get();
  BOOST_REQUIRE(!rb);
  BOOST_TEST(rb.error().code == errc::bad_request);
  BOOST_TEST(rb.error().message.rfind("vector: ", 0) == 0);
  const auto memories = s->stats()["memories"].get<std::uint64_t>();
  BOOST_TEST(s->add_flush(true));
  BOOST_TEST(s->stats()["memories"].get<std::uint64_t>() == memories);
}

BOOST_AUTO_TEST_CASE(a_failed_sync_is_never_acknowledged) {
  temp_dir d("fsyncfail");
  const store_options o = options_for(d, 2.0);
  std::int64_t kept;
  {
    auto s = std::move(*store::open(o));
    kept = s->add("u", "kept", {}, vec(1))->id;
    g_sync_fails = true;
    auto a = s->add("u", "lost", {}, vec(2));
    g_sync_fails = false;
    BOOST_REQUIRE(!a);
    BOOST_TEST(a.error().code == errc::unavailable);
    BOOST_TEST_MESSAGE(a.error().message);
    // the store is down from now on, and says why
    auto b = s->add("u", "after", {}, vec(3));
    BOOST_REQUIRE(!b);
    BOOST_TEST(b.error().code == errc::unavailable);
    BOOST_TEST(s->get(kept).error().code == errc::unavailable);
    BOOST_TEST(!s->stats()["down"].get<std::string>().empty());
  }
  auto s = std::move(*store::open(o));
  BOOST_TEST(s->size() == 1u);
  BOOST_TEST(s->get(kept)->text == "kept");
}

// Adds that pile up behind a slow sync are applied together (one batch); the
// twins among them must still become one memory each, as if added one after
// another: 8 threads add the same 8 vectors for user "u" (and for "w").
BOOST_AUTO_TEST_CASE(concurrent_twins_dedup_into_one_memory) {
  temp_dir d("twins");
  const store_options o = options_for(d, 0.95);
  auto s = std::move(*store::open(o));
  g_sync_delay_us = 2000;
  constexpr int kThreads = 8, kVecs = 8;
  std::mutex mu;
  std::map<std::pair<std::string, int>, std::set<std::int64_t>> ids;  // (user, vector) → ids answered
  std::atomic<int> failures{0}, dedups{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < kVecs; ++i) {
        const int which = (i + t) % kVecs;  // each thread in its own order
        for (const char* user : {"u", "w"}) {
          auto a = s->add(user, "t" + std::to_string(t), {{"t", t}}, vec(which));
          if (!a) {
            ++failures;
            continue;
          }
          dedups += a->deduplicated;
          std::lock_guard lk(mu);
          ids[{user, which}].insert(a->id);
        }
      }
    });
  for (auto& t : ts) t.join();
  g_sync_delay_us = 0;
  BOOST_TEST(failures == 0);
  BOOST_TEST(s->size() == std::size_t(2 * kVecs));  // one memory per (user, vector)
  BOOST_TEST(dedups == 2 * kVecs * (kThreads - 1));
  std::set<std::int64_t> all;
  for (const auto& [key, set] : ids) {
    BOOST_TEST(set.size() == 1u, key.first << " vector " << key.second << " answered " << set.size() << " ids");
    all.insert(set.begin(), set.end());
    auto h = s->history(*set.begin());
    BOOST_REQUIRE(h);
    BOOST_TEST(h->size() == std::size_t(kThreads));  // one add, then a dedup per other thread
  }
  BOOST_TEST(all.size() == std::size_t(2 * kVecs));  // no id shared between users or vectors
  const auto st = s->stats();
  BOOST_TEST_MESSAGE("twins: writes " << st["commits"] << " in " << st["batches"] << " batches");
}
