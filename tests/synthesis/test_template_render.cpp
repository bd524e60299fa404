// Rendering: every starter template (config/templates, English and Norwegian)
// on the fixture graph (fixtures/graph.json), then the same templates with
// every optional part missing.
#define BOOST_TEST_MODULE synthesis_template_render
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "actors/synthesis/internal.hpp"
#include "actors/synthesis/synthesis.hpp"
#include "tests/synthesis/fake_embed.hpp"
#include "tests/synthesis/test_util.hpp"

namespace syn = aikid::synthesis;
using nlohmann::json;

namespace {

struct fixture {
  std::filesystem::path dir;
  syn::kg_ptr g;
  syn::linker_ptr links;
  syn::template_set_ptr set;
  syn::zone_ptr tz;
  json fx;
  std::vector<syn::memory_hit> memories;
  std::vector<syn::turn> turns;
  syn::status_info status;

  fixture() {
    std::ifstream in(std::string(AIKID_SOURCE_DIR) + "/tests/synthesis/fixtures/graph.json");
    BOOST_REQUIRE(in);
    fx = json::parse(in);
    dir = std::filesystem::temp_directory_path() / ("syn_render_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    auto r = syn::kg_open(dir / "kg.sqlite");
    BOOST_REQUIRE(r.has_value());
    g = std::move(*r);
    std::vector<syn::triple> triples;
    for (auto& t : fx["triples"]) {
      triples.push_back({t[0], t[1], t[2], t.size() > 3 ? t[3] : json::object()});
    }
    auto a = syn::kg_add(*g, triples);
    BOOST_REQUIRE_MESSAGE(a.has_value(), (a ? std::string() : a.error().message));
    links = syn::linker_build(*g);
    auto z = syn::zone_open(fx["timezone"].get<std::string>());
    BOOST_REQUIRE_MESSAGE(z.has_value(), (z ? std::string() : z.error().message));
    tz = *z;
    auto s = syn::templates_load_dir(std::string(AIKID_SOURCE_DIR) + "/config/templates", fake::embed);
    BOOST_REQUIRE_MESSAGE(s.has_value(), (s ? std::string() : s.error().message));
    set = *s;
    for (auto& m : fx["memories"]) memories.push_back({m["id"], m["text"], m["score"]});
    for (auto& t : fx["turns"]) turns.push_back({t["role"], t["text"], 0});
    auto& st = fx["status"];
    status = {st["version"], st["uptime"], st["model"], st["entities"], st["relations"], st["templates"],
              st["memories"]};
  }
  ~fixture() {
    g.reset();
    std::filesystem::remove_all(dir);
  }

  // Renders template `name` for `text` as compose would (entities linked, facts at depth 1).
  std::string render(const std::string& name, const std::string& text, bool with_memories = true,
                     bool with_status = true) {
    const int idx = syn::templates_find(*set, name);
    BOOST_REQUIRE_MESSAGE(idx >= 0, "no template " << name);
    std::vector<syn::linked_entity> linked;
    for (auto& l : syn::linker_find(*links, text)) {
      auto e = syn::kg_find(*g, l.name);
      BOOST_REQUIRE(e.has_value());
      linked.push_back({*e, *syn::kg_query(*g, l.name, 1)});
    }
    const std::int64_t now = fx["now_ms"];
    auto lt = syn::zone_local(*tz, now);
    auto due = syn::kg_due(*g, lt.day_start_ms, lt.day_end_ms);
    syn::render_input in;
    in.text = text;
    in.user = "Ola";
    in.entities = linked;
    if (with_memories) in.memories = memories;
    in.turns = turns;
    in.due = due;
    in.tz = tz.get();
    in.now_ms = now;
    in.status = with_status ? &status : nullptr;
    auto r = syn::template_render(*set, static_cast<std::size_t>(idx), in);
    BOOST_REQUIRE_MESSAGE(r.has_value(), (r ? std::string() : r.error().message));
    BOOST_TEST_MESSAGE(name << " ← \"" << text << "\"\n" << r->text);
    return r->text;
  }
};

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

BOOST_FIXTURE_TEST_SUITE(render, fixture)

BOOST_AUTO_TEST_CASE(starter_set_loads_twelve_templates) {
  BOOST_TEST(syn::templates_count(*set) == 12u);
  for (const char* intent : {"greeting", "remember_about", "due_today", "said_about", "who_is", "status"})
    for (const char* lang : {"en", "no"})
      BOOST_TEST(syn::templates_find(*set, std::string(intent) + "." + lang) >= 0, intent << "." << lang);
}

BOOST_AUTO_TEST_CASE(greeting) {
  auto en = render("greeting.en", "good morning");
  BOOST_TEST(has(en, "Good morning, Ola! It is Wednesday, 10:15."));
  BOOST_TEST(has(en, "dentist appointment at 14:30"));
  BOOST_TEST(has(en, "pay rent at 23:30"));
  BOOST_TEST(!has(en, "tax return"));  // due tomorrow
  auto no = render("greeting.no", "god morgen");
  BOOST_TEST(has(no, "God morgen, Ola! Det er onsdag, klokken 10:15."));
  BOOST_TEST(has(no, "kl. 14:30"));
}

BOOST_AUTO_TEST_CASE(remember_about) {
  auto en = render("remember_about.en", "what do you remember about Ola?");
  BOOST_TEST(has(en, "About Ola Nordmann:"));
  BOOST_TEST(has(en, "- Ola Nordmann lives in Oslo"));
  BOOST_TEST(has(en, "- Ola Nordmann has task dentist appointment (due 2024-05-01 14:30)"));
  BOOST_TEST(has(en, "I also remember:\n- Ola said Kari is moving to Bergen in June"));
  auto no = render("remember_about.no", "hva husker du om hytta");
  BOOST_TEST(has(no, "Om hytta:\n- hytta is in Hemsedal"));
}

BOOST_AUTO_TEST_CASE(due_today) {
  auto en = render("due_today.en", "what is due today?");
  BOOST_TEST(en == "Due today (Wednesday 2024-05-01):\n- Ola Nordmann has task dentist appointment at 14:30\n"
                   "- Ola Nordmann has task pay rent at 23:30");
  auto no = render("due_today.no", "hva forfaller i dag?");
  BOOST_TEST(has(no, "I dag (onsdag 2024-05-01):"));
  BOOST_TEST(has(no, "pay rent kl. 23:30"));
}

BOOST_AUTO_TEST_CASE(said_about) {
  auto en = render("said_about.en", "what did I say about Kari?");
  BOOST_TEST(has(en, "You told me about Kari:\n- Ola said Kari is moving to Bergen in June"));
  auto no = render("said_about.no", "hva sa jeg om Kari?", false);
  BOOST_TEST(no == "Jeg husker ikke at du har sagt noe om Kari.");
}

BOOST_AUTO_TEST_CASE(who_is) {
  auto en = render("who_is.en", "who is ola?");
  BOOST_TEST(has(en, "Ola Nordmann is a person. Also called Ola."));
  BOOST_TEST(has(en, "- Ola Nordmann sister Kari"));
  auto no = render("who_is.no", "hvem er Kari?");
  BOOST_TEST(has(no, "Kari er en person."));
  BOOST_TEST(has(no, "- Kari lives in Bergen"));
  auto unknown = render("who_is.en", "who is Zorro?");
  BOOST_TEST(unknown == "I don't know who or what that is yet.");
}

BOOST_AUTO_TEST_CASE(status) {
  auto en = render("status.en", "status report");
  BOOST_TEST(en == "aikid 0.1.0, up 3h 12m. Model: SmolLM2-135M-Instruct Q4_1. I hold 2 memories, 9 entities, "
                   "8 relations and 12 templates.");
  auto no = render("status.no", "statusrapport");
  BOOST_TEST(has(no, "Jeg har 2 minner, 9 entiteter, 8 relasjoner og 12 maler."));
}

BOOST_AUTO_TEST_CASE(missing_variables_render_as_empty_sections) {
  // No user, no entities, no memories, no turns, nothing due, no status, no zone.
  syn::render_input empty;
  empty.now_ms = 0;  // 1970-01-01T00:00Z, a Thursday
  auto get = [&](const std::string& name) {
    auto r = syn::template_render(*set, static_cast<std::size_t>(syn::templates_find(*set, name)), empty);
    BOOST_REQUIRE_MESSAGE(r.has_value(), (r ? std::string() : r.error().message));
    return r->text;
  };
  BOOST_TEST(get("greeting.en") == "Good night! It is Thursday, 00:00.\n\nNothing is due today.");
  BOOST_TEST(get("remember_about.en") == "I don't recognise who or what you mean.");
  BOOST_TEST(get("due_today.no") == "Ingenting forfaller i dag (torsdag 1970-01-01).");
  BOOST_TEST(get("said_about.en") == "I don't remember you saying anything.");
  BOOST_TEST(get("who_is.no") == "Jeg vet ikke hvem eller hva det er ennå.");
  BOOST_TEST(get("status.en") == "Status is not available right now.");
  // A prompt-mode template with variables absent at render time.
  std::vector<syn::template_source> src = {{"p.toml", R"T(name = "p"
intent = "x"
mode = "prompt"
keywords = ["explain"]
system = "You know: {{#facts}}{{text}}; {{/facts}}{{^facts}}nothing{{/facts}} ({{entity.name}})"
user = "{{text}} {{user}}{{#memories}}[{{id}}:{{score}}]{{/memories}}"
)T"}};
  auto ps = syn::templates_load_sources(src, fake::embed);
  BOOST_REQUIRE(ps.has_value());
  auto r = syn::template_render(**ps, 0, empty);
  BOOST_REQUIRE(r.has_value());
  BOOST_TEST((r->mode == syn::template_mode::prompt));
  BOOST_TEST(r->system == "You know: nothing ()");
  BOOST_TEST(r->user == "");
  BOOST_TEST(!syn::template_render(**ps, 5, empty).has_value());
}

// The lazy context (only the fields a template reads, objects for the root
// and entities) renders exactly what the full context renders.
BOOST_AUTO_TEST_CASE(lazy_context_renders_like_the_full_context) {
  // Starter templates plus templates that shadow names across scopes: root
  // text vs fact/memory/turn text, the root's due list vs a fact's due,
  // status.entities vs the entities list, has_facts on the root and an entity,
  // dotted names inside lists, inverted sections inside lists.
  std::vector<syn::template_source> src = {
      {"a.toml", R"T(name = "a"
intent = "x"
mode = "answer"
keywords = ["k"]
body = """
{{text}}|{{user}}|{{lang}}|{{topic}}|{{has_facts}}|{{has_due}}|{{has_turns}}|{{has_entities}}
{{#entities}}[{{id}} {{name}} {{type}} {{#aliases}}<{{.}}>{{/aliases}} {{has_facts}}
{{#facts}}({{subject}}|{{relation}}|{{object}}|{{text}}|{{due}}|{{due_time}}|{{depth}}|{{name}}|{{entity.name}}|{{topic}}){{/facts}}]{{/entities}}
{{#facts}}{{text}}{{^due}}-{{/due}}{{#due}}@{{due}}{{/due}};{{/facts}}
{{#due}}{{text}} {{due_time}} {{due}} {{has_due}}/{{/due}}
{{#memories}}{{id}}:{{text}}:{{score}}:{{user}};{{/memories}}{{^memories}}no memories{{/memories}}
{{#turns}}{{role}}{{#is_user}}!{{/is_user}} {{text}} {{has_turns}};{{/turns}}
{{#status}}{{version}} {{uptime}} {{entities}} {{relations}} {{templates}} {{memories}} {{model}} {{text}}{{/status}}
{{#now}}{{date}} {{time}} {{datetime}} {{weekday}} {{month}} {{day}} {{year}} {{tz}} {{daypart}} {{text}}{{/now}}
{{now.weekday}} {{now.daypart}} {{entity.name}} {{entity.has_facts}}
"""
)T"},
      {"b.toml", R"T(name = "b"
intent = "x"
mode = "prompt"
keywords = ["k"]
system = "{{#entity}}{{name}}: {{#facts}}{{text}} {{#has_facts}}+{{/has_facts}}{{/facts}}{{^facts}}none{{/facts}}{{/entity}}{{^entity}}nobody{{/entity}}"
user = "{{#has_memories}}{{#memories}}{{text}} {{/memories}}{{/has_memories}}{{#entity}}{{#aliases}}{{.}},{{/aliases}}{{/entity}}{{text}}"
)T"},
      {"c.toml", R"T(name = "c"
intent = "x"
mode = "answer"
keywords = ["k"]
body = "{{#entity}}{{#facts}}{{#due}}{{due}}/{{due_time}}{{/due}}{{/facts}}{{/entity}}{{#status}}{{#entities}}{{.}}{{/entities}}{{/status}}"
)T"}};
  auto extra = syn::templates_load_sources(src, fake::embed);
  BOOST_REQUIRE_MESSAGE(extra.has_value(), (extra ? std::string() : extra.error().message));
  const std::int64_t now = fx["now_ms"];
  auto lt = syn::zone_local(*tz, now);
  const auto due = syn::kg_due(*g, lt.day_start_ms, lt.day_end_ms);
  int compared = 0;
  for (const std::string text : {"what do you remember about Ola?", "who is Kari and Ola", "hva husker du om hytta",
                                 "nothing here", "status report"}) {
    std::vector<syn::linked_entity> linked;
    for (auto& l : syn::linker_find(*links, text)) linked.push_back({*syn::kg_find(*g, l.name), *syn::kg_query(*g, l.name, 2)});
    for (int variant = 0; variant < 2; ++variant) {
      syn::render_input in;
      in.text = text;
      in.now_ms = now;
      if (variant == 0) {
        in.user = "Ola";
        in.entities = linked;
        in.memories = memories;
        in.turns = turns;
        in.due = due;
        in.tz = tz.get();
        in.status = &status;
      }
      for (const syn::template_set* s : {set.get(), extra->get()}) {
        for (std::size_t i = 0; i < syn::templates_count(*s); ++i) {
          auto lazy = syn::template_render(*s, i, in);
          auto full = syn::detail::template_render_full(*s, i, in);
          BOOST_REQUIRE(lazy.has_value());
          BOOST_REQUIRE(full.has_value());
          const auto& name = syn::templates_get(*s, i).name;
          BOOST_TEST(lazy->text == full->text, name << " ← " << text);
          BOOST_TEST(lazy->system == full->system, name << " ← " << text);
          BOOST_TEST(lazy->user == full->user, name << " ← " << text);
          ++compared;
        }
      }
    }
  }
  BOOST_TEST(compared == 5 * 2 * 15);
  // The shadowing template really shows the fields (not all empty).
  syn::render_input in;
  in.text = "who is Kari";
  std::vector<syn::linked_entity> linked;
  for (auto& l : syn::linker_find(*links, in.text)) linked.push_back({*syn::kg_find(*g, l.name), *syn::kg_query(*g, l.name, 1)});
  in.entities = linked;
  in.memories = memories;
  in.status = &status;
  in.tz = tz.get();
  in.now_ms = now;
  auto r = syn::template_render(**extra, 0, in);
  BOOST_REQUIRE(r.has_value());
  BOOST_TEST(has(r->text, "who is Kari|"));
  BOOST_TEST(has(r->text, "Kari lives in Bergen"));
  BOOST_TEST(has(r->text, "2024-05-01"));
  BOOST_TEST(has(r->text, "SmolLM2"));
}

BOOST_AUTO_TEST_SUITE_END()

// mustache_check reports the fields a template reads, as the paths the lazy
// context is built from.
BOOST_AUTO_TEST_CASE(checker_reports_the_fields_read) {
  std::set<std::string> used;
  auto bad = syn::detail::mustache_check(
      "{{#entity}}{{name}}{{#facts}}{{text}}{{#due}}{{due}}{{/due}}{{topic}}{{/facts}}{{/entity}}"
      "{{#memories}}{{text}}{{/memories}}{{now.time}}{{#status}}{{entities}}{{/status}}",
      syn::detail::render_schema(), 1, &used);
  BOOST_REQUIRE(!bad.has_value());
  const std::set<std::string> want = {"entity", "entity.name", "entity.facts", "entity.facts[].text",
                                      "entity.facts[].due", "topic", "memories", "memories[].text",
                                      "now", "now.time", "status", "status.entities"};
  BOOST_TEST(used == want, boost::test_tools::per_element());
  auto use = syn::detail::context_use_from(used);
  BOOST_REQUIRE(use.has_value());
  BOOST_TEST(use->entity_facts == 0b11000u);  // text (3), due (4)
  BOOST_TEST(use->entities == 0u);
  BOOST_TEST(!syn::detail::context_use_from({"entity.nope"}).has_value());
}

BOOST_AUTO_TEST_CASE(unknown_time_zone_is_an_error) {
  auto z = syn::zone_open("Europe/Atlantis");
  BOOST_REQUIRE(!z.has_value());
  BOOST_TEST(z.error().code == aikid::errc::unavailable);
  BOOST_TEST(z.error().message.find("Europe/Atlantis") != std::string::npos);
}
