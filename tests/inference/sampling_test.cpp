// Sampler chain: each field changes the outcome (a test per field fails if
// the field is ignored), seed reproducibility, masks, stop strings across
// token boundaries. Synthetic logits: no model needed.
#define BOOST_TEST_MODULE inference_sampling
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <map>

#include "actors/inference/sampling.hpp"

using namespace aikid::inference;

namespace {

sampling_params plain(float temp) {
  sampling_params p;
  p.temperature = temp;
  p.top_k = 0;
  p.top_p = 1.f;
  p.min_p = 0.f;
  p.seed = 1234;
  return p;
}

std::map<int, int> histogram(const sampling_params& p, const std::vector<float>& logits, int n = 4000) {
  sampler s(p);
  std::map<int, int> h;
  for (int i = 0; i < n; ++i) ++h[s.sample(logits)];
  return h;
}

// logits whose softmax is {0.5, 0.3, 0.2}
const std::vector<float> three = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};

}  // namespace

BOOST_AUTO_TEST_CASE(greedy_is_the_first_max) {
  sampler s(plain(0.f));
  BOOST_TEST(s.sample(std::vector<float>{0.f, 3.f, 1.f, 3.f}) == 1);
}

BOOST_AUTO_TEST_CASE(temperature_sharpens_and_flattens) {
  std::vector<float> l = {2.f, 1.f, 0.f};
  auto cold = histogram(plain(0.2f), l);
  auto hot = histogram(plain(5.f), l);
  // softmax(l/0.2)[0] = 0.9933, softmax(l/5)[0] = 0.4022
  BOOST_TEST(cold[0] / 4000.0 > 0.98);
  BOOST_TEST(std::abs(hot[0] / 4000.0 - 0.4022) < 0.04);
}

BOOST_AUTO_TEST_CASE(top_k_keeps_k) {
  auto p = plain(5.f);
  auto all = histogram(p, three);
  BOOST_TEST(all[2] > 0);
  p.top_k = 2;
  auto h = histogram(p, three);
  BOOST_TEST(h.count(2) == 0u);
  BOOST_TEST(h[1] > 0);
}

BOOST_AUTO_TEST_CASE(top_p_keeps_the_nucleus) {
  auto p = plain(1.f);
  p.top_p = 0.7f;  // 0.5 < 0.7 <= 0.8: tokens 0 and 1
  auto h = histogram(p, three);
  BOOST_TEST(h.count(2) == 0u);
  BOOST_TEST(std::abs(h[0] / 4000.0 - 0.625) < 0.04);
  p.top_p = 0.4f;  // token 0 alone
  BOOST_TEST(histogram(p, three).size() == 1u);
}

BOOST_AUTO_TEST_CASE(min_p_drops_the_unlikely) {
  auto p = plain(1.f);
  p.min_p = 0.5f;  // prob >= 0.25: tokens 0 and 1
  auto h = histogram(p, three);
  BOOST_TEST(h.count(2) == 0u);
  BOOST_TEST(h[1] > 0);
  p.min_p = 0.7f;  // prob >= 0.35: token 0
  BOOST_TEST(histogram(p, three).size() == 1u);
}

BOOST_AUTO_TEST_CASE(repeat_penalty_divides_and_multiplies) {
  auto p = plain(0.f);
  p.repeat_penalty = 2.f;
  sampler s(p);
  s.accept(0);
  BOOST_TEST(s.sample(std::vector<float>{1.0f, 0.9f}) == 1);    // 1.0 / 2 = 0.5
  BOOST_TEST(s.sample(std::vector<float>{-1.0f, -1.5f}) == 1);  // -1 * 2 = -2
  sampler off(plain(0.f));
  off.accept(0);
  BOOST_TEST(off.sample(std::vector<float>{1.0f, 0.9f}) == 0);
}

BOOST_AUTO_TEST_CASE(frequency_penalty_scales_with_count) {
  auto p = plain(0.f);
  p.frequency_penalty = 0.05f;
  sampler once(p), thrice(p);
  once.accept(0);
  for (int i = 0; i < 3; ++i) thrice.accept(0);
  BOOST_TEST(once.sample(std::vector<float>{1.0f, 0.9f}) == 0);    // 0.95
  BOOST_TEST(thrice.sample(std::vector<float>{1.0f, 0.9f}) == 1);  // 0.85
}

BOOST_AUTO_TEST_CASE(presence_penalty_is_once) {
  auto p = plain(0.f);
  p.presence_penalty = 0.2f;
  sampler s(p);
  s.accept(0);
  BOOST_TEST(s.sample(std::vector<float>{1.0f, 0.9f}) == 1);  // 0.8
  p.presence_penalty = 0.05f;
  sampler t(p);
  for (int i = 0; i < 3; ++i) t.accept(0);
  BOOST_TEST(t.sample(std::vector<float>{1.0f, 0.9f}) == 0);  // 0.95: not count-scaled
}

BOOST_AUTO_TEST_CASE(penalty_last_n_is_the_window) {
  auto p = plain(0.f);
  p.presence_penalty = 1.f;
  p.penalty_last_n = 1;
  sampler s(p);
  s.accept(0);
  s.accept(5);  // 0 leaves the window
  BOOST_TEST(s.sample(std::vector<float>{1.0f, 0.9f}) == 0);
  p.penalty_last_n = 2;
  sampler t(p);
  t.accept(0);
  t.accept(5);
  BOOST_TEST(t.sample(std::vector<float>{1.0f, 0.9f}) == 1);
  p.penalty_last_n = 0;  // off
  sampler u(p);
  u.accept(0);
  BOOST_TEST(u.sample(std::vector<float>{1.0f, 0.9f}) == 0);
}

BOOST_AUTO_TEST_CASE(seed_reproduces_a_run) {
  std::vector<float> l(100);
  for (int i = 0; i < 100; ++i) l[static_cast<std::size_t>(i)] = std::sin(static_cast<float>(i)) * 2.f;
  auto run = [&](std::uint32_t seed) {
    auto p = plain(1.5f);
    p.seed = seed;
    sampler s(p);
    std::vector<int> out;
    for (int i = 0; i < 200; ++i) out.push_back(s.sample(l));
    return out;
  };
  BOOST_TEST(run(42) == run(42));
  BOOST_TEST(run(42) != run(43));
  auto p = plain(1.5f);
  p.seed = 7;
  sampler s(p);
  auto a = s.sample(l);
  s.reset();
  BOOST_TEST(s.sample(l) == a);
  p.seed = 0xFFFFFFFFu;  // random seed: reported
  sampler r(p);
  BOOST_TEST(r.seed_used() == r.seed_used());
}

BOOST_AUTO_TEST_CASE(mask_excludes_tokens) {
  sampler s(plain(0.f));
  std::vector<std::uint8_t> allowed = {0, 1, 1};
  BOOST_TEST(s.sample(std::vector<float>{5.f, 1.f, 2.f}, allowed) == 2);
  std::vector<std::uint8_t> none = {0, 0, 0};
  BOOST_TEST(s.sample(std::vector<float>{5.f, 1.f, 2.f}, none) == -1);
  sampler h(plain(3.f));
  for (int i = 0; i < 200; ++i) BOOST_TEST(h.sample(std::vector<float>{5.f, 1.f, 2.f}, allowed) != 0);
}

BOOST_AUTO_TEST_CASE(validate_names_the_field) {
  auto p = plain(1.f);
  p.top_p = 1.5f;
  auto r = sampling_validate(p);
  BOOST_TEST(!r);
  BOOST_TEST(r.error().message.find("top_p") != std::string::npos);
  BOOST_TEST(static_cast<bool>(sampling_validate(plain(1.f))));
}

BOOST_AUTO_TEST_CASE(stop_strings_across_token_boundaries) {
  stop_scanner s({"END", "\n\n"});
  std::string text;
  std::vector<std::string> pieces = {"Hello E", "N", "D and more"};
  std::size_t hit = std::string::npos;
  for (const auto& p : pieces) {
    text += p;
    hit = s.find(text, p.size());
    if (hit != std::string::npos) break;
  }
  BOOST_TEST(hit == 6u);
  BOOST_TEST(text.substr(0, hit) == "Hello ");
  // streaming holds back a possible stop start
  BOOST_TEST(s.safe_len("Hello E") == 6u);
  BOOST_TEST(s.safe_len("Hello EN") == 6u);
  BOOST_TEST(s.safe_len("Hello X") == 7u);
  BOOST_TEST(s.safe_len("a\n") == 1u);
  BOOST_TEST(s.find("no stop here", 4) == std::string::npos);
  stop_scanner none({});
  BOOST_TEST(none.safe_len("abc") == 3u);
}
