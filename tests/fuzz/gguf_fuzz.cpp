// libFuzzer target for the GGUF reader (and the tokenizer loader that reads
// its metadata). Any input must give a parsed file or an error, never a
// crash, a sanitizer report or an unbounded allocation.
//
// CI and the usual way (builds with the flags of the other targets, runs N s):
//   tests/fuzz/fuzz.sh gguf /tmp/fuzz 600
// Build + run (from the repo root; the seed corpus is tests/fuzz/corpus/gguf):
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -I. \
//     tests/fuzz/gguf_fuzz.cpp actors/inference/gguf.cpp actors/inference/quants.cpp \
//     actors/inference/vocab.cpp actors/inference/unicode.cpp -lutf8proc -o /tmp/gguf_fuzz
//   mkdir -p /tmp/gguf_corpus && /tmp/gguf_fuzz -max_total_time=600 -rss_limit_mb=1024 \
//     -max_len=65536 /tmp/gguf_corpus tests/fuzz/corpus/gguf
#include <cstddef>
#include <cstdint>
#include <span>

#include "actors/inference/gguf.hpp"
#include "actors/inference/vocab.hpp"

using namespace aikid::inference;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto f = gguf_file::parse(std::span(reinterpret_cast<const std::byte*>(data), size), "fuzz.gguf");
  if (!f) return 0;
  const gguf_file& g = **f;
  // touch everything the reader exposes
  std::size_t sink = 0;
  for (const auto& kv : g.kvs()) {
    sink += kv.key.size();
    if (kv.value.type == gguf_type::array) {
      if (kv.value.elem_type == gguf_type::string) {
        for (auto s : kv.value.strings) sink += s.size();
      } else if (auto ints = g.get_ints(kv.key)) {
        for (auto v : *ints) sink += std::size_t(v);
      } else if (auto fl = g.get_floats(kv.key)) {
        sink += fl->size();
      }
    } else if (kv.value.type == gguf_type::string) {
      sink += kv.value.str.size();
    }
  }
  for (const auto& t : g.tensors()) {
    if (t.nbytes > 0) sink += std::size_t(t.data[0]) + std::size_t(t.data[t.nbytes - 1]);
    const auto tr = type_traits_of(std::uint32_t(t.type));
    // the model loader requires 4-byte aligned tensor data (see model.cpp)
    if (tr && tr->supported && t.ne[0] > 0 && t.ne[0] <= 4096 && t.n_rows() > 0 &&
        reinterpret_cast<std::uintptr_t>(t.data) % 4 == 0) {
      float row[4096];
      dequantize_row(t.type, t.data, row, t.ne[0]);
      sink += std::size_t(row[0] != 0);
    }
  }
  // the tokenizer built from hostile metadata must also fail or work
  if (auto v = vocab::load(g)) {
    sink += v->tokenize("Hello world 123 <|im_start|> æøå", true).size();
    sink += v->tokenize_chat({{"user", "hi"}}, true).size();
    for (std::int32_t i = 0; i < v->n_tokens() && i < 64; ++i) sink += v->token_to_piece(i).size();
  }
  volatile std::size_t keep = sink;
  (void)keep;
  return 0;
}
