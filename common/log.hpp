// Logging helpers shared by every part: the user's text only reaches a log
// line through log_text(), which redacts it unless log.content is on.
#pragma once

#include <atomic>
#include <string>
#include <string_view>

namespace aikid {

inline std::atomic<bool>& log_content_flag() {
  static std::atomic<bool> on{false};
  return on;
}

inline void log_set_content(bool on) { log_content_flag() = on; }

/// The user's text as it may appear in a log line: quoted when log.content
/// is on, else "<N bytes redacted>".
inline std::string log_text(std::string_view s) {
  if (log_content_flag().load(std::memory_order_relaxed)) return "\"" + std::string(s) + "\"";
  return "<" + std::to_string(s.size()) + " bytes redacted>";
}

}  // namespace aikid
