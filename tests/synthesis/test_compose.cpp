// Compose: link → match → render, or the prompt for the model; and the
// conversation turns store (last N per user, N live).
#define BOOST_TEST_MODULE synthesis_compose
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <unistd.h>

#include "actors/synthesis/synthesis.hpp"
#include "tests/synthesis/fake_embed.hpp"
#include "tests/synthesis/test_util.hpp"

namespace syn = aikid::synthesis;

BOOST_AUTO_TEST_CASE(turns_keep_the_last_n_per_user) {
  auto t = syn::turns_new(3);
  for (int i = 0; i < 5; ++i) syn::turns_add(*t, "ola", "user", "o" + std::to_string(i), i);
  syn::turns_add(*t, "kari", "user", "k0", 0);
  auto o = syn::turns_recent(*t, "ola");
  BOOST_REQUIRE_EQUAL(o.size(), 3u);
  BOOST_TEST(o.front().text == "o2");
  BOOST_TEST(o.back().text == "o4");
  BOOST_TEST(syn::turns_recent(*t, "kari").size() == 1u);
  BOOST_TEST(syn::turns_recent(*t, "nobody").empty());
  syn::turns_set_max(*t, 1);
  BOOST_TEST(syn::turns_max(*t) == 1u);
  o = syn::turns_recent(*t, "ola");
  BOOST_REQUIRE_EQUAL(o.size(), 1u);
  BOOST_TEST(o[0].text == "o4");
  syn::turns_set_max(*t, 0);
  syn::turns_add(*t, "ola", "user", "x", 9);
  BOOST_TEST(syn::turns_recent(*t, "ola").empty());
}

// Attached to the graph's database, turns are written, bounded per user,
// loaded again by a new turns object (a restart), forgotten per user or
// time range, and trimmed when fewer are kept.
BOOST_AUTO_TEST_CASE(turns_kept_in_the_database_survive_a_reopen) {
  auto dir = std::filesystem::temp_directory_path() / ("syn_turns_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  {
    auto g = syn::kg_open(dir / "kg.sqlite");
    BOOST_REQUIRE(g.has_value());
    auto t = syn::turns_new(3);
    BOOST_TEST(syn::turns_attach(*t, **g).value() == 0u);
    for (int i = 0; i < 5; ++i) syn::turns_add(*t, "ola", "user", "o" + std::to_string(i), 100 + i);
    syn::turns_add(*t, "kari", "user", "k0", 100);
    syn::turns_add(*t, "kari", "assistant", "k1", 200);
    BOOST_TEST(syn::turns_write_errors(*t) == 0u);
  }
  auto g = syn::kg_open(dir / "kg.sqlite");
  BOOST_REQUIRE(g.has_value());
  auto t = syn::turns_new(3);
  BOOST_TEST(syn::turns_attach(*t, **g).value() == 5u);  // ola's last 3, kari's 2
  auto o = syn::turns_recent(*t, "ola");
  BOOST_REQUIRE_EQUAL(o.size(), 3u);
  BOOST_TEST(o.front().text == "o2");
  BOOST_TEST(o.back().text == "o4");
  BOOST_TEST(o.back().ts_ms == 104);
  // a time range: kari's turn at 200 only
  BOOST_TEST(syn::turns_forget(*t, "kari", 150, std::nullopt).value() == 1);
  BOOST_REQUIRE_EQUAL(syn::turns_recent(*t, "kari").size(), 1u);
  BOOST_TEST(syn::turns_recent(*t, "kari")[0].text == "k0");
  BOOST_TEST(syn::turns_forget(*t, "kari", std::nullopt, std::nullopt).value() == 1);
  BOOST_TEST(syn::turns_recent(*t, "kari").empty());
  syn::turns_set_max(*t, 1);
  auto t2 = syn::turns_new(8);  // a later start keeping more: only what was stored
  BOOST_TEST(syn::turns_attach(*t2, **g).value() == 1u);
  BOOST_TEST(syn::turns_recent(*t2, "ola")[0].text == "o4");
  BOOST_TEST(syn::turns_recent(*t2, "kari").empty());
  g->reset();
  std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(answer_or_prompt) {
  auto dir = std::filesystem::temp_directory_path() / ("syn_compose_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto g = syn::kg_open(dir / "kg.sqlite");
  BOOST_REQUIRE(g.has_value());
  std::vector<syn::triple> t = {{"Kari", "lives_in", "Bergen", {{"subject_type", "person"}}},
                                {"Kari", "likes", "hiking", {}}};
  BOOST_REQUIRE(syn::kg_add(**g, t).has_value());
  auto links = syn::linker_build(**g);
  auto set = syn::templates_load_dir(std::string(AIKID_SOURCE_DIR) + "/config/templates", fake::embed);
  BOOST_REQUIRE(set.has_value());
  auto tz = syn::zone_open("Europe/Oslo");
  BOOST_REQUIRE(tz.has_value());
  auto conv = syn::turns_new(4);
  syn::turns_add(*conv, "ola", "user", "I am planning a trip", 1);
  syn::turns_add(*conv, "ola", "assistant", "Where to?", 2);

  syn::compose_env env;
  env.graph = g->get();
  env.links = links.get();
  env.templates = set->get();
  env.conversation = conv.get();
  env.tz = tz->get();
  env.count_tokens = [](std::string_view s) { return static_cast<int>(s.size() / 4 + 1); };
  syn::compose_settings st;
  st.prompt_turns = 2;  // the default is none (bench/results/model_answers.md); here both turns are offered
  std::vector<syn::memory_hit> mems = {{5, "Kari moved to Bergen last year", 0.7f}};

  // A template answers.
  const std::string q1 = "who is Kari?";
  auto v1 = fake::embed_one(q1);
  syn::compose_request r1{q1, "ola", v1, mems, 1714551300000LL, nullptr};
  auto c1 = syn::synthesis_compose(env, r1, st);
  BOOST_REQUIRE_MESSAGE(c1.has_value(), (c1 ? std::string() : c1.error().message));
  BOOST_TEST(c1->answered);
  BOOST_TEST(c1->source == "template:who_is.en");
  BOOST_TEST(c1->text.find("Kari is a person.") == 0u);
  BOOST_TEST(c1->text.find("- Kari lives in Bergen") != std::string::npos);
  BOOST_REQUIRE_EQUAL(c1->links.size(), 1u);

  // No template: messages for the model with facts, memories and turns.
  const std::string q2 = "should I visit Kari in autumn or spring";
  auto v2 = fake::embed_one(q2);
  syn::compose_request r2{q2, "ola", v2, mems, 1714551300000LL, nullptr};
  auto c2 = syn::synthesis_compose(env, r2, st);
  BOOST_REQUIRE(c2.has_value());
  BOOST_TEST(!c2->answered);
  BOOST_TEST(c2->source == "llm");
  BOOST_REQUIRE_EQUAL(c2->messages.size(), 4u);  // system, 2 turns, user
  // facts as plain sentences, memories as plain lines: no bullets, no dumps
  BOOST_TEST(c2->messages[0].content.find("\nKari lives in Bergen.\n") != std::string::npos);
  BOOST_TEST(c2->messages[0].content.find("\nKari likes hiking.") != std::string::npos);
  BOOST_TEST(c2->messages[0].content.find("\nKari moved to Bergen last year\n") == std::string::npos);  // last line
  BOOST_TEST(c2->messages[0].content.find("\nKari moved to Bergen last year") != std::string::npos);
  BOOST_TEST(c2->messages[0].content.find("- ") == std::string::npos);
  BOOST_TEST(c2->messages[1].content == "I am planning a trip");
  BOOST_TEST(c2->messages[2].role == "assistant");
  BOOST_TEST(c2->messages[3].content == q2);
  BOOST_TEST(c2->memory_ids == std::vector<std::int64_t>{5}, boost::test_tools::per_element());

  // Fewer turns when asked (synthesis.prompt_turns): the latest only, or none;
  // a memory under synthesis.prompt_memory_score is not shown.
  syn::compose_settings few = st;
  few.prompt_turns = 1;
  few.memory_min_score = 0.8f;
  auto c2b = syn::synthesis_compose(env, r2, few);
  BOOST_REQUIRE(c2b.has_value());
  BOOST_REQUIRE_EQUAL(c2b->messages.size(), 3u);  // system, the latest turn, user
  BOOST_TEST(c2b->messages[1].content == "Where to?");
  BOOST_TEST(c2b->messages[0].content.find("moved to Bergen") == std::string::npos);
  BOOST_TEST(c2b->memory_ids.empty());
  few.prompt_turns = 0;
  auto c2c = syn::synthesis_compose(env, r2, few);
  BOOST_REQUIRE(c2c.has_value());
  BOOST_REQUIRE_EQUAL(c2c->messages.size(), 2u);  // system, user

  // No template set at all: always the prompt. A bad vector is an error.
  env.templates = nullptr;
  auto c3 = syn::synthesis_compose(env, r1, st);
  BOOST_REQUIRE(c3.has_value());
  BOOST_TEST(!c3->answered);
  env.templates = set->get();
  std::vector<float> bad(3, 1.f);
  syn::compose_request r4{q1, "ola", bad, {}, 0, nullptr};
  BOOST_TEST(syn::synthesis_compose(env, r4, st).error().code == aikid::errc::bad_request);
  g->reset();
  std::filesystem::remove_all(dir);
}

