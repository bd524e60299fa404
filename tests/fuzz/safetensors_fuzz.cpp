// libFuzzer target for the embedding engine's safetensors reader: any byte
// string must give either a validated file whose tensors lie inside the input
// or an error — never a crash, an out-of-bounds read or a huge allocation.
//
// CI and the usual way (builds with the flags of the other targets, runs N s):
//   tests/fuzz/fuzz.sh safetensors /tmp/fuzz 600
// Build and run (from the repo root):
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -I. \
//     tests/fuzz/safetensors_fuzz.cpp actors/embedding/safetensors.cpp -o /tmp/safetensors_fuzz
//   /tmp/safetensors_fuzz -max_total_time=300 -rss_limit_mb=2048 -max_len=65536 \
//     /tmp/st_corpus tests/fuzz/corpus/safetensors
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "actors/embedding/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace aikid::embedding;
  std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  auto f = st_file::parse(bytes, "fuzz.safetensors");
  if (!f) {
    if (f.error().message.empty()) std::abort();
    return 0;
  }
  // Every tensor must lie inside the input and match its dtype × shape.
  std::uint64_t total = 0;
  volatile unsigned char sink = 0;
  for (const st_tensor& t : f->tensors()) {
    const std::uint64_t nbytes = t.end - t.begin;
    if (nbytes != t.n_elements() * st_dtype_size(t.dtype)) std::abort();
    const auto* p = reinterpret_cast<const unsigned char*>(t.data);
    if (p < data || p + nbytes > data + size) std::abort();
    if (nbytes) sink = sink ^ p[0] ^ p[nbytes - 1];
    total += nbytes;
  }
  if (8 + f->header().size() + total != size) std::abort();
  (void)f->find("a");
  return 0;
}
