// Small pieces every actor shell uses: parsing a request body, replying,
// applying tunables, per-stage latency stats, the guarded behavior and the
// four handlers every actor answers (basic_handlers: stats, health,
// tunables, stall). Header-only; no engine code.
#pragma once

#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include <caf/detail/type_traits.hpp>
#include <caf/sec.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <tuple>

#include "actors/actors.hpp"
#include "actors/messages.hpp"
#include "common/stats.hpp"
#include "ipc/protocol.hpp"

namespace aikid::kit {

using json = nlohmann::json;

inline std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
inline double ms_since(std::int64_t t_ns) { return static_cast<double>(now_ns() - t_ns) / 1e6; }
inline std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// The request body as JSON: ingress's parse, shared with the message, never
/// parsed again. A request_msg made without it (a test that forgot) reads as
/// an empty object: every field is then "missing" in the reply.
inline const json& body_of(const request_msg& r) {
  static const json no_body = json::object();
  return r.parsed ? *r.parsed : no_body;
}

/// True if the request's deadline has passed (ingress has answered it).
inline bool expired(const request_msg& r) { return r.deadline_ns != 0 && now_ns() > r.deadline_ns; }

/// Replies with a result or its error.
template <class T, class F>
void reply(reply_sink& out, std::uint64_t ticket, const expected<T>& r, F&& to_fields) {
  if (r) out.reply_ok(ticket, to_fields(*r));
  else out.reply_error(ticket, r.error());
}

/// Applies validated values to `cfg` (the actor's copy); returns the keys.
inline void apply_tunables(config::values& cfg, const tunables_msg& m) {
  const auto& s = config::schema::get();
  for (std::size_t i = 0; i < m.keys.size() && i < m.values.size(); ++i) {
    auto v = config::config_parse_value(s, m.keys[i], m.values[i]);
    if (v) cfg.set(m.keys[i], *v);
  }
}

/// Per-stage counters an actor reports in `stats`.
struct stage_stats {
  latency_window latency;
  std::uint64_t errors = 0;
  json to_json() const {
    auto j = latency.to_json();
    j["errors"] = errors;
    return j;
  }
};

/// Publishes a percept's one thought.final: text, source, the memories used,
/// timings_ms per stage (+ total), and the error when there is no answer.
inline void publish_final(thought_sink& out, const percept_msg& p, const std::string& text, const std::string& source,
                          const std::vector<std::int64_t>& memory_ids, const error* err = nullptr) {
  json timings = json::object();
  for (std::size_t i = 0; i < p.stage_names.size() && i < p.stage_ms.size(); ++i) timings[p.stage_names[i]] = p.stage_ms[i];
  timings["total"] = ms_since(p.t0_ns);
  json body = {{"percept_id", p.percept_id}, {"kind", p.kind}, {"text", text}, {"source", source},
               {"memories", memory_ids}, {"timings_ms", timings}, {"user", p.user}};
  if (!p.request_id.empty()) body["request_id"] = p.request_id;
  if (err) body["error"] = {{"code", errc_name(err->code)}, {"message", err->message}};
  out.publish("thought.final", std::move(body));
}

/// An admin command's failure reply line.
inline std::string admin_error(const error& e) {
  return json{{"ok", false}, {"error", {{"code", errc_name(e.code)}, {"message", e.message}}}}.dump();
}

// ---- guarded handlers ---------------------------------------------------------
// An exception that escapes a CAF 0.17 message handler ends the actor (its
// exception handler can only pick the exit reason), and the daemon then
// exits. Each handler of an actor's behavior is wrapped by guarded(): an
// exception inside one message's handler (a bug, or data no check foresaw)
// is logged (level error), that message alone is answered (`internal`), and
// the actor serves on.

/// What a guarded handler needs to answer the message whose handler failed.
struct guard_ctx {
  const char* actor;
  std::shared_ptr<reply_sink> replies;
  std::shared_ptr<thought_sink> thoughts;
};

// The answer to the failed message, by its first argument: a request gets
// its error reply, a percept (or an answer being generated for one) its
// thought.final with the error; anything else is only logged.
inline void guard_answer(const guard_ctx& g, const error& e, request_msg& r) {
  if (g.replies) g.replies->reply_error(r.ticket, e);
}
inline void guard_answer(const guard_ctx& g, const error& e, percept_msg& p) {
  if (g.thoughts) publish_final(*g.thoughts, p, "", "error", p.memory_ids, &e);
}
inline void guard_answer(const guard_ctx& g, const error& e, generate_msg& m) {
  if (m.purpose == "answer") guard_answer(g, e, m.percept);
}
template <class... Ts>
void guard_answer(const guard_ctx&, const error&, Ts&&...) {}

template <class R, class F, class... Ts>
auto guard_wrap(guard_ctx g, F f, caf::detail::type_list<Ts...>) {
  return [g = std::move(g), f = std::move(f)](Ts... xs) mutable -> R {
    try {
      return f(static_cast<Ts&&>(xs)...);
    } catch (const std::exception& ex) {
      const error e{errc::internal, std::string(g.actor) + ": " + ex.what()};
      spdlog::error("{}: a message's handler failed and was answered `internal`; the actor serves on: {}", g.actor,
                    ex.what());
      guard_answer(g, e, xs...);
      if constexpr (std::is_same_v<R, std::string>) return admin_error(e);
      else if constexpr (!std::is_void_v<R>) return R{caf::make_error(caf::sec::runtime_error, e.message)};
    }
  };
}

/// `f` (a message handler) with its exceptions caught as described above.
template <class F>
auto guarded(const guard_ctx& g, F f) {
  using trait = caf::detail::get_callable_trait<F>;
  return guard_wrap<typename trait::result_type>(g, std::move(f), typename trait::arg_types{});
}

/// A behavior of guarded handlers.
template <class... Fs>
caf::behavior guarded_behavior(const guard_ctx& g, Fs... fs) {
  return caf::behavior{guarded(g, std::move(fs))...};
}

/// The debug hook behind `aikictl debug stall ACTOR MS`: blocks this actor's
/// thread, as a hung engine would, so the watchdog test can see pings stop.
inline void stall(bool enabled, std::int32_t ms) {
  if (enabled) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

// ---- the four handlers every actor answers --------------------------------------
// stats, health, tunables and stall are written once here; an actor gives
// what differs: its stats and health as JSON objects, and what it re-reads
// after its live keys changed.

/// The four handlers, each answering as the actors did one by one:
///   stats_atom    → stats() as JSON text (admin `stats`, /metrics)
///   health_atom   → health() as JSON text ({"up", "reason"?, …}); any answer
///                   is also the watchdog's heartbeat
///   tunables_msg  → the validated values applied to the actor's env.cfg, then
///                   retune() (an engine setting it re-reads); answers ""
///   stall_atom    → stall(): blocks the actor's thread with daemon.debug only
/// `Self` is a stateful actor whose state has `env` (actor_env). Pass the
/// result to actor_behavior().
template <class Self, class Stats, class Health, class Retune>
auto basic_handlers(Self* self, Stats stats, Health health, Retune retune) {
  return std::make_tuple([=](stats_atom) -> std::string { return json_dump(stats()); },
                         [=](health_atom) -> std::string { return json_dump(health()); },
                         [=](tunables_msg& m) -> std::string {
                           apply_tunables(self->state.env.cfg, m);
                           retune();
                           return std::string{};
                         },
                         [=](stall_atom, std::int32_t ms) { stall(self->state.env.debug, ms); });
}

/// basic_handlers() of an actor that re-reads nothing after a tunables_msg.
template <class Self, class Stats, class Health>
auto basic_handlers(Self* self, Stats stats, Health health) {
  return basic_handlers(self, std::move(stats), std::move(health), [] {});
}

/// A guarded behavior (guarded_behavior) of the actor's own handlers `fs`
/// followed by its basic_handlers().
template <class... Basics, class... Fs>
caf::behavior actor_behavior(const guard_ctx& g, std::tuple<Basics...> basics, Fs... fs) {
  return std::apply(
      [&](Basics&... b) { return caf::behavior{guarded(g, std::move(fs))..., guarded(g, std::move(b))...}; },
      basics);
}

}  // namespace aikid::kit

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace aikid::kit {

/// A fixed set of worker threads for an actor whose engine is thread-safe and
/// blocks on I/O (the memory store's durable writes): many writes in flight
/// let the engine batch them into one sync. Jobs are bounded by ingress's
/// admission control; the pool itself never drops one.
class work_pool {
 public:
  explicit work_pool(int n) {
    for (int i = 0; i < n; ++i) th_.emplace_back([this] { loop(); });
  }
  ~work_pool() {
    {
      std::lock_guard<std::mutex> g(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : th_) t.join();
  }
  void submit(std::function<void()> job) {
    {
      std::lock_guard<std::mutex> g(mu_);
      q_.push_back(std::move(job));
    }
    cv_.notify_one();
  }

 private:
  void loop() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock<std::mutex> g(mu_);
        cv_.wait(g, [&] { return stop_ || !q_.empty(); });
        if (q_.empty()) return;
        job = std::move(q_.front());
        q_.pop_front();
      }
      job();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> q_;
  bool stop_ = false;
  std::vector<std::thread> th_;
};

}  // namespace aikid::kit
