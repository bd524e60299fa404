// memory: owns the memory store (SQLite truth + FAISS index). Serves the
// memory.* ops and recalls memories for each percept on its way to synthesis.
// Adds are queued in the store and applied on the actor's own thread, each
// replied once the commit thread has synced it (add_submit); other writes
// block until durable, so they run on a small worker pool (the store batches
// concurrent writes into one sync); reads (search, get, list, history) run
// on the actor itself; replies go straight to the reply sink. A store that cannot open leaves the actor alive
// and down: every memory op answers `unavailable` with the reason.
// Percepts from the sources in memory.remember_sources are remembered (after
// their recall, so a percept does not recall itself); the learning path's
// texts (learn_msg) are embedded and remembered. Both are deduplicated as any
// add is, and run off the reply path.
// Re-embedding after an embedding-model change (the store decides it at
// open): the actor asks the embedder to keep the previous model loaded, then
// works through the store's todo list one batch at a time (embed, then a
// store write on the pool, then the next batch), never on the reply path.
// Meanwhile a search text is embedded by the previous model and answered by
// the complete old index; if that model cannot be loaded, by the new model
// and the shadow as far as it goes (the reply says so: "reindex").
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include <spdlog/spdlog.h>

#include <atomic>

#include "actors/actor_kit.hpp"
#include "actors/memory/memory.hpp"

namespace aikid {

std::vector<config::key_spec> memory_config_keys() {
  using namespace config;
  return {
      key_real("memory.dedup_threshold", 0.95, 0.0, 1.01,
               "an add this close (cosine) to a memory of the same user updates it (above 1 = off)")
          .is_live(),
      key_int("memory.flat_max", 10000, 0, 1LL << 40, "exact index up to this many memories, HNSW above (an exact scan costs ~27 µs per 1,000)"),
      key_int("memory.hnsw_m", 32, 4, 128, "HNSW graph degree"),
      key_int("memory.hnsw_ef_construction", 200, 8, 4096, "HNSW build breadth"),
      key_int("memory.hnsw_ef_search", 32, 1, 4096, "HNSW search breadth (32: recall@10 0.975-0.998 at 100k, bench/results/memory.md)").is_live(),
      key_int("memory.recall_top_k", 5, 0, 100, "memories recalled for each percept").is_live(),
      key_real("memory.recall_min_score", 0.3, -1.0, 1.0, "least cosine for a recalled memory").is_live(),
      key_int("memory.workers", 64, 1, 256, "threads that run store writes other than adds (and adds that find the store held by a snapshot or a bulk delete): each waits for its sync, and concurrent ones share one (group commit)"),
      key_int("memory.embed_timeout_ms", 5000, 10, 60000, "how long to wait for the embedder").is_live(),
      key_int("memory.reindex_batch", 32, 1, 1024,
              "texts per embed call while re-embedding memories after a model change (one batch in flight)")
          .is_live(),
      key_bool("memory.reindex_paused", false,
               "hold re-embedding after a model change (searches keep using the previous model's index)")
          .is_live(),
      key_string("memory.remember_sources", "user",
                 "percept sources whose text is remembered (comma-separated; empty = none)")
          .is_live(),
  };
}

namespace {

using json = kit::json;

json record_json(const memory::record& r) {
  return {{"id", r.id},   {"text", r.text},       {"meta", r.meta}, {"user", r.user},
          {"created", r.created_ms}, {"updated", r.updated_ms}, {"model", r.model}};
}

struct memory_state {
  actor_env env;
  caf::actor embedder, synthesis;
  std::shared_ptr<memory::store> store;
  std::string down_reason;
  int dim = 384;
  std::unique_ptr<kit::work_pool> pool;
  bool flush_due = false;  // adds queued in the store, a flush_atom on its way (adds_flush)
  kit::stage_stats recall;
  std::uint64_t percepts = 0;
  // re-embedding
  bool reindex_busy = false;       // one batch in flight
  std::string previous_model;      // "loaded", or why the previous model is not
  std::uint64_t reindex_batches = 0, reindex_errors = 0;
  std::string reindex_last_error;
  std::shared_ptr<std::atomic<std::uint64_t>> remembered = std::make_shared<std::atomic<std::uint64_t>>(0),
                                               remember_errors = std::make_shared<std::atomic<std::uint64_t>>(0);
  static inline const char* name = "memory";
};

using memory_actor = caf::stateful_actor<memory_state>;

void open_store(memory_state& st) {
  memory::store_options o;
  o.dir = std::filesystem::path(st.env.cfg.get_string("daemon.data_dir")) / "memory";
  o.dim = st.dim = st.env.embed_dim > 0 ? st.env.embed_dim : 384;
  o.model_id = st.env.embed_model;
  o.model_dir = st.env.cfg.get_string("embedding.model");
  o.flat_max = static_cast<std::size_t>(st.env.cfg.get_int("memory.flat_max"));
  o.hnsw_m = static_cast<int>(st.env.cfg.get_int("memory.hnsw_m"));
  o.hnsw_ef_construction = static_cast<int>(st.env.cfg.get_int("memory.hnsw_ef_construction"));
  o.hnsw_ef_search = static_cast<int>(st.env.cfg.get_int("memory.hnsw_ef_search"));
  o.dedup_threshold = st.env.cfg.get_real("memory.dedup_threshold");
  o.max_json_depth = static_cast<int>(st.env.cfg.get_int("ipc.max_json_depth"));
  // memory.event: each acknowledged change, published after its sync (the
  // publisher's queue is thread-safe; writes run on the worker pool)
  o.on_change = [thoughts = st.env.thoughts](const memory::change& c) {
    json body{{"event", c.event}, {"memory_id", c.id}, {"user", c.user}};
    if (c.event == "import") body["count"] = c.count;
    else if (c.text) body["text"] = *c.text;
    if (thoughts) thoughts->publish("memory.event", std::move(body));
  };
  o.log = [](std::string_view l) { spdlog::info("{}", l); };
  auto s = memory::store::open(o);
  if (!s) {
    st.down_reason = s.error().message;
    return;
  }
  st.store = std::shared_ptr<memory::store>(std::move(*s));
}

// Parses the fields common to search (filter, since/until, user, top_k).
expected<memory::query> parse_query(const json& b) {
  memory::query q;
  auto user = wire::field_opt_string(b, "user");
  if (!user) return user.error();
  q.user = *user;
  auto k = wire::field_opt_int(b, "top_k", 1, 1000);
  if (!k) return k.error();
  q.top_k = static_cast<int>(k->value_or(10));
  if (auto it = b.find("filter"); it != b.end() && !it->is_null()) {
    if (!it->is_object()) return error{errc::bad_request, "filter: must be an object"};
    q.filter = *it;
  }
  auto since = wire::field_opt_int(b, "since", 0, INT64_MAX);
  if (!since) return since.error();
  auto until = wire::field_opt_int(b, "until", 0, INT64_MAX);
  if (!until) return until.error();
  q.since_ms = *since;
  q.until_ms = *until;
  return q;
}

bool remembers(const config::values& cfg, const std::string& source) {
  std::string list = cfg.get_string("memory.remember_sources");
  std::size_t at = 0;
  while (at <= list.size()) {
    auto end = list.find(',', at);
    if (end == std::string::npos) end = list.size();
    auto item = list.substr(at, end - at);
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    if (!item.empty() && item == source) return true;
    at = end + 1;
  }
  return false;
}

// Adds are queued in the store and applied by add_flush: on the actor's
// thread when the store is free, else on a pool thread that can wait for the
// write holding it; either way each add's `done` hears of the sync from the
// store's commit thread, so no thread sits waiting for it. While more
// messages wait in the mailbox the flush is put off (a flush message goes
// behind them), so adds that arrive together share one dedup pass and one
// transaction; every other message flushes first (adds_settle), so a read
// or write sent after an add sees it.
void adds_flush(memory_state& st) {
  st.flush_due = false;
  if (st.store->add_flush(true)) return;
  st.pool->submit([store = st.store] { store->add_flush(); });
}

void adds_settle(memory_state& st) {
  if (st.flush_due) adds_flush(st);
}

void add_submit(memory_actor* self, std::vector<memory::new_memory> items, memory::store::add_done done) {
  auto& st = self->state;
  st.store->add_enqueue(std::move(items), std::move(done));
  if (self->mailbox().empty()) return adds_flush(st);
  if (!st.flush_due) self->send(self, flush_atom_v);
  st.flush_due = true;
}

// Remembers one text off the reply path. live_vec: see memory::new_memory.
// Failures are counted and logged.
void remember(memory_actor* self, std::string user, std::string text, json meta, std::vector<float> vec,
              std::vector<float> live_vec = {}) {
  auto& st = self->state;
  std::vector<memory::new_memory> items;
  items.push_back(memory::new_memory{std::move(user), std::move(text), std::move(meta), std::move(vec), std::move(live_vec)});
  add_submit(self, std::move(items), [ok = st.remembered, bad = st.remember_errors](auto r) {
    if (r) ++*ok;
    else {
      ++*bad;
      spdlog::warn("memory: remembering failed: {}", r.error().message);
    }
  });
}

// memory.add's fields for bringing a memory over from another store (an
// importer's): `dedup` (bool, default true), `created` / `updated` (unix ms,
// default now), `history` ([{event: add|update|delete|dedup, old?, new?, at}],
// at most 1000, written instead of the one `add` event). Fails with
// bad_request naming the field.
struct add_import {
  bool dedup = true;
  std::int64_t created_ms = 0, updated_ms = 0;
  std::vector<memory::history_event> history;
};

expected<add_import> add_import_fields(const json& b) {
  add_import a;
  auto dedup = wire::field_opt_bool(b, "dedup");
  if (!dedup) return dedup.error();
  a.dedup = dedup->value_or(true);
  auto created = wire::field_opt_int(b, "created", 1, INT64_MAX);
  if (!created) return created.error();
  auto updated = wire::field_opt_int(b, "updated", 1, INT64_MAX);
  if (!updated) return updated.error();
  a.created_ms = created->value_or(0);
  a.updated_ms = updated->value_or(0);
  if (a.created_ms && a.updated_ms && a.updated_ms < a.created_ms)
    return error{errc::bad_request, "updated: before created"};
  auto h = b.find("history");
  if (h == b.end() || h->is_null()) return a;
  if (!h->is_array()) return error{errc::bad_request, "history: must be an array"};
  if (h->size() > 1000) return error{errc::bad_request, "history: more than 1000 events"};
  for (std::size_t i = 0; i < h->size(); ++i) {
    const json& e = (*h)[i];
    const std::string at = "history[" + std::to_string(i) + "]";
    if (!e.is_object()) return error{errc::bad_request, at + ": must be an object"};
    memory::history_event ev;
    auto name = e.find("event");
    if (name == e.end() || !name->is_string()) return error{errc::bad_request, at + ".event: missing or not a string"};
    ev.event = name->get<std::string>();
    if (ev.event != "add" && ev.event != "update" && ev.event != "delete" && ev.event != "dedup")
      return error{errc::bad_request, at + ".event: '" + ev.event + "' is not add|update|delete|dedup"};
    for (const char* k : {"old", "new"}) {
      auto t = e.find(k);
      if (t == e.end() || t->is_null()) continue;
      if (!t->is_string()) return error{errc::bad_request, at + "." + k + ": must be a string or null"};
      (k[0] == 'o' ? ev.old_text : ev.new_text) = t->get<std::string>();
    }
    auto when = wire::field_opt_int(e, "at", 0, INT64_MAX);
    if (!when) return error{errc::bad_request, at + "." + when.error().message};
    if (!*when) return error{errc::bad_request, at + ".at: missing"};
    ev.at_ms = **when;
    a.history.push_back(std::move(ev));
  }
  return a;
}

// memory.add: `vec` made by the configured model; `live_vec` (re-embedding
// only) is the same text's vector from the previous model. Replied after the
// sync; bad fields at once.
void add_serve(memory_actor* self, const request_msg& r, std::vector<float> vec, std::vector<float> live_vec = {}) {
  auto& st = self->state;
  const json& b = kit::body_of(r);
  reply_sink& out = *st.env.replies;
  auto text = wire::field_string(b, "text");
  if (!text) return out.reply_error(r.ticket, text.error());
  auto user = wire::field_opt_string(b, "user");
  if (!user) return out.reply_error(r.ticket, user.error());
  auto meta = wire::field_opt_object(b, "meta");
  if (!meta) return out.reply_error(r.ticket, meta.error());
  auto imported = add_import_fields(b);
  if (!imported) return out.reply_error(r.ticket, imported.error());
  std::vector<memory::new_memory> items;
  items.push_back(memory::new_memory{user->value_or(""), *text, meta->value_or(json::object()), std::move(vec),
                                     std::move(live_vec)});
  items.back().dedup = imported->dedup;
  items.back().created_ms = imported->created_ms;
  items.back().updated_ms = imported->updated_ms;
  items.back().history = std::move(imported->history);
  add_submit(self, std::move(items), [replies = st.env.replies, ticket = r.ticket](auto res) {
    if (!res) return replies->reply_error(ticket, res.error());
    const memory::add_result& a = (*res)[0];
    replies->reply_ok(ticket, json{{"memory_id", a.id}, {"deduplicated", a.deduplicated}});
  });
}

// memory.delete_all's fields: user (required), filter, since, until.
struct delete_all_fields {
  std::string user;
  json filter;
  std::optional<std::int64_t> since, until;
};

expected<delete_all_fields> delete_all_args(const json& b) {
  delete_all_fields a;
  auto user = wire::field_string(b, "user");
  if (!user) return user.error();
  a.user = *user;
  if (auto it = b.find("filter"); it != b.end() && !it->is_null()) {
    if (!it->is_object()) return error{errc::bad_request, "filter: must be an object"};
    a.filter = *it;
  }
  auto since = wire::field_opt_int(b, "since", 0, INT64_MAX);
  if (!since) return since.error();
  auto until = wire::field_opt_int(b, "until", 0, INT64_MAX);
  if (!until) return until.error();
  if (*since && *until && **since > **until)
    return error{errc::bad_request, "since: is after until (" + std::to_string(**since) + " > " +
                                        std::to_string(**until) + ")"};
  a.since = *since;
  a.until = *until;
  return a;
}

// Runs one memory op other than add against the store (on a worker thread,
// or the actor's for reads) and replies. `model` made vec ("" = the
// configured model). Store errors are replied, never thrown.
void serve(memory::store& s, reply_sink& out, const request_msg& r, std::vector<float> vec, std::string model = {},
           const json& forgot = json::object()) {
  const json& b = kit::body_of(r);
  const std::string& op = r.op;
  auto fail = [&](const error& e) { out.reply_error(r.ticket, e); };
  auto id_field = [&]() -> expected<std::int64_t> {
    auto id = wire::field_opt_int(b, "memory_id", 1, INT64_MAX);
    if (!id) return id.error();
    if (!*id) return error{errc::bad_request, "memory_id: missing"};
    return **id;
  };
  if (op == "memory.search") {
    auto q = parse_query(b);
    if (!q) return fail(q.error());
    q->vector = std::move(vec);
    q->model = std::move(model);
    memory::search_note note;
    auto res = s.search(*q, &note);
    return kit::reply(out, r.ticket, res, [&](const std::vector<memory::hit>& hits) {
      json arr = json::array();
      for (const auto& h : hits) {
        auto j = record_json(h.rec);
        j["score"] = h.score;
        arr.push_back(std::move(j));
      }
      json j{{"hits", std::move(arr)}};
      if (note.reindexing) j["reindex"] = {{"done", note.done}, {"total", note.total}, {"index", note.index}};
      return j;
    });
  }
  if (op == "memory.get") {
    auto id = id_field();
    if (!id) return fail(id.error());
    return kit::reply(out, r.ticket, s.get(*id), [](const memory::record& m) { return json{{"memory", record_json(m)}}; });
  }
  if (op == "memory.update") {
    auto id = id_field();
    if (!id) return fail(id.error());
    auto text = wire::field_opt_string(b, "text");
    if (!text) return fail(text.error());
    auto meta = wire::field_opt_object(b, "meta");
    if (!meta) return fail(meta.error());
    std::optional<std::vector<float>> v;
    if (!vec.empty()) v = std::move(vec);
    auto res = s.update(*id, *text, *meta, std::move(v));
    if (!res) return fail(res.error());
    return out.reply_ok(r.ticket, {{"updated", true}, {"memory_id", *id}});
  }
  if (op == "memory.delete") {
    auto id = id_field();
    if (!id) return fail(id.error());
    auto res = s.remove(*id);
    if (!res) return fail(res.error());
    return out.reply_ok(r.ticket, {{"deleted", true}, {"memory_id", *id}});
  }
  if (op == "memory.list") {
    auto user = wire::field_opt_string(b, "user");
    if (!user) return fail(user.error());
    auto limit = wire::field_opt_int(b, "limit", 1, 10000);
    if (!limit) return fail(limit.error());
    auto offset = wire::field_opt_int(b, "offset", 0, INT64_MAX);
    if (!offset) return fail(offset.error());
    json filter = b.contains("filter") ? b["filter"] : json();
    if (!filter.is_null() && !filter.is_object()) return fail(error{errc::bad_request, "filter: must be an object"});
    auto since = wire::field_opt_int(b, "since", 0, INT64_MAX);
    if (!since) return fail(since.error());
    auto until = wire::field_opt_int(b, "until", 0, INT64_MAX);
    if (!until) return fail(until.error());
    auto res = s.list(*user, filter, limit->value_or(100), offset->value_or(0), *since, *until);
    return kit::reply(out, r.ticket, res, [](const std::pair<std::vector<memory::record>, std::int64_t>& p) {
      json arr = json::array();
      for (const auto& m : p.first) arr.push_back(record_json(m));
      return json{{"memories", std::move(arr)}, {"total", p.second}};
    });
  }
  if (op == "memory.history") {
    auto id = id_field();
    if (!id) return fail(id.error());
    return kit::reply(out, r.ticket, s.history(*id), [](const std::vector<memory::history_event>& ev) {
      json arr = json::array();
      for (const auto& e : ev)
        arr.push_back({{"event", e.event},
                       {"old", e.old_text ? json(*e.old_text) : json()},
                       {"new", e.new_text ? json(*e.new_text) : json()},
                       {"at", e.at_ms}});
      return json{{"events", std::move(arr)}};
    });
  }
  if (op == "memory.delete_all") {  // delete_all_serve checked the fields and asked synthesis
    auto a = delete_all_args(b);
    if (!a) return fail(a.error());
    return kit::reply(out, r.ticket, s.delete_all(a->user, a->filter, a->since, a->until),
                      [&](std::int64_t n) {
                        json j{{"deleted", n}};
                        for (const char* k : {"graph", "turns", "reminders"}) j[k] = forgot.value(k, 0);
                        return j;
                      });
  }
  fail(error{errc::unknown_op, "memory: unknown op " + op});
}

// memory.delete_all forgets the user everywhere: without a filter, synthesis
// first forgets their turns, graph facts and reminders (in the time range
// when one is given); then the memories go, on the pool. A synthesis that
// cannot forget fails the op before any memory is deleted (unavailable,
// naming why). With a filter (a memory meta field) only memories go.
void delete_all_serve(memory_actor* self, request_msg r) {
  auto& st = self->state;
  auto a = delete_all_args(kit::body_of(r));
  if (!a) return st.env.replies->reply_error(r.ticket, a.error());
  auto run = [self](request_msg r, json forgot) {
    auto& s2 = self->state;
    s2.pool->submit([store = s2.store, replies = s2.env.replies, r = std::move(r), forgot = std::move(forgot)]() mutable {
      serve(*store, *replies, r, {}, {}, forgot);
    });
  };
  const bool scoped = a->filter.is_object() && !a->filter.empty();
  if (scoped || !st.synthesis) return run(std::move(r), json::object());
  json arg{{"user", a->user}};
  if (a->since) arg["since"] = *a->since;
  if (a->until) arg["until"] = *a->until;
  self->request(st.synthesis, std::chrono::seconds(30), admin_atom_v, std::string("forget"), arg.dump())
      .then(
          [=](const std::string& res) mutable {
            json j = json::parse(res, nullptr, false);
            if (!j.is_object() || !j.value("ok", false)) {
              std::string why = j.is_object() && j.contains("error") ? j["error"].value("message", res) : res;
              return self->state.env.replies->reply_error(
                  r.ticket, error{errc::unavailable, "memory.delete_all: the knowledge graph could not forget (" +
                                                         why + "); no memory was deleted"});
            }
            run(std::move(r), std::move(j));
          },
          [=](caf::error& e) {
            self->state.env.replies->reply_error(
                r.ticket, error{errc::unavailable, "memory.delete_all: synthesis did not answer (" +
                                                       self->system().render(e) + "); no memory was deleted"});
          });
}

// Does this op need a vector from the embedder: its row names a field to
// embed (ipc/ops.hpp: memory.add and memory.update `text`, memory.search
// `query`), the request gives that field as a string and no `vector`?
bool needs_embedding(const wire::op_info& op, const json& b) {
  if (op.embeds.empty()) return false;
  if (b.contains("vector") && !b["vector"].is_null()) return false;
  auto it = b.find(op.embeds);
  return it != b.end() && it->is_string();
}

// Recalls memories for the percept with query vector qv made by model qm
// (the percept's own, or the previous model's while re-embedding: then
// live_vec is that vector, kept with the remembered percept), remembers the
// percept if its source is remembered, and hands it to synthesis. A failed
// search is counted, never thrown: the percept goes on without memories.
void recall_forward(memory_actor* self, percept_msg p, std::vector<float> qv, std::string qm,
                    std::vector<float> live_vec, std::int64_t t0) {
  auto& st = self->state;
  json hits = json::array();
  auto k = st.env.cfg.get_int("memory.recall_top_k");
  if (st.store && !qv.empty() && k > 0) {
    memory::query q;
    q.vector = std::move(qv);
    q.top_k = static_cast<int>(k);
    q.user = p.user;
    q.model = std::move(qm);
    auto res = st.store->search(q);
    auto min_score = st.env.cfg.get_real("memory.recall_min_score");
    if (res) {
      for (const auto& h : *res) {
        if (h.score < min_score) continue;
        auto j = record_json(h.rec);
        j["score"] = h.score;
        hits.push_back(std::move(j));
        p.memory_ids.push_back(h.rec.id);
      }
    } else {
      ++st.recall.errors;
    }
  }
  p.memories = json_dump(hits);
  p.stage_names.push_back("recall");
  p.stage_ms.push_back(kit::ms_since(t0));
  st.recall.latency.add(p.stage_ms.back());
  if (st.store && !p.vec.empty() && remembers(st.env.cfg, p.source))
    remember(self, p.user, p.text, json{{"source", p.source}, {"percept_id", p.percept_id}}, p.vec,
             std::move(live_vec));
  self->send(st.synthesis, std::move(p));
}

// One step of re-embedding: the next batch of the store's todo list is
// embedded by the current model, then written on the pool; its completion
// (tick_atom, summary) starts the next. Errors are logged and retried after
// a second; nothing here throws.
void reindex_step(memory_actor* self) {
  auto& st = self->state;
  if (!st.store || st.reindex_busy || st.env.cfg.get_bool("memory.reindex_paused")) return;
  const auto rx = st.store->reindex_state();
  if (!rx.active) return;
  auto todo = st.store->reindex_todo(static_cast<std::size_t>(st.env.cfg.get_int("memory.reindex_batch")));
  if (todo.empty()) return;
  st.reindex_busy = true;
  std::vector<std::string> texts;
  texts.reserve(todo.size());
  for (const auto& t : todo) texts.push_back(t.text);
  auto fail = [self](const std::string& why) {
    auto& s2 = self->state;
    s2.reindex_busy = false;
    ++s2.reindex_errors;
    s2.reindex_last_error = why;
    spdlog::warn("memory: re-embedding batch failed ({}); retrying in 1 s", why);
    self->delayed_send(self, std::chrono::seconds(1), tick_atom_v);
  };
  auto timeout = std::chrono::milliseconds(60000);
  self->request(st.embedder, timeout, embed_atom_v, std::move(texts))
      .then(
          [=, todo = std::move(todo)](std::vector<float>& flat, std::string& model) mutable {
            auto& s2 = self->state;
            if (flat.empty()) return fail("embedder: " + model);
            if (model != rx.to_model)
              return fail("embedder has model '" + model + "', the store re-embeds to '" + rx.to_model + "'");
            if (flat.size() != todo.size() * static_cast<std::size_t>(s2.dim))
              return fail("embedder returned " + std::to_string(flat.size()) + " values for " +
                          std::to_string(todo.size()) + " texts");
            for (std::size_t i = 0; i < todo.size(); ++i)
              todo[i].vec.assign(flat.begin() + static_cast<std::ptrdiff_t>(i * s2.dim),
                                 flat.begin() + static_cast<std::ptrdiff_t>((i + 1) * s2.dim));
            auto me = caf::actor_cast<caf::actor>(self);
            s2.pool->submit([store = s2.store, me, todo = std::move(todo)]() mutable {
              auto r = store->reindex_put(std::move(todo));
              json j;
              if (!r) j = {{"error", r.error().message}};
              else j = {{"written", r->written}, {"skipped", r->skipped}, {"switched", r->switched}};
              caf::anon_send(me, tick_atom_v, j.dump());
            });
          },
          [=](caf::error& e) { fail("embedder did not answer: " + self->system().render(e)); });
}

// The outcome of a batch written on the pool (json from reindex_step).
void reindex_done(memory_actor* self, const std::string& summary) {
  auto& st = self->state;
  st.reindex_busy = false;
  auto j = json::parse(summary, nullptr, false);
  if (!j.is_object() || j.contains("error")) {
    ++st.reindex_errors;
    st.reindex_last_error = j.is_object() ? j["error"].get<std::string>() : summary;
    spdlog::warn("memory: re-embedding write failed ({}); retrying in 1 s", st.reindex_last_error);
    self->delayed_send(self, std::chrono::seconds(1), tick_atom_v);
    return;
  }
  ++st.reindex_batches;
  const auto rx = st.store->reindex_state();
  if (j.value("switched", false) || !rx.active) {
    spdlog::info("memory: re-embedding finished: {} memories now use '{}'", rx.total, rx.from_model);
    // the previous model is no longer needed
    self->request(st.embedder, std::chrono::seconds(10), reload_atom_v, std::string(), std::string())
        .then([](const std::string&) {}, [](caf::error&) {});
    return;
  }
  spdlog::info("memory: re-embedding {}/{} ('{}' -> '{}')", rx.done, rx.total, rx.from_model, rx.to_model);
  self->send(self, tick_atom_v);
}

// At start: if the store re-embeds, ask the embedder for the previous model
// (searches are embedded by it meanwhile), then start the batches.
void reindex_start(memory_actor* self) {
  auto& st = self->state;
  if (!st.store) return;
  const auto rx = st.store->reindex_state();
  if (!rx.active) return;
  spdlog::info("memory: re-embedding {} memories from '{}' to '{}' in the background", rx.total, rx.from_model,
               rx.to_model);
  st.previous_model = "loading";
  self->request(st.embedder, std::chrono::seconds(120), reload_atom_v, rx.from_dir, rx.from_model)
      .then(
          [self](const std::string& res) {
            auto j = json::parse(res, nullptr, false);
            auto& s2 = self->state;
            if (j.is_object() && j.value("loaded", false)) s2.previous_model = "loaded";
            else s2.previous_model = j.is_object() ? j.value("reason", res) : res;
            if (s2.previous_model != "loaded")
              spdlog::warn("memory: previous embedding model not available ({}); searches use the re-embedded "
                           "part until the switch",
                           s2.previous_model);
          },
          [self](caf::error& e) { self->state.previous_model = "embedder did not answer: " + self->system().render(e); });
  self->send(self, tick_atom_v);
}

json reindex_json(const memory_state& st) {
  const auto rx = st.store->reindex_state();
  json j = {{"active", rx.active}, {"done", rx.done}, {"total", rx.total}, {"batches", st.reindex_batches},
            {"errors", st.reindex_errors}, {"paused", st.env.cfg.get_bool("memory.reindex_paused")}};
  if (rx.active) {
    j["from_model"] = rx.from_model;
    j["to_model"] = rx.to_model;
    j["previous_model"] = st.previous_model;
  }
  if (!st.reindex_last_error.empty()) j["last_error"] = st.reindex_last_error;
  return j;
}

caf::behavior memory_fun(memory_actor* self, actor_env env, caf::actor embedder, caf::actor synthesis) {
  auto& st0 = self->state;
  st0.env = std::move(env);
  st0.embedder = embedder;
  st0.synthesis = synthesis;
  open_store(st0);
  st0.pool = std::make_unique<kit::work_pool>(static_cast<int>(st0.env.cfg.get_int("memory.workers")));
  reindex_start(self);
  const kit::guard_ctx guard{"memory", self->state.env.replies, self->state.env.thoughts};
  auto basics = kit::basic_handlers(
      self,
      [=] {
        auto& st = self->state;
        adds_settle(st);
        json j = {{"recall", st.recall.to_json()}, {"percepts", st.percepts}, {"remembered", st.remembered->load()},
                  {"remember_errors", st.remember_errors->load()}};
        if (st.store) {
          j["store"] = st.store->stats();
          j["reindex"] = reindex_json(st);
        }
        return j;
      },
      [=] {
        auto& st = self->state;
        json j = {{"up", st.store != nullptr}};
        if (!st.store) j["reason"] = st.down_reason;
        else j["reindex"] = reindex_json(st);
        return j;
      },
      [=] {
        auto& st = self->state;
        if (st.store) {
          st.store->set_dedup_threshold(st.env.cfg.get_real("memory.dedup_threshold"));
          st.store->set_ef_search(static_cast<int>(st.env.cfg.get_int("memory.hnsw_ef_search")));
        }
        self->send(self, tick_atom_v);  // memory.reindex_paused may have been lifted
      });
  return kit::actor_behavior(
      guard, std::move(basics),
      [=](request_msg& r) {
        auto& st = self->state;
        auto& out = *st.env.replies;
        if (kit::expired(r)) return;
        if (!st.store) return out.reply_error(r.ticket, error{errc::unavailable, "memory store is down: " + st.down_reason});
        if (r.op != "memory.add") adds_settle(st);
        const json& b = kit::body_of(r);
        auto vec = wire::field_opt_vector(b, "vector");
        if (!vec) return out.reply_error(r.ticket, vec.error());
        if (*vec && static_cast<int>((*vec)->size()) != st.dim)
          return out.reply_error(r.ticket, error{errc::bad_request, "vector: has " + std::to_string((*vec)->size()) +
                                                                      " dimensions; the store's vectors have " +
                                                                      std::to_string(st.dim)});
        auto store = st.store;
        auto replies = st.env.replies;
        const wire::op_info* op = wire::op_find(r.op);  // its row: what to embed, whether it writes
        if (!op) return out.reply_error(r.ticket, error{errc::unknown_op, "memory: unknown op " + r.op});
        const bool embeds = needs_embedding(*op, b);
        if (r.op == "memory.search" && !*vec && !embeds)
          return out.reply_error(r.ticket, error{errc::bad_request, "query or vector: one is required"});
        // A read is served on the actor's own thread (a search takes well
        // under a millisecond; the hop to a pool thread and back cost more).
        if (!embeds && op->reads_only) return serve(*store, *replies, r, vec->value_or(std::vector<float>{}));
        if (!embeds && r.op == "memory.add") return add_serve(self, r, vec->value_or(std::vector<float>{}));
        if (r.op == "memory.delete_all") return delete_all_serve(self, std::move(r));
        if (!embeds) {
          st.pool->submit([store, replies, r = std::move(r), v = vec->value_or(std::vector<float>{})]() mutable {
            serve(*store, *replies, r, std::move(v));
          });
          return;
        }
        std::string text = b.find(op->embeds)->get<std::string>();
        auto timeout = std::chrono::milliseconds(st.env.cfg.get_int("memory.embed_timeout_ms"));
        // by the configured model; live: the previous model's vector of the same text (re-embedding)
        auto embed_current = [=](std::vector<float> live) {
          self->request(self->state.embedder, timeout, embed_atom_v, std::vector<std::string>{text})
              .then(
                  [=](std::vector<float>& v, std::string& model) mutable {
                    if (v.empty())
                      return replies->reply_error(r.ticket,
                                                  error{errc::unavailable, "embedder cannot embed the text (" + model +
                                                                               "); send a vector instead"});
                    if (r.op == "memory.add") return add_serve(self, r, std::move(v), std::move(live));
                    self->state.pool->submit([store, replies, r, v = std::move(v), model]() mutable {
                      serve(*store, *replies, r, std::move(v), std::move(model));
                    });
                  },
                  [=](caf::error& e) {
                    replies->reply_error(r.ticket, error{errc::unavailable, "embedder did not answer: " +
                                                                                self->system().render(e)});
                  });
        };
        const auto rx = store->reindex_state();
        if (!rx.active || r.op == "memory.update") return embed_current({});
        // Re-embedding: a search goes to the old index with the old model's
        // vector; an add carries both vectors. Without the old model: the
        // new model's vector alone (shadow).
        self->request(st.embedder, timeout, embed_atom_v, rx.from_model, std::vector<std::string>{text})
            .then(
                [=](std::vector<float>& v, std::string& model) mutable {
                  if (r.op == "memory.search" && !v.empty()) {
                    self->state.pool->submit([store, replies, r, v = std::move(v), model]() mutable {
                      serve(*store, *replies, r, std::move(v), std::move(model));
                    });
                    return;
                  }
                  embed_current(std::move(v));
                },
                [=](caf::error&) { embed_current({}); });
      },
      // The flow: recall memories for the percept, hand it to synthesis.
      // While re-embedding with the previous model loaded, the percept's text
      // is embedded by it first so that the complete old index answers.
      [=](percept_msg& p) {
        auto& st = self->state;
        ++st.percepts;
        adds_settle(st);
        const auto t0 = kit::now_ns();
        if (st.store && !p.vec.empty() && st.previous_model == "loaded") {
          const auto rx = st.store->reindex_state();
          if (rx.active) {
            auto timeout = std::chrono::milliseconds(st.env.cfg.get_int("memory.embed_timeout_ms"));
            self->request(st.embedder, timeout, embed_atom_v, rx.from_model, std::vector<std::string>{p.text})
                .then(
                    [=](std::vector<float>& v, std::string&) mutable {
                      std::vector<float> qv = v.empty() ? p.vec : v;
                      std::string qm = v.empty() ? p.embed_model : rx.from_model;
                      recall_forward(self, std::move(p), std::move(qv), std::move(qm), std::move(v), t0);
                    },
                    [=](caf::error&) mutable {
                      auto qv = p.vec;
                      auto qm = p.embed_model;
                      recall_forward(self, std::move(p), std::move(qv), std::move(qm), {}, t0);
                    });
            return;
          }
        }
        auto qv = p.vec;
        auto qm = p.embed_model;
        recall_forward(self, std::move(p), std::move(qv), std::move(qm), {}, t0);
      },
      // The learning path's texts (facts, reflections): embed, then remember.
      [=](learn_msg& m) {
        auto& st = self->state;
        if (!st.store || m.memories.empty()) return;
        auto timeout = std::chrono::milliseconds(st.env.cfg.get_int("memory.embed_timeout_ms"));
        self->request(st.embedder, timeout, embed_atom_v, m.memories)
            .then(
                [=](std::vector<float>& flat, std::string&) {
                  auto& st2 = self->state;
                  const auto n = m.memories.size();
                  if (flat.empty() || flat.size() % n != 0) {
                    ++*st2.remember_errors;
                    return;
                  }
                  const auto dim = flat.size() / n;
                  for (std::size_t i = 0; i < n; ++i)
                    remember(self, m.user, m.memories[i], json{{"source", m.source}, {"percept_id", m.percept_id}},
                             std::vector<float>(flat.begin() + static_cast<std::ptrdiff_t>(i * dim),
                                                flat.begin() + static_cast<std::ptrdiff_t>((i + 1) * dim)));
                },
                [=](caf::error&) { ++*self->state.remember_errors; });
      },
      [=](tick_atom) {
        adds_settle(self->state);
        reindex_step(self);
      },
      [=](flush_atom) { adds_settle(self->state); },
      [=](tick_atom, const std::string& summary) { reindex_done(self, summary); },
      [=](admin_atom, const std::string& cmd, const std::string& arg) -> std::string {
        auto& st = self->state;
        if (!st.store) return kit::admin_error(error{errc::unavailable, st.down_reason});
        adds_settle(st);
        if (cmd == "snapshot") {
          auto r = st.store->snapshot();
          if (!r) return kit::admin_error(r.error());
          return json{{"ok", true}}.dump();
        }
        // admin export-user / import-user (daemon/admin_commands.cpp): arg is
        // {"user", "after", "limit"} / {"user", "records"}
        if (cmd == "export_user" || cmd == "import_user") {
          json a = json::parse(arg, nullptr, false);
          if (!a.is_object() || !a.contains("user") || !a["user"].is_string())
            return kit::admin_error(error{errc::bad_request, cmd + ": a JSON object with a string user"});
          if (cmd == "export_user") {
            std::int64_t next = 0;
            auto recs = st.store->export_user(a["user"], a.value("after", std::int64_t{0}),
                                              a.value("limit", std::size_t{200}), &next);
            if (!recs) return kit::admin_error(recs.error());
            return json_dump(json{{"ok", true}, {"records", std::move(*recs)}, {"next", next}});
          }
          auto n = st.store->import_user(a["user"], a.contains("records") ? a["records"] : json());
          if (!n) return kit::admin_error(n.error());
          return json{{"ok", true}, {"memories", *n}}.dump();
        }
        expected<std::size_t> n = cmd == "export" ? st.store->export_jsonl(arg) : st.store->import_jsonl(arg);
        if (!n) return kit::admin_error(n.error());
        return json{{"ok", true}, {cmd == "export" ? "exported" : "imported", *n}}.dump();
      });
}

}  // namespace

caf::actor spawn_memory(caf::actor_system& sys, const actor_env& env, caf::actor embedder, caf::actor synthesis) {
  return sys.spawn(memory_fun, env, embedder, synthesis);
}

}  // namespace aikid
