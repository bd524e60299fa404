// UTF-8 well-formedness, the one rule every module checks text by: Unicode's
// Table 3-7 (RFC 3629): no overlong forms, no surrogates, nothing above
// U+10FFFF. The wire, the embedder's tokenizer, the knowledge graph and the
// LLM's generated text all use it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace aikid {

/// The start of the character at s[at]: `need` is the length its first byte
/// calls for (1 for ASCII; 0 when that byte cannot start a character), `len`
/// how many of those bytes are there and well-formed. len == need: a whole
/// character. len < need: malformed (len is the maximal subpart), or cut off
/// by the end of s when at + len == s.size(). Needs at < s.size(); never fails.
struct utf8_head {
  std::size_t len, need;
};
inline utf8_head utf8_head_at(std::string_view s, std::size_t at) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const unsigned char c = p[at];
  if (c < 0x80) return {1, 1};
  // the lead fixes the length and the range of the second byte; later bytes are 80..BF
  std::size_t need = 0;
  unsigned char lo = 0x80, hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) {
    need = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    need = 3;
    if (c == 0xe0) lo = 0xa0;  // overlong below
    if (c == 0xed) hi = 0x9f;  // surrogates above
  } else if (c >= 0xf0 && c <= 0xf4) {
    need = 4;
    if (c == 0xf0) lo = 0x90;  // overlong below
    if (c == 0xf4) hi = 0x8f;  // above U+10FFFF
  } else {
    return {0, 0};
  }
  std::size_t k = 1;
  while (k < need && at + k < s.size()) {
    const unsigned char b = p[at + k];
    if (k == 1 ? (b < lo || b > hi) : (b & 0xc0) != 0x80) break;
    ++k;
  }
  return {k, need};
}

/// Offset of the first byte of s that does not start a whole, well-formed
/// character, or -1 when s is valid UTF-8. Never fails.
inline std::ptrdiff_t utf8_first_invalid(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const utf8_head h = utf8_head_at(s, i);
    if (h.need == 0 || h.len != h.need) return static_cast<std::ptrdiff_t>(i);
    i += h.len;
  }
  return -1;
}

/// Moves the bytes of `pending` that make whole, well-formed UTF-8
/// characters to the end of `out` (a model's tokens are bytes and may split or
/// break a character). Each malformed sequence (a stray continuation byte, a
/// byte that never starts one, an overlong form, a surrogate, a character
/// broken off) becomes one U+FFFD per maximal subpart, as Python's
/// decode(errors="replace") does. A character still incomplete at the end of
/// `pending` stays there, unless `at_end`. Never fails: `out` stays valid
/// UTF-8 if it was.
inline void utf8_take_valid(std::string& pending, std::string& out, bool at_end) {
  const std::size_t n = pending.size();
  std::size_t i = 0;
  while (i < n) {
    const utf8_head h = utf8_head_at(pending, i);
    if (h.need && h.len == h.need) {
      out.append(pending, i, h.len);
      i += h.len;
    } else if (h.need && i + h.len == n && !at_end) {
      break;  // may yet be completed by the next bytes
    } else {
      out += "\xEF\xBF\xBD";  // U+FFFD for the maximal subpart (at least one byte)
      i += h.len ? h.len : 1;
    }
  }
  pending.erase(0, i);
}

/// `s` as well-formed UTF-8: unchanged when it is, else each malformed part
/// replaced by U+FFFD (utf8_take_valid's rule). For text read back from
/// storage that did not pass the checks on the way in (an older version, a
/// hand-edited database). Never fails.
inline std::string utf8_repaired(std::string_view s) {
  if (utf8_first_invalid(s) < 0) return std::string(s);
  std::string pending(s), out;
  out.reserve(s.size() + 8);
  utf8_take_valid(pending, out, true);
  return out;
}

}  // namespace aikid
