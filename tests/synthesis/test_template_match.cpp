// Template choice on labelled utterances (English and Norwegian) with the
// fake embedder, plus threshold, keyword boost and the FAISS search path.
#define BOOST_TEST_MODULE synthesis_template_match
#include <boost/test/unit_test.hpp>

#include "actors/synthesis/synthesis.hpp"
#include "tests/synthesis/fake_embed.hpp"
#include "tests/synthesis/test_util.hpp"

namespace syn = aikid::synthesis;

namespace {

syn::template_set_ptr load_starters() {
  auto s = syn::templates_load_dir(std::string(AIKID_SOURCE_DIR) + "/config/templates", fake::embed);
  BOOST_REQUIRE_MESSAGE(s.has_value(), (s ? std::string() : s.error().message));
  return *s;
}

std::string choose(const syn::template_set& s, const std::string& text, syn::match_options opt = {}) {
  auto v = fake::embed_one(text);
  auto m = syn::templates_match(s, text, v, opt);
  BOOST_REQUIRE(m.has_value());
  return m->index < 0 ? std::string("-") : syn::templates_get(s, static_cast<std::size_t>(m->index)).name;
}

}  // namespace

BOOST_AUTO_TEST_CASE(labelled_utterances_en_and_no) {
  auto set = load_starters();
  const std::vector<std::pair<std::string, std::string>> labelled = {
      // English
      {"hello", "greeting.en"},
      {"Hello there, Aiki!", "greeting.en"},
      {"good evening", "greeting.en"},
      {"what do you remember about Kari?", "remember_about.en"},
      {"What do you know about the cabin", "remember_about.en"},
      {"what is due today", "due_today.en"},
      {"Do I have any deadlines today?", "due_today.en"},
      {"what did I say about the dentist?", "said_about.en"},
      {"did I tell you about my trip to Bergen", "said_about.en"},
      {"who is Ola?", "who_is.en"},
      {"Who's Per", "who_is.en"},
      {"status report please", "status.en"},
      {"what is your status", "status.en"},
      // Norwegian
      {"hei", "greeting.no"},
      {"God morgen!", "greeting.no"},
      {"hva husker du om Kari?", "remember_about.no"},
      {"Hva vet du om hytta", "remember_about.no"},
      {"hva forfaller i dag", "due_today.no"},
      {"har jeg noen frister i dag?", "due_today.no"},
      {"hva sa jeg om tannlegen?", "said_about.no"},
      {"hva har jeg sagt om jobben", "said_about.no"},
      {"hvem er Ola?", "who_is.no"},
      {"Hvem er Åse", "who_is.no"},
      {"statusrapport", "status.no"},
      {"hva er statusen din", "status.no"},
      // Nothing fits: goes to the model.
      {"write me a poem about autumn leaves", "-"},
      {"skriv et dikt om høsten", "-"},
      {"translate this sentence into German", "-"},
  };
  int right = 0;
  for (const auto& [text, want] : labelled) {
    const auto got = choose(*set, text);
    BOOST_TEST(got == want, "\"" << text << "\" → " << got << ", want " << want);
    right += got == want;
  }
  BOOST_TEST_MESSAGE(right << "/" << labelled.size() << " labelled utterances right");
}

BOOST_AUTO_TEST_CASE(faiss_search_agrees_with_the_scan) {
  auto set = load_starters();
  syn::match_options faiss_opt;
  faiss_opt.use_faiss_search = true;
  for (const char* t : {"hello", "hva husker du om Kari?", "what is due today", "write me a poem",
                        "hvem er Ola?", "status"}) {
    auto v = fake::embed_one(t);
    auto a = syn::templates_match(*set, t, v, {});
    auto b = syn::templates_match(*set, t, v, faiss_opt);
    BOOST_REQUIRE(a.has_value());
    BOOST_REQUIRE(b.has_value());
    BOOST_TEST(a->index == b->index, t);
    BOOST_TEST(a->score == b->score, boost::test_tools::tolerance(1e-5f));
  }
}

BOOST_AUTO_TEST_CASE(threshold_and_keywords_are_live_settings) {
  auto set = load_starters();
  const std::string text = "hello";
  auto v = fake::embed_one(text);
  syn::match_options strict;
  strict.threshold = 1.5f;  // nothing can reach it
  auto m = syn::templates_match(*set, text, v, strict);
  BOOST_REQUIRE(m.has_value());
  BOOST_TEST(m->index == -1);
  BOOST_TEST(m->score > 1.0f);  // exact example + keyword boost, reported for tuning
  // Keyword only (no vector): a keyword hit alone scores keyword_boost.
  syn::match_options kw;
  kw.threshold = 0.2f;
  auto k = syn::templates_match(*set, "so, what is due today", {}, kw);
  BOOST_REQUIRE(k.has_value());
  BOOST_REQUIRE(k->index >= 0);
  BOOST_TEST(syn::templates_get(*set, static_cast<std::size_t>(k->index)).intent == "due_today");
  BOOST_TEST(k->keyword);
  // A wrong dimension is the caller's error.
  std::vector<float> bad(7, 0.1f);
  auto e = syn::templates_match(*set, text, bad, {});
  BOOST_REQUIRE(!e.has_value());
  BOOST_TEST(e.error().code == aikid::errc::bad_request);
}

BOOST_AUTO_TEST_CASE(keyword_only_template) {
  std::vector<syn::template_source> src = {
      {"k.toml", "name = \"k\"\nintent = \"k\"\nmode = \"answer\"\nkeywords = [\"bursdag\", \"Kari Nordmann\"]\nbody = \"yes\"\n"},
      {"e.toml", "name = \"e\"\nintent = \"e\"\nmode = \"answer\"\nexamples = [\"the weather tomorrow\"]\nbody = \"sun\"\n"}};
  auto s = syn::templates_load_sources(src, fake::embed);
  BOOST_REQUIRE(s.has_value());
  auto t = [&](const std::string& text) { return choose(**s, text); };
  BOOST_TEST(t("når har KARI  NORDMANN bursdag?") == "k");
  BOOST_TEST(t("bursdagen") == "-");  // whole words only
  BOOST_TEST(t("the weather tomorrow") == "e");
}
