// sd_notify and logging: the daemon's conversation with systemd and journald.
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <atomic>

#include "daemon/daemon.hpp"

namespace aikid {

void notify(const std::string& state) { sd_notify(0, state.c_str()); }

void log_setup(const std::string& level) {
  static bool once = [] {
    auto logger = spdlog::stderr_logger_mt("aikid");
    // journald stamps the time; one line per event, level first.
    logger->set_pattern(getenv("INVOCATION_ID") ? "<%l> %v" : "%Y-%m-%dT%H:%M:%S.%e %l %v");
    spdlog::set_default_logger(logger);
    return true;
  }();
  (void)once;
  spdlog::set_level(spdlog::level::from_str(level));
}

}  // namespace aikid
