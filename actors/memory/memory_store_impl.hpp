// store::impl — shared by memory_store.cpp (the API) and memory_jsonl.cpp.
// Lock order: snap_mu, then write_mu, then mu or addq_mu. write_mu serialises writers (prepare, apply
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
  std::size_t stale_n = 0;  // recs whose vector is not opts.model_id's (kept by cat_insert/cat_erase)
  std::unordered_map<std::string, std::unordered_set<std::int64_t>> by_user;
  // meta field → value key → ids (filter candidates)
  std::unordered_map<std::string, std::unordered_map<std::string, std::unordered_set<std::int64_t>>> postings;
  std::unique_ptr<vindex> index;
  // Re-embedding (see memory.hpp). index_model made the live index's
  // vectors; while it differs from opts.model_id the shadow collects the new
  // model's vectors and searches use it only for that model's queries.
  // A memory is in the live index unless it has only a new-model vector
  // (model == opts.model_id while re-embedding). Changed under write_mu + mu.
  std::string index_model, index_model_dir;
  std::unique_ptr<vindex> shadow;
  // Indexes replaced by a switch; freed by the worker (a build may hold one).
  std::vector<std::unique_ptr<vindex>> retired;
  std::int64_t switch_seq = 0;  // a snapshot older than this is of the old model

  std::mutex write_mu;
  std::int64_t next_id = 1, next_seq = 1, snap_seq = 0;

  // Adds waiting to be applied (add_enqueue): the add_flush that next
  // holds write_mu applies all of them as one batch, and the batch's
  // transaction, once synced, tells each call's done.
  struct add_work {
    db_memory_row row;
    std::string event;
    std::optional<std::string> old_text;
    std::int64_t seq;
    std::vector<float> shadow_vec;  // re-embedding: the new-model vector
    std::vector<history_event> history;  // new_memory::history (empty: one `event` row)
  };
  struct add_call {
    std::vector<new_memory> items;
    store::add_done done;
    std::vector<add_result> results;  // written under write_mu
    std::size_t first = 0, last = 0;  // this call's rows in the batch's add_work
  };
  std::mutex addq_mu;  // after write_mu when both are held
  std::vector<std::shared_ptr<add_call>> addq;
  /// Applies the queued calls as one batch (dedup, catalogue, index) and
  /// queues one transaction whose outcome reaches each call's done; tells
  /// every done the error at once when the store is down. Caller holds
  /// write_mu.
  void adds_apply(std::vector<std::shared_ptr<add_call>>& calls);

  std::atomic<double> dedup_threshold{0.95};
  std::atomic<int> ef_search{32};

  // A forget (remove, delete_all) zeroes the vector in memory; the worker
  // then writes a snapshot once no forget has come for 1 s, so that the
  // memory.index file on disk no longer holds it (0: none pending).
  std::atomic<std::int64_t> forget_snap_ms{0};

  std::thread worker;
  std::mutex worker_mu;
  std::condition_variable worker_cv;
  std::atomic<bool> stop{false};

  void log(const std::string& s) const {
    if (opts.log) opts.log(s);
  }
  // Reading rows back (load, history, export). A text that is not
  // well-formed UTF-8 (written by an older version, or a hand-edited
  // database) is served with U+FFFD for each bad part; a meta nested deeper
  // than opts.max_json_depth is served as {}. Either is counted in `repaired`
  // (stats: repaired_rows); nothing is written back. A meta that is not JSON
  // at all fails (the store does not open: the message names the row).
  mutable std::atomic<std::uint64_t> repaired{0};
  std::string stored_text(std::string t) const;
  expected<nlohmann::json> stored_meta(const std::string& text, std::int64_t id) const;
  // catalogue (exclusive mu)
  void cat_insert(const record& r);  // replaces a record of the same id
  void cat_erase(std::int64_t id);
  bool reindexing() const { return !opts.model_id.empty() && index_model != opts.model_id; }
  /// Whether r's stored vector belongs in the live index.
  bool in_live(const record& r) const { return !reindexing() || r.model != opts.model_id; }
  std::unique_ptr<vindex> index_new() const;
  /// Caller holds write_mu. When re-embedding and every memory has a shadow
  /// vector: swaps the shadow in and queues the switch transaction; returns
  /// its ticket (0: nothing to do). The caller waits for it, then snapshots.
  std::uint64_t switch_if_complete();
  /// Waits for ticket t; after a switch (switched) writes the new snapshot.
  expected<void> wait_and_snapshot(std::uint64_t t, bool switched);
  // a queued write: caller holds write_mu
  expected<void> down() const;
  /// Writes memory.index: one snapshot at a time (snap_mu), writers paused
  /// only while the queue drains and the index is copied.
  expected<void> snapshot_run();
  std::mutex snap_mu;  // before write_mu
};

}  // namespace aikid::memory
