// Template choice on labelled utterances (English and Norwegian) with the
// fake embedder, plus threshold, keyword boost and the FAISS search path;
// the two-pass search (int8 codes, then fp32) against the full fp32 scan.
#define BOOST_TEST_MODULE synthesis_template_match
#include <boost/test/unit_test.hpp>

#include <cstring>
#include <limits>
#include <random>

#include "actors/synthesis/synthesis.hpp"
#include "actors/synthesis/template_set.hpp"
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

// ---- the two-pass search (int8 codes, then fp32 on the candidates) against the
// ---- full fp32 scan: the same template, the same score, bit for bit ----------

namespace {

// A template set whose examples have the given vectors (example text "e<row>").
syn::template_set_ptr set_of(const std::vector<std::vector<float>>& vecs, const std::vector<int>& per_template,
                             bool with_keywords = false) {
  std::vector<syn::template_source> src;
  int row = 0;
  for (std::size_t t = 0; t < per_template.size(); ++t) {
    std::string ex = "[";
    for (int k = 0; k < per_template[t]; ++k) ex += (k ? ", \"e" : "\"e") + std::to_string(row++) + "\"";
    ex += "]";
    std::string toml = "name = \"t" + std::to_string(t) + "\"\nintent = \"i\"\nmode = \"answer\"\nexamples = " + ex +
                       "\nbody = \"x\"\n";
    if (with_keywords) toml += "keywords = [\"kw" + std::to_string(t % 7) + "\"]\n";
    src.push_back({"t" + std::to_string(t) + ".toml", toml});
  }
  BOOST_REQUIRE(static_cast<std::size_t>(row) == vecs.size());
  syn::embed_fn embed = [&](const std::vector<std::string>& texts) -> aikid::expected<std::vector<std::vector<float>>> {
    std::vector<std::vector<float>> out;
    for (const auto& t : texts) out.push_back(vecs.at(std::stoul(t.substr(1))));
    return out;
  };
  auto s = syn::templates_load_sources(src, embed);
  BOOST_REQUIRE_MESSAGE(s.has_value(), (s ? std::string() : s.error().message));
  return *s;
}

std::vector<float> gaussian(std::mt19937& rng, std::size_t d) {
  std::normal_distribution<float> g;
  std::vector<float> v(d);
  for (auto& x : v) x = g(rng);
  return v;
}

std::vector<float> unit(std::vector<float> v) {
  double n = 0;
  for (float x : v) n += double(x) * x;
  for (auto& x : v) x = float(x / std::sqrt(n));
  return v;
}

// Default search vs exact_scan: same template, same score bits, same flags.
int compare_with_exact(const syn::template_set& s, const std::string& text, const std::vector<float>& q,
                       float threshold = -5.f) {
  syn::match_options fast, exact;
  fast.threshold = exact.threshold = threshold;
  exact.exact_scan = true;
  auto a = syn::templates_match(s, text, q, fast);
  auto b = syn::templates_match(s, text, q, exact);
  BOOST_REQUIRE(a.has_value());
  BOOST_REQUIRE(b.has_value());
  BOOST_TEST(a->index == b->index);
  BOOST_TEST(std::memcmp(&a->score, &b->score, sizeof(float)) == 0, a->score << " vs " << b->score);
  BOOST_TEST(std::memcmp(&a->vector_score, &b->vector_score, sizeof(float)) == 0);
  BOOST_TEST(a->keyword == b->keyword);
  return a->index;
}

}  // namespace

BOOST_AUTO_TEST_CASE(two_pass_search_equals_the_exact_scan_on_random_vectors) {
  std::mt19937 rng(7);
  for (std::size_t d : {384u, 100u, 7u, 64u}) {
    std::vector<int> per;
    std::vector<std::vector<float>> vecs;
    for (int t = 0; t < 300; ++t) {
      per.push_back(1 + static_cast<int>(rng() % 4));
      for (int k = 0; k < per.back(); ++k) vecs.push_back(unit(gaussian(rng, d)));
    }
    auto s = set_of(vecs, per, true);
    for (int i = 0; i < 200; ++i) {
      // Random queries, examples themselves, and examples plus a little noise.
      std::vector<float> q = gaussian(rng, d);
      if (i % 3 == 1) q = vecs[rng() % vecs.size()];
      if (i % 3 == 2) {
        q = vecs[rng() % vecs.size()];
        for (auto& x : q) x += 0.05f * std::normal_distribution<float>()(rng);
      }
      compare_with_exact(*s, i % 5 == 0 ? "kw" + std::to_string(i % 7) : "", q);
    }
  }
}

BOOST_AUTO_TEST_CASE(two_pass_search_on_near_ties_and_exact_ties) {
  // Examples on a cone around q: cos θ_i differ by ~1e-7, far below the int8
  // error, so every one of them is a candidate and fp32 decides.
  const std::size_t d = 384;
  std::mt19937 rng(11);
  const auto q = unit(gaussian(rng, d));
  std::vector<std::vector<float>> vecs;
  std::vector<int> per;
  for (int t = 0; t < 400; ++t) {
    auto r = gaussian(rng, d);
    double dot = 0;
    for (std::size_t j = 0; j < d; ++j) dot += double(r[j]) * q[j];
    for (std::size_t j = 0; j < d; ++j) r[j] -= float(dot) * q[j];  // ⟂ q
    r = unit(r);
    const double theta = 0.6 + 1e-7 * (t % 13);
    std::vector<float> v(d);
    for (std::size_t j = 0; j < d; ++j) v[j] = float(std::cos(theta) * q[j] + std::sin(theta) * r[j]);
    vecs.push_back(v);
    per.push_back(1);
  }
  // Exact duplicates: the lowest row wins in both searches.
  vecs.push_back(vecs[5]);
  vecs.push_back(vecs[5]);
  per.push_back(2);
  auto s = set_of(vecs, per);
  compare_with_exact(*s, "", q);
  for (int i = 0; i < 50; ++i) {
    auto p = q;
    for (auto& x : p) x += 1e-6f * std::normal_distribution<float>()(rng);
    compare_with_exact(*s, "", p);
  }
  const int dup = compare_with_exact(*s, "", vecs[5]);
  BOOST_TEST(dup == 5);  // row 5 itself, not its copies in the last template
  // Every example identical: the first template.
  std::vector<std::vector<float>> same(50, q);
  auto z = set_of(same, std::vector<int>(50, 1));
  BOOST_TEST(compare_with_exact(*z, "", q) == 0);
}

BOOST_AUTO_TEST_CASE(two_pass_search_on_the_starter_set) {
  auto set = load_starters();
  for (const char* t : {"hello", "hva husker du om Kari?", "what is due today", "write me a poem",
                        "hvem er Ola?", "status", "what did I say about the dentist?", "god kveld"}) {
    compare_with_exact(*set, t, fake::embed_one(t), 0.55f);
  }
}

BOOST_AUTO_TEST_CASE(int8_kernels_agree_with_the_scalar_one) {
  const auto kernels = syn::detail::code_kernels();
  BOOST_REQUIRE(!kernels.empty());
  BOOST_TEST(std::string(kernels.front().name) == "scalar");
  BOOST_TEST_MESSAGE("int8 kernels here: " << kernels.size() << ", used: " << kernels.back().name);
  std::mt19937 rng(3);
  for (std::size_t cd : {64u, 128u, 384u}) {
    for (std::size_t n : {1u, 3u, 4u, 9u, 130u}) {
      std::vector<std::int8_t> codes(n * cd), qd(cd);
      std::vector<std::uint8_t> qu(cd);
      std::vector<std::int32_t> sum(n, 0);
      for (auto& c : codes) c = static_cast<std::int8_t>(static_cast<int>(rng() % 255) - 127);
      for (std::size_t j = 0; j < cd; ++j) {
        qd[j] = static_cast<std::int8_t>(static_cast<int>(rng() % 255) - 127);
        qu[j] = static_cast<std::uint8_t>(qd[j] + 128);
      }
      // extremes too: all ±127
      if (n == 9) std::fill(codes.begin(), codes.begin() + static_cast<std::ptrdiff_t>(cd), std::int8_t{-127});
      for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < cd; ++j) sum[i] += codes[i * cd + j];
      std::vector<std::int32_t> want(n), got(n);
      kernels.front().fn(codes.data(), n, cd, qd.data(), qu.data(), sum.data(), want.data());
      for (const auto& k : kernels) {
        std::fill(got.begin(), got.end(), 0);
        k.fn(codes.data(), n, cd, qd.data(), qu.data(), sum.data(), got.data());
        BOOST_TEST(got == want, k.name << " cd=" << cd << " n=" << n);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(non_finite_examples_fall_back_to_the_fp32_scan) {
  std::vector<std::vector<float>> vecs(3, std::vector<float>(16, 0.25f));
  vecs[1][3] = std::numeric_limits<float>::quiet_NaN();
  vecs[2][0] = 1.f;
  auto s = set_of(vecs, {1, 1, 1});
  BOOST_TEST(s->codes.empty());
  std::vector<float> q(16, 0.25f);
  compare_with_exact(*s, "", q);
}
