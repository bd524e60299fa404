// The table of wire ops: one row for each op of protocol v1. Everything that
// must agree about an op reads it: the parser (an op not here is unknown_op),
// admission (its class and that class's in-flight limit, ipc.max_inflight_*),
// routing (actors/spawn.cpp's server_of), the memory actor's dispatch (reads
// only: served on its own thread; the field it embeds when no vector is
// given), synthesis's relink after a write, the number of classes and the
// ipc.max_inflight_* keys of the registry (daemon/config_keys.cpp).
// `aikid --print-ops` prints it as JSON (wire::ops_json, ipc/protocol.hpp);
// tests/python/test_ops_table.py checks the bridge's OPS, docs/protocol.md and
// the serving actors against it.
//
// The rows are in ipc/ops.cpp (a row changed there rebuilds that one file;
// this header, included everywhere, changes only with the types). Adding an
// op: one row there, plus its handler in the actor the row names (its
// if-chain on request_msg::op), plus its section in docs/protocol.md and a
// method in the bridge (both are tested).
//
// Table of contents
//   op_class, op_classes     the admission classes: name, default in-flight limit
//   n_op_classes, class_limits   the class count; one limit per class
//   op_server                which part serves an op (the ingress thread or an actor)
//   op_info, op_table        a row; the table (ipc/ops.cpp)
//   op_find, op_row          name → row: nullptr for an unknown op / aborts
//   op_class_name, op_server_name, op_class_default_limits
//   op_list_next             walks a row's comma-separated field lists
//   op_class_summary         the ops of a class, short ("memory.*"): the limit key's help
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace aikid::wire {

/// Admission classes: each has its own in-flight limit (ipc.max_inflight_<name>).
/// The order is the order of `op_classes` and of every per-class array.
enum class op_class : std::uint8_t { control, perceive, memory, kg, generate, embed };

struct op_class_info {
  op_class cls;
  std::string_view name;  // also the suffix of its limit key
  int default_limit;      // the default of ipc.max_inflight_<name>
};

inline constexpr op_class_info op_classes[] = {
    {op_class::control, "control", 64},   {op_class::perceive, "perceive", 64}, {op_class::memory, "memory", 256},
    {op_class::kg, "kg", 256},            {op_class::generate, "generate", 8},  {op_class::embed, "embed", 32},
};

inline constexpr std::size_t n_op_classes = std::size(op_classes);

/// One in-flight limit per class, indexed by op_class's value.
using class_limits = std::array<int, n_op_classes>;

/// Who serves an op: the ingress I/O thread itself, or an actor (the names
/// are actor_set::all()'s).
enum class op_server : std::uint8_t { ingress, perception, memory, synthesis, inference, embedder };

/// One op. `fields` and `reply` are comma-separated top-level keys (besides
/// v/op/id/deadline_ms, and v/id/ok in a reply); a trailing `?` marks one that
/// may be absent. docs/protocol.md gives each field's type, default, limits and
/// errors; the serving actor's handler is what checks them.
struct op_info {
  std::string_view name;
  op_class cls;
  op_server server;
  bool reads_only;          // changes no stored data (memory serves it on its own thread, synthesis does not relink)
  std::string_view embeds;  // the string field embedded when the request has no `vector` ("" = none)
  std::string_view fields;  // the request's fields
  std::string_view reply;   // the reply's fields
};

/// The table (ipc/ops.cpp), one row per op, in a stable order (the one
/// `aikid --print-ops` and the classes' help list them in).
std::span<const op_info> op_table();


/// The row of op `name`; nullptr when there is none (the parser's unknown_op).
const op_info* op_find(std::string_view name);

/// The row of op `name`, for code that names one op (the OpenAI API's
/// generate, embed, cancel). A name without a row is a bug: it aborts, naming
/// it (ipc_protocol_test and ipc_openai_http_test reach every such call).
const op_info& op_row(std::string_view name);

constexpr std::string_view op_class_name(op_class c) { return op_classes[static_cast<std::size_t>(c)].name; }

constexpr std::string_view op_server_name(op_server s) {
  switch (s) {
    case op_server::ingress: return "ingress";
    case op_server::perception: return "perception";
    case op_server::memory: return "memory";
    case op_server::synthesis: return "synthesis";
    case op_server::inference: return "inference";
    case op_server::embedder: return "embedder";
  }
  return "ingress";
}

constexpr class_limits op_class_default_limits() {
  class_limits out{};
  for (const auto& c : op_classes) out[static_cast<std::size_t>(c.cls)] = c.default_limit;
  return out;
}

/// Steps through a comma-separated list: the next item from `at` (which it
/// moves past the comma); "" when the list is done.
constexpr std::string_view op_list_next(std::string_view list, std::size_t& at) {
  if (at >= list.size()) return {};
  const std::size_t end = std::min(list.find(',', at), list.size());
  const std::string_view item = list.substr(at, end - at);
  at = end + 1;
  return item;
}

/// True if `list` holds `name`, optional (`name?`) or not.
constexpr bool op_list_has(std::string_view list, std::string_view name) {
  std::size_t at = 0;
  for (auto item = op_list_next(list, at); !item.empty(); item = op_list_next(list, at))
    if (item == name || (item.size() == name.size() + 1 && item.substr(0, name.size()) == name && item.back() == '?'))
      return true;
  return false;
}

/// The ops of class `c`, in table order, a family whose every op is in `c`
/// written once as `family.*`: "cancel, model.info, ping", "kg.*, reminder.*,
/// user.timezone". The help of the class's limit key.
inline std::string op_class_summary(op_class c) {
  std::string out;
  auto family = [](std::string_view name) { return name.substr(0, name.find('.')); };
  auto whole_family_in = [&](std::string_view fam) {
    int n = 0;
    for (const auto& o : op_table())
      if (o.name.find('.') != std::string_view::npos && family(o.name) == fam) {
        if (o.cls != c) return false;
        ++n;
      }
    return n > 1;
  };
  std::string seen;  // families written as family.* (each followed by '\n')
  for (const auto& o : op_table()) {
    if (o.cls != c) continue;
    std::string item(o.name);
    if (o.name.find('.') != std::string_view::npos && whole_family_in(family(o.name))) {
      const std::string fam(family(o.name));
      if (seen.find(fam + '\n') != std::string::npos) continue;
      seen += fam + '\n';
      item = fam + ".*";
    }
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

}  // namespace aikid::wire
