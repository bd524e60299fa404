// Knowledge graph scoped by user (issue 23, item 3): two users with an entity
// of the same name never see each other's facts; the shared graph (user "")
// is seen by both; kg_replace keeps history and queries show the current
// facts only; a superseded triple can be added again; kg_delete_user; the
// linker and the due list per user; the v3 → v4 migration of a database made
// by the old schema; reopening keeps every scope; bad users.
//
// Table of contents
//   fixture              tmp_kg (a fresh graph in a temporary folder, reopen)
//   scopes               two_users_same_name_never_see_each_other, shared_facts_are_seen_by_every_user,
//                        a_walk_never_enters_another_users_graph, deletes_stay_in_their_scope
//   history              replace_supersedes_and_keeps_history, a_superseded_triple_can_be_added_again
//   per user             due_lists_and_reminders_per_user, linker_links_only_visible_entities,
//                        compose_links_and_queries_in_the_users_scope, delete_user_removes_only_that_user,
//                        forget_takes_what_was_learned_in_a_time_range, forgotten_facts_are_in_no_file
//   durability           reopen_keeps_scopes_and_history, a_version_3_database_is_migrated_to_scopes
//   bad input            a_user_that_is_not_utf8_is_refused
#define BOOST_TEST_MODULE synthesis_kg_scopes
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>
#include <set>
#include <unistd.h>

#include <SQLiteCpp/SQLiteCpp.h>

#include "actors/synthesis/synthesis.hpp"
#include "tests/synthesis/test_util.hpp"

namespace syn = aikid::synthesis;
using aikid::errc;

namespace {

struct tmp_kg {
  std::filesystem::path dir;
  syn::kg_ptr g;
  explicit tmp_kg(const std::string& tag) {
    dir = std::filesystem::temp_directory_path() / ("syn_kgs_" + tag + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    reopen();
  }
  void reopen() {
    g.reset();
    auto r = syn::kg_open(dir / "kg.sqlite");
    BOOST_REQUIRE_MESSAGE(r.has_value(), (r ? std::string() : r.error().message));
    g = std::move(*r);
  }
  ~tmp_kg() {
    g.reset();
    std::filesystem::remove_all(dir);
  }
};

void add(syn::kg& g, std::vector<syn::triple> t, std::string_view user) {
  auto r = syn::kg_add(g, t, user);
  BOOST_REQUIRE_MESSAGE(r.has_value(), (r ? std::string() : r.error().message));
}

// "subject relation object @user" for each fact, in order.
std::vector<std::string> said(const std::vector<syn::fact>& fs) {
  std::vector<std::string> out;
  for (const auto& f : fs) out.push_back(f.subject + " " + f.relation + " " + f.object + " @" + f.user);
  return out;
}

std::vector<std::string> query(const syn::kg& g, std::string_view e, std::string_view user, int depth = 1) {
  auto r = syn::kg_query(g, e, depth, user);
  BOOST_REQUIRE_MESSAGE(r.has_value(), (r ? std::string() : r.error().message));
  return said(*r);
}

using strs = std::vector<std::string>;

}  // namespace

BOOST_AUTO_TEST_CASE(two_users_same_name_never_see_each_other) {
  tmp_kg k("two");
  add(*k.g, {{"Kari", "lives in", "Bergen", {}}, {"Kari", "likes", "tea", {}}}, "alice");
  add(*k.g, {{"Kari", "lives in", "Oslo", {}}, {"kari", "alias", "KH", {}}}, "bob");
  BOOST_TEST(query(*k.g, "Kari", "alice") == (strs{"Kari lives in Bergen @alice", "Kari likes tea @alice"}),
             boost::test_tools::per_element());
  BOOST_TEST(query(*k.g, "kari", "bob") == (strs{"Kari lives in Oslo @bob"}), boost::test_tools::per_element());
  BOOST_TEST(query(*k.g, "KH", "bob").size() == 1u);
  // bob's alias is not alice's name; the shared graph has no Kari; a third user sees nothing
  BOOST_TEST(syn::kg_query(*k.g, "KH", 1, "alice").error().code == errc::not_found);
  BOOST_TEST(syn::kg_query(*k.g, "Kari", 1, "").error().code == errc::not_found);
  BOOST_TEST(syn::kg_query(*k.g, "Kari", 1, "carol").error().code == errc::not_found);
  // two entities named Kari, one per user
  auto a = syn::kg_find(*k.g, "Kari", "alice");
  auto b = syn::kg_find(*k.g, "Kari", "bob");
  BOOST_REQUIRE(a);
  BOOST_REQUIRE(b);
  BOOST_TEST(a->id != b->id);
  BOOST_TEST(a->user == "alice");
  BOOST_TEST(b->user == "bob");
  BOOST_TEST(b->aliases == (strs{"KH"}), boost::test_tools::per_element());
  auto ea = syn::kg_entities(*k.g, "", 100, "alice");
  BOOST_REQUIRE(ea);
  std::set<std::string> names;
  for (const auto& e : *ea) {
    BOOST_TEST(e.user == "alice");
    names.insert(e.name);
  }
  BOOST_TEST(names == (std::set<std::string>{"Kari", "Bergen", "tea"}), boost::test_tools::per_element());
  BOOST_TEST(syn::kg_entities(*k.g, "", 100, "")->empty());
  BOOST_TEST(syn::kg_facts(*k.g, "Kari", "lives in", "bob").value().size() == 1u);
  BOOST_TEST(syn::kg_stats_get(*k.g).entities == 5u);
}

BOOST_AUTO_TEST_CASE(shared_facts_are_seen_by_every_user) {
  tmp_kg k("shared");
  add(*k.g, {{"Kari", "born in", "1990", {}}, {"Oslo", "capital of", "Norway", {}}}, "");
  add(*k.g, {{"Kari", "lives in", "Bergen", {}}}, "alice");
  // alice: her Kari and the shared one; bob (nothing of his own): the shared one
  BOOST_TEST(query(*k.g, "Kari", "alice") == (strs{"Kari born in 1990 @", "Kari lives in Bergen @alice"}),
             boost::test_tools::per_element());
  BOOST_TEST(query(*k.g, "Kari", "bob") == (strs{"Kari born in 1990 @"}), boost::test_tools::per_element());
  BOOST_TEST(query(*k.g, "Oslo", "alice") == (strs{"Oslo capital of Norway @"}), boost::test_tools::per_element());
  BOOST_TEST(query(*k.g, "Kari", "") == (strs{"Kari born in 1990 @"}), boost::test_tools::per_element());
  // kg_find: the user's own first, else the shared one
  BOOST_TEST(syn::kg_find(*k.g, "Kari", "alice")->user == "alice");
  BOOST_TEST(syn::kg_find(*k.g, "Kari", "bob")->user == "");
  // kg_facts is the user's own graph only
  BOOST_TEST(syn::kg_facts(*k.g, "Kari", "", "alice").value().size() == 1u);
  BOOST_TEST(syn::kg_facts(*k.g, "Oslo", "", "alice").error().code == errc::not_found);
  // kg_entities: the user's and the shared ones, the user's first for one name
  auto es = syn::kg_entities(*k.g, "kar", 100, "alice");
  BOOST_REQUIRE(es);
  BOOST_REQUIRE_EQUAL(es->size(), 2u);
  BOOST_TEST((*es)[0].user == "alice");
  BOOST_TEST((*es)[1].user == "");
  BOOST_TEST(syn::kg_entities(*k.g, "kar", 1, "alice")->size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_walk_never_enters_another_users_graph) {
  tmp_kg k("walk");
  add(*k.g, {{"Kari", "lives in", "Bergen", {}}, {"Bergen", "has", "rain", {}}}, "alice");
  add(*k.g, {{"Bergen", "has", "fish market", {}}, {"fish market", "sells", "salmon", {}},
             {"Kari", "works at", "Equinor", {}}},
      "bob");
  add(*k.g, {{"Bergen", "is in", "Norway", {}}}, "");
  for (int depth = 1; depth <= 3; ++depth) {
    const auto a1 = syn::kg_query(*k.g, "Kari", depth, "alice").value();
    const auto a2 = syn::kg_query(*k.g, "Bergen", depth, "alice").value();
    const auto b1 = syn::kg_query(*k.g, "Bergen", depth, "bob").value();
    for (const auto& f : a1) BOOST_TEST((f.user == "alice" || f.user == ""));
    for (const auto& f : a2) BOOST_TEST(f.user != "bob");
    for (const auto& f : b1) BOOST_TEST(f.user != "alice");
  }
  BOOST_TEST(query(*k.g, "Kari", "alice", 3) == (strs{"Kari lives in Bergen @alice", "Bergen has rain @alice"}),
             boost::test_tools::per_element());
  // from Bergen: the user's Bergen and the shared one are both starts
  BOOST_TEST(query(*k.g, "Bergen", "bob", 2) ==
                 (strs{"Bergen has fish market @bob", "Bergen is in Norway @", "fish market sells salmon @bob"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(deletes_stay_in_their_scope) {
  tmp_kg k("del");
  add(*k.g, {{"Kari", "lives in", "Bergen", {}}}, "alice");
  add(*k.g, {{"Kari", "lives in", "Oslo", {}}}, "bob");
  add(*k.g, {{"Oslo", "capital of", "Norway", {}}}, "");
  // alice cannot delete bob's triple nor the shared entity
  BOOST_TEST(syn::kg_delete_triple(*k.g, {"Kari", "lives in", "Oslo", {}}, "alice").error().code == errc::not_found);
  BOOST_TEST(syn::kg_delete_entity(*k.g, "Norway", "alice").error().code == errc::not_found);
  BOOST_TEST(syn::kg_delete_entity(*k.g, "Kari", "alice").value() == 2);
  BOOST_TEST(query(*k.g, "Kari", "bob").size() == 1u);
  BOOST_TEST(syn::kg_delete_triple(*k.g, {"Kari", "lives in", "Oslo", {}}, "bob").value() == 1);
  BOOST_TEST(query(*k.g, "Oslo", "bob") == (strs{"Oslo capital of Norway @"}), boost::test_tools::per_element());
  BOOST_TEST(syn::kg_delete_entity(*k.g, "Norway", "").value() == 2);
  BOOST_TEST(syn::kg_query(*k.g, "Oslo", 1, "bob").value().empty());  // bob's Oslo (no facts left) is still his
}

BOOST_AUTO_TEST_CASE(replace_supersedes_and_keeps_history) {
  tmp_kg k("replace");
  add(*k.g, {{"Kari", "lives in", "Bergen", {}}, {"Kari", "likes", "tea", {}}}, "alice");
  add(*k.g, {{"Kari", "lives in", "Bergen", {}}}, "bob");
  auto n = syn::kg_replace(*k.g, {"Kari", "lives in", "Oslo", {{"since", 2024}}}, "alice");
  BOOST_REQUIRE_MESSAGE(n.has_value(), (n ? std::string() : n.error().message));
  BOOST_TEST(*n == 1);
  BOOST_TEST(query(*k.g, "Kari", "alice") == (strs{"Kari likes tea @alice", "Kari lives in Oslo @alice"}),
             boost::test_tools::per_element());
  auto cur = syn::kg_facts(*k.g, "Kari", "lives in", "alice");
  BOOST_REQUIRE(cur);
  BOOST_TEST(said(*cur) == (strs{"Kari lives in Oslo @alice"}), boost::test_tools::per_element());
  BOOST_TEST((*cur)[0].attrs["since"] == 2024);
  BOOST_TEST(!(*cur)[0].superseded_ms.has_value());
  auto hist = syn::kg_history(*k.g, "kari", "lives in", "alice");
  BOOST_REQUIRE(hist);
  BOOST_TEST(said(*hist) == (strs{"Kari lives in Bergen @alice", "Kari lives in Oslo @alice"}),
             boost::test_tools::per_element());
  BOOST_TEST((*hist)[0].superseded_ms.has_value());
  BOOST_TEST(!(*hist)[1].superseded_ms.has_value());
  // Bergen (the object) still exists but no longer has the relation in a query
  BOOST_TEST(syn::kg_query(*k.g, "Bergen", 1, "alice").value().empty());
  // bob's graph is untouched
  BOOST_TEST(query(*k.g, "Kari", "bob") == (strs{"Kari lives in Bergen @bob"}), boost::test_tools::per_element());
  // replacing with the current object supersedes nothing and replaces its attrs
  BOOST_TEST(syn::kg_replace(*k.g, {"Kari", "lives in", "Oslo", {{"since", 2025}}}, "alice").value() == 0);
  BOOST_TEST(syn::kg_facts(*k.g, "Kari", "lives in", "alice")->at(0).attrs["since"] == 2025);
  BOOST_TEST(syn::kg_history(*k.g, "Kari", "lives in", "alice")->size() == 2u);
  // a new subject: nothing to supersede
  BOOST_TEST(syn::kg_replace(*k.g, {"Per", "lives in", "Molde", {}}, "alice").value() == 0);
  auto st = syn::kg_stats_get(*k.g);
  BOOST_TEST(st.superseded == 1u);
  BOOST_TEST(st.relations == 4u);  // alice: likes, lives in Oslo, Per lives in; bob: lives in
  BOOST_TEST(syn::kg_replace(*k.g, {"Kari", "alias", "K", {}}, "alice").error().code == errc::bad_request);
  BOOST_TEST(syn::kg_history(*k.g, "Nobody", "", "alice").error().code == errc::not_found);
}

BOOST_AUTO_TEST_CASE(a_superseded_triple_can_be_added_again) {
  tmp_kg k("readd");
  add(*k.g, {{"Kari", "lives in", "Bergen", {}}}, "alice");
  BOOST_TEST(syn::kg_replace(*k.g, {"Kari", "lives in", "Oslo", {}}, "alice").value() == 1);
  // back to Bergen by replace: Oslo superseded, Bergen current in a new row
  BOOST_TEST(syn::kg_replace(*k.g, {"Kari", "lives in", "Bergen", {}}, "alice").value() == 1);
  auto cur = syn::kg_facts(*k.g, "Kari", "lives in", "alice").value();
  BOOST_TEST(said(cur) == (strs{"Kari lives in Bergen @alice"}), boost::test_tools::per_element());
  auto hist = syn::kg_history(*k.g, "Kari", "lives in", "alice").value();
  BOOST_TEST(said(hist) == (strs{"Kari lives in Bergen @alice", "Kari lives in Oslo @alice", "Kari lives in Bergen @alice"}),
             boost::test_tools::per_element());
  BOOST_TEST(cur[0].id == hist[2].id);
  BOOST_TEST(hist[0].id != hist[2].id);
  // by kg_add: Oslo was superseded; adding it again makes a new current row (counted as new)
  BOOST_TEST(syn::kg_add(*k.g, std::vector<syn::triple>{{"Kari", "lives in", "Oslo", {}}}, "alice").value() == 1);
  BOOST_TEST(syn::kg_facts(*k.g, "Kari", "lives in", "alice")->size() == 2u);
  BOOST_TEST(syn::kg_history(*k.g, "Kari", "lives in", "alice")->size() == 4u);
  // and it survives a reopen (the unique index counts current rows only)
  k.reopen();
  BOOST_TEST(said(*syn::kg_facts(*k.g, "Kari", "lives in", "alice")) ==
                 (strs{"Kari lives in Bergen @alice", "Kari lives in Oslo @alice"}),
             boost::test_tools::per_element());
  BOOST_TEST(syn::kg_history(*k.g, "Kari", "lives in", "alice")->size() == 4u);
  // deleting the entity takes its history too
  BOOST_TEST(syn::kg_delete_entity(*k.g, "Kari", "alice").value() == 5);
  BOOST_TEST(syn::kg_stats_get(*k.g).superseded == 0u);
}

BOOST_AUTO_TEST_CASE(due_lists_and_reminders_per_user) {
  tmp_kg k("due");
  add(*k.g, {{"alice", "dentist", "Dr Berg", {{"due", 1000}}}}, "alice");
  add(*k.g, {{"bob", "dentist", "Dr Berg", {{"due", 2000}}}}, "bob");
  add(*k.g, {{"Norway", "national day", "17 May", {{"due", 3000}}}}, "");
  auto subjects = [](const std::vector<syn::fact>& fs) {
    std::vector<std::string> out;
    for (const auto& f : fs) out.push_back(f.subject + "@" + f.user);
    return out;
  };
  BOOST_TEST(subjects(syn::kg_due(*k.g, 0, 10000, "alice")) == (strs{"alice@alice", "Norway@"}),
             boost::test_tools::per_element());
  BOOST_TEST(subjects(syn::kg_due(*k.g, 0, 10000, "bob")) == (strs{"bob@bob", "Norway@"}),
             boost::test_tools::per_element());
  BOOST_TEST(subjects(syn::kg_due(*k.g, 0, 10000, "")) == (strs{"Norway@"}), boost::test_tools::per_element());
  // a superseded relation is not due
  BOOST_TEST(syn::kg_replace(*k.g, {"alice", "dentist", "Dr Dahl", {{"due", 1500}}}, "alice").value() == 1);
  BOOST_TEST(syn::kg_due(*k.g, 0, 10000, "alice").front().object == "Dr Dahl");
  // kg_due_take fires every user's, each with its user
  auto taken = syn::kg_due_take(*k.g, 10000);
  BOOST_REQUIRE(taken);
  BOOST_TEST(subjects(*taken) == (strs{"alice@alice", "bob@bob", "Norway@"}), boost::test_tools::per_element());
  BOOST_TEST(syn::kg_due_take(*k.g, 10000)->empty());
}

BOOST_AUTO_TEST_CASE(linker_links_only_visible_entities) {
  tmp_kg k("link");
  add(*k.g, {{"Kari Hansen", "lives in", "Bergen", {}}}, "alice");
  add(*k.g, {{"Kari", "lives in", "Oslo", {}}}, "bob");
  add(*k.g, {{"Oslo", "capital of", "Norway", {}}}, "");
  auto l = syn::linker_build(*k.g);
  auto names = [](const std::vector<syn::link>& ls) {
    std::vector<std::string> out;
    for (const auto& x : ls) out.push_back(x.name + "@" + x.user);
    return out;
  };
  const std::string text = "Kari Hansen moved from Oslo to Bergen";
  BOOST_TEST(names(syn::linker_find(*l, text, "alice")) == (strs{"Kari Hansen@alice", "Oslo@", "Bergen@alice"}),
             boost::test_tools::per_element());
  // alice's longer name does not hide bob's "Kari"; bob's Oslo and the shared one both link (by entity id)
  BOOST_TEST(names(syn::linker_find(*l, text, "bob")) == (strs{"Kari@bob", "Oslo@bob", "Oslo@"}),
             boost::test_tools::per_element());
  BOOST_TEST(names(syn::linker_find(*l, text, "carol")) == (strs{"Oslo@"}), boost::test_tools::per_element());
  BOOST_TEST(names(syn::linker_find(*l, text)) == (strs{"Oslo@"}), boost::test_tools::per_element());
}

// The percept's user decides what compose links and which facts reach the prompt.
BOOST_AUTO_TEST_CASE(compose_links_and_queries_in_the_users_scope) {
  tmp_kg k("compose");
  add(*k.g, {{"Kari", "lives in", "Bergen", {}}}, "alice");
  add(*k.g, {{"Kari", "lives in", "Oslo", {}}, {"Kari", "works at", "Equinor", {}}}, "bob");
  add(*k.g, {{"Kari", "born in", "Tromsø", {}}}, "");
  auto links = syn::linker_build(*k.g);
  auto tz = syn::zone_open("UTC");
  BOOST_REQUIRE(tz);
  syn::compose_env env;
  env.graph = k.g.get();
  env.links = links.get();
  env.tz = tz->get();
  env.count_tokens = [](std::string_view s) { return static_cast<int>(s.size() / 4 + 1); };
  syn::compose_settings st;
  auto prompt_of = [&](std::string_view user) {
    syn::compose_request req;
    req.text = "Where does Kari live?";
    req.user = user;
    req.now_ms = 1;
    auto c = syn::synthesis_compose(env, req, st);
    BOOST_REQUIRE_MESSAGE(c.has_value(), (c ? std::string() : c.error().message));
    std::string all;
    for (const auto& m : c->messages) all += m.content + "\n";
    for (const auto& l : c->links) BOOST_TEST((l.user == user || l.user.empty()));
    return all;
  };
  const auto a = prompt_of("alice");
  BOOST_TEST(a.find("Bergen") != std::string::npos);
  BOOST_TEST(a.find("Tromsø") != std::string::npos);
  BOOST_TEST(a.find("Oslo") == std::string::npos);
  BOOST_TEST(a.find("Equinor") == std::string::npos);
  const auto b = prompt_of("bob");
  BOOST_TEST(b.find("Equinor") != std::string::npos);
  BOOST_TEST(b.find("Bergen") == std::string::npos);
  const auto c = prompt_of("carol");
  BOOST_TEST(c.find("Tromsø") != std::string::npos);
  BOOST_TEST(c.find("Bergen") == std::string::npos);
  BOOST_TEST(c.find("Equinor") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(delete_user_removes_only_that_user) {
  tmp_kg k("deluser");
  add(*k.g, {{"Kari", "lives in", "Bergen", {}}, {"Kari", "alias", "K", {}}, {"Kari", "likes", "tea", {}}}, "alice");
  BOOST_TEST(syn::kg_replace(*k.g, {"Kari", "lives in", "Oslo", {}}, "alice").value() == 1);
  add(*k.g, {{"Kari", "lives in", "Oslo", {}}}, "bob");
  add(*k.g, {{"Kari", "born in", "1990", {}}}, "");
  // alice: 4 entities (Kari, Bergen, tea, Oslo), 2 current relations + 1 superseded
  BOOST_TEST(syn::kg_delete_user(*k.g, "alice").value() == 7);
  BOOST_TEST(query(*k.g, "Kari", "alice") == (strs{"Kari born in 1990 @"}), boost::test_tools::per_element());
  BOOST_TEST(query(*k.g, "Kari", "bob") == (strs{"Kari lives in Oslo @bob", "Kari born in 1990 @"}),
             boost::test_tools::per_element());
  BOOST_TEST(syn::kg_delete_user(*k.g, "alice").value() == 0);
  BOOST_TEST(syn::kg_delete_user(*k.g, "nobody").value() == 0);
  BOOST_TEST(syn::kg_delete_user(*k.g, "").error().code == errc::bad_request);
  auto st = syn::kg_stats_get(*k.g);
  BOOST_TEST(st.entities == 4u);  // bob: Kari, Oslo; shared: Kari, 1990
  BOOST_TEST(st.superseded == 0u);
  auto l = syn::linker_build(*k.g);
  BOOST_TEST(syn::linker_find(*l, "K", "alice").empty());
  // alice starts again from nothing: her new Kari is a new entity
  add(*k.g, {{"Kari", "likes", "coffee", {}}}, "alice");
  k.reopen();
  BOOST_TEST(query(*k.g, "Kari", "alice") == (strs{"Kari born in 1990 @", "Kari likes coffee @alice"}),
             boost::test_tools::per_element());
  BOOST_TEST(syn::kg_stats_get(*k.g).entities == 6u);
  SQLite::Database db((k.dir / "kg.sqlite").string(), SQLite::OPEN_READONLY);
  BOOST_TEST(db.execAndGet("SELECT count(*) FROM aliases").getInt() == 0);
  BOOST_TEST(db.execAndGet("SELECT count(*) FROM relations WHERE superseded IS NOT NULL").getInt() == 0);
}

// "Forget what I said on Tuesday": the relations made in the range go, and
// the entities made in it that nothing touches any more; older facts stay.
BOOST_AUTO_TEST_CASE(forget_takes_what_was_learned_in_a_time_range) {
  tmp_kg k("forgetrange");
  add(*k.g, {{"Kari", "lives in", "Bergen", {}}}, "alice");
  const std::int64_t t0 = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch()).count() + 1;
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  add(*k.g, {{"Kari", "likes", "tea", {}}, {"Kari", "works at", "DNB", {}}}, "alice");
  add(*k.g, {{"Kari", "likes", "coffee", {}}}, "bob");
  // nothing made before t0 - 1000 ms
  BOOST_TEST(syn::kg_forget(*k.g, "alice", std::nullopt, t0 - 1000).value() == 0);
  // tea, DNB and their two relations; Kari (made before t0) stays with Bergen
  BOOST_TEST(syn::kg_forget(*k.g, "alice", t0, std::nullopt).value() == 4);
  BOOST_TEST(query(*k.g, "Kari", "alice") == (strs{"Kari lives in Bergen @alice"}), boost::test_tools::per_element());
  BOOST_TEST(query(*k.g, "Kari", "bob") == (strs{"Kari likes coffee @bob"}), boost::test_tools::per_element());
  BOOST_TEST(!syn::kg_find(*k.g, "tea", "alice"));
  BOOST_TEST(syn::kg_forget(*k.g, "", t0, std::nullopt).error().code == errc::bad_request);
  k.reopen();
  BOOST_TEST(query(*k.g, "Kari", "alice") == (strs{"Kari lives in Bergen @alice"}), boost::test_tools::per_element());
  BOOST_TEST(syn::kg_stats_get(*k.g).entities == 4u);  // alice: Kari, Bergen; bob: Kari, coffee
  // no range: the whole user
  BOOST_TEST(syn::kg_forget(*k.g, "alice", std::nullopt, std::nullopt).value() == 3);
}

// With secure_delete and the WAL truncated, a forgotten name is in no file.
BOOST_AUTO_TEST_CASE(forgotten_facts_are_in_no_file) {
  tmp_kg k("forgetfiles");
  add(*k.g, {{"Zebedeus", "lives in", "Quixotown", {}}}, "alice");
  add(*k.g, {{"Olafsen", "lives in", "Bergenby", {}}}, "bob");
  auto holds = [&](const std::string& needle) {
    for (const char* f : {"kg.sqlite", "kg.sqlite-wal", "kg.sqlite-shm"}) {
      std::ifstream in(k.dir / f, std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (bytes.find(needle) != std::string::npos) return true;
    }
    return false;
  };
  BOOST_REQUIRE(holds("Quixotown"));
  BOOST_TEST(syn::kg_forget(*k.g, "alice", std::nullopt, std::nullopt).value() == 3);
  BOOST_REQUIRE(syn::kg_checkpoint(*k.g));
  BOOST_TEST(!holds("Quixotown"));
  BOOST_TEST(!holds("Zebedeus"));
  BOOST_TEST(holds("Bergenby"));
}

BOOST_AUTO_TEST_CASE(reopen_keeps_scopes_and_history) {
  tmp_kg k("reopen");
  add(*k.g, {{"Kari", "lives in", "Bergen", {}}, {"Kari", "alias", "Kaja", {}}}, "alice");
  add(*k.g, {{"Kari", "lives in", "Oslo", {{"due", 5000}}}}, "bob");
  add(*k.g, {{"Kari", "born in", "1990", {}}}, "");
  BOOST_TEST(syn::kg_replace(*k.g, {"Kari", "lives in", "Tromsø", {}}, "alice").value() == 1);
  const auto before_alice = query(*k.g, "Kari", "alice", 2);
  const auto before_bob = query(*k.g, "Kari", "bob", 2);
  const auto hist = said(*syn::kg_history(*k.g, "Kari", "", "alice"));
  const auto when = syn::kg_history(*k.g, "Kari", "", "alice")->front().superseded_ms;
  k.reopen();
  BOOST_TEST(query(*k.g, "Kaja", "alice", 2).size() == 1u);  // alice's alias: her Kari only
  BOOST_TEST(query(*k.g, "Kari", "alice", 2) == before_alice, boost::test_tools::per_element());
  BOOST_TEST(query(*k.g, "Kari", "bob", 2) == before_bob, boost::test_tools::per_element());
  BOOST_TEST(said(*syn::kg_history(*k.g, "Kari", "", "alice")) == hist, boost::test_tools::per_element());
  BOOST_TEST(when.has_value());
  BOOST_TEST(syn::kg_history(*k.g, "Kari", "", "alice")->front().superseded_ms.value_or(-1) == when.value_or(-2));
  BOOST_TEST(before_alice == (strs{"Kari born in 1990 @", "Kari lives in Tromsø @alice"}),
             boost::test_tools::per_element());
  BOOST_TEST(syn::kg_due(*k.g, 0, 10000, "bob").size() == 1u);
  BOOST_TEST(syn::kg_due(*k.g, 0, 10000, "alice").empty());
  BOOST_TEST(syn::kg_due_take(*k.g, 10000)->front().user == "bob");
}

// A database made by the v3 schema (the old SQL, written out here) opens,
// is migrated to v4 in place, and keeps every row, id and link, all in the
// shared graph; foreign keys still cascade; the reminders tables are kept.
BOOST_AUTO_TEST_CASE(a_version_3_database_is_migrated_to_scopes) {
  tmp_kg k("v3");
  k.g.reset();
  const auto path = k.dir / "kg.sqlite";
  std::filesystem::remove_all(k.dir);
  std::filesystem::create_directories(k.dir);
  {
    SQLite::Database db(path.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec("PRAGMA journal_mode=WAL");
    db.exec("PRAGMA foreign_keys=ON");
    db.exec(
        "CREATE TABLE schema_version(version INTEGER NOT NULL);"
        "INSERT INTO schema_version(version) VALUES (1), (2), (3);"
        "CREATE TABLE entities(id INTEGER PRIMARY KEY, name TEXT NOT NULL, key TEXT NOT NULL UNIQUE,"
        " type TEXT NOT NULL DEFAULT '', created INTEGER NOT NULL);"
        "CREATE TABLE aliases(entity_id INTEGER NOT NULL REFERENCES entities(id) ON DELETE CASCADE,"
        " alias TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY(entity_id, key));"
        "CREATE TABLE relations(id INTEGER PRIMARY KEY,"
        " subject INTEGER NOT NULL REFERENCES entities(id) ON DELETE CASCADE, relation TEXT NOT NULL,"
        " object INTEGER NOT NULL REFERENCES entities(id) ON DELETE CASCADE,"
        " attrs TEXT NOT NULL DEFAULT '{}', due INTEGER, created INTEGER NOT NULL,"
        " UNIQUE(subject, relation, object));"
        "CREATE INDEX relations_object ON relations(object);"
        "CREATE INDEX relations_due ON relations(due) WHERE due IS NOT NULL;"
        "ALTER TABLE relations ADD COLUMN fired INTEGER;"
        "CREATE TABLE reminders(id INTEGER PRIMARY KEY, user TEXT NOT NULL, what TEXT NOT NULL,"
        " lang TEXT NOT NULL, said TEXT NOT NULL DEFAULT '', due INTEGER NOT NULL,"
        " every TEXT NOT NULL DEFAULT 'none', weekday INTEGER NOT NULL DEFAULT 0,"
        " hour INTEGER NOT NULL DEFAULT 0, minute INTEGER NOT NULL DEFAULT 0,"
        " state TEXT NOT NULL DEFAULT 'pending', created INTEGER NOT NULL, fired INTEGER);"
        "CREATE INDEX reminders_due ON reminders(due) WHERE state = 'pending';"
        "CREATE INDEX reminders_user ON reminders(user);"
        "CREATE TABLE settings(user TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"
        " PRIMARY KEY(user, key));"
        "INSERT INTO entities VALUES (3, 'Kari', 'kari', 'person', 10), (7, 'Bergen', 'bergen', 'city', 11),"
        " (9, 'tea', 'tea', '', 12);"
        "INSERT INTO aliases VALUES (3, 'Kaja', 'kaja'), (7, 'Bjørgvin', 'bjørgvin');"
        "INSERT INTO relations VALUES (20, 3, 'lives in', 7, '{\"since\":2020}', NULL, 13, NULL),"
        " (21, 3, 'likes', 9, '{\"due\":5000}', 5000, 14, 5000),"
        " (22, 7, 'rains', 7, '{}', NULL, 15, NULL);"
        "INSERT INTO reminders(user, what, lang, due, created) VALUES ('alice', 'call mum', 'en', 9000, 1);"
        "INSERT INTO settings VALUES ('alice', 'timezone', 'Europe/Oslo');");
  }
  k.reopen();
  auto& g = *k.g;
  auto f = syn::kg_query(g, "Kaja", 1, "");
  BOOST_REQUIRE(f);
  BOOST_TEST(said(*f) == (strs{"Kari lives in Bergen @", "Kari likes tea @"}), boost::test_tools::per_element());
  BOOST_TEST((*f)[0].id == 20);
  BOOST_TEST((*f)[0].subject_id == 3);
  BOOST_TEST((*f)[0].object_id == 7);
  BOOST_TEST((*f)[0].attrs["since"] == 2020);
  BOOST_TEST(!(*f)[0].superseded_ms.has_value());
  BOOST_TEST(query(g, "Bjørgvin", "", 1).size() == 2u);  // lives in, rains (a self-loop)
  BOOST_TEST(query(g, "Kari", "alice") == said(*f), boost::test_tools::per_element());  // shared: seen by alice
  auto kari = syn::kg_find(g, "kari", "");
  BOOST_REQUIRE(kari);
  BOOST_TEST(kari->id == 3);
  BOOST_TEST(kari->type == "person");
  BOOST_TEST(kari->user == "");
  BOOST_TEST(syn::kg_entities(g, "", 100, "")->size() == 3u);
  // the fired due time was kept: nothing fires again
  BOOST_TEST(syn::kg_due_take(g, 10000)->empty());
  BOOST_TEST(syn::kg_stats_get(g).relations == 3u);
  {
    SQLite::Database db(path.string(), SQLite::OPEN_READONLY);
    BOOST_TEST(db.execAndGet("SELECT max(version) FROM schema_version").getInt() == 5);
    BOOST_TEST(db.execAndGet("SELECT count(*) FROM entities WHERE user = ''").getInt() == 3);
    BOOST_TEST(db.execAndGet("SELECT count(*) FROM aliases").getInt() == 2);
    BOOST_TEST(db.execAndGet("SELECT count(*) FROM reminders").getInt() == 1);
    BOOST_TEST(db.execAndGet("SELECT value FROM settings WHERE user = 'alice'").getString() == "Europe/Oslo");
    // the new tables' foreign keys name "entities" (renamed from entities_v4), no *_v4 table is left
    SQLite::Statement fk(db, "SELECT DISTINCT \"table\" FROM pragma_foreign_key_list('relations')");
    BOOST_REQUIRE(fk.executeStep());
    BOOST_TEST(fk.getColumn(0).getString() == "entities");
    BOOST_TEST(db.execAndGet("SELECT count(*) FROM sqlite_master WHERE name LIKE '%_v4'").getInt() == 0);
    BOOST_TEST(db.execAndGet("SELECT count(*) FROM pragma_foreign_key_check").getInt() == 0);
  }
  // the same name in a user's scope is a new entity now (v3 had one key for all)
  add(g, {{"Kari", "lives in", "Oslo", {}}}, "alice");
  BOOST_TEST(syn::kg_find(g, "Kari", "alice")->id != 3);
  BOOST_TEST(query(g, "Kari", "alice").size() == 3u);
  // foreign keys cascade: deleting Bergen takes its relations and alias
  BOOST_TEST(syn::kg_delete_entity(g, "Bergen", "").value() == 3);
  {
    SQLite::Database db(path.string(), SQLite::OPEN_READONLY);
    BOOST_TEST(db.execAndGet("SELECT count(*) FROM relations WHERE subject = 7 OR object = 7").getInt() == 0);
    BOOST_TEST(db.execAndGet("SELECT count(*) FROM aliases WHERE entity_id = 7").getInt() == 0);
  }
  // a second open does not migrate again
  k.reopen();
  BOOST_TEST(syn::kg_stats_get(*k.g).entities == 4u);  // Kari, tea; alice's Kari, Oslo
  SQLite::Database db(path.string(), SQLite::OPEN_READONLY);
  BOOST_TEST(db.execAndGet("SELECT count(*) FROM schema_version").getInt() == 5);
}

BOOST_AUTO_TEST_CASE(a_user_that_is_not_utf8_is_refused) {
  tmp_kg k("badutf8");
  const std::string bad = "al\xff" "ice";
  auto a = syn::kg_add(*k.g, std::vector<syn::triple>{{"Kari", "lives in", "Bergen", {}}}, bad);
  BOOST_REQUIRE(!a);
  BOOST_TEST(a.error().code == errc::bad_request);
  BOOST_TEST(a.error().message == "user: not valid UTF-8 (byte 2)");
  BOOST_TEST(syn::kg_replace(*k.g, {"Kari", "lives in", "Oslo", {}}, bad).error().code == errc::bad_request);
  BOOST_TEST(syn::kg_query(*k.g, "Kari", 1, bad).error().code == errc::bad_request);
  BOOST_TEST(syn::kg_facts(*k.g, "Kari", "", bad).error().code == errc::bad_request);
  BOOST_TEST(syn::kg_delete_entity(*k.g, "Kari", bad).error().code == errc::bad_request);
  BOOST_TEST(syn::kg_delete_user(*k.g, bad).error().code == errc::bad_request);
  BOOST_TEST(syn::kg_entities(*k.g, "", 10, bad).error().code == errc::bad_request);
  BOOST_TEST(syn::kg_find(*k.g, "Kari", bad).error().code == errc::bad_request);
  BOOST_TEST(syn::kg_stats_get(*k.g).entities == 0u);  // nothing was written
}
