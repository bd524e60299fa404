// Tokenizer read from GGUF metadata: byte-level BPE ("gpt2" model) with the
// pre-tokenizer the file names, special (control) tokens, and ChatML
// rendering. Behaviour follows llama.cpp's llama-vocab (model-facts §6-7).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "actors/inference/gguf.hpp"
#include "actors/inference/unicode.hpp"
#include "common/error.hpp"

namespace aikid::inference {

/// GGUF tokenizer.ggml.token_type values.
enum class token_kind : std::uint8_t {
  undefined = 0, normal = 1, unknown = 2, control = 3, user_defined = 4, unused = 5, byte = 6,
};

struct chat_turn {
  std::string_view role, content;
};

class vocab {
 public:
  /// Reads tokenizer.ggml.{model,pre,tokens,token_type,merges,bos/eos/...}.
  /// Fails (unavailable, naming the key) for a missing or malformed key, a
  /// tokenizer model other than "gpt2" or a pre-tokenizer it does not
  /// implement (named in the message).
  static expected<vocab> load(const gguf_file& f);

  /// Token ids of `text`. With parse_special=false control/unknown tokens are
  /// never matched in the text (user-defined ones still are, as llama.cpp).
  std::vector<std::int32_t> tokenize(std::string_view text, bool parse_special) const;

  /// The bytes a token stands for (byte-level decoding of its text). Control
  /// tokens give "" (as llama.cpp's token_to_piece with special=false).
  std::string token_to_piece(std::int32_t id) const;
  /// The token's text as stored in the vocabulary ("<|im_end|>", "Ġthe").
  const std::string& token_text(std::int32_t id) const { return tokens_[std::size_t(id)]; }
  token_kind kind(std::int32_t id) const { return kinds_[std::size_t(id)]; }
  std::int32_t n_tokens() const { return std::int32_t(tokens_.size()); }
  /// -1 when the file names none.
  std::int32_t bos() const { return bos_; }
  std::int32_t eos() const { return eos_; }
  /// End-of-generation: eos, and the tokens llama.cpp treats as such
  /// (<|im_end|>, <|endoftext|>, <|eot_id|>, <reponame>, ...).
  bool is_eog(std::int32_t id) const;
  const std::vector<std::int32_t>& eog_ids() const { return eog_; }
  /// Id of a token by its exact text; -1 if absent.
  std::int32_t find(std::string_view text) const;
  const std::string& pre_name() const { return pre_name_; }

  /// ChatML prompt text as the file's chat template renders it: an
  /// "<|im_start|>system\n<default><|im_end|>\n" turn first when the first
  /// message is not a system message and the template defines a default.
  std::string render_chat(const std::vector<chat_turn>& msgs, bool add_generation_prompt) const;
  /// Token ids of the same prompt, built structurally: role markers are
  /// special ids, message text is tokenized as data (parse_special=false).
  std::vector<std::int32_t> tokenize_chat(const std::vector<chat_turn>& msgs,
                                          bool add_generation_prompt) const;
  const std::string& default_system() const { return default_system_; }

 private:
  void bpe_word(const std::string& word, std::vector<std::int32_t>& out) const;
  void tokenize_text(std::string_view text, std::vector<std::int32_t>& out) const;

  std::vector<std::string> tokens_;
  std::vector<token_kind> kinds_;
  std::unordered_map<std::string, std::int32_t> token_ids_;
  std::unordered_map<std::string, std::int32_t> merge_ranks_;  // "left right" -> rank
  std::vector<std::int32_t> specials_;  // matched before BPE, longest text first
  std::vector<std::int32_t> eog_;
  std::int32_t bos_ = -1, eos_ = -1;
  std::int32_t im_start_ = -1, im_end_ = -1;
  pretok_kind pre_ = pretok_kind::gpt2;
  std::string pre_name_;
  std::string default_system_;
  bool has_default_system_ = false;
  std::string byte_to_text_[256];                        // GPT-2 byte -> UTF-8 char
  std::unordered_map<std::uint32_t, std::uint8_t> text_to_byte_;  // codepoint -> byte
};

}  // namespace aikid::inference
