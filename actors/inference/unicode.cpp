// Codepoint classes, lenient UTF-8 decoding, hand-written pre-tokenizers.
#include "actors/inference/unicode.hpp"

#include <utf8proc.h>

namespace aikid::inference {

// ---- codepoint classes ----------------------------------------------------------
namespace {

bool is_whitespace_cpt(std::uint32_t cp) {
  // llama.cpp unicode_set_whitespace (Python's str.isspace set)
  switch (cp) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x20: case 0x85: case 0xA0:
    case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

std::uint16_t category_flag(std::uint32_t cp) {
  // utf8proc 2.8 implements Unicode 15.0; llama.cpp's table is Unicode 15.1.
  // The 15.1 additions: U+2FFC..2FFF and U+31EF (So), CJK Ext. I (Lo).
  if ((cp >= 0x2FFC && cp <= 0x2FFF) || cp == 0x31EF) return cpt_symbol;
  if (cp >= 0x2EBF0 && cp <= 0x2EE5D) return cpt_letter;
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
      return cpt_letter;
    case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
      return cpt_mark;
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
      return cpt_number;
    case UTF8PROC_CATEGORY_PC: case UTF8PROC_CATEGORY_PD: case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE: case UTF8PROC_CATEGORY_PI: case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
      return cpt_punctuation;
    case UTF8PROC_CATEGORY_SM: case UTF8PROC_CATEGORY_SC: case UTF8PROC_CATEGORY_SK:
    case UTF8PROC_CATEGORY_SO:
      return cpt_symbol;
    case UTF8PROC_CATEGORY_ZS: case UTF8PROC_CATEGORY_ZL: case UTF8PROC_CATEGORY_ZP:
      return cpt_separator;
    case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_CF: case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO:
      return cpt_control;
    default:
      return cpt_undefined;
  }
}

}  // namespace

std::uint16_t cpt_flags(std::uint32_t cp) {
  if (cp >= 0x110000) return cpt_undefined;
  // ASCII fast path (identical to the table)
  std::uint16_t f = category_flag(cp);
  if (is_whitespace_cpt(cp)) f |= cpt_whitespace;
  return f;
}

// ---- UTF-8 ----------------------------------------------------------------------
std::vector<std::uint32_t> utf8_to_cpts(std::string_view s) {
  std::vector<std::uint32_t> out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  auto cont = [&](std::size_t i) { return i < n && (p[i] & 0xc0) == 0x80; };
  std::size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    std::uint32_t cp;
    std::size_t len;
    if (c < 0x80) {
      cp = c; len = 1;
    } else if ((c & 0x40) == 0) {
      cp = 0xFFFD; len = 1;  // stray continuation byte
    } else if ((c & 0x20) == 0) {
      if (cont(i + 1)) { cp = (std::uint32_t(c & 0x1f) << 6) | (p[i + 1] & 0x3f); len = 2; }
      else { cp = 0xFFFD; len = 1; }
    } else if ((c & 0x10) == 0) {
      if (cont(i + 1) && cont(i + 2)) {
        cp = (std::uint32_t(c & 0x0f) << 12) | (std::uint32_t(p[i + 1] & 0x3f) << 6) | (p[i + 2] & 0x3f);
        len = 3;
      } else { cp = 0xFFFD; len = 1; }
    } else if ((c & 0x08) == 0) {
      if (cont(i + 1) && cont(i + 2) && cont(i + 3)) {
        cp = (std::uint32_t(c & 0x07) << 18) | (std::uint32_t(p[i + 1] & 0x3f) << 12) |
             (std::uint32_t(p[i + 2] & 0x3f) << 6) | (p[i + 3] & 0x3f);
        len = 4;
        if (cp > 0x10FFFF) cp = 0xFFFD;
      } else { cp = 0xFFFD; len = 1; }
    } else {
      cp = 0xFFFD; len = 1;
    }
    out.push_back(cp);
    i += len;
  }
  return out;
}

void cpt_append_utf8(std::uint32_t cp, std::string& out) {
  if (cp <= 0x7f) {
    out += char(cp);
  } else if (cp <= 0x7ff) {
    out += char(0xc0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3f));
  } else if (cp <= 0xffff) {
    out += char(0xe0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3f));
    out += char(0x80 | (cp & 0x3f));
  } else {
    out += char(0xf0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3f));
    out += char(0x80 | ((cp >> 6) & 0x3f));
    out += char(0x80 | (cp & 0x3f));
  }
}

// ---- pre-tokenizers --------------------------------------------------------------
namespace {

// \p{N} with llama.cpp's collapsed-regex semantics: ASCII 0-9, or a
// non-ASCII, non-whitespace codepoint of category N*.
bool is_regex_number(std::uint32_t cp) {
  if (cp < 128) return cp >= '0' && cp <= '9';
  const auto f = cpt_flags(cp);
  return (f & cpt_whitespace) == 0 && (f & cpt_number) != 0;
}

// Each number codepoint is its own piece; runs of other codepoints are pieces.
std::vector<std::size_t> split_numbers(const std::vector<std::uint32_t>& cpts,
                                       const std::vector<std::size_t>& in) {
  std::vector<std::size_t> out;
  std::size_t start = 0;
  for (std::size_t len : in) {
    std::size_t run = 0;
    for (std::size_t i = start; i < start + len; ++i) {
      if (is_regex_number(cpts[i])) {
        if (run) out.push_back(run);
        run = 0;
        out.push_back(1);
      } else {
        ++run;
      }
    }
    if (run) out.push_back(run);
    start += len;
  }
  return out;
}

// GPT-2's regex 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// applied inside each piece (llama.cpp unicode_regex_split_custom_gpt2).
std::vector<std::size_t> split_gpt2(const std::vector<std::uint32_t>& cpts,
                                    const std::vector<std::size_t>& in) {
  std::vector<std::size_t> out;
  out.reserve(in.size());
  constexpr std::uint32_t out_of_range = 0xFFFFFFFF;
  std::size_t start = 0;
  for (std::size_t len : in) {
    const std::size_t beg = start, end = start + len;
    start = end;
    auto cpt_at = [&](std::size_t p) { return p >= beg && p < end ? cpts[p] : out_of_range; };
    auto flags_at = [&](std::size_t p) -> std::uint16_t {
      return p >= beg && p < end ? cpt_flags(cpts[p]) : 0;
    };
    std::size_t prev_end = beg;
    auto add = [&](std::size_t e) -> std::size_t {
      const std::size_t n = e - prev_end;
      if (n > 0) out.push_back(n);
      prev_end = e;
      return n;
    };
    constexpr std::uint16_t wln = cpt_whitespace | cpt_letter | cpt_number;
    for (std::size_t pos = beg; pos < end;) {
      const std::uint32_t cpt = cpt_at(pos);
      const std::uint16_t flags = flags_at(pos);
      // 's|'t|'re|'ve|'m|'ll|'d
      if (cpt == '\'' && pos + 1 < end) {
        const std::uint32_t n1 = cpt_at(pos + 1);
        if (n1 == 's' || n1 == 't' || n1 == 'm' || n1 == 'd') {
          pos += add(pos + 2);
          continue;
        }
        if (pos + 2 < end) {
          const std::uint32_t n2 = cpt_at(pos + 2);
          if ((n1 == 'r' && n2 == 'e') || (n1 == 'v' && n2 == 'e') || (n1 == 'l' && n2 == 'l')) {
            pos += add(pos + 3);
            continue;
          }
        }
      }
      std::uint16_t f2 = cpt == ' ' ? flags_at(pos + 1) : flags;
      //  ?\p{L}+
      if (f2 & cpt_letter) {
        pos += cpt == ' ';
        while (f2 & cpt_letter) f2 = flags_at(++pos);
        add(pos);
        continue;
      }
      //  ?\p{N}+
      if (f2 & cpt_number) {
        pos += cpt == ' ';
        while (f2 & cpt_number) f2 = flags_at(++pos);
        add(pos);
        continue;
      }
      //  ?[^\s\p{L}\p{N}]+
      if (!(f2 & wln) && f2 != 0) {
        pos += cpt == ' ';
        while (!(f2 & wln) && f2 != 0) f2 = flags_at(++pos);
        add(pos);
        continue;
      }
      std::size_t nws = 0;
      while (flags_at(pos + nws) & cpt_whitespace) ++nws;
      // \s+(?!\S)
      if (nws > 1 && cpt_at(pos + nws) != out_of_range) {
        pos += nws - 1;
        add(pos);
        continue;
      }
      // \s+
      if (nws > 0) {
        pos += nws;
        add(pos);
        continue;
      }
      add(++pos);  // no match
    }
  }
  return out;
}

}  // namespace

std::vector<std::size_t> pretokenize(pretok_kind kind, const std::vector<std::uint32_t>& cpts) {
  std::vector<std::size_t> offsets;
  if (cpts.empty()) return offsets;
  offsets.push_back(cpts.size());
  if (kind == pretok_kind::smollm) offsets = split_numbers(cpts, offsets);
  return split_gpt2(cpts, offsets);
}

}  // namespace aikid::inference
