// GGUF reader: a read-only view of a GGUF v2/v3 file (header, metadata,
// tensor infos, tensor data), validated against the file size before any
// field is used. The file is mmap'd; tensor data are pointers into the map.
//
// Layout (ggml docs/gguf.md): magic "GGUF", u32 version, u64 n_tensors,
// u64 n_kv; n_kv × (string key, u32 type, value); n_tensors × (string name,
// u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset); padding to
// general.alignment (default 32); tensor data.
//
// Every failure is an aikid::error (errc::unavailable) whose message names the
// file, the byte offset and the field that is wrong. Nothing is allocated in
// proportion to a count before the bytes that count claims are known to exist.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "actors/inference/quants.hpp"
#include "common/error.hpp"

namespace aikid::inference {

// ---- metadata value types --------------------------------------------------
enum class gguf_type : std::uint32_t {
  u8 = 0, i8 = 1, u16 = 2, i16 = 3, u32 = 4, i32 = 5, f32 = 6, boolean = 7,
  string = 8, array = 9, u64 = 10, i64 = 11, f64 = 12,
};
std::string_view gguf_type_name(gguf_type t);

/// One metadata value. Scalars are decoded; strings point into the mapping;
/// arrays keep their element type and (for strings) one view per element.
struct gguf_value {
  gguf_type type = gguf_type::u8;
  // scalar payloads (the one that matches `type` is set)
  std::uint64_t u = 0;   // u8/u16/u32/u64/bool
  std::int64_t i = 0;    // i8/i16/i32/i64
  double f = 0;          // f32/f64
  std::string_view str;  // string
  // array payload
  gguf_type elem_type = gguf_type::u8;
  std::uint64_t count = 0;
  const std::byte* data = nullptr;        // packed numeric elements (arrays)
  std::vector<std::string_view> strings;  // string arrays
};

struct gguf_kv {
  std::string_view key;
  gguf_value value;
};

// ---- tensor infos -----------------------------------------------------------
struct gguf_tensor {
  std::string_view name;
  int n_dims = 0;
  std::int64_t ne[4] = {1, 1, 1, 1};  // ne[0] = row length (fastest varying)
  ggml_type type = ggml_type::f32;
  std::uint64_t offset = 0;           // relative to the data section
  std::uint64_t nbytes = 0;
  const std::byte* data = nullptr;    // into the mapping
  std::int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
  std::int64_t n_rows() const { return ne[1] * ne[2] * ne[3]; }
};

/// A parsed GGUF file. Move-only; owns its mapping (if opened from a path).
class gguf_file {
 public:
  /// mmap `path` read-only and parse it. Fails (unavailable) if the file
  /// cannot be opened/mapped or any field is invalid; the message names the
  /// file, offset and field.
  static expected<std::unique_ptr<gguf_file>> open(const std::filesystem::path& path);
  /// Parse a buffer the caller keeps alive (tests, fuzzing). `name` is used in
  /// error messages. Same failure modes as open().
  static expected<std::unique_ptr<gguf_file>> parse(std::span<const std::byte> bytes,
                                                    std::string name);
  ~gguf_file();
  gguf_file(const gguf_file&) = delete;
  gguf_file& operator=(const gguf_file&) = delete;

  const std::string& name() const { return name_; }
  std::uint32_t version() const { return version_; }
  std::uint64_t size() const { return bytes_.size(); }
  std::uint32_t alignment() const { return alignment_; }
  std::uint64_t data_offset() const { return data_offset_; }
  const std::vector<gguf_kv>& kvs() const { return kvs_; }
  const std::vector<gguf_tensor>& tensors() const { return tensors_; }

  /// nullptr when absent.
  const gguf_value* find(std::string_view key) const;
  const gguf_tensor* find_tensor(std::string_view name) const;

  // Typed getters: an error (unavailable, naming file and key) when the key is
  // absent (unless a default is given) or has an incompatible type.
  expected<std::string> get_string(std::string_view key) const;
  expected<std::int64_t> get_int(std::string_view key) const;  // any integer type
  expected<std::int64_t> get_int(std::string_view key, std::int64_t def) const;
  expected<double> get_float(std::string_view key) const;      // f32/f64 (or integer)
  expected<double> get_float(std::string_view key, double def) const;
  expected<bool> get_bool(std::string_view key, bool def) const;
  /// String array elements (views into the mapping).
  expected<std::span<const std::string_view>> get_strings(std::string_view key) const;
  /// Integer array elements converted to int64 (i32/u32/i8/... arrays).
  expected<std::vector<std::int64_t>> get_ints(std::string_view key) const;
  /// f32 array elements.
  expected<std::vector<float>> get_floats(std::string_view key) const;

  /// Tells the kernel that the whole pages inside [p, p+n) of the mapping are
  /// not needed now (a copy was made): they leave this process's resident
  /// set and are read again from the page cache if touched. A no-op for a
  /// parsed buffer or a range outside the mapping; never fails.
  void release(const std::byte* p, std::size_t n) const;

 private:
  gguf_file() = default;
  expected<void> parse_all();

  std::string name_;
  std::span<const std::byte> bytes_;
  void* map_ = nullptr;
  std::size_t map_len_ = 0;
  std::uint32_t version_ = 0;
  std::uint32_t alignment_ = 32;
  std::uint64_t data_offset_ = 0;
  std::vector<gguf_kv> kvs_;
  std::vector<gguf_tensor> tensors_;
};

}  // namespace aikid::inference
