// Unicode case folding over codepoints (utf8proc), shared by the linker, the
// knowledge graph's name keys and the templates' keywords.
#include <cstdlib>

#include <utf8proc.h>

#include "actors/synthesis/internal.hpp"

namespace aikid::synthesis::detail {

namespace {

bool is_space(char32_t cp) {
  if (cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == '\f' || cp == '\v') return true;
  if (cp < 0x80) return false;
  auto c = utf8proc_category(static_cast<utf8proc_int32_t>(cp));
  return c == UTF8PROC_CATEGORY_ZS || c == UTF8PROC_CATEGORY_ZL || c == UTF8PROC_CATEGORY_ZP;
}

bool is_word(char32_t cp) {
  if (cp < 0x80) {
    return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9');
  }
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
      return true;
    default:
      return false;
  }
}

}  // namespace

void text_fold_stream(std::string_view text, std::vector<folded_cp>& out) {
  out.clear();
  out.reserve(text.size());
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  const std::size_t n = text.size();
  std::size_t i = 0;
  bool prev_space = false;
  while (i < n) {
    char32_t cp;
    std::size_t len;
    if (p[i] < 0x80) {
      cp = p[i];
      len = 1;
    } else {
      utf8proc_int32_t c = 0;
      auto r = utf8proc_iterate(p + i, static_cast<utf8proc_ssize_t>(n - i), &c);
      if (r <= 0) {
        cp = 0xFFFD;
        len = 1;
      } else {
        cp = static_cast<char32_t>(c);
        len = static_cast<std::size_t>(r);
      }
    }
    const auto b = static_cast<std::uint32_t>(i), e = static_cast<std::uint32_t>(i + len);
    i += len;
    if (is_space(cp)) {
      if (prev_space) {
        out.back().end = e;  // the run folds to one space spanning all of it
        continue;
      }
      prev_space = true;
      out.push_back({U' ', b, e, true, true, false});
      continue;
    }
    prev_space = false;
    if (cp < 0x80) {
      char32_t f = (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
      out.push_back({f, b, e, true, true, is_word(cp)});
      continue;
    }
    utf8proc_int32_t buf[8];
    int last_bc = 0;
    auto m = utf8proc_decompose_char(static_cast<utf8proc_int32_t>(cp), buf, 8,
                                     static_cast<utf8proc_option_t>(UTF8PROC_CASEFOLD), &last_bc);
    const bool w = is_word(cp);
    if (m <= 0 || m > 8) {
      out.push_back({cp, b, e, true, true, w});
      continue;
    }
    for (utf8proc_ssize_t k = 0; k < m; ++k) {
      out.push_back({static_cast<char32_t>(buf[k]), b, e, k == 0, k == m - 1, w});
    }
  }
}

std::string text_key(std::string_view name) {
  std::string nfc;
  if (auto* s = utf8proc_NFC(reinterpret_cast<const utf8proc_uint8_t*>(std::string(name).c_str()))) {
    nfc = reinterpret_cast<const char*>(s);
    std::free(s);
  } else {
    nfc = std::string(name);
  }
  std::vector<folded_cp> st;
  text_fold_stream(nfc, st);
  std::string key;
  key.reserve(nfc.size());
  for (const auto& f : st) {
    if (f.cp == U' ' && (key.empty() || key.back() == ' ')) continue;
    utf8proc_uint8_t enc[4];
    auto k = utf8proc_encode_char(static_cast<utf8proc_int32_t>(f.cp), enc);
    key.append(reinterpret_cast<const char*>(enc), static_cast<std::size_t>(k));
  }
  while (!key.empty() && key.back() == ' ') key.pop_back();
  return key;
}

std::string text_trim(std::string_view s) {
  std::vector<folded_cp> st;
  text_fold_stream(s, st);
  std::size_t b = 0, e = st.size();
  while (b < e && st[b].cp == U' ' && !st[b].word) ++b;
  while (e > b && st[e - 1].cp == U' ' && !st[e - 1].word) --e;
  if (b >= e) return {};
  return std::string(s.substr(st[b].begin, st[e - 1].end - st[b].begin));
}

}  // namespace aikid::synthesis::detail
