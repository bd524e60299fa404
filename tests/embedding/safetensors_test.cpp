// safetensors reader: valid files load; every kind of corrupt or truncated
// file is a clear errc::unavailable naming what is wrong.
#define BOOST_TEST_MODULE embedding_safetensors
#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "actors/embedding/safetensors.hpp"
#include "test_print.hpp"

using namespace aikid;
using namespace aikid::embedding;
namespace fs = std::filesystem;

namespace {

// u64 LE header length + header + buffer.
std::vector<std::byte> make_file(const std::string& header, std::size_t buffer_bytes, std::uint64_t len_override = 0) {
  std::vector<std::byte> f(8 + header.size() + buffer_bytes);
  std::uint64_t n = len_override ? len_override : header.size();
  for (int i = 0; i < 8; ++i) f[i] = static_cast<std::byte>((n >> (8 * i)) & 0xFF);
  std::memcpy(f.data() + 8, header.data(), header.size());
  for (std::size_t i = 0; i < buffer_bytes; ++i) f[8 + header.size() + i] = static_cast<std::byte>(i & 0xFF);
  return f;
}

// Parses and expects failure whose message contains `needle`.
void expect_error(const std::vector<std::byte>& bytes, const std::string& needle) {
  auto r = st_file::parse(bytes, "t.safetensors");
  BOOST_TEST_CONTEXT("expecting error containing '" << needle << "'") {
    BOOST_REQUIRE(!r.has_value());
    BOOST_TEST(r.error().code == errc::unavailable);
    BOOST_TEST(r.error().message.find("t.safetensors: ") == 0u, r.error().message);
    BOOST_TEST(r.error().message.find(needle) != std::string::npos, r.error().message);
  }
}

const std::string k_good =
    R"({"__metadata__":{"format":"pt"},"b":{"dtype":"I64","shape":[],"data_offsets":[24,32]},)"
    R"("a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"e":{"dtype":"F16","shape":[0,5],"data_offsets":[32,32]}}  )";

fs::path temp_path(const std::string& name) {
  return fs::temp_directory_path() / ("aikid_st_test_" + std::to_string(::getpid()) + "_" + name);
}

}  // namespace

BOOST_AUTO_TEST_CASE(valid_file_parses) {
  auto bytes = make_file(k_good, 32);
  auto r = st_file::parse(bytes, "t.safetensors");
  BOOST_REQUIRE_MESSAGE(r.has_value(), (r ? std::string() : r.error().message));
  BOOST_TEST(r->tensors().size() == 3u);
  BOOST_TEST(r->tensors()[0].name == "a");  // sorted by offset
  const st_tensor* a = r->find("a");
  BOOST_REQUIRE(a);
  BOOST_TEST(a->dtype == st_dtype::F32);
  BOOST_TEST(a->n_elements() == 6u);
  BOOST_TEST((a->shape == std::vector<std::int64_t>{2, 3}));
  BOOST_TEST(a->data == bytes.data() + 8 + k_good.size());
  const st_tensor* b = r->find("b");
  BOOST_REQUIRE(b);
  BOOST_TEST(b->shape.empty());
  BOOST_TEST(b->n_elements() == 1u);
  BOOST_TEST(r->find("e")->n_elements() == 0u);
  BOOST_TEST(r->find("missing") == nullptr);
  BOOST_TEST(r->metadata().at("format") == "pt");
  BOOST_TEST(r->header().size() == k_good.size());
}

BOOST_AUTO_TEST_CASE(empty_header_object_is_valid) {
  auto r = st_file::parse(make_file("{}", 0), "t.safetensors");
  BOOST_REQUIRE_MESSAGE(r.has_value(), (r ? std::string() : r.error().message));
  BOOST_TEST(r->tensors().empty());
}

BOOST_AUTO_TEST_CASE(too_short_for_length) {
  std::vector<std::byte> b(7);
  expect_error(b, "too short");
  expect_error({}, "too short");
}

BOOST_AUTO_TEST_CASE(header_length_limits) {
  expect_error(make_file("{}", 0, 100'000'001), "exceeds the limit");
  expect_error(make_file("{}", 0, 50), "runs past the end of the file");
  expect_error(make_file("{}", 0, ~0ull), "exceeds the limit");
}

BOOST_AUTO_TEST_CASE(header_not_json_object) {
  expect_error(make_file("[1,2]", 0), "does not start with '{'");
  expect_error(make_file("   ", 0), "does not start with '{'");
  expect_error(make_file(R"({"a":)", 0), "not valid JSON");
  expect_error(make_file(R"({} x)", 0), "not valid JSON");
  expect_error(make_file(std::string("{}\0\0", 4), 0), "NUL byte at header offset 2");
  expect_error(make_file(R"({"a":{}})", 0), "tensor 'a': dtype missing");
  expect_error(make_file("{\"\xff\":{}}", 0), "not valid JSON");  // invalid UTF-8
  expect_error(make_file(R"({"a":5})", 0), "entry 'a' is a number, not an object");
}

BOOST_AUTO_TEST_CASE(duplicate_keys) {
  expect_error(make_file(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})", 2),
               "duplicate key 'a'");
  expect_error(make_file(R"({"a":{"dtype":"U8","dtype":"U8","shape":[1],"data_offsets":[0,1]}})", 1),
               "duplicate field 'dtype'");
  expect_error(make_file(R"({"__metadata__":{"x":"1","x":"2"}})", 0), "__metadata__: duplicate key 'x'");
}

BOOST_AUTO_TEST_CASE(bad_tensor_fields) {
  expect_error(make_file(R"({"a":{"dtype":"F31","shape":[1],"data_offsets":[0,4]}})", 4), "unknown dtype 'F31'");
  expect_error(make_file(R"({"a":{"dtype":7,"shape":[1],"data_offsets":[0,4]}})", 4), "dtype is a number");
  expect_error(make_file(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4), "negative");
  expect_error(make_file(R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", 4), "non-integer");
  expect_error(make_file(R"({"a":{"dtype":"F32","shape":[[1]],"data_offsets":[0,4]}})", 4), "shape holds an array");
  expect_error(make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}})", 8), "more than 2");
  expect_error(make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", 4), "needs 2 entries");
  expect_error(make_file(R"({"a":{"dtype":"F32","shape":[1]}})", 4), "data_offsets missing");
  expect_error(make_file(R"({"a":{"shape":[1],"data_offsets":[0,4]}})", 4), "dtype missing");
  expect_error(make_file(R"({"a":{"dtype":"F32","data_offsets":[0,4]}})", 4), "shape missing");
  expect_error(make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}})", 4), "unknown field 'x'");
  expect_error(make_file(R"({"__metadata__":{"x":1}})", 0), "__metadata__: value of 'x' is a number");
  expect_error(make_file(R"({"a":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,4]}})", 4),
               "tensor 'a'");
}

BOOST_AUTO_TEST_CASE(bad_layout) {
  // size mismatch
  expect_error(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", 4),
               "tensor 'a': data_offsets [0, 4] hold 4 bytes but F32 [2] needs 8");
  // end before begin
  expect_error(make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", 8), "end before begin");
  // hole at the start
  expect_error(make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8), "leaves a hole");
  // overlap
  expect_error(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8),
               "overlaps");
  // hole between
  expect_error(make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})", 12),
               "leaves a hole");
  // overflow of prod(shape) * size
  expect_error(make_file(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})", 4),
               "overflows");
  expect_error(make_file(R"({"a":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,4]}})", 4),
               "overflows");
  // truncated buffer
  expect_error(make_file(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 10), "past the end of the file");
  // trailing garbage
  expect_error(make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 9), "trailing garbage");
  expect_error(make_file("{}", 3), "trailing garbage");
}

BOOST_AUTO_TEST_CASE(open_missing_file) {
  auto r = st_file::open("/nonexistent/aikid/model.safetensors");
  BOOST_REQUIRE(!r.has_value());
  BOOST_TEST(r.error().code == errc::unavailable);
  BOOST_TEST(r.error().message.find("/nonexistent/aikid/model.safetensors: cannot open") == 0u, r.error().message);
}

BOOST_AUTO_TEST_CASE(open_real_model_and_truncated_copies) {
  const fs::path model = fs::path(AIKID_MODELS_DIR) / "all-MiniLM-L6-v2" / "model.safetensors";
  BOOST_REQUIRE_MESSAGE(fs::exists(model), model.string() + " missing: run the setup");
  auto r = st_file::open(model);
  BOOST_REQUIRE_MESSAGE(r.has_value(), (r ? std::string() : r.error().message));
  const st_tensor* we = r->find("embeddings.word_embeddings.weight");
  BOOST_REQUIRE(we);
  BOOST_TEST(we->dtype == st_dtype::F32);
  BOOST_TEST((we->shape == std::vector<std::int64_t>{30522, 384}));

  // Copies cut at several points, and one with a flipped header byte.
  std::vector<char> head(4096);
  {
    std::ifstream in(model, std::ios::binary);
    in.read(head.data(), static_cast<std::streamsize>(head.size()));
  }
  const std::size_t size = fs::file_size(model);
  for (std::size_t cut : {std::size_t{0}, std::size_t{5}, std::size_t{100}, std::size_t{4096}}) {
    const fs::path p = temp_path("cut" + std::to_string(cut));
    {
      std::ofstream o(p, std::ios::binary);
      o.write(head.data(), static_cast<std::streamsize>(cut));
    }
    auto t = st_file::open(p);
    fs::remove(p);
    BOOST_TEST_CONTEXT("cut at " << cut) {
      BOOST_REQUIRE(!t.has_value());
      BOOST_TEST(t.error().message.find(p.filename().string() + ": ") == 0u, t.error().message);
    }
  }
  // Same header, buffer one byte short: names the last tensor and "truncated".
  {
    auto bytes = r->bytes();
    std::vector<std::byte> copy(bytes.begin(), bytes.end() - 1);
    auto t = st_file::parse(copy, "model.safetensors");
    BOOST_REQUIRE(!t.has_value());
    BOOST_TEST(t.error().message.find("truncated") != std::string::npos, t.error().message);
    BOOST_TEST(t.error().message.find("tensor '") != std::string::npos, t.error().message);
  }
  BOOST_TEST(size > 4096u);
}
