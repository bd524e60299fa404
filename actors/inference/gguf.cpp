// GGUF parsing with every size checked against the bytes that remain.
#include "actors/inference/gguf.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <unordered_set>

namespace aikid::inference {

std::string_view gguf_type_name(gguf_type t) {
  switch (t) {
    case gguf_type::u8: return "u8";
    case gguf_type::i8: return "i8";
    case gguf_type::u16: return "u16";
    case gguf_type::i16: return "i16";
    case gguf_type::u32: return "u32";
    case gguf_type::i32: return "i32";
    case gguf_type::f32: return "f32";
    case gguf_type::boolean: return "bool";
    case gguf_type::string: return "string";
    case gguf_type::array: return "array";
    case gguf_type::u64: return "u64";
    case gguf_type::i64: return "i64";
    case gguf_type::f64: return "f64";
  }
  return "unknown";
}

namespace {

constexpr std::uint64_t max_name = 64;  // GGML_MAX_NAME (names must be shorter)
constexpr int max_dims = 4;

// Size in bytes of a fixed-size value type; 0 for string/array/unknown.
std::uint64_t scalar_size(std::uint32_t t) {
  switch (static_cast<gguf_type>(t)) {
    case gguf_type::u8: case gguf_type::i8: case gguf_type::boolean: return 1;
    case gguf_type::u16: case gguf_type::i16: return 2;
    case gguf_type::u32: case gguf_type::i32: case gguf_type::f32: return 4;
    case gguf_type::u64: case gguf_type::i64: case gguf_type::f64: return 8;
    default: return 0;
  }
}

bool known_type(std::uint32_t t) { return t <= 12; }

// A bounds-checked little-endian cursor over the file bytes.
class cursor {
 public:
  cursor(std::span<const std::byte> b, const std::string& file) : b_(b), file_(file) {}
  std::uint64_t pos() const { return pos_; }
  std::uint64_t left() const { return b_.size() - pos_; }

  error fail(std::string_view what) const {
    return error{errc::unavailable, file_ + ": offset " + std::to_string(pos_) + ": " +
                                        std::string(what)};
  }
  // Reads a fixed-size little-endian integer/float. false when truncated.
  template <class T>
  bool read(T& v) {
    if (left() < sizeof(T)) return false;
    std::memcpy(&v, b_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  bool skip(std::uint64_t n) {
    if (left() < n) return false;
    pos_ += n;
    return true;
  }
  const std::byte* here() const { return b_.data() + pos_; }
  // GGUF string: u64 length + bytes. `what` names the field for errors.
  expected<std::string_view> string(std::string_view what) {
    const auto at = pos_;
    std::uint64_t n;
    if (!read(n)) return fail(std::string(what) + ": truncated string length");
    if (n > left()) {
      pos_ = at;
      return fail(std::string(what) + ": string length " + std::to_string(n) +
                  " exceeds the " + std::to_string(left() - 8) + " bytes left in the file");
    }
    std::string_view s(reinterpret_cast<const char*>(here()), n);
    pos_ += n;
    return s;
  }

 private:
  std::span<const std::byte> b_;
  const std::string& file_;
  std::uint64_t pos_ = 0;
};

std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 80)) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f) {
      out += c;
    } else {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 15];
    }
  }
  if (s.size() > 80) out += "...";
  return out;
}

// Reads one scalar of type t into v (t is a fixed-size type, bytes available).
void read_scalar(cursor& c, gguf_type t, gguf_value& v) {
  switch (t) {
    case gguf_type::u8: { std::uint8_t x = 0; c.read(x); v.u = x; break; }
    case gguf_type::i8: { std::int8_t x = 0; c.read(x); v.i = x; break; }
    case gguf_type::u16: { std::uint16_t x = 0; c.read(x); v.u = x; break; }
    case gguf_type::i16: { std::int16_t x = 0; c.read(x); v.i = x; break; }
    case gguf_type::u32: { std::uint32_t x = 0; c.read(x); v.u = x; break; }
    case gguf_type::i32: { std::int32_t x = 0; c.read(x); v.i = x; break; }
    case gguf_type::f32: { float x = 0; c.read(x); v.f = x; break; }
    case gguf_type::boolean: { std::uint8_t x = 0; c.read(x); v.u = x; break; }
    case gguf_type::u64: { std::uint64_t x = 0; c.read(x); v.u = x; break; }
    case gguf_type::i64: { std::int64_t x = 0; c.read(x); v.i = x; break; }
    case gguf_type::f64: { double x = 0; c.read(x); v.f = x; break; }
    default: break;
  }
}

}  // namespace

// ---- open / parse ------------------------------------------------------------
expected<std::unique_ptr<gguf_file>> gguf_file::open(const std::filesystem::path& path) {
  const std::string name = path.string();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return error{errc::unavailable, name + ": cannot open: " + std::strerror(errno)};
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    return error{errc::unavailable, name + ": cannot stat: " + std::strerror(e)};
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return error{errc::unavailable, name + ": not a regular file"};
  }
  const auto len = static_cast<std::size_t>(st.st_size);
  if (len < 24) {
    ::close(fd);
    return error{errc::unavailable, name + ": offset 0: file is " + std::to_string(len) +
                                        " bytes, too small for a GGUF header (24 bytes)"};
  }
  void* map = ::mmap(nullptr, len, PROT_READ, MAP_SHARED, fd, 0);
  const int map_errno = errno;
  ::close(fd);
  if (map == MAP_FAILED) {
    return error{errc::unavailable, name + ": mmap failed: " + std::strerror(map_errno)};
  }
  std::unique_ptr<gguf_file> f(new gguf_file());
  f->name_ = name;
  f->map_ = map;
  f->map_len_ = len;
  f->bytes_ = {static_cast<const std::byte*>(map), len};
  if (auto r = f->parse_all(); !r) return r.error();
  return f;
}

expected<std::unique_ptr<gguf_file>> gguf_file::parse(std::span<const std::byte> bytes,
                                                      std::string name) {
  std::unique_ptr<gguf_file> f(new gguf_file());
  f->name_ = std::move(name);
  f->bytes_ = bytes;
  if (auto r = f->parse_all(); !r) return r.error();
  return f;
}

void gguf_file::release(const std::byte* p, std::size_t n) const {
  if (map_ == nullptr) return;
  const auto base = reinterpret_cast<std::uintptr_t>(map_);
  const std::size_t page = std::size_t(::sysconf(_SC_PAGESIZE));
  std::uintptr_t lo = reinterpret_cast<std::uintptr_t>(p), hi = lo + n;
  if (lo < base || hi > base + map_len_) return;
  lo = (lo + page - 1) / page * page;
  hi = hi / page * page;
  if (hi > lo) ::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
}

gguf_file::~gguf_file() {
  if (map_ != nullptr) ::munmap(map_, map_len_);
}

expected<void> gguf_file::parse_all() {
  cursor c(bytes_, name_);

  // ---- header ----
  std::uint32_t magic = 0;
  if (!c.read(magic)) return c.fail("truncated header (magic)");
  if (std::memcmp(bytes_.data(), "GGUF", 4) != 0) {
    return error{errc::unavailable,
                 name_ + ": offset 0: bad magic '" +
                     printable({reinterpret_cast<const char*>(bytes_.data()), 4}) +
                     "' (not a GGUF file)"};
  }
  if (!c.read(version_)) return c.fail("truncated header (version)");
  if (version_ == 1) return error{errc::unavailable, name_ + ": offset 4: GGUF version 1 is not supported (v2 and v3 are)"};
  if (version_ != 2 && version_ != 3) {
    // a big-endian file has its version byte-swapped
    if ((version_ & 0xffff) == 0 && (version_ >> 24) <= 3) {
      return error{errc::unavailable, name_ + ": offset 4: big-endian GGUF is not supported"};
    }
    return error{errc::unavailable,
                 name_ + ": offset 4: unsupported GGUF version " + std::to_string(version_)};
  }
  std::uint64_t n_tensors = 0, n_kv = 0;
  if (!c.read(n_tensors)) return c.fail("truncated header (tensor_count)");
  if (!c.read(n_kv)) return c.fail("truncated header (metadata_kv_count)");
  // Each KV needs >= 8 (key length) + 4 (type) + 1 bytes; each tensor info
  // >= 8 + 4 + 4 + 8 bytes. Counts that the file cannot hold are rejected
  // before anything is reserved.
  if (n_kv > c.left() / 13) {
    return error{errc::unavailable, name_ + ": offset 16: metadata_kv_count " +
                                        std::to_string(n_kv) + " cannot fit in a " +
                                        std::to_string(bytes_.size()) + "-byte file"};
  }
  if (n_tensors > c.left() / 24) {
    return error{errc::unavailable, name_ + ": offset 8: tensor_count " +
                                        std::to_string(n_tensors) + " cannot fit in a " +
                                        std::to_string(bytes_.size()) + "-byte file"};
  }

  // ---- metadata ----
  kvs_.reserve(n_kv);
  std::unordered_set<std::string_view> keys;
  for (std::uint64_t k = 0; k < n_kv; ++k) {
    const std::string field = "metadata[" + std::to_string(k) + "]";
    auto key = c.string(field + ".key");
    if (!key) return key.error();
    if (!keys.insert(*key).second) {
      return c.fail(field + ": duplicate key '" + printable(*key) + "'");
    }
    const std::string kname = "key '" + printable(*key) + "'";
    std::uint32_t t = 0;
    if (!c.read(t)) return c.fail(kname + ": truncated value type");
    if (!known_type(t)) return c.fail(kname + ": unknown value type " + std::to_string(t));
    gguf_kv kv;
    kv.key = *key;
    kv.value.type = static_cast<gguf_type>(t);
    if (t == std::uint32_t(gguf_type::string)) {
      auto s = c.string(kname);
      if (!s) return s.error();
      kv.value.str = *s;
    } else if (t == std::uint32_t(gguf_type::array)) {
      std::uint32_t et = 0;
      std::uint64_t n = 0;
      if (!c.read(et)) return c.fail(kname + ": truncated array element type");
      if (!known_type(et)) return c.fail(kname + ": unknown array element type " + std::to_string(et));
      if (et == std::uint32_t(gguf_type::array)) return c.fail(kname + ": nested arrays are not supported");
      if (!c.read(n)) return c.fail(kname + ": truncated array length");
      kv.value.elem_type = static_cast<gguf_type>(et);
      kv.value.count = n;
      if (et == std::uint32_t(gguf_type::string)) {
        if (n > c.left() / 8) {
          return c.fail(kname + ": array of " + std::to_string(n) + " strings exceeds the " +
                        std::to_string(c.left()) + " bytes left in the file");
        }
        kv.value.strings.reserve(n);
        for (std::uint64_t j = 0; j < n; ++j) {
          auto s = c.string(kname + "[" + std::to_string(j) + "]");
          if (!s) return s.error();
          kv.value.strings.push_back(*s);
        }
      } else {
        const std::uint64_t es = scalar_size(et);
        if (n > c.left() / es) {
          return c.fail(kname + ": array of " + std::to_string(n) + " " +
                        std::string(gguf_type_name(kv.value.elem_type)) + " exceeds the " +
                        std::to_string(c.left()) + " bytes left in the file");
        }
        kv.value.data = c.here();
        c.skip(n * es);
      }
    } else {
      if (c.left() < scalar_size(t)) return c.fail(kname + ": truncated value");
      read_scalar(c, kv.value.type, kv.value);
      if (kv.value.type == gguf_type::boolean && kv.value.u > 1) {
        return c.fail(kname + ": bool value " + std::to_string(kv.value.u) + " is not 0 or 1");
      }
    }
    kvs_.push_back(std::move(kv));
  }

  // alignment
  if (const gguf_value* a = find("general.alignment")) {
    if (a->type != gguf_type::u32) {
      return error{errc::unavailable, name_ + ": key 'general.alignment' has type " +
                                          std::string(gguf_type_name(a->type)) + ", expected u32"};
    }
    if (a->u == 0 || (a->u & (a->u - 1)) != 0) {
      return error{errc::unavailable, name_ + ": key 'general.alignment' = " +
                                          std::to_string(a->u) + " is not a power of two"};
    }
    alignment_ = static_cast<std::uint32_t>(a->u);
  }

  // ---- tensor infos ----
  tensors_.reserve(n_tensors);
  std::unordered_set<std::string_view> names;
  for (std::uint64_t k = 0; k < n_tensors; ++k) {
    const std::string field = "tensor_info[" + std::to_string(k) + "]";
    auto nm = c.string(field + ".name");
    if (!nm) return nm.error();
    if (nm->size() >= max_name) {
      return c.fail(field + ": name '" + printable(*nm) + "' is " + std::to_string(nm->size()) +
                    " bytes (max " + std::to_string(max_name - 1) + ")");
    }
    if (!names.insert(*nm).second) return c.fail(field + ": duplicate tensor name '" + printable(*nm) + "'");
    const std::string tname = "tensor '" + printable(*nm) + "'";
    gguf_tensor t;
    t.name = *nm;
    std::uint32_t nd = 0;
    if (!c.read(nd)) return c.fail(tname + ": truncated n_dims");
    if (nd > max_dims) return c.fail(tname + ": n_dims " + std::to_string(nd) + " > 4");
    t.n_dims = int(nd);
    for (std::uint32_t d = 0; d < nd; ++d) {
      std::uint64_t ne = 0;
      if (!c.read(ne)) return c.fail(tname + ": truncated dims");
      if (ne > std::uint64_t(std::numeric_limits<std::int64_t>::max())) {
        return c.fail(tname + ": dim " + std::to_string(d) + " = " + std::to_string(ne) + " is out of range");
      }
      t.ne[d] = std::int64_t(ne);
    }
    // element count must not overflow int64
    {
      std::int64_t n = 1;
      for (int d = 0; d < max_dims; ++d) {
        if (t.ne[d] != 0 && n > std::numeric_limits<std::int64_t>::max() / t.ne[d]) {
          return c.fail(tname + ": element count overflows");
        }
        n *= t.ne[d];
      }
      // n_rows() multiplies ne[1..3] alone: a zero row length does not make that product safe
      std::int64_t rows = 1;
      for (int d = 1; d < max_dims; ++d) {
        if (t.ne[d] != 0 && rows > std::numeric_limits<std::int64_t>::max() / t.ne[d]) {
          return c.fail(tname + ": row count overflows");
        }
        rows *= t.ne[d];
      }
    }
    std::uint32_t ty = 0;
    if (!c.read(ty)) return c.fail(tname + ": truncated type");
    const auto tr = type_traits_of(ty);
    if (!tr) return c.fail(tname + ": unknown ggml type id " + std::to_string(ty));
    t.type = static_cast<ggml_type>(ty);
    if (t.ne[0] % tr->block != 0) {
      return c.fail(tname + ": row length " + std::to_string(t.ne[0]) + " is not a multiple of the " +
                    std::string(tr->name) + " block size " + std::to_string(tr->block));
    }
    if (!c.read(t.offset)) return c.fail(tname + ": truncated offset");
    // nbytes = rows * row_bytes, each bounded by the file size
    const std::uint64_t row_bytes = std::uint64_t(t.ne[0] / tr->block) * std::uint64_t(tr->block_bytes);
    const std::uint64_t rows = std::uint64_t(t.n_rows());
    if (row_bytes != 0 && rows > bytes_.size() / row_bytes) {
      return c.fail(tname + ": " + std::to_string(t.n_elements()) + " elements of " +
                    std::string(tr->name) + " exceed the file size " + std::to_string(bytes_.size()));
    }
    t.nbytes = rows * row_bytes;
    tensors_.push_back(t);
  }

  // ---- data section ----
  const std::uint64_t end_infos = c.pos();
  data_offset_ = (end_infos + alignment_ - 1) / alignment_ * alignment_;
  if (data_offset_ > bytes_.size()) {
    if (tensors_.empty()) {
      data_offset_ = bytes_.size();
    } else {
      return error{errc::unavailable, name_ + ": offset " + std::to_string(end_infos) +
                                          ": data section (aligned to " + std::to_string(alignment_) +
                                          ") starts past the end of the file"};
    }
  }
  const std::uint64_t data_size = bytes_.size() - data_offset_;
  std::uint64_t expect = 0;  // ggml: offsets are consecutive, each padded to alignment
  for (auto& t : tensors_) {
    const std::string tname = "tensor '" + printable(t.name) + "'";
    if (t.offset != expect) {
      return error{errc::unavailable, name_ + ": " + tname + ": data offset " + std::to_string(t.offset) +
                                          " (expected " + std::to_string(expect) +
                                          ": consecutive, aligned to " + std::to_string(alignment_) + ")"};
    }
    if (t.offset > data_size || t.nbytes > data_size - t.offset) {
      return error{errc::unavailable, name_ + ": " + tname + ": data [" + std::to_string(data_offset_ + t.offset) +
                                          ", +" + std::to_string(t.nbytes) + ") runs past the end of the file (" +
                                          std::to_string(bytes_.size()) + " bytes)"};
    }
    t.data = bytes_.data() + data_offset_ + t.offset;
    const std::uint64_t padded = (t.nbytes + alignment_ - 1) / alignment_ * alignment_;
    expect = t.offset + padded;
  }
  return {};
}

// ---- lookups -------------------------------------------------------------------
const gguf_value* gguf_file::find(std::string_view key) const {
  for (const auto& kv : kvs_) {
    if (kv.key == key) return &kv.value;
  }
  return nullptr;
}

const gguf_tensor* gguf_file::find_tensor(std::string_view n) const {
  for (const auto& t : tensors_) {
    if (t.name == n) return &t;
  }
  return nullptr;
}

namespace {
bool is_int(gguf_type t) {
  switch (t) {
    case gguf_type::u8: case gguf_type::i8: case gguf_type::u16: case gguf_type::i16:
    case gguf_type::u32: case gguf_type::i32: case gguf_type::u64: case gguf_type::i64:
      return true;
    default: return false;
  }
}
bool is_signed(gguf_type t) {
  return t == gguf_type::i8 || t == gguf_type::i16 || t == gguf_type::i32 || t == gguf_type::i64;
}
}  // namespace

expected<std::string> gguf_file::get_string(std::string_view key) const {
  const gguf_value* v = find(key);
  if (!v) return error{errc::unavailable, name_ + ": missing key '" + std::string(key) + "'"};
  if (v->type != gguf_type::string) {
    return error{errc::unavailable, name_ + ": key '" + std::string(key) + "' has type " +
                                        std::string(gguf_type_name(v->type)) + ", expected string"};
  }
  return std::string(v->str);
}

expected<std::int64_t> gguf_file::get_int(std::string_view key) const {
  const gguf_value* v = find(key);
  if (!v) return error{errc::unavailable, name_ + ": missing key '" + std::string(key) + "'"};
  if (!is_int(v->type)) {
    return error{errc::unavailable, name_ + ": key '" + std::string(key) + "' has type " +
                                        std::string(gguf_type_name(v->type)) + ", expected an integer"};
  }
  if (is_signed(v->type)) return v->i;
  if (v->u > std::uint64_t(std::numeric_limits<std::int64_t>::max())) {
    return error{errc::unavailable, name_ + ": key '" + std::string(key) + "' value is out of range"};
  }
  return std::int64_t(v->u);
}

expected<std::int64_t> gguf_file::get_int(std::string_view key, std::int64_t def) const {
  if (!find(key)) return def;
  return get_int(key);
}

expected<double> gguf_file::get_float(std::string_view key) const {
  const gguf_value* v = find(key);
  if (!v) return error{errc::unavailable, name_ + ": missing key '" + std::string(key) + "'"};
  if (v->type == gguf_type::f32 || v->type == gguf_type::f64) return v->f;
  if (is_int(v->type)) return is_signed(v->type) ? double(v->i) : double(v->u);
  return error{errc::unavailable, name_ + ": key '" + std::string(key) + "' has type " +
                                      std::string(gguf_type_name(v->type)) + ", expected a number"};
}

expected<double> gguf_file::get_float(std::string_view key, double def) const {
  if (!find(key)) return def;
  return get_float(key);
}

expected<bool> gguf_file::get_bool(std::string_view key, bool def) const {
  const gguf_value* v = find(key);
  if (!v) return def;
  if (v->type != gguf_type::boolean) {
    return error{errc::unavailable, name_ + ": key '" + std::string(key) + "' has type " +
                                        std::string(gguf_type_name(v->type)) + ", expected bool"};
  }
  return v->u != 0;
}

expected<std::span<const std::string_view>> gguf_file::get_strings(std::string_view key) const {
  const gguf_value* v = find(key);
  if (!v) return error{errc::unavailable, name_ + ": missing key '" + std::string(key) + "'"};
  if (v->type != gguf_type::array || v->elem_type != gguf_type::string) {
    return error{errc::unavailable, name_ + ": key '" + std::string(key) + "' is not an array of strings"};
  }
  return std::span<const std::string_view>(v->strings);
}

expected<std::vector<std::int64_t>> gguf_file::get_ints(std::string_view key) const {
  const gguf_value* v = find(key);
  if (!v) return error{errc::unavailable, name_ + ": missing key '" + std::string(key) + "'"};
  if (v->type != gguf_type::array || !is_int(v->elem_type)) {
    return error{errc::unavailable, name_ + ": key '" + std::string(key) + "' is not an array of integers"};
  }
  std::vector<std::int64_t> out(v->count);
  const std::uint64_t es = scalar_size(std::uint32_t(v->elem_type));
  for (std::uint64_t j = 0; j < v->count; ++j) {
    const std::byte* p = v->data + j * es;
    switch (v->elem_type) {
      case gguf_type::u8: out[j] = std::uint8_t(*p); break;
      case gguf_type::i8: out[j] = std::int8_t(*p); break;
      case gguf_type::u16: { std::uint16_t x; std::memcpy(&x, p, 2); out[j] = x; break; }
      case gguf_type::i16: { std::int16_t x; std::memcpy(&x, p, 2); out[j] = x; break; }
      case gguf_type::u32: { std::uint32_t x; std::memcpy(&x, p, 4); out[j] = x; break; }
      case gguf_type::i32: { std::int32_t x; std::memcpy(&x, p, 4); out[j] = x; break; }
      case gguf_type::u64: { std::uint64_t x; std::memcpy(&x, p, 8); out[j] = std::int64_t(x); break; }
      case gguf_type::i64: { std::int64_t x; std::memcpy(&x, p, 8); out[j] = x; break; }
      default: break;
    }
  }
  return out;
}

expected<std::vector<float>> gguf_file::get_floats(std::string_view key) const {
  const gguf_value* v = find(key);
  if (!v) return error{errc::unavailable, name_ + ": missing key '" + std::string(key) + "'"};
  if (v->type != gguf_type::array || v->elem_type != gguf_type::f32) {
    return error{errc::unavailable, name_ + ": key '" + std::string(key) + "' is not an array of f32"};
  }
  std::vector<float> out(v->count);
  if (v->count) std::memcpy(out.data(), v->data, v->count * 4);
  return out;
}

}  // namespace aikid::inference
