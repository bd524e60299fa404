// The part of reading a data file that the time words (when.cpp) and
// understanding's data (understand_load.cpp) share: the first problem kept as
// "file:line: what", the line of a node, unknown keys. Not part of the API.
#pragma once

#include <algorithm>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include <toml++/toml.h>

#include "common/error.hpp"

namespace aikid::synthesis::detail {

struct toml_reader {
  std::string file;
  std::optional<error> err;

  // Keeps the first problem (reading goes on harmlessly after it).
  void fail(std::size_t line, const std::string& what) {
    if (!err) err = error{errc::bad_request, file + ":" + std::to_string(line ? line : 1) + ": " + what};
  }
  static std::size_t line_of(const toml::node& n) { return n.source().begin.line; }
  // "clock" + "at" → "clock.at"; "" + "numbers" → "numbers".
  static std::string path_of(const std::string& where, std::string_view key) {
    return where.empty() ? std::string(key) : where + "." + std::string(key);
  }
  // Fails on a key of t that is not one of `keys`.
  void only(const toml::table& t, const std::string& where, std::initializer_list<std::string_view> keys) {
    for (auto&& [k, v] : t)
      if (std::find(keys.begin(), keys.end(), k.str()) == keys.end())
        fail(k.source().begin.line, "unknown key '" + path_of(where, k.str()) + "'");
  }
};

}  // namespace aikid::synthesis::detail
