// sd_notify and logging: the daemon's conversation with systemd and journald.
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <atomic>

#include "daemon/daemon.hpp"

namespace aikid {

namespace {

// journald reads a "<N>" syslog priority at the start of a stderr line
// (SyslogLevelPrefix=yes, its default), so `journalctl -p err` filters:
// trace and debug 7, info 6, warn 4, error 3, critical 2.
class syslog_priority final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& m, const std::tm&, spdlog::memory_buf_t& dest) override {
    static constexpr std::string_view prefix[] = {"<7>", "<7>", "<6>", "<4>", "<3>", "<2>", ""};
    const auto p = prefix[static_cast<int>(m.level)];
    dest.append(p.data(), p.data() + p.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<syslog_priority>(); }
};

}  // namespace

void notify(const std::string& state) { sd_notify(0, state.c_str()); }

void log_setup(const std::string& level) {
  static bool once = [] {
    auto logger = spdlog::stderr_logger_mt("aikid");
    // Under systemd (INVOCATION_ID set) journald stamps the time and takes the
    // priority from the prefix; one line per event.
    auto f = std::make_unique<spdlog::pattern_formatter>();
    if (getenv("INVOCATION_ID")) f->add_flag<syslog_priority>('*').set_pattern("%*%v");
    else f->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");
    logger->set_formatter(std::move(f));
    spdlog::set_default_logger(logger);
    return true;
  }();
  (void)once;
  spdlog::set_level(spdlog::level::from_str(level));
}

}  // namespace aikid
