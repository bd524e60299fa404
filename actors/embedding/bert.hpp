// BERT encoder: configuration (from the model folder's JSON files), weights
// (views into the mmapped safetensors file) and the forward pass on BLIS.
// Internal to the embedding engine.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "actors/embedding/safetensors.hpp"
#include "actors/embedding/tokenizer.hpp"
#include "common/error.hpp"

namespace aikid::embedding {

enum class bert_act : std::uint8_t { gelu_erf, gelu_tanh, relu };
enum class bert_pooling : std::uint8_t { mean, cls, max, mean_sqrt_len };

struct bert_config {
  // config.json
  int hidden = 0;       // hidden_size (H)
  int layers = 0;       // num_hidden_layers
  int heads = 0;        // num_attention_heads
  int head_dim = 0;     // H / heads
  int ffn = 0;          // intermediate_size (F)
  int vocab = 0;        // vocab_size (V)
  int max_pos = 0;      // max_position_embeddings (P)
  int type_vocab = 0;   // type_vocab_size
  float ln_eps = 1e-12f;
  bert_act act = bert_act::gelu_erf;
  // sentence-transformers files
  int max_seq = 0;      // sentence_bert_config.json max_seq_length (<= P)
  bert_pooling pooling = bert_pooling::mean;
  // tokenizer_config.json / special_tokens_map.json
  tokenizer_options tok;
};

// Reads config.json (required), sentence_bert_config.json, 1_Pooling/config.json
// (path taken from modules.json when present), tokenizer_config.json and
// special_tokens_map.json (optional). Fails with errc::unavailable naming the
// file and field ("config.json: num_attention_heads: 7 does not divide hidden_size 384").
expected<bert_config> bert_config_load(const std::filesystem::path& dir);

// One encoder layer; Linear weights are [out, in] row-major (PyTorch layout).
struct bert_layer {
  const float* wq; const float* bq;      // [H, H], [H]  attention.self.query
  const float* wk; const float* bk;      // [H, H], [H]  attention.self.key
  const float* wv; const float* bv;      // [H, H], [H]  attention.self.value
  const float* wo; const float* bo;      // [H, H], [H]  attention.output.dense
  const float* ln1_g; const float* ln1_b;  // [H]        attention.output.LayerNorm
  const float* w1; const float* b1;      // [F, H], [F]  intermediate.dense
  const float* w2; const float* b2;      // [H, F], [H]  output.dense
  const float* ln2_g; const float* ln2_b;  // [H]        output.LayerNorm
  const float* wqkv; const float* bqkv;  // [3H, H], [3H] query|key|value stacked (owned copy)
};

struct bert_weights {
  const float* word = nullptr;   // [V, H]  embeddings.word_embeddings.weight
  const float* pos = nullptr;    // [P, H]  embeddings.position_embeddings.weight
  const float* type = nullptr;   // [T, H]  embeddings.token_type_embeddings.weight
  const float* ln_g = nullptr;   // [H]     embeddings.LayerNorm.weight
  const float* ln_b = nullptr;   // [H]     embeddings.LayerNorm.bias
  std::vector<bert_layer> layer;
  st_file file;                              // keeps the mapping alive
  std::vector<std::vector<float>> copies;    // tensors whose data was misaligned
};

// Binds every tensor by name (with or without a "bert." prefix) and checks
// dtype F32 and the shape the config implies. Fails with errc::unavailable
// ("model.safetensors: tensor 'encoder.layer.3.output.dense.weight': shape [384, 1000], expected [384, 1536]").
expected<bert_weights> bert_weights_load(st_file file, const bert_config& cfg);

// Scratch buffers reused across calls (grown on demand).
struct bert_scratch {
  std::vector<float> x, qkv, ctx, tmp, ff, scores;
};

// A batch of sequences packed back to back (no padding rows): sequence b has
// lens[b] tokens starting at row offs[b] of the [n_rows, H] activations.
// Attention for each sequence sees only its own keys, which is exactly the
// padding mask of a padded batch. Writes one pooled, L2-normalised vector of
// `hidden` floats per sequence to out[b * hidden].
void bert_forward(const bert_config& cfg, const bert_weights& w, const std::int32_t* ids,
                  const std::vector<int>& lens, int threads, bert_scratch& s, float* out);

// FLOPs of a forward pass for sequences of these lengths (2 per multiply-add).
double bert_flops(const bert_config& cfg, const std::vector<int>& lens);

// SHA-256 of a byte range, lower-case hex.
std::string sha256_hex(const std::byte* data, std::size_t n);

}  // namespace aikid::embedding
