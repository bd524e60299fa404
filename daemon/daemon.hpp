// daemon/: the process — configuration, lifecycle and the admin commands.
//
// Table of contents
//   daemon_config_keys      the [daemon] [ipc] [admin] [log] keys
//   daemon_options          what main() hands the daemon (config path, --set)
//   daemon_run              start everything, serve until SIGTERM/SIGINT, stop
//   notify_*                sd_notify: READY, STATUS, WATCHDOG, STOPPING
//   log_setup / log_text    stderr logging (journald); user text redacted
//                           unless log.content
//   allocator_name          which malloc serves the process (stats, log)
#pragma once

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "common/log.hpp"
#include "daemon/config/config.hpp"
#include "ipc/ops.hpp"

namespace aikid {

std::vector<config::key_spec> daemon_config_keys();

struct daemon_options {
  std::optional<std::string> config_file;  // none: the embedded defaults
  std::vector<std::string> overrides;      // --set section.key=value
};

/// Loads the configuration: the file (or the registry's defaults) plus the
/// overrides. Fails with "file:line: key: what is wrong".
expected<config::values> daemon_load_config(const daemon_options& o);

/// Runs the daemon to completion. Returns the process exit code: 0 after a
/// clean stop, 1 when a socket cannot be bound (the message names it).
int daemon_run(const daemon_options& o, config::values cfg);

/// ingress's per-class in-flight limits (ipc.max_inflight_*), indexed by
/// wire::op_class.
wire::class_limits daemon_inflight_limits(const config::values& c);

void notify(const std::string& state);  // "READY=1", "STATUS=…", …

/// Sets up the stderr logger (journald adds the time under systemd). The
/// user's text goes through log_text() in common/log.hpp.
void log_setup(const std::string& level);

/// "jemalloc 5.3.0-0-g54eaed1d8b56…" when jemalloc serves malloc (the
/// release daemon), "asan"/"tsan" in a sanitizer build, else "glibc 2.36".
/// Never fails: a jemalloc without a readable version is "jemalloc".
std::string allocator_name();

}  // namespace aikid
