// aikid inference engine: a GGUF llama-architecture model run on the CPU.
//
// Table of contents (one concern per file):
//   gguf.hpp/.cpp            GGUF v2/v3 reader (mmap, every field bounds-checked)
//   quants.hpp/.cpp          tensor types, fp16/bf16, dequantisation, Q8_0/Q8_1 quantisers
//   kernels.hpp              mat-vec + attention dispatch table: kernels_portable.cpp
//                            (reference), kernels_avx2.cpp, kernels_avx512.cpp (VNNI;
//                            bit-identical, chosen at run time)
//   kernels_threads.hpp/.cpp persistent thread pool of a session (model_options::threads)
//   unicode.hpp/.cpp         codepoint classes (utf8proc), pre-tokenizer splits
//   vocab.hpp/.cpp           byte-level BPE tokenizer, special tokens, ChatML
//   model.cpp                model::load: hparams, tensor binding, checks
//   session.cpp              KV cache and the forward pass (llama.cpp's CPU numerics)
//
// Everything here is engine code: no actors. Each session owns
// model_options::threads - 1 worker threads (sleeping when idle); results do
// not depend on the thread count.
// Tests: tests/inference/ (fixtures from llama-cpp-python), fuzzing:
// tests/fuzz/gguf_fuzz.cpp, speed: bench/inference/.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace aikid::inference {

class gguf_file;
class vocab;
struct kernel_table;

struct model_options {
  std::filesystem::path path;
  int n_ctx = 0;             // default session context: 0 = from the file, capped at n_ctx_cap;
                             // never more than the file's context_length
  int threads = 1;           // threads per session's forward pass (the caller + threads-1 workers)
  int n_ctx_cap = 8192;      // cap applied to the file's context length when n_ctx = 0
};

struct model_info {
  std::string arch, name, file_type;  // file_type e.g. "Q4_1"
  int n_ctx_train = 0, n_vocab = 0, n_embd = 0, n_layer = 0, n_head = 0, n_head_kv = 0;
  int n_ff = 0, n_rot = 0;
  int n_ctx = 0;                      // default context for sessions (options / file, capped)
  float rope_freq_base = 10000.f, rope_freq_scale = 1.f, rms_eps = 1e-5f;
  bool tied_output = false;
  std::uint64_t file_bytes = 0;
  std::map<std::string, int> tensor_types;  // type name -> tensor count
  std::string kernels;                      // kernel table in use ("portable")
  int n_threads = 1;                        // threads each session's forward pass uses (options.threads)
};

struct chat_message {
  std::string role, content;
};

/// Per-layer weights as views into the mapped file (types kept as stored).
struct layer_weights;

class model {
 public:
  /// Maps and validates the file. Fails with errc::unavailable and a message
  /// naming the file and the offset/key/tensor that is wrong: unreadable or
  /// corrupt file, architecture other than "llama", a tensor of a type this
  /// engine cannot multiply (named, e.g. "Q6_K"), a missing tensor or a shape
  /// that does not match the metadata, an unsupported tokenizer. An
  /// allocation failure gives errc::internal.
  static expected<std::unique_ptr<model>> load(const model_options& opts);
  ~model();

  const model_info& info() const { return info_; }

  /// Tokens of `text` treated as data: special-token text such as
  /// "<|im_start|>" is tokenized as ordinary characters. Never fails.
  std::vector<std::int32_t> tokenize(std::string_view text) const;
  /// The chat prompt's tokens: role markers are special tokens, message
  /// contents are data. Same text as render_chat(). Never fails.
  std::vector<std::int32_t> tokenize_chat(const std::vector<chat_message>& msgs,
                                          bool add_generation_prompt) const;
  /// ChatML text as the file's chat template renders it (SmolLM2's default
  /// system message when the first message is not a system one).
  std::string render_chat(const std::vector<chat_message>& msgs, bool add_generation_prompt) const;
  /// Raw bytes of a token (may be part of a UTF-8 character); "" for control
  /// tokens and ids out of range.
  std::string token_to_piece(std::int32_t id) const;
  /// End of generation (<|im_end|>, <|endoftext|>, ...).
  bool is_eog(std::int32_t id) const;
  std::int32_t n_vocab() const { return info_.n_vocab; }

  // engine internals used by session and tests
  const vocab& tokenizer() const { return *vocab_; }
  const gguf_file& file() const { return *file_; }
  const kernel_table& kernels() const { return *kernels_; }
  const std::vector<layer_weights>& layers() const { return layers_; }
  struct globals;
  const globals& global_weights() const { return *globals_; }

 private:
  model();
  static expected<std::unique_ptr<model>> load_impl(const model_options& opts);
  model_info info_;
  std::unique_ptr<gguf_file> file_;
  std::unique_ptr<vocab> vocab_;
  std::vector<layer_weights> layers_;
  std::unique_ptr<globals> globals_;
  std::vector<std::vector<std::byte>> packed_;  // weights repacked for the kernels (kernels.hpp)
  const kernel_table* kernels_ = nullptr;
};

/// One KV cache and its scratch buffers; not thread-safe; many per model.
/// The model must outlive its sessions.
class session {
 public:
  /// n_ctx <= 0 uses model.info().n_ctx; larger values are capped at the
  /// file's context_length. Allocates the KV cache (F16, as llama.cpp:
  /// 2 * n_layer * n_ctx * n_head_kv * head_dim * 2 bytes); throws
  /// std::bad_alloc only if that allocation fails.
  session(const model& m, int n_ctx);
  ~session();
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  /// Runs the tokens at positions n_past()..n_past()+size-1 and keeps the
  /// logits of the last one. Fails with errc::bad_request (nothing done) when
  /// the tokens do not fit in the context, a token id is out of range or the
  /// span is empty; errc::internal on an unexpected failure (allocation).
  /// Numerics follow llama.cpp's CPU path: a call with >= 2 tokens is a batch
  /// (prompt), a call with 1 token a decode step.
  expected<void> eval(std::span<const std::int32_t> tokens);
  /// Logits of the last evaluated token (n_vocab floats); empty before eval.
  std::span<const float> logits() const;
  int n_past() const { return n_past_; }
  int n_ctx() const { return n_ctx_; }
  /// Keeps the first n positions (clamped to [0, n_past]); the next eval
  /// continues from there (a prompt cache). Logits are cleared.
  void truncate(int n);
  /// Bytes held by the KV cache.
  std::size_t kv_bytes() const;

 private:
  expected<void> eval_impl(std::span<const std::int32_t> tokens);
  struct state;
  const model& m_;
  int n_ctx_ = 0;
  int n_past_ = 0;
  std::unique_ptr<state> s_;
};

}  // namespace aikid::inference
