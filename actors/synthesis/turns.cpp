// Conversation turns: the last N per user (synthesis.turns). Served from
// memory; once attached to the graph's database (turns_attach) every turn is
// also written to its `turns` table (schema v5, kg.cpp's migration), which
// holds at most N per user, so the turns survive a restart.
//
// Table of contents
//   turns_schema_create   the table (kg_open's migration to v5)
//   turns, turns_new      the per-user queues
//   turns_attach          load the last N per user, write from then on
//   turns_add             one turn (and its row; older rows past N deleted)
//   turns_recent, turns_set_max, turns_max
//   turns_forget          a user's turns, or those said in a time range
//   turns_write_errors    failed writes (the turn is still served from memory)
#include <SQLiteCpp/SQLiteCpp.h>

#include <deque>
#include <unordered_map>

#include "actors/synthesis/internal.hpp"
#include "actors/synthesis/synthesis.hpp"
#include "common/utf8.hpp"

namespace aikid::synthesis {

namespace detail {
void turns_schema_create(SQLite::Database& db) {
  db.exec(
      "CREATE TABLE turns(id INTEGER PRIMARY KEY, user TEXT NOT NULL, role TEXT NOT NULL,"
      " text TEXT NOT NULL, at INTEGER NOT NULL);"
      "CREATE INDEX turns_user ON turns(user, id);");
}
}  // namespace detail

struct turns {
  std::size_t max_per_user = 8;
  std::unordered_map<std::string, std::deque<turn>> by_user;
  SQLite::Database* db = nullptr;  // the graph's (turns_attach); null: memory only
  std::uint64_t write_errors = 0;
  std::string last_error;
};

void turns_closer::operator()(turns* t) const noexcept { delete t; }

turns_ptr turns_new(std::size_t max_per_user) {
  turns_ptr t(new turns);
  t->max_per_user = max_per_user;
  return t;
}

namespace {

// Keeps only the newest n rows of each user (all users: user empty).
void db_trim(SQLite::Database& db, std::size_t n, const std::string* user) {
  std::string sql =
      "DELETE FROM turns WHERE id IN (SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY user ORDER BY id "
      "DESC) AS rn FROM turns";
  if (user) sql += " WHERE user = ?2";
  sql += ") WHERE rn > ?1)";
  SQLite::Statement d(db, sql);
  d.bind(1, static_cast<std::int64_t>(n));
  if (user) d.bind(2, *user);
  d.exec();
}

void note_error(turns& t, const char* what, const std::exception& e) {
  ++t.write_errors;
  t.last_error = std::string("turns: ") + what + ": " + e.what();
}

}  // namespace

expected<std::size_t> turns_attach(turns& t, kg& g) {
  auto& db = detail::kg_db(g);
  try {
    db_trim(db, t.max_per_user, nullptr);
    t.by_user.clear();
    SQLite::Statement q(db, "SELECT user, role, text, at FROM turns ORDER BY id");
    std::size_t n = 0;
    while (q.executeStep()) {
      auto& dq = t.by_user[utf8_repaired(q.getColumn(0).getString())];
      dq.push_back(turn{utf8_repaired(q.getColumn(1).getString()), utf8_repaired(q.getColumn(2).getString()),
                        q.getColumn(3).getInt64()});
      while (dq.size() > t.max_per_user) dq.pop_front();
      ++n;
    }
    t.db = &db;
    return n;
  } catch (const std::exception& e) {
    return error{errc::unavailable, std::string("turns: cannot load: ") + e.what()};
  }
}

void turns_add(turns& t, std::string_view user, std::string_view role, std::string_view text,
               std::int64_t ts_ms) {
  if (t.max_per_user == 0) return;
  const std::string u(user);
  auto& q = t.by_user[u];
  q.push_back(turn{std::string(role), std::string(text), ts_ms});
  while (q.size() > t.max_per_user) q.pop_front();
  if (!t.db) return;
  try {
    SQLite::Transaction tx(*t.db);
    SQLite::Statement ins(*t.db, "INSERT INTO turns(user, role, text, at) VALUES (?,?,?,?)");
    ins.bind(1, u);
    ins.bind(2, std::string(role));
    ins.bind(3, std::string(text));
    ins.bind(4, static_cast<std::int64_t>(ts_ms));
    ins.exec();
    db_trim(*t.db, t.max_per_user, &u);
    tx.commit();
  } catch (const std::exception& e) {
    note_error(t, "write", e);
  }
}

std::vector<turn> turns_recent(const turns& t, std::string_view user) {
  auto it = t.by_user.find(std::string(user));
  if (it == t.by_user.end()) return {};
  return {it->second.begin(), it->second.end()};
}

void turns_set_max(turns& t, std::size_t n) {
  const bool fewer = n < t.max_per_user;
  t.max_per_user = n;
  for (auto it = t.by_user.begin(); it != t.by_user.end();) {
    auto& q = it->second;
    while (q.size() > n) q.pop_front();
    if (q.empty()) it = t.by_user.erase(it);
    else ++it;
  }
  if (t.db && fewer) {
    try {
      db_trim(*t.db, n, nullptr);
    } catch (const std::exception& e) {
      note_error(t, "trim", e);
    }
  }
}

std::size_t turns_max(const turns& t) { return t.max_per_user; }

expected<std::int64_t> turns_forget(turns& t, std::string_view user, std::optional<std::int64_t> since,
                                    std::optional<std::int64_t> until) {
  const std::string u(user);
  auto in_range = [&](std::int64_t at) { return (!since || at >= *since) && (!until || at <= *until); };
  std::int64_t n = 0;
  if (t.db) {
    try {
      SQLite::Statement d(*t.db, "DELETE FROM turns WHERE user = ?1 AND at >= ?2 AND at <= ?3");
      d.bind(1, u);
      d.bind(2, static_cast<std::int64_t>(since.value_or(INT64_MIN)));
      d.bind(3, static_cast<std::int64_t>(until.value_or(INT64_MAX)));
      n = d.exec();
    } catch (const std::exception& e) {
      return error{errc::unavailable, std::string("turns: cannot delete: ") + e.what()};
    }
  }
  auto it = t.by_user.find(u);
  if (it == t.by_user.end()) return n;
  std::int64_t mem = 0;
  auto& q = it->second;
  for (auto i = q.begin(); i != q.end();) {
    if (in_range(i->ts_ms)) {
      i = q.erase(i);
      ++mem;
    } else {
      ++i;
    }
  }
  if (q.empty()) t.by_user.erase(it);
  return t.db ? n : mem;
}

std::uint64_t turns_write_errors(const turns& t, std::string* last) {
  if (last) *last = t.last_error;
  return t.write_errors;
}

}  // namespace aikid::synthesis
