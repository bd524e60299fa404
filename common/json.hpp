// JSON text in and out, the two rules every module follows:
//
// Table of contents
//   json_too_deep     where a JSON text nests deeper than a limit (found
//                     without parsing it, so no parser or copy recurses on it)
//   json_depth_check  json_too_deep as a bad_request error naming the path
//   json_dump         compact text of a value whose strings may not be UTF-8
//                     (stored or generated text): bad bytes become U+FFFD
//                     instead of throwing
//
// Why a limit at all: nlohmann's parser takes any depth, but copying,
// comparing or dumping a value recurses once per level, and ~300,000 levels
// (600 KB, under the frame limit) overflow a thread's stack. Every JSON text
// that enters (a wire frame, an import line, a stored meta read back) is
// checked first; within the limit, every later copy or dump is safe.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace aikid {

/// The default nesting limit (config ipc.max_json_depth).
constexpr int json_default_max_depth = 64;

struct json_too_deep_at {
  std::string path;  // e.g. meta.a[0].b…: the first few keys/indices down to the deep value
  int depth;         // the level reached: max_depth + 1
};

/// Scans `text` as JSON for an array or object opened at level max_depth + 1
/// (the top-level value is level 1). Returns where, or nothing when the text
/// stays within the limit. Reads each byte once and keeps one small frame per
/// level up to the limit; text that is not JSON is scanned as far as it goes
/// and never fails here (the parser that follows says what is wrong).
inline std::optional<json_too_deep_at> json_too_deep(std::string_view text, int max_depth) {
  struct frame {
    bool object;
    bool expect_key;
    std::size_t index;
    std::string key;
  };
  std::vector<frame> st;
  const std::size_t n = text.size();
  auto path_of = [&]() {
    std::string p;
    std::size_t shown = 0;
    for (const auto& f : st) {
      if (shown == 6) {
        p += "…";
        break;
      }
      if (f.object) {
        if (!p.empty()) p += '.';
        p += f.key.size() > 32 ? f.key.substr(0, 32) + "…" : f.key;
      } else {
        p += "[" + std::to_string(f.index) + "]";
      }
      ++shown;
    }
    return p.empty() ? std::string("(top)") : p;
  };
  for (std::size_t i = 0; i < n; ++i) {
    const char c = text[i];
    switch (c) {
      case '"': {
        const std::size_t start = i + 1;
        ++i;
        while (i < n && text[i] != '"') i += text[i] == '\\' ? 2 : 1;
        if (!st.empty() && st.back().object && st.back().expect_key) {
          st.back().key.assign(text.substr(start, std::min(i, n) - start));
          st.back().expect_key = false;
        }
        break;
      }
      case '{':
      case '[':
        if (static_cast<int>(st.size()) >= max_depth)
          return json_too_deep_at{path_of(), static_cast<int>(st.size()) + 1};
        st.push_back(frame{c == '{', c == '{', 0, {}});
        break;
      case '}':
      case ']':
        if (!st.empty()) st.pop_back();
        break;
      case ',':
        if (!st.empty()) {
          if (st.back().object) st.back().expect_key = true;
          else ++st.back().index;
        }
        break;
      default:
        break;
    }
  }
  return std::nullopt;
}

/// json_too_deep as an error: bad_request "PATH: JSON nested deeper than N
/// levels (level M reached); the limit is <what>", where `what` names the
/// limit's key. Fails only that way.
inline expected<void> json_depth_check(std::string_view text, int max_depth, std::string_view what) {
  auto deep = json_too_deep(text, max_depth);
  if (!deep) return {};
  return error{errc::bad_request, deep->path + ": JSON nested deeper than " + std::to_string(max_depth) +
                                      " levels (level " + std::to_string(deep->depth) + " reached); the limit is " +
                                      std::string(what)};
}

/// Compact text of `j` (nlohmann::json or ordered_json: keys keep their
/// order); a string that is not well-formed UTF-8 has each bad part replaced
/// by U+FFFD (never throws for it). Use it for every value that may hold
/// stored or generated text.
template <class Json>
std::string json_dump(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace aikid
