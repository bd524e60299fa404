// A deterministic stand-in for the sentence encoder: hashed bag of words plus
// character trigrams, as a unit vector. Texts that share words score high.
#pragma once

#include <cctype>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "actors/synthesis/synthesis.hpp"

namespace fake {

constexpr int kDim = 512;

inline std::uint32_t fnv1a(std::string_view s, std::uint32_t seed = 2166136261u) {
  std::uint32_t h = seed;
  for (unsigned char c : s) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

inline std::vector<std::string> words(std::string_view text) {
  std::vector<std::string> out;
  std::string w;
  for (unsigned char c : text) {
    if (c >= 0x80 || std::isalnum(c)) {
      w.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c));
    } else if (c == '\'') {
      continue;
    } else if (!w.empty()) {
      out.push_back(w);
      w.clear();
    }
  }
  if (!w.empty()) out.push_back(w);
  return out;
}

inline std::vector<float> embed_one(std::string_view text) {
  std::vector<float> v(kDim, 0.f);
  for (const auto& w : words(text)) {
    v[fnv1a(w) % kDim] += 1.0f;
    const std::string b = "^" + w + "$";
    for (std::size_t i = 0; i + 3 <= b.size(); ++i) v[fnv1a(b.substr(i, 3), 7u) % kDim] += 0.3f;
  }
  double n = 0;
  for (float x : v) n += double(x) * x;
  if (n > 0)
    for (float& x : v) x = float(x / std::sqrt(n));
  return v;
}

inline aikid::expected<std::vector<std::vector<float>>> embed(const std::vector<std::string>& texts) {
  std::vector<std::vector<float>> out;
  out.reserve(texts.size());
  for (const auto& t : texts) out.push_back(embed_one(t));
  return out;
}

}  // namespace fake
