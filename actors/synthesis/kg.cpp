// Knowledge graph: SQLite (WAL, synchronous=FULL) is the truth; every row is
// mirrored in memory, where all reads are served. A write first commits to
// SQLite, then applies the same change to memory — a failed commit leaves
// memory untouched.
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

constexpr int kSchemaVersion = 3;

struct rel_rec;

// Records live in unordered_maps (node-based: addresses are stable until the
// record is erased), so the adjacency lists hold pointers and a query walks
// the graph without hashing.
struct entity_rec {
  std::int64_t id = 0;
  std::string name, key, type;
  std::vector<std::string> aliases;
  std::vector<std::string> alias_keys;
  std::vector<const rel_rec*> rels;  // relations touching this entity
  mutable std::uint64_t seen = 0;    // query epoch that visited it
};

struct rel_rec {
  std::int64_t id = 0, s = 0, o = 0;
  std::string relation;
  nlohmann::json attrs;
  std::optional<std::int64_t> due;
  std::optional<std::int64_t> fired;  // the due time whose reminder was taken (kg_due_take)
  const entity_rec* se = nullptr;  // subject, object (set by put_relation)
  const entity_rec* oe = nullptr;
  mutable std::uint64_t seen = 0;
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

}  // namespace

struct kg {
  std::unique_ptr<SQLite::Database> db;
  zone_ptr naive;
  std::unordered_map<std::int64_t, entity_rec> ents;
  std::unordered_map<std::string, std::int64_t> by_name;  // name key → id
  std::map<std::string, std::int64_t> sorted_names;       // name key → id (prefix scans)
  std::unordered_map<std::string, std::vector<std::int64_t>> by_alias;  // alias key → ids
  std::unordered_map<std::int64_t, rel_rec> rels;
  std::unordered_map<std::string, std::int64_t> triples;  // triple_key → relation id
  std::multimap<std::int64_t, std::int64_t> due_index;    // due ms → relation id
  std::uint64_t generation = 0;
  mutable std::uint64_t epoch = 0;  // one per query: marks visited records

  // ---- memory mutations (after a commit) ----
  void put_entity(entity_rec e) {
    by_name[e.key] = e.id;
    sorted_names[e.key] = e.id;
    for (auto& k : e.alias_keys) by_alias[k].push_back(e.id);
    auto id = e.id;
    ents[id] = std::move(e);
  }
  void put_alias(std::int64_t id, std::string alias, std::string key) {
    auto& e = ents.at(id);
    if (std::find(e.alias_keys.begin(), e.alias_keys.end(), key) != e.alias_keys.end()) return;
    by_alias[key].push_back(id);
    e.aliases.push_back(std::move(alias));
    e.alias_keys.push_back(std::move(key));
  }
  void put_relation(rel_rec r) {
    const auto id = r.id;
    auto& se = ents.at(r.s);
    auto& oe = ents.at(r.o);
    triples[triple_key(r.s, r.relation, r.o)] = id;
    if (r.due) due_index.emplace(*r.due, id);
    r.se = &se;
    r.oe = &oe;
    auto& stored = rels[id] = std::move(r);
    se.rels.push_back(&stored);
    if (&oe != &se) oe.rels.push_back(&stored);
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
  void drop_relation(std::int64_t id) {
    auto it = rels.find(id);
    if (it == rels.end()) return;
    auto& r = it->second;
    for (auto eid : {r.s, r.o}) {
      auto e = ents.find(eid);
      if (e == ents.end()) continue;
      auto& v = e->second.rels;
      v.erase(std::remove(v.begin(), v.end(), &r), v.end());
    }
    triples.erase(triple_key(r.s, r.relation, r.o));
    drop_due(id, r.due);
    rels.erase(it);
  }
  void drop_entity(std::int64_t id) {
    auto it = ents.find(id);
    if (it == ents.end()) return;
    std::vector<std::int64_t> rel_ids;
    for (const auto* r : it->second.rels) rel_ids.push_back(r->id);
    for (auto r : rel_ids) drop_relation(r);
    auto& e = ents.at(id);
    by_name.erase(e.key);
    sorted_names.erase(e.key);
    for (auto& k : e.alias_keys) {
      auto a = by_alias.find(k);
      if (a == by_alias.end()) continue;
      auto& v = a->second;
      v.erase(std::remove(v.begin(), v.end(), id), v.end());
      if (v.empty()) by_alias.erase(a);
    }
    ents.erase(id);
  }

  // ---- lookups ----
  std::optional<std::int64_t> lookup(const std::string& key) const {
    if (auto it = by_name.find(key); it != by_name.end()) return it->second;
    if (auto it = by_alias.find(key); it != by_alias.end() && !it->second.empty()) {
      return *std::min_element(it->second.begin(), it->second.end());
    }
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
    return f;
  }

  entity make_entity(const entity_rec& e) const { return entity{e.id, e.name, e.type, e.aliases}; }
};

void kg_closer::operator()(kg* g) const noexcept { delete g; }

// ---- open: schema, migrations, load ------------------------------------------

namespace {

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
      tx.commit();
    }
    {
      SQLite::Statement q(*g->db, "SELECT id, name, key, type FROM entities");
      while (q.executeStep()) {
        entity_rec e;
        e.id = q.getColumn(0).getInt64();
        e.name = q.getColumn(1).getString();
        e.key = q.getColumn(2).getString();
        e.type = q.getColumn(3).getString();
        g->put_entity(std::move(e));
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
      SQLite::Statement q(*g->db, "SELECT id, subject, relation, object, attrs, due, fired FROM relations");
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

// ---- add ---------------------------------------------------------------------

namespace {

struct checked_triple {
  std::string s, r, o;
  std::string s_key, o_key;
  std::string s_type, o_type;
  nlohmann::json attrs;
  std::optional<std::int64_t> due;
  bool alias = false;
};

expected<checked_triple> triple_check(const triple& t, std::size_t i, const zone& naive) {
  const std::string at = "triples[" + std::to_string(i) + "]";
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

}  // namespace

expected<std::int64_t> kg_add(kg& g, std::span<const triple> triples) {
  std::vector<checked_triple> checked;
  checked.reserve(triples.size());
  for (std::size_t i = 0; i < triples.size(); ++i) {
    auto c = triple_check(triples[i], i, *g.naive);
    if (!c) return c.error();
    checked.push_back(std::move(*c));
  }
  if (checked.empty()) return std::int64_t{0};

  std::vector<std::function<void(kg&)>> apply;  // memory changes, run after the commit
  std::unordered_map<std::string, std::int64_t> new_names;      // key → id, this batch
  std::unordered_map<std::string, std::int64_t> new_triples;    // triple key → id, this batch
  std::unordered_map<std::int64_t, std::string> type_of;        // staged types
  std::int64_t added = 0;
  const std::int64_t now = now_ms();
  try {
    SQLite::Transaction tx(*g.db);
    SQLite::Statement ins_ent(*g.db, "INSERT INTO entities(name, key, type, created) VALUES (?,?,?,?)");
    SQLite::Statement set_type(*g.db, "UPDATE entities SET type=? WHERE id=?");
    SQLite::Statement ins_alias(*g.db, "INSERT OR IGNORE INTO aliases(entity_id, alias, key) VALUES (?,?,?)");
    SQLite::Statement ins_rel(*g.db,
        "INSERT INTO relations(subject, relation, object, attrs, due, created) VALUES (?,?,?,?,?,?)");
    SQLite::Statement upd_rel(*g.db, "UPDATE relations SET attrs=?, due=? WHERE id=?");

    auto resolve = [&](const std::string& name, const std::string& key,
                       const std::string& type) -> std::int64_t {
      std::int64_t id;
      std::string old_type;
      if (auto it = new_names.find(key); it != new_names.end()) {
        id = it->second;
        old_type = type_of[id];
      } else if (auto found = g.lookup(key)) {
        id = *found;
        old_type = type_of.count(id) ? type_of[id] : g.ents.at(id).type;
      } else {
        ins_ent.reset();
        ins_ent.bind(1, name);
        ins_ent.bind(2, key);
        ins_ent.bind(3, type);
        ins_ent.bind(4, static_cast<std::int64_t>(now));
        ins_ent.exec();
        id = g.db->getLastInsertRowid();
        new_names[key] = id;
        type_of[id] = type;
        entity_rec e;
        e.id = id;
        e.name = name;
        e.key = key;
        e.type = type;
        apply.push_back([e = std::move(e)](kg& k) mutable { k.put_entity(std::move(e)); });
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
    };

    for (auto& c : checked) {
      const auto s = resolve(c.s, c.s_key, c.s_type);
      if (c.alias) {
        ins_alias.reset();
        ins_alias.bind(1, static_cast<std::int64_t>(s));
        ins_alias.bind(2, c.o);
        ins_alias.bind(3, c.o_key);
        ins_alias.exec();
        apply.push_back([s, a = c.o, k = c.o_key](kg& g2) { g2.put_alias(s, a, k); });
        continue;
      }
      const auto o = resolve(c.o, c.o_key, c.o_type);
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
        continue;
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
      ++added;
      rel_rec r;  // fired, se, oe keep their defaults
      r.id = id;
      r.s = s;
      r.o = o;
      r.relation = c.r;
      r.attrs = c.attrs;
      r.due = c.due;
      apply.push_back([r = std::move(r)](kg& k) mutable { k.put_relation(std::move(r)); });
    }
    tx.commit();
  } catch (const std::exception& e) {
    return error{errc::internal, std::string("kg.add: ") + e.what()};
  }
  for (auto& f : apply) f(g);
  ++g.generation;
  return added;
}

// ---- query -------------------------------------------------------------------

expected<std::vector<fact>> kg_query(const kg& g, std::string_view name, int depth) {
  if (depth < 1 || depth > 3) {
    return error{errc::bad_request, "depth: " + std::to_string(depth) + " is outside 1–3"};
  }
  auto start = g.lookup(detail::text_key(name));
  if (!start) return error{errc::not_found, "entity '" + std::string(name) + "' is not known"};
  std::vector<fact> out;
  const std::uint64_t epoch = ++g.epoch;
  const entity_rec* s0 = &g.ents.at(*start);
  s0->seen = epoch;
  std::vector<const entity_rec*> frontier{s0}, next;
  for (int level = 1; level <= depth && !frontier.empty(); ++level) {
    next.clear();
    const std::size_t level_begin = out.size();
    for (const auto* n : frontier) {
      for (const rel_rec* r : n->rels) {
        if (r->seen == epoch) continue;
        r->seen = epoch;
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

// ---- delete ------------------------------------------------------------------

expected<std::int64_t> kg_delete_entity(kg& g, std::string_view name) {
  auto id = g.lookup(detail::text_key(name));
  if (!id) return error{errc::not_found, "entity '" + std::string(name) + "' is not known"};
  const auto n = static_cast<std::int64_t>(g.ents.at(*id).rels.size()) + 1;
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

expected<std::int64_t> kg_delete_triple(kg& g, const triple& t) {
  auto s = g.lookup(detail::text_key(t.subject));
  if (!s) return error{errc::not_found, "subject '" + t.subject + "' is not known"};
  auto o = g.lookup(detail::text_key(t.object));
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

// ---- listing -----------------------------------------------------------------

expected<std::vector<entity>> kg_entities(const kg& g, std::string_view prefix, std::size_t limit) {
  if (limit < 1 || limit > 10000) {
    return error{errc::bad_request, "limit: " + std::to_string(limit) + " is outside 1–10000"};
  }
  std::vector<entity> out;
  const std::string p = detail::text_key(prefix);
  for (auto it = g.sorted_names.lower_bound(p); it != g.sorted_names.end() && out.size() < limit;
       ++it) {
    if (it->first.compare(0, p.size(), p) != 0) break;
    out.push_back(g.make_entity(g.ents.at(it->second)));
  }
  return out;
}

expected<entity> kg_find(const kg& g, std::string_view name) {
  auto id = g.lookup(detail::text_key(name));
  if (!id) return error{errc::not_found, "entity '" + std::string(name) + "' is not known"};
  return g.make_entity(g.ents.at(*id));
}

std::vector<fact> kg_due(const kg& g, std::int64_t from_ms, std::int64_t to_ms) {
  std::vector<fact> out;
  if (to_ms <= from_ms) return out;
  for (auto it = g.due_index.lower_bound(from_ms); it != g.due_index.end() && it->first < to_ms; ++it) {
    out.push_back(g.make_fact(g.rels.at(it->second), 1));
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

kg_stats kg_stats_get(const kg& g) { return {g.ents.size(), g.rels.size(), g.generation}; }

// ---- linker access (linker.cpp) ------------------------------------------------

namespace detail {
void kg_for_each_name(const kg& g,
                      const std::function<void(std::int64_t, const std::string&, const std::string&)>& f) {
  for (const auto& [id, e] : g.ents) {
    f(id, e.name, e.name);
    for (const auto& a : e.aliases) f(id, a, e.name);
  }
}
}  // namespace detail

}  // namespace aikid::synthesis
