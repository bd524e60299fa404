// export / import: one JSON object a line.
//   {"type":"header","format":"aikid.memory","version":1,"dim":384}
//   {"type":"memory","id":…,"user":…,"text":…,"meta":{…},"created_ms":…,
//    "updated_ms":…,"model":…,"vector":[…]}
//   {"type":"history","memory_id":…,"event":…,"old":…|null,"new":…|null,"at_ms":…}
// Memories first (id order), then history (in the order it happened).
#include <fstream>

#include "actors/memory/memory_store_impl.hpp"

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

}  // namespace aikid::memory
