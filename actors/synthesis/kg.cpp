// Knowledge graph: SQLite (WAL, synchronous=FULL) is the truth; every row is
// mirrored in memory, where all reads are served. A write first commits to
// SQLite, then applies the same change to memory — a failed commit leaves
// memory untouched.
//
// Every entity belongs to one scope: a user's, or the shared graph (user "").
// Names are unique per (user, key); a relation lives in its subject's scope
// (kg_add and kg_replace resolve both ends in the writer's scope, so a
// relation never joins two scopes). A superseded relation (kg_replace) stays
// as history: in SQLite with its `superseded` time, in memory only in its
// entities' old_rels — never in a query, a due list or the triple index.
//
// Table of contents
//   records and scopes   entity_rec, rel_rec, scope, struct kg (memory mutations, lookups)
//   open                 schema_create, migrate_v4 (scopes + history), v5 (turns), kg_open, loading
//   writes               triple_check, writer (resolve, add, supersede), kg_add, kg_replace
//   export / import      kg_export_user, kg_import_user (one user's graph, names not ids)
//   query                kg_query, kg_facts, kg_history
//   delete               kg_delete_entity, kg_delete_triple, kg_delete_user, kg_forget, kg_checkpoint
//   listing              kg_entities, kg_find, kg_due, kg_due_take, kg_stats_get
//   linker access        detail::kg_for_each_name
#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include <SQLiteCpp/SQLiteCpp.h>

#include "actors/synthesis/internal.hpp"
#include "common/utf8.hpp"
#include "actors/synthesis/synthesis.hpp"

namespace aikid::synthesis {

namespace {

constexpr int kSchemaVersion = 5;

struct rel_rec;
struct scope;

// Records live in unordered_maps (node-based: addresses are stable until the
// record is erased), so the adjacency lists hold pointers and a query walks
// the graph without hashing.
struct entity_rec {
  std::int64_t id = 0;
  std::string name, key, type;
  std::vector<std::string> aliases;
  std::vector<std::string> alias_keys;
  std::vector<const rel_rec*> rels;      // current relations touching this entity
  std::vector<const rel_rec*> old_rels;  // superseded ones (history)
  scope* sc = nullptr;                   // set by put_entity
  mutable std::uint64_t seen = 0;        // query epoch that visited it
};

struct rel_rec {
  std::int64_t id = 0, s = 0, o = 0;
  std::string relation;
  nlohmann::json attrs;
  std::optional<std::int64_t> due;
  std::optional<std::int64_t> fired;       // the due time whose reminder was taken (kg_due_take)
  std::optional<std::int64_t> superseded;  // unix ms when kg_replace superseded it; nullopt = current
  const entity_rec* se = nullptr;  // subject, object (set by put_relation)
  const entity_rec* oe = nullptr;
  mutable std::uint64_t seen = 0;
};

// One user's names (or the shared graph's, user "").
struct scope {
  std::string user;
  std::unordered_map<std::string, std::int64_t> by_name;                // name key → id
  std::map<std::string, std::int64_t> sorted_names;                     // name key → id (prefix scans)
  std::unordered_map<std::string, std::vector<std::int64_t>> by_alias;  // alias key → ids
  std::size_t entities = 0;
};

std::string triple_key(std::int64_t s, std::string_view rel, std::int64_t o) {
  std::string k = std::to_string(s);
  k += '\x1f';
  k += rel;
  k += '\x1f';
  k += std::to_string(o);
  return k;
}

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// A user as a scope name: any valid UTF-8 ("" = the shared graph).
expected<void> user_check(std::string_view user) {
  if (auto bad = utf8_first_invalid(user); bad >= 0)
    return error{errc::bad_request, "user: not valid UTF-8 (byte " + std::to_string(bad) + ")"};
  return {};
}

}  // namespace

struct kg {
  std::unique_ptr<SQLite::Database> db;
  zone_ptr naive;
  std::unordered_map<std::int64_t, entity_rec> ents;
  std::unordered_map<std::string, scope> scopes;          // user → its names (node-stable)
  std::unordered_map<std::int64_t, rel_rec> rels;         // current and superseded
  std::unordered_map<std::string, std::int64_t> triples;  // triple_key → current relation id
  std::multimap<std::int64_t, std::int64_t> due_index;    // due ms → current relation id
  std::size_t superseded = 0;                             // rels that are history
  std::uint64_t generation = 0;
  mutable std::uint64_t epoch = 0;  // one per query: marks visited records

  const scope* find_scope(std::string_view user) const {
    auto it = scopes.find(std::string(user));
    return it == scopes.end() ? nullptr : &it->second;
  }
  scope& scope_for(const std::string& user) {
    auto& s = scopes[user];
    s.user = user;
    return s;
  }

  // ---- memory mutations (after a commit) ----
  void put_entity(entity_rec e, const std::string& user) {
    auto& sc = scope_for(user);
    sc.by_name[e.key] = e.id;
    sc.sorted_names[e.key] = e.id;
    for (auto& k : e.alias_keys) sc.by_alias[k].push_back(e.id);
    ++sc.entities;
    e.sc = &sc;
    auto id = e.id;
    ents[id] = std::move(e);
  }
  void put_alias(std::int64_t id, std::string alias, std::string key) {
    auto& e = ents.at(id);
    if (std::find(e.alias_keys.begin(), e.alias_keys.end(), key) != e.alias_keys.end()) return;
    e.sc->by_alias[key].push_back(id);
    e.aliases.push_back(std::move(alias));
    e.alias_keys.push_back(std::move(key));
  }
  void put_relation(rel_rec r) {
    const auto id = r.id;
    auto& se = ents.at(r.s);
    auto& oe = ents.at(r.o);
    r.se = &se;
    r.oe = &oe;
    const bool current = !r.superseded;
    if (current) {
      triples[triple_key(r.s, r.relation, r.o)] = id;
      if (r.due) due_index.emplace(*r.due, id);
    } else {
      ++superseded;
    }
    auto& stored = rels[id] = std::move(r);
    auto& lst_s = current ? se.rels : se.old_rels;
    auto& lst_o = current ? oe.rels : oe.old_rels;
    lst_s.push_back(&stored);
    if (&oe != &se) lst_o.push_back(&stored);
  }
  void drop_due(std::int64_t id, std::optional<std::int64_t> due) {
    if (!due) return;
    auto [b, e] = due_index.equal_range(*due);
    for (auto it = b; it != e; ++it) {
      if (it->second == id) {
        due_index.erase(it);
        return;
      }
    }
  }
  static void unlink(std::vector<const rel_rec*>& v, const rel_rec* r) {
    v.erase(std::remove(v.begin(), v.end(), r), v.end());
  }
  // A current relation becomes history.
  void supersede(std::int64_t id, std::int64_t when) {
    auto& r = rels.at(id);
    if (r.superseded) return;
    for (auto* e : {&ents.at(r.s), r.o != r.s ? &ents.at(r.o) : nullptr}) {
      if (!e) continue;
      unlink(e->rels, &r);
      e->old_rels.push_back(&r);
    }
    triples.erase(triple_key(r.s, r.relation, r.o));
    drop_due(id, r.due);
    r.superseded = when;
    ++superseded;
  }
  void drop_relation(std::int64_t id) {
    auto it = rels.find(id);
    if (it == rels.end()) return;
    auto& r = it->second;
    for (auto eid : {r.s, r.o}) {
      auto e = ents.find(eid);
      if (e == ents.end()) continue;
      unlink(e->second.rels, &r);
      unlink(e->second.old_rels, &r);
    }
    if (r.superseded) {
      --superseded;
    } else {
      triples.erase(triple_key(r.s, r.relation, r.o));
      drop_due(id, r.due);
    }
    rels.erase(it);
  }
  void drop_entity(std::int64_t id) {
    auto it = ents.find(id);
    if (it == ents.end()) return;
    std::vector<std::int64_t> rel_ids;
    for (const auto* r : it->second.rels) rel_ids.push_back(r->id);
    for (const auto* r : it->second.old_rels) rel_ids.push_back(r->id);
    for (auto r : rel_ids) drop_relation(r);
    auto& e = ents.at(id);
    auto& sc = *e.sc;
    sc.by_name.erase(e.key);
    sc.sorted_names.erase(e.key);
    for (auto& k : e.alias_keys) {
      auto a = sc.by_alias.find(k);
      if (a == sc.by_alias.end()) continue;
      auto& v = a->second;
      v.erase(std::remove(v.begin(), v.end(), id), v.end());
      if (v.empty()) sc.by_alias.erase(a);
    }
    ents.erase(id);
    if (--sc.entities == 0) scopes.erase(sc.user);
  }

  // ---- lookups ----
  // A name or alias key in one scope; an alias of several entities gives the oldest.
  std::optional<std::int64_t> lookup(std::string_view user, const std::string& key) const {
    const scope* sc = find_scope(user);
    if (!sc) return std::nullopt;
    if (auto it = sc->by_name.find(key); it != sc->by_name.end()) return it->second;
    if (auto it = sc->by_alias.find(key); it != sc->by_alias.end() && !it->second.empty()) {
      return *std::min_element(it->second.begin(), it->second.end());
    }
    return std::nullopt;
  }
  // The scopes a user sees: their own, then the shared one ("" sees only the shared one).
  static std::vector<std::string_view> visible_scopes(std::string_view user) {
    if (user.empty()) return {std::string_view{}};
    return {user, std::string_view{}};
  }
  // The user's scope first, then the shared one.
  std::optional<std::int64_t> lookup_visible(std::string_view user, const std::string& key) const {
    if (auto id = lookup(user, key)) return id;
    if (!user.empty()) return lookup("", key);
    return std::nullopt;
  }

  fact make_fact(const rel_rec& r, int depth) const {
    fact f;
    f.id = r.id;
    f.subject_id = r.s;
    f.subject = r.se->name;
    f.relation = r.relation;
    f.object_id = r.o;
    f.object = r.oe->name;
    f.attrs = r.attrs;
    f.due_ms = r.due;
    f.depth = depth;
    f.user = r.se->sc->user;
    f.superseded_ms = r.superseded;
    return f;
  }

  entity make_entity(const entity_rec& e) const {
    return entity{e.id, e.name, e.type, e.aliases, e.sc->user};
  }
};

void kg_closer::operator()(kg* g) const noexcept { delete g; }

// ---- open: schema, migrations, load ------------------------------------------

namespace {

// The version-1 schema; migrations take it to kSchemaVersion.
void schema_create(SQLite::Database& db) {
  db.exec(
      "CREATE TABLE entities(id INTEGER PRIMARY KEY, name TEXT NOT NULL, key TEXT NOT NULL UNIQUE,"
      " type TEXT NOT NULL DEFAULT '', created INTEGER NOT NULL);"
      "CREATE TABLE aliases(entity_id INTEGER NOT NULL REFERENCES entities(id) ON DELETE CASCADE,"
      " alias TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY(entity_id, key));"
      "CREATE TABLE relations(id INTEGER PRIMARY KEY,"
      " subject INTEGER NOT NULL REFERENCES entities(id) ON DELETE CASCADE,"
      " relation TEXT NOT NULL,"
      " object INTEGER NOT NULL REFERENCES entities(id) ON DELETE CASCADE,"
      " attrs TEXT NOT NULL DEFAULT '{}', due INTEGER, created INTEGER NOT NULL,"
      " UNIQUE(subject, relation, object));"
      "CREATE INDEX relations_object ON relations(object);"
      "CREATE INDEX relations_due ON relations(due) WHERE due IS NOT NULL;");
}

// v4: entities get `user` (existing rows: "" — the shared graph) and are
// unique per (user, key); relations get `superseded` (NULL = current) and are
// unique per (subject, relation, object) among the current ones only. A
// UNIQUE constraint cannot be altered, so the three tables are rebuilt with
// their ids, inside the caller's transaction, with foreign keys on: the new
// tables are filled, the old children dropped before the old parent (so the
// parent's drop cascades into nothing), and renaming entities_v4 rewrites the
// new children's REFERENCES to "entities" (SQLite ≥ 3.26). Throws
// SQLite::Exception, or std::runtime_error when the foreign key check finds
// a dangling row.
void migrate_v4(SQLite::Database& db) {
  db.exec(
      "CREATE TABLE entities_v4(id INTEGER PRIMARY KEY, user TEXT NOT NULL DEFAULT '',"
      " name TEXT NOT NULL, key TEXT NOT NULL, type TEXT NOT NULL DEFAULT '', created INTEGER NOT NULL,"
      " UNIQUE(user, key));"
      "CREATE TABLE aliases_v4(entity_id INTEGER NOT NULL REFERENCES entities_v4(id) ON DELETE CASCADE,"
      " alias TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY(entity_id, key));"
      "CREATE TABLE relations_v4(id INTEGER PRIMARY KEY,"
      " subject INTEGER NOT NULL REFERENCES entities_v4(id) ON DELETE CASCADE,"
      " relation TEXT NOT NULL,"
      " object INTEGER NOT NULL REFERENCES entities_v4(id) ON DELETE CASCADE,"
      " attrs TEXT NOT NULL DEFAULT '{}', due INTEGER, created INTEGER NOT NULL, fired INTEGER,"
      " superseded INTEGER);"
      "INSERT INTO entities_v4(id, user, name, key, type, created)"
      " SELECT id, '', name, key, type, created FROM entities;"
      "INSERT INTO aliases_v4(entity_id, alias, key) SELECT entity_id, alias, key FROM aliases ORDER BY rowid;"
      "INSERT INTO relations_v4(id, subject, relation, object, attrs, due, created, fired)"
      " SELECT id, subject, relation, object, attrs, due, created, fired FROM relations;"
      "DROP TABLE relations;"
      "DROP TABLE aliases;"
      "DROP TABLE entities;"
      "ALTER TABLE entities_v4 RENAME TO entities;"
      "ALTER TABLE aliases_v4 RENAME TO aliases;"
      "ALTER TABLE relations_v4 RENAME TO relations;"
      "CREATE INDEX entities_user ON entities(user);"
      "CREATE UNIQUE INDEX relations_current ON relations(subject, relation, object)"
      " WHERE superseded IS NULL;"
      "CREATE INDEX relations_object ON relations(object);"
      "CREATE INDEX relations_due ON relations(due) WHERE due IS NOT NULL;");
  SQLite::Statement fk(db, "PRAGMA foreign_key_check");
  if (fk.executeStep()) {
    throw std::runtime_error("migration to schema v4: table " + fk.getColumn(0).getString() + " row " +
                             std::to_string(fk.getColumn(1).getInt64()) + " names a missing " +
                             fk.getColumn(2).getString() + " row");
  }
}

}  // namespace

expected<kg_ptr> kg_open(const std::filesystem::path& path, const kg_options& opts) {
  auto z = zone_open(opts.naive_tz);
  if (!z) return error{z.error().code, "kg_options.naive_tz: " + z.error().message};
  kg_ptr g(new kg);
  g->naive = *z;
  const std::string where = "knowledge graph " + path.string() + ": ";
  try {
    g->db = std::make_unique<SQLite::Database>(path.string(),
                                               SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    g->db->exec("PRAGMA journal_mode=WAL");
    g->db->exec("PRAGMA synchronous=FULL");  // WAL + FULL: a commit is on disk when it returns
    g->db->exec("PRAGMA foreign_keys=ON");
    g->db->exec("PRAGMA busy_timeout=5000");
    g->db->exec("PRAGMA secure_delete=ON");  // deleted rows' bytes are zeroed, not left in free pages
    {
      SQLite::Transaction tx(*g->db);
      g->db->exec("CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL)");
      int version = 0;
      {
        SQLite::Statement q(*g->db, "SELECT max(version) FROM schema_version");
        if (q.executeStep() && !q.getColumn(0).isNull()) version = q.getColumn(0).getInt();
      }
      if (version > kSchemaVersion) {
        return error{errc::unavailable, where + "schema version " + std::to_string(version) +
                                            " is newer than this build's " +
                                            std::to_string(kSchemaVersion)};
      }
      if (version < 1) {  // migrations go here, one step per version
        schema_create(*g->db);
        g->db->exec("INSERT INTO schema_version(version) VALUES (1)");
      }
      if (version < 2) {  // v2: the due time whose reminder has fired, per relation
        g->db->exec("ALTER TABLE relations ADD COLUMN fired INTEGER");
        g->db->exec("INSERT INTO schema_version(version) VALUES (2)");
      }
      if (version < 3) {  // v3: reminders said in words, per-user settings (reminders.cpp)
        detail::reminders_schema_create(*g->db);
        g->db->exec("INSERT INTO schema_version(version) VALUES (3)");
      }
      if (version < 4) {  // v4: scoped by user; superseded relations kept as history
        migrate_v4(*g->db);
        g->db->exec("INSERT INTO schema_version(version) VALUES (4)");
      }
      if (version < 5) {  // v5: conversation turns (turns.cpp)
        detail::turns_schema_create(*g->db);
        g->db->exec("INSERT INTO schema_version(version) VALUES (5)");
      }
      tx.commit();
      // A new file gets every step in the one transaction above: it is
      // created at the latest schema, and no migration is reported.
      if (opts.log && version < 1)
        opts.log("knowledge graph: created " + path.string() + " at schema " + std::to_string(kSchemaVersion));
      else if (opts.log && version < kSchemaVersion)
        opts.log("knowledge graph: migrated " + path.string() + " from schema " + std::to_string(version) + " to " +
                 std::to_string(kSchemaVersion));
    }
    {
      SQLite::Statement q(*g->db, "SELECT id, user, name, key, type FROM entities");
      while (q.executeStep()) {
        entity_rec e;
        e.id = q.getColumn(0).getInt64();
        const std::string user = q.getColumn(1).getString();
        e.name = q.getColumn(2).getString();
        e.key = q.getColumn(3).getString();
        e.type = q.getColumn(4).getString();
        g->put_entity(std::move(e), user);
      }
    }
    {
      SQLite::Statement q(*g->db, "SELECT entity_id, alias, key FROM aliases ORDER BY rowid");
      while (q.executeStep()) {
        auto id = q.getColumn(0).getInt64();
        if (!g->ents.count(id)) continue;
        g->put_alias(id, q.getColumn(1).getString(), q.getColumn(2).getString());
      }
    }
    {
      SQLite::Statement q(*g->db,
                          "SELECT id, subject, relation, object, attrs, due, fired, superseded FROM relations"
                          " ORDER BY id");
      while (q.executeStep()) {
        rel_rec r;
        r.id = q.getColumn(0).getInt64();
        r.s = q.getColumn(1).getInt64();
        r.relation = q.getColumn(2).getString();
        r.o = q.getColumn(3).getInt64();
        r.attrs = nlohmann::json::parse(q.getColumn(4).getString(), nullptr, false);
        if (r.attrs.is_discarded()) {
          return error{errc::unavailable,
                       where + "relation " + std::to_string(r.id) + ": attrs is not JSON"};
        }
        if (!q.getColumn(5).isNull()) r.due = q.getColumn(5).getInt64();
        if (!q.getColumn(6).isNull()) r.fired = q.getColumn(6).getInt64();
        if (!q.getColumn(7).isNull()) r.superseded = q.getColumn(7).getInt64();
        if (!g->ents.count(r.s) || !g->ents.count(r.o)) {
          return error{errc::unavailable,
                       where + "relation " + std::to_string(r.id) + " names a missing entity"};
        }
        g->put_relation(std::move(r));
      }
    }
  } catch (const SQLite::Exception& e) {
    return error{errc::unavailable, where + e.what()};
  } catch (const std::exception& e) {
    return error{errc::internal, where + e.what()};
  }
  return g;
}

namespace detail {
SQLite::Database& kg_db(kg& g) { return *g.db; }
}  // namespace detail

// ---- writes ------------------------------------------------------------------

namespace {

struct checked_triple {
  std::string s, r, o;
  std::string s_key, o_key;
  std::string s_type, o_type;
  nlohmann::json attrs;
  std::optional<std::int64_t> due;
  bool alias = false;
};

// `at` names the triple in errors ("triples[3]", "triple").
expected<checked_triple> triple_check(const triple& t, const std::string& at, const zone& naive) {
  checked_triple c;
  const std::pair<const std::string*, const char*> fields[] = {
      {&t.subject, "subject"}, {&t.relation, "relation"}, {&t.object, "object"}};
  std::string* outs[] = {&c.s, &c.r, &c.o};
  for (int k = 0; k < 3; ++k) {
    if (utf8_first_invalid(*fields[k].first) >= 0) {
      return error{errc::bad_request, at + "." + fields[k].second + ": invalid UTF-8"};
    }
    *outs[k] = detail::text_trim(*fields[k].first);
    if (outs[k]->empty()) return error{errc::bad_request, at + "." + fields[k].second + ": empty"};
    if (outs[k]->size() > 1024) {
      return error{errc::too_large, at + "." + fields[k].second + ": longer than 1024 bytes"};
    }
  }
  c.s_key = detail::text_key(c.s);
  c.o_key = detail::text_key(c.o);
  c.alias = detail::text_key(c.r) == "alias";
  if (t.attrs.is_null()) {
    c.attrs = nlohmann::json::object();
  } else if (!t.attrs.is_object()) {
    return error{errc::bad_request, at + ".attrs: expected an object"};
  } else {
    c.attrs = t.attrs;
  }
  for (auto [field, out] : {std::pair{"subject_type", &c.s_type}, std::pair{"object_type", &c.o_type}}) {
    if (auto it = c.attrs.find(field); it != c.attrs.end()) {
      if (!it->is_string()) return error{errc::bad_request, at + ".attrs." + field + ": expected a string"};
      *out = detail::text_trim(it->get<std::string>());
      c.attrs.erase(field);
    }
  }
  if (auto it = c.attrs.find("due"); it != c.attrs.end()) {
    auto d = detail::parse_due(*it, naive);
    if (!d) return error{errc::bad_request, at + ".attrs." + d.error().message};
    c.due = *d;
  }
  return c;
}

// One write transaction in one user's scope: SQL now, memory changes queued
// in `apply` for after the commit. Its members throw SQLite::Exception.
struct writer {
  kg& g;
  std::string user;
  std::int64_t now = now_ms();
  SQLite::Statement ins_ent{*g.db, "INSERT INTO entities(user, name, key, type, created) VALUES (?,?,?,?,?)"};
  SQLite::Statement set_type{*g.db, "UPDATE entities SET type=? WHERE id=?"};
  SQLite::Statement ins_alias{*g.db, "INSERT OR IGNORE INTO aliases(entity_id, alias, key) VALUES (?,?,?)"};
  SQLite::Statement ins_rel{*g.db,
      "INSERT INTO relations(subject, relation, object, attrs, due, created) VALUES (?,?,?,?,?,?)"};
  SQLite::Statement upd_rel{*g.db, "UPDATE relations SET attrs=?, due=? WHERE id=?"};
  SQLite::Statement sup_rel{*g.db, "UPDATE relations SET superseded=? WHERE id=?"};
  std::vector<std::function<void(kg&)>> apply;
  std::unordered_map<std::string, std::int64_t> new_names;    // key → id, this batch
  std::unordered_map<std::string, std::int64_t> new_triples;  // triple key → id, this batch
  std::unordered_map<std::int64_t, std::string> type_of;      // staged types

  writer(kg& g_, std::string_view user_) : g(g_), user(user_) {}

  // The entity named `key` in this scope, created on first mention; its type set when given.
  std::int64_t resolve(const std::string& name, const std::string& key, const std::string& type) {
    std::int64_t id;
    std::string old_type;
    if (auto it = new_names.find(key); it != new_names.end()) {
      id = it->second;
      old_type = type_of[id];
    } else if (auto found = g.lookup(user, key)) {
      id = *found;
      old_type = type_of.count(id) ? type_of[id] : g.ents.at(id).type;
    } else {
      ins_ent.reset();
      ins_ent.bind(1, user);
      ins_ent.bind(2, name);
      ins_ent.bind(3, key);
      ins_ent.bind(4, type);
      ins_ent.bind(5, static_cast<std::int64_t>(now));
      ins_ent.exec();
      id = g.db->getLastInsertRowid();
      new_names[key] = id;
      type_of[id] = type;
      entity_rec e;
      e.id = id;
      e.name = name;
      e.key = key;
      e.type = type;
      apply.push_back([e = std::move(e), u = user](kg& k) mutable { k.put_entity(std::move(e), u); });
      return id;
    }
    if (!type.empty() && type != old_type) {
      set_type.reset();
      set_type.bind(1, type);
      set_type.bind(2, static_cast<std::int64_t>(id));
      set_type.exec();
      type_of[id] = type;
      apply.push_back([id, type](kg& k) { k.ents.at(id).type = type; });
    }
    return id;
  }

  // An alias, or a relation (s, c.r, o): new → inserted (returns true); a
  // current one → its attrs and due replaced (returns false).
  bool add(const checked_triple& c, std::int64_t s, std::int64_t o) {
    if (c.alias) {
      ins_alias.reset();
      ins_alias.bind(1, static_cast<std::int64_t>(s));
      ins_alias.bind(2, c.o);
      ins_alias.bind(3, c.o_key);
      ins_alias.exec();
      apply.push_back([s, a = c.o, k = c.o_key](kg& g2) { g2.put_alias(s, a, k); });
      return false;
    }
    const auto tk = triple_key(s, c.r, o);
    std::optional<std::int64_t> existing;
    if (auto it = new_triples.find(tk); it != new_triples.end()) existing = it->second;
    else if (auto it2 = g.triples.find(tk); it2 != g.triples.end()) existing = it2->second;
    const std::string attrs_text = json_dump(c.attrs);
    if (existing) {
      upd_rel.reset();
      upd_rel.bind(1, attrs_text);
      if (c.due) upd_rel.bind(2, static_cast<std::int64_t>(*c.due)); else upd_rel.bind(2);
      upd_rel.bind(3, static_cast<std::int64_t>(*existing));
      upd_rel.exec();
      apply.push_back([id = *existing, attrs = c.attrs, due = c.due](kg& k) {
        auto& r = k.rels.at(id);
        k.drop_due(id, r.due);
        r.attrs = attrs;
        r.due = due;
        if (due) k.due_index.emplace(*due, id);
      });
      return false;
    }
    ins_rel.reset();
    ins_rel.bind(1, static_cast<std::int64_t>(s));
    ins_rel.bind(2, c.r);
    ins_rel.bind(3, static_cast<std::int64_t>(o));
    ins_rel.bind(4, attrs_text);
    if (c.due) ins_rel.bind(5, static_cast<std::int64_t>(*c.due)); else ins_rel.bind(5);
    ins_rel.bind(6, static_cast<std::int64_t>(now));
    ins_rel.exec();
    const auto id = g.db->getLastInsertRowid();
    new_triples[tk] = id;
    rel_rec r;  // fired, superseded, se, oe keep their defaults
    r.id = id;
    r.s = s;
    r.o = o;
    r.relation = c.r;
    r.attrs = c.attrs;
    r.due = c.due;
    apply.push_back([r = std::move(r)](kg& k) mutable { k.put_relation(std::move(r)); });
    return true;
  }

  void supersede(std::int64_t id) {
    sup_rel.reset();
    sup_rel.bind(1, static_cast<std::int64_t>(now));
    sup_rel.bind(2, static_cast<std::int64_t>(id));
    sup_rel.exec();
    apply.push_back([id, when = now](kg& k) { k.supersede(id, when); });
  }

  void done() {
    for (auto& f : apply) f(g);
    ++g.generation;
  }
};

}  // namespace

namespace {

struct write_counts {
  std::int64_t added = 0, superseded = 0;
};

// One transaction: `add` as kg_add, then `replace` as kg_replace. Nothing is
// applied on a failure. `what` names the op in errors.
expected<write_counts> write_batch(kg& g, std::span<const triple> add, std::span<const triple> replace,
                                   std::string_view user, const char* what) {
  if (auto u = user_check(user); !u) return u.error();
  std::vector<checked_triple> adds, repls;
  adds.reserve(add.size());
  for (std::size_t i = 0; i < add.size(); ++i) {
    auto c = triple_check(add[i], "triples[" + std::to_string(i) + "]", *g.naive);
    if (!c) return c.error();
    adds.push_back(std::move(*c));
  }
  for (std::size_t i = 0; i < replace.size(); ++i) {
    auto c = triple_check(replace[i], replace.size() == 1 && add.empty() ? std::string("triple")
                                                                       : "replace[" + std::to_string(i) + "]",
                          *g.naive);
    if (!c) return c.error();
    if (c->alias) return error{errc::bad_request, "triple.relation: 'alias' is not a relation that can be replaced"};
    repls.push_back(std::move(*c));
  }
  write_counts n;
  if (adds.empty() && repls.empty()) return n;
  try {
    SQLite::Transaction tx(*g.db);
    writer w(g, user);
    for (auto& c : adds) {
      const auto s = w.resolve(c.s, c.s_key, c.s_type);
      const auto o = c.alias ? s : w.resolve(c.o, c.o_key, c.o_type);
      if (w.add(c, s, o)) ++n.added;
    }
    for (auto& c : repls) {
      const auto s = w.resolve(c.s, c.s_key, c.s_type);
      const auto o = w.resolve(c.o, c.o_key, c.o_type);
      if (auto e = g.ents.find(s); e != g.ents.end()) {
        std::vector<std::int64_t> old;
        for (const rel_rec* r : e->second.rels)
          if (r->s == s && r->relation == c.r && r->o != o) old.push_back(r->id);
        for (auto id : old) w.supersede(id);
        n.superseded += static_cast<std::int64_t>(old.size());
      }
      if (w.add(c, s, o)) ++n.added;
    }
    tx.commit();
    w.done();
  } catch (const std::exception& e) {
    return error{errc::internal, std::string(what) + ": " + e.what()};
  }
  return n;
}

}  // namespace

expected<std::int64_t> kg_add(kg& g, std::span<const triple> triples, std::string_view user) {
  auto n = write_batch(g, triples, {}, user, "kg.add");
  if (!n) return n.error();
  return n->added;
}

expected<std::int64_t> kg_replace(kg& g, const triple& t, std::string_view user) {
  auto n = write_batch(g, {}, std::span<const triple>(&t, 1), user, "kg.replace");
  if (!n) return n.error();
  return n->superseded;
}

expected<std::int64_t> kg_write(kg& g, std::span<const triple> add, std::span<const triple> replace,
                                std::string_view user) {
  auto n = write_batch(g, add, replace, user, "kg.write");
  if (!n) return n.error();
  return n->added;
}

// ---- export / import of one user's graph ----------------------------------------

expected<nlohmann::json> kg_export_user(kg& g, std::string_view user) {
  if (user.empty()) return error{errc::bad_request, "user: \"\" is the shared graph, not a user's"};
  if (auto u = user_check(user); !u) return u.error();
  nlohmann::json out = nlohmann::json::array();
  try {
    SQLite::Statement e(*g.db, "SELECT id, name, type, created FROM entities WHERE user = ? ORDER BY id");
    e.bind(1, std::string(user));
    SQLite::Statement a(*g.db, "SELECT alias FROM aliases WHERE entity_id = ? ORDER BY rowid");
    while (e.executeStep()) {
      nlohmann::json aliases = nlohmann::json::array();
      a.reset();
      a.bind(1, e.getColumn(0).getInt64());
      while (a.executeStep()) aliases.push_back(utf8_repaired(a.getColumn(0).getString()));
      out.push_back({{"type", "entity"}, {"name", utf8_repaired(e.getColumn(1).getString())},
                     {"entity_type", utf8_repaired(e.getColumn(2).getString())}, {"aliases", std::move(aliases)},
                     {"created", e.getColumn(3).getInt64()}});
    }
    SQLite::Statement r(*g.db,
                        "SELECT s.name, r.relation, o.name, r.attrs, r.due, r.fired, r.superseded, r.created"
                        " FROM relations r JOIN entities s ON r.subject = s.id JOIN entities o ON r.object = o.id"
                        " WHERE s.user = ? ORDER BY r.id");
    r.bind(1, std::string(user));
    auto opt = [&](int col) { return r.getColumn(col).isNull() ? nlohmann::json() : nlohmann::json(r.getColumn(col).getInt64()); };
    while (r.executeStep()) {
      auto attrs = nlohmann::json::parse(r.getColumn(3).getString(), nullptr, false);
      out.push_back({{"type", "relation"}, {"subject", utf8_repaired(r.getColumn(0).getString())},
                     {"relation", utf8_repaired(r.getColumn(1).getString())},
                     {"object", utf8_repaired(r.getColumn(2).getString())},
                     {"attrs", attrs.is_object() ? attrs : nlohmann::json::object()}, {"due", opt(4)},
                     {"fired", opt(5)}, {"superseded", opt(6)}, {"created", r.getColumn(7).getInt64()}});
    }
  } catch (const std::exception& ex) {
    return error{errc::unavailable, std::string("knowledge graph: export: ") + ex.what()};
  }
  return out;
}

namespace {

// A name of an import record: a non-empty string of at most 1024 bytes (trimmed).
expected<std::string> import_name(const nlohmann::json& rec, const char* field, const std::string& at) {
  auto it = rec.find(field);
  if (it == rec.end() || !it->is_string()) return error{errc::bad_request, at + "." + field + ": must be a string"};
  std::string v = detail::text_trim(it->get<std::string>());
  if (utf8_first_invalid(v) >= 0) return error{errc::bad_request, at + "." + field + ": invalid UTF-8"};
  if (v.empty()) return error{errc::bad_request, at + "." + field + ": empty"};
  if (v.size() > 1024) return error{errc::too_large, at + "." + field + ": longer than 1024 bytes"};
  return v;
}

expected<std::optional<std::int64_t>> import_ms(const nlohmann::json& rec, const char* field, const std::string& at) {
  auto it = rec.find(field);
  if (it == rec.end() || it->is_null()) return std::optional<std::int64_t>();
  if (!it->is_number_integer()) return error{errc::bad_request, at + "." + field + ": must be an integer (unix ms) or null"};
  return std::optional<std::int64_t>(it->get<std::int64_t>());
}

}  // namespace

expected<std::int64_t> kg_import_user(kg& g, std::string_view user, const nlohmann::json& records) {
  if (user.empty()) return error{errc::bad_request, "user: \"\" is the shared graph, not a user's"};
  if (auto u = user_check(user); !u) return u.error();
  if (!records.is_array()) return error{errc::bad_request, "records: must be an array"};
  // checked first: nothing is written when one record is bad
  struct ent_in {
    std::string name, type;
    std::vector<std::string> aliases;
    std::optional<std::int64_t> created;
  };
  struct rel_in {
    std::string s, r, o;
    nlohmann::json attrs;
    std::optional<std::int64_t> due, fired, superseded, created;
  };
  std::vector<ent_in> ents;
  std::vector<rel_in> rels;
  for (std::size_t i = 0; i < records.size(); ++i) {
    const auto& rec = records[i];
    const std::string at = "records[" + std::to_string(i) + "]";
    if (!rec.is_object() || !rec.contains("type") || !rec["type"].is_string())
      return error{errc::bad_request, at + ": must be an object with a string type"};
    const std::string type = rec["type"];
    auto created = import_ms(rec, "created", at);
    if (!created) return created.error();
    if (type == "entity") {
      ent_in e;
      auto name = import_name(rec, "name", at);
      if (!name) return name.error();
      e.name = *name;
      if (auto t = rec.find("entity_type"); t != rec.end() && !t->is_null()) {
        if (!t->is_string()) return error{errc::bad_request, at + ".entity_type: must be a string"};
        e.type = detail::text_trim(t->get<std::string>());
      }
      if (auto a = rec.find("aliases"); a != rec.end() && !a->is_null()) {
        if (!a->is_array()) return error{errc::bad_request, at + ".aliases: must be an array of strings"};
        for (std::size_t k = 0; k < a->size(); ++k) {
          auto al = import_name(nlohmann::json{{"alias", (*a)[k]}}, "alias", at + ".aliases[" + std::to_string(k) + "]");
          if (!al) return al.error();
          e.aliases.push_back(*al);
        }
      }
      e.created = *created;
      ents.push_back(std::move(e));
    } else if (type == "relation") {
      rel_in r;
      auto sname = import_name(rec, "subject", at);
      if (!sname) return sname.error();
      auto rname = import_name(rec, "relation", at);
      if (!rname) return rname.error();
      auto oname = import_name(rec, "object", at);
      if (!oname) return oname.error();
      if (detail::text_key(*rname) == "alias")
        return error{errc::bad_request, at + ".relation: 'alias' is an entity's alias (entity.aliases), not a relation"};
      r.s = *sname;
      r.r = *rname;
      r.o = *oname;
      r.attrs = rec.value("attrs", nlohmann::json::object());
      if (r.attrs.is_null()) r.attrs = nlohmann::json::object();
      if (!r.attrs.is_object()) return error{errc::bad_request, at + ".attrs: must be an object"};
      for (auto [field, out] : {std::pair{"due", &r.due}, std::pair{"fired", &r.fired}, std::pair{"superseded", &r.superseded}}) {
        auto v = import_ms(rec, field, at);
        if (!v) return v.error();
        *out = *v;
      }
      r.created = *created;
      rels.push_back(std::move(r));
    } else {
      return error{errc::bad_request, at + ".type: '" + type + "' is not entity|relation"};
    }
  }
  std::int64_t n = 0;
  try {
    SQLite::Transaction tx(*g.db);
    writer w(g, user);
    SQLite::Statement set_created(*g.db, "UPDATE entities SET created = ? WHERE id = ?");
    SQLite::Statement ins(*g.db,
                          "INSERT INTO relations(subject, relation, object, attrs, due, created, fired, superseded)"
                          " VALUES (?,?,?,?,?,?,?,?)");
    for (const auto& e : ents) {
      const std::string key = detail::text_key(e.name);
      const bool fresh = !w.new_names.count(key) && !g.lookup(w.user, key);
      const auto id = w.resolve(e.name, key, e.type);
      if (fresh) {
        ++n;
        if (e.created) {
          set_created.reset();
          set_created.bind(1, static_cast<std::int64_t>(*e.created));
          set_created.bind(2, static_cast<std::int64_t>(id));
          set_created.exec();
        }
      }
      for (const auto& a : e.aliases) {
        w.ins_alias.reset();
        w.ins_alias.bind(1, static_cast<std::int64_t>(id));
        w.ins_alias.bind(2, a);
        w.ins_alias.bind(3, detail::text_key(a));
        w.ins_alias.exec();
        w.apply.push_back([id, a, k = detail::text_key(a)](kg& g2) { g2.put_alias(id, a, k); });
      }
    }
    for (const auto& r : rels) {
      const auto s = w.resolve(r.s, detail::text_key(r.s), "");
      const auto o = w.resolve(r.o, detail::text_key(r.o), "");
      const auto tk = triple_key(s, r.r, o);
      if (!r.superseded && (w.new_triples.count(tk) || g.triples.count(tk))) continue;  // the user has it
      ins.reset();
      ins.bind(1, static_cast<std::int64_t>(s));
      ins.bind(2, r.r);
      ins.bind(3, static_cast<std::int64_t>(o));
      ins.bind(4, json_dump(r.attrs));
      if (r.due) ins.bind(5, static_cast<std::int64_t>(*r.due)); else ins.bind(5);
      ins.bind(6, static_cast<std::int64_t>(r.created.value_or(w.now)));
      if (r.fired) ins.bind(7, static_cast<std::int64_t>(*r.fired)); else ins.bind(7);
      if (r.superseded) ins.bind(8, static_cast<std::int64_t>(*r.superseded)); else ins.bind(8);
      ins.exec();
      const auto id = g.db->getLastInsertRowid();
      if (!r.superseded) w.new_triples[tk] = id;
      rel_rec rr;
      rr.id = id;
      rr.s = s;
      rr.o = o;
      rr.relation = r.r;
      rr.attrs = r.attrs;
      rr.due = r.due;
      rr.fired = r.fired;
      rr.superseded = r.superseded;
      w.apply.push_back([rr = std::move(rr)](kg& k) mutable { k.put_relation(std::move(rr)); });
      ++n;
    }
    tx.commit();
    w.done();
  } catch (const std::exception& e) {
    return error{errc::internal, std::string("kg.import: ") + e.what()};
  }
  return n;
}

// ---- query -------------------------------------------------------------------

expected<std::vector<fact>> kg_query(const kg& g, std::string_view name, int depth, std::string_view user) {
  if (depth < 1 || depth > 3) {
    return error{errc::bad_request, "depth: " + std::to_string(depth) + " is outside 1–3"};
  }
  if (auto u = user_check(user); !u) return u.error();
  const std::string key = detail::text_key(name);
  const scope* own = g.find_scope(user);
  const scope* shared = g.find_scope("");
  std::vector<const entity_rec*> frontier, next;
  const std::uint64_t epoch = ++g.epoch;
  for (const auto u : kg::visible_scopes(user)) {
    if (auto id = g.lookup(u, key)) {
      const entity_rec* e = &g.ents.at(*id);
      e->seen = epoch;
      frontier.push_back(e);
    }
  }
  if (frontier.empty()) return error{errc::not_found, "entity '" + std::string(name) + "' is not known"};
  // Relations join entities of one scope; the check keeps a walk out of any
  // scope but the user's and the shared one all the same.
  auto visible = [&](const entity_rec* e) { return e->sc == own || e->sc == shared; };
  std::vector<fact> out;
  for (int level = 1; level <= depth && !frontier.empty(); ++level) {
    next.clear();
    const std::size_t level_begin = out.size();
    for (const auto* n : frontier) {
      for (const rel_rec* r : n->rels) {
        if (r->seen == epoch) continue;
        r->seen = epoch;
        if (!visible(r->se) || !visible(r->oe)) continue;
        out.push_back(g.make_fact(*r, level));
        const entity_rec* other = r->se == n ? r->oe : r->se;
        if (level < depth && other->seen != epoch) {
          other->seen = epoch;
          next.push_back(other);
        }
      }
    }
    std::sort(out.begin() + static_cast<std::ptrdiff_t>(level_begin), out.end(),
              [](const fact& a, const fact& b) { return a.id < b.id; });
    frontier.swap(next);
  }
  return out;
}

namespace {
// The relations with `subject` (in the user's own scope) as subject and
// `relation` ("" = any), current ones and, with history, superseded ones; by id.
expected<std::vector<fact>> subject_facts(const kg& g, std::string_view subject, std::string_view relation,
                                          std::string_view user, bool history) {
  if (auto u = user_check(user); !u) return u.error();
  auto id = g.lookup(user, detail::text_key(subject));
  if (!id) return error{errc::not_found, "entity '" + std::string(subject) + "' is not known"};
  const std::string rel = relation.empty() ? std::string() : detail::text_trim(relation);
  const auto& e = g.ents.at(*id);
  std::vector<fact> out;
  auto take = [&](const std::vector<const rel_rec*>& v) {
    for (const rel_rec* r : v)
      if (r->s == *id && (rel.empty() || r->relation == rel)) out.push_back(g.make_fact(*r, 1));
  };
  take(e.rels);
  if (history) take(e.old_rels);
  std::sort(out.begin(), out.end(), [](const fact& a, const fact& b) { return a.id < b.id; });
  return out;
}
}  // namespace

expected<std::vector<fact>> kg_facts(const kg& g, std::string_view subject, std::string_view relation,
                                     std::string_view user) {
  return subject_facts(g, subject, relation, user, false);
}

expected<std::vector<fact>> kg_history(const kg& g, std::string_view subject, std::string_view relation,
                                       std::string_view user) {
  return subject_facts(g, subject, relation, user, true);
}

// ---- delete ------------------------------------------------------------------

expected<std::int64_t> kg_delete_entity(kg& g, std::string_view name, std::string_view user) {
  if (auto u = user_check(user); !u) return u.error();
  auto id = g.lookup(user, detail::text_key(name));
  if (!id) return error{errc::not_found, "entity '" + std::string(name) + "' is not known"};
  const auto& e = g.ents.at(*id);
  const auto n = static_cast<std::int64_t>(e.rels.size() + e.old_rels.size()) + 1;
  try {
    SQLite::Transaction tx(*g.db);
    SQLite::Statement d1(*g.db, "DELETE FROM relations WHERE subject=?1 OR object=?1");
    d1.bind(1, static_cast<std::int64_t>(*id));
    d1.exec();
    SQLite::Statement d2(*g.db, "DELETE FROM aliases WHERE entity_id=?");
    d2.bind(1, static_cast<std::int64_t>(*id));
    d2.exec();
    SQLite::Statement d3(*g.db, "DELETE FROM entities WHERE id=?");
    d3.bind(1, static_cast<std::int64_t>(*id));
    d3.exec();
    tx.commit();
  } catch (const std::exception& e) {
    return error{errc::internal, std::string("kg.delete: ") + e.what()};
  }
  g.drop_entity(*id);
  ++g.generation;
  return n;
}

expected<std::int64_t> kg_delete_triple(kg& g, const triple& t, std::string_view user) {
  if (auto u = user_check(user); !u) return u.error();
  auto s = g.lookup(user, detail::text_key(t.subject));
  if (!s) return error{errc::not_found, "subject '" + t.subject + "' is not known"};
  auto o = g.lookup(user, detail::text_key(t.object));
  if (!o) return error{errc::not_found, "object '" + t.object + "' is not known"};
  auto it = g.triples.find(triple_key(*s, detail::text_trim(t.relation), *o));
  if (it == g.triples.end()) {
    return error{errc::not_found, "no relation '" + t.relation + "' from '" + t.subject +
                                      "' to '" + t.object + "'"};
  }
  const auto id = it->second;
  try {
    SQLite::Statement d(*g.db, "DELETE FROM relations WHERE id=?");
    d.bind(1, static_cast<std::int64_t>(id));
    d.exec();  // autocommit: durable on return (synchronous=FULL)
  } catch (const std::exception& e) {
    return error{errc::internal, std::string("kg.delete: ") + e.what()};
  }
  g.drop_relation(id);
  ++g.generation;
  return std::int64_t{1};
}

expected<std::int64_t> kg_delete_user(kg& g, std::string_view user) {
  if (user.empty()) return error{errc::bad_request, "user: \"\" is the shared graph, not a user's"};
  if (auto u = user_check(user); !u) return u.error();
  const scope* sc = g.find_scope(user);
  if (!sc) return std::int64_t{0};
  std::vector<std::int64_t> ids;
  std::unordered_set<std::int64_t> rel_ids;
  for (const auto& [key, id] : sc->sorted_names) {
    ids.push_back(id);
    const auto& e = g.ents.at(id);
    for (const auto* r : e.rels) rel_ids.insert(r->id);
    for (const auto* r : e.old_rels) rel_ids.insert(r->id);
  }
  try {
    SQLite::Transaction tx(*g.db);
    SQLite::Statement d1(*g.db,
                         "DELETE FROM relations WHERE subject IN (SELECT id FROM entities WHERE user=?1)"
                         " OR object IN (SELECT id FROM entities WHERE user=?1)");
    d1.bind(1, std::string(user));
    d1.exec();
    SQLite::Statement d2(*g.db, "DELETE FROM aliases WHERE entity_id IN (SELECT id FROM entities WHERE user=?)");
    d2.bind(1, std::string(user));
    d2.exec();
    SQLite::Statement d3(*g.db, "DELETE FROM entities WHERE user=?");
    d3.bind(1, std::string(user));
    d3.exec();
    tx.commit();
  } catch (const std::exception& e) {
    return error{errc::internal, std::string("kg.delete_user: ") + e.what()};
  }
  for (auto id : ids) g.drop_entity(id);  // the last one erases the scope
  ++g.generation;
  return static_cast<std::int64_t>(ids.size() + rel_ids.size());
}

expected<std::int64_t> kg_forget(kg& g, std::string_view user, std::optional<std::int64_t> since,
                                 std::optional<std::int64_t> until) {
  if (!since && !until) return kg_delete_user(g, user);
  if (user.empty()) return error{errc::bad_request, "user: \"\" is the shared graph, not a user's"};
  if (auto u = user_check(user); !u) return u.error();
  if (!g.find_scope(user)) return std::int64_t{0};
  const std::int64_t lo = since.value_or(INT64_MIN), hi = until.value_or(INT64_MAX);
  std::vector<std::int64_t> rel_ids, ent_ids;
  try {
    SQLite::Transaction tx(*g.db);
    {
      SQLite::Statement q(*g.db,
                          "SELECT r.id FROM relations r JOIN entities e ON r.subject = e.id"
                          " WHERE e.user = ?1 AND r.created >= ?2 AND r.created <= ?3");
      q.bind(1, std::string(user));
      q.bind(2, static_cast<std::int64_t>(lo));
      q.bind(3, static_cast<std::int64_t>(hi));
      while (q.executeStep()) rel_ids.push_back(q.getColumn(0).getInt64());
    }
    SQLite::Statement dr(*g.db, "DELETE FROM relations WHERE id = ?");
    for (auto id : rel_ids) {
      dr.reset();
      dr.bind(1, static_cast<std::int64_t>(id));
      dr.exec();
    }
    {
      SQLite::Statement q(*g.db,
                          "SELECT id FROM entities e WHERE user = ?1 AND created >= ?2 AND created <= ?3"
                          " AND NOT EXISTS (SELECT 1 FROM relations r WHERE r.subject = e.id OR r.object = e.id)");
      q.bind(1, std::string(user));
      q.bind(2, static_cast<std::int64_t>(lo));
      q.bind(3, static_cast<std::int64_t>(hi));
      while (q.executeStep()) ent_ids.push_back(q.getColumn(0).getInt64());
    }
    SQLite::Statement da(*g.db, "DELETE FROM aliases WHERE entity_id = ?");
    SQLite::Statement de(*g.db, "DELETE FROM entities WHERE id = ?");
    for (auto id : ent_ids) {
      da.reset();
      da.bind(1, static_cast<std::int64_t>(id));
      da.exec();
      de.reset();
      de.bind(1, static_cast<std::int64_t>(id));
      de.exec();
    }
    tx.commit();
  } catch (const std::exception& e) {
    return error{errc::internal, std::string("kg.forget: ") + e.what()};
  }
  for (auto id : rel_ids) g.drop_relation(id);
  for (auto id : ent_ids) g.drop_entity(id);
  if (!rel_ids.empty() || !ent_ids.empty()) ++g.generation;
  return static_cast<std::int64_t>(rel_ids.size() + ent_ids.size());
}

expected<void> kg_checkpoint(kg& g) {
  try {
    SQLite::Statement q(*g.db, "PRAGMA wal_checkpoint(TRUNCATE)");
    if (q.executeStep() && q.getColumn(0).getInt() != 0)
      return error{errc::unavailable, "knowledge graph: WAL checkpoint blocked by a reader"};
  } catch (const std::exception& e) {
    return error{errc::unavailable, std::string("knowledge graph: WAL checkpoint: ") + e.what()};
  }
  return {};
}

// ---- listing -----------------------------------------------------------------

expected<std::vector<entity>> kg_entities(const kg& g, std::string_view prefix, std::size_t limit,
                                          std::string_view user) {
  if (limit < 1 || limit > 10000) {
    return error{errc::bad_request, "limit: " + std::to_string(limit) + " is outside 1–10000"};
  }
  if (auto u = user_check(user); !u) return u.error();
  const std::string p = detail::text_key(prefix);
  // (key, own scope first) → entity, from the user's scope and the shared one
  std::vector<std::pair<std::pair<std::string, int>, std::int64_t>> found;
  int rank = 0;
  for (const auto u : kg::visible_scopes(user)) {
    if (const scope* sc = g.find_scope(u)) {
      std::size_t n = 0;
      for (auto it = sc->sorted_names.lower_bound(p); it != sc->sorted_names.end() && n < limit; ++it, ++n) {
        if (it->first.compare(0, p.size(), p) != 0) break;
        found.push_back({{it->first, rank}, it->second});
      }
    }
    ++rank;
  }
  std::sort(found.begin(), found.end());
  if (found.size() > limit) found.resize(limit);
  std::vector<entity> out;
  out.reserve(found.size());
  for (const auto& f : found) out.push_back(g.make_entity(g.ents.at(f.second)));
  return out;
}

expected<entity> kg_find(const kg& g, std::string_view name, std::string_view user) {
  if (auto u = user_check(user); !u) return u.error();
  auto id = g.lookup_visible(user, detail::text_key(name));
  if (!id) return error{errc::not_found, "entity '" + std::string(name) + "' is not known"};
  return g.make_entity(g.ents.at(*id));
}

std::vector<fact> kg_due(const kg& g, std::int64_t from_ms, std::int64_t to_ms, std::string_view user) {
  std::vector<fact> out;
  if (to_ms <= from_ms) return out;
  const scope* own = g.find_scope(user);
  const scope* shared = g.find_scope("");
  for (auto it = g.due_index.lower_bound(from_ms); it != g.due_index.end() && it->first < to_ms; ++it) {
    const auto& r = g.rels.at(it->second);
    if (r.se->sc == own || r.se->sc == shared) out.push_back(g.make_fact(r, 1));
  }
  return out;
}

expected<std::vector<fact>> kg_due_take(kg& g, std::int64_t now_ms, std::size_t max) {
  std::vector<rel_rec*> take;
  for (auto it = g.due_index.begin(); it != g.due_index.end() && it->first <= now_ms && take.size() < max; ++it) {
    auto& r = g.rels.at(it->second);
    if (r.fired != r.due) take.push_back(&r);
  }
  std::vector<fact> out;
  if (take.empty()) return out;
  try {
    SQLite::Transaction tx(*g.db);
    SQLite::Statement u(*g.db, "UPDATE relations SET fired = due WHERE id = ?");
    for (auto* r : take) {
      u.bind(1, r->id);
      u.exec();
      u.reset();
    }
    tx.commit();  // synchronous=FULL: on disk before the reminders are handed out
  } catch (const SQLite::Exception& e) {
    return error{errc::internal, std::string("knowledge graph: marking reminders fired: ") + e.what()};
  }
  for (auto* r : take) {
    r->fired = r->due;
    out.push_back(g.make_fact(*r, 1));
  }
  return out;
}

kg_stats kg_stats_get(const kg& g) {
  return {g.ents.size(), g.rels.size() - g.superseded, g.generation, g.superseded};
}

// ---- linker access (linker.cpp) ------------------------------------------------

namespace detail {
void kg_for_each_name(const kg& g, const std::function<void(std::int64_t, const std::string&, const std::string&,
                                                            const std::string&)>& f) {
  for (const auto& [id, e] : g.ents) {
    f(id, e.name, e.name, e.sc->user);
    for (const auto& a : e.aliases) f(id, a, e.name, e.sc->user);
  }
}
}  // namespace detail

}  // namespace aikid::synthesis
