// Stored reminders and per-user settings: two tables in the knowledge
// graph's database (WAL, synchronous=FULL). Every write commits before it
// returns; reminder_due_take marks what it hands out in the same transaction
// that reads it, so a due time fires once, also across a restart.
//
//   reminders(id, user, what, lang, said, due, every, weekday, hour, minute,
//             state, created, fired)
//   settings(user, key, value)
#include <SQLiteCpp/SQLiteCpp.h>

#include "actors/synthesis/internal.hpp"
#include "actors/synthesis/synthesis.hpp"
#include "common/utf8.hpp"

namespace aikid::synthesis {

namespace detail {
void reminders_schema_create(SQLite::Database& db) {
  db.exec(
      "CREATE TABLE reminders(id INTEGER PRIMARY KEY, user TEXT NOT NULL, what TEXT NOT NULL,"
      " lang TEXT NOT NULL, said TEXT NOT NULL DEFAULT '', due INTEGER NOT NULL,"
      " every TEXT NOT NULL DEFAULT 'none', weekday INTEGER NOT NULL DEFAULT 0,"
      " hour INTEGER NOT NULL DEFAULT 0, minute INTEGER NOT NULL DEFAULT 0,"
      " state TEXT NOT NULL DEFAULT 'pending', created INTEGER NOT NULL, fired INTEGER);"
      "CREATE INDEX reminders_due ON reminders(due) WHERE state = 'pending';"
      "CREATE INDEX reminders_user ON reminders(user);"
      "CREATE TABLE settings(user TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"
      " PRIMARY KEY(user, key));");
}
}  // namespace detail

namespace {

constexpr const char* kColumns =
    "id, user, what, lang, said, due, every, weekday, hour, minute, state, created, fired";

const char* every_name(repeat_rule::kind k) {
  switch (k) {
    case repeat_rule::kind::daily: return "daily";
    case repeat_rule::kind::weekly: return "weekly";
    case repeat_rule::kind::none: break;
  }
  return "none";
}

repeat_rule::kind every_of(const std::string& s) {
  if (s == "daily") return repeat_rule::kind::daily;
  if (s == "weekly") return repeat_rule::kind::weekly;
  return repeat_rule::kind::none;
}

// One row of kColumns; text that is not UTF-8 (a hand-edited database) is
// served with U+FFFD.
reminder row_of(SQLite::Statement& q) {
  reminder r;
  r.id = q.getColumn(0).getInt64();
  r.user = utf8_repaired(q.getColumn(1).getString());
  r.what = utf8_repaired(q.getColumn(2).getString());
  r.lang = utf8_repaired(q.getColumn(3).getString());
  r.said = utf8_repaired(q.getColumn(4).getString());
  r.due_ms = q.getColumn(5).getInt64();
  r.repeat.every = every_of(q.getColumn(6).getString());
  r.repeat.weekday = q.getColumn(7).getInt();
  r.repeat.hour = q.getColumn(8).getInt();
  r.repeat.minute = q.getColumn(9).getInt();
  r.state = q.getColumn(10).getString();
  r.created_ms = q.getColumn(11).getInt64();
  if (!q.getColumn(12).isNull()) r.fired_ms = q.getColumn(12).getInt64();
  return r;
}

error db_error(const char* what, const std::exception& e) {
  return error{errc::unavailable, std::string("reminders: ") + what + ": " + e.what()};
}

}  // namespace

expected<reminder> reminder_add(kg& g, reminder r) {
  if (r.user.empty()) return error{errc::bad_request, "user: required for a reminder"};
  if (r.what.empty()) return error{errc::bad_request, "what: empty"};
  for (const std::string* s : {&r.user, &r.what, &r.lang, &r.said})
    if (utf8_first_invalid(*s) >= 0) return error{errc::bad_request, "reminder text is not valid UTF-8"};
  try {
    auto& db = detail::kg_db(g);
    SQLite::Statement ins(db,
                          "INSERT INTO reminders(user, what, lang, said, due, every, weekday, hour, minute, state,"
                          " created) VALUES (?,?,?,?,?,?,?,?,?,'pending',?)");
    ins.bind(1, r.user);
    ins.bind(2, r.what);
    ins.bind(3, r.lang);
    ins.bind(4, r.said);
    ins.bind(5, static_cast<std::int64_t>(r.due_ms));
    ins.bind(6, every_name(r.repeat.every));
    ins.bind(7, r.repeat.weekday);
    ins.bind(8, r.repeat.hour);
    ins.bind(9, r.repeat.minute);
    ins.bind(10, static_cast<std::int64_t>(r.created_ms));
    ins.exec();
    r.id = db.getLastInsertRowid();
    r.state = "pending";
    return r;
  } catch (const std::exception& e) {
    return db_error("add", e);
  }
}

expected<std::optional<reminder>> reminder_import(kg& g, reminder r) {
  if (r.user.empty()) return error{errc::bad_request, "user: required for a reminder"};
  if (r.what.empty()) return error{errc::bad_request, "what: empty"};
  if (r.state != "pending" && r.state != "fired" && r.state != "done")
    return error{errc::bad_request, "state: '" + r.state + "' is not pending|fired|done"};
  for (const std::string* s : {&r.user, &r.what, &r.lang, &r.said})
    if (utf8_first_invalid(*s) >= 0) return error{errc::bad_request, "reminder text is not valid UTF-8"};
  try {
    auto& db = detail::kg_db(g);
    SQLite::Statement same(db, "SELECT id FROM reminders WHERE user = ? AND what = ? AND due = ? AND created = ?");
    same.bind(1, r.user);
    same.bind(2, r.what);
    same.bind(3, static_cast<std::int64_t>(r.due_ms));
    same.bind(4, static_cast<std::int64_t>(r.created_ms));
    if (same.executeStep()) return std::optional<reminder>();  // imported before: kept as it is
    SQLite::Statement ins(db,
                          "INSERT INTO reminders(user, what, lang, said, due, every, weekday, hour, minute, state,"
                          " created, fired) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)");
    ins.bind(1, r.user);
    ins.bind(2, r.what);
    ins.bind(3, r.lang);
    ins.bind(4, r.said);
    ins.bind(5, static_cast<std::int64_t>(r.due_ms));
    ins.bind(6, every_name(r.repeat.every));
    ins.bind(7, r.repeat.weekday);
    ins.bind(8, r.repeat.hour);
    ins.bind(9, r.repeat.minute);
    ins.bind(10, r.state);
    ins.bind(11, static_cast<std::int64_t>(r.created_ms));
    if (r.fired_ms) ins.bind(12, static_cast<std::int64_t>(*r.fired_ms)); else ins.bind(12);
    ins.exec();
    r.id = db.getLastInsertRowid();
    return std::optional<reminder>(std::move(r));
  } catch (const std::exception& e) {
    return db_error("import", e);
  }
}

expected<std::vector<reminder>> reminder_list(kg& g, std::string_view user, bool all) {
  try {
    SQLite::Statement q(detail::kg_db(g), std::string("SELECT ") + kColumns + " FROM reminders WHERE user = ?" +
                                              (all ? "" : " AND state = 'pending'") + " ORDER BY due, id");
    q.bind(1, std::string(user));
    std::vector<reminder> out;
    while (q.executeStep()) out.push_back(row_of(q));
    return out;
  } catch (const std::exception& e) {
    return db_error("list", e);
  }
}

expected<reminder> reminder_get(kg& g, std::int64_t id, std::string_view user) {
  try {
    SQLite::Statement q(detail::kg_db(g), std::string("SELECT ") + kColumns + " FROM reminders WHERE id = ? AND user = ?");
    q.bind(1, static_cast<std::int64_t>(id));
    q.bind(2, std::string(user));
    if (!q.executeStep()) return error{errc::not_found, "reminder_id: no reminder " + std::to_string(id) + " of this user"};
    return row_of(q);
  } catch (const std::exception& e) {
    return db_error("get", e);
  }
}

expected<reminder> reminder_last_fired(kg& g, std::string_view user) {
  try {
    SQLite::Statement q(detail::kg_db(g), std::string("SELECT ") + kColumns +
                                              " FROM reminders WHERE user = ? AND fired IS NOT NULL AND state != 'done'"
                                              " ORDER BY fired DESC, id DESC LIMIT 1");
    q.bind(1, std::string(user));
    if (!q.executeStep()) return error{errc::not_found, "no reminder has fired for this user"};
    return row_of(q);
  } catch (const std::exception& e) {
    return db_error("last fired", e);
  }
}

namespace {
// Runs one UPDATE/DELETE whose SQL ends in "WHERE id = ? AND user = ?", with
// `first` (when given) bound to its first parameter. Fails: not_found (no
// such reminder of this user), unavailable.
expected<void> change_one(kg& g, std::int64_t id, std::string_view user, const char* sql,
                          std::optional<std::int64_t> first = std::nullopt) {
  try {
    SQLite::Statement u(detail::kg_db(g), sql);
    int at = 1;
    if (first) u.bind(at++, static_cast<std::int64_t>(*first));
    u.bind(at++, static_cast<std::int64_t>(id));
    u.bind(at, std::string(user));
    if (u.exec() == 0) return error{errc::not_found, "reminder_id: no reminder " + std::to_string(id) + " of this user"};
    return {};
  } catch (const std::exception& e) {
    return db_error("write", e);
  }
}
}  // namespace

expected<reminder> reminder_snooze(kg& g, std::int64_t id, std::string_view user, std::int64_t due_ms) {
  auto ok = change_one(g, id, user, "UPDATE reminders SET due = ?, state = 'pending' WHERE id = ? AND user = ?", due_ms);
  if (!ok) return ok.error();
  return reminder_get(g, id, user);
}

expected<reminder> reminder_done(kg& g, std::int64_t id, std::string_view user) {
  auto ok = change_one(g, id, user, "UPDATE reminders SET state = 'done' WHERE id = ? AND user = ?");
  if (!ok) return ok.error();
  return reminder_get(g, id, user);
}

expected<void> reminder_delete(kg& g, std::int64_t id, std::string_view user) {
  return change_one(g, id, user, "DELETE FROM reminders WHERE id = ? AND user = ?");
}

expected<std::int64_t> reminder_delete_user(kg& g, std::string_view user, std::optional<std::int64_t> since,
                                            std::optional<std::int64_t> until) {
  try {
    auto& db = detail::kg_db(g);
    SQLite::Transaction tx(db);
    SQLite::Statement d(db, "DELETE FROM reminders WHERE user = ?1 AND created >= ?2 AND created <= ?3");
    d.bind(1, std::string(user));
    d.bind(2, static_cast<std::int64_t>(since.value_or(INT64_MIN)));
    d.bind(3, static_cast<std::int64_t>(until.value_or(INT64_MAX)));
    const int n = d.exec();
    if (!since && !until) {
      SQLite::Statement s(db, "DELETE FROM settings WHERE user = ?");
      s.bind(1, std::string(user));
      s.exec();
    }
    tx.commit();
    return std::int64_t{n};
  } catch (const std::exception& e) {
    return db_error("delete user", e);
  }
}

expected<std::vector<reminder_firing>> reminder_due_take(kg& g, std::int64_t now_ms,
                                                         const std::function<const zone&(const std::string&)>& zone_of) {
  constexpr std::int64_t kLateMs = 60'000;
  try {
    auto& db = detail::kg_db(g);
    SQLite::Transaction tx(db);
    SQLite::Statement q(db, std::string("SELECT ") + kColumns +
                                " FROM reminders WHERE state = 'pending' AND due <= ? ORDER BY due, id LIMIT 256");
    q.bind(1, static_cast<std::int64_t>(now_ms));
    std::vector<reminder_firing> out;
    while (q.executeStep()) {
      reminder r = row_of(q);
      out.push_back(reminder_firing{r, now_ms - r.due_ms > kLateMs});
    }
    SQLite::Statement once(db, "UPDATE reminders SET state = 'fired', fired = ? WHERE id = ?");
    SQLite::Statement again(db, "UPDATE reminders SET due = ?, fired = ? WHERE id = ?");
    for (auto& f : out) {
      f.r.fired_ms = now_ms;
      if (f.r.repeat.every == repeat_rule::kind::none) {
        f.r.state = "fired";
        once.bind(1, static_cast<std::int64_t>(now_ms));
        once.bind(2, static_cast<std::int64_t>(f.r.id));
        once.exec();
        once.reset();
      } else {
        // the next occurrence after now: occurrences missed while down fire once, late
        again.bind(1, static_cast<std::int64_t>(repeat_next(f.r.repeat, now_ms, zone_of(f.r.user))));
        again.bind(2, static_cast<std::int64_t>(now_ms));
        again.bind(3, static_cast<std::int64_t>(f.r.id));
        again.exec();
        again.reset();
      }
    }
    tx.commit();  // synchronous=FULL: marked on disk before anything is handed out
    return out;
  } catch (const std::exception& e) {
    return db_error("due", e);
  }
}

expected<std::string> user_setting_get(kg& g, std::string_view user, std::string_view key) {
  try {
    SQLite::Statement q(detail::kg_db(g), "SELECT value FROM settings WHERE user = ? AND key = ?");
    q.bind(1, std::string(user));
    q.bind(2, std::string(key));
    return q.executeStep() ? utf8_repaired(q.getColumn(0).getString()) : std::string{};
  } catch (const std::exception& e) {
    return db_error("setting", e);
  }
}

expected<std::vector<std::pair<std::string, std::string>>> user_settings_with(kg& g, std::string_view key) {
  try {
    SQLite::Statement q(detail::kg_db(g), "SELECT user, value FROM settings WHERE key = ? ORDER BY user");
    q.bind(1, std::string(key));
    std::vector<std::pair<std::string, std::string>> out;
    while (q.executeStep()) out.emplace_back(utf8_repaired(q.getColumn(0).getString()), utf8_repaired(q.getColumn(1).getString()));
    return out;
  } catch (const std::exception& e) {
    return db_error("settings", e);
  }
}

expected<void> user_setting_set(kg& g, std::string_view user, std::string_view key, std::string_view value) {
  if (user.empty()) return error{errc::bad_request, "user: required"};
  try {
    auto& db = detail::kg_db(g);
    if (value.empty()) {
      SQLite::Statement d(db, "DELETE FROM settings WHERE user = ? AND key = ?");
      d.bind(1, std::string(user));
      d.bind(2, std::string(key));
      d.exec();
    } else {
      SQLite::Statement u(db, "INSERT INTO settings(user, key, value) VALUES (?,?,?)"
                              " ON CONFLICT(user, key) DO UPDATE SET value = excluded.value");
      u.bind(1, std::string(user));
      u.bind(2, std::string(key));
      u.bind(3, std::string(value));
      u.exec();
    }
    return {};
  } catch (const std::exception& e) {
    return db_error("setting", e);
  }
}

}  // namespace aikid::synthesis
