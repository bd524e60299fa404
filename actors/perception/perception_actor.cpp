// perception: validates and normalises a percept's text (NFC, whitespace,
// length), drops exact repeats within a window, has it embedded, and hands the
// Percept to memory. Answers the client with the percept id at once; the
// thought follows on PUB.
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <spdlog/spdlog.h>
#include <utf8proc.h>

#include <atomic>
#include <map>

#include "actors/actor_kit.hpp"
#include "common/log.hpp"

namespace aikid {

std::vector<config::key_spec> perception_config_keys() {
  using namespace config;
  return {
      key_int("perception.max_text_bytes", 16384, 1, 1 << 20, "longest percept text in bytes (after NFC)").is_live(),
      key_int("perception.dedup_window_ms", 2000, 0, 3600000,
              "drop a percept whose user and text repeat within this window (0 = off)")
          .is_live(),
      key_int("perception.embed_timeout_ms", 2000, 10, 60000, "how long to wait for the embedder").is_live(),
      key_int("perception.max_pending", 64, 1, 100000,
              "percepts waiting for the embedder; past it a new percept is answered busy")
          .is_live(),
  };
}

namespace {

/// NFC, whitespace runs → one space, trimmed. Input is valid UTF-8 (checked
/// by ingress). Fails only if utf8proc does (errc::bad_request).
expected<std::string> normalise(const std::string& in) {
  utf8proc_uint8_t* out = nullptr;
  auto n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(in.data()), static_cast<utf8proc_ssize_t>(in.size()),
                        &out, static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (n < 0) return error{errc::bad_request, std::string("text: ") + utf8proc_errmsg(n)};
  std::string nfc(reinterpret_cast<char*>(out), static_cast<std::size_t>(n));
  std::free(out);
  std::string r;
  r.reserve(nfc.size());
  bool space = false;
  for (unsigned char c : nfc) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
      space = !r.empty();
      continue;
    }
    if (space) r.push_back(' ');
    space = false;
    r.push_back(static_cast<char>(c));
  }
  return r;
}

std::string new_percept_id() {
  static std::atomic<std::uint64_t> n{0};
  static const auto boot = kit::unix_ms();
  char buf[48];
  std::snprintf(buf, sizeof buf, "p-%llx-%llu", static_cast<unsigned long long>(boot),
                static_cast<unsigned long long>(++n));
  return buf;
}

struct perception_state {
  actor_env env;
  caf::actor embedder, memory;
  std::map<std::string, std::pair<std::int64_t, std::string>> recent;  // user\0text → (unix ms, percept id)
  kit::stage_stats perceive, embed;
  std::uint64_t duplicates = 0, embed_failures = 0, busy = 0;
  std::int64_t pending = 0;  // percepts sent to the embedder, not yet answered
  static inline const char* name = "perception";
};

using perception_actor = caf::stateful_actor<perception_state>;

void forget_old(perception_state& st, std::int64_t now, std::int64_t window) {
  for (auto it = st.recent.begin(); it != st.recent.end();)
    it = (now - it->second.first > window) ? st.recent.erase(it) : std::next(it);
}

caf::behavior perception_fun(perception_actor* self, actor_env env, caf::actor embedder, caf::actor memory) {
  self->state.env = std::move(env);
  self->state.embedder = embedder;
  self->state.memory = memory;
  const kit::guard_ctx guard{"perception", self->state.env.replies, self->state.env.thoughts};
  auto basics = kit::basic_handlers(
      self,
      [=] {
        auto& st = self->state;
        return kit::json{{"perceive", st.perceive.to_json()},
                         {"embed", st.embed.to_json()},
                         {"duplicates", st.duplicates},
                         {"busy", st.busy},
                         {"pending", st.pending},
                         {"embed_failures", st.embed_failures}};
      },
      [] { return kit::json{{"up", true}}; });
  return kit::actor_behavior(
      guard, std::move(basics),
      [=](request_msg& r) {
        auto& st = self->state;
        auto& out = *st.env.replies;
        auto t0 = kit::now_ns();
        const kit::json& body = kit::body_of(r);
        auto text = wire::field_string(body, "text");
        auto user = wire::field_opt_string(body, "user");
        auto source = wire::field_opt_string(body, "source");
        auto meta = wire::field_opt_object(body, "meta");
        for (const error* e : {text ? nullptr : &text.error(), user ? nullptr : &user.error(),
                               source ? nullptr : &source.error(), meta ? nullptr : &meta.error()})
          if (e) return out.reply_error(r.ticket, *e), void(++st.perceive.errors);
        auto norm = normalise(*text);
        if (!norm) return out.reply_error(r.ticket, norm.error());
        auto limit = st.env.cfg.get_int("perception.max_text_bytes");
        if (static_cast<std::int64_t>(norm->size()) > limit)
          return out.reply_error(r.ticket, error{errc::too_large, "text: " + std::to_string(norm->size()) +
                                                                      " bytes; perception.max_text_bytes is " +
                                                                      std::to_string(limit)});
        if (norm->empty()) return out.reply_error(r.ticket, error{errc::bad_request, "text: empty after normalisation"});
        if (st.pending >= st.env.cfg.get_int("perception.max_pending")) {
          ++st.busy;
          return out.reply_error(r.ticket, error{errc::busy, "perception: " + std::to_string(st.pending) +
                                                                 " percepts wait for the embedder; retry later"});
        }
        percept_msg p;
        p.user = user->value_or("");
        auto now = kit::unix_ms();
        auto window = st.env.cfg.get_int("perception.dedup_window_ms");
        std::string key = p.user + '\0' + *norm;
        if (window > 0) {
          forget_old(st, now, window);
          if (auto it = st.recent.find(key); it != st.recent.end()) {
            ++st.duplicates;
            return out.reply_ok(r.ticket, {{"percept_id", it->second.second}, {"duplicate", true}});
          }
        }
        p.percept_id = new_percept_id();
        if (window > 0) st.recent[key] = {now, p.percept_id};
        p.request_id = r.id;
        p.source = source->value_or("user");
        p.text = std::move(*norm);
        p.meta = json_dump(meta->value_or(kit::json::object()));
        p.t0_ns = t0;
        out.reply_ok(r.ticket, {{"percept_id", p.percept_id}});
        spdlog::debug("percept {} from user {}: {}", p.percept_id, log_text(p.user), log_text(p.text));
        if (st.env.thoughts)
          st.env.thoughts->publish("percept", {{"percept_id", p.percept_id}, {"user", p.user}, {"source", p.source}});
        p.stage_names.push_back("perceive");
        p.stage_ms.push_back(kit::ms_since(t0));
        st.perceive.latency.add(p.stage_ms.back());
        // Embed, then hand on to memory (with or without a vector).
        auto t_embed = kit::now_ns();
        auto timeout = std::chrono::milliseconds(st.env.cfg.get_int("perception.embed_timeout_ms"));
        auto mem = st.memory;
        ++st.pending;
        self->request(st.embedder, timeout, embed_atom_v, std::vector<std::string>{p.text})
            .then(
                [=](std::vector<float>& vec, std::string& model) mutable {
                  --self->state.pending;
                  p.vec = std::move(vec);
                  p.embed_model = std::move(model);
                  p.stage_names.push_back("embed");
                  p.stage_ms.push_back(kit::ms_since(t_embed));
                  self->state.embed.latency.add(p.stage_ms.back());
                  if (p.vec.empty()) ++self->state.embed_failures;
                  self->send(mem, std::move(p));
                },
                [=](caf::error&) mutable {
                  --self->state.pending;
                  ++self->state.embed_failures;
                  p.stage_names.push_back("embed");
                  p.stage_ms.push_back(kit::ms_since(t_embed));
                  self->send(mem, std::move(p));
                });
      });
}

}  // namespace

caf::actor spawn_perception(caf::actor_system& sys, const actor_env& env, caf::actor embedder, caf::actor memory) {
  return sys.spawn(perception_fun, env, embedder, memory);
}

}  // namespace aikid
