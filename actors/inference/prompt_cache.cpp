// prompt_cache: longest-common-prefix slot choice over N sessions.
#include "actors/inference/prompt_cache.hpp"

#include <algorithm>

namespace aikid::inference {

prompt_cache::prompt_cache(const model& m, int n_ctx, int slots) : m_(m), n_ctx_(n_ctx), max_slots_(std::max(1, slots)) {
  slots_.push_back({std::make_unique<session>(m_, n_ctx_), {}, 0});
}

void prompt_cache::set_slots(int slots) {
  max_slots_ = std::max(1, slots);
  while (static_cast<int>(slots_.size()) > max_slots_) {
    auto lru = std::min_element(slots_.begin(), slots_.end(), [](const slot_t& a, const slot_t& b) { return a.used < b.used; });
    slots_.erase(lru);
  }
}

int prompt_cache::n_ctx() const { return slots_.front().sess->n_ctx(); }

std::size_t prompt_cache::kv_bytes() const {
  std::size_t b = 0;
  for (const auto& s : slots_) b += s.sess->kv_bytes();
  return b;
}

prompt_cache::lease prompt_cache::acquire(std::span<const std::int32_t> prompt) {
  int best = -1;
  std::size_t best_len = 0;
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    const auto& t = slots_[i].tokens;
    std::size_t n = std::min(t.size(), prompt.size()), k = 0;
    while (k < n && t[k] == prompt[k]) ++k;
    if (k > best_len) best_len = k, best = static_cast<int>(i);
  }
  if (best < 0) {
    if (static_cast<int>(slots_.size()) < max_slots_) {
      slots_.push_back({std::make_unique<session>(m_, n_ctx_), {}, 0});
      best = static_cast<int>(slots_.size()) - 1;
    } else {
      best = static_cast<int>(std::min_element(slots_.begin(), slots_.end(),
                                               [](const slot_t& a, const slot_t& b) { return a.used < b.used; }) -
                              slots_.begin());
    }
    best_len = 0;
  }
  auto& s = slots_[static_cast<std::size_t>(best)];
  std::size_t keep = std::min(best_len, prompt.size() < 2 ? 0 : prompt.size() - 2);
  s.sess->truncate(static_cast<int>(keep));
  s.tokens.resize(keep);
  s.used = ++clock_;
  return {best, static_cast<int>(keep)};
}

expected<void> prompt_cache::eval(int slot, std::span<const std::int32_t> tokens) {
  auto& s = slots_[static_cast<std::size_t>(slot)];
  auto r = s.sess->eval(tokens);
  if (r) s.tokens.insert(s.tokens.end(), tokens.begin(), tokens.end());
  else {
    // the KV state after a failed eval is not trusted: start the slot over
    s.sess->truncate(0);
    s.tokens.clear();
  }
  return r;
}

}  // namespace aikid::inference
