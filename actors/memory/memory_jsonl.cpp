// export / import: one JSON object a line.
//   {"type":"header","format":"aikid.memory","version":1,"dim":384}
//   {"type":"memory","id":…,"user":…,"text":…,"meta":{…},"created_ms":…,
//    "updated_ms":…,"model":…,"vector":[…]}
//   {"type":"history","memory_id":…,"event":…,"old":…|null,"new":…|null,"at_ms":…}
// Memories first (id order), then history (in the order it happened).
// export_user / import_user: one user's memories as records with their
// history inside, a page at a time (the admin socket's export-user and
// import-user, docs/admin.md); new ids on import, never merged by dedup.
#include <fstream>

#include "actors/memory/memory_store_impl.hpp"
#include "common/utf8.hpp"

namespace aikid::memory {

namespace {
// The export's one way out of a row it cannot read (caught below, named in the error).
nlohmann::json meta_or_throw(expected<nlohmann::json> m) {
  if (!m) throw std::runtime_error(m.error().message);
  return std::move(*m);
}
}  // namespace

expected<std::size_t> store::export_jsonl(const std::filesystem::path& path) const {
  const impl& s = *p_;
  if (auto d = s.down(); !d) return d.error();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return error{errc::internal, path.string() + ": cannot create"};
  std::size_t n = 0;
  try {
    std::lock_guard lk(s.reader_mu);
    SQLite::Transaction read(*s.reader);  // one consistent view for both tables
    out << nlohmann::json{{"type", "header"}, {"format", "aikid.memory"}, {"version", 1}, {"dim", s.opts.dim}}.dump()
        << '\n';
    SQLite::Statement q(*s.reader,
                        "SELECT id, user, text, meta, created_ms, updated_ms, model, vector FROM memories ORDER BY id");
    while (q.executeStep()) {
      const auto blob = q.getColumn(7);
      const float* f = static_cast<const float*>(blob.getBlob());
      std::vector<float> vec(f, f + blob.getBytes() / sizeof(float));
      nlohmann::json j = {{"type", "memory"},
                          {"id", q.getColumn(0).getInt64()},
                          {"user", s.stored_text(q.getColumn(1).getString())},
                          {"text", s.stored_text(q.getColumn(2).getString())},
                          {"meta", meta_or_throw(s.stored_meta(q.getColumn(3).getString(), q.getColumn(0).getInt64()))},
                          {"created_ms", q.getColumn(4).getInt64()},
                          {"updated_ms", q.getColumn(5).getInt64()},
                          {"model", q.getColumn(6).getString()},
                          {"vector", vec}};
      out << json_dump(j) << '\n';
      ++n;
    }
    SQLite::Statement h(*s.reader, "SELECT memory_id, event, old, new, at_ms FROM history ORDER BY seq");
    while (h.executeStep()) {
      nlohmann::json j = {{"type", "history"},
                          {"memory_id", h.getColumn(0).getInt64()},
                          {"event", h.getColumn(1).getString()},
                          {"old", h.getColumn(2).isNull() ? nlohmann::json() : nlohmann::json(s.stored_text(h.getColumn(2).getString()))},
                          {"new", h.getColumn(3).isNull() ? nlohmann::json() : nlohmann::json(s.stored_text(h.getColumn(3).getString()))},
                          {"at_ms", h.getColumn(4).getInt64()}};
      out << json_dump(j) << '\n';
    }
  } catch (const std::exception& e) {
    return error{errc::internal, path.string() + ": export failed: " + e.what()};
  }
  out.flush();
  if (!out) return error{errc::internal, path.string() + ": write failed"};
  return n;
}

namespace {

struct import_history {
  std::int64_t memory_id, at_ms;
  std::string event;
  std::optional<std::string> old_text, new_text;
};

// Field helpers: `bad_request` naming path:line: field.
template <class T>
expected<T> field(const nlohmann::json& j, const char* name, const std::string& where) {
  auto it = j.find(name);
  if (it == j.end()) return error{errc::bad_request, where + ": " + name + ": missing"};
  try {
    return it->get<T>();
  } catch (const std::exception&) {
    return error{errc::bad_request, where + ": " + name + ": wrong type"};
  }
}

expected<std::optional<std::string>> opt_text(const nlohmann::json& j, const char* name, const std::string& where) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return std::optional<std::string>();
  if (!it->is_string()) return error{errc::bad_request, where + ": " + name + ": must be a string or null"};
  return std::optional<std::string>(it->get<std::string>());
}

}  // namespace

expected<std::size_t> store::import_jsonl(const std::filesystem::path& path) {
  impl& s = *p_;
  std::ifstream in(path, std::ios::binary);
  if (!in) return error{errc::bad_request, path.string() + ": cannot open"};
  // 1. read and check everything; nothing is applied before the whole file passed
  std::vector<std::pair<record, std::vector<float>>> mems;
  std::vector<import_history> hist;
  std::string line;
  std::size_t lineno = 0;
  bool header = false;
  std::unordered_set<std::int64_t> seen;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty()) continue;
    const std::string where = path.string() + ":" + std::to_string(lineno);
    if (auto deep = json_depth_check(line, s.opts.max_json_depth, "ipc.max_json_depth"); !deep)
      return error{errc::bad_request, where + ": " + deep.error().message};
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const std::exception& e) {
      return error{errc::bad_request, where + ": not JSON (" + e.what() + ")"};
    }
    if (!j.is_object()) return error{errc::bad_request, where + ": not a JSON object"};
    auto type = field<std::string>(j, "type", where);
    if (!type) return type.error();
    if (*type == "header") {
      auto fmt = field<std::string>(j, "format", where);
      auto dim = field<int>(j, "dim", where);
      if (!fmt || *fmt != "aikid.memory") return error{errc::bad_request, where + ": format: not aikid.memory"};
      if (!dim || *dim != s.opts.dim)
        return error{errc::bad_request, where + ": dim: the file's dimension differs from the store's " +
                                            std::to_string(s.opts.dim)};
      header = true;
    } else if (*type == "memory") {
      record r;
      auto id = field<std::int64_t>(j, "id", where);
      if (!id) return id.error();
      if (*id < 1) return error{errc::bad_request, where + ": id: must be positive"};
      if (!seen.insert(*id).second) return error{errc::bad_request, where + ": id: " + std::to_string(*id) + " twice"};
      auto user = field<std::string>(j, "user", where);
      if (!user) return user.error();
      auto text = field<std::string>(j, "text", where);
      if (!text) return text.error();
      auto created = field<std::int64_t>(j, "created_ms", where);
      if (!created) return created.error();
      auto updated = field<std::int64_t>(j, "updated_ms", where);
      if (!updated) return updated.error();
      auto model = field<std::string>(j, "model", where);
      if (!model) return model.error();
      auto vec = field<std::vector<float>>(j, "vector", where);
      if (!vec) return vec.error();
      if (static_cast<int>(vec->size()) != s.opts.dim || !vec_normalize(*vec))
        return error{errc::bad_request, where + ": vector: needs " + std::to_string(s.opts.dim) +
                                            " finite values, not all zero"};
      auto meta = j.find("meta");
      if (meta != j.end() && !meta->is_object() && !meta->is_null())
        return error{errc::bad_request, where + ": meta: must be an object"};
      r.id = *id;
      r.user = std::move(*user);
      r.text = std::move(*text);
      r.meta = (meta == j.end() || meta->is_null()) ? nlohmann::json::object() : *meta;
      r.created_ms = *created;
      r.updated_ms = *updated;
      r.model = std::move(*model);
      mems.emplace_back(std::move(r), std::move(*vec));
    } else if (*type == "history") {
      import_history h;
      auto mid = field<std::int64_t>(j, "memory_id", where);
      if (!mid) return mid.error();
      auto ev = field<std::string>(j, "event", where);
      if (!ev) return ev.error();
      if (*ev != "add" && *ev != "update" && *ev != "delete" && *ev != "dedup")
        return error{errc::bad_request, where + ": event: '" + *ev + "' is not add|update|delete|dedup"};
      auto at = field<std::int64_t>(j, "at_ms", where);
      if (!at) return at.error();
      auto o = opt_text(j, "old", where);
      if (!o) return o.error();
      auto n = opt_text(j, "new", where);
      if (!n) return n.error();
      h.memory_id = *mid;
      h.event = std::move(*ev);
      h.at_ms = *at;
      h.old_text = std::move(*o);
      h.new_text = std::move(*n);
      hist.push_back(std::move(h));
    } else {
      return error{errc::bad_request, where + ": type: '" + *type + "' is not header|memory|history"};
    }
  }
  if (!header) return error{errc::bad_request, path.string() + ": no header line"};

  // 2. apply: memories keep their ids; their history replaces the store's
  std::unique_lock wl(s.write_mu);
  if (auto d = s.down(); !d) return d.error();
  std::vector<std::int64_t> seqs;
  std::unordered_set<std::int64_t> hist_ids;
  for (const auto& h : hist) hist_ids.insert(h.memory_id);
  for (const auto& [r, v] : mems) hist_ids.insert(r.id);
  // Re-embedding: a vector of the new model goes to the shadow (the live
  // index does not have the memory until the switch); any other model's
  // goes to the live index, and the memory is re-embedded.
  const bool rx = s.reindexing();
  auto shadow_ids = std::make_shared<std::vector<std::pair<std::int64_t, bool>>>();  // id, put (else drop)
  {
    std::unique_lock lk(s.mu);
    for (const auto& [r, v] : mems) {
      seqs.push_back(s.next_seq++);
      s.cat_insert(r);
      s.next_id = std::max(s.next_id, r.id + 1);
      if (rx && r.model == s.opts.model_id) {
        s.shadow->upsert(r.id, v.data());
        s.index->erase(r.id);
        shadow_ids->emplace_back(r.id, true);
      } else {
        s.index->upsert(r.id, v.data());
        if (s.shadow->erase(r.id) || rx) shadow_ids->emplace_back(r.id, false);
      }
    }
    for (std::int64_t id : hist_ids) s.next_id = std::max(s.next_id, id + 1);
  }
  const std::size_t count = mems.size();
  auto rows = std::make_shared<std::vector<db_memory_row>>();
  for (auto& [r, v] : mems)
    rows->push_back(db_memory_row{r.id, r.user, r.text, json_dump(r.meta), r.created_ms, r.updated_ms, std::move(v), r.model});
  const std::uint64_t t = s.commit->enqueue(
      [rows, seqs = std::move(seqs), hist = std::move(hist), hist_ids = std::move(hist_ids), shadow_ids](db_writer& w) {
        SQLite::Statement del(w.db, "DELETE FROM history WHERE memory_id = ?");
        for (std::int64_t id : hist_ids) {
          del.reset();
          del.bind(1, static_cast<std::int64_t>(id));
          del.exec();
        }
        for (std::size_t i = 0; i < rows->size(); ++i) {
          db_put_memory(w, (*rows)[i]);
          db_put_change(w, seqs[i], (*rows)[i].id);
        }
        for (const auto& h : hist) db_put_history(w, h.memory_id, h.event, h.old_text, h.new_text, h.at_ms);
        for (std::size_t i = 0, j = 0; i < shadow_ids->size(); ++i) {
          const auto& [id, put] = (*shadow_ids)[i];
          if (!put) {
            db_delete_shadow(w, id);
            continue;
          }
          while ((*rows)[j].id != id) ++j;  // rows and shadow_ids are both in mems order
          db_put_shadow(w, id, (*rows)[j].vec);
        }
      });
  const std::uint64_t sw = s.switch_if_complete();
  wl.unlock();
  if (auto c = s.commit->wait(t); !c) return c.error();
  if (s.opts.on_change) s.opts.on_change(change{"import", 0, "", std::nullopt, static_cast<std::int64_t>(count)});
  if (sw)
    if (auto c = s.wait_and_snapshot(sw, true); !c) return c.error();
  return count;
}

expected<nlohmann::json> store::export_user(const std::string& user, std::int64_t after, std::size_t limit,
                                            std::int64_t* next) const {
  const impl& s = *p_;
  if (auto d = s.down(); !d) return d.error();
  if (limit < 1) return error{errc::bad_request, "limit: must be at least 1"};
  nlohmann::json out = nlohmann::json::array();
  *next = 0;
  try {
    std::lock_guard lk(s.reader_mu);
    SQLite::Transaction read(*s.reader);
    SQLite::Statement q(*s.reader,
                        "SELECT id, text, meta, created_ms, updated_ms, model, vector FROM memories"
                        " WHERE user = ? AND id > ? ORDER BY id LIMIT ?");
    q.bind(1, user);
    q.bind(2, static_cast<std::int64_t>(after));
    q.bind(3, static_cast<std::int64_t>(limit + 1));
    SQLite::Statement h(*s.reader, "SELECT event, old, new, at_ms FROM history WHERE memory_id = ? ORDER BY seq");
    std::size_t n = 0;
    while (q.executeStep()) {
      const std::int64_t id = q.getColumn(0).getInt64();
      if (n == limit) {  // one more exists: the next page starts after the last one sent
        *next = out.back()["id"].get<std::int64_t>();
        break;
      }
      const auto blob = q.getColumn(6);
      const float* f = static_cast<const float*>(blob.getBlob());
      std::vector<float> vec(f, f + blob.getBytes() / sizeof(float));
      nlohmann::json hist = nlohmann::json::array();
      h.reset();
      h.bind(1, static_cast<std::int64_t>(id));
      while (h.executeStep()) {
        auto text = [&](int c) {
          return h.getColumn(c).isNull() ? nlohmann::json() : nlohmann::json(s.stored_text(h.getColumn(c).getString()));
        };
        hist.push_back({{"event", h.getColumn(0).getString()}, {"old", text(1)}, {"new", text(2)},
                        {"at", h.getColumn(3).getInt64()}});
      }
      out.push_back({{"type", "memory"},
                     {"id", id},
                     {"text", s.stored_text(q.getColumn(1).getString())},
                     {"meta", meta_or_throw(s.stored_meta(q.getColumn(2).getString(), id))},
                     {"created", q.getColumn(3).getInt64()},
                     {"updated", q.getColumn(4).getInt64()},
                     {"model", q.getColumn(5).getString()},
                     {"vector", std::move(vec)},
                     {"history", std::move(hist)}});
      ++n;
    }
  } catch (const std::exception& e) {
    return error{errc::internal, s.db_file.string() + ": export of user failed: " + e.what()};
  }
  return out;
}

expected<std::size_t> store::import_user(const std::string& user, const nlohmann::json& records) {
  impl& s = *p_;
  if (auto bad = utf8_first_invalid(user); bad >= 0)
    return error{errc::bad_request, "user: not valid UTF-8 (byte " + std::to_string(bad) + ")"};
  if (!records.is_array()) return error{errc::bad_request, "records: must be an array"};
  struct item {
    record r;
    std::vector<float> vec;
    std::vector<import_history> hist;
  };
  std::vector<item> items;
  // 1. check every record; nothing is applied before all passed
  for (std::size_t i = 0; i < records.size(); ++i) {
    const auto& j = records[i];
    const std::string where = "records[" + std::to_string(i) + "]";
    if (!j.is_object()) return error{errc::bad_request, where + ": not a JSON object"};
    item it;
    auto text = field<std::string>(j, "text", where);
    if (!text) return text.error();
    if (auto bad = utf8_first_invalid(*text); bad >= 0)
      return error{errc::bad_request, where + ": text: not valid UTF-8 (byte " + std::to_string(bad) + ")"};
    auto created = field<std::int64_t>(j, "created", where);
    if (!created) return created.error();
    auto updated = field<std::int64_t>(j, "updated", where);
    if (!updated) return updated.error();
    auto model = field<std::string>(j, "model", where);
    if (!model) return model.error();
    auto vec = field<std::vector<float>>(j, "vector", where);
    if (!vec) return vec.error();
    if (static_cast<int>(vec->size()) != s.opts.dim || !vec_normalize(*vec))
      return error{errc::bad_request, where + ": vector: needs " + std::to_string(s.opts.dim) +
                                          " finite values, not all zero"};
    auto meta = j.find("meta");
    if (meta != j.end() && !meta->is_object() && !meta->is_null())
      return error{errc::bad_request, where + ": meta: must be an object"};
    if (auto h = j.find("history"); h != j.end() && !h->is_null()) {
      if (!h->is_array()) return error{errc::bad_request, where + ": history: must be an array"};
      for (std::size_t k = 0; k < h->size(); ++k) {
        const auto& e = (*h)[k];
        const std::string hw = where + ".history[" + std::to_string(k) + "]";
        if (!e.is_object()) return error{errc::bad_request, hw + ": not a JSON object"};
        import_history ih;
        auto ev = field<std::string>(e, "event", hw);
        if (!ev) return ev.error();
        if (*ev != "add" && *ev != "update" && *ev != "delete" && *ev != "dedup")
          return error{errc::bad_request, hw + ": event: '" + *ev + "' is not add|update|delete|dedup"};
        auto at = field<std::int64_t>(e, "at", hw);
        if (!at) return at.error();
        auto o = opt_text(e, "old", hw);
        if (!o) return o.error();
        auto n = opt_text(e, "new", hw);
        if (!n) return n.error();
        ih.event = std::move(*ev);
        ih.at_ms = *at;
        ih.old_text = std::move(*o);
        ih.new_text = std::move(*n);
        it.hist.push_back(std::move(ih));
      }
    }
    it.r.user = user;
    it.r.text = std::move(*text);
    it.r.meta = (meta == j.end() || meta->is_null()) ? nlohmann::json::object() : *meta;
    it.r.created_ms = *created;
    it.r.updated_ms = *updated;
    it.r.model = std::move(*model);
    it.vec = std::move(*vec);
    items.push_back(std::move(it));
  }
  // 2. apply: new ids; a memory the user has already (same text, same
  // created time: imported before) is skipped, so importing twice adds nothing
  std::unique_lock wl(s.write_mu);
  if (auto d = s.down(); !d) return d.error();
  for (std::size_t i = 0; i < items.size(); ++i) {  // a vector of another model would be searched in the wrong space
    const std::string& m = items[i].r.model;
    if (!m.empty() && m != s.index_model && m != s.opts.model_id)
      return error{errc::bad_request, "records[" + std::to_string(i) + "].model: '" + m +
                                          "' made the vector; this store's vectors are '" + s.index_model +
                                          "' (export from a daemon with the same embedding model)"};
  }
  const bool rx = s.reindexing();
  struct row_out {
    db_memory_row row;
    std::int64_t seq;
    bool shadow;
    std::vector<import_history> hist;
  };
  auto rows = std::make_shared<std::vector<row_out>>();
  {
    std::unique_lock lk(s.mu);
    std::unordered_set<std::string> have;
    auto key = [](const std::string& t, std::int64_t c) { return std::to_string(c) + '\x1f' + t; };
    if (auto u = s.by_user.find(user); u != s.by_user.end())
      for (std::int64_t id : u->second) {
        const auto& r = s.recs.at(id);
        have.insert(key(r.text, r.created_ms));
      }
    for (auto& it : items) {
      if (!have.insert(key(it.r.text, it.r.created_ms)).second) continue;
      it.r.id = s.next_id++;
      s.cat_insert(it.r);
      const bool to_shadow = rx && it.r.model == s.opts.model_id;
      if (to_shadow) s.shadow->upsert(it.r.id, it.vec.data());
      else s.index->upsert(it.r.id, it.vec.data());
      if (it.hist.empty()) it.hist.push_back(import_history{it.r.id, it.r.created_ms, "add", std::nullopt, it.r.text});
      rows->push_back(row_out{db_memory_row{it.r.id, it.r.user, it.r.text, json_dump(it.r.meta), it.r.created_ms,
                                            it.r.updated_ms, std::move(it.vec), it.r.model},
                              s.next_seq++, to_shadow, std::move(it.hist)});
    }
  }
  if (rows->empty()) return std::size_t{0};
  const std::uint64_t t = s.commit->enqueue([rows](db_writer& w) {
    for (const auto& r : *rows) {
      db_put_memory(w, r.row);
      if (r.shadow) db_put_shadow(w, r.row.id, r.row.vec);
      for (const auto& h : r.hist) db_put_history(w, r.row.id, h.event, h.old_text, h.new_text, h.at_ms);
      db_put_change(w, r.seq, r.row.id);
    }
  });
  wl.unlock();
  if (auto c = s.commit->wait(t); !c) return c.error();
  if (s.opts.on_change)
    s.opts.on_change(change{"import", 0, user, std::nullopt, static_cast<std::int64_t>(rows->size())});
  return rows->size();
}

}  // namespace aikid::memory
