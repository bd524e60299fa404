// aikid configuration: a registry of typed keys and the values loaded for them.
//
// Table of contents
//   key_spec, value, kind      one key: type, default, range, live or not
//   schema                     every key of every part (daemon, ipc, admin, actors, log)
//   values                     the loaded values, keyed "section.key"
//   config_load_file           TOML file + --set overrides → values, or file:line: key: error
//   config_load_defaults       the registry's defaults alone
//   config_parse_value         one key's text ("42", "true", "x") → value, validated
//   config_render_toml         the registry as a commented TOML file (--print-default-config)
//   config_render_markdown     the registry as docs/configuration.md (--print-config-doc)
//   config_diff                which keys differ between two value sets
//
// The registry is the single source of every default: config/aikid.toml is its
// rendering, checked by a test.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/error.hpp"

namespace aikid::config {

enum class kind { boolean, integer, real, string, path };

using value = std::variant<bool, std::int64_t, double, std::string>;

/// One configuration key. `path` keys are strings resolved against the config
/// file's folder when relative (empty stays empty).
struct key_spec {
  std::string key;          // "section.name"
  kind type = kind::string;
  value def;                // default
  double min = 0, max = 0;  // inclusive range for integer/real; ignored if min > max
  std::vector<std::string> choices;  // allowed strings, if non-empty
  bool live = false;        // may change at run time (admin set, SIGHUP)
  std::string help;         // one line, shown in the default config and `help`

  key_spec& range(double lo, double hi) { min = lo; max = hi; return *this; }
  key_spec& one_of(std::vector<std::string> c) { choices = std::move(c); return *this; }
  key_spec& is_live() { live = true; return *this; }
};

key_spec key_bool(std::string key, bool def, std::string help);
key_spec key_int(std::string key, std::int64_t def, std::int64_t lo, std::int64_t hi, std::string help);
key_spec key_real(std::string key, double def, double lo, double hi, std::string help);
key_spec key_string(std::string key, std::string def, std::string help);
key_spec key_path(std::string key, std::string def, std::string help);

/// Every key aikid knows, in section order. Built once from each part's
/// declaration (daemon_config_keys(), the actors' *_config_keys(), …).
class schema {
 public:
  static const schema& get();
  explicit schema(std::vector<key_spec> keys);
  const key_spec* find(std::string_view key) const;   // nullptr if unknown
  const std::vector<key_spec>& keys() const { return keys_; }
  std::vector<std::string> sections() const;

 private:
  std::vector<key_spec> keys_;
  std::map<std::string, std::size_t, std::less<>> index_;
};

/// A complete set of values (every key of the schema present).
class values {
 public:
  bool has(std::string_view key) const { return m_.find(std::string(key)) != m_.end(); }
  const value& at(std::string_view key) const;   // throws std::out_of_range for an unknown key (a bug)
  bool get_bool(std::string_view key) const { return std::get<bool>(at(key)); }
  std::int64_t get_int(std::string_view key) const { return std::get<std::int64_t>(at(key)); }
  double get_real(std::string_view key) const { return std::get<double>(at(key)); }
  const std::string& get_string(std::string_view key) const { return std::get<std::string>(at(key)); }
  void set(std::string key, value v) { m_[std::move(key)] = std::move(v); }
  const std::map<std::string, value>& all() const { return m_; }
  /// The values of one section ("memory" → every "memory.*" key).
  std::map<std::string, value> section(std::string_view name) const;
  /// Where the values came from ("<defaults>" or the file path).
  std::filesystem::path source;

 private:
  std::map<std::string, value> m_;
};

/// The registry's defaults.
values config_load_defaults(const schema& s = schema::get());

/// Loads `file` (TOML) over the defaults, then applies `overrides`
/// ("section.key=value", as given to --set). Relative `path` keys resolve
/// against the file's folder (overrides: against the working directory).
/// Fails (errc::bad_request) with "file:line: key: what is wrong" for a TOML
/// syntax error, an unknown section or key, a wrong type or an out-of-range
/// value; "--set: key: what is wrong" for a bad override.
expected<values> config_load_file(const std::filesystem::path& file,
                                  const std::vector<std::string>& overrides,
                                  const schema& s = schema::get());

/// Applies --set overrides to an existing set of values (no file).
expected<values> config_apply_overrides(values base, const std::vector<std::string>& overrides,
                                        const schema& s = schema::get());

/// Parses `text` as the value of `key` and checks type, range and choices.
/// Fails (errc::bad_request) with "key: what is wrong" (unknown key, bad type,
/// out of range, not one of the choices).
expected<value> config_parse_value(const schema& s, std::string_view key, std::string_view text);

/// A value as text, the way `get` shows it and `set` accepts it.
std::string config_value_text(const value& v);

/// The registry rendered as a TOML file with one comment per key.
std::string config_render_toml(const schema& s = schema::get());

/// The registry as Markdown, one table per section (--print-config-doc:
/// docs/configuration.md is this, checked by a test).
std::string config_render_markdown(const schema& s = schema::get());

/// Keys whose values differ between a and b.
std::vector<std::string> config_diff(const values& a, const values& b);

}  // namespace aikid::config
