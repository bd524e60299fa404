// SQLite, the truth: open checks (a damaged file is never written), schema
// and migrations, the statements every write uses, and the group commit.
//
// Schema (version 3):
//   meta(key, value)                       schema_version, dim, snapshot_seq,
//                                          index_model, index_model_dir,
//                                          shadow_model, switch_seq
//   memories(id, user, text, meta JSON, created_ms, updated_ms, vector BLOB
//            [dim float32], model)         one row per live memory
//   history(seq, memory_id, event, old, new, at_ms)   add|update|delete|dedup
//   changes(seq, memory_id)                 index journal since the snapshot
//   shadow(id, vector BLOB)                 new-model vectors while re-embedding
// Version 1 (first release) had no memories.model and no changes table;
// version 2 had no shadow table and no index_model (the migration takes the
// most common model of the stored vectors).
#include <sqlite3.h>

#include <SQLiteCpp/Exception.h>

#include <chrono>
#include <fstream>

#include "actors/memory/memory_internal.hpp"

namespace aikid::memory {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// ---- schema and migrations ----------------------------------------------

static const char* k_schema_v1 = R"(
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE memories(id INTEGER PRIMARY KEY, user TEXT NOT NULL, text TEXT NOT NULL,
  meta TEXT NOT NULL DEFAULT '{}', created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL,
  vector BLOB NOT NULL);
CREATE INDEX memories_user ON memories(user);
CREATE TABLE history(seq INTEGER PRIMARY KEY AUTOINCREMENT, memory_id INTEGER NOT NULL,
  event TEXT NOT NULL, old TEXT, new TEXT, at_ms INTEGER NOT NULL);
CREATE INDEX history_memory ON history(memory_id, seq);
INSERT INTO meta(key, value) VALUES('schema_version', '1');
)";

// migrations[i] takes version i+1 to i+2
static const char* k_migrations[] = {
    R"(
ALTER TABLE memories ADD COLUMN model TEXT NOT NULL DEFAULT '';
CREATE TABLE changes(seq INTEGER PRIMARY KEY, memory_id INTEGER NOT NULL);
UPDATE meta SET value = '2' WHERE key = 'schema_version';
)",
    R"(
CREATE TABLE shadow(id INTEGER PRIMARY KEY, vector BLOB NOT NULL);
INSERT OR REPLACE INTO meta(key, value) SELECT 'index_model', COALESCE((SELECT model FROM memories
  WHERE model <> '' GROUP BY model ORDER BY COUNT(*) DESC, model LIMIT 1), '');
UPDATE meta SET value = '3' WHERE key = 'schema_version';
)",
};
static_assert(sizeof(k_migrations) / sizeof(k_migrations[0]) == schema_version - 1);

static std::string meta_get(SQLite::Database& db, const char* key) {
  SQLite::Statement q(db, "SELECT value FROM meta WHERE key = ?");
  q.bind(1, key);
  return q.executeStep() ? q.getColumn(0).getString() : std::string();
}

// ---- open ---------------------------------------------------------------

static expected<void> header_check(const std::filesystem::path& file, bool& fresh) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(file, ec);
  if (ec) return error{errc::unavailable, file.string() + ": cannot stat: " + ec.message()};
  if (size == 0) {  // created but never written (a crash before the first commit)
    fresh = !std::filesystem::exists(file.string() + "-wal");
    return {};
  }
  std::ifstream in(file, std::ios::binary);
  char magic[16] = {};
  if (!in.read(magic, 16) || std::string_view(magic, 16) != std::string_view("SQLite format 3\0", 16))
    return error{errc::unavailable,
                 file.string() + ": not a SQLite database (bad header at offset 0); left untouched"};
  return {};
}

expected<std::unique_ptr<SQLite::Database>> db_open(const std::filesystem::path& file, int dim,
                                                    const std::function<void(std::string_view)>& log) {
  const bool exists = std::filesystem::exists(file);
  bool fresh = !exists;
  if (exists) {
    auto h = header_check(file, fresh);
    if (!h) return h.error();
  }
  std::unique_ptr<SQLite::Database> db;
  try {
    db = std::make_unique<SQLite::Database>(
        file.string(), SQLite::OPEN_READWRITE | (exists ? 0 : SQLite::OPEN_CREATE) | SQLite::OPEN_FULLMUTEX);
    // Closing must not checkpoint into a file we have not verified yet.
    sqlite3_db_config(db->getHandle(), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
    db->exec("PRAGMA busy_timeout = 5000");
  } catch (const std::exception& e) {
    return error{errc::unavailable, file.string() + ": cannot open: " + e.what()};
  }
  // Read-only checks first: nothing is written before they pass.
  if (!fresh) {
    try {
      SQLite::Statement qc(*db, "PRAGMA quick_check(5)");
      std::string problems;
      while (qc.executeStep()) {
        std::string line = qc.getColumn(0).getString();
        if (line != "ok") problems += (problems.empty() ? "" : "; ") + line;
      }
      if (!problems.empty())
        return error{errc::unavailable,
                     file.string() + ": database is corrupt (quick_check: " + problems + "); left untouched"};
      bool has_meta = db->tableExists("meta");
      if (!has_meta && db->tableExists("memories"))
        return error{errc::unavailable, file.string() + ": has memories but no meta table; left untouched"};
      if (has_meta) {
        const std::string v = meta_get(*db, "schema_version");
        int version = 0;
        try {
          version = std::stoi(v);
        } catch (...) {
          return error{errc::unavailable, file.string() + ": meta.schema_version '" + v + "' is not a number"};
        }
        if (version > schema_version || version < 1)
          return error{errc::unavailable, file.string() + ": schema version " + v +
                                              " is not one this aikid knows (1.." +
                                              std::to_string(schema_version) + "); left untouched"};
        const std::string d = meta_get(*db, "dim");
        if (!d.empty() && d != std::to_string(dim))
          return error{errc::unavailable, file.string() + ": vectors have dimension " + d +
                                              ", configured " + std::to_string(dim) + "; left untouched"};
      }
    } catch (const std::exception& e) {
      return error{errc::unavailable,
                   file.string() + ": database is corrupt or unreadable (" + e.what() + "); left untouched"};
    }
  }
  // Checked: now configure, create and migrate.
  try {
    db->exec("PRAGMA journal_mode = WAL");
    db->exec("PRAGMA synchronous = FULL");  // WAL + FULL: each commit syncs the WAL
    db->exec("PRAGMA secure_delete = ON");   // deleted rows' bytes are zeroed, not left in free pages
    sqlite3_db_config(db->getHandle(), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 0, nullptr);
    if (!db->tableExists("meta")) {
      // A new store is written at the latest schema in one transaction: the
      // first schema and every step after it, none of them logged as a
      // migration (nothing was migrated).
      SQLite::Transaction t(*db);
      db->exec(k_schema_v1);
      for (const char* step : k_migrations) db->exec(step);
      SQLite::Statement q(*db, "INSERT INTO meta(key, value) VALUES('dim', ?)");
      q.bind(1, std::to_string(dim));
      q.exec();
      t.commit();
      if (log) log("memory: created " + file.string() + " at schema " + std::to_string(schema_version));
    }
    int version = std::stoi(meta_get(*db, "schema_version"));
    while (version < schema_version) {
      SQLite::Transaction t(*db);
      db->exec(k_migrations[version - 1]);
      t.commit();
      if (log) log("memory: migrated " + file.string() + " from schema " + std::to_string(version) + " to " +
                   std::to_string(version + 1));
      ++version;
    }
    if (meta_get(*db, "dim").empty()) {
      SQLite::Statement q(*db, "INSERT INTO meta(key, value) VALUES('dim', ?)");
      q.bind(1, std::to_string(dim));
      q.exec();
    }
  } catch (const std::exception& e) {
    return error{errc::unavailable, file.string() + ": cannot prepare the schema: " + e.what()};
  }
  return db;
}

expected<std::unique_ptr<SQLite::Database>> db_open_reader(const std::filesystem::path& file) {
  try {
    auto db = std::make_unique<SQLite::Database>(file.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_FULLMUTEX);
    db->exec("PRAGMA busy_timeout = 5000");
    db->exec("PRAGMA query_only = 1");
    return db;
  } catch (const std::exception& e) {
    return error{errc::unavailable, file.string() + ": cannot open a reader: " + e.what()};
  }
}

// ---- statements ---------------------------------------------------------

db_writer::db_writer(SQLite::Database& d)
    : db(d),
      put_memory(d,
                 "INSERT OR REPLACE INTO memories(id, user, text, meta, created_ms, updated_ms, vector, model) "
                 "VALUES(?, ?, ?, ?, ?, ?, ?, ?)"),
      delete_memory(d, "DELETE FROM memories WHERE id = ?"),
      put_history(d, "INSERT INTO history(memory_id, event, old, new, at_ms) VALUES(?, ?, ?, ?, ?)"),
      put_change(d, "INSERT OR REPLACE INTO changes(seq, memory_id) VALUES(?, ?)"),
      put_shadow(d, "INSERT OR REPLACE INTO shadow(id, vector) VALUES(?, ?)"),
      delete_shadow(d, "DELETE FROM shadow WHERE id = ?"),
      put_meta(d, "INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)"),
      scrub_history(d, "UPDATE history SET old = NULL, new = NULL WHERE memory_id = ?") {}

void db_put_memory(db_writer& w, const db_memory_row& r) {
  auto& s = w.put_memory;
  s.reset();
  s.bind(1, static_cast<std::int64_t>(r.id));
  s.bindNoCopy(2, r.user);
  s.bindNoCopy(3, r.text);
  s.bindNoCopy(4, r.meta);
  s.bind(5, static_cast<std::int64_t>(r.created_ms));
  s.bind(6, static_cast<std::int64_t>(r.updated_ms));
  s.bindNoCopy(7, r.vec.data(), static_cast<int>(r.vec.size() * sizeof(float)));
  s.bindNoCopy(8, r.model);
  s.exec();
}

void db_delete_memory(db_writer& w, std::int64_t id) {
  auto& s = w.delete_memory;
  s.reset();
  s.bind(1, static_cast<std::int64_t>(id));
  s.exec();
}

void db_forget(db_writer& w, std::int64_t id, std::int64_t seq, std::int64_t at_ms) {
  db_delete_memory(w, id);
  db_delete_shadow(w, id);
  auto& s = w.scrub_history;
  s.reset();
  s.bind(1, static_cast<std::int64_t>(id));
  s.exec();
  db_put_history(w, id, "delete", std::nullopt, std::nullopt, at_ms);
  db_put_change(w, seq, id);
  w.checkpoint_after = true;
}

void db_put_history(db_writer& w, std::int64_t memory_id, const std::string& event,
                    const std::optional<std::string>& old_text, const std::optional<std::string>& new_text,
                    std::int64_t at_ms) {
  auto& s = w.put_history;
  s.reset();
  s.bind(1, static_cast<std::int64_t>(memory_id));
  s.bindNoCopy(2, event);
  if (old_text) s.bindNoCopy(3, *old_text); else s.bind(3);
  if (new_text) s.bindNoCopy(4, *new_text); else s.bind(4);
  s.bind(5, static_cast<std::int64_t>(at_ms));
  s.exec();
}

void db_put_change(db_writer& w, std::int64_t seq, std::int64_t memory_id) {
  auto& s = w.put_change;
  s.reset();
  s.bind(1, static_cast<std::int64_t>(seq));
  s.bind(2, static_cast<std::int64_t>(memory_id));
  s.exec();
}

void db_put_shadow(db_writer& w, std::int64_t id, const std::vector<float>& vec) {
  auto& s = w.put_shadow;
  s.reset();
  s.bind(1, static_cast<std::int64_t>(id));
  s.bindNoCopy(2, vec.data(), static_cast<int>(vec.size() * sizeof(float)));
  s.exec();
}

void db_delete_shadow(db_writer& w, std::int64_t id) {
  auto& s = w.delete_shadow;
  s.reset();
  s.bind(1, static_cast<std::int64_t>(id));
  s.exec();
}

void db_put_meta(db_writer& w, const std::string& key, const std::string& value) {
  auto& s = w.put_meta;
  s.reset();
  s.bindNoCopy(1, key);
  s.bindNoCopy(2, value);
  s.exec();
}

// ---- group commit -------------------------------------------------------

committer::committer(std::unique_ptr<SQLite::Database> db)
    : db_(std::move(db)), w_(std::make_unique<db_writer>(*db_)), thread_([this] { run(); }) {}

committer::~committer() { close(); }

std::uint64_t committer::enqueue(work w, after then) {
  std::lock_guard lk(mu_);
  const std::uint64_t t = next_ticket_++;
  queue_.push_back(queued{t, std::move(w), std::move(then)});
  cv_work_.notify_one();
  return t;
}

expected<void> committer::wait(std::uint64_t ticket) {
  std::unique_lock lk(mu_);
  cv_done_.wait(lk, [&] { return done_upto_ >= ticket; });
  if (!failed_.empty() && ticket >= failed_from_) return error{errc::unavailable, failed_};
  return {};
}

expected<void> committer::drain() {
  std::uint64_t last;
  {
    std::lock_guard lk(mu_);
    last = next_ticket_ - 1;
  }
  return wait(last);
}

std::string committer::failure() const {
  if (!failed_flag_.load(std::memory_order_acquire)) return {};
  std::lock_guard lk(mu_);
  return failed_;
}

void committer::run() {
  for (;;) {
    std::deque<queued> batch;
    {
      std::unique_lock lk(mu_);
      cv_work_.wait(lk, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stop_ and nothing left
      batch.swap(queue_);
    }
    std::string err;
    bool failed_before;
    {
      std::lock_guard lk(mu_);
      failed_before = !failed_.empty();
    }
    if (!failed_before) {
      try {
        db_->exec("BEGIN IMMEDIATE");
        w_->checkpoint_after = false;
        try {
          for (auto& q : batch) q.w(*w_);
          db_->exec("COMMIT");  // synchronous=FULL: the WAL is synced before this returns
          if (w_->checkpoint_after) {
            // forgotten text: copy the WAL into the database (whose freed
            // bytes secure_delete zeroed) and truncate it; a reader holding
            // an old snapshot makes it partial (retried at the next forget
            // and at close), never a failure of the batch
            w_->checkpoint_after = false;
            try {
              db_->exec("PRAGMA wal_checkpoint(TRUNCATE)");
            } catch (const std::exception&) {
            }
          }
        } catch (...) {
          try {
            db_->exec("ROLLBACK");
          } catch (...) {  // the failure below is what the callers get
          }
          throw;
        }
      } catch (const std::exception& e) {
        err = std::string("memory store is down: a write failed (") + e.what() + "); restart to recover";
      }
    }
    expected<void> outcome;
    {
      std::lock_guard lk(mu_);
      if (!err.empty() && failed_.empty()) {
        failed_ = err;
        failed_from_ = batch.front().ticket;
        failed_flag_.store(true, std::memory_order_release);
      }
      if (err.empty() && !failed_before) {
        ++batches_;
        commits_ += batch.size();
      } else {
        outcome = error{errc::unavailable, failed_};
      }
      done_upto_ = batch.back().ticket;
      cv_done_.notify_all();
    }
    for (auto& q : batch)
      if (q.then) q.then(outcome);
  }
}

void committer::close() {
  {
    std::lock_guard lk(mu_);
    if (stop_) return;
    stop_ = true;
    cv_work_.notify_one();
  }
  if (thread_.joinable()) thread_.join();
  try {
    w_.reset();
    if (failure().empty()) db_->exec("PRAGMA wal_checkpoint(TRUNCATE)");
  } catch (const std::exception&) {  // the WAL stays; the next open replays it
  }
  db_.reset();
}

}  // namespace aikid::memory
