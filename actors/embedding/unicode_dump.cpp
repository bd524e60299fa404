// Dumps the tokenizer's view of every code point (input to
// gen_unicode_compat.py). Not part of the library. Build and run:
//   g++ -std=c++20 -O1 -DAIKID_UNICODE_RAW -I. actors/embedding/unicode_dump.cpp actors/embedding/tokenizer.cpp \
//     -lutf8proc -o /tmp/unicode_dump && /tmp/unicode_dump > /tmp/unicode_dump.txt
// Line per code point: cp other mn punct ws nfd(hex,…) lower(hex,…)
#include <cstdio>
#include <vector>

#include "actors/embedding/tokenizer.hpp"

int main() {
  using namespace aikid::embedding::bert_unicode;
  std::vector<std::int32_t> d, l;
  for (std::int32_t c = 0; c <= 0x10FFFF; ++c) {
    if (c >= 0xD800 && c <= 0xDFFF) continue;
    d.clear();
    l.clear();
    decompose(c, d);
    lowercase(c, l);
    std::printf("%x %d %d %d %d ", c, is_other(c), is_mark_nonspacing(c), is_punctuation(c), is_whitespace(c));
    for (std::size_t i = 0; i < d.size(); ++i) std::printf(i ? ",%x" : "%x", d[i]);
    std::printf(" ");
    for (std::size_t i = 0; i < l.size(); ++i) std::printf(i ? ",%x" : "%x", l[i]);
    std::printf("\n");
  }
}
