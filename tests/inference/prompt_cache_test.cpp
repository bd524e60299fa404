// Prompt cache on the real model: the longest shared prefix is reused
// (cached counts), reused KV gives the same logits as a fresh evaluation,
// the last N prefixes are kept, and shrinking the slot count evicts LRU.
#define BOOST_TEST_MODULE inference_prompt_cache
#include <boost/test/unit_test.hpp>

#include <filesystem>

#include "actors/inference/inference.hpp"
#include "actors/inference/prompt_cache.hpp"

using namespace aikid::inference;

namespace {

const std::filesystem::path real_model = std::filesystem::path(AIKID_MODELS_DIR) / "SmolLM2-135M-Instruct.Q4_1.gguf";

std::unique_ptr<model> load() {
  BOOST_REQUIRE_MESSAGE(std::filesystem::exists(real_model), "model missing: " << real_model);
  model_options o;
  o.path = real_model;
  o.n_ctx = 256;
  auto m = model::load(o);
  BOOST_REQUIRE_MESSAGE(m, (m ? "" : m.error().message));
  return std::move(*m);
}

std::vector<std::int32_t> seq(std::int32_t start, int n) {
  std::vector<std::int32_t> v;
  for (int i = 0; i < n; ++i) v.push_back(start + i * 7);
  return v;
}

void prefill(prompt_cache& c, const prompt_cache::lease& l, const std::vector<std::int32_t>& p) {
  auto rest = std::span<const std::int32_t>(p).subspan(static_cast<std::size_t>(l.cached));
  BOOST_REQUIRE(c.eval(l.slot, rest));
}

}  // namespace

BOOST_AUTO_TEST_CASE(shared_prefix_is_reused_and_gives_the_same_logits) {
  auto m = load();
  prompt_cache c(*m, 256, 2);
  auto shared = seq(100, 40);
  auto a = shared, b = shared;
  a.insert(a.end(), {5000, 5001, 5002});
  b.insert(b.end(), {6000, 6001});

  auto la = c.acquire(a);
  BOOST_TEST(la.cached == 0);
  prefill(c, la, a);
  auto lb = c.acquire(b);
  BOOST_TEST(lb.cached == 40);
  BOOST_TEST(lb.slot == la.slot);
  prefill(c, lb, b);
  std::vector<float> reused(c.session_of(lb.slot).logits().begin(), c.session_of(lb.slot).logits().end());

  session fresh(*m, 256);
  BOOST_REQUIRE(fresh.eval(b));
  auto fl = fresh.logits();
  BOOST_REQUIRE(fl.size() == reused.size());
  float maxdiff = 0;
  for (std::size_t i = 0; i < fl.size(); ++i) maxdiff = std::max(maxdiff, std::abs(fl[i] - reused[i]));
  // chunked vs one batch differ only in float rounding
  BOOST_TEST(maxdiff < 1e-2f);

  // the same prompt again: all but the last two tokens are reused
  auto lb2 = c.acquire(b);
  BOOST_TEST(lb2.cached == static_cast<int>(b.size()) - 2);
}

BOOST_AUTO_TEST_CASE(keeps_the_last_n_prefixes_and_evicts_lru) {
  auto m = load();
  prompt_cache c(*m, 256, 3);
  auto p1 = seq(200, 10), p2 = seq(300, 10), p3 = seq(400, 10);
  for (auto* p : {&p1, &p2, &p3}) {
    auto l = c.acquire(*p);
    BOOST_TEST(l.cached == 0);
    prefill(c, l, *p);
  }
  // each prefix still cached in its own slot
  for (auto* p : {&p1, &p2, &p3}) {
    auto q = *p;
    q.push_back(9999);
    auto l = c.acquire(q);
    BOOST_TEST(l.cached == 9);  // 10 shared, the last prompt token always re-evaluated with the new one
    prefill(c, l, q);
  }
  c.set_slots(1);  // p3 is the most recent
  BOOST_TEST(c.slots() == 1);
  auto q1 = p1;
  q1.push_back(1);
  BOOST_TEST(c.acquire(q1).cached == 0);
  auto l3 = c.acquire(p3);
  BOOST_TEST(l3.cached == 0);  // slot reused by q1 (truncated to 0)
}
