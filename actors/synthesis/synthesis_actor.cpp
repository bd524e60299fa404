// synthesis: owns the knowledge graph, the templates and the conversation
// turns. Serves the kg.* ops; for each percept links entities, matches a
// template and renders the answer (published as the thought), or builds the
// prompt and hands it to inference. Detached: template (re)loads ask the
// embedder for example vectors and wait for them.
// Also: the learning path (each user percept goes to inference for facts, as
// JSON under a schema; the facts come back as a learn_msg and go into the
// graph), reminders (proactive's tick: relations whose due time has come) and
// reflections (proactive's reflect: a summary of each user's recent turns).
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/stateful_actor.hpp>

#include <spdlog/spdlog.h>

#include <map>
#include <set>

#include "actors/actor_kit.hpp"
#include "actors/inference/inference.hpp"
#include "actors/synthesis/synthesis.hpp"

namespace aikid {

std::vector<config::key_spec> synthesis_config_keys() {
  using namespace config;
  return {
      key_path("synthesis.templates", "templates", "folder of template TOML files"),
      key_real("synthesis.match_threshold", 0.55, 0.0, 1.0, "least score for a template to answer").is_live(),
      key_real("synthesis.keyword_boost", 0.25, 0.0, 1.0, "added to a template's score when a keyword occurs")
          .is_live(),
      key_int("synthesis.turns", 8, 0, 256,
              "recent conversation turns kept per user, in memory and in kg.sqlite (they survive a restart; "
              "lowering it deletes the older ones; memory.delete_all forgets a user's)")
          .is_live(),
      key_int("synthesis.fact_depth", 1, 1, 3, "knowledge-graph depth around linked entities").is_live(),
      key_string("synthesis.timezone", "",
                 "IANA time zone for dates and times in answers and reminders (\"\": the machine's, /etc/localtime); "
                 "a user's own zone (op user.timezone) wins"),
      key_path("synthesis.understanding", "understand",
               "folder of understanding's data: relations.toml and one <lang>.toml per language "
               "(docs/understanding.md); \"\" turns understanding off"),
      key_path("synthesis.time_words", "time",
               "folder of the time words and reminder phrases, one <lang>.toml per language (docs/reminders.md)"),
      key_string("synthesis.system_prompt", "You are AIKI, a helpful personal assistant.",
                 "system prompt when no template matches")
          .is_live(),
      key_int("synthesis.prompt_tokens", 1536, 64, 131072, "token budget of a prompt handed to the model").is_live(),
      key_int("synthesis.answer_tokens", 128, 1, 4096, "most tokens the model may generate for a percept").is_live(),
      key_real("synthesis.temperature", 0.0, 0.0, 100.0,
               "sampling temperature of the model's answer to a percept (0 = greedy; bench/results/model_answers.md)")
          .is_live(),
      key_real("synthesis.repeat_penalty", 1.1, 1.0, 10.0,
               "repetition penalty of the model's answer to a percept (llama.cpp's, over its last 64 tokens; 1 = off)")
          .is_live(),
      key_int("synthesis.prompt_turns", 0, 0, 256,
              "most recent conversation turns (a user or an assistant line each) put in the model's prompt, "
              "within its budget")
          .is_live(),
      key_real("synthesis.prompt_memory_score", 0.5, -1.0, 1.0,
               "least recall score of a memory put in the model's prompt")
          .is_live(),
      key_bool("synthesis.learn", true,
               "learning path: have the model extract facts from each user percept into the graph and memory")
          .is_live(),
      key_bool("synthesis.learn_from_templates", false,
               "also extract facts from percepts a template answered (questions and commands AIKI knows; "
               "each extraction costs the model ~1 s of a core)")
          .is_live(),
      key_int("synthesis.extract_tokens", 96, 16, 1024, "most tokens of one fact extraction").is_live(),
  };
}

namespace {

using json = kit::json;
namespace syn = synthesis;

struct synthesis_state {
  actor_env env;
  caf::actor embedder, inference;
  syn::kg_ptr graph;
  syn::linker_ptr links;
  syn::template_set_ptr templates;
  syn::turns_ptr conversation;
  syn::zone_ptr tz;
  // The generation model's tokenizer (same GGUF, same engine code), to count
  // a prompt's tokens; null when the model cannot load (then ~4 bytes/token).
  std::unique_ptr<inference::model> tokenizer;
  std::string down_reason, templates_error;
  kit::stage_stats compose;
  std::uint64_t answered = 0, prompted = 0, extractions = 0, learned_triples = 0, reminders = 0,
                reflections = 0, learn_errors = 0;
  std::set<std::string> users_since_reflection;  // users with new turns since the last reflection
  // Reminders said in words (docs/reminders.md): the words of each language,
  // the users' own zones, the clock (moved with admin `debug clock`).
  std::vector<syn::time_words_ptr> words;
  std::string words_error;
  std::map<std::string, syn::zone_ptr> user_zones;  // users with a zone of their own
  std::int64_t clock_offset_ms = 0;
  std::uint64_t reminders_made = 0, reminders_refused = 0, reminder_commands = 0;
  // Understanding (docs/understanding.md): statements become facts, questions are answered from them.
  syn::understanding_ptr und;
  syn::understand_state_ptr und_state = syn::understand_state_new();
  std::string und_error;
  std::map<std::string, std::uint64_t> understood;  // thoughts by source: understood, facts, memory, unknown, forgot, noted
  static inline const char* name = "synthesis";
};

using synthesis_actor = caf::stateful_actor<synthesis_state, caf::event_based_actor>;

// Template example vectors come from the embedder (a blocking ask: this actor
// is detached, and it only happens at start and on reload).
syn::embed_fn make_embed_fn(caf::actor_system& sys, caf::actor embedder) {
  return [&sys, embedder](const std::vector<std::string>& texts) -> expected<std::vector<std::vector<float>>> {
    caf::scoped_actor self{sys};
    expected<std::vector<std::vector<float>>> out{errc::unavailable, "embedder did not answer"};
    self->request(embedder, std::chrono::seconds(60), embed_atom_v, texts)
        .receive(
            [&](std::vector<float>& flat, std::string& model) {
              if (flat.empty() || flat.size() % texts.size() != 0) {
                out = error{errc::unavailable, "embedder is down: " + model};
                return;
              }
              std::size_t dim = flat.size() / texts.size();
              std::vector<std::vector<float>> rows;
              for (std::size_t i = 0; i < texts.size(); ++i)
                rows.emplace_back(flat.begin() + static_cast<std::ptrdiff_t>(i * dim),
                                  flat.begin() + static_cast<std::ptrdiff_t>((i + 1) * dim));
              out = std::move(rows);
            },
            [&](caf::error& e) { out = error{errc::unavailable, "embedder: " + sys.render(e)}; });
    return out;
  };
}

// Loads the template folder; on failure the old set stays and the reason is
// returned.
expected<void> load_templates(synthesis_actor* self) {
  auto& st = self->state;
  auto dir = st.env.cfg.get_string("synthesis.templates");
  if (dir.empty()) return {};
  auto set = syn::templates_load_dir(dir, make_embed_fn(self->system(), st.embedder));
  if (!set) {
    st.templates_error = set.error().message;
    return set.error();
  }
  st.templates = std::move(*set);
  st.templates_error.clear();
  return {};
}

syn::compose_settings settings_of(const config::values& c) {
  syn::compose_settings s;
  s.match.threshold = static_cast<float>(c.get_real("synthesis.match_threshold"));
  s.match.keyword_boost = static_cast<float>(c.get_real("synthesis.keyword_boost"));
  s.fact_depth = static_cast<int>(c.get_int("synthesis.fact_depth"));
  s.system_prompt = c.get_string("synthesis.system_prompt");
  s.budget.max_tokens = static_cast<int>(c.get_int("synthesis.prompt_tokens"));
  s.prompt_turns = static_cast<std::size_t>(c.get_int("synthesis.prompt_turns"));
  s.memory_min_score = static_cast<float>(c.get_real("synthesis.prompt_memory_score"));
  return s;
}

json facts_json(const std::vector<syn::fact>& facts) {
  json arr = json::array();
  for (const auto& f : facts) {
    json j = {{"id", f.id},         {"subject", f.subject}, {"relation", f.relation}, {"object", f.object},
              {"attrs", f.attrs},   {"depth", f.depth},     {"user", f.user}};
    arr.push_back(std::move(j));
  }
  return arr;
}

// Parses [[subject, relation, object, attrs?], …].
expected<std::vector<syn::triple>> parse_triples(const json& b) {
  auto it = b.find("triples");
  if (it == b.end()) return error{errc::bad_request, "triples: missing"};
  if (!it->is_array()) return error{errc::bad_request, "triples: must be an array of [subject, relation, object, attrs?]"};
  std::vector<syn::triple> out;
  for (std::size_t i = 0; i < it->size(); ++i) {
    const auto& t = (*it)[i];
    std::string where = "triples[" + std::to_string(i) + "]";
    if (!t.is_array() || t.size() < 3 || t.size() > 4)
      return error{errc::bad_request, where + ": must be [subject, relation, object, attrs?]"};
    for (int k = 0; k < 3; ++k)
      if (!t[k].is_string() || t[k].get<std::string>().empty())
        return error{errc::bad_request, where + "[" + std::to_string(k) + "]: must be a non-empty string"};
    syn::triple tr{t[0].get<std::string>(), t[1].get<std::string>(), t[2].get<std::string>(), json::object()};
    if (t.size() == 4) {
      if (!t[3].is_object()) return error{errc::bad_request, where + "[3]: attrs must be an object"};
      tr.attrs = t[3];
    }
    out.push_back(std::move(tr));
  }
  return out;
}

// Every kg op takes an optional string `user`: whose graph ("" or absent = the shared one).
void serve_kg(synthesis_state& st, const request_msg& r) {
  auto& out = *st.env.replies;
  const json& b = kit::body_of(r);
  auto user_field = wire::field_opt_string(b, "user");
  if (!user_field) return out.reply_error(r.ticket, user_field.error());
  const std::string user = user_field->value_or("");
  if (r.op == "kg.add") {
    auto triples = parse_triples(b);
    if (!triples) return out.reply_error(r.ticket, triples.error());
    auto n = syn::kg_add(*st.graph, *triples, user);
    return kit::reply(out, r.ticket, n, [](std::int64_t added) { return json{{"added", added}}; });
  }
  if (r.op == "kg.query") {
    auto ent = wire::field_string(b, "entity");
    if (!ent) return out.reply_error(r.ticket, ent.error());
    auto depth = wire::field_opt_int(b, "depth", 1, 3);
    if (!depth) return out.reply_error(r.ticket, depth.error());
    auto facts = syn::kg_query(*st.graph, *ent, static_cast<int>(depth->value_or(1)), user);
    return kit::reply(out, r.ticket, facts, [](const std::vector<syn::fact>& f) { return json{{"facts", facts_json(f)}}; });
  }
  if (r.op == "kg.delete") {
    if (b.contains("triple")) {
      json wrapped = {{"triples", json::array({b["triple"]})}};
      auto t = parse_triples(wrapped);
      if (!t) return out.reply_error(r.ticket, error{errc::bad_request, "triple: must be [subject, relation, object]"});
      auto n = syn::kg_delete_triple(*st.graph, t->front(), user);
      return kit::reply(out, r.ticket, n, [](std::int64_t d) { return json{{"deleted", d}}; });
    }
    auto ent = wire::field_string(b, "entity");
    if (!ent) return out.reply_error(r.ticket, error{errc::bad_request, "entity or triple: one is required"});
    auto n = syn::kg_delete_entity(*st.graph, *ent, user);
    return kit::reply(out, r.ticket, n, [](std::int64_t d) { return json{{"deleted", d}}; });
  }
  if (r.op == "kg.entities") {
    auto prefix = wire::field_opt_string(b, "prefix");
    if (!prefix) return out.reply_error(r.ticket, prefix.error());
    auto limit = wire::field_opt_int(b, "limit", 1, 10000);
    if (!limit) return out.reply_error(r.ticket, limit.error());
    auto ents = syn::kg_entities(*st.graph, prefix->value_or(""), static_cast<std::size_t>(limit->value_or(100)), user);
    return kit::reply(out, r.ticket, ents, [](const std::vector<syn::entity>& es) {
      json arr = json::array();
      for (const auto& e : es)
        arr.push_back({{"id", e.id}, {"name", e.name}, {"type", e.type}, {"aliases", e.aliases}, {"user", e.user}});
      return json{{"entities", std::move(arr)}};
    });
  }
  out.reply_error(r.ticket, error{errc::unknown_op, "synthesis: unknown op " + r.op});
}

// The linker sees every entity of every user (linker_find filters by user): rebuilt when the graph has changed.
void relink(synthesis_state& st) {
  if (st.graph && st.links && syn::linker_generation(*st.links) != syn::kg_stats_get(*st.graph).generation)
    st.links = syn::linker_build(*st.graph);
}

// ---- learning path ----------------------------------------------------------

// Facts as JSON: what the model must produce for an extraction (the mask makes
// any other output impossible).
constexpr const char* kFactsSchema =
    R"({"type":"object","properties":{"facts":{"type":"array","maxItems":4,"items":{"type":"object",)"
    R"("properties":{"subject":{"type":"string","maxLength":40},"relation":{"type":"string","maxLength":40},)"
    R"("object":{"type":"string","maxLength":60}},"required":["subject","relation","object"]}}},"required":["facts"]})";

// The extraction prompt: an instruction, worked examples, the user's text.
// (With SmolLM2-135M, four examples in the schema's property order gave
// usable triples where two did not; the Norwegian ones and the empty lists for
// a question, a negation and a hypothetical were added after it made "user
// lives in Oslo" of "Jeg bor ikke i Oslo". The prefix is cached in its own
// slot. Questions, negations and hypotheticals are also kept from extraction
// in code: syn::understand_skip_reason, over understanding's word lists.)
json extraction_messages(const std::string& text) {
  const char* sys =
      "You extract facts from what the user says, as JSON. A fact is a subject, a relation and an object. "
      "Use \"user\" for the person speaking. Only state facts the text says is true now; a question, a "
      "negation or something imagined gives an empty list.";
  const std::pair<const char*, const char*> examples[] = {
      {"My sister Kari lives in Bergen.",
       R"({"facts":[{"subject":"user","relation":"has sister","object":"Kari"},{"subject":"Kari","relation":"lives in","object":"Bergen"}]})"},
      {"What time is it?", R"({"facts":[]})"},
      {"Broren min Per bor i Trondheim.",
       R"({"facts":[{"subject":"user","relation":"has brother","object":"Per"},{"subject":"Per","relation":"lives in","object":"Trondheim"}]})"},
      {"Jeg bor ikke i Oslo.", R"({"facts":[]})"},
      {"I work at Equinor and my dog is called Bamse.",
       R"({"facts":[{"subject":"user","relation":"works at","object":"Equinor"},{"subject":"user","relation":"has dog","object":"Bamse"}]})"},
      {"If my sister lived in Bergen, I would visit her.", R"({"facts":[]})"},
      {"Jeg jobber på sykehuset og katten min heter Pus.",
       R"({"facts":[{"subject":"user","relation":"works at","object":"sykehuset"},{"subject":"user","relation":"has cat","object":"Pus"}]})"},
      {"Hvor bor Kari?", R"({"facts":[]})"},
      {"Anna is my daughter, she studies in Oslo.",
       R"({"facts":[{"subject":"user","relation":"has daughter","object":"Anna"},{"subject":"Anna","relation":"studies in","object":"Oslo"}]})"},
  };
  json msgs = json::array({{{"role", "system"}, {"content", sys}}});
  for (const auto& [u, a] : examples) {
    msgs.push_back({{"role", "user"}, {"content", u}});
    msgs.push_back({{"role", "assistant"}, {"content", a}});
  }
  msgs.push_back({{"role", "user"}, {"content", text}});
  return msgs;
}

// The learning path's triples (names already resolved by inference) with
// their provenance as attrs; a malformed entry is skipped.
std::vector<syn::triple> triples_of(const learn_msg& m) {
  std::vector<syn::triple> out;
  auto arr = json::parse(m.triples_json.empty() ? "[]" : m.triples_json, nullptr, false);
  if (!arr.is_array()) return out;
  for (const auto& t : arr) {
    if (!t.is_array() || t.size() != 3 || !t[0].is_string() || !t[1].is_string() || !t[2].is_string()) continue;
    out.push_back(syn::triple{t[0].get<std::string>(), t[1].get<std::string>(), t[2].get<std::string>(),
                              json{{"source", m.source}, {"percept_id", m.percept_id}}});
  }
  return out;
}

// ---- reminders said in words --------------------------------------------------

std::int64_t now_of(const synthesis_state& st) { return kit::unix_ms() + st.clock_offset_ms; }

const syn::zone& utc_zone() {
  static const syn::zone_ptr z = *syn::zone_open("UTC");
  return *z;
}

// The user's zone: their own (op user.timezone), else synthesis.timezone.
const syn::zone& zone_for(synthesis_state& st, const std::string& user) {
  if (auto it = st.user_zones.find(user); it != st.user_zones.end()) return *it->second;
  return st.tz ? *st.tz : utc_zone();
}

void load_user_zones(synthesis_state& st) {
  st.user_zones.clear();
  if (!st.graph) return;
  auto users = syn::user_settings_with(*st.graph, "timezone");
  if (!users) return spdlog::warn("synthesis: users' time zones: {}", users.error().message);
  for (const auto& [user, name] : *users) {
    if (auto z = syn::zone_open(name)) st.user_zones[user] = *z;
    else spdlog::warn("synthesis: user time zone '{}' does not open: {}", name, z.error().message);
  }
}

const syn::time_words* words_for(const synthesis_state& st, const std::string& lang) {
  for (const auto& w : st.words)
    if (syn::time_words_lang(*w) == lang) return w.get();
  return st.words.empty() ? nullptr : st.words.front().get();
}

expected<void> load_words(synthesis_state& st) {
  auto dir = st.env.cfg.get_string("synthesis.time_words");
  if (dir.empty()) return {};
  auto w = syn::time_words_load_dir(dir);
  if (!w) {
    st.words_error = w.error().message;
    return w.error();
  }
  st.words = std::move(*w);
  st.words_error.clear();
  return {};
}

expected<void> load_understanding(synthesis_state& st) {
  auto dir = st.env.cfg.get_string("synthesis.understanding");
  if (dir.empty()) {
    st.und.reset();
    return {};
  }
  auto u = syn::understanding_load_dir(dir);
  if (!u) {
    st.und_error = u.error().message;
    return u.error();
  }
  st.und = std::move(*u);
  st.und_error.clear();
  return {};
}

// A user's percept understood without the model: a statement taken as facts,
// a question answered from them (or from a recalled memory, or "not known
// yet"), "forget that …". Nothing when understanding does not cover the text.
std::optional<expected<syn::understood>> understand_words(synthesis_state& st, const percept_msg& p,
                                                          std::span<const syn::memory_hit> hits) {
  if (!st.und || !st.graph || p.source != "user") return std::nullopt;
  syn::understand_input in;
  in.user = p.user;
  in.text = p.text;
  in.memories = hits;
  in.words = &st.words;
  in.tz = &zone_for(st, p.user);
  in.now_ms = now_of(st);
  auto r = syn::understand(*st.graph, *st.und, *st.und_state, in);
  if (!r) return expected<syn::understood>{r.error()};
  if (!*r) return std::nullopt;
  return expected<syn::understood>{std::move(**r)};
}

// A phrase of the reminder's language about r: {what}, {when} (its due time
// in words), {period} (day or week, for a repeating one).
std::string phrase(const syn::time_words& w, std::string_view key, const syn::reminder& r, const syn::zone& z) {
  const char* period = r.repeat.every == syn::repeat_rule::kind::daily ? "period_daily" : "period_weekly";
  return syn::time_words_phrase(w, key, {{"what", r.what}, {"when", syn::when_format(w, r.due_ms, z)},
                                         {"period", syn::time_words_phrase(w, period, {})}});
}

// A percept that asks for a reminder, or answers one ("done", "snooze 10
// minutes"): stored and acknowledged here, in the language it was said in.
// Returns the answer, or nothing when the text is neither (then the percept
// is composed as usual). Never throws; a database error is the answer's error.
std::optional<expected<std::string>> reminder_words(synthesis_state& st, const percept_msg& p) {
  if (st.words.empty() || !st.graph || p.source != "user") return std::nullopt;
  const auto now = now_of(st);
  const syn::zone& z = zone_for(st, p.user);
  if (auto cmd = syn::reminder_command_parse(st.words, p.text, now, z)) {
    ++st.reminder_commands;
    const auto* w = words_for(st, cmd->lang);
    auto last = syn::reminder_last_fired(*st.graph, p.user);
    if (!last) {
      if (last.error().code != errc::not_found) return expected<std::string>{last.error()};
      return expected<std::string>{syn::time_words_phrase(*w, "nothing_pending", {})};
    }
    if (cmd->what == syn::reminder_command::kind::done) {
      auto d = last->repeat.every == syn::repeat_rule::kind::none ? syn::reminder_done(*st.graph, last->id, p.user)
                                                                   : expected<syn::reminder>{*last};
      if (!d) return expected<std::string>{d.error()};
      return expected<std::string>{phrase(*w, "done", *d, z)};
    }
    const std::int64_t due = cmd->snooze_until ? *cmd->snooze_until : now + cmd->snooze_minutes * 60'000;
    auto sn = syn::reminder_snooze(*st.graph, last->id, p.user, due);
    if (!sn) return expected<std::string>{sn.error()};
    return expected<std::string>{phrase(*w, "snoozed", *sn, z)};
  }
  auto ask = syn::reminder_parse(st.words, p.text, now, z);
  if (!ask) return std::nullopt;
  const auto* w = words_for(st, ask->lang);
  syn::reminder r;
  r.user = p.user;
  r.what = ask->what.empty() ? p.text : ask->what;  // "remind me tomorrow at 10": the words themselves
  r.lang = ask->lang;
  r.said = p.text;
  r.due_ms = ask->when.due_ms;
  r.repeat = ask->when.repeat;
  r.created_ms = now;
  if (ask->when.past) {
    ++st.reminders_refused;
    return expected<std::string>{phrase(*w, "past", r, z)};
  }
  auto added = syn::reminder_add(*st.graph, r);
  if (!added) return expected<std::string>{added.error()};
  ++st.reminders_made;
  return expected<std::string>{
      phrase(*w, r.repeat.every == syn::repeat_rule::kind::none ? "ack" : "ack_repeat", *added, z)};
}

json reminder_json(synthesis_state& st, const syn::reminder& r) {
  const syn::zone& z = zone_for(st, r.user);
  json rep = nullptr;
  if (r.repeat.every != syn::repeat_rule::kind::none)
    rep = {{"every", r.repeat.every == syn::repeat_rule::kind::daily ? "day" : "week"},
           {"weekday", r.repeat.weekday}, {"hour", r.repeat.hour}, {"minute", r.repeat.minute}};
  json j = {{"id", r.id}, {"what", r.what}, {"lang", r.lang}, {"said", r.said}, {"due", r.due_ms},
            {"due_local", syn::zone_local(z, r.due_ms).iso}, {"repeat", rep}, {"state", r.state},
            {"created", r.created_ms}, {"fired", r.fired_ms ? json(*r.fired_ms) : json()}};
  if (const auto* w = words_for(st, r.lang)) j["due_words"] = syn::when_format(*w, r.due_ms, z);
  return j;
}

// reminder.list / snooze / done / delete and user.timezone. Each takes `user`
// (required): a reminder is found only under its own user.
void serve_reminders(synthesis_state& st, const request_msg& r) {
  auto& out = *st.env.replies;
  const json& b = kit::body_of(r);
  auto user = wire::field_string(b, "user");
  if (!user) return out.reply_error(r.ticket, user.error());
  if (user->empty()) return out.reply_error(r.ticket, error{errc::bad_request, "user: must not be empty"});
  if (r.op == "user.timezone") {
    auto tz = wire::field_opt_string(b, "timezone");
    if (!tz) return out.reply_error(r.ticket, tz.error());
    if (*tz) {
      if (!(*tz)->empty()) {
        auto z = syn::zone_open(**tz);
        if (!z) return out.reply_error(r.ticket, error{errc::bad_request, "timezone: " + z.error().message});
        if (auto ok = syn::user_setting_set(*st.graph, *user, "timezone", **tz); !ok)
          return out.reply_error(r.ticket, ok.error());
        st.user_zones[*user] = *z;
      } else {
        if (auto ok = syn::user_setting_set(*st.graph, *user, "timezone", ""); !ok)
          return out.reply_error(r.ticket, ok.error());
        st.user_zones.erase(*user);
      }
    }
    const bool own = st.user_zones.count(*user) != 0;
    return out.reply_ok(r.ticket, {{"user", *user},
                                   {"timezone", syn::zone_name(zone_for(st, *user))},
                                   {"source", own ? "user" : "synthesis.timezone"}});
  }
  if (r.op == "reminder.list") {
    auto all = wire::field_opt_bool(b, "all");
    if (!all) return out.reply_error(r.ticket, all.error());
    auto list = syn::reminder_list(*st.graph, *user, all->value_or(false));
    return kit::reply(out, r.ticket, list, [&](const std::vector<syn::reminder>& rs) {
      json arr = json::array();
      for (const auto& x : rs) arr.push_back(reminder_json(st, x));
      return json{{"reminders", std::move(arr)}, {"timezone", syn::zone_name(zone_for(st, *user))}};
    });
  }
  auto id = wire::field_opt_int(b, "reminder_id", 1, INT64_MAX);
  if (!id) return out.reply_error(r.ticket, id.error());
  if (!*id) return out.reply_error(r.ticket, error{errc::bad_request, "reminder_id: missing"});
  if (r.op == "reminder.delete") {
    auto d = syn::reminder_delete(*st.graph, **id, *user);
    if (!d) return out.reply_error(r.ticket, d.error());
    return out.reply_ok(r.ticket, {{"deleted", true}, {"reminder_id", **id}});
  }
  if (r.op == "reminder.done") {
    auto d = syn::reminder_done(*st.graph, **id, *user);
    return kit::reply(out, r.ticket, d, [&](const syn::reminder& x) { return json{{"reminder", reminder_json(st, x)}}; });
  }
  if (r.op == "reminder.snooze") {
    auto minutes = wire::field_opt_int(b, "minutes", 1, 525600);
    if (!minutes) return out.reply_error(r.ticket, minutes.error());
    auto until = wire::field_opt_int(b, "until", 0, INT64_MAX);
    if (!until) return out.reply_error(r.ticket, until.error());
    if (minutes->has_value() == until->has_value())
      return out.reply_error(r.ticket, error{errc::bad_request, "minutes or until: give one (minutes from now, or unix ms)"});
    const std::int64_t due = *until ? **until : now_of(st) + **minutes * 60'000;
    auto sn = syn::reminder_snooze(*st.graph, **id, *user, due);
    return kit::reply(out, r.ticket, sn, [&](const syn::reminder& x) { return json{{"reminder", reminder_json(st, x)}}; });
  }
  out.reply_error(r.ticket, error{errc::unknown_op, "synthesis: unknown op " + r.op});
}

// ---- reminders and reflections ------------------------------------------------

std::string reminder_text(const synthesis_state& st, const syn::fact& f) {
  std::string when;
  if (f.due_ms && st.tz) {
    auto lt = syn::zone_local(*st.tz, *f.due_ms);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d", lt.year, lt.month, lt.day, lt.hour, lt.minute);
    when = std::string(" (due ") + buf + " " + lt.zone_name + ")";
  }
  return "Reminder: " + f.subject + " " + f.relation + " " + f.object + when;
}

// Stored reminders whose time has come: each fires once, in the language it
// was asked in; one missed while the daemon was down fires at start, late.
void publish_stored_reminders(synthesis_state& st, std::int64_t now_ms) {
  auto due = syn::reminder_due_take(*st.graph, now_ms, [&](const std::string& u) -> const syn::zone& { return zone_for(st, u); });
  if (!due) return spdlog::error("synthesis: reminders: {}", due.error().message);
  for (const auto& f : *due) {
    percept_msg p;
    p.percept_id = "reminder-r" + std::to_string(f.r.id) + "-" + std::to_string(f.r.due_ms);
    p.kind = "reminder";
    p.source = "proactive";
    p.user = f.r.user;
    p.t0_ns = kit::now_ns();
    ++st.reminders;
    const auto* w = words_for(st, f.r.lang);
    const std::string text = w ? phrase(*w, f.late ? "fire_late" : "fire", f.r, zone_for(st, f.r.user)) : f.r.what;
    kit::publish_final(*st.env.thoughts, p, text, "reminder", {});
  }
}

void publish_reminders(synthesis_state& st, std::int64_t now_ms) {
  if (!st.graph) return;
  publish_stored_reminders(st, now_ms);
  auto due = syn::kg_due_take(*st.graph, now_ms);
  if (!due) {
    spdlog::error("synthesis: reminders: {}", due.error().message);
    return;
  }
  for (const auto& f : *due) {
    percept_msg p;
    p.percept_id = "reminder-" + std::to_string(f.id) + "-" + std::to_string(f.due_ms.value_or(0));
    p.kind = "reminder";
    p.source = "proactive";
    // the relation's scope; a shared relation may name its user in attrs.user
    p.user = f.user;
    if (auto u = f.attrs.find("user"); p.user.empty() && u != f.attrs.end() && u->is_string()) p.user = *u;
    p.t0_ns = kit::now_ns();
    ++st.reminders;
    // a fact understanding took ("my physio session is on Wednesday at 11:15") is said in its words
    std::string text;
    if (st.und && f.attrs.is_object() && f.attrs.value("source", std::string{}) == "understanding")
      text = syn::understand_say(*st.graph, *st.und, f.attrs.value("lang", std::string{}), f, f.user, &st.words,
                                 &zone_for(st, f.user));
    kit::publish_final(*st.env.thoughts, p, text.empty() ? reminder_text(st, f) : text, "reminder", {});
  }
}

// Forgets what a user said: their turns, graph facts and reminders (all of
// them, or those made in [since, until]), the reflection pending for them;
// then truncates the database's WAL (secure_delete zeroes the freed bytes).
// The memory actor asks this before it deletes the user's memories
// (memory.delete_all). Returns {"graph", "turns", "reminders"} counts, or
// the first failure as an admin error (a step that failed left its part).
std::string forget_user(synthesis_state& st, const std::string& arg) {
  json a = json::parse(arg, nullptr, false);
  if (!a.is_object() || !a.contains("user") || !a["user"].is_string())
    return kit::admin_error(error{errc::bad_request, "forget: a JSON object with a string user"});
  const std::string user = a["user"];
  std::optional<std::int64_t> since, until;
  if (a.contains("since") && a["since"].is_number_integer()) since = a["since"].get<std::int64_t>();
  if (a.contains("until") && a["until"].is_number_integer()) until = a["until"].get<std::int64_t>();
  if (!st.graph) return kit::admin_error(error{errc::unavailable, "knowledge graph is down: " + st.down_reason});
  auto turns = syn::turns_forget(*st.conversation, user, since, until);
  if (!turns) return kit::admin_error(turns.error());
  std::int64_t graph = 0;
  if (!user.empty()) {  // "" names the shared graph: no one's to forget
    auto g = syn::kg_forget(*st.graph, user, since, until);
    if (!g) return kit::admin_error(g.error());
    graph = *g;
    relink(st);
  }
  auto rem = syn::reminder_delete_user(*st.graph, user, since, until);
  if (!rem) return kit::admin_error(rem.error());
  if (!since && !until) {
    st.users_since_reflection.erase(user);
    st.user_zones.erase(user);
  }
  if (auto c = syn::kg_checkpoint(*st.graph); !c) spdlog::warn("synthesis: forget: {}", c.error().message);
  return json{{"ok", true}, {"graph", graph}, {"turns", *turns}, {"reminders", *rem}}.dump();
}

// admin export-user: the user's graph (kg_export_user), turns, reminders and
// settings as export records; import-user: the same records brought back
// (records of other types are refused). Each returns an admin reply.
std::string export_user(synthesis_state& st, const std::string& user) {
  if (!st.graph) return kit::admin_error(error{errc::unavailable, "knowledge graph is down: " + st.down_reason});
  json recs = json::array();
  if (!user.empty()) {
    auto g = syn::kg_export_user(*st.graph, user);
    if (!g) return kit::admin_error(g.error());
    recs = std::move(*g);
  }
  for (const auto& t : syn::turns_recent(*st.conversation, user))
    recs.push_back({{"type", "turn"}, {"role", t.role}, {"text", t.text}, {"at", t.ts_ms}});
  auto rem = syn::reminder_list(*st.graph, user, true);
  if (!rem) return kit::admin_error(rem.error());
  for (const auto& r : *rem) {
    json j = reminder_json(st, r);
    j["type"] = "reminder";
    recs.push_back(std::move(j));
  }
  auto tz = syn::user_setting_get(*st.graph, user, "timezone");
  if (!tz) return kit::admin_error(tz.error());
  if (!tz->empty()) recs.push_back({{"type", "setting"}, {"key", "timezone"}, {"value", *tz}});
  return json_dump(json{{"ok", true}, {"records", std::move(recs)}});
}

std::string import_user(synthesis_state& st, const std::string& user, const json& records) {
  if (!st.graph) return kit::admin_error(error{errc::unavailable, "knowledge graph is down: " + st.down_reason});
  if (!records.is_array()) return kit::admin_error(error{errc::bad_request, "records: must be an array"});
  json graph = json::array();
  std::vector<syn::turn> turns;
  std::vector<syn::reminder> rems;
  std::vector<std::pair<std::string, std::string>> settings;
  auto str = [](const json& j, const char* k) { return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : std::string(); };
  auto num = [](const json& j, const char* k) -> std::optional<std::int64_t> {
    if (!j.contains(k) || !j[k].is_number_integer()) return std::nullopt;
    return j[k].get<std::int64_t>();
  };
  for (std::size_t i = 0; i < records.size(); ++i) {
    const json& r = records[i];
    const std::string at = "records[" + std::to_string(i) + "]";
    const std::string type = r.is_object() ? str(r, "type") : "";
    if (type == "entity" || type == "relation") {
      graph.push_back(r);
    } else if (type == "turn") {
      const std::string role = str(r, "role");
      if ((role != "user" && role != "assistant") || !r.contains("text") || !r["text"].is_string() || !num(r, "at"))
        return kit::admin_error(error{errc::bad_request, at + ": a turn needs role user|assistant, text and at"});
      turns.push_back({role, r["text"].get<std::string>(), *num(r, "at")});
    } else if (type == "reminder") {
      syn::reminder m;
      m.user = user;
      m.what = str(r, "what");
      m.lang = str(r, "lang");
      m.said = str(r, "said");
      m.state = str(r, "state");
      if (!num(r, "due") || !num(r, "created"))
        return kit::admin_error(error{errc::bad_request, at + ": a reminder needs due and created (unix ms)"});
      m.due_ms = *num(r, "due");
      m.created_ms = *num(r, "created");
      m.fired_ms = num(r, "fired");
      if (r.contains("repeat") && r["repeat"].is_object()) {
        const json& rp = r["repeat"];
        const std::string every = str(rp, "every");
        m.repeat.every = every == "day" ? syn::repeat_rule::kind::daily  // as reminder_json says them
                         : every == "week" ? syn::repeat_rule::kind::weekly
                                           : syn::repeat_rule::kind::none;
        m.repeat.weekday = static_cast<int>(num(rp, "weekday").value_or(0));
        m.repeat.hour = static_cast<int>(num(rp, "hour").value_or(0));
        m.repeat.minute = static_cast<int>(num(rp, "minute").value_or(0));
      }
      rems.push_back(std::move(m));
    } else if (type == "setting") {
      if (str(r, "key") != "timezone" || !syn::zone_open(str(r, "value")))
        return kit::admin_error(error{errc::bad_request, at + ": a setting is {key: timezone, value: an IANA zone}"});
      settings.emplace_back(str(r, "key"), str(r, "value"));
    } else {
      return kit::admin_error(error{errc::bad_request, at + ".type: '" + type +
                                                           "' is not entity|relation|turn|reminder|setting"});
    }
  }
  std::int64_t g = 0, nt = 0, nr = 0;
  if (!graph.empty()) {
    auto n = syn::kg_import_user(*st.graph, user, graph);
    if (!n) return kit::admin_error(n.error());
    g = *n;
    relink(st);
  }
  // turns already there (same time and text) are not added again
  const auto have = syn::turns_recent(*st.conversation, user);
  for (const auto& t : turns) {
    bool dup = false;
    for (const auto& h : have) dup = dup || (h.ts_ms == t.ts_ms && h.text == t.text && h.role == t.role);
    if (dup) continue;
    syn::turns_add(*st.conversation, user, t.role, t.text, t.ts_ms);
    ++nt;
  }
  for (auto& m : rems) {
    auto r = syn::reminder_import(*st.graph, std::move(m));
    if (!r) return kit::admin_error(r.error());
    nr += r->has_value();
  }
  std::int64_t ns = 0;
  for (const auto& [k, v] : settings) {
    auto now = syn::user_setting_get(*st.graph, user, k);
    if (!now) return kit::admin_error(now.error());
    if (*now == v) continue;  // as it is already
    if (auto s = syn::user_setting_set(*st.graph, user, k, v); !s) return kit::admin_error(s.error());
    if (auto z = syn::zone_open(v)) st.user_zones[user] = *z;
    ++ns;
  }
  return json{{"ok", true}, {"graph", g}, {"turns", nt}, {"reminders", nr}, {"settings", ns}}.dump();
}

// One summary request per user whose turns grew since the last reflection.
void ask_reflections(synthesis_state& st, std::int64_t now_ms) {
  for (const auto& user : st.users_since_reflection) {
    auto turns = syn::turns_recent(*st.conversation, user);
    if (turns.empty()) continue;
    std::string convo;
    for (const auto& t : turns) convo += t.role + ": " + t.text + "\n";
    json msgs = json::array({{{"role", "system"},
                              {"content", "Summarise in one or two sentences what the user said and wants. "
                                          "Write about the user in the third person."}},
                             {{"role", "user"}, {"content", convo}}});
    percept_msg p;
    p.percept_id = "reflection-" + std::to_string(now_ms) + "-" + user;
    p.kind = "reflection";
    p.source = "proactive";
    p.user = user;
    p.t0_ns = kit::now_ns();
    ++st.reflections;
    generate_msg g{std::move(p), json_dump(msgs), static_cast<std::int32_t>(st.env.cfg.get_int("synthesis.answer_tokens")),
                   "reflect", ""};
    caf::anon_send(st.inference, std::move(g));
  }
  st.users_since_reflection.clear();
}

caf::behavior synthesis_fun(synthesis_actor* self, actor_env env, caf::actor embedder, caf::actor inference) {
  auto& st0 = self->state;
  st0.env = std::move(env);
  st0.embedder = embedder;
  st0.inference = inference;
  st0.conversation = syn::turns_new(static_cast<std::size_t>(st0.env.cfg.get_int("synthesis.turns")));
  if (auto z = syn::zone_open(st0.env.cfg.get_string("synthesis.timezone"))) st0.tz = *z;
  auto kg_path = std::filesystem::path(st0.env.cfg.get_string("daemon.data_dir")) / "kg.sqlite";
  syn::kg_options kg_opts;
  kg_opts.log = [](const std::string& l) { spdlog::info("{}", l); };
  if (auto g = syn::kg_open(kg_path, kg_opts)) {
    st0.graph = std::move(*g);
    st0.links = syn::linker_build(*st0.graph);
    // the conversation turns live in the graph's database (kept across restarts)
    if (auto n = syn::turns_attach(*st0.conversation, *st0.graph); !n)
      spdlog::error("synthesis: {} (turns kept in memory only)", n.error().message);
    else if (*n)
      spdlog::info("synthesis: {} conversation turns loaded", *n);
  } else {
    st0.down_reason = g.error().message;
  }
  [[maybe_unused]] auto loaded = load_templates(self);
  if (auto w = load_words(st0); !w) spdlog::error("synthesis: time words: {}", w.error().message);
  if (auto u = load_understanding(st0); !u) spdlog::error("synthesis: understanding: {}", u.error().message);
  load_user_zones(st0);
  if (auto path = st0.env.cfg.get_string("inference.model"); !path.empty()) {
    inference::model_options mo;
    mo.path = path;
    if (auto m = inference::model::load(mo)) st0.tokenizer = std::move(*m);
  }
  const kit::guard_ctx guard{"synthesis", self->state.env.replies, self->state.env.thoughts};
  auto basics = kit::basic_handlers(
      self,
      [=] {
        auto& st = self->state;
        json j = {{"compose", st.compose.to_json()}, {"answered", st.answered}, {"prompted", st.prompted},
                  {"extractions", st.extractions}, {"learned_triples", st.learned_triples},
                  {"learn_errors", st.learn_errors}, {"reminders", st.reminders}, {"reflections", st.reflections},
                  {"reminders_made", st.reminders_made}, {"reminders_refused", st.reminders_refused},
                  {"reminder_commands", st.reminder_commands}, {"understood", st.understood},
                  {"turn_write_errors", syn::turns_write_errors(*st.conversation)},
                  {"templates", st.templates ? syn::templates_count(*st.templates) : 0}};
        if (st.graph) {
          auto ks = syn::kg_stats_get(*st.graph);
          j["kg"] = {{"entities", ks.entities}, {"relations", ks.relations}};
        }
        return j;
      },
      [=] {
        auto& st = self->state;
        json j = {{"up", st.graph != nullptr}};
        if (!st.graph) j["reason"] = st.down_reason;
        if (!st.templates_error.empty()) j["templates_error"] = st.templates_error;
        if (!st.words_error.empty()) j["time_words_error"] = st.words_error;
        if (!st.und_error.empty()) j["understanding_error"] = st.und_error;
        return j;
      },
      [=] {
        auto& st = self->state;
        syn::turns_set_max(*st.conversation, static_cast<std::size_t>(st.env.cfg.get_int("synthesis.turns")));
      });
  return kit::actor_behavior(
      guard, std::move(basics),
      [=](request_msg& r) {
        auto& st = self->state;
        if (kit::expired(r)) return;
        if (!st.graph) return st.env.replies->reply_error(r.ticket, error{errc::unavailable, "knowledge graph is down: " + st.down_reason});
        if (r.op.rfind("reminder.", 0) == 0 || r.op == "user.timezone") return serve_reminders(st, r);
        serve_kg(st, r);
        if (const wire::op_info* op = wire::op_find(r.op); op && !op->reads_only) relink(st);  // after a write
      },
      [=](percept_msg& p) {
        auto& st = self->state;
        auto t0 = kit::now_ns();
        if (auto said = reminder_words(st, p)) {  // a reminder asked for, or answered
          p.stage_names.push_back("compose");
          p.stage_ms.push_back(kit::ms_since(t0));
          if (!*said) return kit::publish_final(*st.env.thoughts, p, "", "error", p.memory_ids, &said->error());
          // not a conversation turn: the small model copied "OK — I'll remind you" into
          // later answers that made no reminder
          return kit::publish_final(*st.env.thoughts, p, **said, "reminder", p.memory_ids);
        }
        json mems = json::parse(p.memories.empty() ? "[]" : p.memories, nullptr, false);
        std::vector<syn::memory_hit> hits;
        if (mems.is_array())
          for (const auto& m : mems)
            hits.push_back({m.value("id", std::int64_t{0}), m.value("text", std::string{}), m.value("score", 0.0f),
                            m.value("created", std::int64_t{0})});
        if (auto u = understand_words(st, p, hits)) {  // understood without the model
          p.stage_names.push_back("compose");
          p.stage_ms.push_back(kit::ms_since(t0));
          st.compose.latency.add(p.stage_ms.back());
          if (!*u) {
            ++st.compose.errors;
            return kit::publish_final(*st.env.thoughts, p, "", "error", p.memory_ids, &u->error());
          }
          ++st.understood[(*u)->source];
          // the turns are written (a synced transaction each) after the answer is out
          const std::int64_t said_at = kit::unix_ms();
          kit::publish_final(*st.env.thoughts, p, (*u)->text, (*u)->source, p.memory_ids);
          syn::turns_add(*st.conversation, p.user, "user", p.text, said_at);
          syn::turns_add(*st.conversation, p.user, "assistant", (*u)->text, kit::unix_ms());
          st.users_since_reflection.insert(p.user);
          return;
        }
        syn::compose_env cenv;
        cenv.graph = st.graph.get();
        cenv.links = st.links.get();
        cenv.templates = st.templates.get();
        cenv.conversation = st.conversation.get();
        cenv.tz = st.tz.get();
        if (st.und)  // understanding's facts said as sentences, in the language they were told in
          cenv.say = [&st, user = p.user](const syn::fact& f) {
            if (!f.attrs.is_object() || f.attrs.value("source", std::string{}) != "understanding") return std::string{};
            return syn::understand_say(*st.graph, *st.und, f.attrs.value("lang", std::string{}), f, user, &st.words,
                                       &zone_for(st, user));
          };
        if (st.tokenizer)
          cenv.count_tokens = [m = st.tokenizer.get()](std::string_view s) { return static_cast<int>(m->tokenize(s).size()); };
        else
          cenv.count_tokens = [](std::string_view s) { return static_cast<int>(s.size() / 4 + 1); };
        syn::compose_request req;
        req.text = p.text;
        req.user = p.user;
        req.vector = p.vec;
        req.memories = hits;
        req.now_ms = now_of(st);  // the debug clock moves "today" too
        expected<syn::composition> c = st.graph
                                           ? syn::synthesis_compose(cenv, req, settings_of(st.env.cfg))
                                           : expected<syn::composition>{errc::unavailable, "knowledge graph is down: " + st.down_reason};
        p.stage_names.push_back("compose");
        p.stage_ms.push_back(kit::ms_since(t0));
        st.compose.latency.add(p.stage_ms.back());
        if (!c) {
          ++st.compose.errors;
          kit::publish_final(*st.env.thoughts, p, "", "error", p.memory_ids, &c.error());
          return;
        }
        const std::int64_t said_at = kit::unix_ms();
        const std::string turn_user = p.user, turn_text = p.text;  // p moves on below
        st.users_since_reflection.insert(p.user);
        // Learning path: facts from what the user said, queued behind the answer.
        if (p.source == "user" && st.env.cfg.get_bool("synthesis.learn") &&
            (!c->answered || st.env.cfg.get_bool("synthesis.learn_from_templates")) &&
            (!st.und || syn::understand_skip_reason(*st.und, p.text).empty())) {  // no questions, negations, hypotheticals
          percept_msg q;
          q.percept_id = p.percept_id;
          q.user = p.user;
          q.source = p.source;
          q.t0_ns = kit::now_ns();
          ++st.extractions;
          caf::anon_send(st.inference, generate_msg{std::move(q), json_dump(extraction_messages(p.text)),
                                                    static_cast<std::int32_t>(st.env.cfg.get_int("synthesis.extract_tokens")),
                                                    "extract", kFactsSchema});
        }
        if (c->answered) {
          ++st.answered;
          kit::publish_final(*st.env.thoughts, p, c->text, c->source, c->memory_ids.empty() ? p.memory_ids : c->memory_ids);
          syn::turns_add(*st.conversation, turn_user, "user", turn_text, said_at);
          syn::turns_add(*st.conversation, turn_user, "assistant", c->text, kit::unix_ms());
          return;
        }
        ++st.prompted;
        json msgs = json::array();
        for (const auto& m : c->messages) msgs.push_back({{"role", m.role}, {"content", m.content}});
        p.memory_ids = c->memory_ids;
        generate_msg g{std::move(p), json_dump(msgs), static_cast<std::int32_t>(st.env.cfg.get_int("synthesis.answer_tokens")),
                       "answer", ""};
        g.temperature = static_cast<float>(st.env.cfg.get_real("synthesis.temperature"));
        g.repeat_penalty = static_cast<float>(st.env.cfg.get_real("synthesis.repeat_penalty"));
        self->send(st.inference, std::move(g));
        syn::turns_add(*st.conversation, turn_user, "user", turn_text, said_at);  // the answer's comes as a learn_msg
      },
      // The learning path's findings: facts into the graph, the model's answer as a turn.
      [=](learn_msg& m) {
        auto& st = self->state;
        if (!m.answer.empty()) syn::turns_add(*st.conversation, m.user, "assistant", m.answer, kit::unix_ms());
        auto triples = triples_of(m);
        if (triples.empty() || !st.graph) return;
        if (st.und) {  // the rules' vocabulary of relations; a single-valued fact the graph has stays
          std::vector<syn::triple> kept;
          for (auto& t : triples) {
            if (auto rel = syn::understanding_relation(*st.und, t.relation); !rel.empty()) t.relation = rel;
            auto known = syn::kg_facts(*st.graph, t.subject, t.relation, m.user);
            if (known && !known->empty() && syn::understanding_single(*st.und, t.relation)) continue;
            kept.push_back(std::move(t));
          }
          triples = std::move(kept);
          if (triples.empty()) return;
        }
        auto n = syn::kg_add(*st.graph, triples, m.user);  // into the percept's user's graph
        if (!n) {
          ++st.learn_errors;
          spdlog::warn("synthesis: learned facts of {} not added: {}", m.percept_id, n.error().message);
          return;
        }
        st.learned_triples += triples.size();
        relink(st);
      },
      [=](tick_atom, std::int64_t now_ms) { publish_reminders(self->state, now_ms); },
      [=](reflect_atom, std::int64_t now_ms) { ask_reflections(self->state, now_ms); },
      // memory.delete_all's other half (the memory actor asks): "forget", {user, since, until}
      [=](admin_atom, const std::string& cmd, const std::string& arg) -> std::string {
        if (cmd == "forget") return forget_user(self->state, arg);
        if (cmd == "export_user" || cmd == "import_user") {
          json a = json::parse(arg, nullptr, false);
          if (!a.is_object() || !a.contains("user") || !a["user"].is_string())
            return kit::admin_error(error{errc::bad_request, cmd + ": a JSON object with a string user"});
          if (cmd == "export_user") return export_user(self->state, a["user"]);
          return import_user(self->state, a["user"], a.contains("records") ? a["records"] : json());
        }
        return kit::admin_error(error{errc::unknown_op, "synthesis: unknown admin command " + cmd});
      },
      // the debug clock's offset from the wall clock (proactive sends it): times said in words count from it
      [=](clock_atom, std::int64_t offset_ms) { self->state.clock_offset_ms = offset_ms; },
      [=](reload_atom) -> std::string {
        auto r = load_templates(self);
        if (!r) return kit::admin_error(r.error());
        if (auto w = load_words(self->state); !w) return kit::admin_error(w.error());
        if (auto u = load_understanding(self->state); !u) return kit::admin_error(u.error());
        return json{{"ok", true}, {"templates", self->state.templates ? syn::templates_count(*self->state.templates) : 0}}.dump();
      });
}

}  // namespace

caf::actor spawn_synthesis(caf::actor_system& sys, const actor_env& env, caf::actor embedder, caf::actor inference) {
  return sys.spawn<caf::detached>(synthesis_fun, env, embedder, inference);
}

}  // namespace aikid
