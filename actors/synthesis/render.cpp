// Rendering: the documented context (synthesis.hpp §4) as an mstch node tree,
// then mstch with escaping off (this is text, not HTML).
#include <cstdio>
#include <mutex>

#include <mstch/mstch.hpp>

#include "actors/synthesis/template_set.hpp"

namespace aikid::synthesis {

namespace {

void escape_off() {
  static std::once_flag once;
  std::call_once(once, [] { mstch::config::escape = [](const std::string& s) { return s; }; });
}

struct words {
  const char* weekday[7];
  const char* month[12];
  const char* daypart[4];  // morning afternoon evening night
};
const words kEnglish{{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"},
                     {"January", "February", "March", "April", "May", "June", "July", "August",
                      "September", "October", "November", "December"},
                     {"morning", "afternoon", "evening", "night"}};
const words kNorwegian{{"søndag", "mandag", "tirsdag", "onsdag", "torsdag", "fredag", "lørdag"},
                       {"januar", "februar", "mars", "april", "mai", "juni", "juli", "august",
                        "september", "oktober", "november", "desember"},
                       {"morgen", "ettermiddag", "kveld", "natt"}};

int daypart_of(int hour) {
  if (hour >= 5 && hour < 12) return 0;
  if (hour >= 12 && hour < 18) return 1;
  if (hour >= 18 && hour < 23) return 2;
  return 3;
}

std::string two(int v) {
  char b[8];
  std::snprintf(b, sizeof b, "%02d", v);
  return b;
}

std::string relation_words(const std::string& r) {
  std::string s = r;
  for (char& c : s)
    if (c == '_') c = ' ';
  return s;
}

mstch::map fact_node(const fact& f, const zone& z) {
  mstch::map m{{"subject", f.subject},
               {"relation", relation_words(f.relation)},
               {"object", f.object},
               {"text", f.subject + " " + relation_words(f.relation) + " " + f.object},
               {"depth", f.depth}};
  if (f.due_ms) {
    auto lt = zone_local(z, *f.due_ms);
    m.emplace("due", std::to_string(lt.year) + "-" + two(lt.month) + "-" + two(lt.day) + " " +
                         two(lt.hour) + ":" + two(lt.minute));
    m.emplace("due_time", two(lt.hour) + ":" + two(lt.minute));
  } else {
    // Always present: a missing key would resolve to the root's `due` list.
    m.emplace("due", std::string());
    m.emplace("due_time", std::string());
  }
  return m;
}

mstch::map entity_node(const linked_entity& le, const zone& z) {
  mstch::array aliases;
  for (const auto& a : le.ent.aliases) aliases.emplace_back(a);
  mstch::array facts;
  facts.reserve(le.facts.size());
  for (const auto& f : le.facts) facts.emplace_back(fact_node(f, z));
  const bool has = !facts.empty();
  return mstch::map{{"id", std::to_string(le.ent.id)},
                    {"name", le.ent.name},
                    {"type", le.ent.type},
                    {"aliases", std::move(aliases)},
                    {"has_facts", has},
                    {"facts", std::move(facts)}};
}

std::string trim_text(std::string s) {
  const char* ws = " \t\r\n";
  auto b = s.find_first_not_of(ws);
  if (b == std::string::npos) return {};
  auto e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

}  // namespace

expected<rendered> template_render(const template_set& s, std::size_t index, const render_input& in) {
  if (index >= s.defs.size()) {
    return error{errc::bad_request, "template index " + std::to_string(index) + " is out of range"};
  }
  escape_off();
  const template_def& def = s.defs[index];
  static const zone_ptr utc = *zone_open("UTC");
  const zone& z = in.tz ? *in.tz : *utc;
  const words& w = def.lang == "no" ? kNorwegian : kEnglish;

  // Only the root names this template reads are built (found at load time).
  const auto& used = s.used_roots[index];
  auto uses = [&](const char* k) { return used.count(k) != 0; };
  std::size_t n_facts = 0;
  for (const auto& le : in.entities) n_facts += le.facts.size();

  mstch::map ctx{{"text", std::string(in.text)},
                 {"user", std::string(in.user)},
                 {"lang", def.lang.empty() ? std::string("en") : def.lang},
                 {"topic", in.entities.empty() ? std::string() : in.entities.front().ent.name},
                 {"has_entities", !in.entities.empty()},
                 {"has_facts", n_facts > 0},
                 {"has_due", !in.due.empty()},
                 {"has_memories", !in.memories.empty()},
                 {"has_turns", !in.turns.empty()}};
  if (uses("now")) {
    const auto lt = zone_local(z, in.now_ms);
    ctx.emplace("now", mstch::map{{"date", std::to_string(lt.year) + "-" + two(lt.month) + "-" + two(lt.day)},
                                  {"time", two(lt.hour) + ":" + two(lt.minute)},
                                  {"datetime", lt.iso},
                                  {"weekday", std::string(w.weekday[lt.weekday])},
                                  {"month", std::string(w.month[lt.month - 1])},
                                  {"day", lt.day},
                                  {"year", lt.year},
                                  {"tz", lt.zone_name},
                                  {"daypart", std::string(w.daypart[daypart_of(lt.hour)])}});
  }
  if (uses("entity") && !in.entities.empty()) ctx.emplace("entity", entity_node(in.entities.front(), z));
  if (uses("entities")) {
    mstch::array entities;
    for (const auto& le : in.entities) entities.emplace_back(entity_node(le, z));
    ctx.emplace("entities", std::move(entities));
  }
  if (uses("facts")) {
    mstch::array facts;
    facts.reserve(n_facts);
    for (const auto& le : in.entities)
      for (const auto& f : le.facts) facts.emplace_back(fact_node(f, z));
    ctx.emplace("facts", std::move(facts));
  }
  if (uses("due")) {
    mstch::array due;
    for (const auto& f : in.due) due.emplace_back(fact_node(f, z));
    ctx.emplace("due", std::move(due));
  }
  if (uses("memories")) {
    mstch::array memories;
    for (const auto& m : in.memories) {
      char sc[32];
      std::snprintf(sc, sizeof sc, "%.2f", double(m.score));
      memories.emplace_back(mstch::map{{"id", std::to_string(m.id)}, {"text", m.text}, {"score", std::string(sc)}});
    }
    ctx.emplace("memories", std::move(memories));
  }
  if (uses("turns")) {
    mstch::array turns;
    for (const auto& t : in.turns) {
      turns.emplace_back(mstch::map{{"role", t.role}, {"text", t.text}, {"is_user", t.role == "user"}});
    }
    ctx.emplace("turns", std::move(turns));
  }
  if (in.status && uses("status")) {
    const auto& st = *in.status;
    ctx.emplace("status", mstch::map{{"version", st.version},
                                     {"uptime", st.uptime},
                                     {"model", st.model},
                                     {"entities", std::to_string(st.entities)},
                                     {"relations", std::to_string(st.relations)},
                                     {"templates", std::to_string(st.templates)},
                                     {"memories", std::to_string(st.memories)}});
  }
  const mstch::node root{std::move(ctx)};
  rendered out;
  out.mode = def.mode;
  try {
    if (def.mode == template_mode::answer) {
      out.text = trim_text(mstch::render(def.body, root));
    } else {
      out.system = trim_text(mstch::render(def.system, root));
      out.user = trim_text(mstch::render(def.user, root));
    }
  } catch (const std::exception& e) {
    return error{errc::internal, "template '" + def.name + "' (" + def.file + "): render: " + e.what()};
  }
  return out;
}

}  // namespace aikid::synthesis
