// aikid memory engine: durable long-term memories with vector recall.
//
// SQLite (WAL, synchronous=FULL) is the truth; a FAISS index is a cache of it.
// Contents of this header, in data-flow order:
//   store_options   what open() needs (folder, dimension, index tunables)
//   record / hit    a memory, and a memory found by a search with its score
//   query           what a search asks for (vector, top_k, user, filter, time)
//   store           the engine: open, add, search, get, update, remove, list,
//                   history, delete_all, snapshot, export/import, re-embedding
//
// Files inside the data folder: memory.db (+ -wal, -shm) and memory.index
// (the index snapshot; any damage to it only costs a rebuild at open).
//
// Scores are cosine similarities: vectors are stored and queried as unit
// vectors, and a score is their inner product. Ties are broken by smaller id.
//
// Threads: every public member may be called from several threads at once.
// Searches run concurrently with each other and with writes; concurrent
// writes are batched by a group commit into one transaction and one sync.
// A write returns only after SQLite has synced its transaction to disk.
// A change is visible to searches from the moment it is queued for commit;
// if that commit fails, the store goes down (every later call answers
// `unavailable` with the reason) rather than serve a state the disk lacks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.hpp"

namespace aikid::memory {

struct store_options {
  /// Data folder; created if missing.
  std::filesystem::path dir;
  /// Vector dimension; a database made with another dimension does not open.
  int dim = 384;
  /// The embedding model that makes new vectors; recorded on each vector.
  std::string model_id;
  /// Up to this many memories the index is exact (IndexIDMap2 + IndexFlatIP);
  /// above it an HNSW graph is built in the background. Also the largest
  /// filtered match set that is scanned exactly.
  std::size_t flat_max = 50000;
  int hnsw_m = 32, hnsw_ef_construction = 200, hnsw_ef_search = 64;
  /// An add whose cosine to an existing memory of the same user is at least
  /// this updates that memory instead (> 1 disables dedup).
  double dedup_threshold = 0.95;
  /// One line per event (open, rebuild progress, background work).
  std::function<void(std::string_view)> log;
};

struct record {
  std::int64_t id = 0;
  std::string user, text;
  nlohmann::json meta = nlohmann::json::object();
  std::int64_t created_ms = 0, updated_ms = 0;
  /// The embedding model that made the vector; "" when the text changed
  /// without a new vector (stale: the actor should re-embed it).
  std::string model;
};

struct hit {
  record rec;
  float score = 0;
};

struct query {
  std::vector<float> vector;
  int top_k = 10;
  std::optional<std::string> user;
  /// null, {} or {"field": value | {"in": [values]}, ...} (AND) on meta.
  nlohmann::json filter;
  /// created_ms in [since_ms, until_ms] (both inclusive).
  std::optional<std::int64_t> since_ms, until_ms;
};

struct add_result {
  std::int64_t id = 0;
  bool deduplicated = false;
};

/// One memory of an add_batch.
struct new_memory {
  std::string user, text;
  nlohmann::json meta = nlohmann::json::object();
  std::vector<float> vec;
};

struct history_event {
  /// "add" | "update" | "delete" | "dedup"
  std::string event;
  std::optional<std::string> old_text, new_text;
  std::int64_t at_ms = 0;
};

class store {
 public:
  /// Opens (or creates) the store in opts.dir. Fails with `unavailable` and
  /// the reason when the database is corrupt, unreadable, of a newer schema or
  /// of another dimension — the file is then left byte-for-byte untouched;
  /// `bad_request` when opts is invalid (dim < 1, flat_max 0, bad HNSW M).
  /// A missing, damaged or stale index snapshot is rebuilt from the database
  /// (progress through opts.log).
  static expected<std::unique_ptr<store>> open(const store_options&);
  /// Closes: finishes queued writes, writes an index snapshot if changed.
  ~store();
  store(const store&) = delete;
  store& operator=(const store&) = delete;

  /// Adds a memory (durable on return). Dedup: see store_options. Fails with
  /// `bad_request` on a wrong dimension, a non-finite or zero vector or a meta
  /// that is not an object; `unavailable` when the store is down.
  expected<add_result> add(std::string user, std::string text, nlohmann::json meta,
                           std::vector<float> vec);
  /// Adds many memories in one transaction (one sync); each is deduplicated
  /// against the store and the items before it. All or nothing: the error
  /// names the item (`items[i].vector: …`).
  expected<std::vector<add_result>> add_batch(std::vector<new_memory> items);
  /// The top_k memories closest to q.vector among those that match the user,
  /// filter and time range. Exact (brute force) when the index is flat or the
  /// match set is at most flat_max; HNSW with the filter applied otherwise.
  /// Fails with `bad_request` on a malformed filter (the message names the
  /// field), a wrong dimension, top_k outside [1, 10000].
  expected<std::vector<hit>> search(const query&) const;
  /// `not_found` when no memory has this id.
  expected<record> get(std::int64_t id) const;
  /// Replaces the text, meta (whole object) and/or vector. Text without a
  /// vector marks the vector stale (model ""). `not_found`, `bad_request`.
  expected<void> update(std::int64_t id, std::optional<std::string> text,
                        std::optional<nlohmann::json> meta,
                        std::optional<std::vector<float>> vec);
  /// `not_found` when no memory has this id.
  expected<void> remove(std::int64_t id);
  /// A page of the matching memories in id order, and the total that match.
  /// `bad_request` on a malformed filter, limit < 0 or offset < 0.
  expected<std::pair<std::vector<record>, std::int64_t>> list(
      std::optional<std::string> user, const nlohmann::json& filter, int limit,
      int offset) const;
  /// Every change to the memory, oldest first (kept after a delete).
  /// `not_found` when the id never existed.
  expected<std::vector<history_event>> history(std::int64_t id) const;
  /// Deletes every memory of the user; returns how many.
  expected<std::int64_t> delete_all(const std::string& user);
  /// Writes the index snapshot now (memory.index, atomically replaced).
  expected<void> snapshot();
  /// Writes every memory (with its vector) and every history event as JSONL;
  /// returns the number of memories. `internal` with the path on I/O errors.
  expected<std::size_t> export_jsonl(const std::filesystem::path&) const;
  /// Reads a file written by export_jsonl: memories keep their ids (an
  /// existing id is replaced) and their history replaces what the store
  /// had for those ids. All or nothing: `bad_request` naming line and field.
  expected<std::size_t> import_jsonl(const std::filesystem::path&);

  // --- re-embedding after a model change (driven by the actor) ----------
  /// Ids whose vector was made by another model than opts.model_id (or is
  /// stale), at most `limit`, smallest id first.
  std::vector<std::int64_t> stale_ids(std::size_t limit) const;
  /// Replaces the vector and its model id; no history event (the text is
  /// unchanged). `not_found`, `bad_request`.
  expected<void> update_vector(std::int64_t id, std::vector<float> vec, std::string model);

  // --- live tunables ----------------------------------------------------
  void set_dedup_threshold(double);
  void set_ef_search(int);

  /// Number of memories.
  std::size_t size() const;
  /// Counts and index state: memories, index kind, flat/hnsw rows,
  /// tombstones, buffer, stale vectors, commits, batches, last snapshot seq.
  nlohmann::json stats() const;

  struct impl;

 private:
  explicit store(std::unique_ptr<impl>);
  std::unique_ptr<impl> p_;
};

}  // namespace aikid::memory
