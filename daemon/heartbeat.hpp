// The daemon's heartbeat thread: asks every actor's health each beat, sends
// WATCHDOG=1 only while all of them answer, publishes a status event when an
// actor goes down or up, and the whole state every status interval. Kept apart
// from daemon_run so that a test can drive it with fake actors (tests/tsan/).
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "common/sinks.hpp"

namespace aikid {

struct heartbeat_hooks {
  /// One health ask per actor (admin_health): {"status": "ok"|"degraded",
  /// "actors": {NAME: {"up": bool, "alive": bool, "reason": …}}}; an actor
  /// that did not answer has "alive": false.
  std::function<nlohmann::json()> health;
  /// Publishes the whole state ("ok"/"degraded") with that health.
  std::function<void(const std::string& state, nlohmann::json health)> publish_state;
  /// Where an actor's down/up events go (topic "status").
  thought_sink* events = nullptr;
  /// sd_notify; called with "WATCHDOG=1" when `systemd_watchdog`.
  std::function<void(const std::string&)> notify;
};

struct heartbeat_options {
  std::chrono::milliseconds beat{1000};
  std::chrono::milliseconds status_every{0};  // 0: the whole state only at start and stop
  bool systemd_watchdog = false;
};

class heartbeat {
 public:
  /// Starts the thread. `actor_up`: each actor's state as last published
  /// (the start status), so only changes become events.
  heartbeat(heartbeat_options o, heartbeat_hooks h, std::map<std::string, bool> actor_up);
  ~heartbeat();
  heartbeat(const heartbeat&) = delete;
  heartbeat& operator=(const heartbeat&) = delete;
  /// Wakes the thread and joins it (the running beat finishes first).
  void stop();

 private:
  void run();
  heartbeat_options o_;
  heartbeat_hooks h_;
  std::map<std::string, bool> actor_up_;  // the thread's own
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::thread th_;
};

}  // namespace aikid
