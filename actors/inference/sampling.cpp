// Sampler chain (llama.cpp src/llama-sampling.cpp semantics, model-facts §8):
//   penalties (window of accepted tokens) -> top_k -> top_p -> min_p
//   -> temperature -> dist (std::mt19937); temperature <= 0 -> greedy.
#include "actors/inference/sampling.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_map>

namespace aikid::inference {

expected<void> sampling_validate(const sampling_params& p) {
  auto bad = [](const char* m) { return expected<void>(errc::bad_request, m); };
  if (!std::isfinite(p.temperature) || p.temperature > 100.f) return bad("temperature: must be in [0, 100]");
  if (!(p.top_p >= 0.f && p.top_p <= 1.f)) return bad("top_p: must be in [0, 1]");
  if (!(p.min_p >= 0.f && p.min_p <= 1.f)) return bad("min_p: must be in [0, 1]");
  if (!(p.repeat_penalty > 0.f) || !std::isfinite(p.repeat_penalty)) return bad("repeat_penalty: must be > 0");
  if (!std::isfinite(p.frequency_penalty)) return bad("frequency_penalty: must be finite");
  if (!std::isfinite(p.presence_penalty)) return bad("presence_penalty: must be finite");
  if (p.penalty_last_n < -1) return bad("penalty_last_n: must be >= -1");
  return {};
}

sampler::sampler(const sampling_params& p, int n_ctx) : p_(p) {
  window_ = p.penalty_last_n < 0 ? n_ctx : p.penalty_last_n;
  reset();
}

void sampler::reset() {
  recent_.clear();
  seed_ = p_.seed == 0xFFFFFFFFu ? std::random_device{}() : p_.seed;
  rng_.seed(seed_);
}

void sampler::accept(std::int32_t token) {
  if (window_ <= 0) return;
  recent_.push_back(token);
  while (static_cast<int>(recent_.size()) > window_) recent_.pop_front();
}

// penalties: for a candidate seen c > 0 times in the window,
// logit <= 0 ? logit *= rep : logit /= rep; then logit -= c*freq + (c>0)*present.
void sampler::apply_penalties(std::vector<cand>& c) const {
  if (recent_.empty()) return;
  if (p_.repeat_penalty == 1.f && p_.frequency_penalty == 0.f && p_.presence_penalty == 0.f) return;
  std::unordered_map<std::int32_t, int> count;
  for (auto t : recent_) ++count[t];
  for (auto& x : c) {
    auto it = count.find(x.id);
    if (it == count.end()) continue;
    if (x.logit <= 0.f) x.logit *= p_.repeat_penalty;
    else x.logit /= p_.repeat_penalty;
    x.logit -= static_cast<float>(it->second) * p_.frequency_penalty + p_.presence_penalty;
  }
}

std::int32_t sampler::sample(std::span<const float> logits, std::span<const std::uint8_t> allowed) {
  auto& c = cands_;
  c.clear();
  c.reserve(logits.size());
  for (std::size_t i = 0; i < logits.size(); ++i)
    if (allowed.empty() || (i < allowed.size() && allowed[i])) c.push_back({static_cast<std::int32_t>(i), logits[i]});
  if (c.empty()) return -1;
  apply_penalties(c);

  // greedy: first index of the max (candidates are in id order).
  if (p_.temperature <= 0.f) {
    std::size_t best = 0;
    for (std::size_t i = 1; i < c.size(); ++i)
      if (c[i].logit > c[best].logit) best = i;
    return c[best].id;
  }

  auto by_logit = [](const cand& a, const cand& b) { return a.logit > b.logit || (a.logit == b.logit && a.id < b.id); };
  // top_k: keep the k highest logits, sorted descending.
  std::size_t k = p_.top_k > 0 ? std::min<std::size_t>(static_cast<std::size_t>(p_.top_k), c.size()) : c.size();
  std::partial_sort(c.begin(), c.begin() + static_cast<std::ptrdiff_t>(k), c.end(), by_logit);
  c.resize(k);

  // top_p: softmax over the candidates (no temperature yet); shortest prefix
  // with cumulative probability >= p (min_keep 1).
  if (p_.top_p < 1.f) {
    double mx = c[0].logit, sum = 0;
    std::vector<double> e(c.size());
    for (std::size_t i = 0; i < c.size(); ++i) sum += e[i] = std::exp(static_cast<double>(c[i].logit) - mx);
    double cum = 0;
    std::size_t keep = c.size();
    for (std::size_t i = 0; i < c.size(); ++i) {
      cum += e[i] / sum;
      if (cum >= p_.top_p) {
        keep = i + 1;
        break;
      }
    }
    c.resize(keep);
  }

  // min_p: keep logit >= max + ln(p) (prob >= p * p_max), at least one.
  if (p_.min_p > 0.f) {
    float thr = c[0].logit + std::log(p_.min_p);
    std::size_t keep = 1;
    while (keep < c.size() && c[keep].logit >= thr) ++keep;
    c.resize(keep);
  }

  // temperature, then dist: softmax and a draw from std::mt19937.
  double mx = c[0].logit / p_.temperature, sum = 0;
  std::vector<double> pr(c.size());
  for (std::size_t i = 0; i < c.size(); ++i) sum += pr[i] = std::exp(static_cast<double>(c[i].logit) / p_.temperature - mx);
  double r = std::uniform_real_distribution<double>(0.0, 1.0)(rng_) * sum, cum = 0;
  for (std::size_t i = 0; i < c.size(); ++i) {
    cum += pr[i];
    if (cum >= r) return c[i].id;
  }
  return c.back().id;
}

// ---- stop strings ---------------------------------------------------------

stop_scanner::stop_scanner(std::vector<std::string> stops) {
  for (auto& s : stops)
    if (!s.empty()) stops_.push_back(std::move(s));
  for (auto& s : stops_) longest_ = std::max(longest_, s.size());
}

std::size_t stop_scanner::find(std::string_view text, std::size_t appended) const {
  std::size_t best = std::string_view::npos;
  for (const auto& s : stops_) {
    // a match that ends in the appended bytes starts at or after this
    std::size_t from = 0;
    if (appended && text.size() > appended + s.size() - 1) from = text.size() - appended - (s.size() - 1);
    auto pos = text.find(s, from);
    if (pos < best) best = pos;
  }
  return best;
}

std::size_t stop_scanner::safe_len(std::string_view text) const {
  std::size_t hold = 0;
  for (const auto& s : stops_) {
    std::size_t maxk = std::min(s.size() - 1, text.size());
    for (std::size_t k = maxk; k > hold; --k)
      if (text.substr(text.size() - k) == std::string_view(s).substr(0, k)) {
        hold = k;
        break;
      }
  }
  return text.size() - hold;
}

}  // namespace aikid::inference
