// aikid embedding engine: a native BERT-style sentence encoder on BLIS.
//
// Loads a sentence-transformers model folder (all-MiniLM-L6-v2 and any BERT
// encoder of the family) and turns texts into unit-length vectors equal (cosine
// >= 0.9999) to sentence-transformers' on CPU.
//
// Model folder (every shape comes from these files, none is a constant):
//   config.json               hidden size, layers, heads, FFN size, vocab, eps, act
//   model.safetensors         weights (F32), mmapped and validated
//   vocab.txt                 WordPiece vocabulary
//   tokenizer_config.json     do_lower_case / strip_accents / tokenize_chinese_chars (optional)
//   special_tokens_map.json   [CLS]/[SEP]/[UNK]/[PAD]/[MASK] spellings (optional)
//   sentence_bert_config.json max_seq_length (optional; else max_position_embeddings)
//   1_Pooling/config.json     pooling mode (optional; else mean)
//
// Defined behaviour of edge cases (tested in tests/embedding/):
//   - empty text (or only whitespace/control characters) → [CLS][SEP], a valid vector;
//   - over-long text → cut to max_tokens() tokens incl. [CLS]/[SEP], truncated = 1;
//   - invalid UTF-8 → errc::bad_request naming the text index and byte offset;
//     nothing is encoded for the whole call.
//
// Batching: texts are sorted by token count and cut into batches of up to
// max_batch whose lengths share a power-of-two bucket. Inside a batch the
// sequences are packed back to back (no pad rows are computed); each
// sequence's attention sees only its own tokens, which is exactly what the
// padding mask of a padded batch does, so results do not depend on batching.
//
// Threading: an encoder is not thread-safe; one caller at a time (the actor).
// set_threads() sets the size of the encoder's thread team: the caller plus
// threads − 1 helper threads that sleep between jobs; each Linear layer's
// output features and the attention heads are shared among them, every BLIS
// call itself running on one thread.
//
// Internal pieces (not for the actor): safetensors.hpp (reader), tokenizer.hpp
// (BERT basic + WordPiece), bert.hpp (config, weights, forward pass).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace aikid::embedding {

struct encoder_options {
  std::filesystem::path model_dir;
  int threads = 1;     // threads for the forward pass (>= 1; see Threading)
  int max_batch = 32;  // texts per forward pass (>= 1)
};

struct encode_output {
  std::vector<float> vectors;           // n × dim, row-major, each row unit length
  std::vector<std::uint8_t> truncated;  // per text: 1 if cut at max_tokens()
  std::vector<int> n_tokens;            // per text, incl. [CLS]/[SEP]
};

// BLIS's kernels. BLIS 0.9 (Debian 12) knows AMD's Zen 1–3 by model number;
// on a newer Zen (Zen 4 with AVX-512, Zen 5) it falls back to its portable
// 'generic' kernels. Measured on this repository's 2-core Zen 4 machine
// (bench/embedding, one thread), a 16-token sentence: generic 13.9 ms, 'skx'
// (AVX-512; its small-matrix path is BLIS's reference code) 6.2 ms, 'zen3'
// 3.4 ms — though skx has the higher sgemm 512³ peak (231 vs 120 GFLOP/s) and
// wins at 128 tokens (19 vs 29 ms). Percepts are short: blis_arch_pick() sets
// BLIS_ARCH_TYPE to zen3 (BLIS 0.9 reads a number, its arch_t) for an AMD CPU
// of family 0x19 or later with AVX2 and FMA, unless the variable is set
// already (an operator's choice wins). It must run before BLIS's first call,
// which reads the variable once; encoder::load does. Never fails.
void blis_arch_pick();
// The kernels BLIS uses ("zen3", "haswell", "generic", …); calls into BLIS.
std::string blis_arch_name();

class encoder {
 public:
  // Loads and validates the model folder.
  // Fails with errc::unavailable and a message naming the missing/corrupt file
  // and field (e.g. "config.json: hidden_size: missing", "model.safetensors:
  // tensor 'x': data_offsets [a, b] past end of file"); errc::bad_request when
  // the options are out of range.
  static expected<std::unique_ptr<encoder>> load(const encoder_options&);

  ~encoder();
  encoder(const encoder&) = delete;
  encoder& operator=(const encoder&) = delete;

  // Output vector size (the pooling dimension; hidden_size for mean/cls/max).
  int dim() const;
  // Longest input in tokens incl. [CLS]/[SEP] (sentence_bert max_seq_length).
  int max_tokens() const;
  // "<model folder name>:<first 12 hex of the safetensors file's SHA-256>";
  // changes whenever the weights change (equals the prefix in config/models.lock).
  const std::string& model_id() const;
  // Threads for later encode() calls; values < 1 are taken as 1. The
  // helper threads start at the next encode() (which fails with
  // errc::internal if they cannot be started).
  void set_threads(int n);

  // Encodes texts in batches of up to max_batch, grouped by token length.
  // Fails with errc::bad_request ("text 3: invalid UTF-8 at byte offset 17")
  // when any text is not valid UTF-8 (nothing is encoded then).
  expected<encode_output> encode(const std::vector<std::string>& texts);

  // Token ids exactly as the Hugging Face tokenizer gives them with
  // truncation at max_tokens(): [CLS] … [SEP]. *truncated (if given) is set
  // to whether tokens were cut. Fails with errc::bad_request naming the byte
  // offset of invalid UTF-8.
  expected<std::vector<std::int32_t>> tokenize(std::string_view text,
                                               bool* truncated = nullptr) const;

  struct impl;

 private:
  explicit encoder(std::unique_ptr<impl> p);
  static expected<std::unique_ptr<encoder>> load_model(const encoder_options&);
  expected<encode_output> encode_batches(const std::vector<std::string>& texts);
  std::unique_ptr<impl> p_;
};

}  // namespace aikid::embedding
