// Prompt cache: the last N prompts' KV caches, one session per slot (the
// session has no API to copy KV state). A new prompt goes to the slot that
// shares the longest token prefix with it; that slot is truncated to the
// shared prefix and only the rest is evaluated (llama-server's slot reuse).
//
// Engine code: no actors, no threads.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "actors/inference/inference.hpp"

namespace aikid::inference {

class prompt_cache {
 public:
  /// One session is made now, the others when first needed (n_ctx as for
  /// session; slots clamped to >= 1). Throws std::bad_alloc as session does.
  prompt_cache(const model& m, int n_ctx, int slots);

  /// Live resize: shrinking drops the least recently used slots (one always stays).
  void set_slots(int slots);
  int slots() const { return max_slots_; }

  struct lease {
    int slot = -1;
    int cached = 0;  // prompt tokens already in the slot's KV (reused)
  };
  /// Chooses the slot with the longest common prefix with `prompt` (no
  /// match: an unused slot, else the least recently used one) and truncates
  /// it to min(common, prompt.size() - 2): the last two prompt tokens are
  /// always evaluated again, as one batch, so the logits are those of a
  /// prompt batch (session::eval's numerics differ between a batch and a
  /// one-token step; greedy output must not depend on the cache). A
  /// one-token prompt reuses nothing. Throws std::bad_alloc only if creating
  /// a session fails.
  lease acquire(std::span<const std::int32_t> prompt);
  session& session_of(int slot) { return *slots_[static_cast<std::size_t>(slot)].sess; }
  /// Evaluates tokens on the slot's session and records them. Fails as session::eval.
  expected<void> eval(int slot, std::span<const std::int32_t> tokens);
  /// Tokens held by a slot's KV cache.
  const std::vector<std::int32_t>& tokens_of(int slot) const { return slots_[static_cast<std::size_t>(slot)].tokens; }
  int n_ctx() const;
  std::size_t kv_bytes() const;

 private:
  struct slot_t {
    std::unique_ptr<session> sess;
    std::vector<std::int32_t> tokens;
    std::uint64_t used = 0;
  };
  const model& m_;
  int n_ctx_;
  int max_slots_;
  std::uint64_t clock_ = 0;
  std::vector<slot_t> slots_;
};

}  // namespace aikid::inference
