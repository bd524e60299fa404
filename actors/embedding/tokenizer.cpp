// BERT basic tokenization + WordPiece (see tokenizer.hpp for the pipeline).
#include "actors/embedding/tokenizer.hpp"
#include "common/utf8.hpp"

#include <utf8proc.h>

#include <algorithm>
#include <fstream>

namespace aikid::embedding {

namespace {

// --- character classes (HF tokenizers' BertNormalizer / BertPreTokenizer) ----

struct cp_range {
  std::int32_t lo, hi;
};
struct cp_mapping {
  std::int32_t cp;
  std::int32_t n;
  std::int32_t to[4];
};

}  // namespace

// Generated tables: where HF's Unicode data differs from utf8proc's.
#ifdef AIKID_UNICODE_RAW  // unicode_dump for gen_unicode_compat.py: utf8proc's own view
constexpr cp_range k_hf_other_flip[] = {{-1, -1}};
constexpr cp_range k_hf_mn_flip[] = {{-1, -1}};
constexpr cp_range k_hf_punct_flip[] = {{-1, -1}};
constexpr cp_mapping k_hf_nfd_override[] = {{-1, 0, {}}};
constexpr cp_mapping k_hf_lower_override[] = {{-1, 0, {}}};
#else
#include "actors/embedding/unicode_compat.inc"
#endif

namespace {

template <std::size_t N>
bool in_ranges(const cp_range (&r)[N], std::int32_t c) {
  std::size_t lo = 0, hi = N;
  while (lo < hi) {
    std::size_t mid = (lo + hi) / 2;
    if (r[mid].hi < c) lo = mid + 1;
    else if (r[mid].lo > c) hi = mid;
    else return r[mid].lo <= c;
  }
  return false;
}

template <std::size_t N>
const cp_mapping* find_mapping(const cp_mapping (&m)[N], std::int32_t c) {
  std::size_t lo = 0, hi = N;
  while (lo < hi) {
    std::size_t mid = (lo + hi) / 2;
    if (m[mid].cp < c) lo = mid + 1;
    else if (m[mid].cp > c) hi = mid;
    else return &m[mid];
  }
  return nullptr;
}

utf8proc_category_t cp_category(std::int32_t c) {
  return static_cast<utf8proc_category_t>(utf8proc_category(c));
}

}  // namespace

namespace bert_unicode {

bool is_whitespace(std::int32_t c) {
  switch (c) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x20: case 0x85: case 0xA0:
    case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200A;
  }
}

bool is_other(std::int32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  bool other = false;
  switch (cp_category(c)) {
    case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_CF: case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CS:
      other = true;
      break;
    default:
      break;
  }
  return other != in_ranges(k_hf_other_flip, c);
}

bool is_mark_nonspacing(std::int32_t c) {
  return (cp_category(c) == UTF8PROC_CATEGORY_MN) != in_ranges(k_hf_mn_flip, c);
}

bool is_punctuation(std::int32_t c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126))
    return true;
  bool p = false;
  switch (cp_category(c)) {
    case UTF8PROC_CATEGORY_PC: case UTF8PROC_CATEGORY_PD: case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE: case UTF8PROC_CATEGORY_PI: case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
      p = true;
      break;
    default:
      break;
  }
  return p != in_ranges(k_hf_punct_flip, c);
}

bool is_cjk(std::int32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||  // HF's Rust: 2B920, not 2B820
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

void decompose(std::int32_t c, std::vector<std::int32_t>& out) {
  if (const cp_mapping* m = find_mapping(k_hf_nfd_override, c)) {
    out.insert(out.end(), m->to, m->to + m->n);
    return;
  }
  utf8proc_int32_t buf[32];
  int last_bound = 0;
  utf8proc_ssize_t n = utf8proc_decompose_char(c, buf, 32, UTF8PROC_DECOMPOSE, &last_bound);
  if (n < 0 || n > 32) {
    out.push_back(c);
    return;
  }
  out.insert(out.end(), buf, buf + n);
}

void lowercase(std::int32_t c, std::vector<std::int32_t>& out) {
  if (const cp_mapping* m = find_mapping(k_hf_lower_override, c)) {
    out.insert(out.end(), m->to, m->to + m->n);
    return;
  }
  out.push_back(utf8proc_tolower(c));
}

}  // namespace bert_unicode

namespace {

using namespace bert_unicode;

// Decodes one well-formed UTF-8 sequence at s[i] (validated beforehand).
std::int32_t utf8_next(std::string_view s, std::size_t& i) {
  auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  if (c < 0x80) { i += 1; return c; }
  if (c < 0xE0) { std::int32_t r = ((c & 0x1F) << 6) | (b(i + 1) & 0x3F); i += 2; return r; }
  if (c < 0xF0) {
    std::int32_t r = ((c & 0x0F) << 12) | ((b(i + 1) & 0x3F) << 6) | (b(i + 2) & 0x3F);
    i += 3;
    return r;
  }
  std::int32_t r = ((c & 0x07) << 18) | ((b(i + 1) & 0x3F) << 12) | ((b(i + 2) & 0x3F) << 6) | (b(i + 3) & 0x3F);
  i += 4;
  return r;
}

void utf8_append(std::string& out, std::int32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

// NFD of a code point sequence: full canonical decomposition of every code
// point, then canonical ordering of combining marks (stable sort by combining
// class within each run of non-starters).
void nfd_inplace(std::vector<std::int32_t>& cps) {
  std::vector<std::int32_t> out;
  out.reserve(cps.size() + cps.size() / 2);
  for (std::int32_t c : cps) decompose(c, out);
  auto ccc = [](std::int32_t c) { return utf8proc_get_property(c)->combining_class; };
  std::size_t i = 0;
  while (i < out.size()) {
    if (ccc(out[i]) == 0) { ++i; continue; }
    std::size_t j = i;
    while (j < out.size() && ccc(out[j]) != 0) ++j;
    if (j - i > 1)
      std::stable_sort(out.begin() + static_cast<std::ptrdiff_t>(i), out.begin() + static_cast<std::ptrdiff_t>(j),
                       [&](std::int32_t a, std::int32_t b) { return ccc(a) < ccc(b); });
    i = j;
  }
  cps.swap(out);
}

}  // namespace

std::ptrdiff_t wordpiece_tokenizer::utf8_find_invalid(std::string_view s) { return utf8_first_invalid(s); }

expected<wordpiece_tokenizer> wordpiece_tokenizer::load(const std::filesystem::path& vocab_txt,
                                                        const tokenizer_options& opt) {
  const std::string file = vocab_txt.string();
  std::ifstream in(vocab_txt, std::ios::binary);
  if (!in) return error{errc::unavailable, file + ": cannot open"};
  wordpiece_tokenizer t;
  t.opt_ = opt;
  std::string line;
  std::int32_t id = 0;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (utf8_find_invalid(line) >= 0)
      return error{errc::unavailable, file + ":" + std::to_string(id + 1) + ": invalid UTF-8"};
    // A duplicated token takes its last line's id, as in HF's vocab readers.
    t.vocab_.insert_or_assign(line, id);
    std::size_t len = line.rfind("##", 0) == 0 ? line.size() - 2 : line.size();
    t.max_piece_bytes_ = std::max(t.max_piece_bytes_, len);
    if (id == INT32_MAX) return error{errc::unavailable, file + ": too many lines"};
    ++id;
  }
  if (in.bad()) return error{errc::unavailable, file + ": read error"};
  if (id == 0) return error{errc::unavailable, file + ": empty vocabulary"};
  t.n_vocab_ = static_cast<std::size_t>(id);
  auto need = [&](const std::string& tok, std::int32_t* out) -> bool {
    *out = t.lookup(tok);
    return *out >= 0;
  };
  for (auto [name, out] : {std::pair{&opt.cls, &t.cls_id_}, std::pair{&opt.sep, &t.sep_id_},
                           std::pair{&opt.unk, &t.unk_id_}, std::pair{&opt.pad, &t.pad_id_}})
    if (!need(*name, out))
      return error{errc::unavailable, file + ": special token '" + *name + "' is not in the vocabulary"};
  for (const std::string* s : {&opt.cls, &opt.sep, &opt.unk, &opt.pad, &opt.mask}) {
    std::int32_t v = t.lookup(*s);
    if (v >= 0 && !s->empty()) t.specials_.emplace_back(*s, v);
  }
  return t;
}

std::int32_t wordpiece_tokenizer::lookup(std::string_view s) const {
  auto it = vocab_.find(s);
  return it == vocab_.end() ? -1 : it->second;
}

void wordpiece_tokenizer::wordpiece_word(std::string_view word, std::size_t n_chars,
                                         std::vector<std::int32_t>& out) const {
  if (n_chars > static_cast<std::size_t>(opt_.max_chars_per_word)) {
    out.push_back(unk_id_);
    return;
  }
  // Byte offsets of the character boundaries.
  std::vector<std::size_t> bounds;
  bounds.reserve(n_chars + 1);
  for (std::size_t i = 0; i < word.size();) {
    bounds.push_back(i);
    utf8_next(word, i);
  }
  bounds.push_back(word.size());
  const std::size_t first = out.size();
  std::string cand;
  std::size_t start = 0;  // index into bounds
  const std::size_t last = bounds.size() - 1;
  while (start < last) {
    std::int32_t found = -1;
    std::size_t end = last;
    for (; end > start; --end) {
      std::size_t nbytes = bounds[end] - bounds[start];
      if (nbytes > max_piece_bytes_) continue;
      cand.clear();
      if (start > 0) cand += "##";
      cand.append(word.substr(bounds[start], nbytes));
      found = lookup(cand);
      if (found >= 0) break;
    }
    if (found < 0) {
      out.resize(first);
      out.push_back(unk_id_);
      return;
    }
    out.push_back(found);
    start = end;
  }
}

void wordpiece_tokenizer::encode_piece(std::string_view piece, std::vector<std::int32_t>& out,
                                       std::size_t limit) const {
  // Step 2: clean, CJK padding.
  std::vector<std::int32_t> cps;
  cps.reserve(piece.size());
  for (std::size_t i = 0; i < piece.size();) {
    std::int32_t c = utf8_next(piece, i);
    if (c == 0 || c == 0xFFFD || is_other(c)) continue;
    if (is_whitespace(c)) {
      cps.push_back(' ');
    } else if (opt_.chinese_chars && is_cjk(c)) {
      cps.push_back(' ');
      cps.push_back(c);
      cps.push_back(' ');
    } else {
      cps.push_back(c);
    }
  }
  const bool strip = opt_.strip_accents < 0 ? opt_.lowercase : opt_.strip_accents != 0;
  if (strip) {
    nfd_inplace(cps);
    std::erase_if(cps, [](std::int32_t c) { return is_mark_nonspacing(c); });
  }
  if (opt_.lowercase) {
    std::vector<std::int32_t> low;
    low.reserve(cps.size());
    for (std::int32_t c : cps) lowercase(c, low);
    cps.swap(low);
  }

  // Step 3 + 4: split, WordPiece per word.
  std::string word;
  std::size_t n_chars = 0;
  auto flush = [&] {
    if (!word.empty()) wordpiece_word(word, n_chars, out);
    word.clear();
    n_chars = 0;
  };
  for (std::int32_t c : cps) {
    if (out.size() >= limit) return;
    if (is_whitespace(c)) {
      flush();
    } else if (is_punctuation(c)) {
      flush();
      utf8_append(word, c);
      n_chars = 1;
      flush();
    } else {
      utf8_append(word, c);
      ++n_chars;
    }
  }
  if (out.size() < limit) flush();
}

expected<std::vector<std::int32_t>> wordpiece_tokenizer::encode(std::string_view text, int max_tokens,
                                                                bool* truncated) const {
  if (auto bad = utf8_find_invalid(text); bad >= 0)
    return error{errc::bad_request, "invalid UTF-8 at byte offset " + std::to_string(bad)};
  const std::size_t keep = static_cast<std::size_t>(std::max(max_tokens, 2) - 2);
  const std::size_t limit = keep + 1;  // one more than we keep: tells truncation
  std::vector<std::int32_t> body;
  // Step 1: cut out special tokens (leftmost, then longest).
  std::size_t at = 0;
  std::vector<std::size_t> next(specials_.size(), 0);  // next match of each special at/after `at`
  for (std::size_t k = 0; k < specials_.size(); ++k) next[k] = text.find(specials_[k].first);
  while (at < text.size() && body.size() < limit) {
    std::size_t best = std::string_view::npos, best_len = 0;
    std::int32_t best_id = -1;
    for (std::size_t k = 0; k < specials_.size(); ++k) {
      const auto& [s, id] = specials_[k];
      if (next[k] != std::string_view::npos && next[k] < at) next[k] = text.find(s, at);
      std::size_t p = next[k];
      if (p == std::string_view::npos) continue;
      if (p < best || (p == best && s.size() > best_len)) {
        best = p;
        best_len = s.size();
        best_id = id;
      }
    }
    std::string_view piece = text.substr(at, best == std::string_view::npos ? std::string_view::npos : best - at);
    encode_piece(piece, body, limit);
    if (best == std::string_view::npos) break;
    if (body.size() < limit) body.push_back(best_id);
    at = best + best_len;
  }
  const bool cut = body.size() > keep;
  if (cut) body.resize(keep);
  if (truncated) *truncated = cut;
  std::vector<std::int32_t> ids;
  ids.reserve(body.size() + 2);
  ids.push_back(cls_id_);
  ids.insert(ids.end(), body.begin(), body.end());
  ids.push_back(sep_id_);
  return ids;
}

}  // namespace aikid::embedding
