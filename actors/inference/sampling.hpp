// Sampling: the token chooser of a generation, with llama.cpp's semantics
// (model-facts §8) and the stop rules of a request.
//
// Table of contents:
//   sampling_params        the request's fields (defaults: llama.cpp common)
//   sampler                penalties -> top_k -> top_p -> min_p -> temperature -> dist
//                          (temperature <= 0: greedy); std::mt19937(seed)
//   stop_scanner           stop strings found across token boundaries, and how
//                          much text is safe to stream before a stop could match
//
// Engine code: no actors, no threads.
#pragma once

#include <cstdint>
#include <deque>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace aikid::inference {

struct sampling_params {
  float temperature = 0.8f;        // <= 0: greedy (first index of the max logit)
  int top_k = 40;                  // <= 0: off
  float top_p = 0.95f;             // >= 1: off
  float min_p = 0.05f;             // <= 0: off
  float repeat_penalty = 1.0f;     // 1: off
  float frequency_penalty = 0.0f;  // 0: off
  float presence_penalty = 0.0f;   // 0: off
  int penalty_last_n = 64;         // window of accepted tokens the penalties look at; 0: off, -1: n_ctx
  std::uint32_t seed = 0xFFFFFFFFu;  // 0xFFFFFFFF: a random seed (std::random_device)
};

/// Checks ranges; fails with errc::bad_request naming the field
/// (e.g. "top_p: must be in [0, 1]").
expected<void> sampling_validate(const sampling_params& p);

class sampler {
 public:
  /// n_ctx resolves penalty_last_n = -1.
  explicit sampler(const sampling_params& p, int n_ctx = 4096);

  /// Picks a token from `logits` (n_vocab floats). `allowed`, when not empty,
  /// has one byte per token: 0 = masked out (a constrained grammar). Returns
  /// -1 only when every token is masked out. Never fails otherwise.
  std::int32_t sample(std::span<const float> logits, std::span<const std::uint8_t> allowed = {});
  /// Records a token of the output (the penalties' window).
  void accept(std::int32_t token);
  /// Resets the window and reseeds (the same seed gives the same run).
  void reset();

  const sampling_params& params() const { return p_; }
  std::uint32_t seed_used() const { return seed_; }

 private:
  struct cand {
    std::int32_t id;
    float logit;
  };
  void apply_penalties(std::vector<cand>& c) const;
  sampling_params p_;
  int window_ = 0;
  std::uint32_t seed_ = 0;
  std::mt19937 rng_;
  std::deque<std::int32_t> recent_;
  std::vector<cand> cands_;  // scratch
};

/// Stop strings over a growing text. feed() takes the text so far (after a
/// token was appended) and reports whether a stop string occurs in it; the
/// text is then cut at the first occurrence. safe_len() says how many bytes
/// may be streamed: those that cannot become the start of a stop string.
class stop_scanner {
 public:
  explicit stop_scanner(std::vector<std::string> stops);
  /// Position of the earliest stop string in `text` that ends in the last
  /// `appended` bytes (or anywhere when appended is 0); npos if none.
  std::size_t find(std::string_view text, std::size_t appended) const;
  /// Bytes of `text` that can be emitted now: all but the longest suffix that
  /// is a proper prefix of a stop string.
  std::size_t safe_len(std::string_view text) const;
  bool empty() const { return stops_.empty(); }

 private:
  std::vector<std::string> stops_;
  std::size_t longest_ = 0;
};

}  // namespace aikid::inference
