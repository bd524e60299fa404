// Test helper: builds GGUF bytes field by field, so tests can craft valid,
// truncated and hostile files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace aikid::inference::test {

class gguf_builder {
 public:
  std::vector<std::byte> b;

  template <class T>
  gguf_builder& put(T v) {
    const auto* p = reinterpret_cast<const std::byte*>(&v);
    b.insert(b.end(), p, p + sizeof(T));
    return *this;
  }
  gguf_builder& str(std::string_view s) {
    put<std::uint64_t>(s.size());
    const auto* p = reinterpret_cast<const std::byte*>(s.data());
    b.insert(b.end(), p, p + s.size());
    return *this;
  }
  gguf_builder& header(std::uint32_t version, std::uint64_t n_tensors, std::uint64_t n_kv) {
    b.clear();
    const char magic[4] = {'G', 'G', 'U', 'F'};
    for (char c : magic) b.push_back(std::byte(c));
    put(version).put(n_tensors).put(n_kv);
    return *this;
  }
  // key + type + scalar
  template <class T>
  gguf_builder& kv(std::string_view key, std::uint32_t type, T v) {
    str(key).put(type).put(v);
    return *this;
  }
  gguf_builder& kv_str(std::string_view key, std::string_view v) {
    str(key).put<std::uint32_t>(8).str(v);
    return *this;
  }
  gguf_builder& kv_str_array(std::string_view key, const std::vector<std::string>& v) {
    str(key).put<std::uint32_t>(9).put<std::uint32_t>(8).put<std::uint64_t>(v.size());
    for (const auto& s : v) str(s);
    return *this;
  }
  template <class T>
  gguf_builder& kv_array(std::string_view key, std::uint32_t elem_type, const std::vector<T>& v) {
    str(key).put<std::uint32_t>(9).put(elem_type).put<std::uint64_t>(v.size());
    for (const auto& x : v) put(x);
    return *this;
  }
  gguf_builder& tensor(std::string_view name, std::vector<std::uint64_t> ne, std::uint32_t type,
                       std::uint64_t offset) {
    str(name).put<std::uint32_t>(std::uint32_t(ne.size()));
    for (auto d : ne) put(d);
    put(type).put(offset);
    return *this;
  }
  gguf_builder& align(std::size_t a) {
    while (b.size() % a) b.push_back(std::byte{0});
    return *this;
  }
  gguf_builder& bytes(const void* p, std::size_t n) {
    const auto* q = static_cast<const std::byte*>(p);
    b.insert(b.end(), q, q + n);
    return *this;
  }
  gguf_builder& zeros(std::size_t n) {
    b.insert(b.end(), n, std::byte{0});
    return *this;
  }
};

}  // namespace aikid::inference::test
