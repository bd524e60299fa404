// libFuzzer target for the template loader (actors/synthesis/templates_load.cpp):
// template TOML files → checked definitions (keys, types, mode, lang, the
// mustache check of each body against the render context) → embedded
// examples → keyword automaton → an immutable set. The input holds one to
// four template files separated by a line "%%%%" (so duplicate names and
// per-file errors are reachable); the embed function is a fake that hashes
// each text into a small vector. Any input must give a set whose definitions
// can be read back, or an error (bad_request "file:line: reason", or
// unavailable from the embed step) — never a crash or a sanitizer report.
//
// Build + run (from the repo root):
//   tests/fuzz/fuzz.sh templates /tmp/fuzz 600      (the compile line is in fuzz.sh)
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "actors/synthesis/synthesis.hpp"

using namespace aikid;
using namespace aikid::synthesis;

namespace {

// 16 numbers from a text's FNV-1a hash; the empty text gives a zero vector.
expected<std::vector<std::vector<float>>> fake_embed(const std::vector<std::string>& texts) {
  std::vector<std::vector<float>> out;
  for (const auto& t : texts) {
    std::uint64_t h = 1469598103934665603ull;
    for (unsigned char c : t) h = (h ^ c) * 1099511628211ull;
    std::vector<float> v(16);
    for (auto& x : v) {
      h = h * 6364136223846793005ull + 1442695040888963407ull;
      x = t.empty() ? 0.f : static_cast<float>(static_cast<std::int32_t>(h >> 32)) / 2147483648.f;
    }
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string all(reinterpret_cast<const char*>(data), size);
  std::vector<template_source> sources;
  const std::string sep = "\n%%%%\n";
  for (std::size_t at = 0; sources.size() < 4;) {
    const auto next = all.find(sep, at);
    sources.push_back({"t" + std::to_string(sources.size()) + ".toml",
                       all.substr(at, next == std::string::npos ? std::string::npos : next - at)});
    if (next == std::string::npos) break;
    at = next + sep.size();
  }
  auto set = templates_load_sources(std::span<const template_source>(sources), fake_embed);
  if (!set) {
    const auto& e = set.error();
    if (e.message.empty()) std::abort();
    if (e.code == errc::bad_request) {
      // "tN.toml:LINE: reason"
      if (e.message.size() < 9 || e.message[0] != 't' || e.message.compare(2, 6, ".toml:") != 0) std::abort();
    } else if (e.code != errc::unavailable) {
      std::abort();
    }
    return 0;
  }
  const template_set& s = **set;
  if (templates_count(s) != sources.size()) std::abort();
  for (std::size_t i = 0; i < templates_count(s); ++i) {
    const template_def& d = templates_get(s, i);
    if (templates_find(s, d.name) != static_cast<int>(i)) std::abort();
    if (d.examples.empty() && d.keywords.empty()) std::abort();
    if (d.mode == template_mode::answer ? d.body.empty() && !d.system.empty()
                                        : !d.body.empty())
      std::abort();
  }
  return 0;
}
