// safetensors reader: header SAX parse, layout validation, mmap.
#include "actors/embedding/safetensors.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

namespace aikid::embedding {

namespace {

constexpr std::uint64_t k_max_header = 100'000'000;  // reference reader's limit

struct dtype_info {
  std::string_view name;
  st_dtype type;
  std::size_t size;
};
constexpr std::array<dtype_info, 15> k_dtypes{{
    {"BOOL", st_dtype::BOOL, 1},   {"U8", st_dtype::U8, 1},     {"I8", st_dtype::I8, 1},
    {"F8_E5M2", st_dtype::F8_E5M2, 1}, {"F8_E4M3", st_dtype::F8_E4M3, 1},
    {"I16", st_dtype::I16, 2},     {"U16", st_dtype::U16, 2},   {"F16", st_dtype::F16, 2},
    {"BF16", st_dtype::BF16, 2},   {"I32", st_dtype::I32, 4},   {"U32", st_dtype::U32, 4},
    {"F32", st_dtype::F32, 4},     {"F64", st_dtype::F64, 8},   {"I64", st_dtype::I64, 8},
    {"U64", st_dtype::U64, 8},
}};

std::string printable(std::string_view s) {
  // Names come from an untrusted file: keep messages short and printable.
  std::string out = "'";
  for (std::size_t i = 0; i < s.size() && i < 80; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
  }
  if (s.size() > 80) out += "...";
  return out + "'";
}

// SAX handler that accepts exactly the safetensors header grammar and records
// the first violation. Depth: 1 = top object, 2 = a tensor / __metadata__
// object, 3 = shape / data_offsets arrays.
class header_sax {
 public:
  using json = nlohmann::json;
  using number_integer_t = json::number_integer_t;
  using number_unsigned_t = json::number_unsigned_t;
  using number_float_t = json::number_float_t;
  using string_t = json::string_t;
  using binary_t = json::binary_t;

  std::vector<st_tensor> tensors;
  std::map<std::string, std::string> metadata;
  std::string err;

  bool null() { return fail_value("null"); }
  bool boolean(bool) { return fail_value("a boolean"); }
  bool number_integer(number_integer_t v) {
    if (v < 0) return fail_value("a negative number");
    return number_unsigned(static_cast<number_unsigned_t>(v));
  }
  bool number_unsigned(number_unsigned_t v) {
    if (depth_ != 3) return fail_value("a number");
    st_tensor& t = tensors.back();
    if (field_ == field::shape) {
      if (v > static_cast<number_unsigned_t>(std::numeric_limits<std::int64_t>::max()))
        return fail("tensor " + printable(t.name) + ": shape dimension too large");
      t.shape.push_back(static_cast<std::int64_t>(v));
      return true;
    }
    // data_offsets
    if (n_offsets_ >= 2) return fail("tensor " + printable(t.name) + ": data_offsets has more than 2 entries");
    (n_offsets_ == 0 ? t.begin : t.end) = v;
    ++n_offsets_;
    return true;
  }
  bool number_float(number_float_t, const string_t&) { return fail_value("a non-integer number"); }
  bool binary(binary_t&) { return fail_value("binary"); }
  bool string(string_t& s) {
    if (depth_ == 2 && in_metadata_) {
      metadata[key_] = s;
      return true;
    }
    if (depth_ == 2 && field_ == field::dtype) {
      st_dtype dt;
      if (!st_dtype_from_name(s, &dt))
        return fail("tensor " + printable(tensors.back().name) + ": unknown dtype " + printable(s));
      tensors.back().dtype = dt;
      return true;
    }
    return fail_value("a string");
  }
  bool start_object(std::size_t) {
    if (depth_ == 0) { depth_ = 1; return true; }
    if (depth_ == 1) {
      depth_ = 2;
      seen_ = 0;
      if (key_ == "__metadata__") {
        in_metadata_ = true;
        meta_keys_.clear();
      } else {
        st_tensor t;
        t.name = key_;
        tensors.push_back(std::move(t));
      }
      return true;
    }
    return fail_value("an object");
  }
  bool end_object() {
    if (depth_ == 2 && !in_metadata_) {
      const st_tensor& t = tensors.back();
      if (!(seen_ & bit(field::dtype))) return fail("tensor " + printable(t.name) + ": dtype missing");
      if (!(seen_ & bit(field::shape))) return fail("tensor " + printable(t.name) + ": shape missing");
      if (!(seen_ & bit(field::data_offsets)))
        return fail("tensor " + printable(t.name) + ": data_offsets missing");
    }
    in_metadata_ = false;
    --depth_;
    return true;
  }
  bool start_array(std::size_t) {
    if (depth_ == 2 && !in_metadata_ && (field_ == field::shape || field_ == field::data_offsets)) {
      depth_ = 3;
      n_offsets_ = 0;
      return true;
    }
    return fail_value("an array");
  }
  bool end_array() {
    if (field_ == field::data_offsets && n_offsets_ != 2)
      return fail("tensor " + printable(tensors.back().name) + ": data_offsets needs 2 entries");
    depth_ = 2;
    return true;
  }
  bool key(string_t& k) {
    if (depth_ == 1) {
      if (!top_keys_.insert(k).second) return fail("duplicate key " + printable(k));
      key_ = k;
      return true;
    }
    if (depth_ == 2 && in_metadata_) {
      if (!meta_keys_.insert(k).second) return fail("__metadata__: duplicate key " + printable(k));
      key_ = k;
      return true;
    }
    // depth 2, tensor object
    const std::string& tn = tensors.back().name;
    if (k == "dtype") field_ = field::dtype;
    else if (k == "shape") field_ = field::shape;
    else if (k == "data_offsets") field_ = field::data_offsets;
    else return fail("tensor " + printable(tn) + ": unknown field " + printable(k));
    if (seen_ & bit(field_)) return fail("tensor " + printable(tn) + ": duplicate field " + printable(k));
    seen_ |= bit(field_);
    return true;
  }
  bool parse_error(std::size_t pos, const std::string&, const nlohmann::json::exception& ex) {
    if (err.empty()) {
      std::string what = ex.what();
      // "[json.exception.parse_error.101] parse error at line 1, column 5: ..." → keep the tail.
      auto colon = what.find(": ");
      err = "header is not valid JSON at byte " + std::to_string(pos) + ": " +
            (colon == std::string::npos ? what : what.substr(colon + 2));
    }
    return false;
  }

 private:
  enum class field : std::uint8_t { none, dtype, shape, data_offsets };
  static unsigned bit(field f) { return 1u << static_cast<unsigned>(f); }

  bool fail(std::string m) {
    if (err.empty()) err = std::move(m);
    return false;
  }
  bool fail_value(const char* what) {
    if (depth_ == 0) return fail("header is not a JSON object");
    if (depth_ == 1) return fail("entry " + printable(key_) + " is " + what + ", not an object");
    if (in_metadata_) return fail("__metadata__: value of " + printable(key_) + " is " + what + ", not a string");
    const std::string& tn = tensors.back().name;
    switch (field_) {
      case field::dtype: return fail("tensor " + printable(tn) + ": dtype is " + what + ", not a string");
      case field::shape: return fail("tensor " + printable(tn) + ": shape holds " + what + ", not unsigned integers");
      case field::data_offsets:
        return fail("tensor " + printable(tn) + ": data_offsets holds " + what + ", not unsigned integers");
      default: return fail("tensor " + printable(tn) + ": unexpected " + what);
    }
  }

  int depth_ = 0;
  bool in_metadata_ = false;
  field field_ = field::none;
  unsigned seen_ = 0;
  int n_offsets_ = 0;
  std::string key_;
  std::set<std::string> top_keys_;
  std::set<std::string> meta_keys_;
};

// a*b with overflow detection.
bool mul_ok(std::uint64_t a, std::uint64_t b, std::uint64_t* out) {
  return !__builtin_mul_overflow(a, b, out);
}

std::string shape_str(const st_tensor& t) {
  std::string s = "[";
  for (std::size_t i = 0; i < t.shape.size() && i < 8; ++i)
    s += (i ? ", " : "") + std::to_string(t.shape[i]);
  if (t.shape.size() > 8) s += ", ...";
  return s + "]";
}

}  // namespace

bool st_dtype_from_name(std::string_view name, st_dtype* out) {
  for (const auto& d : k_dtypes)
    if (d.name == name) { *out = d.type; return true; }
  return false;
}

std::string_view st_dtype_name(st_dtype t) { return k_dtypes[static_cast<std::size_t>(t)].name; }
std::size_t st_dtype_size(st_dtype t) { return k_dtypes[static_cast<std::size_t>(t)].size; }

std::uint64_t st_tensor::n_elements() const {
  std::uint64_t n = 1;
  for (auto d : shape) n *= static_cast<std::uint64_t>(d);  // checked at parse time
  return n;
}

struct st_file::mapping {
  void* addr = nullptr;
  std::size_t len = 0;
  ~mapping() {
    if (addr) ::munmap(addr, len);
  }
};

std::span<const std::byte> st_file::header() const {
  return bytes_.subspan(8, static_cast<std::size_t>(header_len_));
}

const st_tensor* st_file::find(std::string_view name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

expected<st_file> st_file::parse(std::span<const std::byte> bytes, std::string label) {
  auto bad = [&](const std::string& m) { return error{errc::unavailable, label + ": " + m}; };
  const std::uint64_t size = bytes.size();
  if (size < 8)
    return bad("file is " + std::to_string(size) + " bytes, too short for the 8-byte header length");
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | std::to_integer<std::uint64_t>(bytes[i]);
  if (n > k_max_header)
    return bad("header length " + std::to_string(n) + " exceeds the limit of 100000000 bytes");
  if (n > size - 8)
    return bad("header length " + std::to_string(n) + " runs past the end of the file (" +
               std::to_string(size) + " bytes): file truncated?");
  if (n < 2 || static_cast<char>(bytes[8]) != '{')
    return bad("header does not start with '{'");

  const char* first = reinterpret_cast<const char*>(bytes.data() + 8);
  // JSON never holds a raw NUL (the parser would take it as end of input).
  if (const void* nul = std::memchr(first, 0, n))
    return bad("header holds a NUL byte at header offset " +
               std::to_string(static_cast<const char*>(nul) - first));
  header_sax sax;
  bool ok = false;
  try {
    ok = nlohmann::json::sax_parse(first, first + n, &sax, nlohmann::json::input_format_t::json, true);
  } catch (const std::exception& e) {  // allocation failure or a library error
    return bad(std::string("header could not be parsed: ") + e.what());
  }
  if (!ok || !sax.err.empty()) return bad(sax.err.empty() ? "header is not valid JSON" : sax.err);

  // Layout: sorted by offsets, the tensors tile [0, buffer size) exactly.
  std::vector<st_tensor>& ts = sax.tensors;
  std::stable_sort(ts.begin(), ts.end(), [](const st_tensor& a, const st_tensor& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  const std::uint64_t buffer_start = 8 + n;
  const std::uint64_t buffer_size = size - buffer_start;
  std::uint64_t at = 0;
  for (auto& t : ts) {
    if (t.end < t.begin)
      return bad("tensor " + printable(t.name) + ": data_offsets [" + std::to_string(t.begin) + ", " +
                 std::to_string(t.end) + "] end before begin");
    if (t.begin != at)
      return bad("tensor " + printable(t.name) + ": data_offsets begin " + std::to_string(t.begin) +
                 (t.begin < at ? " overlaps the previous tensor" : " leaves a hole") +
                 " (expected " + std::to_string(at) + ")");
    std::uint64_t elems = 1, nbytes = 0;
    for (auto d : t.shape)
      if (!mul_ok(elems, static_cast<std::uint64_t>(d), &elems))
        return bad("tensor " + printable(t.name) + ": shape " + shape_str(t) + " overflows");
    if (!mul_ok(elems, st_dtype_size(t.dtype), &nbytes))
      return bad("tensor " + printable(t.name) + ": shape " + shape_str(t) + " overflows");
    if (t.end - t.begin != nbytes)
      return bad("tensor " + printable(t.name) + ": data_offsets [" + std::to_string(t.begin) + ", " +
                 std::to_string(t.end) + "] hold " + std::to_string(t.end - t.begin) + " bytes but " +
                 std::string(st_dtype_name(t.dtype)) + " " + shape_str(t) + " needs " +
                 std::to_string(nbytes));
    if (t.end > buffer_size)
      return bad("tensor " + printable(t.name) + ": data_offsets end " + std::to_string(t.end) +
                 " is past the end of the file (buffer holds " + std::to_string(buffer_size) +
                 " bytes): file truncated?");
    t.data = bytes.data() + buffer_start + t.begin;
    at = t.end;
  }
  if (at != buffer_size)
    return bad("tensors end at buffer offset " + std::to_string(at) + " but the buffer holds " +
               std::to_string(buffer_size) + " bytes (trailing garbage or missing tensors)");

  st_file f;
  f.bytes_ = bytes;
  f.header_len_ = n;
  f.label_ = std::move(label);
  f.tensors_ = std::move(ts);
  f.metadata_ = std::move(sax.metadata);
  return f;
}

expected<st_file> st_file::open(const std::filesystem::path& path) {
  const std::string label = path.filename().string();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return error{errc::unavailable, path.string() + ": cannot open: " + std::strerror(errno)};
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return error{errc::unavailable, path.string() + ": cannot stat: " + std::strerror(e)};
  }
  auto map = std::make_shared<mapping>();
  map->len = static_cast<std::size_t>(st.st_size);
  if (map->len > 0) {
    void* a = ::mmap(nullptr, map->len, PROT_READ, MAP_PRIVATE, fd, 0);
    if (a == MAP_FAILED) {
      int e = errno;
      ::close(fd);
      return error{errc::unavailable, path.string() + ": cannot mmap: " + std::strerror(e)};
    }
    map->addr = a;
  }
  ::close(fd);
  std::span<const std::byte> bytes(static_cast<const std::byte*>(map->addr), map->len);
  auto f = parse(bytes, label);
  if (!f) return f.error();
  f->map_ = std::move(map);
  return f;
}

}  // namespace aikid::embedding
