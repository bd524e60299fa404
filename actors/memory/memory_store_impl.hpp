// store::impl — shared by memory_store.cpp (the API) and memory_jsonl.cpp.
// Lock order: snap_mu, then write_mu, then mu. write_mu serialises writers (prepare, apply
// in memory, queue the SQL in order); mu guards the catalogue and the index
// (shared for searches, exclusive to apply a change or for index upkeep).
#pragma once

#include <shared_mutex>

#include "actors/memory/memory_internal.hpp"

namespace aikid::memory {

struct store::impl {
  store_options opts;
  std::filesystem::path db_file, snap_file;
  std::unique_ptr<committer> commit;
  std::unique_ptr<SQLite::Database> reader;  // history, export
  mutable std::mutex reader_mu;

  mutable std::shared_mutex mu;
  std::unordered_map<std::int64_t, record> recs;
  std::unordered_map<std::string, std::unordered_set<std::int64_t>> by_user;
  // meta field → value key → ids (filter candidates)
  std::unordered_map<std::string, std::unordered_map<std::string, std::unordered_set<std::int64_t>>> postings;
  std::unique_ptr<vindex> index;

  std::mutex write_mu;
  std::int64_t next_id = 1, next_seq = 1, snap_seq = 0;

  std::atomic<double> dedup_threshold{0.95};
  std::atomic<int> ef_search{64};

  std::thread worker;
  std::mutex worker_mu;
  std::condition_variable worker_cv;
  std::atomic<bool> stop{false};

  void log(const std::string& s) const {
    if (opts.log) opts.log(s);
  }
  // catalogue (exclusive mu)
  void cat_insert(const record& r);
  void cat_erase(std::int64_t id);
  // a queued write: caller holds write_mu
  expected<void> down() const;
  /// Writes memory.index: one snapshot at a time (snap_mu), writers paused
  /// only while the queue drains and the index is copied.
  expected<void> snapshot_run();
  std::mutex snap_mu;  // before write_mu
};

}  // namespace aikid::memory
