// The rows of the table of wire ops (ipc/ops.hpp says what reads them).
//
// Table of contents
//   ops               one row per op: name, class, server, reads only, embeds, fields → reply
//   ops_consistent    what the compiler checks of the rows (a static_assert)
//   op_table, op_find, op_row
//
// A row: {name, class, server, reads_only, embeds, "field,optional?,…", "reply,fields?"}.
// Adding an op is a row here plus its handler in the actor the row names;
// tests/python/test_ops_table.py then asks for its section in docs/protocol.md
// and a method of the bridge's.
#include "ipc/ops.hpp"

#include <cstdio>
#include <cstdlib>
#include <iterator>

namespace aikid::wire {

namespace {

// clang-format off
constexpr op_info ops[] = {
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
  {"memory.list",       op_class::memory,    op_server::memory,     true,  "",      "user?,filter?,limit?,offset?,since?,until?",
                                                                                    "memories,total"},
  {"memory.history",    op_class::memory,    op_server::memory,     true,  "",      "memory_id", "events"},
  {"memory.delete_all", op_class::memory,    op_server::memory,     false, "",      "user,since?,until?,filter?",
                                                                                    "deleted,graph,turns,reminders"},
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

// No op twice, the classes in their enum's order, a reply for every op, and
// `embeds` only on memory ops and naming one of the op's fields.
constexpr bool ops_consistent() {
  for (std::size_t i = 0; i < std::size(op_classes); ++i)
    if (static_cast<std::size_t>(op_classes[i].cls) != i || op_classes[i].default_limit < 1) return false;
  for (std::size_t i = 0; i < std::size(ops); ++i) {
    const op_info& o = ops[i];
    if (o.name.empty() || static_cast<std::size_t>(o.cls) >= n_op_classes || o.reply.empty()) return false;
    for (std::size_t j = i + 1; j < std::size(ops); ++j)
      if (ops[j].name == o.name) return false;
    if (!o.embeds.empty() && (o.server != op_server::memory || !op_list_has(o.fields, o.embeds))) return false;
  }
  return true;
}
static_assert(ops_consistent(), "ipc/ops.cpp: a class out of order, an op twice, no reply, or a bad `embeds`");

}  // namespace

std::span<const op_info> op_table() { return ops; }

const op_info* op_find(std::string_view name) {
  for (const auto& o : ops)
    if (o.name == name) return &o;
  return nullptr;
}

const op_info& op_row(std::string_view name) {
  if (const op_info* o = op_find(name)) return *o;
  std::fprintf(stderr, "aikid: bug: no op '%.*s' in ipc/ops.cpp\n", static_cast<int>(name.size()), name.data());
  std::abort();
}

}  // namespace aikid::wire
