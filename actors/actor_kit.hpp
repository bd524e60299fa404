// Small pieces every actor shell uses: parsing a request body, replying,
// applying tunables, per-stage latency stats. Header-only; no engine code.
#pragma once

#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

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

/// The debug hook behind `aikictl debug stall ACTOR MS`: blocks this actor's
/// thread, as a hung engine would, so the watchdog test can see pings stop.
inline void stall(bool enabled, std::int32_t ms) {
  if (enabled) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
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
