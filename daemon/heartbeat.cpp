// The heartbeat thread (daemon/heartbeat.hpp).
#include "daemon/heartbeat.hpp"

#include <spdlog/fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <vector>

namespace aikid {

using json = nlohmann::json;
using clock = std::chrono::steady_clock;

heartbeat::heartbeat(heartbeat_options o, heartbeat_hooks h, std::map<std::string, bool> actor_up)
    : o_(o), h_(std::move(h)), actor_up_(std::move(actor_up)) {
  th_ = std::thread([this] { run(); });
}

heartbeat::~heartbeat() { stop(); }

void heartbeat::stop() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (th_.joinable()) th_.join();
}

void heartbeat::run() {
  bool was_ok = true;
  auto last_status = clock::now();
  while (!stop_.load()) {
    // One health ask per actor and beat is the heartbeat: an answer (up or
    // down) proves the actor is alive; a missing one is "alive": false.
    json health = h_.health();
    std::vector<std::string> silent;
    for (const auto& [name, a] : health["actors"].items())
      if (!a.value("alive", true)) silent.push_back(name);
    const bool ok = silent.empty();
    if (ok && o_.systemd_watchdog && h_.notify) h_.notify("WATCHDOG=1");
    if (ok != was_ok) {
      if (ok) spdlog::info("every actor answers its heartbeat again");
      else spdlog::error("no heartbeat from: {}", fmt::join(silent, ", "));
    }
    was_ok = ok;
    for (const auto& [name, a] : health["actors"].items()) {
      const bool up = a.value("up", false);
      if (auto it = actor_up_.find(name); it == actor_up_.end() || it->second != up) {
        actor_up_[name] = up;
        if (h_.events)
          h_.events->publish("status", {{"status", up ? "up" : "down"}, {"actor", name},
                                        {"message", up ? name + " is up" : a.value("reason", std::string{"down"})}});
      }
    }
    if (o_.status_every.count() > 0 && clock::now() - last_status >= o_.status_every) {
      const std::string state = health.value("status", "degraded");
      if (h_.publish_state) h_.publish_state(state, std::move(health));
      last_status = clock::now();
    }
    std::unique_lock<std::mutex> g(mu_);
    cv_.wait_for(g, o_.status_every.count() > 0 ? std::min(o_.beat, o_.status_every) : o_.beat,
                 [&] { return stop_.load(); });
  }
}

}  // namespace aikid
