// Private parts of the memory engine, one section per source file:
//   memory_simd.cpp    dot products (AVX-512 / AVX2 / scalar) and a top-k
//   memory_filter.cpp  the `filter` object: parse, match, value keys
//   memory_hnsw.cpp    hnsw_search: the walk over the graph FAISS built
//   memory_index.cpp   vindex: FAISS flat + HNSW, tombstones, snapshot bytes
//   memory_db.cpp      SQLite: open checks, schema + migrations, group commit
//   memory_store.cpp   store: the public API over the three above
//   memory_jsonl.cpp   export / import
//   memory_reindex.cpp re-embedding: shadow writes, progress, the switch
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/memory/memory.hpp"
#include "common/error.hpp"

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>
#include <faiss/IndexIDMap.h>

namespace faiss {
struct HNSW;
}

namespace aikid::memory {

// ---- memory_simd.cpp ---------------------------------------------------

/// <a, b> over d floats, with the widest kernel this CPU runs.
float vec_dot(const float* a, const float* b, int d);
/// out[i] = <q, base + i*stride> over the first d values of each row, the
/// rows IEEE halves (vec_to_half's; stride 0: d, the rows contiguous);
/// within vec_half_slack of the float rows' dot products.
void vec_dot_rows_half(const float* q, const std::uint16_t* base, std::size_t n, int d, float* out,
                       std::size_t stride = 0);
/// |v| of d floats, computed in double and rounded up (an upper bound of
/// the exact norm, for Cauchy-Schwarz bounds).
float vec_norm_up(const float* v, int d);
/// A vector's head as 8-bit codes, with what bounds a dot product taken
/// from them (vindex's screening): v[i] = scale * (codes[i] - 128) + e_i,
/// |e_i| <= err; code_l1 >= scale * sum |codes[i] - 128|; l1 >= sum |v[i]|.
/// For two heads a, b: <a, b> <= a.scale b.scale <codes> + a.err b.code_l1
/// + b.err a.l1. The bounds are measured on the codes written and rounded
/// up. Cannot fail (finite input; all zero gives scale 0).
struct head_code {
  float scale = 0, err = 0, code_l1 = 0, l1 = 0;
};
head_code vec_head_encode(const float* v, int d, std::uint8_t* codes);
/// out[i] = sum_j (rows[i*d + j] - 128) * q[j]: a query's codes (signed,
/// vec_head_encode's minus 128) against n rows of codes; exact integers.
/// d a multiple of 16. VNNI where the CPU has it, else AVX2, else scalar;
/// `kernel` (tests) picks one of vec_codes_variants instead.
using vec_codes_fn = void (*)(const std::int8_t*, const std::uint8_t*, std::size_t, int, std::int32_t*);
void vec_dot_rows_code(const std::int8_t* q, const std::uint8_t* rows, std::size_t n, int d, std::int32_t* out,
                       vec_codes_fn kernel = nullptr);
/// Every kernel of vec_dot_rows_code this CPU can run, by name, in order of
/// width: the last is the one picked (tests run each).
std::vector<std::pair<const char*, vec_codes_fn>> vec_codes_variants();
/// Rows' head_code bounds (l1 unused) and tail norms, one array per field
/// (the screen reads them 16 rows at a time).
struct code_bounds {
  std::vector<float> scale, err, code_l1, tail;
  std::size_t size() const { return tail.size(); }
  void resize(std::size_t n);
  void put(std::size_t row, const head_code& h, float tail_norm);
  /// Appends row `row` of o.
  void push_row(const code_bounds& o, std::size_t row);
  void clear();
};
/// Screening: of rows from..from+n of b, with dots[i] the codes' dot product
/// of row from+i, the i whose bound
///   q.scale b.scale dots[i] + q.err b.code_l1 + q.l1 b.err + q_tail b.tail + eps
/// is not below floor (a NaN bound is kept), in order, into keep; returns
/// how many. AVX-512 where the CPU has it (wide), else scalar; both round
/// within eps's allowance. Cannot fail.
std::size_t vec_code_screen(const head_code& q, float q_tail, float eps, float floor, const std::int32_t* dots,
                            const code_bounds& b, std::size_t from, std::size_t n, std::uint32_t* keep,
                            bool wide = true);
/// Writes v's d floats as IEEE halves (round to nearest even) to out;
/// returns |v|. Values beyond the half range become infinities (a unit
/// vector's never do).
float vec_to_half(const float* v, int d, std::uint16_t* out);
/// How far <q, row> can be from vec_dot_rows_half's score for that row when
/// |q| <= q_norm and |row| <= row_norm (both finite).
float vec_half_slack(float q_norm, float row_norm, int d);
/// Name of the kernel picked at start ("avx512", "avx2", "scalar").
const char* vec_kernel_name();
/// Scales v to unit length; false when it is zero or not finite.
bool vec_normalize(std::vector<float>& v);

/// Keeps the k best (score desc, id asc) of what it is offered, none below
/// min_score.
class topk {
 public:
  explicit topk(int k, float min_score = -1e30f) : k_(k), min_(min_score) { heap_.reserve(k + 1); }
  /// Lowest score that could still enter (min_score while not full).
  float floor() const {
    return heap_.size() < static_cast<std::size_t>(k_) ? min_ : std::max(min_, heap_.front().score);
  }
  void offer(std::int64_t id, float score);
  /// Best first.
  std::vector<std::pair<std::int64_t, float>> sorted() const;

 private:
  struct item {
    float score;
    std::int64_t id;
  };
  static bool worse(const item& a, const item& b) {  // a ranks below b
    return a.score < b.score || (a.score == b.score && a.id > b.id);
  }
  int k_;
  float min_;
  std::vector<item> heap_;  // min-heap by rank: front is the worst kept
};

// ---- memory_filter.cpp -------------------------------------------------

/// A parsed `filter`: every clause must hold (AND); a clause holds when
/// meta[field] (or, for an array, one of its elements) equals one of values.
struct filter_clause {
  std::string field;
  std::vector<std::string> keys;  // filter_value_key of each accepted value
};
struct filter {
  std::vector<filter_clause> clauses;
  bool empty() const { return clauses.empty(); }
};
/// null or {} → no clauses. `bad_request` naming the field otherwise.
expected<filter> filter_parse(const nlohmann::json& j);
/// A canonical string for a scalar JSON value (1 and 1.0 are the same key).
std::string filter_value_key(const nlohmann::json& v);
bool filter_match(const filter& f, const nlohmann::json& meta);
/// Calls fn(field, key) for each indexable (scalar or array-of-scalar) field.
void filter_meta_keys(const nlohmann::json& meta,
                      const std::function<void(const std::string&, const std::string&)>& fn);

// ---- memory_hnsw.cpp ---------------------------------------------------

/// Which graph rows one search has reached: a row is marked when its mark
/// equals the current epoch, so a new search costs no clearing.
class visited_table {
 public:
  /// Starts a search over `rows` rows (grows the table when the graph grew).
  void begin(std::size_t rows);
  /// True when row was already reached in this search; marks it.
  bool test_and_set(std::int32_t row) {
    std::uint16_t& m = mark_[static_cast<std::size_t>(row)];
    if (m == epoch_) return true;
    m = epoch_;
    return false;
  }

 private:
  std::vector<std::uint16_t> mark_;
  std::uint16_t epoch_ = 0;
};

/// Visited tables for concurrent searches (one per search in flight).
class visited_pool {
 public:
  std::unique_ptr<visited_table> take();
  void give(std::unique_ptr<visited_table> t);

 private:
  std::mutex mu_;
  std::vector<std::unique_ptr<visited_table>> free_;
};

/// Whether a graph row may be returned: live (not a tombstone) and passing
/// the caller's predicate on its id. Rows that fail are still walked through.
struct row_admit {
  const std::uint8_t* dead = nullptr;                       // [rows]
  const std::int64_t* ids = nullptr;                        // [rows] row → memory id
  const std::function<bool(std::int64_t)>* pred = nullptr;  // null: every live row
  bool operator()(std::int32_t row) const {
    return !dead[row] && (!pred || (*pred)(ids[row]));
  }
};

/// The ef best admitted rows of graph g by inner product with q (unit
/// vectors; xb = the graph's stored rows, [rows, dim]), best first, into out
/// as (row, score). Approximate: the HNSW walk with efSearch = ef. Cannot
/// fail; an empty graph gives an empty out.
void hnsw_search(const faiss::HNSW& g, const float* xb, int dim, const float* q, int ef,
                 const row_admit& admit, visited_table& vt, std::vector<std::pair<std::int32_t, float>>& out);

// ---- memory_index.cpp --------------------------------------------------

struct index_params {
  int dim = 384;
  std::size_t flat_max = 50000;
  int hnsw_m = 32, ef_construction = 200;
};

/// The vector index: an exact part (IndexIDMap2 over IndexFlatIP) that holds
/// everything below flat_max and the recent adds above it, and an HNSW part
/// (IndexIDMap2 over IndexHNSWFlat whose storage computes distances with
/// vec_dot; FAISS builds the graph, hnsw_search walks it). Each live id is in exactly one part; a deleted or replaced row
/// is a tombstone until compaction or rebuild. Not locked: the store holds
/// its shared_mutex (shared for const members, exclusive for the rest);
/// hnsw_build runs without any lock on a copy.
class vindex {
 public:
  explicit vindex(index_params p);
  ~vindex();

  void upsert(std::int64_t id, const float* unit_vec);
  bool erase(std::int64_t id);
  /// erase, and the row's floats (and its scan copies) overwritten with
  /// zeros, so the forgotten vector is in no later snapshot. An HNSW row
  /// stays a node of the graph (a tombstone) until the next rebuild; a
  /// zero vector scores 0, so walks rarely pass through it.
  bool forget(std::int64_t id);
  bool contains(std::int64_t id) const { return where_.count(id) != 0; }
  const float* vector_of(std::int64_t id) const;
  std::size_t size() const { return where_.size(); }

  /// Offers every live vector that passes pred (null: all) to out. HNSW part
  /// approximate (efSearch), exact part scanned.
  void search(const float* q, int k, const std::function<bool(std::int64_t)>* pred, topk& out) const;
  /// search for nq queries at once (qs: [nq, dim], outs: nq of them): the
  /// exact part is read from memory once for all of them.
  void search_many(const float* qs, int nq, int k, const std::function<bool(std::int64_t)>* pred,
                   topk* outs) const;
  /// HNSW efSearch of hnsw_search (exclusive lock), kept across builds and
  /// loads. (The graph's own hnsw.efSearch is FAISS's and unused.)
  void set_ef_search(int ef);
  /// Exact scores for the given ids (each must be live).
  void score_ids(const float* q, const std::vector<std::int64_t>& ids, topk& out) const;

  // background work, in the order the store's worker checks it
  bool wants_build() const;     // no HNSW above flat_max, or too many HNSW tombstones
  bool wants_merge() const;     // HNSW present and the exact buffer is not empty
  bool wants_compact() const;   // many tombstones in the exact part
  /// Under a shared lock: copies the live vectors out and starts tracking
  /// changes. Then hnsw_build (no lock), then hnsw_install (exclusive).
  struct build_job {
    std::vector<std::int64_t> ids;
    std::vector<float> vecs;  // [ids.size(), dim]
    int dim = 0, m = 32, efc = 200;
    std::unique_ptr<faiss::IndexIDMap2> index;
  };
  std::unique_ptr<build_job> build_begin();
  static bool hnsw_build(build_job& job, const std::atomic<bool>& stop,
                         const std::function<void(std::string_view)>& log);
  void build_install(build_job& job);
  void build_abandon();
  /// Moves up to n buffered rows into HNSW (exclusive lock; short).
  void merge_step(std::size_t n);
  void compact();

  /// Serialised index (both parts, tombstones) for a snapshot.
  std::vector<std::uint8_t> save() const;
  /// Replaces the contents from save() bytes; false (and empty) on damage.
  bool load(const std::uint8_t* data, std::size_t size, std::string& why);
  void clear();

  nlohmann::json stats() const;
  std::size_t hnsw_rows() const;
  std::size_t flat_rows() const;

 private:
  struct loc {
    bool in_hnsw;
    std::int64_t row;
  };
  const float* row_ptr(const loc& l) const;
  void flat_append(std::int64_t id, const float* v);
  void mark_dead(const loc& l);
  index_params p_;
  int ef_search_ = 32;
  std::unique_ptr<faiss::IndexIDMap2> flat_;  // over IndexFlatIP
  std::unique_ptr<faiss::IndexIDMap2> hnsw_;  // over IndexHNSWFlat (fast storage)
  std::vector<std::uint8_t> flat_dead_, hnsw_dead_;
  std::size_t flat_dead_n_ = 0, hnsw_dead_n_ = 0;
  std::size_t flat_live_from_ = 0;  // every exact row before it is a tombstone (merged away)
  // the exact part's rows again as halves (row-aligned with flat_), which the
  // scan reads; candidates are rescored from flat_'s floats (flat_scan_put)
  std::vector<std::uint16_t> flat_half_;
  float flat_half_norm_ = 0;  // largest row norm written to flat_half_
  // Screening (search_many): a row's score is at most its head's (the first
  // head_ values) plus |q's tail| |row's tail| (Cauchy-Schwarz), and its
  // head's at most what the heads' 8-bit codes bound (head_code), so when
  // the floor is high (dedup asks for scores >= its threshold) the scan
  // reads 8-bit heads, kept apart (head_ bytes a row, a sixth of a row's
  // halves), and skips the rows that cannot reach it.
  int head_ = 0;                         // 0: no screening (dim < 64); a multiple of 16
  std::vector<std::uint8_t> flat_code_;  // [rows, head_] the heads' codes
  code_bounds flat_bound_;               // per row: the codes' bounds, |floats after head_| (rounded up)
  float flat_tail_max_ = 0;              // largest tail
  mutable std::atomic<std::uint64_t> screened_{0};  // rows the heads ruled out (stats: screened_rows)
  /// Writes row's scan copies from its floats v: halves, head codes, bound.
  void flat_scan_put(std::size_t row, const float* v);
  void flat_reset();  // an empty exact part: rows, tombstones, cursor, scan copies
  std::unordered_map<std::int64_t, loc> where_;
  std::atomic<bool> building_{false};
  std::unordered_set<std::int64_t> changed_during_build_;
  mutable visited_pool visited_;  // for searches under the shared lock
};

// ---- memory_db.cpp -----------------------------------------------------

constexpr int schema_version = 3;

/// Opens dir/memory.db for writing after checking it: a file that is not a
/// healthy SQLite database, or whose schema is newer or dimension differs,
/// fails with `unavailable` before anything is written to it. Creates or
/// migrates the schema.
expected<std::unique_ptr<SQLite::Database>> db_open(const std::filesystem::path& file, int dim,
                                                    const std::function<void(std::string_view)>& log);
/// A read-only connection to the same file (for history and export).
expected<std::unique_ptr<SQLite::Database>> db_open_reader(const std::filesystem::path& file);

/// The writer connection and its prepared statements (committer thread only).
struct db_writer {
  explicit db_writer(SQLite::Database& d);
  SQLite::Database& db;
  SQLite::Statement put_memory, delete_memory, put_history, put_change, put_shadow, delete_shadow, put_meta,
      scrub_history;
  /// Set by a work closure that forgot text (db_forget): after the batch's
  /// COMMIT the committer truncates the WAL (wal_checkpoint(TRUNCATE)), so
  /// the forgotten rows' old frames do not stay in memory.db-wal. Cleared
  /// by the committer.
  bool checkpoint_after = false;
};

/// Group commit: write closures queued by many threads run on one thread,
/// in queue order, inside one transaction per batch; wait() returns after
/// the batch holding the ticket committed (and synced) or failed.
class committer {
 public:
  using work = std::function<void(db_writer&)>;
  /// Told the outcome of its work's transaction: {} once it is synced, the
  /// failure otherwise. Runs on the commit thread, after the waiters are
  /// woken; it must not throw and should be short (the next batch waits).
  using after = std::function<void(const expected<void>&)>;
  explicit committer(std::unique_ptr<SQLite::Database> db);
  ~committer();
  /// Queues w (and what runs after its transaction, if anything); returns
  /// its ticket. Caller keeps queue order by holding the store's write mutex.
  std::uint64_t enqueue(work w, after then = {});
  /// Blocks until the ticket committed; the error if its batch failed.
  expected<void> wait(std::uint64_t ticket);
  /// Blocks until everything queued so far committed.
  expected<void> drain();
  /// Stops the thread after the queue is empty; checkpoints the WAL.
  void close();
  /// Non-empty once a batch failed (the store is then down).
  std::string failure() const;
  std::uint64_t commits() const { return commits_; }
  std::uint64_t batches() const { return batches_; }

 private:
  void run();
  std::unique_ptr<SQLite::Database> db_;
  std::unique_ptr<db_writer> w_;
  mutable std::mutex mu_;
  std::condition_variable cv_work_, cv_done_;
  struct queued {
    std::uint64_t ticket;
    work w;
    after then;
  };
  std::deque<queued> queue_;
  std::uint64_t next_ticket_ = 1, done_upto_ = 0, failed_from_ = 0;
  std::string failed_;  // non-empty: tickets >= failed_from_ fail
  std::atomic<bool> failed_flag_{false};  // lock-free check for the read path
  bool stop_ = false;
  std::atomic<std::uint64_t> commits_{0}, batches_{0};
  std::thread thread_;
};

struct db_memory_row {
  std::int64_t id;
  std::string user, text, meta;
  std::int64_t created_ms, updated_ms;
  std::vector<float> vec;
  std::string model;
};
void db_put_memory(db_writer& w, const db_memory_row& r);
void db_delete_memory(db_writer& w, std::int64_t id);
/// Forgets a memory: deletes its row and shadow vector, keeps its history
/// events but blanks their texts (old, new), adds the "delete" event without
/// text, journals the change and asks for a WAL truncation after the commit
/// (checkpoint_after). With secure_delete on (db_open) the freed bytes are
/// zeroed. Throws SQLite::Exception (the batch fails).
void db_forget(db_writer& w, std::int64_t id, std::int64_t seq, std::int64_t at_ms);
void db_put_history(db_writer& w, std::int64_t memory_id, const std::string& event,
                    const std::optional<std::string>& old_text,
                    const std::optional<std::string>& new_text, std::int64_t at_ms);
void db_put_change(db_writer& w, std::int64_t seq, std::int64_t memory_id);
/// shadow(id, vector): a new-model vector while re-embedding.
void db_put_shadow(db_writer& w, std::int64_t id, const std::vector<float>& vec);
void db_delete_shadow(db_writer& w, std::int64_t id);
void db_put_meta(db_writer& w, const std::string& key, const std::string& value);

std::int64_t now_ms();

}  // namespace aikid::memory
