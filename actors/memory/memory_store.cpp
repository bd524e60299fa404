// store: the public API. Each write: validate → take write_mu → prepare
// (dedup lookup, ids, history) → apply to the catalogue and index under mu →
// queue the SQL for the group commit → release write_mu → wait for the sync
// (adds: or be told of it by the commit thread, add_enqueue + add_flush).
#include <omp.h>
#include <unistd.h>
#include <sys/resource.h>
#include <fcntl.h>

#include <SQLiteCpp/Exception.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <future>
#include <limits>
#include <system_error>

#include "actors/memory/memory_store_impl.hpp"
#include "common/utf8.hpp"

namespace aikid::memory {

namespace {

constexpr char k_snap_magic[8] = {'A', 'I', 'K', 'I', 'D', 'M', 'I', 'X'};
constexpr std::uint32_t k_snap_version = 1;
// rows moved from the exact buffer into HNSW per step, under the index's
// write lock (searches wait): at 10k memories an insert costs 0.3 ms
// (clustered) to 1.3 ms (uniform random) at M 32, efC 200 here
constexpr std::size_t k_merge_chunk = 8;
// dedup asks for each new item's best this many memories from before the
// batch (asking for as many as the user's items in the batch made a bulk
// add of 2,000 run 2,000 searches of top 2,000)
constexpr std::size_t k_dedup_first = 4;

std::uint64_t checksum(const std::uint8_t* p, std::size_t n) {  // FNV-1a over 8-byte words
  std::uint64_t h = 1469598103934665603ull;
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, p + i, 8);
    h = (h ^ w) * 1099511628211ull;
    h ^= h >> 29;
  }
  for (; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

expected<std::vector<float>> vec_check(std::vector<float> v, int dim, const char* field) {
  if (static_cast<int>(v.size()) != dim)
    return error{errc::bad_request, std::string(field) + ": has " + std::to_string(v.size()) +
                                        " values, the store's dimension is " + std::to_string(dim)};
  if (!vec_normalize(v))
    return error{errc::bad_request, std::string(field) + ": must be finite and not all zero"};
  return v;
}

// Text that reaches storage is well-formed UTF-8 (the wire checks whole
// frames; this guards every other caller). Fails with bad_request naming the
// field and the byte.
expected<void> text_check(const std::string& t, const char* field) {
  const auto bad = utf8_first_invalid(t);
  if (bad < 0) return {};
  return error{errc::bad_request, std::string(field) + ": not valid UTF-8 (byte " + std::to_string(bad) + ")"};
}

std::string not_found_msg(std::int64_t id) { return "memory_id: no memory " + std::to_string(id); }

// Which memories a search or list looks at.
struct scope {
  std::optional<std::string> user;
  filter f;
  std::optional<std::int64_t> since, until;
  bool any() const { return user || !f.empty() || since || until; }
  bool match(const record& r) const {
    if (user && r.user != *user) return false;
    if (since && r.created_ms < *since) return false;
    if (until && r.created_ms > *until) return false;
    return filter_match(f, r.meta);
  }
};

// The matching ids (unsorted), using the smallest candidate source.
// Caller holds mu (shared).
std::vector<std::int64_t> scope_ids(const store::impl& s, const scope& sc) {
  std::vector<const std::unordered_set<std::int64_t>*> src;
  std::size_t best = SIZE_MAX;
  if (sc.user) {
    auto it = s.by_user.find(*sc.user);
    if (it == s.by_user.end()) return {};
    src = {&it->second};
    best = it->second.size();
  }
  for (const auto& c : sc.f.clauses) {
    std::vector<const std::unordered_set<std::int64_t>*> sets;
    std::size_t n = 0;
    auto pf = s.postings.find(c.field);
    if (pf != s.postings.end())
      for (const auto& k : c.keys) {
        auto pk = pf->second.find(k);
        if (pk != pf->second.end()) {
          sets.push_back(&pk->second);
          n += pk->second.size();
        }
      }
    if (n == 0) return {};
    if (n < best) {
      best = n;
      src = std::move(sets);
    }
  }
  std::vector<std::int64_t> out;
  if (best == SIZE_MAX) {  // only a time range: look at everything
    for (const auto& [id, r] : s.recs)
      if (sc.match(r)) out.push_back(id);
    return out;
  }
  std::unordered_set<std::int64_t> seen;
  for (const auto* set : src)
    for (std::int64_t id : *set) {
      if (src.size() > 1 && !seen.insert(id).second) continue;
      if (sc.match(s.recs.at(id))) out.push_back(id);
    }
  return out;
}

expected<scope> scope_make(std::optional<std::string> user, const nlohmann::json& filter_json,
                           std::optional<std::int64_t> since, std::optional<std::int64_t> until) {
  auto f = filter_parse(filter_json);
  if (!f) return f.error();
  return scope{std::move(user), std::move(*f), since, until};
}

// Top k among sc's matches in ix (the live index or the shadow) for each of
// nq queries (qs: [nq, dim]), best first; exact whenever the match set is at
// most flat_max or the index is flat. Ids not in ix are skipped. Caller
// holds mu (shared).
std::vector<std::vector<std::pair<std::int64_t, float>>> scope_search_many(const store::impl& s, const vindex& ix,
                                                                          const float* qs, int nq, int k,
                                                                          const scope& sc,
                                                                          float min_score = -1e30f) {
  std::vector<topk> tk(static_cast<std::size_t>(nq), topk(k, min_score));
  const std::size_t dim = static_cast<std::size_t>(s.opts.dim);
  if (!sc.any()) {
    ix.search_many(qs, nq, k, nullptr, tk.data());
  } else {
    // a scope of only a user (every dedup search) is counted without listing
    // its ids: listing walks the catalogue, which costs more than the scan
    const std::unordered_set<std::int64_t>* user_set = nullptr;
    std::vector<std::int64_t> ids;
    std::size_t matches = 0;
    if (sc.user && sc.f.empty() && !sc.since && !sc.until) {
      auto it = s.by_user.find(*sc.user);
      if (it != s.by_user.end()) user_set = &it->second;
      matches = user_set ? user_set->size() : 0;
    } else {
      ids = scope_ids(s, sc);
      matches = ids.size();
    }
    const bool graph = ix.hnsw_rows() > 0;
    std::function<bool(std::int64_t)> pred = [&](std::int64_t id) { return sc.match(s.recs.at(id)); };
    if (!graph && matches * 4 > ix.size()) {
      ix.search_many(qs, nq, k, &pred, tk.data());  // flat: a filtered full scan is exact and sequential
    } else if (!graph || matches <= s.opts.flat_max) {
      if (user_set) ids.assign(user_set->begin(), user_set->end());
      for (int i = 0; i < nq; ++i) ix.score_ids(qs + i * dim, ids, tk[i]);  // exact over the matches
    } else {
      ix.search_many(qs, nq, k, &pred, tk.data());  // large match set: HNSW with the filter
    }
  }
  std::vector<std::vector<std::pair<std::int64_t, float>>> out;
  out.reserve(tk.size());
  for (const topk& t : tk) out.push_back(t.sorted());
  return out;
}

std::vector<std::pair<std::int64_t, float>> scope_search(const store::impl& s, const vindex& ix, const float* q,
                                                         int k, const scope& sc, float min_score = -1e30f) {
  return std::move(scope_search_many(s, ix, q, 1, k, sc, min_score)[0]);
}

// The index in the space of `model` ("" = opts.model_id); `bad_request` when
// no index is. Caller holds mu (shared).
expected<const vindex*> index_for(const store::impl& s, const std::string& model, search_note* note) {
  const std::string& m = model.empty() ? s.opts.model_id : model;
  if (!s.reindexing()) {
    if (m == s.opts.model_id || m == s.index_model) return s.index.get();
    return error{errc::bad_request, "model: the query vector was made by '" + m + "'; this store's vectors by '" +
                                        s.index_model + "'"};
  }
  if (note) {
    note->reindexing = true;
    note->done = s.shadow->size();
    note->total = s.recs.size();
  }
  if (m == s.index_model) {
    if (note) note->index = "live";
    return s.index.get();
  }
  if (m == s.opts.model_id) {
    if (note) note->index = "shadow";
    return s.shadow.get();
  }
  return error{errc::bad_request, "model: the query vector was made by '" + m + "'; this store answers '" +
                                      s.index_model + "' (live) and '" + s.opts.model_id + "' (re-embedding)"};
}

}  // namespace

// ---- catalogue ----------------------------------------------------------

void store::impl::cat_insert(const record& r) {
  cat_erase(r.id);  // a replaced record leaves the indexes and the stale count first
  recs[r.id] = r;
  stale_n += r.model != opts.model_id;
  by_user[r.user].insert(r.id);
  filter_meta_keys(r.meta, [&](const std::string& f, const std::string& k) { postings[f][k].insert(r.id); });
}

void store::impl::cat_erase(std::int64_t id) {
  auto it = recs.find(id);
  if (it == recs.end()) return;
  const record& r = it->second;
  filter_meta_keys(r.meta, [&](const std::string& f, const std::string& k) {
    auto pf = postings.find(f);
    if (pf == postings.end()) return;
    auto pk = pf->second.find(k);
    if (pk == pf->second.end()) return;
    pk->second.erase(id);
    if (pk->second.empty()) pf->second.erase(pk);
    if (pf->second.empty()) postings.erase(pf);
  });
  auto u = by_user.find(r.user);
  if (u != by_user.end()) {
    u->second.erase(id);
    if (u->second.empty()) by_user.erase(u);
  }
  stale_n -= it->second.model != opts.model_id;
  recs.erase(it);
}

expected<void> store::impl::down() const {
  std::string f = commit->failure();
  if (!f.empty()) return error{errc::unavailable, f};
  return {};
}

// ---- snapshot -----------------------------------------------------------
// file: magic[8] | u32 version | i64 seq | u64 size | u64 checksum | payload

static expected<void> file_write_atomic(const std::filesystem::path& path, const std::vector<std::uint8_t>& head,
                                        const std::vector<std::uint8_t>& body) {
  const std::string tmp = path.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return error{errc::internal, tmp + ": cannot create: " + std::strerror(errno)};
  auto put = [&](const std::vector<std::uint8_t>& b) {
    std::size_t off = 0;
    while (off < b.size()) {
      const ssize_t n = ::write(fd, b.data() + off, b.size() - off);
      if (n < 0) {
        if (errno == EINTR) continue;
        return false;
      }
      off += static_cast<std::size_t>(n);
    }
    return true;
  };
  if (!put(head) || !put(body) || ::fsync(fd) != 0) {
    const std::string why = std::strerror(errno);
    ::close(fd);
    ::unlink(tmp.c_str());
    return error{errc::internal, tmp + ": write failed: " + why};
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    return error{errc::internal, path.string() + ": rename failed: " + std::strerror(errno)};
  const int dfd = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return {};
}

expected<void> store::impl::snapshot_run() {
  std::lock_guard one_at_a_time(snap_mu);
  std::unique_lock wl(write_mu);
  if (auto d = down(); !d) return d;
  if (auto d = commit->drain(); !d) return d;
  const std::int64_t seq = next_seq - 1;
  std::vector<std::uint8_t> body;
  {
    std::shared_lock lk(mu);
    body = index->save();
  }
  wl.unlock();  // writers may go on; the snapshot holds changes up to seq
  std::vector<std::uint8_t> head(8 + 4 + 8 + 8 + 8);
  const std::uint64_t size = body.size(), sum = checksum(body.data(), body.size());
  std::memcpy(head.data(), k_snap_magic, 8);
  std::memcpy(head.data() + 8, &k_snap_version, 4);
  std::memcpy(head.data() + 12, &seq, 8);
  std::memcpy(head.data() + 20, &size, 8);
  std::memcpy(head.data() + 28, &sum, 8);
  if (auto w = file_write_atomic(snap_file, head, body); !w) return w;
  // the journal up to seq is in the snapshot now
  wl.lock();
  const std::uint64_t t = commit->enqueue([seq](db_writer& w) {
    SQLite::Statement del(w.db, "DELETE FROM changes WHERE seq <= ?");
    del.bind(1, static_cast<std::int64_t>(seq));
    del.exec();
    SQLite::Statement m(w.db, "INSERT OR REPLACE INTO meta(key, value) VALUES('snapshot_seq', ?)");
    m.bind(1, std::to_string(seq));
    m.exec();
  });
  snap_seq = seq;
  wl.unlock();
  log("memory: snapshot written (" + std::to_string(body.size()) + " bytes, change " + std::to_string(seq) + ")");
  return commit->wait(t);
}

// Reads the snapshot into the index; "" on success, else why not.
static std::string snapshot_read(store::impl& s, std::int64_t& seq) {
  std::ifstream in(s.snap_file, std::ios::binary);
  if (!in) return "missing";
  std::vector<std::uint8_t> head(36);
  if (!in.read(reinterpret_cast<char*>(head.data()), 36)) return "truncated header";
  if (std::memcmp(head.data(), k_snap_magic, 8) != 0) return "bad magic";
  std::uint32_t version;
  std::uint64_t size, sum;
  std::memcpy(&version, head.data() + 8, 4);
  std::memcpy(&seq, head.data() + 12, 8);
  std::memcpy(&size, head.data() + 20, 8);
  std::memcpy(&sum, head.data() + 28, 8);
  if (version != k_snap_version) return "version " + std::to_string(version);
  std::error_code ec;
  if (std::filesystem::file_size(s.snap_file, ec) != size + 36) return "size does not match its header";
  std::vector<std::uint8_t> body(size);
  if (!in.read(reinterpret_cast<char*>(body.data()), static_cast<std::streamsize>(size))) return "truncated";
  if (checksum(body.data(), body.size()) != sum) return "checksum mismatch";
  std::string why;
  if (!s.index->load(body.data(), body.size(), why)) return why;
  return "";
}

// ---- open ---------------------------------------------------------------

std::string store::impl::stored_text(std::string t) const {
  if (utf8_first_invalid(t) < 0) return t;
  ++repaired;
  return utf8_repaired(t);
}

expected<nlohmann::json> store::impl::stored_meta(const std::string& text, std::int64_t id) const {
  if (auto deep = json_too_deep(text, opts.max_json_depth)) {
    ++repaired;
    log("memory: meta of memory " + std::to_string(id) + " nests deeper than " +
        std::to_string(opts.max_json_depth) + " levels (at " + deep->path + "): served as {}");
    return nlohmann::json::object();
  }
  try {
    return nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    return error{errc::unavailable, db_file.string() + ": memories.meta of id " + std::to_string(id) +
                                        " is not JSON (" + e.what() + ")"};
  }
}

static expected<void> store_load(store::impl& s) {
  SQLite::Database& db = *s.reader;
  // catalogue
  {
    SQLite::Statement q(db, "SELECT id, user, text, meta, created_ms, updated_ms, model FROM memories");
    while (q.executeStep()) {
      record r;
      r.id = q.getColumn(0).getInt64();
      r.user = q.getColumn(1).getString();
      r.user = s.stored_text(std::move(r.user));
      r.text = s.stored_text(q.getColumn(2).getString());
      auto meta = s.stored_meta(q.getColumn(3).getString(), r.id);
      if (!meta) return meta.error();
      r.meta = std::move(*meta);
      r.created_ms = q.getColumn(4).getInt64();
      r.updated_ms = q.getColumn(5).getInt64();
      r.model = q.getColumn(6).getString();
      s.cat_insert(r);
    }
  }
  if (const auto n = s.repaired.load())
    s.log("memory: " + std::to_string(n) +
          " stored rows hold text that is not UTF-8 or a meta nested too deep: served repaired (U+FFFD, {}); "
          "the database is left as it is");
  std::int64_t max_id = 0, max_seq = 0;
  {
    SQLite::Statement q(db, "SELECT MAX(COALESCE((SELECT MAX(id) FROM memories), 0), "
                            "COALESCE((SELECT MAX(memory_id) FROM history), 0))");
    if (q.executeStep()) max_id = q.getColumn(0).getInt64();
    SQLite::Statement c(db, "SELECT COALESCE(MAX(seq), 0) FROM changes");
    if (c.executeStep()) max_seq = c.getColumn(0).getInt64();
    SQLite::Statement m(db, "SELECT value FROM meta WHERE key = 'snapshot_seq'");
    if (m.executeStep()) max_seq = std::max<std::int64_t>(max_seq, std::stoll(m.getColumn(0).getString()));
  }
  s.next_id = max_id + 1;
  auto meta_of = [&](const char* key) {
    SQLite::Statement m(db, "SELECT value FROM meta WHERE key = ?");
    m.bind(1, key);
    return m.executeStep() ? m.getColumn(0).getString() : std::string();
  };
  s.index_model = meta_of("index_model");
  s.index_model_dir = meta_of("index_model_dir");
  const std::string shadow_model = meta_of("shadow_model");
  try {
    const std::string sw = meta_of("switch_seq");
    s.switch_seq = sw.empty() ? 0 : std::stoll(sw);
  } catch (const std::exception&) {
    return error{errc::unavailable, s.db_file.string() + ": meta.switch_seq is not a number; left untouched"};
  }
  max_seq = std::max(max_seq, s.switch_seq);
  // Before this feature (or on a new store) no model is recorded: the
  // configured one is taken to have made the vectors, as it always was.
  // Nothing to re-embed in an empty store.
  if (!s.opts.model_id.empty() && (s.index_model.empty() || s.recs.empty())) s.index_model = s.opts.model_id;
  if (s.reindexing())
    s.log("memory: the stored vectors were made by '" + s.index_model + "', the configured model is '" +
          s.opts.model_id + "': re-embedding in the background");

  // index: snapshot + replay, or a rebuild. Memories with only a new-model
  // vector (re-embedding) are not in the live index.
  std::size_t live_n = 0;
  for (const auto& [id, r] : s.recs) live_n += s.in_live(r);
  std::int64_t snap_seq = 0;
  std::string why = snapshot_read(s, snap_seq);
  if (why.empty() && snap_seq < s.switch_seq) why = "made before the switch to model '" + s.index_model + "'";
  if (why.empty()) {
    SQLite::Statement ch(db, "SELECT DISTINCT memory_id FROM changes WHERE seq > ?");
    ch.bind(1, static_cast<std::int64_t>(snap_seq));
    SQLite::Statement vq(db, "SELECT vector FROM memories WHERE id = ?");
    std::size_t replayed = 0;
    while (ch.executeStep()) {
      const std::int64_t id = ch.getColumn(0).getInt64();
      ++replayed;
      auto rit = s.recs.find(id);
      if (rit == s.recs.end() || !s.in_live(rit->second)) {
        s.index->erase(id);
        continue;
      }
      vq.reset();
      vq.bind(1, static_cast<std::int64_t>(id));
      if (!vq.executeStep()) continue;
      const auto col = vq.getColumn(0);
      if (col.getBytes() != static_cast<int>(sizeof(float)) * s.opts.dim) {
        why = "vector of id " + std::to_string(id) + " has the wrong size";
        break;
      }
      s.index->upsert(id, static_cast<const float*>(col.getBlob()));
    }
    if (why.empty()) {
      bool agree = s.index->size() == live_n;
      for (auto it = s.recs.begin(); agree && it != s.recs.end(); ++it)
        agree = s.index->contains(it->first) == s.in_live(it->second);
      if (!agree) why = "it disagrees with the database after replay";
    }
    if (why.empty())
      s.log("memory: index snapshot loaded (change " + std::to_string(snap_seq) + "), replayed " +
            std::to_string(replayed) + " changes");
  }
  if (!why.empty()) {
    s.log("memory: index snapshot " + s.snap_file.string() + " not used (" + why + "); rebuilding from " +
          s.db_file.string());
    s.index->clear();
    snap_seq = 0;
    SQLite::Statement q(db, "SELECT id, vector FROM memories ORDER BY id");
    const std::size_t n = live_n;
    std::size_t done = 0, next_log = std::max<std::size_t>(1, n / 10);
    while (q.executeStep()) {
      const std::int64_t id = q.getColumn(0).getInt64();
      const auto col = q.getColumn(1);
      if (col.getBytes() != static_cast<int>(sizeof(float)) * s.opts.dim)
        return error{errc::unavailable, s.db_file.string() + ": memories.vector of id " + std::to_string(id) +
                                            " has " + std::to_string(col.getBytes()) + " bytes, expected " +
                                            std::to_string(sizeof(float) * s.opts.dim)};
      if (!s.in_live(s.recs.at(id))) continue;
      s.index->upsert(id, static_cast<const float*>(col.getBlob()));
      if (++done >= next_log && done < n) {
        s.log("memory: rebuilt " + std::to_string(done) + "/" + std::to_string(n));
        next_log += std::max<std::size_t>(1, n / 10);
      }
    }
    s.log("memory: index rebuilt from the database (" + std::to_string(done) + " memories)");
  }
  s.next_seq = std::max(max_seq, snap_seq) + 1;
  s.snap_seq = why.empty() ? snap_seq : -1;  // -1: write a snapshot at the next chance

  // the shadow: kept only while re-embedding to the model that made it
  if (s.reindexing() && shadow_model == s.opts.model_id) {
    SQLite::Statement q(db, "SELECT id, vector FROM shadow ORDER BY id");
    const std::string where = s.db_file.string() + ": shadow row ";
    const std::string fix = " (a damaged re-embedding row: deleting the shadow table's rows redoes the "
                            "re-embedding); left untouched";
    while (q.executeStep()) {
      const std::int64_t id = q.getColumn(0).getInt64();
      const auto col = q.getColumn(1);
      if (col.getBytes() != static_cast<int>(sizeof(float)) * s.opts.dim)
        return error{errc::unavailable, where + std::to_string(id) + ": vector has " + std::to_string(col.getBytes()) +
                                            " bytes, expected " + std::to_string(sizeof(float) * s.opts.dim) + fix};
      const float* f = static_cast<const float*>(col.getBlob());
      std::vector<float> v(f, f + s.opts.dim);
      if (!vec_normalize(v))
        return error{errc::unavailable, where + std::to_string(id) + ": vector is not finite or all zero" + fix};
      if (!s.recs.count(id))
        return error{errc::unavailable, where + std::to_string(id) + ": no memory has this id" + fix};
      s.shadow->upsert(id, v.data());
    }
    s.log("memory: re-embedding resumes at " + std::to_string(s.shadow->size()) + "/" +
          std::to_string(s.recs.size()));
  }
  return {};
}

// Writes what store_load decided (recorded models, a stale shadow dropped),
// only where the file differs. Fails with the committer's error.
static expected<void> store_settle(store::impl& s, const std::string& shadow_model_seen) {
  const std::string index_model = s.index_model;
  const std::string dir = s.reindexing() ? s.index_model_dir : s.opts.model_dir;
  const std::string shadow_model = s.reindexing() ? s.opts.model_id : std::string();
  if (index_model.empty()) return {};
  std::string seen_model, seen_dir;
  bool shadow_rows = false;
  try {
    std::lock_guard lk(s.reader_mu);
    SQLite::Statement m(*s.reader, "SELECT key, value FROM meta WHERE key IN ('index_model', 'index_model_dir')");
    while (m.executeStep())
      (m.getColumn(0).getString() == "index_model" ? seen_model : seen_dir) = m.getColumn(1).getString();
    SQLite::Statement r(*s.reader, "SELECT EXISTS(SELECT 1 FROM shadow)");
    shadow_rows = r.executeStep() && r.getColumn(0).getInt() != 0;
  } catch (const std::exception& e) {
    return error{errc::unavailable, s.db_file.string() + ": cannot read meta: " + e.what()};
  }
  const bool drop_shadow = shadow_rows && (!s.reindexing() || shadow_model_seen != s.opts.model_id);
  s.index_model_dir = dir;
  if (seen_model == index_model && seen_dir == dir && !drop_shadow && shadow_model_seen == shadow_model) return {};
  if (drop_shadow) s.log("memory: dropping re-embedding vectors of model '" + shadow_model_seen + "'");
  const std::uint64_t t = s.commit->enqueue([=](db_writer& w) {
    db_put_meta(w, "index_model", index_model);
    db_put_meta(w, "index_model_dir", dir);
    if (drop_shadow) w.db.exec("DELETE FROM shadow");
    db_put_meta(w, "shadow_model", shadow_model);
  });
  return s.commit->wait(t);
}

// An HNSW build: most of index upkeep's CPU, and it holds no lock, so it
// runs on a thread of its own at nice +10 and yields to the requests (on two
// cores a build at full priority took half the machine from the adds that
// fill the buffer it drains). If the kernel refuses the nice, it runs at the
// daemon's priority; if no thread can be made, on the caller's. The merge
// and compaction steps stay at full priority: they hold the index's
// exclusive lock, and a preempted holder stalls every search behind it.
static bool build_yielding(vindex::build_job& job, store::impl& s) {
  bool ok = false;
  try {
    std::thread t([&] {
      omp_set_num_threads(1);
      setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), 10);
      ok = vindex::hnsw_build(job, s.stop, s.opts.log);
    });
    t.join();
  } catch (const std::system_error& e) {
    s.log(std::string("memory: no thread for the HNSW build (") + e.what() + "); building at full priority");
    ok = vindex::hnsw_build(job, s.stop, s.opts.log);
  }
  return ok;
}

// Index upkeep for the live index and the shadow (same rules for both).
// Naps 50 ms when the last round found nothing to do, 1 ms after a merge or
// compaction step: mu is not fair, and without the nap this thread took it
// again before a woken search or add could run (one add waited 48 s while
// 9,500 buffered adds were merged, 8 at a time).
static void worker_run(store::impl& s) {
  omp_set_num_threads(1);
  bool idle = true;
  while (!s.stop) {
    if (idle) {
      std::unique_lock lk(s.worker_mu);
      s.worker_cv.wait_for(lk, std::chrono::milliseconds(50), [&] { return s.stop.load(); });
    }
    if (s.stop) break;
    bool build = false, merge = false, compact = false;
    vindex* ix = nullptr;
    bool retired = false;
    {
      std::shared_lock lk(s.mu);
      retired = !s.retired.empty();
    }
    if (retired) {
      std::unique_lock lk(s.mu);
      s.retired.clear();  // no build holds one now: only this thread builds
    }
    {
      std::shared_lock lk(s.mu);
      for (vindex* c : {s.index.get(), s.shadow.get()}) {
        build = c->wants_build();
        merge = !build && c->wants_merge();
        compact = !build && !merge && c->wants_compact();
        if (build || merge || compact) {
          ix = c;
          break;
        }
      }
    }
    idle = !(build || merge || compact);
    if (std::int64_t f = s.forget_snap_ms.load(); f != 0 && !build && now_ms() - f >= 1000) {
      s.forget_snap_ms.compare_exchange_strong(f, 0);  // a forget meanwhile keeps it set: another snapshot
      if (auto r = s.snapshot_run(); !r) s.log("memory: snapshot after a forget failed: " + r.error().message);
    }
    if (build) {
      std::unique_ptr<vindex::build_job> job;
      {
        std::shared_lock lk(s.mu);
        job = ix->build_begin();
      }
      const char* which = ix == s.index.get() ? "" : " (re-embedding shadow)";
      s.log("memory: building HNSW over " + std::to_string(job->ids.size()) + " memories in the background" + which);
      const bool ok = build_yielding(*job, s);
      bool live = false;
      {
        std::unique_lock lk(s.mu);
        // a switch may have moved ix (shadow → live) or retired it (old live)
        live = ix == s.index.get();
        if (ok && (live || ix == s.shadow.get())) ix->build_install(*job);
        else ix->build_abandon();
      }
      if (ok) {
        s.log("memory: HNSW installed");
        if (live)
          if (auto r = s.snapshot_run(); !r) s.log("memory: snapshot after build failed: " + r.error().message);
      }
    } else if (merge || compact) {
      {
        std::unique_lock lk(s.mu);
        if (merge) ix->merge_step(k_merge_chunk);
        else ix->compact();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
}

store::store(std::unique_ptr<impl> p) : p_(std::move(p)) {}

expected<std::unique_ptr<store>> store::open(const store_options& o) {
  if (o.dim < 1 || o.dim > 65536) return error{errc::bad_request, "memory.dim: must be in 1..65536"};
  if (o.flat_max < 1) return error{errc::bad_request, "memory.flat_max: must be at least 1"};
  if (o.hnsw_m < 2 || o.hnsw_m > 256) return error{errc::bad_request, "memory.hnsw_m: must be in 2..256"};
  if (o.hnsw_ef_construction < 1 || o.hnsw_ef_search < 1)
    return error{errc::bad_request, "memory.hnsw_ef_construction/ef_search: must be positive"};
  omp_set_num_threads(1);
  auto p = std::make_unique<impl>();
  p->opts = o;
  p->dedup_threshold = o.dedup_threshold;
  p->ef_search = o.hnsw_ef_search;
  p->db_file = o.dir / "memory.db";
  p->snap_file = o.dir / "memory.index";
  p->index = p->index_new();
  p->shadow = p->index_new();
  std::error_code ec;
  std::filesystem::create_directories(o.dir, ec);
  if (ec) return error{errc::unavailable, o.dir.string() + ": cannot create: " + ec.message()};
  auto db = db_open(p->db_file, o.dim, o.log);
  if (!db) return db.error();
  auto rd = db_open_reader(p->db_file);
  if (!rd) return rd.error();
  p->reader = std::move(*rd);
  try {
    if (auto l = store_load(*p); !l) return l.error();
  } catch (const std::exception& e) {
    return error{errc::unavailable, p->db_file.string() + ": cannot load: " + e.what()};
  }
  std::string shadow_model_seen;
  try {
    SQLite::Statement m(*p->reader, "SELECT value FROM meta WHERE key = 'shadow_model'");
    if (m.executeStep()) shadow_model_seen = m.getColumn(0).getString();
  } catch (const std::exception& e) {
    return error{errc::unavailable, p->db_file.string() + ": cannot read meta.shadow_model: " + e.what()};
  }
  p->commit = std::make_unique<committer>(std::move(*db));
  if (auto w = store_settle(*p, shadow_model_seen); !w) return w.error();
  {  // a shadow completed just before a stop switches now
    std::unique_lock wl(p->write_mu);
    const std::uint64_t t = p->switch_if_complete();
    wl.unlock();
    if (t)
      if (auto w = p->wait_and_snapshot(t, true); !w) return w.error();
  }
  impl* raw = p.get();
  p->worker = std::thread([raw] { worker_run(*raw); });
  p->log("memory: opened " + p->db_file.string() + " with " + std::to_string(p->recs.size()) + " memories");
  return std::unique_ptr<store>(new store(std::move(p)));
}

store::~store() {
  p_->stop = true;
  p_->worker_cv.notify_all();
  if (p_->worker.joinable()) p_->worker.join();
  bool dirty;
  {
    std::lock_guard wl(p_->write_mu);
    dirty = p_->snap_seq != p_->next_seq - 1;
  }
  if (p_->down() && dirty) {
    if (auto r = p_->snapshot_run(); !r) p_->log("memory: snapshot at close failed: " + r.error().message);
  }
  p_->commit->close();
  p_->reader.reset();
}

// ---- writes -------------------------------------------------------------

expected<add_result> store::add(std::string user, std::string text, nlohmann::json meta, std::vector<float> vec) {
  std::vector<new_memory> one(1);
  one[0] = new_memory{std::move(user), std::move(text), std::move(meta), std::move(vec), {}};
  auto r = add_batch(std::move(one));
  if (!r) return r.error();
  return (*r)[0];
}

expected<std::vector<add_result>> store::add_batch(std::vector<new_memory> items) {
  // the promise is shared: done may still be returning on the commit thread
  // when the future is ready
  auto ready = std::make_shared<std::promise<expected<std::vector<add_result>>>>();
  auto result = ready->get_future();
  add_enqueue(std::move(items), [ready](expected<std::vector<add_result>> r) { ready->set_value(std::move(r)); });
  add_flush();
  return result.get();
}

void store::add_enqueue(std::vector<new_memory> items, add_done done) {
  impl& s = *p_;
  // the items' vectors made unit length, meta {} for null; the first bad one's error
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::string at = items.size() > 1 ? "items[" + std::to_string(i) + "]." : "";
    auto v = vec_check(std::move(items[i].vec), s.opts.dim, "vector");
    if (!v) return done(error{v.error().code, at + v.error().message});
    items[i].vec = std::move(*v);
    if (!items[i].live_vec.empty()) {
      auto lv = vec_check(std::move(items[i].live_vec), s.opts.dim, "live_vector");
      if (!lv) return done(error{lv.error().code, at + lv.error().message});
      items[i].live_vec = std::move(*lv);
    }
    if (auto bad = text_check(items[i].text, "text"); !bad) return done(error{bad.error().code, at + bad.error().message});
    if (auto bad = text_check(items[i].user, "user"); !bad) return done(error{bad.error().code, at + bad.error().message});
    if (items[i].meta.is_null()) items[i].meta = nlohmann::json::object();
    if (!items[i].meta.is_object()) return done(error{errc::bad_request, at + "meta: must be a JSON object"});
  }
  if (items.empty()) return done(std::vector<add_result>{});
  auto call = std::make_shared<impl::add_call>();
  call->items = std::move(items);
  call->done = std::move(done);
  std::lock_guard q(s.addq_mu);
  s.addq.push_back(std::move(call));
}

bool store::add_flush(bool if_free) {
  impl& s = *p_;
  // Queued adds combine: whoever next holds write_mu applies every queued
  // call as one batch (one dedup pass over the index for all of them, one
  // transaction).
  std::unique_lock wl(s.write_mu, std::defer_lock);
  if (if_free) {
    if (!wl.try_lock()) return false;
  } else {
    wl.lock();
  }
  std::vector<std::shared_ptr<impl::add_call>> calls;
  {
    std::lock_guard q(s.addq_mu);
    calls.swap(s.addq);
  }
  if (!calls.empty()) s.adds_apply(calls);  // empty: an earlier flush took them
  return true;
}

// Dedup of one combined batch: for each item, the closest memory of its user
// (or none) as if the items had been added one after another. One search per
// user for all of that user's items gives each its best few memories as they
// were before the batch (k_dedup_first; an item whose few were all touched by
// earlier items searches again, deeper); memories the batch touched are scored
// again against their vectors at that point. Caller holds write_mu.
void store::impl::adds_apply(std::vector<std::shared_ptr<add_call>>& calls) {
  auto fail_all = [&](const error& e) {
    for (auto& c : calls) c->done(e);
  };
  if (auto d = down(); !d) return fail_all(d.error());
  // Re-embedding: item.vec is the new model's, so dedup looks in the shadow
  // and the vector goes there; the live index gets live_vec or loses the id.
  const bool rx = reindexing();
  const double thr = dedup_threshold.load();
  // dedup only needs memories at the threshold or above: a floor that high
  // lets the exact scan screen rows by their heads (vindex::head_)
  const float dedup_floor = std::nextafter(static_cast<float>(thr), -std::numeric_limits<float>::infinity());
  const std::int64_t now = now_ms();
  std::vector<new_memory*> items;
  for (auto& c : calls)
    for (auto& it : c->items) items.push_back(&it);
  const std::size_t dim = static_cast<std::size_t>(opts.dim);
  // best memories before the batch, per item (dedup on)
  std::vector<std::vector<std::pair<std::int64_t, float>>> before(items.size());
  if (thr <= 1.0) {
    std::unordered_map<std::string, std::vector<std::size_t>> by_user_items;
    for (std::size_t i = 0; i < items.size(); ++i) by_user_items[items[i]->user].push_back(i);
    std::shared_lock lk(mu);
    const vindex& ix = rx ? *shadow : *index;
    for (const auto& [user, idx] : by_user_items) {
      std::vector<float> qs(idx.size() * dim);
      for (std::size_t j = 0; j < idx.size(); ++j)
        std::copy(items[idx[j]]->vec.begin(), items[idx[j]]->vec.end(), qs.begin() + j * dim);
      scope sc;
      sc.user = user;
      auto best = scope_search_many(*this, ix, qs.data(), static_cast<int>(idx.size()),
                                    static_cast<int>(std::min(idx.size(), k_dedup_first)), sc, dedup_floor);
      for (std::size_t j = 0; j < idx.size(); ++j) before[idx[j]] = std::move(best[j]);
    }
  }
  auto work = std::make_shared<std::vector<add_work>>();
  std::unordered_map<std::string, std::vector<std::int64_t>> touched;  // user → ids the batch wrote
  std::unordered_set<std::int64_t> touched_ids;
  std::size_t item_no = 0;
  for (auto& c : calls) {
    c->first = work->size();
    for (auto& it : c->items) {
      std::optional<std::int64_t> twin;
      if (thr <= 1.0 && it.dedup) {
        std::pair<std::int64_t, float> best{0, -2.0f};
        bool untouched = false;
        for (const auto& [id, score] : before[item_no])
          if (!touched_ids.count(id)) {
            best = {id, score};
            untouched = true;
            break;
          }
        std::shared_lock lk(mu);
        const vindex& ix = rx ? *shadow : *index;
        const auto& mine = touched[it.user];
        if (!untouched && before[item_no].size() == k_dedup_first && before[item_no].back().second >= thr) {
          // the first few were all rewritten by earlier items: ask again, deep
          // enough to pass every memory the batch touched (the untouched ones
          // are as they were before the batch)
          scope sc;
          sc.user = it.user;
          for (const auto& [id, score] :
               scope_search(*this, ix, it.vec.data(), static_cast<int>(mine.size()) + 1, sc, dedup_floor))
            if (!touched_ids.count(id)) {
              best = {id, score};
              break;
            }
        }
        for (std::int64_t id : mine) {
          const float* v = ix.vector_of(id);
          if (!v) continue;
          const float score = vec_dot(it.vec.data(), v, opts.dim);
          if (score > best.second || (score == best.second && id < best.first)) best = {id, score};
        }
        if (best.second >= thr) twin = best.first;
      }
      ++item_no;
      record r;
      std::string event = "add";
      std::optional<std::string> old_text;
      if (twin) {
        r = recs.at(*twin);
        old_text = r.text;
        r.text = std::move(it.text);
        for (const auto& [k, val] : it.meta.items()) r.meta[k] = val;
        r.updated_ms = now;
        r.model = opts.model_id;
        event = "dedup";
      } else {
        r.id = next_id++;
        r.user = std::move(it.user);
        r.text = std::move(it.text);
        r.meta = std::move(it.meta);
        r.created_ms = it.created_ms > 0 ? it.created_ms : now;
        r.updated_ms = it.updated_ms > 0 ? it.updated_ms : (it.created_ms > 0 ? it.created_ms : now);
        r.model = opts.model_id;
      }
      if (touched_ids.insert(r.id).second) touched[r.user].push_back(r.id);
      const std::int64_t seq = next_seq++;
      const bool has_live = rx && !it.live_vec.empty();
      if (has_live) r.model = index_model;
      {
        std::unique_lock lk(mu);
        cat_insert(r);
        if (!rx) {
          index->upsert(r.id, it.vec.data());
        } else {
          shadow->upsert(r.id, it.vec.data());
          if (has_live) index->upsert(r.id, it.live_vec.data());
          else index->erase(r.id);
        }
      }
      c->results.push_back(add_result{r.id, twin.has_value()});
      std::vector<float> row_vec = has_live ? std::move(it.live_vec) : it.vec;
      std::vector<float> shadow_vec;
      if (rx) shadow_vec = std::move(it.vec);
      work->push_back(add_work{db_memory_row{r.id, r.user, r.text, json_dump(r.meta), r.created_ms, r.updated_ms,
                                             std::move(row_vec), r.model},
                               std::move(event), std::move(old_text), seq, std::move(shadow_vec),
                               twin ? std::vector<history_event>{} : std::move(it.history)});
    }
    c->last = work->size();
  }
  commit->enqueue(
      [work](db_writer& w) {
        for (const auto& p : *work) {
          db_put_memory(w, p.row);
          if (!p.shadow_vec.empty()) db_put_shadow(w, p.row.id, p.shadow_vec);
          if (p.history.empty()) db_put_history(w, p.row.id, p.event, p.old_text, p.row.text, p.row.updated_ms);
          for (const auto& h : p.history) db_put_history(w, p.row.id, h.event, h.old_text, h.new_text, h.at_ms);
          db_put_change(w, p.seq, p.row.id);
        }
      },
      [this, work, calls = std::move(calls)](const expected<void>& synced) {
        for (const auto& c : calls) {
          if (!synced) {
            c->done(synced.error());
            continue;
          }
          if (opts.on_change)
            for (std::size_t i = c->first; i < c->last; ++i) {
              const auto& p = (*work)[i];
              opts.on_change(change{p.event, p.row.id, p.row.user, p.row.text});
            }
          c->done(std::move(c->results));
        }
      });
}

expected<void> store::update(std::int64_t id, std::optional<std::string> text, std::optional<nlohmann::json> meta,
                             std::optional<std::vector<float>> vec) {
  std::optional<std::vector<float>> v;
  if (vec) {
    auto c = vec_check(std::move(*vec), p_->opts.dim, "vector");
    if (!c) return c.error();
    v = std::move(*c);
  }
  if (text)
    if (auto bad = text_check(*text, "text"); !bad) return bad.error();
  if (meta && meta->is_null()) meta = nlohmann::json::object();
  if (meta && !meta->is_object()) return error{errc::bad_request, "meta: must be a JSON object"};
  impl& s = *p_;
  std::unique_lock wl(s.write_mu);
  if (auto d = s.down(); !d) return d.error();
  auto it = s.recs.find(id);
  if (it == s.recs.end()) return error{errc::not_found, not_found_msg(id)};
  record r = it->second;
  const std::string old_text = r.text;
  const bool rx = s.reindexing(), was_live = s.in_live(r);
  if (text) r.text = std::move(*text);
  if (meta) r.meta = std::move(*meta);
  const bool text_changed = r.text != old_text;
  if (v) r.model = s.opts.model_id;
  else if (text_changed && was_live) r.model = "";  // the vector no longer matches the text
  r.updated_ms = now_ms();
  const std::int64_t seq = s.next_seq++;
  std::vector<float> stored;
  // Re-embedding: a new vector is the new model's (shadow only until the
  // switch); a new text without one drops the shadow vector (re-embedded).
  const bool shadow_put = rx && v.has_value(), shadow_drop = rx && !v && text_changed;
  {
    std::unique_lock lk(s.mu);
    const float* cur = s.index->vector_of(id);
    if (!cur) cur = s.shadow->vector_of(id);
    if (cur) stored.assign(cur, cur + s.opts.dim);
    s.cat_insert(r);
    if (v) {
      stored = *v;
      if (rx) {
        s.shadow->upsert(id, v->data());
        s.index->erase(id);
      } else {
        s.index->upsert(id, v->data());
      }
    }
    if (shadow_drop) s.shadow->erase(id);
  }
  if (stored.empty()) return error{errc::internal, "memory " + std::to_string(id) + ": no vector in any index"};
  db_memory_row row{r.id, r.user, r.text, json_dump(r.meta), r.created_ms, r.updated_ms, std::move(stored), r.model};
  const std::uint64_t t = s.commit->enqueue([row = std::move(row), old_text, seq, shadow_put, shadow_drop](db_writer& w) {
    db_put_memory(w, row);
    if (shadow_put) db_put_shadow(w, row.id, row.vec);
    if (shadow_drop) db_delete_shadow(w, row.id);
    db_put_history(w, row.id, "update", old_text, row.text, row.updated_ms);
    db_put_change(w, seq, row.id);
  });
  wl.unlock();
  if (auto c = s.commit->wait(t); !c) return c;
  if (s.opts.on_change) s.opts.on_change(change{"update", r.id, r.user, r.text});
  return {};
}

expected<void> store::update_vector(std::int64_t id, std::vector<float> vec, std::string model) {
  auto v = vec_check(std::move(vec), p_->opts.dim, "vector");
  if (!v) return v.error();
  impl& s = *p_;
  std::unique_lock wl(s.write_mu);
  if (auto d = s.down(); !d) return d.error();
  auto it = s.recs.find(id);
  if (it == s.recs.end()) return error{errc::not_found, not_found_msg(id)};
  if (s.reindexing() && model != s.index_model)
    return error{errc::bad_request, "model: '" + model + "' is not the live index's model '" + s.index_model +
                                        "' (re-embedding: new-model vectors go through reindex_put)"};
  const std::int64_t seq = s.next_seq++;
  record r;
  {
    std::unique_lock lk(s.mu);
    s.stale_n -= it->second.model != s.opts.model_id;
    it->second.model = std::move(model);
    s.stale_n += it->second.model != s.opts.model_id;
    r = it->second;
    s.index->upsert(id, v->data());
  }
  db_memory_row row{r.id, r.user, r.text, json_dump(r.meta), r.created_ms, r.updated_ms, std::move(*v), r.model};
  const std::uint64_t t = s.commit->enqueue([row = std::move(row), seq](db_writer& w) {
    db_put_memory(w, row);
    db_put_change(w, seq, row.id);
  });
  wl.unlock();
  return s.commit->wait(t);
}

expected<void> store::remove(std::int64_t id) {
  impl& s = *p_;
  std::unique_lock wl(s.write_mu);
  if (auto d = s.down(); !d) return d.error();
  auto it = s.recs.find(id);
  if (it == s.recs.end()) return error{errc::not_found, not_found_msg(id)};
  const std::string user = it->second.user;
  const std::int64_t seq = s.next_seq++;
  {
    std::unique_lock lk(s.mu);
    s.cat_erase(id);
    s.index->forget(id);
    s.shadow->forget(id);
  }
  const std::int64_t at = now_ms();
  const std::uint64_t t = s.commit->enqueue([id, seq, at](db_writer& w) { db_forget(w, id, seq, at); });
  s.forget_snap_ms = at;
  const std::uint64_t sw = s.switch_if_complete();  // the last memory without a new vector may be gone
  wl.unlock();
  if (auto c = s.commit->wait(t); !c) return c;
  if (s.opts.on_change) s.opts.on_change(change{"delete", id, user, std::nullopt});
  return sw ? s.wait_and_snapshot(sw, true) : expected<void>{};
}

expected<std::int64_t> store::delete_all(const std::string& user, const nlohmann::json& filter,
                                         std::optional<std::int64_t> since, std::optional<std::int64_t> until) {
  auto sc = scope_make(user, filter, since, until);
  if (!sc) return sc.error();
  impl& s = *p_;
  std::unique_lock wl(s.write_mu);
  if (auto d = s.down(); !d) return d.error();
  std::vector<std::int64_t> gone;
  std::vector<std::int64_t> seqs;
  {
    std::unique_lock lk(s.mu);
    gone = scope_ids(s, *sc);
    std::sort(gone.begin(), gone.end());
    for (std::int64_t id : gone) {
      seqs.push_back(s.next_seq++);
      s.cat_erase(id);
      s.index->forget(id);
      s.shadow->forget(id);
    }
  }
  if (gone.empty()) return std::int64_t{0};
  const std::int64_t at = now_ms();
  const std::uint64_t t = s.commit->enqueue([gone, seqs, at](db_writer& w) {
    for (std::size_t i = 0; i < gone.size(); ++i) db_forget(w, gone[i], seqs[i], at);
  });
  s.forget_snap_ms = at;
  const std::uint64_t sw = s.switch_if_complete();
  wl.unlock();
  if (auto c = s.commit->wait(t); !c) return c.error();
  if (s.opts.on_change)
    for (std::int64_t id : gone) s.opts.on_change(change{"delete", id, user, std::nullopt});
  if (sw)
    if (auto c = s.wait_and_snapshot(sw, true); !c) return c.error();
  return static_cast<std::int64_t>(gone.size());
}

expected<void> store::snapshot() { return p_->snapshot_run(); }

// ---- reads --------------------------------------------------------------

expected<std::vector<hit>> store::search(const query& q, search_note* note) const {
  const impl& s = *p_;
  if (q.top_k < 1 || q.top_k > 10000) return error{errc::bad_request, "top_k: must be in 1..10000"};
  auto v = vec_check(q.vector, s.opts.dim, "vector");
  if (!v) return v.error();
  auto sc = scope_make(q.user, q.filter, q.since_ms, q.until_ms);
  if (!sc) return sc.error();
  if (auto d = s.down(); !d) return d.error();
  omp_set_num_threads(1);
  std::shared_lock lk(s.mu);
  auto ix = index_for(s, q.model, note);
  if (!ix) return ix.error();
  auto best = scope_search(s, **ix, v->data(), q.top_k, *sc);
  std::vector<hit> out;
  out.reserve(best.size());
  for (const auto& [id, score] : best) out.push_back(hit{s.recs.at(id), score});
  return out;
}

expected<record> store::get(std::int64_t id) const {
  const impl& s = *p_;
  if (auto d = s.down(); !d) return d.error();
  std::shared_lock lk(s.mu);
  auto it = s.recs.find(id);
  if (it == s.recs.end()) return error{errc::not_found, not_found_msg(id)};
  return it->second;
}

expected<std::pair<std::vector<record>, std::int64_t>> store::list(std::optional<std::string> user,
                                                                   const nlohmann::json& filter, std::int64_t limit,
                                                                   std::int64_t offset,
                                                                   std::optional<std::int64_t> since,
                                                                   std::optional<std::int64_t> until) const {
  const impl& s = *p_;
  if (limit < 0) return error{errc::bad_request, "limit: must not be negative"};
  if (offset < 0) return error{errc::bad_request, "offset: must not be negative"};
  auto sc = scope_make(std::move(user), filter, since, until);
  if (!sc) return sc.error();
  if (auto d = s.down(); !d) return d.error();
  std::shared_lock lk(s.mu);
  std::vector<std::int64_t> ids;
  if (sc->any()) {
    ids = scope_ids(s, *sc);
  } else {
    ids.reserve(s.recs.size());
    for (const auto& [id, r] : s.recs) ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());
  std::vector<record> page;
  for (std::size_t i = static_cast<std::size_t>(offset); i < ids.size() && page.size() < static_cast<std::size_t>(limit); ++i)
    page.push_back(s.recs.at(ids[i]));
  return std::make_pair(std::move(page), static_cast<std::int64_t>(ids.size()));
}

expected<std::vector<history_event>> store::history(std::int64_t id) const {
  const impl& s = *p_;
  if (auto d = s.down(); !d) return d.error();
  std::vector<history_event> out;
  try {
    std::lock_guard lk(s.reader_mu);
    SQLite::Statement q(*s.reader, "SELECT event, old, new, at_ms FROM history WHERE memory_id = ? ORDER BY seq");
    q.bind(1, static_cast<std::int64_t>(id));
    while (q.executeStep()) {
      history_event e;
      e.event = q.getColumn(0).getString();
      if (!q.getColumn(1).isNull()) e.old_text = s.stored_text(q.getColumn(1).getString());
      if (!q.getColumn(2).isNull()) e.new_text = s.stored_text(q.getColumn(2).getString());
      e.at_ms = q.getColumn(3).getInt64();
      out.push_back(std::move(e));
    }
  } catch (const std::exception& e) {
    return error{errc::internal, s.db_file.string() + ": reading history of " + std::to_string(id) + ": " + e.what()};
  }
  if (out.empty()) return error{errc::not_found, not_found_msg(id)};
  return out;
}

std::vector<std::int64_t> store::stale_ids(std::size_t limit) const {
  const impl& s = *p_;
  std::shared_lock lk(s.mu);
  std::vector<std::int64_t> ids;
  for (const auto& [id, r] : s.recs)
    if (r.model != s.opts.model_id) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  if (ids.size() > limit) ids.resize(limit);
  return ids;
}

void store::set_dedup_threshold(double t) {
  if (std::isfinite(t)) p_->dedup_threshold = t;
}
void store::set_ef_search(int ef) {
  ef = std::clamp(ef, 1, 10000);
  p_->ef_search = ef;
  std::unique_lock lk(p_->mu);
  p_->index->set_ef_search(ef);
  p_->shadow->set_ef_search(ef);
}

std::size_t store::size() const {
  std::shared_lock lk(p_->mu);
  return p_->recs.size();
}

nlohmann::json store::stats() const {
  const impl& s = *p_;
  nlohmann::json j;
  {
    std::shared_lock lk(s.mu);
    j["memories"] = s.recs.size();
    j["users"] = s.by_user.size();
    j["index"] = s.index->stats();
    j["stale_vectors"] = s.stale_n;  // counted as records change: stats does not walk the catalogue
    j["model"] = s.index_model;
    if (s.reindexing())
      j["reindex"] = {{"from_model", s.index_model}, {"to_model", s.opts.model_id}, {"done", s.shadow->size()},
                      {"total", s.recs.size()}, {"shadow_index", s.shadow->stats()}};
  }
  j["commits"] = s.commit->commits();
  j["batches"] = s.commit->batches();
  j["dedup_threshold"] = s.dedup_threshold.load();
  j["ef_search"] = s.ef_search.load();
  j["down"] = s.commit->failure();
  j["repaired_rows"] = s.repaired.load();
  return j;
}

}  // namespace aikid::memory
