// Entity linking: overlapping names and aliases, longest match, whole words,
// Unicode case folding (Norwegian æøå, ß), rebuild after kg changes.
#define BOOST_TEST_MODULE synthesis_linker
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <unistd.h>

#include "actors/synthesis/synthesis.hpp"
#include "tests/synthesis/test_util.hpp"

namespace syn = aikid::synthesis;

namespace {

struct graph_fixture {
  std::filesystem::path dir;
  syn::kg_ptr g;
  graph_fixture() {
    dir = std::filesystem::temp_directory_path() / ("syn_linker_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    auto r = syn::kg_open(dir / "kg.sqlite");
    BOOST_REQUIRE_MESSAGE(r.has_value(), (r ? std::string() : r.error().message));
    g = std::move(*r);
    std::vector<syn::triple> t = {
        {"Ola Nordmann", "alias", "Ola", {}},
        {"Ola Nordmann", "lives_in", "Oslo", {}},
        {"Oslo", "alias", "Christiania", {}},
        {"New York", "is_a", "city", {}},
        {"New York City", "alias", "NYC", {}},
        {"York", "is_a", "city", {}},
        {"Ærlige Åse", "works_at", "Østfold Sykehus", {}},
        {"Straße", "is_a", "word", {}},
        {"Kari", "sister_of", "Ola Nordmann", {}},
        {"Kari Hansen", "alias", "Kari H", {}},
        {"C++", "is_a", "language", {}},
    };
    auto a = syn::kg_add(*g, t);
    BOOST_REQUIRE_MESSAGE(a.has_value(), (a ? std::string() : a.error().message));
  }
  ~graph_fixture() {
    g.reset();
    std::filesystem::remove_all(dir);
  }
};

std::vector<std::string> names(const std::vector<syn::link>& ls) {
  std::vector<std::string> out;
  for (auto& l : ls) out.push_back(l.name);
  return out;
}

std::string span(std::string_view text, const syn::link& l) {
  return std::string(text.substr(l.begin, l.end - l.begin));
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(linker, graph_fixture)

BOOST_AUTO_TEST_CASE(longest_match_wins_over_contained_alias) {
  auto l = syn::linker_build(*g);
  const std::string text = "I met Ola Nordmann and later ola in Oslo.";
  auto ls = syn::linker_find(*l, text);
  BOOST_REQUIRE_EQUAL(ls.size(), 3u);
  BOOST_TEST(span(text, ls[0]) == "Ola Nordmann");
  BOOST_TEST(ls[0].name == "Ola Nordmann");
  BOOST_TEST(span(text, ls[1]) == "ola");
  BOOST_TEST(ls[1].name == "Ola Nordmann");  // alias → canonical entity
  BOOST_TEST(ls[2].name == "Oslo");
  BOOST_TEST(ls[0].entity_id == ls[1].entity_id);
}

BOOST_AUTO_TEST_CASE(overlapping_names_leftmost_longest) {
  auto l = syn::linker_build(*g);
  // "New York City" (longest) beats "New York" and "York".
  const std::string t1 = "Flying to new york city tomorrow";
  auto a = syn::linker_find(*l, t1);
  BOOST_REQUIRE_EQUAL(a.size(), 1u);
  BOOST_TEST(a[0].name == "New York City");
  BOOST_TEST(span(t1, a[0]) == "new york city");
  // Without "City": "New York", and "York" alone is not reported inside it.
  const std::string t2 = "New York, then York.";
  auto b = syn::linker_find(*l, t2);
  BOOST_TEST(names(b) == (std::vector<std::string>{"New York", "York"}), boost::test_tools::per_element());
  BOOST_TEST(span(t2, b[1]) == "York");
  // Kari vs Kari H (alias of Kari Hansen) — longest wins where both fit.
  const std::string t3 = "Kari H called Kari.";
  auto c = syn::linker_find(*l, t3);
  BOOST_TEST(names(c) == (std::vector<std::string>{"Kari Hansen", "Kari"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(word_boundaries) {
  auto l = syn::linker_build(*g);
  BOOST_TEST(syn::linker_find(*l, "Olav and Oslofjord and Yorkshire").empty());
  BOOST_TEST(syn::linker_find(*l, "karin").empty());
  auto a = syn::linker_find(*l, "(Ola)");
  BOOST_REQUIRE_EQUAL(a.size(), 1u);
  BOOST_TEST(a[0].name == "Ola Nordmann");
  auto b = syn::linker_find(*l, "I write c++ daily");
  BOOST_REQUIRE_EQUAL(b.size(), 1u);
  BOOST_TEST(b[0].name == "C++");
}

BOOST_AUTO_TEST_CASE(unicode_case_folding_norwegian) {
  auto l = syn::linker_build(*g);
  const std::string text = "ÆRLIGE ÅSE jobber på østfold sykehus";
  auto a = syn::linker_find(*l, text);
  BOOST_REQUIRE_EQUAL(a.size(), 2u);
  BOOST_TEST(a[0].name == "Ærlige Åse");
  BOOST_TEST(span(text, a[0]) == "ÆRLIGE ÅSE");
  BOOST_TEST(a[1].name == "Østfold Sykehus");
  BOOST_TEST(span(text, a[1]) == "østfold sykehus");
  // Full case folding: STRASSE matches Straße; white space runs match one space.
  auto b = syn::linker_find(*l, "die STRASSE und Ola    Nordmann");
  BOOST_TEST(names(b) == (std::vector<std::string>{"Straße", "Ola Nordmann"}), boost::test_tools::per_element());
  // Letters around æøå are word characters: "Åsen" is not "Åse".
  BOOST_TEST(syn::linker_find(*l, "ærlige åsen").empty());
}

BOOST_AUTO_TEST_CASE(shared_alias_links_every_entity) {
  std::vector<syn::triple> t = {{"Per Olsen", "alias", "Per", {}}, {"Per Hansen", "alias", "Per", {}}};
  BOOST_REQUIRE(syn::kg_add(*g, t));
  auto l = syn::linker_build(*g);
  auto a = syn::linker_find(*l, "Per said hi");
  BOOST_REQUIRE_EQUAL(a.size(), 2u);
  BOOST_TEST(a[0].begin == a[1].begin);
  BOOST_TEST(a[0].entity_id != a[1].entity_id);
}

BOOST_AUTO_TEST_CASE(rebuild_follows_kg_changes_and_bad_bytes_are_safe) {
  auto l = syn::linker_build(*g);
  BOOST_TEST(syn::linker_generation(*l) == syn::kg_stats_get(*g).generation);
  BOOST_TEST(syn::linker_find(*l, "Bergen").empty());
  std::vector<syn::triple> t = {{"Bergen", "is_a", "city", {}}};
  BOOST_REQUIRE(syn::kg_add(*g, t));
  BOOST_TEST(syn::linker_generation(*l) != syn::kg_stats_get(*g).generation);
  l = syn::linker_build(*g);
  BOOST_TEST(syn::linker_find(*l, "to Bergen").size() == 1u);
  BOOST_REQUIRE(syn::kg_delete_entity(*g, "Bergen"));
  l = syn::linker_build(*g);
  BOOST_TEST(syn::linker_find(*l, "to Bergen").empty());
  // Invalid UTF-8 never crashes and never matches across the bad byte.
  const std::string bad = std::string("Os\xff") + "lo Oslo \xc3";
  auto a = syn::linker_find(*l, bad);
  BOOST_REQUIRE_EQUAL(a.size(), 1u);
  BOOST_TEST(span(bad, a[0]) == "Oslo");
}

BOOST_AUTO_TEST_SUITE_END()
