// Knowledge graph: depth queries against a reference BFS on a random graph,
// and the wire ops' semantics (add counts, delete, entities, due).
#define BOOST_TEST_MODULE synthesis_kg_query
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <map>
#include <queue>
#include <random>
#include <set>
#include <unistd.h>

#include "actors/synthesis/synthesis.hpp"
#include "tests/synthesis/test_util.hpp"

namespace syn = aikid::synthesis;

namespace {

struct tmp_kg {
  std::filesystem::path dir;
  syn::kg_ptr g;
  explicit tmp_kg(const std::string& tag) {
    dir = std::filesystem::temp_directory_path() / ("syn_kgq_" + tag + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    auto r = syn::kg_open(dir / "kg.sqlite");
    BOOST_REQUIRE_MESSAGE(r.has_value(), (r ? std::string() : r.error().message));
    g = std::move(*r);
  }
  ~tmp_kg() {
    g.reset();
    std::filesystem::remove_all(dir);
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(depth_queries_match_reference_bfs) {
  tmp_kg k("rand");
  std::mt19937 rng(42);
  const int n = 300, m = 900;
  std::uniform_int_distribution<int> node(0, n - 1), rel(0, 4);
  struct edge { int s, o; std::string r; };
  std::vector<edge> edges;
  std::set<std::tuple<int, std::string, int>> uniq;
  std::vector<syn::triple> triples;
  for (int i = 0; i < m; ++i) {
    edge e{node(rng), node(rng), "r" + std::to_string(rel(rng))};
    if (!uniq.insert({e.s, e.r, e.o}).second) continue;
    edges.push_back(e);
    triples.push_back({"n" + std::to_string(e.s), e.r, "n" + std::to_string(e.o), {}});
  }
  auto added = syn::kg_add(*k.g, triples);
  BOOST_REQUIRE(added);
  BOOST_TEST(*added == static_cast<std::int64_t>(edges.size()));
  // Reference: undirected BFS distances; an edge is a fact at depth
  // min(dist(s), dist(o)) + 1 when that is ≤ the query depth.
  std::vector<std::vector<int>> adj(n);
  for (auto& e : edges) {
    adj[e.s].push_back(e.o);
    adj[e.o].push_back(e.s);
  }
  int checked = 0;
  for (int start = 0; start < n; start += 7) {
    if (adj[start].empty()) continue;
    std::vector<int> dist(n, 1 << 20);
    std::queue<int> q;
    dist[start] = 0;
    q.push(start);
    while (!q.empty()) {
      int u = q.front();
      q.pop();
      for (int v : adj[u])
        if (dist[v] > dist[u] + 1) {
          dist[v] = dist[u] + 1;
          q.push(v);
        }
    }
    for (int depth = 1; depth <= 3; ++depth) {
      std::multiset<std::tuple<std::string, std::string, std::string, int>> want, got;
      for (auto& e : edges) {
        int d = std::min(dist[e.s], dist[e.o]) + 1;
        if (d <= depth) want.insert({"n" + std::to_string(e.s), e.r, "n" + std::to_string(e.o), d});
      }
      auto facts = syn::kg_query(*k.g, "N" + std::to_string(start), depth);  // case-insensitive
      BOOST_REQUIRE(facts);
      std::set<std::int64_t> ids;
      int last_depth = 0;
      for (auto& f : *facts) {
        got.insert({f.subject, f.relation, f.object, f.depth});
        BOOST_TEST(ids.insert(f.id).second);  // each fact once
        BOOST_TEST(f.depth >= last_depth);     // breadth first
        last_depth = f.depth;
      }
      BOOST_TEST((got == want), "start n" << start << " depth " << depth << ": got " << got.size()
                                           << " facts, want " << want.size());
      ++checked;
    }
  }
  BOOST_TEST(checked > 60);
}

BOOST_AUTO_TEST_CASE(add_delete_entities_due) {
  tmp_kg k("ops");
  std::vector<syn::triple> t = {
      {"Ola", "has_task", "buy milk", {{"due", "2024-05-01T10:00:00Z"}, {"source", "chat"}}},
      {"Ola", "has_task", "call Kari", {{"due", 1714600000000LL}}},
      {"Ola", "knows", "Kari", {{"subject_type", "person"}, {"object_type", "person"}, {"weight", 0.8}}},
      {"Ola", "alias", "Ola N", {}},
  };
  auto a = syn::kg_add(*k.g, t);
  BOOST_REQUIRE_MESSAGE(a.has_value(), (a ? std::string() : a.error().message));
  BOOST_TEST(*a == 3);
  // The same triple again: not new, attrs replaced.
  std::vector<syn::triple> again = {{"ola n", "knows", "KARI", {{"weight", 0.9}}}};
  auto b = syn::kg_add(*k.g, again);
  BOOST_REQUIRE(b);
  BOOST_TEST(*b == 0);
  auto f = syn::kg_query(*k.g, "Ola", 1);
  BOOST_REQUIRE(f);
  BOOST_TEST(f->size() == 3u);
  bool saw = false;
  for (auto& x : *f)
    if (x.relation == "knows") {
      saw = true;
      BOOST_TEST(x.attrs.at("weight").get<double>() == 0.9);
      BOOST_TEST(!x.attrs.contains("subject_type"));
    }
  BOOST_TEST(saw);
  auto ola = syn::kg_find(*k.g, "ola n");
  BOOST_REQUIRE(ola);
  BOOST_TEST(ola->name == "Ola");
  BOOST_TEST(ola->type == "person");
  BOOST_TEST(ola->aliases == std::vector<std::string>{"Ola N"}, boost::test_tools::per_element());
  // Due window [from, to).
  auto due = syn::kg_due(*k.g, 1714557600000LL, 1714557600001LL);  // 2024-05-01T10:00:00Z
  BOOST_REQUIRE_EQUAL(due.size(), 1u);
  BOOST_TEST(due[0].object == "buy milk");
  BOOST_TEST(syn::kg_due(*k.g, 0, 1714557600000LL).empty());
  BOOST_TEST(syn::kg_due(*k.g, 0, 1LL << 50).size() == 2u);
  // entities: prefix, limit
  auto e = syn::kg_entities(*k.g, "", 100);
  BOOST_REQUIRE(e);
  BOOST_TEST(e->size() == 4u);  // Ola, buy milk, call Kari, Kari
  auto e2 = syn::kg_entities(*k.g, "KA", 10);
  BOOST_REQUIRE(e2);
  BOOST_REQUIRE_EQUAL(e2->size(), 1u);
  BOOST_TEST((*e2)[0].name == "Kari");
  BOOST_TEST(syn::kg_entities(*k.g, "", 2)->size() == 2u);
  BOOST_TEST(syn::kg_entities(*k.g, "", 0).error().code == aikid::errc::bad_request);
  // Errors
  BOOST_TEST(syn::kg_query(*k.g, "Ola", 4).error().code == aikid::errc::bad_request);
  BOOST_TEST(syn::kg_query(*k.g, "nobody", 1).error().code == aikid::errc::not_found);
  std::vector<syn::triple> bad = {{"A", "r", "B", {}}, {"C", "", "D", {}}};
  auto br = syn::kg_add(*k.g, bad);
  BOOST_REQUIRE(!br);
  BOOST_TEST(br.error().code == aikid::errc::bad_request);
  BOOST_TEST(br.error().message.find("triples[1].relation") != std::string::npos);
  BOOST_TEST(!syn::kg_find(*k.g, "A"));  // nothing of the batch was written
  std::vector<syn::triple> bad_due = {{"A", "r", "B", {{"due", "tomorrow"}}}};
  auto bd = syn::kg_add(*k.g, bad_due);
  BOOST_REQUIRE(!bd);
  BOOST_TEST(bd.error().message.find("triples[0].attrs.due") != std::string::npos);
  // Delete one triple, then an entity with its relations.
  syn::triple one{"Ola", "has_task", "buy milk", {}};
  BOOST_TEST(*syn::kg_delete_triple(*k.g, one) == 1);
  BOOST_TEST(syn::kg_delete_triple(*k.g, one).error().code == aikid::errc::not_found);
  BOOST_TEST(syn::kg_due(*k.g, 0, 1LL << 50).size() == 1u);
  auto d = syn::kg_delete_entity(*k.g, "Ola");
  BOOST_REQUIRE(d);
  BOOST_TEST(*d == 3);  // 2 relations + the entity
  BOOST_TEST(syn::kg_query(*k.g, "Kari", 1)->empty());
  BOOST_TEST(!syn::kg_find(*k.g, "Ola N"));
  BOOST_TEST(syn::kg_stats_get(*k.g).relations == 0u);
}

BOOST_AUTO_TEST_CASE(due_parsing_forms) {
  tmp_kg k("due");
  std::vector<syn::triple> t = {
      {"x", "a", "y1", {{"due", "2024-05-01"}}},
      {"x", "a", "y2", {{"due", "2024-05-01T12:30"}}},
      {"x", "a", "y3", {{"due", "2024-05-01T12:30:00+02:00"}}},
      {"x", "a", "y4", {{"due", "2024-05-01T12:30:15.250Z"}}},
  };
  BOOST_REQUIRE(syn::kg_add(*k.g, t));
  auto all = syn::kg_due(*k.g, 0, 1LL << 50);
  BOOST_REQUIRE_EQUAL(all.size(), 4u);
  std::map<std::string, std::int64_t> by;
  for (auto& f : all) by[f.object] = *f.due_ms;
  BOOST_TEST(by["y1"] == 1714521600000LL);
  BOOST_TEST(by["y2"] == 1714566600000LL);
  BOOST_TEST(by["y3"] == 1714566600000LL - 7200000LL);
  BOOST_TEST(by["y4"] == 1714566615250LL);
}
