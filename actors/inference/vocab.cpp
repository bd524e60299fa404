// Byte-level BPE tokenizer (llama.cpp llm_tokenizer_bpe_session semantics).
#include "actors/inference/vocab.hpp"

#include <algorithm>
#include <queue>

namespace aikid::inference {

namespace {

// GPT-2 byte -> codepoint map: printable Latin-1 bytes map to themselves, the
// rest to U+0100 + n in increasing byte order (model-facts §7).
std::uint32_t byte_to_cpt(int b, int& next) {
  if ((b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff)) return std::uint32_t(b);
  return std::uint32_t(256 + next++);
}

// llama.cpp unicode_len_utf8: sequence length from the lead byte.
std::size_t utf8_len(char c) {
  static constexpr std::size_t lookup[] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return lookup[static_cast<unsigned char>(c) >> 4];
}

bool is_eog_text(std::string_view t) {
  static constexpr std::string_view names[] = {
      "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>",
      "<EOT>", "_<EOT>", "<|end_of_text|>", "<end_of_utterance>",
      // FIM pad / repo / separator tokens are end-of-generation too
      "<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "<|fim_repo|>", "<|repo_name|>",
      "<fim-repo>", "<REPO>", "<reponame>", "<|file_sep|>"};
  return std::find(std::begin(names), std::end(names), t) != std::end(names);
}

}  // namespace

// ---- load -----------------------------------------------------------------------
expected<vocab> vocab::load(const gguf_file& f) {
  vocab v;
  auto model = f.get_string("tokenizer.ggml.model");
  if (!model) return model.error();
  if (*model != "gpt2") {
    return error{errc::unavailable, f.name() + ": key 'tokenizer.ggml.model': tokenizer model '" + *model +
                                        "' is not supported (only 'gpt2' byte-level BPE)"};
  }
  auto pre = f.get_string("tokenizer.ggml.pre");
  v.pre_name_ = pre ? *pre : "default";
  if (v.pre_name_ == "smollm" || v.pre_name_ == "starcoder" || v.pre_name_ == "refact" ||
      v.pre_name_ == "command-r" || v.pre_name_ == "codeshell" || v.pre_name_ == "exaone" ||
      v.pre_name_ == "minerva") {
    v.pre_ = pretok_kind::smollm;
  } else if (v.pre_name_ == "gpt-2" || v.pre_name_ == "mpt" || v.pre_name_ == "olmo") {
    v.pre_ = pretok_kind::gpt2;
  } else {
    return error{errc::unavailable, f.name() + ": key 'tokenizer.ggml.pre': pre-tokenizer '" + v.pre_name_ +
                                        "' is not supported (smollm/starcoder family or gpt-2)"};
  }

  auto toks = f.get_strings("tokenizer.ggml.tokens");
  if (!toks) return toks.error();
  if (toks->empty() || toks->size() > (1u << 24)) {
    return error{errc::unavailable, f.name() + ": key 'tokenizer.ggml.tokens': " + std::to_string(toks->size()) +
                                        " tokens is out of range"};
  }
  const std::size_t n = toks->size();
  v.tokens_.reserve(n);
  v.token_ids_.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    v.tokens_.emplace_back((*toks)[i]);
    v.token_ids_.emplace(v.tokens_.back(), std::int32_t(i));  // first wins on duplicates
  }
  v.kinds_.assign(n, token_kind::normal);
  if (f.find("tokenizer.ggml.token_type")) {
    auto types = f.get_ints("tokenizer.ggml.token_type");
    if (!types) return types.error();
    if (types->size() != n) {
      return error{errc::unavailable, f.name() + ": key 'tokenizer.ggml.token_type' has " +
                                          std::to_string(types->size()) + " entries, expected " + std::to_string(n)};
    }
    for (std::size_t i = 0; i < n; ++i) {
      const auto t = (*types)[i];
      if (t < 0 || t > 6) {
        return error{errc::unavailable, f.name() + ": key 'tokenizer.ggml.token_type'[" + std::to_string(i) +
                                            "] = " + std::to_string(t) + " is not a token type"};
      }
      v.kinds_[i] = token_kind(t);
    }
  }

  auto merges = f.get_strings("tokenizer.ggml.merges");
  if (!merges) return merges.error();
  v.merge_ranks_.reserve(merges->size());
  for (std::size_t i = 0; i < merges->size(); ++i) {
    const std::string_view m = (*merges)[i];
    const auto sp = m.find(' ', 1);
    if (sp == std::string_view::npos) {
      return error{errc::unavailable, f.name() + ": key 'tokenizer.ggml.merges'[" + std::to_string(i) +
                                          "] has no ' ' separator"};
    }
    v.merge_ranks_.emplace(std::string(m), std::int32_t(i));
  }

  auto id_key = [&](const char* key, std::int32_t& out) -> expected<void> {
    auto id = f.get_int(key, -1);
    if (!id) return id.error();
    if (*id >= std::int64_t(n) || *id < -1) {
      return error{errc::unavailable, f.name() + ": key '" + key + "' = " + std::to_string(*id) +
                                          " is not a token id (vocabulary has " + std::to_string(n) + ")"};
    }
    out = std::int32_t(*id);
    return {};
  };
  if (auto r = id_key("tokenizer.ggml.bos_token_id", v.bos_); !r) return r.error();
  if (auto r = id_key("tokenizer.ggml.eos_token_id", v.eos_); !r) return r.error();

  // special tokens matched before BPE, longest first
  for (std::size_t i = 0; i < n; ++i) {
    const auto k = v.kinds_[i];
    if ((k == token_kind::control || k == token_kind::user_defined || k == token_kind::unknown) &&
        !v.tokens_[i].empty()) {
      v.specials_.push_back(std::int32_t(i));
    }
  }
  std::stable_sort(v.specials_.begin(), v.specials_.end(), [&](std::int32_t a, std::int32_t b) {
    return v.tokens_[std::size_t(a)].size() > v.tokens_[std::size_t(b)].size();
  });

  // end of generation
  if (v.eos_ >= 0) v.eog_.push_back(v.eos_);
  for (std::size_t i = 0; i < n; ++i) {
    if (is_eog_text(v.tokens_[i]) && std::int32_t(i) != v.eos_) v.eog_.push_back(std::int32_t(i));
  }
  std::sort(v.eog_.begin(), v.eog_.end());

  // GPT-2 byte map
  int next = 0;
  for (int b = 0; b < 256; ++b) {
    const std::uint32_t cp = byte_to_cpt(b, next);
    cpt_append_utf8(cp, v.byte_to_text_[b]);
    v.text_to_byte_[cp] = std::uint8_t(b);
  }

  // chat template: ChatML markers and the default system message
  v.im_start_ = v.find("<|im_start|>");
  v.im_end_ = v.find("<|im_end|>");
  if (const gguf_value* tpl = f.find("tokenizer.chat_template"); tpl && tpl->type == gguf_type::string) {
    const std::string_view t = tpl->str;
    const std::string_view marker = "<|im_start|>system";
    const auto cond = t.find("!= 'system'");
    const auto at = t.find(marker);
    if (cond != std::string_view::npos && at != std::string_view::npos) {
      std::size_t p = at + marker.size();
      if (t.substr(p, 1) == "\n") p += 1;
      else if (t.substr(p, 2) == "\\n") p += 2;
      const auto end = t.find("<|im_end|>", p);
      if (end != std::string_view::npos) {
        v.default_system_ = std::string(t.substr(p, end - p));
        v.has_default_system_ = true;
      }
    }
  }
  return v;
}

std::int32_t vocab::find(std::string_view text) const {
  const auto it = token_ids_.find(std::string(text));
  return it == token_ids_.end() ? -1 : it->second;
}

bool vocab::is_eog(std::int32_t id) const {
  return std::binary_search(eog_.begin(), eog_.end(), id);
}

// ---- BPE ----------------------------------------------------------------------------
namespace {
struct symbol {
  int prev, next;
  std::size_t begin, n;  // byte range in the word
};
struct bigram {
  int left, right;
  std::int32_t rank;
  std::string text;
};
struct bigram_after {
  bool operator()(const bigram& a, const bigram& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};
}  // namespace

void vocab::bpe_word(const std::string& word, std::vector<std::int32_t>& out) const {
  std::vector<symbol> syms;
  for (std::size_t off = 0; off < word.size();) {
    const std::size_t len = std::min(word.size() - off, utf8_len(word[off]));
    const int idx = int(syms.size());
    syms.push_back({idx - 1, off + len == word.size() ? -1 : idx + 1, off, len});
    off += len;
  }
  std::priority_queue<bigram, std::vector<bigram>, bigram_after> queue;
  std::string key;
  auto add_bigram = [&](int l, int r) {
    if (l < 0 || r < 0) return;
    key.assign(word, syms[l].begin, syms[l].n);
    key += ' ';
    key.append(word, syms[r].begin, syms[r].n);
    const auto it = merge_ranks_.find(key);
    if (it == merge_ranks_.end()) return;
    std::string text(word, syms[l].begin, syms[l].n);
    text.append(word, syms[r].begin, syms[r].n);
    queue.push({l, r, it->second, std::move(text)});
  };
  for (int i = 1; i < int(syms.size()); ++i) add_bigram(i - 1, i);
  while (!queue.empty()) {
    const bigram b = queue.top();
    queue.pop();
    symbol& l = syms[std::size_t(b.left)];
    symbol& r = syms[std::size_t(b.right)];
    if (l.n == 0 || r.n == 0) continue;
    // stale if the pair's current text differs from when it was queued
    if (l.n + r.n != b.text.size() || word.compare(l.begin, l.n + r.n, b.text) != 0 ||
        l.begin + l.n != r.begin) {
      continue;
    }
    l.n += r.n;
    r.n = 0;
    l.next = r.next;
    if (r.next >= 0) syms[std::size_t(r.next)].prev = b.left;
    add_bigram(l.prev, b.left);
    add_bigram(b.left, l.next);
  }
  for (const symbol& s : syms) {
    if (s.n == 0) continue;
    const std::string piece(word, s.begin, s.n);
    const auto it = token_ids_.find(piece);
    if (it != token_ids_.end()) {
      out.push_back(it->second);
    } else {
      for (char c : piece) {  // per byte (each byte is one encoded char here)
        const auto bt = token_ids_.find(std::string(1, c));
        if (bt != token_ids_.end()) out.push_back(bt->second);
      }
    }
  }
}

void vocab::tokenize_text(std::string_view text, std::vector<std::int32_t>& out) const {
  const auto cpts = utf8_to_cpts(text);
  const auto lens = pretokenize(pre_, cpts);
  std::size_t start = 0;
  std::string utf8, encoded;
  for (std::size_t len : lens) {
    utf8.clear();
    for (std::size_t i = start; i < start + len; ++i) cpt_append_utf8(cpts[i], utf8);
    start += len;
    encoded.clear();
    for (unsigned char c : utf8) encoded += byte_to_text_[c];
    bpe_word(encoded, out);
  }
}

std::vector<std::int32_t> vocab::tokenize(std::string_view text, bool parse_special) const {
  // Partition the text on special tokens (llama.cpp tokenizer_st_partition):
  // each special, longest first, splits every raw fragment at its occurrences.
  struct fragment {
    std::int32_t token;  // -1: raw text [off, off+len)
    std::size_t off, len;
  };
  std::vector<fragment> frags{{-1, 0, text.size()}};
  if (text.empty()) return {};
  for (const std::int32_t sid : specials_) {
    const auto k = kinds_[std::size_t(sid)];
    if (!parse_special && (k == token_kind::control || k == token_kind::unknown)) continue;
    const std::string& st = tokens_[std::size_t(sid)];
    std::vector<fragment> next;
    next.reserve(frags.size());
    for (const fragment& fr : frags) {
      if (fr.token >= 0) {
        next.push_back(fr);
        continue;
      }
      std::size_t pos = fr.off;
      const std::size_t end = fr.off + fr.len;
      while (pos < end) {
        const auto m = text.substr(0, end).find(st, pos);
        if (m == std::string_view::npos) break;
        if (m > pos) next.push_back({-1, pos, m - pos});
        next.push_back({sid, 0, 0});
        pos = m + st.size();
      }
      if (pos < end) next.push_back({-1, pos, end - pos});
    }
    frags = std::move(next);
  }
  std::vector<std::int32_t> out;
  for (const fragment& fr : frags) {
    if (fr.token >= 0) out.push_back(fr.token);
    else tokenize_text(text.substr(fr.off, fr.len), out);
  }
  return out;
}

std::string vocab::token_to_piece(std::int32_t id) const {
  if (id < 0 || id >= n_tokens()) return {};
  const auto k = kinds_[std::size_t(id)];
  if (k == token_kind::control || k == token_kind::unknown || k == token_kind::unused) return {};
  const std::string& t = tokens_[std::size_t(id)];
  if (k == token_kind::user_defined) return t;
  std::string out;
  for (std::uint32_t cp : utf8_to_cpts(t)) {
    const auto it = text_to_byte_.find(cp);
    if (it != text_to_byte_.end()) out += char(it->second);
    else cpt_append_utf8(cp, out);  // not byte-encoded: keep the character
  }
  return out;
}

// ---- chat ----------------------------------------------------------------------------
std::string vocab::render_chat(const std::vector<chat_turn>& msgs, bool add_generation_prompt) const {
  std::string out;
  if (has_default_system_ && (msgs.empty() || msgs.front().role != "system")) {
    // the template only adds it inside the loop (loop.first): not for an empty list
    if (!msgs.empty()) out += "<|im_start|>system\n" + default_system_ + "<|im_end|>\n";
  }
  for (const chat_turn& m : msgs) {
    out += "<|im_start|>";
    out += m.role;
    out += '\n';
    out += m.content;
    out += "<|im_end|>\n";
  }
  if (add_generation_prompt) out += "<|im_start|>assistant\n";
  return out;
}

std::vector<std::int32_t> vocab::tokenize_chat(const std::vector<chat_turn>& msgs,
                                               bool add_generation_prompt) const {
  if (im_start_ < 0 || im_end_ < 0) return tokenize(render_chat(msgs, add_generation_prompt), false);
  std::vector<std::int32_t> out;
  auto turn = [&](std::string_view role, std::string_view content) {
    out.push_back(im_start_);
    std::string body(role);
    body += '\n';
    body += content;
    for (auto t : tokenize(body, false)) out.push_back(t);
    out.push_back(im_end_);
    for (auto t : tokenize("\n", false)) out.push_back(t);
  };
  if (has_default_system_ && !msgs.empty() && msgs.front().role != "system") {
    turn("system", default_system_);
  }
  for (const chat_turn& m : msgs) turn(m.role, m.content);
  if (add_generation_prompt) {
    out.push_back(im_start_);
    for (auto t : tokenize("assistant\n", false)) out.push_back(t);
  }
  return out;
}

}  // namespace aikid::inference
