// Forward pass vs llama.cpp on the real SmolLM2 Q4_1 file
// (fixtures/forward.json, first_logits.bin from llama-cpp-python):
//  - greedy 64 tokens for 12 prompts: >= 10 of 12 identical, and any
//    divergence happens where llama.cpp's own top-2 gap is < 0.05;
//  - first-step logits: top-100 within `logit_tol` of llama.cpp's, full
//    logits of prompt 0 within `logit_tol` (max abs) and same argmax.
#define BOOST_TEST_MODULE inference_forward
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "actors/inference/inference.hpp"

using namespace aikid::inference;
using json = nlohmann::json;

namespace {

// Stated tolerance for first-step logits (absolute, logits are O(10)):
// llama.cpp's own ISA paths differ in summation order by a few 1e-3.
constexpr float logit_tol = 0.05f;
constexpr float near_tie = 0.05f;

std::string fixtures() { return std::string(AIKID_SOURCE_DIR) + "/tests/inference/fixtures/"; }

std::unique_ptr<model> load_model() {
  model_options o;
  o.path = std::filesystem::path(AIKID_MODELS_DIR) / "SmolLM2-135M-Instruct.Q4_1.gguf";
  auto r = model::load(o);
  BOOST_REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
  return std::move(*r);
}

std::int32_t argmax(std::span<const float> v) {
  return std::int32_t(std::max_element(v.begin(), v.end()) - v.begin());
}

}  // namespace

BOOST_AUTO_TEST_CASE(greedy_matches_llama_cpp) {
  auto m = load_model();
  std::ifstream in(fixtures() + "forward.json");
  BOOST_REQUIRE_MESSAGE(in, "fixture forward.json missing");
  const json fx = json::parse(in);
  const auto& cases = fx["cases"];
  BOOST_REQUIRE_GE(cases.size(), 12u);

  int identical = 0;
  float worst_top100 = 0;
  for (std::size_t ci = 0; ci < cases.size(); ++ci) {
    const auto& c = cases[ci];
    const auto prompt = c["prompt_ids"].get<std::vector<std::int32_t>>();
    const auto want = c["greedy"].get<std::vector<std::int32_t>>();
    const auto gaps = c["top2_gap"].get<std::vector<float>>();
    const std::string text = c["text"].get<std::string>();

    // our tokenizer gives the same prompt ids
    const auto ours = c["kind"] == "chat" ? m->tokenize_chat({{"user", text}}, true) : m->tokenize(text);
    BOOST_CHECK_MESSAGE(ours == prompt, "prompt tokens differ for case " << ci);

    session s(*m, 512);
    auto r = s.eval(prompt);
    BOOST_REQUIRE_MESSAGE(r, (r ? "" : r.error().message));

    // first-step logits: top-100 of llama.cpp within tolerance
    const auto top_ids = c["first_top100"]["ids"].get<std::vector<std::int32_t>>();
    const auto top_val = c["first_top100"]["logits"].get<std::vector<float>>();
    float worst = 0;
    for (std::size_t i = 0; i < top_ids.size(); ++i) {
      worst = std::max(worst, std::fabs(s.logits()[std::size_t(top_ids[i])] - top_val[i]));
    }
    worst_top100 = std::max(worst_top100, worst);
    BOOST_CHECK_MESSAGE(worst <= logit_tol, "case " << ci << ": first-step top-100 max |diff| " << worst);

    std::vector<std::int32_t> got;
    int diverge = -1;
    for (std::size_t step = 0; step < want.size(); ++step) {
      const std::int32_t tok = argmax(s.logits());
      got.push_back(tok);
      if (tok != want[step]) {
        diverge = int(step);
        break;
      }
      if (step + 1 < want.size()) {
        const std::int32_t one[] = {tok};
        auto e = s.eval(one);
        BOOST_REQUIRE(e);
      }
    }
    if (diverge < 0) {
      ++identical;
      BOOST_TEST_MESSAGE("case " << ci << " (" << c["kind"].get<std::string>() << "): " << want.size()
                                 << " tokens identical; first-step top-100 max |diff| " << worst);
    } else {
      const float gap = gaps[std::size_t(diverge)];
      BOOST_TEST_MESSAGE("case " << ci << ": diverges at step " << diverge << " (llama.cpp top-2 gap " << gap
                                 << "); first-step top-100 max |diff| " << worst);
      BOOST_CHECK_MESSAGE(gap < near_tie, "case " << ci << " diverges at step " << diverge
                                                  << " where llama.cpp's top-2 gap is " << gap);
    }
  }
  BOOST_TEST_MESSAGE("greedy: " << identical << " of " << cases.size() << " identical; worst first-step top-100 |diff| "
                                << worst_top100);
  BOOST_CHECK_GE(identical, 10);
}

BOOST_AUTO_TEST_CASE(first_step_full_logits) {
  auto m = load_model();
  std::ifstream bin(fixtures() + "first_logits.bin", std::ios::binary);
  BOOST_REQUIRE(bin);
  std::vector<float> want(std::size_t(m->n_vocab()));
  bin.read(reinterpret_cast<char*>(want.data()), std::streamsize(want.size() * 4));
  BOOST_REQUIRE(bin.gcount() == std::streamsize(want.size() * 4));
  std::ifstream in(fixtures() + "forward.json");
  const json fx = json::parse(in);
  const auto prompt = fx["cases"][0]["prompt_ids"].get<std::vector<std::int32_t>>();
  session s(*m, 0);
  BOOST_REQUIRE(s.eval(prompt));
  float worst = 0;
  double sum = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    const float d = std::fabs(s.logits()[i] - want[i]);
    worst = std::max(worst, d);
    sum += d;
  }
  BOOST_TEST_MESSAGE("full first-step logits: max |diff| " << worst << ", mean |diff| " << sum / double(want.size()));
  BOOST_CHECK_LE(worst, logit_tol);
  BOOST_CHECK_EQUAL(argmax(s.logits()), argmax(want));
}

BOOST_AUTO_TEST_CASE(session_context_and_truncate) {
  auto m = load_model();
  session s(*m, 16);
  BOOST_CHECK_EQUAL(s.n_ctx(), 16);
  BOOST_CHECK(s.logits().empty());
  const std::vector<std::int32_t> toks = m->tokenize("The capital of France is");
  BOOST_REQUIRE(s.eval(toks));
  BOOST_CHECK_EQUAL(s.n_past(), int(toks.size()));
  const std::vector<float> first(s.logits().begin(), s.logits().end());
  // overflow: nothing done, bad_request
  std::vector<std::int32_t> many(20, 504);
  auto r = s.eval(many);
  BOOST_REQUIRE(!r);
  BOOST_CHECK(r.error().code == aikid::errc::bad_request);
  BOOST_CHECK_EQUAL(s.n_past(), int(toks.size()));
  // bad ids and empty spans are rejected
  const std::int32_t bad[] = {-1};
  BOOST_CHECK(s.eval(bad).error().code == aikid::errc::bad_request);
  BOOST_CHECK(!s.eval(std::span<const std::int32_t>{}));
  // truncate and re-evaluate the last token: same logits (prompt-cache reuse)
  s.truncate(int(toks.size()) - 1);
  BOOST_CHECK_EQUAL(s.n_past(), int(toks.size()) - 1);
  const std::int32_t last[] = {toks.back()};
  BOOST_REQUIRE(s.eval(last));
  for (std::size_t i = 0; i < first.size(); ++i) BOOST_REQUIRE_EQUAL(s.logits()[i], first[i]);
  // token-by-token evaluation equals batched evaluation
  session t(*m, 16);
  for (auto id : toks) {
    const std::int32_t one[] = {id};
    BOOST_REQUIRE(t.eval(one));
  }
  for (std::size_t i = 0; i < first.size(); ++i) BOOST_REQUIRE_EQUAL(t.logits()[i], first[i]);
  BOOST_CHECK_EQUAL(s.kv_bytes(), std::size_t(2) * 30 * 16 * 192 * 2);
}

BOOST_AUTO_TEST_CASE(portable_reference_kernels_on_the_real_model) {
  // The reference kernels (any CPU) give the same logits as llama.cpp too.
  ::setenv("AIKID_KERNELS", "portable", 1);
  auto m = load_model();
  ::unsetenv("AIKID_KERNELS");
  BOOST_CHECK_EQUAL(m->info().kernels, "portable");
  std::ifstream bin(fixtures() + "first_logits.bin", std::ios::binary);
  std::vector<float> want(std::size_t(m->n_vocab()));
  bin.read(reinterpret_cast<char*>(want.data()), std::streamsize(want.size() * 4));
  std::ifstream in(fixtures() + "forward.json");
  const json fx = json::parse(in);
  const auto& c = fx["cases"][0];
  session s(*m, 128);
  BOOST_REQUIRE(s.eval(c["prompt_ids"].get<std::vector<std::int32_t>>()));
  float worst = 0;
  for (std::size_t i = 0; i < want.size(); ++i) worst = std::max(worst, std::fabs(s.logits()[i] - want[i]));
  BOOST_TEST_MESSAGE("portable kernels: full first-step logits max |diff| " << worst);
  BOOST_CHECK_LE(worst, logit_tol);
  const auto greedy = c["greedy"].get<std::vector<std::int32_t>>();
  for (std::size_t step = 0; step < 4; ++step) {
    const std::int32_t tok = argmax(s.logits());
    BOOST_CHECK_EQUAL(tok, greedy[step]);
    const std::int32_t one[] = {tok};
    BOOST_REQUIRE(s.eval(one));
  }
}

BOOST_AUTO_TEST_CASE(two_threads_give_the_same_logits_as_one) {
  // The pool splits rows and (token, head) pairs only, never a sum: bit-identical.
  auto m1 = load_model();
  model_options o;
  o.path = std::filesystem::path(AIKID_MODELS_DIR) / "SmolLM2-135M-Instruct.Q4_1.gguf";
  o.threads = 2;
  auto r2 = model::load(o);
  BOOST_REQUIRE(r2);
  BOOST_CHECK_EQUAL((*r2)->info().n_threads, 2);
  std::ifstream in(fixtures() + "forward.json");
  const json fx = json::parse(in);
  const auto prompt = fx["cases"][1]["prompt_ids"].get<std::vector<std::int32_t>>();
  session a(*m1, 128), b(**r2, 128);
  BOOST_REQUIRE(a.eval(prompt));
  BOOST_REQUIRE(b.eval(prompt));
  for (int step = 0; step < 6; ++step) {
    BOOST_REQUIRE(std::equal(a.logits().begin(), a.logits().end(), b.logits().begin(), b.logits().end()));
    const std::int32_t one[] = {argmax(a.logits())};
    BOOST_REQUIRE(a.eval(one));
    BOOST_REQUIRE(b.eval(one));
  }
}
