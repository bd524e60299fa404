// The `filter` of memory.search and memory.list:
//   {"field": value}  or  {"field": {"in": [values]}}, fields AND-combined,
//   on a memory's meta. Values are JSON scalars (string, number, bool, null);
//   a meta value that is an array matches when one of its elements does.
#include <cmath>

#include "actors/memory/memory_internal.hpp"

namespace aikid::memory {

static bool is_scalar(const nlohmann::json& v) {
  return v.is_string() || v.is_number() || v.is_boolean() || v.is_null();
}

std::string filter_value_key(const nlohmann::json& v) {
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15)
      return "n" + std::to_string(static_cast<std::int64_t>(d));
    return "n" + v.dump();
  }
  if (v.is_number()) return "n" + v.dump();
  return v.dump();  // strings keep their quotes: "1" differs from 1
}

expected<filter> filter_parse(const nlohmann::json& j) {
  filter f;
  if (j.is_null()) return f;
  if (!j.is_object()) return error{errc::bad_request, "filter: must be an object of field conditions"};
  for (const auto& [field, cond] : j.items()) {
    filter_clause c;
    c.field = field;
    if (cond.is_object()) {
      if (cond.size() != 1 || !cond.contains("in"))
        return error{errc::bad_request, "filter." + field + ": an object condition must be {\"in\": [values]}"};
      const auto& in = cond["in"];
      if (!in.is_array())
        return error{errc::bad_request, "filter." + field + ".in: must be an array of values"};
      for (const auto& v : in) {
        if (!is_scalar(v))
          return error{errc::bad_request,
                       "filter." + field + ".in: values must be strings, numbers, booleans or null"};
        c.keys.push_back(filter_value_key(v));
      }
    } else if (is_scalar(cond)) {
      c.keys.push_back(filter_value_key(cond));
    } else {
      return error{errc::bad_request,
                   "filter." + field + ": value must be a string, number, boolean, null or {\"in\": [...]}"};
    }
    f.clauses.push_back(std::move(c));
  }
  return f;
}

static bool clause_match(const filter_clause& c, const nlohmann::json& v) {
  if (v.is_array()) {
    for (const auto& e : v)
      if (is_scalar(e) && clause_match(c, e)) return true;
    return false;
  }
  if (!is_scalar(v)) return false;
  const std::string key = filter_value_key(v);
  for (const auto& k : c.keys)
    if (k == key) return true;
  return false;
}

bool filter_match(const filter& f, const nlohmann::json& meta) {
  for (const auto& c : f.clauses) {
    if (!meta.is_object()) return false;
    auto it = meta.find(c.field);
    if (it == meta.end() || !clause_match(c, *it)) return false;
  }
  return true;
}

void filter_meta_keys(const nlohmann::json& meta,
                      const std::function<void(const std::string&, const std::string&)>& fn) {
  if (!meta.is_object()) return;
  for (const auto& [field, v] : meta.items()) {
    if (is_scalar(v)) {
      fn(field, filter_value_key(v));
    } else if (v.is_array()) {
      std::unordered_set<std::string> seen;
      for (const auto& e : v)
        if (is_scalar(e)) {
          std::string k = filter_value_key(e);
          if (seen.insert(k).second) fn(field, k);
        }
    }
  }
}

}  // namespace aikid::memory
