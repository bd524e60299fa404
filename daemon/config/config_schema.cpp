// The key registry: key constructors and lookup. The list of every key is
// assembled in daemon/config_keys.cpp from each part's own declaration.
#include "daemon/config/config.hpp"

#include <set>

namespace aikid::config {

key_spec key_bool(std::string key, bool def, std::string help) {
  key_spec k;
  k.key = std::move(key); k.type = kind::boolean; k.def = def; k.help = std::move(help);
  k.min = 1; k.max = 0;
  return k;
}

key_spec key_int(std::string key, std::int64_t def, std::int64_t lo, std::int64_t hi, std::string help) {
  key_spec k;
  k.key = std::move(key); k.type = kind::integer; k.def = def; k.help = std::move(help);
  k.min = static_cast<double>(lo); k.max = static_cast<double>(hi);
  return k;
}

key_spec key_real(std::string key, double def, double lo, double hi, std::string help) {
  key_spec k;
  k.key = std::move(key); k.type = kind::real; k.def = def; k.help = std::move(help);
  k.min = lo; k.max = hi;
  return k;
}

key_spec key_string(std::string key, std::string def, std::string help) {
  key_spec k;
  k.key = std::move(key); k.type = kind::string; k.def = std::move(def); k.help = std::move(help);
  k.min = 1; k.max = 0;
  return k;
}

key_spec key_path(std::string key, std::string def, std::string help) {
  key_spec k = key_string(std::move(key), std::move(def), std::move(help));
  k.type = kind::path;
  return k;
}

schema::schema(std::vector<key_spec> keys) : keys_(std::move(keys)) {
  for (std::size_t i = 0; i < keys_.size(); ++i) index_.emplace(keys_[i].key, i);
}

const key_spec* schema::find(std::string_view key) const {
  auto it = index_.find(key);
  return it == index_.end() ? nullptr : &keys_[it->second];
}

std::vector<std::string> schema::sections() const {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const auto& k : keys_) {
    auto s = k.key.substr(0, k.key.find('.'));
    if (seen.insert(s).second) out.push_back(s);
  }
  return out;
}

const value& values::at(std::string_view key) const { return m_.at(std::string(key)); }

std::map<std::string, value> values::section(std::string_view name) const {
  std::map<std::string, value> out;
  std::string prefix = std::string(name) + ".";
  for (auto it = m_.lower_bound(prefix); it != m_.end() && it->first.rfind(prefix, 0) == 0; ++it)
    out.insert(*it);
  return out;
}

values config_load_defaults(const schema& s) {
  values v;
  v.source = "<defaults>";
  for (const auto& k : s.keys()) v.set(k.key, k.def);
  return v;
}

std::vector<std::string> config_diff(const values& a, const values& b) {
  std::vector<std::string> out;
  for (const auto& [k, va] : a.all()) {
    if (!b.has(k) || !(b.at(k) == va)) out.push_back(k);
  }
  return out;
}

}  // namespace aikid::config
