// TOML → values: every key checked against the registry; errors carry
// file:line: key.
#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include <charconv>
#include <cmath>
#include <sstream>

#include "daemon/config/config.hpp"

namespace aikid::config {
namespace {

std::string type_name(kind k) {
  switch (k) {
    case kind::boolean: return "a boolean";
    case kind::integer: return "an integer";
    case kind::real: return "a number";
    case kind::string: return "a string";
    case kind::path: return "a path (string)";
  }
  return "?";
}

std::string fmt_num(double d) {
  std::ostringstream os;
  // range test first: converting a double outside int64's range is undefined
  if (std::abs(d) < 1e15 && d == static_cast<double>(static_cast<std::int64_t>(d))) os << static_cast<std::int64_t>(d);
  else os << d;
  return os.str();
}

// Checks range and choices of an already well-typed value.
expected<value> check(const key_spec& k, value v) {
  if (k.min <= k.max) {
    double d = 0;
    if (auto* i = std::get_if<std::int64_t>(&v)) d = static_cast<double>(*i);
    if (auto* r = std::get_if<double>(&v)) {
      if (!std::isfinite(*r)) return error{errc::bad_request, k.key + ": must be a finite number"};
      d = *r;
    }
    if (std::holds_alternative<std::int64_t>(v) || std::holds_alternative<double>(v)) {
      if (d < k.min || d > k.max)
        return error{errc::bad_request, k.key + ": " + fmt_num(d) + " is out of range [" + fmt_num(k.min) +
                                            ", " + fmt_num(k.max) + "]"};
    }
  }
  if (!k.choices.empty()) {
    const auto& s = std::get<std::string>(v);
    bool ok = false;
    std::string all;
    for (const auto& c : k.choices) {
      ok = ok || c == s;
      all += (all.empty() ? "" : ", ") + c;
    }
    if (!ok) return error{errc::bad_request, k.key + ": \"" + s + "\" is not one of: " + all};
  }
  return v;
}

expected<value> from_node(const key_spec& k, const toml::node& n) {
  switch (k.type) {
    case kind::boolean:
      if (auto b = n.value_exact<bool>()) return check(k, *b);
      break;
    case kind::integer:
      if (auto i = n.value_exact<std::int64_t>()) return check(k, *i);
      break;
    case kind::real:
      if (auto r = n.value_exact<double>()) return check(k, *r);
      if (auto i = n.value_exact<std::int64_t>()) return check(k, static_cast<double>(*i));
      break;
    case kind::string:
    case kind::path:
      if (auto s = n.value_exact<std::string>()) return check(k, *s);
      break;
  }
  return error{errc::bad_request, k.key + ": must be " + type_name(k.type)};
}

void resolve_path(const key_spec& k, value& v, const std::filesystem::path& base) {
  if (k.type != kind::path) return;
  auto& s = std::get<std::string>(v);
  if (s.empty()) return;
  std::filesystem::path p(s);
  if (p.is_relative()) s = (base / p).lexically_normal().string();
}

}  // namespace

expected<value> config_parse_value(const schema& s, std::string_view key, std::string_view text) {
  const key_spec* k = s.find(key);
  if (!k) return error{errc::bad_request, std::string(key) + ": unknown key"};
  std::string t(text);
  switch (k->type) {
    case kind::boolean:
      if (t == "true" || t == "on" || t == "yes" || t == "1") return check(*k, true);
      if (t == "false" || t == "off" || t == "no" || t == "0") return check(*k, false);
      return error{errc::bad_request, k->key + ": \"" + t + "\" is not a boolean (true/false)"};
    case kind::integer: {
      std::int64_t i = 0;
      auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), i);
      if (ec != std::errc{} || p != t.data() + t.size() || t.empty())
        return error{errc::bad_request, k->key + ": \"" + t + "\" is not an integer"};
      return check(*k, i);
    }
    case kind::real: {
      double d = 0;
      auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), d);
      if (ec != std::errc{} || p != t.data() + t.size() || t.empty())
        return error{errc::bad_request, k->key + ": \"" + t + "\" is not a number"};
      return check(*k, d);
    }
    case kind::string:
    case kind::path:
      if (t.size() >= 2 && t.front() == '"' && t.back() == '"') t = t.substr(1, t.size() - 2);
      return check(*k, t);
  }
  return error{errc::internal, k->key + ": unhandled type"};
}

std::string config_value_text(const value& v) {
  struct {
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(std::int64_t i) const { return std::to_string(i); }
    std::string operator()(double d) const { return fmt_num(d); }
    std::string operator()(const std::string& s) const { return s; }
  } vis;
  return std::visit(vis, v);
}

expected<values> config_apply_overrides(values out, const std::vector<std::string>& overrides, const schema& s) {
  for (const auto& o : overrides) {
    auto eq = o.find('=');
    if (eq == std::string::npos || eq == 0)
      return error{errc::bad_request, "--set: \"" + o + "\": expected section.key=value"};
    std::string key = o.substr(0, eq);
    auto v = config_parse_value(s, key, std::string_view(o).substr(eq + 1));
    if (!v) return error{errc::bad_request, "--set: " + v.error().message};
    resolve_path(*s.find(key), *v, std::filesystem::current_path());
    out.set(key, std::move(*v));
  }
  return out;
}

expected<values> config_load_file(const std::filesystem::path& file, const std::vector<std::string>& overrides,
                                  const schema& s) {
  values out = config_load_defaults(s);
  out.source = file;
  const std::string fname = file.string();
  toml::table tbl;
  try {
    tbl = toml::parse_file(fname);
  } catch (const toml::parse_error& e) {
    return error{errc::bad_request, fname + ":" + std::to_string(e.source().begin.line) + ": " +
                                        std::string(e.description())};
  }
  auto base = std::filesystem::absolute(file).parent_path();
  auto at = [&](const toml::node& n) { return fname + ":" + std::to_string(n.source().begin.line) + ": "; };
  for (auto&& [sec_key, sec_node] : tbl) {
    std::string sec(sec_key.str());
    auto* sec_tbl = sec_node.as_table();
    if (!sec_tbl) return error{errc::bad_request, at(sec_node) + sec + ": expected a [" + sec + "] section"};
    bool known_section = false;
    for (const auto& k : s.keys()) known_section = known_section || k.key.rfind(sec + ".", 0) == 0;
    if (!known_section) return error{errc::bad_request, at(sec_node) + sec + ": unknown section"};
    for (auto&& [k, node] : *sec_tbl) {
      std::string key = sec + "." + std::string(k.str());
      const key_spec* spec = s.find(key);
      if (!spec) return error{errc::bad_request, at(node) + key + ": unknown key"};
      auto v = from_node(*spec, node);
      if (!v) return error{errc::bad_request, at(node) + v.error().message};
      resolve_path(*spec, *v, base);
      out.set(key, std::move(*v));
    }
  }
  return config_apply_overrides(std::move(out), overrides, s);
}

std::string config_render_toml(const schema& s) {
  std::ostringstream os;
  os << "# aikid configuration. Generated from the key registry by `aikid --print-default-config`;\n"
        "# every key is listed with its default. Relative paths resolve against this file's folder.\n"
        "# Keys marked (live) can be changed at run time with `aikictl set KEY VALUE` or SIGHUP.\n";
  std::string current;
  for (const auto& k : s.keys()) {
    auto dot = k.key.find('.');
    std::string sec = k.key.substr(0, dot);
    if (sec != current) {
      os << "\n[" << sec << "]\n";
      current = sec;
    }
    os << "# " << k.help;
    if (k.min <= k.max && k.type == kind::integer)
      os << " [" << static_cast<std::int64_t>(k.min) << ", " << static_cast<std::int64_t>(k.max) << "]";
    if (k.min <= k.max && k.type == kind::real) os << " [" << fmt_num(k.min) << ", " << fmt_num(k.max) << "]";
    if (!k.choices.empty()) {
      os << " (";
      for (std::size_t i = 0; i < k.choices.size(); ++i) os << (i ? "|" : "") << k.choices[i];
      os << ")";
    }
    if (k.live) os << " (live)";
    os << "\n" << k.key.substr(dot + 1) << " = ";
    if (auto* str = std::get_if<std::string>(&k.def)) {
      // A TOML basic string: JSON's escapes (\", \\, \n, \uXXXX) are valid TOML.
      os << nlohmann::json(*str).dump();
    } else if (auto* d = std::get_if<double>(&k.def)) {
      std::string t = fmt_num(*d);
      if (t.find_first_of(".e") == std::string::npos) t += ".0";
      os << t;
    } else {
      os << config_value_text(k.def);
    }
    os << "\n";
  }
  return os.str();
}

std::string config_render_markdown(const schema& s) {
  // A table cell: no line breaks, and a '|' of the text is not a column.
  auto cell = [](const std::string& t) {
    std::string out;
    for (char c : t) {
      if (c == '|') out += "\\|";
      else if (c == '\n') out += ' ';
      else out += c;
    }
    return out;
  };
  auto type_name = [](kind k) {
    switch (k) {
      case kind::boolean: return "bool";
      case kind::integer: return "integer";
      case kind::real: return "real";
      case kind::string: return "string";
      case kind::path: return "path";
    }
    return "?";
  };
  std::ostringstream os;
  os << "# Configuration\n\n"
        "<!-- Generated from the key registry by `aikid --print-config-doc > docs/configuration.md`;\n"
        "     do not edit by hand: config_test checks that this file is the registry rendered. -->\n\n"
        "Every key aikid reads, with its type, default and range, as the daemon's registry declares them\n"
        "(the same registry renders config/aikid.toml: `aikid --print-default-config`). A file names keys\n"
        "by section (`[memory]` then `dedup_threshold = 0.9`); `--set memory.dedup_threshold=0.9` overrides\n"
        "one at start. Relative paths resolve against the config file's folder. A key marked live can be\n"
        "changed at run time with `aikictl set KEY VALUE` or by editing the file and sending SIGHUP (a\n"
        "reload puts a value `set` at run time back to the file's and logs that it did); any other key\n"
        "needs a restart. `aikid --check-config -c FILE` validates a file; an invalid one stops the start\n"
        "with exit status 2 (naming file:line and key).\n";
  std::string current;
  for (const auto& k : s.keys()) {
    auto dot = k.key.find('.');
    std::string sec = k.key.substr(0, dot);
    if (sec != current) {
      os << "\n## [" << sec << "]\n\n| key | type | default | range | live | meaning |\n|---|---|---|---|---|---|\n";
      current = sec;
    }
    std::string def;
    if (auto* str = std::get_if<std::string>(&k.def)) def = nlohmann::json(*str).dump();
    else if (auto* d = std::get_if<double>(&k.def)) def = fmt_num(*d);
    else def = config_value_text(k.def);
    std::string range;
    if (k.min <= k.max && k.type == kind::integer)
      range = "[" + std::to_string(static_cast<std::int64_t>(k.min)) + ", " + std::to_string(static_cast<std::int64_t>(k.max)) + "]";
    if (k.min <= k.max && k.type == kind::real) range = "[" + fmt_num(k.min) + ", " + fmt_num(k.max) + "]";
    for (std::size_t i = 0; i < k.choices.size(); ++i) range += (i ? " \\| " : "") + ("`" + k.choices[i] + "`");
    os << "| `" << k.key << "` | " << type_name(k.type) << " | `" << cell(def) << "` | " << range << " | "
       << (k.live ? "yes" : "") << " | " << cell(k.help) << " |\n";
  }
  return os.str();
}

}  // namespace aikid::config
