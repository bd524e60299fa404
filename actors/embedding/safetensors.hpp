// safetensors reader: mmap a file, validate its header against the file, and
// hand out typed views of its tensors. Internal to the embedding engine (and
// used by its tests and the safetensors fuzz target).
//
// File layout: u64 LE header length N | N bytes of UTF-8 JSON | byte buffer.
// Every check of the reference reader is done here: N <= 100,000,000 and
// 8 + N <= file size; header is a JSON object (valid UTF-8, no duplicate keys);
// each tensor has a known dtype, a shape of non-negative integers and
// data_offsets [begin, end] with end - begin == prod(shape) * size(dtype)
// (overflow-checked); sorted by offset, tensors tile the buffer with no hole
// and no overlap, starting at 0 and ending exactly at the end of the file.
// Nothing is allocated in proportion to a size read from the file before the
// size has been checked against the file's real length.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace aikid::embedding {

enum class st_dtype : std::uint8_t {
  BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64
};

// "F32" → st_dtype::F32; false if the name is not a safetensors dtype.
bool st_dtype_from_name(std::string_view name, st_dtype* out);
std::string_view st_dtype_name(st_dtype t);
std::size_t st_dtype_size(st_dtype t);  // bytes per element

struct st_tensor {
  std::string name;
  st_dtype dtype = st_dtype::F32;
  std::vector<std::int64_t> shape;  // row-major; empty = 0-rank scalar
  std::uint64_t begin = 0;          // byte offsets relative to the buffer start
  std::uint64_t end = 0;
  const std::byte* data = nullptr;  // points into the mapping; no alignment guarantee

  std::uint64_t n_elements() const;  // prod(shape), already overflow-checked
};

class st_file {
 public:
  // Maps and validates `path`. Fails with errc::unavailable; the message
  // starts with the file name and names the tensor/field/offset at fault.
  static expected<st_file> open(const std::filesystem::path& path);
  // Validates an in-memory image (`label` names it in messages); the bytes
  // must outlive the st_file. Fails like open().
  static expected<st_file> parse(std::span<const std::byte> bytes, std::string label);

  const std::vector<st_tensor>& tensors() const { return tensors_; }  // sorted by offset
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // nullptr when absent.
  const st_tensor* find(std::string_view name) const;
  // The whole file image (header included).
  std::span<const std::byte> bytes() const { return bytes_; }
  std::span<const std::byte> header() const;  // the N JSON bytes
  const std::string& label() const { return label_; }

 private:
  struct mapping;
  std::shared_ptr<mapping> map_;  // keeps the mmap alive (null for parse())
  std::span<const std::byte> bytes_;
  std::uint64_t header_len_ = 0;
  std::string label_;
  std::vector<st_tensor> tensors_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace aikid::embedding
