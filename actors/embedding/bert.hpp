// BERT encoder: configuration (from the model folder's JSON files), weights
// (views into the mmapped safetensors file) and the forward pass on BLIS.
// Internal to the embedding engine.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <thread>
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

// One encoder layer; Linear weights are [out, in] row-major (PyTorch layout),
// views into the mapping. The forward pass multiplies by the transposed copies
// (…_t, [in, out] row-major, made once at load): with the feature-major
// activations that is the storage BLIS's small-matrix (sup) kernels stream
// fastest when only a few tokens are in flight.
struct bert_layer {
  const float* wq; const float* bq;      // [H, H], [H]  attention.self.query
  const float* wk; const float* bk;      // [H, H], [H]  attention.self.key
  const float* wv; const float* bv;      // [H, H], [H]  attention.self.value
  const float* wo; const float* bo;      // [H, H], [H]  attention.output.dense
  const float* ln1_g; const float* ln1_b;  // [H]        attention.output.LayerNorm
  const float* w1; const float* b1;      // [F, H], [F]  intermediate.dense
  const float* w2; const float* b2;      // [H, F], [H]  output.dense
  const float* ln2_g; const float* ln2_b;  // [H]        output.LayerNorm
  // owned copies
  const float* wqkv_t; const float* bqkv;  // [H, 3H], [3H]  (Wq|Wk|Wv)ᵀ: column blocks q, k, v
  const float* wo_t;                       // [H, H]   Woᵀ
  const float* w1_t;                       // [H, F]   W1ᵀ
  const float* w2_t;                       // [F, H]   W2ᵀ
};

struct bert_weights {
  const float* word = nullptr;   // [V, H]  embeddings.word_embeddings.weight
  const float* pos = nullptr;    // [P, H]  embeddings.position_embeddings.weight
  const float* type = nullptr;   // [T, H]  embeddings.token_type_embeddings.weight
  const float* ln_g = nullptr;   // [H]     embeddings.LayerNorm.weight
  const float* ln_b = nullptr;   // [H]     embeddings.LayerNorm.bias
  std::vector<bert_layer> layer;
  st_file file;                              // keeps the mapping alive
  std::vector<std::vector<float>> copies;    // misaligned tensors and the transposed weights
};

// Binds every tensor by name (with or without a "bert." prefix) and checks
// dtype F32 and the shape the config implies. Fails with errc::unavailable
// ("model.safetensors: tensor 'encoder.layer.3.output.dense.weight': shape [384, 1000], expected [384, 1536]").
expected<bert_weights> bert_weights_load(st_file file, const bert_config& cfg);

// A fixed team of threads for the forward pass: the caller plus threads − 1
// helpers that sleep between jobs. run(fn) calls fn(i) once for every member
// i in [0, size()) — i = 0 on the caller's thread — and returns when all are
// done. One caller at a time. Fails only as std::thread's constructor does
// (std::system_error when no thread can be started).
class bert_team {
 public:
  explicit bert_team(int threads);
  ~bert_team();
  bert_team(const bert_team&) = delete;
  bert_team& operator=(const bert_team&) = delete;
  int size() const { return static_cast<int>(helpers_.size()) + 1; }
  void run(const std::function<void(int)>& fn);

 private:
  void helper_loop(int index);
  void stop_helpers();
  std::vector<std::thread> helpers_;
  std::atomic<unsigned> generation_{0};  // bumped to start a job (or to stop)
  std::atomic<int> pending_{0};          // helpers still working on the job
  std::atomic<bool> stop_{false};
  const std::function<void(int)>* job_ = nullptr;
};

// Scratch buffers reused across calls (grown on demand) and the thread team
// (re-made when the thread count changes).
struct bert_scratch {
  std::vector<float> x, qkv, ctx, tmp, ff, scores, mean, rstd;
  std::unique_ptr<bert_team> team;
};

// A batch of sequences packed back to back (no padding between them):
// sequence b has lens[b] tokens starting at column offs[b] of the
// feature-major [H, R] activations (R = n_rows rounded up to a multiple of 8;
// the extra columns are padding). Attention for each sequence sees only its
// own keys, which is exactly the padding mask of a padded batch. Writes one
// pooled, L2-normalised vector of `hidden` floats per sequence to
// out[b * hidden]. `threads` sizes s.team (re-made when it changes); throws
// std::system_error if a helper thread cannot start (encoder::encode turns
// that into errc::internal).
void bert_forward(const bert_config& cfg, const bert_weights& w, const std::int32_t* ids,
                  const std::vector<int>& lens, int threads, bert_scratch& s, float* out);

// FLOPs of a forward pass for sequences of these lengths (2 per multiply-add).
double bert_flops(const bert_config& cfg, const std::vector<int>& lens);

// SHA-256 of a byte range, lower-case hex.
std::string sha256_hex(const std::byte* data, std::size_t n);

}  // namespace aikid::embedding
