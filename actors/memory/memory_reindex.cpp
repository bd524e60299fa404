// Re-embedding after a model change: the shadow (new-model vectors in the
// `shadow` table and an index searches use only for that model's queries),
// the todo list the actor works through, and the switch — one transaction
// that gives every memory its new vector, with the shadow swapped in as the
// live index under the lock (a search waits only for the pointer swap).
#include <SQLiteCpp/Exception.h>

#include <algorithm>

#include "actors/memory/memory_store_impl.hpp"

namespace aikid::memory {

std::unique_ptr<vindex> store::impl::index_new() const {
  auto ix = std::make_unique<vindex>(index_params{opts.dim, opts.flat_max, opts.hnsw_m, opts.hnsw_ef_construction});
  ix->set_ef_search(ef_search.load());
  return ix;
}

std::uint64_t store::impl::switch_if_complete() {
  std::vector<std::pair<std::int64_t, std::vector<float>>> rows;
  {
    std::shared_lock lk(mu);
    // the shadow only holds live memories, so equal sizes mean every one has a vector
    if (!reindexing() || shadow->size() != recs.size()) return 0;
    rows.reserve(recs.size());
    for (const auto& [id, r] : recs) {
      const float* v = shadow->vector_of(id);
      rows.emplace_back(id, std::vector<float>(v, v + opts.dim));
    }
  }
  const std::string from = index_model, to = opts.model_id, dir = opts.model_dir;
  const std::int64_t seq = next_seq++;
  {
    std::unique_lock lk(mu);
    retired.push_back(std::move(index));
    index = std::move(shadow);
    shadow = index_new();
    for (auto& [id, r] : recs) r.model = to;
    stale_n = to == opts.model_id ? 0 : recs.size();
    index_model = to;
    index_model_dir = dir;
  }
  switch_seq = seq;
  snap_seq = -1;
  auto work = std::make_shared<decltype(rows)>(std::move(rows));
  const std::uint64_t t = commit->enqueue([work, to, dir, seq](db_writer& w) {
    SQLite::Statement up(w.db, "UPDATE memories SET vector = ?, model = ? WHERE id = ?");
    for (const auto& [id, v] : *work) {
      up.reset();
      up.bindNoCopy(1, v.data(), static_cast<int>(v.size() * sizeof(float)));
      up.bindNoCopy(2, to);
      up.bind(3, static_cast<std::int64_t>(id));
      up.exec();
    }
    w.db.exec("DELETE FROM shadow");
    db_put_meta(w, "index_model", to);
    db_put_meta(w, "index_model_dir", dir);
    db_put_meta(w, "shadow_model", "");
    db_put_meta(w, "switch_seq", std::to_string(seq));
  });
  log("memory: re-embedding complete: switched " + std::to_string(work->size()) + " memories from '" + from +
      "' to '" + to + "'");
  return t;
}

expected<void> store::impl::wait_and_snapshot(std::uint64_t t, bool switched) {
  if (auto c = commit->wait(t); !c) return c;
  if (!switched) return {};
  // the old snapshot is of the old model (and older than switch_seq, so it
  // would not be used); replace it now rather than rebuild at the next open
  if (auto r = snapshot_run(); !r) log("memory: snapshot after the switch failed: " + r.error().message);
  return {};
}

reindex_status store::reindex_state() const {
  const impl& s = *p_;
  std::shared_lock lk(s.mu);
  reindex_status r;
  r.active = s.reindexing();
  r.from_model = s.index_model;
  r.from_dir = s.index_model_dir;
  r.to_model = s.opts.model_id;
  r.done = r.active ? s.shadow->size() : s.recs.size();
  r.total = s.recs.size();
  return r;
}

std::vector<reindex_item> store::reindex_todo(std::size_t limit) const {
  const impl& s = *p_;
  std::shared_lock lk(s.mu);
  std::vector<std::int64_t> ids;
  if (!s.reindexing() || limit == 0) return {};
  for (const auto& [id, r] : s.recs)
    if (!s.shadow->contains(id)) ids.push_back(id);
  if (ids.size() > limit) {
    std::nth_element(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(limit), ids.end());
    ids.resize(limit);
  }
  std::sort(ids.begin(), ids.end());
  std::vector<reindex_item> out;
  out.reserve(ids.size());
  for (std::int64_t id : ids) out.push_back(reindex_item{id, s.recs.at(id).text, {}});
  return out;
}

expected<reindex_result> store::reindex_put(std::vector<reindex_item> items) {
  impl& s = *p_;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::string at = "items[" + std::to_string(i) + "].vector: ";
    auto& v = items[i].vec;
    if (static_cast<int>(v.size()) != s.opts.dim)
      return error{errc::bad_request, at + "has " + std::to_string(v.size()) + " values, the store's dimension is " +
                                          std::to_string(s.opts.dim)};
    if (!vec_normalize(v)) return error{errc::bad_request, at + "must be finite and not all zero"};
  }
  reindex_result res;
  std::unique_lock wl(s.write_mu);
  if (auto d = s.down(); !d) return d.error();
  if (!s.reindexing()) {
    res.skipped = items.size();
    return res;
  }
  auto rows = std::make_shared<std::vector<reindex_item>>();
  {
    std::unique_lock lk(s.mu);
    for (auto& it : items) {
      auto r = s.recs.find(it.id);
      if (r == s.recs.end() || r->second.text != it.text) {
        ++res.skipped;  // deleted, or its text changed after it was embedded
        continue;
      }
      s.shadow->upsert(it.id, it.vec.data());
      rows->push_back(std::move(it));
    }
  }
  res.written = rows->size();
  std::uint64_t t = 0;
  if (!rows->empty()) {
    const std::string model = s.opts.model_id;
    t = s.commit->enqueue([rows, model](db_writer& w) {
      db_put_meta(w, "shadow_model", model);
      for (const auto& r : *rows) db_put_shadow(w, r.id, r.vec);
    });
  }
  const std::uint64_t sw = s.switch_if_complete();
  wl.unlock();
  if (t)
    if (auto c = s.commit->wait(t); !c) return c.error();
  if (sw) {
    if (auto c = s.wait_and_snapshot(sw, true); !c) return c.error();
    res.switched = true;
  }
  return res;
}

}  // namespace aikid::memory
