// The admin commands (one text line each), as `aikictl` and socat send them:
//   help | get KEY | set KEY VALUE | config | stats | health | metrics
//   reload config|templates|model | snapshot | export FILE | import FILE
//   debug stall ACTOR MS   (only with daemon.debug = true)
// Each returns one JSON object: {"ok":true,…} or {"ok":false,"error":{code,message}}.
#pragma once

#include <caf/actor_system.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include "actors/actors.hpp"
#include "daemon/daemon.hpp"
#include "ipc/ipc.hpp"

namespace aikid {

struct admin_context {
  caf::actor_system& sys;
  actor_set& actors;
  config::values& cfg;  // the live configuration (guarded by cfg_mu)
  std::mutex& cfg_mu;
  const daemon_options& opts;
  ipc::ingress* ingress;
  ipc::publisher* publisher;
  std::string boot_id;
  std::chrono::steady_clock::time_point started;
  // Keys changed by `set` since the configuration was last read, with the
  // value set (guarded by cfg_mu): a reload that puts one back to the file's
  // value names it.
  std::map<std::string, config::value> live_sets{};
};

/// Runs one command line. Never throws; a bad command is an error reply.
nlohmann::json admin_execute(admin_context& ctx, const std::string& line);

/// Re-reads the config file (with the same --set overrides). All or nothing:
/// fails with the first error (a file:line error, or "KEY: needs restart"
/// for a changed key that is not live) and applies nothing; on success
/// returns {"changed":[keys]}.
expected<nlohmann::json> admin_reload_config(admin_context& ctx);

/// Each actor's health reply, asked within `timeout`, and "status": "ok"
/// when every actor is up, else "degraded" ({"status", "actors": {name: {"up",
/// "reason"?, …}}}). Never fails: an actor that does not answer in time (or an
/// unreadable reply) is reported down with the reason. Serves `health` and the
/// `status` topic.
nlohmann::json admin_health(admin_context& ctx, std::chrono::milliseconds timeout);

/// Prometheus text exposition (format 0.0.4) of stats: every family with
/// # HELP and # TYPE, durations in seconds, summaries with _sum and _count,
/// aikid_build_info and the process_* metrics.
std::string admin_metrics_text(admin_context& ctx);

/// The commit the daemon was built from (generated at build time; "unknown"
/// outside a git checkout).
const char* build_commit();

}  // namespace aikid
