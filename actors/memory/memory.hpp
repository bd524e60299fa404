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
// Forgetting (remove, delete_all) leaves the words nowhere: see remove.
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
#include "common/json.hpp"

namespace aikid::memory {

struct store_options {
  /// Data folder; created if missing.
  std::filesystem::path dir;
  /// Vector dimension; a database made with another dimension does not open.
  int dim = 384;
  /// The embedding model that makes new vectors; recorded on each vector.
  /// When the stored vectors were made by another model, the store
  /// re-embeds (see "re-embedding" below).
  std::string model_id;
  /// The folder model_id was loaded from; recorded with the index's model so
  /// that after a later model change the previous model can be loaded again.
  std::string model_dir;
  /// Up to this many memories the index is exact (IndexIDMap2 + IndexFlatIP);
  /// above it an HNSW graph is built in the background. Also the largest
  /// filtered match set that is scanned exactly.
  std::size_t flat_max = 10000;
  int hnsw_m = 32, hnsw_ef_construction = 200, hnsw_ef_search = 32;
  /// An add whose cosine to an existing memory of the same user is at least
  /// this updates that memory instead (> 1 disables dedup).
  double dedup_threshold = 0.95;
  /// Deepest nesting of an import line, and of a stored meta read back (a
  /// deeper stored meta is served as {} and logged; common/json.hpp).
  int max_json_depth = json_default_max_depth;
  /// One line per event (open, rebuild progress, background work).
  std::function<void(std::string_view)> log;
  /// Called once per acknowledged change, after its sync and before the
  /// writer's call returns (on the writer's thread; must not call the store):
  /// event "add", "dedup" (an add merged into an existing memory), "update",
  /// "delete" (also each memory of delete_all) or "import" (id 0, text = the
  /// count). Re-embedding a memory is not a change.
  std::function<void(const struct change&)> on_change;
};

/// One acknowledged change, as store_options::on_change sees it.
struct change {
  std::string event;
  std::int64_t id = 0;
  std::string user;
  std::optional<std::string> text;  // the text after the change (none for a delete or an import)
  std::int64_t count = 0;           // import: how many memories it brought in
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
  /// The model that made `vector`; "" = store_options::model_id. A search
  /// is answered by the index in that model's space (see re-embedding).
  std::string model;
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
struct history_event {
  /// "add" | "update" | "delete" | "dedup"
  std::string event;
  std::optional<std::string> old_text, new_text;
  std::int64_t at_ms = 0;
};

struct new_memory {
  std::string user, text;
  nlohmann::json meta = nlohmann::json::object();
  /// Made by store_options::model_id.
  std::vector<float> vec;
  /// Only while re-embedding: the same text's vector from the live index's
  /// (previous) model, so that old-model searches find the memory before
  /// the switch. Empty: the memory is only in the shadow until the switch.
  std::vector<float> live_vec;
  /// false (memory.add's `dedup: false`, an import's): never merged into an
  /// existing memory, always a new one.
  bool dedup = true;
  /// memory.add's `created` / `updated` (unix ms): an imported memory's own
  /// times; 0 = now (updated: created).
  std::int64_t created_ms = 0, updated_ms = 0;
  /// memory.add's `history`: the memory's past changes (an import's), written
  /// instead of the one `add` event; empty: that one event.
  std::vector<history_event> history = {};
};

/// Where a search was answered while the store re-embeds.
struct search_note {
  bool reindexing = false;
  /// "live" (the previous model's complete index) or "shadow" (the new
  /// model's index, holding `done` of `total` memories).
  std::string index;
  std::size_t done = 0, total = 0;
};

/// Re-embedding after a model change: the live index was made by
/// from_model (loaded from from_dir); to_model (store_options::model_id)
/// has vectors for `done` of the `total` memories so far.
struct reindex_status {
  bool active = false;
  std::string from_model, from_dir, to_model;
  std::size_t done = 0, total = 0;
};

/// One memory's text and (in reindex_put) its vector from the new model.
struct reindex_item {
  std::int64_t id = 0;
  std::string text;
  std::vector<float> vec;
};

struct reindex_result {
  /// Written to the shadow; skipped because the memory is gone or its text
  /// changed since reindex_todo (it comes back in a later todo).
  std::size_t written = 0, skipped = 0;
  /// This call completed the shadow and switched the store to the new model.
  bool switched = false;
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
  /// names the item when there are several (`items[i].vector: …`).
  expected<std::vector<add_result>> add_batch(std::vector<new_memory> items);
  /// Told how queued adds ended: the results once their batch is synced,
  /// or the error add_batch would have returned.
  using add_done = std::function<void(expected<std::vector<add_result>>)>;
  /// add_batch in two steps, for a caller that must not wait for the sync
  /// (an actor). add_enqueue validates the items and queues them as one
  /// call; a bad item is told to `done` at once, on the caller's thread, and
  /// nothing is queued. add_flush applies every queued call as one batch
  /// (one dedup pass over the index, each call's items deduplicated against
  /// the store and the calls before it; searchable on return), queues their
  /// transaction and returns; each call's `done` runs once, on the store's
  /// commit thread after the sync or its failure (it must not throw; the
  /// next transaction waits for it), or on the flushing thread when the
  /// store is down. With `if_free`, when another write holds the store (a
  /// snapshot, a bulk delete, a merge of many adds) add_flush returns false
  /// at once and the calls stay queued for a later flush, which the caller
  /// should then make from a thread that can wait. Otherwise it waits for
  /// that write and returns true.
  void add_enqueue(std::vector<new_memory> items, add_done done);
  bool add_flush(bool if_free = false);
  /// The top_k memories closest to q.vector among those that match the user,
  /// filter and time range. Exact (brute force) when the index is flat or the
  /// match set is at most flat_max; HNSW with the filter applied otherwise.
  /// Fails with `bad_request` on a malformed filter (the message names the
  /// field), a wrong dimension, top_k outside [1, 10000].
  /// `bad_request` too when q.model is neither the live index's model nor
  /// (while re-embedding) the new one. `note`, if given, says which index
  /// answered while re-embedding.
  expected<std::vector<hit>> search(const query&, search_note* note = nullptr) const;
  /// `not_found` when no memory has this id.
  expected<record> get(std::int64_t id) const;
  /// Replaces the text, meta (whole object) and/or vector. Text without a
  /// vector marks the vector stale (model ""). `not_found`, `bad_request`.
  expected<void> update(std::int64_t id, std::optional<std::string> text,
                        std::optional<nlohmann::json> meta,
                        std::optional<std::vector<float>> vec);
  /// Forgets the memory: its row and vectors go (the index's copy zeroed,
  /// the snapshot rewritten by the worker 1 s after the last forget), its
  /// history keeps the events but not their texts, and the database is
  /// checkpointed and its WAL truncated after the commit (secure_delete
  /// zeroes the freed bytes). `not_found` when no memory has this id.
  expected<void> remove(std::int64_t id);
  /// A page of the matching memories in id order, and the total that match.
  /// `bad_request` on a malformed filter, limit < 0 or offset < 0. An offset
  /// past the end gives an empty page.
  /// since/until: created_ms in [since, until] (both inclusive).
  expected<std::pair<std::vector<record>, std::int64_t>> list(
      std::optional<std::string> user, const nlohmann::json& filter, std::int64_t limit,
      std::int64_t offset, std::optional<std::int64_t> since = std::nullopt,
      std::optional<std::int64_t> until = std::nullopt) const;
  /// Every change to the memory, oldest first (kept after a delete, but a
  /// deleted memory's events keep no text: old and new are none).
  /// `not_found` when the id never existed.
  expected<std::vector<history_event>> history(std::int64_t id) const;
  /// Forgets every memory of the user that matches the filter and was
  /// created in [since, until] (see remove); returns how many. `bad_request`
  /// on a malformed filter.
  expected<std::int64_t> delete_all(const std::string& user, const nlohmann::json& filter = {},
                                    std::optional<std::int64_t> since = std::nullopt,
                                    std::optional<std::int64_t> until = std::nullopt);
  /// Writes the index snapshot now (memory.index, atomically replaced).
  expected<void> snapshot();
  /// Writes every memory (with its vector) and every history event as JSONL;
  /// returns the number of memories. `internal` with the path on I/O errors.
  expected<std::size_t> export_jsonl(const std::filesystem::path&) const;
  /// Reads a file written by export_jsonl: memories keep their ids (an
  /// existing id is replaced) and their history replaces what the store
  /// had for those ids. All or nothing: `bad_request` naming line and field.
  expected<std::size_t> import_jsonl(const std::filesystem::path&);
  /// One page of the user's memories after id `after` (at most `limit`), as
  /// export records {"type":"memory", id, text, meta, created, updated,
  /// model, vector, history: [{event, old, new, at}]}; *next = the id to
  /// ask after for the next page, 0 when this is the last. `internal` on a
  /// read error, `bad_request` when limit is 0.
  expected<nlohmann::json> export_user(const std::string& user, std::int64_t after, std::size_t limit,
                                       std::int64_t* next) const;
  /// Adds export_user's records as new memories of `user` (new ids, never
  /// merged by dedup; created, updated, model, vector and history kept; no
  /// history: one `add` event), one transaction. A memory the user already
  /// has with the same text and created time is skipped (importing twice
  /// adds nothing). Returns how many were added. All or nothing:
  /// `bad_request` naming records[i] and the field.
  expected<std::size_t> import_user(const std::string& user, const nlohmann::json& records);

  // --- re-embedding after a model change (driven by the actor) ----------
  // When opts.model_id differs from the model that made the live index, the
  // store re-embeds: new-model vectors go to a shadow (table `shadow` and an
  // index searches use only when asked with the new model's vectors); once
  // every memory has one, one transaction switches the store to them and the
  // shadow becomes the live index. Rules for writes meanwhile: docs/decisions.md.

  /// Ids whose vector was made by another model than opts.model_id (or is
  /// stale), at most `limit`, smallest id first.
  std::vector<std::int64_t> stale_ids(std::size_t limit) const;
  /// Replaces the vector and its model id; no history event (the text is
  /// unchanged). `not_found`, `bad_request` (also when re-embedding and
  /// `model` is not the live index's model: use reindex_put).
  expected<void> update_vector(std::int64_t id, std::vector<float> vec, std::string model);
  /// Progress of re-embedding (active = false when there is none).
  reindex_status reindex_state() const;
  /// Up to `limit` memories (id and text, no vector) that have no new-model
  /// vector yet, smallest id first; empty when not re-embedding.
  std::vector<reindex_item> reindex_todo(std::size_t limit) const;
  /// Stores new-model vectors in the shadow (one transaction) and switches
  /// when the shadow is complete. `bad_request` naming the item on a bad
  /// vector; `unavailable` when the store is down. Not re-embedding: every
  /// item is skipped.
  expected<reindex_result> reindex_put(std::vector<reindex_item> items);

  // --- live tunables ----------------------------------------------------
  void set_dedup_threshold(double);
  void set_ef_search(int);

  /// Number of memories.
  std::size_t size() const;
  /// Counts and index state: memories, index kind, flat/hnsw rows,
  /// tombstones, buffer, stale vectors, commits, batches, last snapshot seq,
  /// and `reindex` (see reindex_state) while re-embedding.
  nlohmann::json stats() const;

  struct impl;

 private:
  explicit store(std::unique_ptr<impl>);
  std::unique_ptr<impl> p_;
};

}  // namespace aikid::memory
