// Synthesis benchmark: 1,000 templates, 10,000 entities, 100,000 relations.
// Measures match, render, match+render, entity linking on 200-character
// texts and kg.query depth 2, and writes the data set it used (so the Python
// peer measures the same work) plus its own timings as JSON.
//
//   bench_synthesis <work dir>      → <work dir>/{dataset.json, examples.f32, queries.f32, cpp.json}
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include <nlohmann/json.hpp>

#include "actors/synthesis/internal.hpp"  // detail::template_render_full (comparison)
#include "actors/synthesis/synthesis.hpp"

namespace syn = aikid::synthesis;
using json = nlohmann::json;
using clk = std::chrono::steady_clock;

namespace {

constexpr int kDim = 384;  // all-MiniLM-L6-v2
constexpr int kTemplates = 1000, kEntities = 10000, kRelations = 100000;

std::uint32_t fnv1a(std::string_view s, std::uint32_t h = 2166136261u) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

// Hashed bag of words → unit vector (a stand-in for the encoder's output).
std::vector<float> embed_one(const std::string& text) {
  std::vector<float> v(kDim, 0.f);
  std::string w;
  auto flush = [&] {
    if (w.empty()) return;
    v[fnv1a(w) % kDim] += 1.f;
    v[fnv1a(w, 7u) % kDim] += 0.5f;
    w.clear();
  };
  for (char c : text) {
    if (c == ' ') flush();
    else w.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  flush();
  double n = 0;
  for (float x : v) n += double(x) * x;
  for (float& x : v) x = float(x / std::sqrt(n));
  return v;
}

struct pct {
  double p50, p99, mean;
};
pct percentiles(std::vector<double> us) {
  std::sort(us.begin(), us.end());
  double sum = 0;
  for (double x : us) sum += x;
  auto at = [&](double q) { return us[std::min(us.size() - 1, static_cast<std::size_t>(q * (us.size() - 1) + 0.5))]; };
  return {at(0.50), at(0.99), sum / us.size()};
}

template <class F>
pct time_it(int n, F&& f) {
  std::vector<double> us;
  us.reserve(n);
  for (int i = 0; i < n; ++i) {
    auto t0 = clk::now();
    f(i);
    us.push_back(std::chrono::duration<double, std::micro>(clk::now() - t0).count());
  }
  return percentiles(std::move(us));
}

void write_f32(const std::filesystem::path& p, const std::vector<std::vector<float>>& rows) {
  std::ofstream out(p, std::ios::binary);
  for (auto& r : rows) out.write(reinterpret_cast<const char*>(r.data()), std::streamsize(r.size() * sizeof(float)));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s <work dir>\n", argv[0]);
    return 2;
  }
  const std::filesystem::path work = argv[1];
  std::filesystem::create_directories(work);
  std::filesystem::remove(work / "kg.sqlite");
  std::filesystem::remove(work / "kg.sqlite-wal");
  std::filesystem::remove(work / "kg.sqlite-shm");
  std::mt19937 rng(1234);
  auto pick = [&](int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); };

  // ---- vocabulary and entities ----
  const char* syll[] = {"ka", "ri", "no", "la", "sve", "tor", "bjørn", "å", "se", "per", "ol", "in",
                        "ma", "rit", "ha", "ns", "en", "ga", "de", "vik", "sø", "li", "fjell", "by"};
  auto word = [&](int parts) {
    std::string w;
    for (int i = 0; i < parts; ++i) w += syll[pick(24)];
    return w;
  };
  std::vector<std::string> vocab;
  for (int i = 0; i < 3000; ++i) vocab.push_back(word(2 + pick(3)) + std::to_string(i % 7));
  std::vector<std::string> names;
  {
    std::set<std::string> seen;
    while (static_cast<int>(names.size()) < kEntities) {
      std::string n = word(2) + " " + word(3);
      n[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(n[0])));
      if (seen.insert(n).second) names.push_back(n);
    }
  }
  // ---- knowledge graph ----
  json triples = json::array();
  std::vector<syn::triple> ts;
  ts.reserve(kRelations + 2000);
  for (int i = 0; i < 2000; ++i) {  // aliases: the first word of some names
    ts.push_back({names[i], "alias", names[i].substr(0, names[i].find(' ')) + "x" + std::to_string(i), {}});
    triples.push_back({ts.back().subject, ts.back().relation, ts.back().object, json::object()});
  }
  {
    std::set<std::tuple<int, int, int>> seen;
    while (static_cast<int>(seen.size()) < kRelations) {
      const int s = pick(kEntities), o = pick(kEntities), r = pick(20);
      if (s == o || !seen.insert({s, r, o}).second) continue;
      json attrs = json::object();
      if (pick(10) == 0) attrs["due"] = 1714500000000LL + std::int64_t(pick(30 * 24)) * 3600000LL;
      if (pick(4) == 0) attrs["weight"] = 0.5;
      ts.push_back({names[s], "rel_" + std::to_string(r), names[o], attrs});
      triples.push_back({names[s], "rel_" + std::to_string(r), names[o], attrs});
    }
  }
  auto g = syn::kg_open(work / "kg.sqlite");
  if (!g) {
    std::fprintf(stderr, "kg_open: %s\n", g.error().message.c_str());
    return 1;
  }
  auto t0 = clk::now();
  auto added = syn::kg_add(**g, ts);
  const double load_s = std::chrono::duration<double>(clk::now() - t0).count();
  if (!added) {
    std::fprintf(stderr, "kg_add: %s\n", added.error().message.c_str());
    return 1;
  }
  t0 = clk::now();
  auto links = syn::linker_build(**g);
  const double linker_ms = std::chrono::duration<double, std::milli>(clk::now() - t0).count();

  // ---- templates ----
  const std::string body =
      "{{#entity}}About {{name}}:{{#facts}}\n- {{text}}{{#due}} (due {{due}}){{/due}}{{/facts}}{{/entity}}\n"
      "{{^entity}}I don't know that one.{{/entity}}\n"
      "{{#has_memories}}I also remember:{{#memories}}\n- {{text}}{{/memories}}{{/has_memories}}\n"
      "It is {{now.weekday}} {{now.time}}{{#user}}, {{user}}{{/user}}.";
  std::vector<syn::template_source> sources;
  json tjson = json::array();
  std::vector<std::vector<std::string>> pools(kTemplates);
  for (int t = 0; t < kTemplates; ++t) {
    for (int k = 0; k < 8; ++k) pools[t].push_back(vocab[pick(3000)]);
    json ex = json::array();
    for (int e = 0; e < 3; ++e) {
      std::string s;
      for (int k = 0; k < 5; ++k) s += (k ? " " : "") + pools[t][pick(8)];
      ex.push_back(s);
    }
    json kw = {"kw" + std::to_string(t) + "a", "kw" + std::to_string(t) + "b"};
    const std::string name = "t" + std::to_string(t);
    std::string toml = "name = \"" + name + "\"\nintent = \"i" + std::to_string(t) + "\"\nmode = \"answer\"\n";
    toml += "examples = " + ex.dump() + "\nkeywords = " + kw.dump() + "\nbody = '''\n" + body + "'''\n";
    sources.push_back({name + ".toml", toml});
    tjson.push_back({{"name", name}, {"examples", ex}, {"keywords", kw}, {"body", body}});
  }
  std::vector<std::vector<float>> example_vecs;
  syn::embed_fn embed = [&](const std::vector<std::string>& texts) -> aikid::expected<std::vector<std::vector<float>>> {
    std::vector<std::vector<float>> out;
    for (auto& t : texts) out.push_back(embed_one(t));
    example_vecs = out;
    return out;
  };
  t0 = clk::now();
  auto set = syn::templates_load_sources(sources, embed);
  const double tload_ms = std::chrono::duration<double, std::milli>(clk::now() - t0).count();
  if (!set) {
    std::fprintf(stderr, "templates: %s\n", set.error().message.c_str());
    return 1;
  }
  auto tz = syn::zone_open("Europe/Oslo");
  if (!tz) {
    std::fprintf(stderr, "zone: %s\n", tz.error().message.c_str());
    return 1;
  }

  // ---- queries: utterances from a template's pool, with an entity name; 200-char texts ----
  const int kQueries = 2000;
  json queries = json::array();
  std::vector<std::string> qtext;
  std::vector<std::vector<float>> qvec;
  for (int i = 0; i < kQueries; ++i) {
    const int t = pick(kTemplates);
    std::string s;
    for (int k = 0; k < 5; ++k) s += (k ? " " : "") + pools[t][pick(8)];
    s += " " + names[pick(kEntities)];
    if (i % 4 == 0) s += " kw" + std::to_string(t) + "a";
    qtext.push_back(s);
    qvec.push_back(embed_one(s));
    queries.push_back({{"text", s}, {"template", t}});
  }
  std::vector<std::string> texts200;
  for (int i = 0; i < 500; ++i) {
    std::string s;
    while (s.size() < 200) {
      s += (s.empty() ? "" : " ");
      s += pick(6) == 0 ? names[pick(kEntities)] : vocab[pick(3000)];
    }
    // cut at 200 bytes on a character boundary
    std::size_t cut = 200;
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
    texts200.push_back(s.substr(0, cut));
  }
  std::vector<std::string> qents;
  for (int i = 0; i < 1000; ++i) qents.push_back(names[pick(kEntities)]);
  std::vector<syn::memory_hit> mems = {{1, "Kari is moving to Bergen in June", 0.81f},
                                       {2, "the cabin key is under the blue stone", 0.74f},
                                       {3, "Ola prefers tea in the evening", 0.66f},
                                       {4, "the dentist is on Wednesdays", 0.52f},
                                       {5, "remember to water the plants", 0.41f}};
  std::vector<syn::turn> turns = {{"user", "hi", 0}, {"assistant", "Hello!", 0}, {"user", "how are you", 0},
                                  {"assistant", "Fine, thanks.", 0}};
  const std::int64_t now_ms = 1714551300000LL;

  // ---- measure ----
  std::fprintf(stderr, "data: %zu entities, %zu relations (load %.1f s), linker build %.1f ms, %zu templates (%.1f ms)\n",
               syn::kg_stats_get(**g).entities, syn::kg_stats_get(**g).relations, load_s, linker_ms,
               syn::templates_count(**set), tload_ms);
  syn::match_options mo;
  mo.threshold = 0.3f;
  int matched = 0, right = 0;
  std::vector<int> chosen(kQueries, -1);
  auto warm = [&](auto&& f, int n) { for (int i = 0; i < n; ++i) f(i); };
  auto do_match = [&](int i) {
    auto m = syn::templates_match(**set, qtext[i % kQueries], qvec[i % kQueries], mo);
    chosen[i % kQueries] = m->index;
  };
  warm(do_match, 200);
  auto match = time_it(kQueries * 2, do_match);
  for (int i = 0; i < kQueries; ++i) {
    matched += chosen[i] >= 0;
    right += chosen[i] == queries[i]["template"].get<int>();
  }
  // The full fp32 scan (the reference the default two-pass search is tested
  // against): its time, and whether any query chose differently.
  int exact_disagree = 0;
  std::vector<syn::template_match> chosen_exact(kQueries);
  syn::match_options me = mo;
  me.exact_scan = true;
  auto match_exact = time_it(kQueries, [&](int i) { chosen_exact[i] = *syn::templates_match(**set, qtext[i], qvec[i], me); });
  for (int i = 0; i < kQueries; ++i) {
    auto f = syn::templates_match(**set, qtext[i], qvec[i], mo);
    exact_disagree += chosen_exact[i].index != f->index || chosen_exact[i].score != f->score;
  }
  int faiss_disagree = 0;  // near-ties: the two kernels sum in different orders
  syn::match_options mf = mo;
  mf.use_faiss_search = true;
  auto match_faiss = time_it(kQueries, [&](int i) {
    auto m = syn::templates_match(**set, qtext[i], qvec[i], mf);
    faiss_disagree += m->index != chosen[i];
  });
  // Linked entities with depth-1 facts, as compose does (capped at 32 facts).
  std::vector<std::vector<syn::linked_entity>> linked(kQueries);
  for (int i = 0; i < kQueries; ++i) {
    for (auto& l : syn::linker_find(*links, qtext[i])) {
      auto e = syn::kg_find(**g, l.name);
      auto f = syn::kg_query(**g, l.name, 1);
      linked[i].push_back({*e, *f});
      if (linked[i].back().facts.size() > 32) linked[i].back().facts.resize(32);
      break;
    }
  }
  std::size_t render_bytes = 0;
  auto do_render = [&](int i) {
    const int q = i % kQueries;
    syn::render_input in;
    in.text = qtext[q];
    in.user = "Ola";
    in.entities = linked[q];
    in.memories = mems;
    in.turns = turns;
    in.tz = tz->get();
    in.now_ms = now_ms;
    auto r = syn::template_render(**set, static_cast<std::size_t>(std::max(0, chosen[q])), in);
    render_bytes += r->text.size();
  };
  // Profiling aid: AIKID_BENCH_ONLY=match|render loops one operation (for perf).
  if (const char* only = std::getenv("AIKID_BENCH_ONLY")) {
    const std::string op = only;
    for (int i = 0; i < 50000; ++i) op == "match" ? do_match(i) : do_render(i);
    std::printf("%zu\n", render_bytes);
    return 0;
  }
  warm(do_render, 200);
  auto render = time_it(kQueries * 2, do_render);
  // The same renders with the full context built eagerly (every field, plain
  // maps: how rendering worked before the lazy context), for comparison.
  auto render_full = time_it(kQueries, [&](int i) {
    syn::render_input in;
    in.text = qtext[i];
    in.user = "Ola";
    in.entities = linked[i];
    in.memories = mems;
    in.turns = turns;
    in.tz = tz->get();
    in.now_ms = now_ms;
    auto r = syn::detail::template_render_full(**set, static_cast<std::size_t>(std::max(0, chosen[i])), in);
    render_bytes += r->text.size();
  });
  auto match_render = time_it(kQueries, [&](int i) {
    do_match(i);
    do_render(i);
  });
  std::size_t nlinks = 0;
  auto do_link = [&](int i) { nlinks += syn::linker_find(*links, texts200[i % texts200.size()]).size(); };
  warm(do_link, 200);
  auto link = time_it(5000, do_link);
  std::size_t nfacts = 0;
  auto do_query = [&](int i) { nfacts += syn::kg_query(**g, qents[i % qents.size()], 2)->size(); };
  warm(do_query, 100);
  auto query = time_it(2000, do_query);
  nfacts = 0;
  for (auto& e : qents) nfacts += syn::kg_query(**g, e, 2)->size();

  auto row = [](const pct& p) { return json{{"p50_us", p.p50}, {"p99_us", p.p99}, {"mean_us", p.mean}}; };
  json result = {{"match", row(match)},
                 {"match_faiss", row(match_faiss)},
                 {"match_exact", row(match_exact)},
                 {"render_full", row(render_full)},
                 {"exact_disagree", exact_disagree},
                 {"render", row(render)},
                 {"match_render", row(match_render)},
                 {"link", row(link)},
                 {"kg_query_d2", row(query)},
                 {"matched", matched},
                 {"faiss_disagree", faiss_disagree},
                 {"right", right},
                 {"queries", kQueries},
                 {"facts_per_query_d2", double(nfacts) / qents.size()},
                 {"links_per_text", double(nlinks) / 5000},
                 {"kg_load_s", load_s},
                 {"linker_build_ms", linker_ms},
                 {"templates_load_ms", tload_ms}};
  std::ofstream(work / "cpp.json") << result.dump(2);
  json ds = {{"templates", tjson}, {"triples", triples}, {"queries", queries}, {"texts200", texts200},
             {"query_entities", qents}, {"now_ms", now_ms}, {"dim", kDim},
             {"memories", json::array()}, {"turns", json::array()}, {"threshold", mo.threshold},
             {"keyword_boost", mo.keyword_boost}};
  for (auto& m : mems) ds["memories"].push_back({{"id", m.id}, {"text", m.text}, {"score", m.score}});
  for (auto& t : turns) ds["turns"].push_back({{"role", t.role}, {"text", t.text}});
  std::ofstream(work / "dataset.json") << ds.dump();
  write_f32(work / "examples.f32", example_vecs);
  write_f32(work / "queries.f32", qvec);
  std::printf("%s\n", result.dump().c_str());
  return 0;
}
