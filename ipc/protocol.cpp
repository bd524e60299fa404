// Wire protocol v1: parsing and validating request frames, building replies.
#include "ipc/protocol.hpp"
#include "common/utf8.hpp"

#include <simdjson.h>

#include <cmath>

namespace aikid::wire {

// ---- the frame's JSON ---------------------------------------------------
// simdjson parses the frame and its DOM is copied into nlohmann's json, which
// the actors read: a memory.search or memory.add with a 384-float vector
// (~4.8 KB) takes ~18 µs this way and ~64 µs with nlohmann's parser, whose
// number parsing (strtod on a copied token) is most of it. Whatever simdjson
// refuses (bad JSON, an integer beyond 64 bits, a number beyond a double, a
// lone surrogate) is parsed again by nlohmann, whose answer — a value or its
// error — stands. So every value and every message is what nlohmann alone
// gives (tests/ipc/test_protocol.cpp and the wire fuzzer compare the two);
// the one difference is an integer "-0", which comes out unsigned (simdjson
// does not keep the sign of an integer zero; the value is 0 either way).

namespace {

// nlohmann's number kinds: a non-negative integer is unsigned.
json json_from_dom(simdjson::dom::element e) {
  using kind = simdjson::dom::element_type;
  switch (e.type()) {
    case kind::OBJECT: {
      json o = json::object();
      for (auto field : simdjson::dom::object(e)) o[std::string(field.key)] = json_from_dom(field.value);
      return o;
    }
    case kind::ARRAY: {
      const simdjson::dom::array a(e);
      json out = json::array();
      auto& items = out.get_ref<json::array_t&>();
      items.reserve(a.size());
      for (auto x : a) items.push_back(json_from_dom(x));
      return out;
    }
    case kind::STRING: return std::string(std::string_view(e));
    case kind::INT64: {
      const std::int64_t i = std::int64_t(e);
      return i >= 0 ? json(static_cast<std::uint64_t>(i)) : json(i);
    }
    case kind::UINT64: return std::uint64_t(e);
    case kind::DOUBLE: return double(e);
    case kind::BOOL: return bool(e);
    case kind::NULL_VALUE: return nullptr;
  }
  return nullptr;
}

// The frame as JSON; throws nlohmann's json::exception when it is not JSON.
json frame_json(std::string_view frame) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(frame.data(), frame.size()).get(root) == simdjson::SUCCESS) return json_from_dom(root);
  return json::parse(frame.begin(), frame.end());
}

// The top-level "id" of a frame too deep to build a value from: nlohmann's
// SAX parser keeps its nesting on a heap vector (no recursion), so the
// depth error's reply can still carry the client's token.
struct top_level_id final : json::json_sax_t {
  std::size_t depth = 0;
  bool at_id = false;
  std::optional<std::string> id;
  bool leaf() {
    at_id = false;
    return true;
  }
  bool null() override { return leaf(); }
  bool boolean(bool) override { return leaf(); }
  bool number_integer(number_integer_t) override { return leaf(); }
  bool number_unsigned(number_unsigned_t) override { return leaf(); }
  bool number_float(number_float_t, const string_t&) override { return leaf(); }
  bool string(string_t& v) override {
    if (at_id) id = v;
    return leaf();
  }
  bool binary(binary_t&) override { return leaf(); }
  bool start_object(std::size_t) override { return leaf(), ++depth, true; }
  bool key(string_t& k) override {
    at_id = depth == 1 && k == "id";
    return true;
  }
  bool end_object() override { return --depth, true; }
  bool start_array(std::size_t) override { return leaf(), ++depth, true; }
  bool end_array() override { return --depth, true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }
};

}  // namespace

op_class protocol_op_class(std::string_view op) {
  const op_info* o = op_find(op);
  return o ? o->cls : op_class::control;
}

namespace {
json field_list_json(std::string_view list) {
  json out = json::array();
  std::size_t at = 0;
  for (auto item = op_list_next(list, at); !item.empty(); item = op_list_next(list, at)) {
    const bool optional = item.back() == '?';
    out.push_back({{"name", std::string(optional ? item.substr(0, item.size() - 1) : item)}, {"optional", optional}});
  }
  return out;
}
}  // namespace

json ops_json() {
  json classes = json::array();
  for (const auto& c : op_classes) {
    json names = json::array();
    for (const auto& o : op_table())
      if (o.cls == c.cls) names.push_back(std::string(o.name));
    classes.push_back({{"name", std::string(c.name)},
                       {"limit_key", "ipc.max_inflight_" + std::string(c.name)},
                       {"default_limit", c.default_limit},
                       {"ops", std::move(names)}});
  }
  json rows = json::array();
  for (const auto& o : op_table())
    rows.push_back({{"name", std::string(o.name)},
                    {"class", std::string(op_class_name(o.cls))},
                    {"server", std::string(op_server_name(o.server))},
                    {"reads_only", o.reads_only},
                    {"embeds", o.embeds.empty() ? json() : json(std::string(o.embeds))},
                    {"fields", field_list_json(o.fields)},
                    {"reply", field_list_json(o.reply)}});
  return {{"version", version}, {"classes", std::move(classes)}, {"ops", std::move(rows)}};
}

bool utf8_valid(std::string_view s, std::size_t* bad_at) {
  const std::ptrdiff_t bad = utf8_first_invalid(s);
  if (bad >= 0 && bad_at) *bad_at = static_cast<std::size_t>(bad);
  return bad < 0;
}

expected<request> protocol_parse_request(std::string_view frame, std::size_t max_bytes, std::string* id_out,
                                         int max_depth) {
  if (frame.size() > max_bytes)
    return error{errc::too_large, "request is " + std::to_string(frame.size()) + " bytes; the limit is " +
                                      std::to_string(max_bytes)};
  std::size_t bad = 0;
  if (!utf8_valid(frame, &bad))
    return error{errc::bad_json, "request is not valid UTF-8 (byte " + std::to_string(bad) + ")"};
  if (auto deep = json_depth_check(frame, max_depth, "ipc.max_json_depth"); !deep) {
    top_level_id sax;
    json::sax_parse(frame.begin(), frame.end(), &sax, json::input_format_t::json, false);
    if (sax.id && id_out) *id_out = *sax.id;
    return deep.error();
  }
  request r;
  try {
    r.body = frame_json(frame);
  } catch (const json::exception& e) {
    // parse_error, and out_of_range for a number too large for a double (1e400)
    return error{errc::bad_json, std::string("request is not JSON: ") + e.what()};
  }
  if (!r.body.is_object()) return error{errc::bad_json, "request must be a JSON object"};
  r.text.assign(frame.data(), frame.size());
  if (auto it = r.body.find("id"); it != r.body.end()) {
    if (!it->is_string()) return error{errc::bad_request, "id: must be a string"};
    r.id = it->get<std::string>();
    if (id_out) *id_out = r.id;
  }
  auto v = r.body.find("v");
  if (v == r.body.end()) return error{errc::bad_request, "v: missing (protocol version, must be 1)"};
  if (!v->is_number_integer() || v->get<std::int64_t>() != version)
    return error{errc::bad_request, "v: unsupported protocol version (this daemon speaks 1)"};
  auto op = r.body.find("op");
  if (op == r.body.end()) return error{errc::bad_request, "op: missing"};
  if (!op->is_string()) return error{errc::bad_request, "op: must be a string"};
  r.op = op->get<std::string>();
  if (auto d = r.body.find("deadline_ms"); d != r.body.end()) {
    // JSON numbers ≥ 0 parse as unsigned: compare without converting, so a
    // value ≥ 2^63 does not wrap into range.
    const bool positive = d->is_number_unsigned() ? d->get<std::uint64_t>() > 0
                                                  : d->is_number_integer() && d->get<std::int64_t>() > 0;
    if (!positive) return error{errc::bad_request, "deadline_ms: must be a positive integer (milliseconds)"};
    if (d->is_number_unsigned() ? d->get<std::uint64_t>() > std::uint64_t(max_deadline_ms)
                                : d->get<std::int64_t>() > max_deadline_ms)
      return error{errc::bad_request, "deadline_ms: " + d->dump() + " is more than " +
                                          std::to_string(max_deadline_ms) + " (one day)"};
    r.deadline_ms = d->get<std::int64_t>();
  }
  r.info = op_find(r.op);
  if (!r.info) return error{errc::unknown_op, "unknown op \"" + r.op + "\""};
  return r;
}

std::string protocol_reply_ok(std::string_view id, json fields) {
  json out = json::object();
  out["v"] = version;
  out["id"] = std::string(id);
  out["ok"] = true;
  if (fields.is_object())
    for (auto& [k, v] : fields.items()) out[k] = std::move(v);
  return json_dump(out);
}

std::string protocol_reply_error(std::string_view id, const error& e) {
  json out = {{"v", version},
              {"id", std::string(id)},
              {"ok", false},
              {"error", {{"code", std::string(errc_name(e.code))}, {"message", e.message}}}};
  return json_dump(out);
}

namespace {
error bad(const char* name, const std::string& what) { return error{errc::bad_request, std::string(name) + ": " + what}; }
}  // namespace

expected<std::string> field_string(const json& o, const char* name) {
  auto it = o.find(name);
  if (it == o.end()) return bad(name, "missing");
  if (!it->is_string()) return bad(name, "must be a string");
  return it->get<std::string>();
}

expected<std::optional<std::string>> field_opt_string(const json& o, const char* name) {
  auto it = o.find(name);
  if (it == o.end() || it->is_null()) return std::optional<std::string>{};
  if (!it->is_string()) return bad(name, "must be a string");
  return std::optional<std::string>{it->get<std::string>()};
}

expected<std::optional<std::int64_t>> field_opt_int(const json& o, const char* name, std::int64_t lo,
                                                    std::int64_t hi) {
  auto it = o.find(name);
  if (it == o.end() || it->is_null()) return std::optional<std::int64_t>{};
  if (!it->is_number_integer()) return bad(name, "must be an integer");
  // a JSON integer >= 0 is unsigned: one above INT64_MAX must not wrap negative
  if (it->is_number_unsigned() && it->get<std::uint64_t>() > std::uint64_t(INT64_MAX))
    return bad(name, it->dump() + " is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  auto v = it->get<std::int64_t>();
  if (v < lo || v > hi) return bad(name, std::to_string(v) + " is out of range [" + std::to_string(lo) + ", " +
                                             std::to_string(hi) + "]");
  return std::optional<std::int64_t>{v};
}

expected<std::optional<double>> field_opt_number(const json& o, const char* name, double lo, double hi) {
  auto it = o.find(name);
  if (it == o.end() || it->is_null()) return std::optional<double>{};
  if (!it->is_number()) return bad(name, "must be a number");
  double v = it->get<double>();
  if (!std::isfinite(v) || v < lo || v > hi) return bad(name, "out of range");
  return std::optional<double>{v};
}

expected<std::optional<bool>> field_opt_bool(const json& o, const char* name) {
  auto it = o.find(name);
  if (it == o.end() || it->is_null()) return std::optional<bool>{};
  if (!it->is_boolean()) return bad(name, "must be a boolean");
  return std::optional<bool>{it->get<bool>()};
}

expected<std::optional<json>> field_opt_object(const json& o, const char* name) {
  auto it = o.find(name);
  if (it == o.end() || it->is_null()) return std::optional<json>{};
  if (!it->is_object()) return bad(name, "must be an object");
  return std::optional<json>{*it};
}

expected<std::optional<std::vector<float>>> field_opt_vector(const json& o, const char* name) {
  auto it = o.find(name);
  if (it == o.end() || it->is_null()) return std::optional<std::vector<float>>{};
  if (!it->is_array()) return bad(name, "must be an array of numbers");
  std::vector<float> v;
  v.reserve(it->size());
  for (std::size_t i = 0; i < it->size(); ++i) {
    const auto& x = (*it)[i];
    if (!x.is_number()) return bad(name, "element " + std::to_string(i) + " is not a number");
    double d = x.get<double>();
    if (!std::isfinite(d)) return bad(name, "element " + std::to_string(i) + " is not finite");
    v.push_back(static_cast<float>(d));
  }
  return std::optional<std::vector<float>>{std::move(v)};
}

}  // namespace aikid::wire
