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
// Adding an op: one row in `ops` below, plus its handler in the actor the row
// names (its if-chain on request_msg::op), plus its section in docs/protocol.md
// and a method in the bridge (both are tested).
//
// Table of contents
//   op_class, op_classes     the admission classes: name, default in-flight limit
//   n_op_classes, class_limits   the class count; one limit per class
//   op_server                which part serves an op (the ingress thread or an actor)
//   op_info, ops             the table
//   op_find, op_row          name → row: nullptr for an unknown op / at compile time
//   op_class_name, op_server_name, op_class_default_limits
//   op_list_next             walks a row's comma-separated field lists
//   op_class_summary         the ops of a class, short ("memory.*"): the limit key's help
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
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

// clang-format off
inline constexpr op_info ops[] = {
  // name               class                server                 reads  embeds   fields → reply
  {"perceive",          op_class::perceive,  op_server::perception, false, "",      "text,user?,source?,meta?",
                                                                                    "percept_id,duplicate?"},
  {"memory.add",        op_class::memory,    op_server::memory,     false, "text",  "text,user?,meta?,vector?,dedup?,created?,updated?,history?",
                                                                                    "memory_id,deduplicated"},
  {"memory.search",     op_class::memory,    op_server::memory,     true,  "query", "query?,vector?,top_k?,user?,filter?,since?,until?",
                                                                                    "hits,reindex?"},
  {"memory.get",        op_class::memory,    op_server::memory,     true,  "",      "memory_id", "memory"},
  {"memory.update",     op_class::memory,    op_server::memory,     false, "text",  "memory_id,text?,meta?,vector?",
                                                                                    "updated,memory_id"},
  {"memory.delete",     op_class::memory,    op_server::memory,     false, "",      "memory_id", "deleted,memory_id"},
  {"memory.list",       op_class::memory,    op_server::memory,     true,  "",      "user?,filter?,limit?,offset?",
                                                                                    "memories,total"},
  {"memory.history",    op_class::memory,    op_server::memory,     true,  "",      "memory_id", "events"},
  {"memory.delete_all", op_class::memory,    op_server::memory,     false, "",      "user", "deleted"},
  {"kg.add",            op_class::kg,        op_server::synthesis,  false, "",      "triples,user?", "added"},
  {"kg.query",          op_class::kg,        op_server::synthesis,  true,  "",      "entity,depth?,user?", "facts"},
  {"kg.delete",         op_class::kg,        op_server::synthesis,  false, "",      "entity?,triple?,user?", "deleted"},
  {"kg.entities",       op_class::kg,        op_server::synthesis,  true,  "",      "prefix?,limit?,user?", "entities"},
  {"generate",          op_class::generate,  op_server::inference,  true,  "",
   "prompt?,messages?,max_tokens?,stream?,temperature?,top_p?,min_p?,top_k?,repeat_penalty?,frequency_penalty?,"
   "presence_penalty?,penalty_last_n?,seed?,stop?,schema?",
                                                                                    "text,tokens,timings,finish_reason,seed"},
  {"ping",              op_class::control,   op_server::ingress,    true,  "",      "", "pong,version,boot_id"},
  {"cancel",            op_class::control,   op_server::inference,  true,  "",      "target", "cancelled"},
  {"embed",             op_class::embed,     op_server::embedder,   true,  "",      "texts", "vectors,dim,truncated,model"},
  {"tokenize",          op_class::embed,     op_server::inference,  true,  "",      "text", "tokens"},
  {"model.info",        op_class::control,   op_server::inference,  true,  "",      "", "models"},
  {"reminder.list",     op_class::kg,        op_server::synthesis,  true,  "",      "user,all?", "reminders,timezone"},
  {"reminder.snooze",   op_class::kg,        op_server::synthesis,  false, "",      "user,reminder_id,minutes?,until?",
                                                                                    "reminder"},
  {"reminder.done",     op_class::kg,        op_server::synthesis,  false, "",      "user,reminder_id", "reminder"},
  {"reminder.delete",   op_class::kg,        op_server::synthesis,  false, "",      "user,reminder_id", "deleted,reminder_id"},
  {"user.timezone",     op_class::kg,        op_server::synthesis,  false, "",      "user,timezone?", "user,timezone,source"},
};
// clang-format on

/// The row of op `name`; nullptr when there is none (the parser's unknown_op).
constexpr const op_info* op_find(std::string_view name) {
  for (const auto& o : ops)
    if (o.name == name) return &o;
  return nullptr;
}

/// The row of op `name`, found by the compiler: a name not in the table does
/// not compile. For code that names one op (the OpenAI API's generate, embed).
consteval const op_info& op_row(std::string_view name) {
  const op_info* o = op_find(name);
  if (!o) throw "ipc/ops.hpp: no such op";  // not a constant expression: the compile fails here
  return *o;
}

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
    for (const auto& o : ops)
      if (o.name.find('.') != std::string_view::npos && family(o.name) == fam) {
        if (o.cls != c) return false;
        ++n;
      }
    return n > 1;
  };
  std::string seen;  // families written as family.* (each followed by '\n')
  for (const auto& o : ops) {
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

// ---- what the compiler checks of the table -----------------------------------
namespace detail {
constexpr bool ops_consistent() {
  for (std::size_t i = 0; i < std::size(op_classes); ++i)
    if (static_cast<std::size_t>(op_classes[i].cls) != i || op_classes[i].default_limit < 1) return false;
  for (std::size_t i = 0; i < std::size(ops); ++i) {
    const op_info& o = ops[i];
    if (o.name.empty() || static_cast<std::size_t>(o.cls) >= n_op_classes) return false;
    for (std::size_t j = i + 1; j < std::size(ops); ++j)
      if (ops[j].name == o.name) return false;  // one row per op
    // the field embedded is a field of the op, and only memory embeds
    if (!o.embeds.empty() && (o.server != op_server::memory || !op_list_has(o.fields, o.embeds))) return false;
    if (o.reply.empty()) return false;
  }
  return true;
}
}  // namespace detail
static_assert(detail::ops_consistent(), "ipc/ops.hpp: a class out of order, an op twice, or a bad `embeds`");

}  // namespace aikid::wire
