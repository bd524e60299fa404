// Rendering: the documented context (synthesis.hpp §4) as mstch nodes, then
// mstch with escaping off (this is text, not HTML).
//
// The context is built lazily, and only the fields the template reads
// (mustache_check found them when it loaded: template_set::used). Why: mstch
// copies every node it pushes for a section — the whole subtree, into a
// temporary node and again into its context stack — and copies the root when
// it starts. A map holding an entity with its facts was deep-copied several
// times per render. So the nodes that hold other nodes (the root, each
// entity) are mstch::objects here: a shared_ptr, copied for the price of a
// reference count, whose fields are computed when mstch asks for them. Leaves
// (a fact, a memory, a turn, now, status) are small maps holding only the
// fields the template reads. Leaving the other fields out changes no lookup:
// mstch resolves a name at the innermost node that has it, the checker
// resolved it the same way, and every field it resolved is present
// (tests/synthesis/test_template_render.cpp compares with the full context).
#include <cstdio>
#include <iterator>
#include <mutex>
#include <optional>

#include <mstch/mstch.hpp>

#include "actors/synthesis/template_set.hpp"

namespace aikid::synthesis {

// ---- field numbering (bits of detail::context_use), in schema order ----------

namespace {

enum root_field {
  r_text, r_user, r_lang, r_topic, r_has_memories, r_has_entities, r_has_facts, r_has_due, r_has_turns,
  r_now, r_entity, r_entities, r_facts, r_due, r_memories, r_turns, r_status, r_count
};
const char* const kRootNames[] = {"text", "user", "lang", "topic", "has_memories", "has_entities",
                                  "has_facts", "has_due", "has_turns", "now", "entity", "entities",
                                  "facts", "due", "memories", "turns", "status"};
enum now_field { n_date, n_time, n_datetime, n_weekday, n_month, n_day, n_year, n_tz, n_daypart, n_count };
const char* const kNowNames[] = {"date", "time", "datetime", "weekday", "month", "day", "year", "tz", "daypart"};
enum entity_field { e_id, e_name, e_type, e_aliases, e_has_facts, e_facts, e_count };
const char* const kEntityNames[] = {"id", "name", "type", "aliases", "has_facts", "facts"};
enum fact_field { f_subject, f_relation, f_object, f_text, f_due, f_due_time, f_depth, f_count };
const char* const kFactNames[] = {"subject", "relation", "object", "text", "due", "due_time", "depth"};
enum memory_field { m_id, m_text, m_score, m_count };
const char* const kMemoryNames[] = {"id", "text", "score"};
enum turn_field { t_role, t_text, t_is_user, t_count };
const char* const kTurnNames[] = {"role", "text", "is_user"};
enum status_field { s_version, s_uptime, s_entities, s_relations, s_templates, s_memories, s_model, s_count };
const char* const kStatusNames[] = {"version", "uptime", "entities", "relations", "templates", "memories", "model"};

constexpr bool has(std::uint32_t mask, int field) { return (mask >> field) & 1u; }
constexpr std::uint32_t all(int count) { return (1u << count) - 1u; }

template <std::size_t N>
int field_index(const char* const (&names)[N], std::string_view f) {
  for (std::size_t i = 0; i < N; ++i)
    if (f == names[i]) return static_cast<int>(i);
  return -1;
}

}  // namespace

namespace detail {

expected<context_use> context_use_from(const std::set<std::string>& paths) {
  context_use u;
  for (const auto& p : paths) {
    const auto dot = p.rfind('.');
    const std::string_view parent = dot == std::string::npos ? std::string_view() : std::string_view(p).substr(0, dot);
    const std::string_view field = dot == std::string::npos ? std::string_view(p) : std::string_view(p).substr(dot + 1);
    int i = -1;
    std::uint32_t* mask = nullptr;
    if (parent.empty()) i = field_index(kRootNames, field), mask = &u.root;
    else if (parent == "now") i = field_index(kNowNames, field), mask = &u.now;
    else if (parent == "status") i = field_index(kStatusNames, field), mask = &u.status;
    else if (parent == "entity") i = field_index(kEntityNames, field), mask = &u.entity;
    else if (parent == "entities[]") i = field_index(kEntityNames, field), mask = &u.entities;
    else if (parent == "entity.facts[]") i = field_index(kFactNames, field), mask = &u.entity_facts;
    else if (parent == "entities[].facts[]") i = field_index(kFactNames, field), mask = &u.entities_facts;
    else if (parent == "facts[]") i = field_index(kFactNames, field), mask = &u.facts;
    else if (parent == "due[]") i = field_index(kFactNames, field), mask = &u.due;
    else if (parent == "memories[]") i = field_index(kMemoryNames, field), mask = &u.memories;
    else if (parent == "turns[]") i = field_index(kTurnNames, field), mask = &u.turns;
    if (i < 0 || !mask) return error{errc::internal, "rendering context: no field '" + p + "'"};
    *mask |= 1u << i;
  }
  return u;
}

}  // namespace detail

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

// "07" for 7: two digits, no printf.
std::string two(int v) {
  const char b[2] = {char('0' + (v / 10) % 10), char('0' + v % 10)};
  return std::string(b, 2);
}

std::string relation_words(const std::string& r) {
  std::string s = r;
  for (char& c : s)
    if (c == '_') c = ' ';
  return s;
}

// What every node builder reads: the caller's input and the settings of this render.
struct env {
  const render_input& in;
  const zone& z;
  const words& w;
  std::string lang;
  const detail::context_use& use;
};

// ---- leaves: small maps with the fields in `mask` -----------------------------

mstch::map fact_map(const fact& f, const zone& z, std::uint32_t mask) {
  mstch::map m;
  if (has(mask, f_subject)) m.emplace("subject", f.subject);
  if (has(mask, f_relation)) m.emplace("relation", relation_words(f.relation));
  if (has(mask, f_object)) m.emplace("object", f.object);
  if (has(mask, f_text) && !f.said.empty()) {  // understanding's own sentence for it
    m.emplace("text", f.said);
  } else if (has(mask, f_text)) {
    std::string t;
    t.reserve(f.subject.size() + f.relation.size() + f.object.size() + 2);
    t.append(f.subject).append(1, ' ');
    for (char c : f.relation) t.push_back(c == '_' ? ' ' : c);
    t.append(1, ' ').append(f.object);
    m.emplace("text", std::move(t));
  }
  if (has(mask, f_depth)) m.emplace("depth", f.depth);
  if (has(mask, f_due) || has(mask, f_due_time)) {
    // Always present when read: a missing key would resolve to the root's `due` list.
    std::string due, due_time;
    if (f.due_ms && f.said.empty()) {  // a sentence says its own time
      const auto lt = detail::zone_fields(z, *f.due_ms);
      due_time.append(two(lt.hour)).append(1, ':').append(two(lt.minute));
      due.append(std::to_string(lt.year)).append(1, '-').append(two(lt.month)).append(1, '-').append(two(lt.day));
      due.append(1, ' ').append(due_time);
    }
    if (has(mask, f_due)) m.emplace("due", std::move(due));
    if (has(mask, f_due_time)) m.emplace("due_time", std::move(due_time));
  }
  return m;
}

mstch::array fact_array(std::span<const fact> facts, const zone& z, std::uint32_t mask) {
  mstch::array a;
  a.reserve(facts.size());
  for (const auto& f : facts) a.emplace_back(fact_map(f, z, mask));
  return a;
}

mstch::map now_map(const env& e, std::uint32_t mask) {
  // zone_local's day bounds and iso cost two local→UTC conversions: only when read.
  const auto lt = has(mask, n_datetime) || has(mask, n_tz) ? zone_local(e.z, e.in.now_ms)
                                                           : detail::zone_fields(e.z, e.in.now_ms);
  mstch::map m;
  if (has(mask, n_date)) m.emplace("date", std::to_string(lt.year) + "-" + two(lt.month) + "-" + two(lt.day));
  if (has(mask, n_time)) m.emplace("time", two(lt.hour) + ":" + two(lt.minute));
  if (has(mask, n_datetime)) m.emplace("datetime", lt.iso);
  if (has(mask, n_weekday)) m.emplace("weekday", std::string(e.w.weekday[lt.weekday]));
  if (has(mask, n_month)) m.emplace("month", std::string(e.w.month[lt.month - 1]));
  if (has(mask, n_day)) m.emplace("day", lt.day);
  if (has(mask, n_year)) m.emplace("year", lt.year);
  if (has(mask, n_tz)) m.emplace("tz", lt.zone_name);
  if (has(mask, n_daypart)) m.emplace("daypart", std::string(e.w.daypart[daypart_of(lt.hour)]));
  return m;
}

mstch::map memory_map(const memory_hit& mh, std::uint32_t mask) {
  mstch::map m;
  if (has(mask, m_id)) m.emplace("id", std::to_string(mh.id));
  if (has(mask, m_text)) m.emplace("text", mh.text);
  if (has(mask, m_score)) {
    char sc[32];
    std::snprintf(sc, sizeof sc, "%.2f", double(mh.score));
    m.emplace("score", std::string(sc));
  }
  return m;
}

mstch::map turn_map(const turn& t, std::uint32_t mask) {
  mstch::map m;
  if (has(mask, t_role)) m.emplace("role", t.role);
  if (has(mask, t_text)) m.emplace("text", t.text);
  if (has(mask, t_is_user)) m.emplace("is_user", t.role == "user");
  return m;
}

mstch::map status_map(const status_info& st, std::uint32_t mask) {
  mstch::map m;
  if (has(mask, s_version)) m.emplace("version", st.version);
  if (has(mask, s_uptime)) m.emplace("uptime", st.uptime);
  if (has(mask, s_entities)) m.emplace("entities", std::to_string(st.entities));
  if (has(mask, s_relations)) m.emplace("relations", std::to_string(st.relations));
  if (has(mask, s_templates)) m.emplace("templates", std::to_string(st.templates));
  if (has(mask, s_memories)) m.emplace("memories", std::to_string(st.memories));
  if (has(mask, s_model)) m.emplace("model", st.model);
  return m;
}

template <class T, class F>
mstch::array array_of(std::span<const T> items, F&& make) {
  mstch::array a;
  a.reserve(items.size());
  for (const auto& x : items) a.emplace_back(make(x));
  return a;
}

// ---- containers: objects whose fields are computed on demand -------------------

// Registers the methods of `self` whose bit is set in `mask` (table in field order).
template <class S, std::size_t N>
std::map<std::string, mstch::node (S::*)()> methods_of(const std::pair<const char*, mstch::node (S::*)()> (&table)[N],
                                                         std::uint32_t mask) {
  std::map<std::string, mstch::node (S::*)()> m;
  for (std::size_t i = 0; i < N; ++i)
    if (has(mask, static_cast<int>(i))) m.emplace(table[i].first, table[i].second);
  return m;
}

class entity_object : public mstch::object {
 public:
  entity_object(const linked_entity& le, const zone& z, std::uint32_t mask, std::uint32_t fact_mask)
      : le_(le), z_(z), fact_mask_(fact_mask) {
    using E = entity_object;
    static const std::pair<const char*, mstch::node (E::*)()> table[] = {
        {"id", &E::id},           {"name", &E::name},           {"type", &E::type},
        {"aliases", &E::aliases}, {"has_facts", &E::has_facts}, {"facts", &E::facts}};
    register_methods(this, methods_of(table, mask));
  }

 private:
  mstch::node id() { return std::to_string(le_.ent.id); }
  mstch::node name() { return le_.ent.name; }
  mstch::node type() { return le_.ent.type; }
  mstch::node aliases() {
    return array_of(std::span<const std::string>(le_.ent.aliases), [](const std::string& a) { return mstch::node(a); });
  }
  mstch::node has_facts() { return !le_.facts.empty(); }
  mstch::node facts() { return fact_array(le_.facts, z_, fact_mask_); }

  const linked_entity& le_;
  const zone& z_;
  std::uint32_t fact_mask_;
};

mstch::node entity_node(const linked_entity& le, const zone& z, std::uint32_t mask, std::uint32_t fact_mask) {
  return std::shared_ptr<mstch::object>(std::make_shared<entity_object>(le, z, mask, fact_mask));
}

class root_object : public mstch::object {
 public:
  explicit root_object(const env& e) : e_(e) {
    using R = root_object;
    static const std::pair<const char*, mstch::node (R::*)()> table[] = {
        {"text", &R::text},         {"user", &R::user},
        {"lang", &R::lang},         {"topic", &R::topic},
        {"has_memories", &R::has_memories}, {"has_entities", &R::has_entities},
        {"has_facts", &R::has_facts},       {"has_due", &R::has_due},
        {"has_turns", &R::has_turns},       {"now", &R::now},
        {"entity", &R::entity},     {"entities", &R::entities},
        {"facts", &R::facts},       {"due", &R::due},
        {"memories", &R::memories}, {"turns", &R::turns},
        {"status", &R::status}};
    static_assert(std::size(table) == r_count);
    register_methods(this, methods_of(table, e.use.root));
  }

 private:
  const render_input& in() const { return e_.in; }
  mstch::node text() { return std::string(in().text); }
  mstch::node user() { return std::string(in().user); }
  mstch::node lang() { return e_.lang; }
  mstch::node topic() { return in().entities.empty() ? std::string() : in().entities.front().ent.name; }
  mstch::node has_memories() { return !in().memories.empty(); }
  mstch::node has_entities() { return !in().entities.empty(); }
  mstch::node has_facts() {
    for (const auto& le : in().entities)
      if (!le.facts.empty()) return true;
    return false;
  }
  mstch::node has_due() { return !in().due.empty(); }
  mstch::node has_turns() { return !in().turns.empty(); }
  mstch::node now() {  // read once per {{now.x}}: built once
    if (!now_) now_ = now_map(e_, e_.use.now);
    return *now_;
  }
  mstch::node entity() {  // read by {{#entity}} and {{^entity}}: built once
    if (!entity_) {
      entity_ = in().entities.empty() ? mstch::node()
                                      : entity_node(in().entities.front(), e_.z, e_.use.entity, e_.use.entity_facts);
    }
    return *entity_;
  }
  mstch::node entities() {
    return array_of(in().entities, [&](const linked_entity& le) {
      return entity_node(le, e_.z, e_.use.entities, e_.use.entities_facts);
    });
  }
  mstch::node facts() {
    mstch::array a;
    for (const auto& le : in().entities)
      for (const auto& f : le.facts) a.emplace_back(fact_map(f, e_.z, e_.use.facts));
    return a;
  }
  mstch::node due() { return fact_array(in().due, e_.z, e_.use.due); }
  mstch::node memories() {
    return array_of(in().memories, [&](const memory_hit& m) { return memory_map(m, e_.use.memories); });
  }
  mstch::node turns() {
    return array_of(in().turns, [&](const turn& t) { return turn_map(t, e_.use.turns); });
  }
  mstch::node status() { return in().status ? mstch::node(status_map(*in().status, e_.use.status)) : mstch::node(); }

  const env& e_;
  std::optional<mstch::node> now_, entity_;
};

// The full context, every field, built eagerly as plain maps: the reference
// the lazy context is tested against (detail::template_render_full).
mstch::node full_context(const env& e) {
  const auto& in = e.in;
  auto entity_map = [&](const linked_entity& le) {
    mstch::array aliases;
    for (const auto& a : le.ent.aliases) aliases.emplace_back(a);
    return mstch::map{{"id", std::to_string(le.ent.id)},
                      {"name", le.ent.name},
                      {"type", le.ent.type},
                      {"aliases", std::move(aliases)},
                      {"has_facts", !le.facts.empty()},
                      {"facts", fact_array(le.facts, e.z, all(f_count))}};
  };
  std::size_t n_facts = 0;
  for (const auto& le : in.entities) n_facts += le.facts.size();
  mstch::map ctx{{"text", std::string(in.text)},
                 {"user", std::string(in.user)},
                 {"lang", e.lang},
                 {"topic", in.entities.empty() ? std::string() : in.entities.front().ent.name},
                 {"has_entities", !in.entities.empty()},
                 {"has_facts", n_facts > 0},
                 {"has_due", !in.due.empty()},
                 {"has_memories", !in.memories.empty()},
                 {"has_turns", !in.turns.empty()},
                 {"now", now_map(e, all(n_count))},
                 {"entities", array_of(in.entities, entity_map)},
                 {"due", fact_array(in.due, e.z, all(f_count))},
                 {"memories", array_of(in.memories, [](const memory_hit& m) { return memory_map(m, all(m_count)); })},
                 {"turns", array_of(in.turns, [](const turn& t) { return turn_map(t, all(t_count)); })}};
  if (!in.entities.empty()) ctx.emplace("entity", entity_map(in.entities.front()));
  mstch::array facts;
  for (const auto& le : in.entities)
    for (const auto& f : le.facts) facts.emplace_back(fact_map(f, e.z, all(f_count)));
  ctx.emplace("facts", std::move(facts));
  if (in.status) ctx.emplace("status", status_map(*in.status, all(s_count)));
  return ctx;
}

// Trims white space at both ends in place (no copy of the rendered text).
std::string trim_text(std::string s) {
  const char* ws = " \t\r\n";
  const auto e = s.find_last_not_of(ws);
  if (e == std::string::npos) return {};
  s.erase(e + 1);
  s.erase(0, s.find_first_not_of(ws));
  return s;
}

expected<rendered> render_with(const template_set& s, std::size_t index, const render_input& in, bool full) {
  if (index >= s.defs.size()) {
    return error{errc::bad_request, "template index " + std::to_string(index) + " is out of range"};
  }
  escape_off();
  const template_def& def = s.defs[index];
  static const zone_ptr utc = *zone_open("UTC");
  const env e{in, in.tz ? *in.tz : *utc, def.lang == "no" ? kNorwegian : kEnglish,
              def.lang.empty() ? std::string("en") : def.lang, s.used[index]};
  const mstch::node root =
      full ? full_context(e) : mstch::node(std::shared_ptr<mstch::object>(std::make_shared<root_object>(e)));
  rendered out;
  out.mode = def.mode;
  try {
    if (def.mode == template_mode::answer) {
      out.text = trim_text(mstch::render(def.body, root));
    } else {
      out.system = trim_text(mstch::render(def.system, root));
      out.user = trim_text(mstch::render(def.user, root));
    }
  } catch (const std::exception& ex) {
    return error{errc::internal, "template '" + def.name + "' (" + def.file + "): render: " + ex.what()};
  }
  return out;
}

}  // namespace

expected<rendered> template_render(const template_set& s, std::size_t index, const render_input& in) {
  return render_with(s, index, in, false);
}

namespace detail {
expected<rendered> template_render_full(const template_set& s, std::size_t index, const render_input& in) {
  return render_with(s, index, in, true);
}
}  // namespace detail

}  // namespace aikid::synthesis
