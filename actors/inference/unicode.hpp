// Unicode helpers for the tokenizer: codepoint classes (from utf8proc, made
// to agree with llama.cpp's Unicode 15.1 table), UTF-8 decoding with
// llama.cpp's leniency, and the pre-tokenizer splits (model-facts §6-7),
// written by hand (no std::regex).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace aikid::inference {

/// Codepoint class bits (the subset of llama.cpp's unicode_cpt_flags the
/// pre-tokenizers read).
enum cpt_flag : std::uint16_t {
  cpt_undefined = 0x0001,   // Cn
  cpt_number = 0x0002,      // N*
  cpt_letter = 0x0004,      // L*
  cpt_separator = 0x0008,   // Z*
  cpt_mark = 0x0010,        // M*
  cpt_punctuation = 0x0020, // P*
  cpt_symbol = 0x0040,      // S*
  cpt_control = 0x0080,     // Cc Cf Cs Co
  cpt_whitespace = 0x0100,  // llama.cpp's \s set
};

/// Class bits of a codepoint; 0x110000 and above are `cpt_undefined`.
std::uint16_t cpt_flags(std::uint32_t cp);

/// Decodes UTF-8 as llama.cpp does: structurally valid sequences are taken as
/// they are (no overlong/surrogate checks); each byte of a malformed sequence
/// becomes U+FFFD; codepoints above U+10FFFF also become U+FFFD.
std::vector<std::uint32_t> utf8_to_cpts(std::string_view s);
void cpt_append_utf8(std::uint32_t cp, std::string& out);

/// Pre-tokenizer families this engine implements (tokenizer.ggml.pre).
enum class pretok_kind {
  gpt2,    // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  smollm,  // \p{N} isolated first, then gpt2 inside each piece (starcoder group)
};

/// Splits `cpts` into words; returns the length (in codepoints) of each word.
std::vector<std::size_t> pretokenize(pretok_kind kind, const std::vector<std::uint32_t>& cpts);

}  // namespace aikid::inference
