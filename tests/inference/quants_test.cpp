// Tensor types and kernels:
//  - dequantisation of F32/F16/BF16/Q8_0/Q4_0/Q4_1 equals the gguf package's
//    (fixtures/quants.json), also on rows of the real SmolLM2 file;
//  - fp32 -> fp16 / bf16 rounding equals numpy / gguf;
//  - Q8_0 / Q8_1 activation quantisers follow ggml's x86 definition;
//  - every kernel table the CPU offers equals the portable reference bit for
//    bit, and the quantised dots approximate the float dot of the
//    dequantised rows;
//  - Q5_0/Q5_1 and the K-quants (fixtures/kquants.json): dequantisation
//    equals the gguf package's, and every table's activation conversion
//    (Q8_0/Q8_1/Q8_K) and dot equal llama.cpp's own CPU kernels bit for bit;
//    the Q8_K quantiser follows ggml's quantize_row_q8_K_ref.
#define BOOST_TEST_MODULE inference_quants
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <cstring>
#include <random>
#include <set>

#include "actors/inference/gguf.hpp"
#include "actors/inference/kernels.hpp"
#include "actors/inference/quants.hpp"

using namespace aikid::inference;
using json = nlohmann::json;

namespace {

const json& fixture() {
  static const json fx = [] {
    std::ifstream in(std::string(AIKID_SOURCE_DIR) + "/tests/inference/fixtures/quants.json");
    BOOST_REQUIRE_MESSAGE(in, "fixture quants.json missing");
    return json::parse(in);
  }();
  return fx;
}

std::vector<std::uint8_t> from_hex(const std::string& h) {
  std::vector<std::uint8_t> out(h.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = std::uint8_t(std::stoi(h.substr(2 * i, 2), nullptr, 16));
  return out;
}

bool same_float(float a, float b) { return a == b || (std::isnan(a) && std::isnan(b)); }

const json& kfixture() {
  static const json fx = [] {
    std::ifstream in(std::string(AIKID_SOURCE_DIR) + "/tests/inference/fixtures/kquants.json");
    BOOST_REQUIRE_MESSAGE(in, "fixture kquants.json missing");
    return json::parse(in);
  }();
  return fx;
}

// Every table this CPU can run, the portable one first.
std::vector<const kernel_table*> all_tables() {
  std::vector<const kernel_table*> tables{&kernels_portable(), &kernels_select()};
  if (cpu_has_avx2()) tables.push_back(kernels_avx2());
  if (cpu_has_avx512_vnni()) tables.push_back(kernels_avx512());
  return tables;
}

}  // namespace

BOOST_AUTO_TEST_CASE(type_table) {
  BOOST_CHECK_EQUAL(type_name(3), "Q4_1");
  BOOST_CHECK_EQUAL(type_name(14), "Q6_K");
  BOOST_CHECK_EQUAL(type_name(999), "type#999");
  for (auto id : {0u, 1u, 2u, 3u, 6u, 7u, 8u, 10u, 11u, 12u, 13u, 14u, 30u}) BOOST_CHECK(type_traits_of(id)->supported);
  for (auto id : {9u, 15u, 20u, 23u}) BOOST_CHECK(!type_traits_of(id)->supported);
  BOOST_CHECK_EQUAL(type_traits_of(12)->block, 256);
  BOOST_CHECK_EQUAL(type_traits_of(12)->block_bytes, 144);
  BOOST_CHECK_EQUAL(type_traits_of(14)->block_bytes, 210);
  BOOST_CHECK_EQUAL(type_traits_of(6)->block_bytes, 22);
  BOOST_CHECK_EQUAL(type_traits_of(7)->block_bytes, 24);
  BOOST_CHECK_EQUAL(type_traits_of(3)->block_bytes, 20);
  BOOST_CHECK_EQUAL(type_traits_of(8)->block_bytes, 34);
}

BOOST_AUTO_TEST_CASE(dequantize_matches_gguf_package) {
  int n_types = 0;
  for (const auto& c : fixture()["blocks"]) {
    const auto bytes = from_hex(c["bytes"].get<std::string>());
    const auto want = c["values"].get<std::vector<float>>();
    const auto n = c["n"].get<std::int64_t>();
    const auto tr = type_traits_of(c["type_id"].get<std::uint32_t>());
    BOOST_REQUIRE(tr && tr->supported);
    BOOST_REQUIRE_EQUAL(bytes.size(), std::size_t(n / tr->block * tr->block_bytes));
    std::vector<float> got(static_cast<std::size_t>(n));
    dequantize_row(ggml_type(c["type_id"].get<std::uint32_t>()), bytes.data(), got.data(), n);
    int bad = 0;
    for (std::size_t i = 0; i < got.size(); ++i) bad += !same_float(got[i], want[i]);
    BOOST_CHECK_MESSAGE(bad == 0, c["type"].get<std::string>() << ": " << bad << " values differ");
    ++n_types;
  }
  BOOST_CHECK_EQUAL(n_types, 6);
}

BOOST_AUTO_TEST_CASE(kquant_dequantize_matches_gguf_package) {
  std::set<std::string> types;
  for (const auto& c : kfixture()["blocks"]) {
    const auto bytes = from_hex(c["bytes"].get<std::string>());
    const auto want = c["values"].get<std::vector<float>>();
    const auto n = c["n"].get<std::int64_t>();
    const auto id = c["type_id"].get<std::uint32_t>();
    const auto tr = type_traits_of(id);
    BOOST_REQUIRE(tr);
    BOOST_REQUIRE_EQUAL(bytes.size(), std::size_t(n / tr->block * tr->block_bytes));
    std::vector<float> got(static_cast<std::size_t>(n));
    dequantize_row(ggml_type(id), bytes.data(), got.data(), n);
    int bad = 0;
    for (std::size_t i = 0; i < got.size(); ++i) bad += !same_float(got[i], want[i]);
    BOOST_CHECK_MESSAGE(bad == 0, c["type"].get<std::string>() << ": " << bad << " of " << n << " values differ");
    types.insert(c["type"].get<std::string>());
  }
  BOOST_CHECK_EQUAL(types.size(), 7u);  // Q5_0 Q5_1 Q2_K Q3_K Q4_K Q5_K Q6_K
}

BOOST_AUTO_TEST_CASE(dots_equal_llama_cpp_kernels) {
  // llama.cpp's from_float and vec_dot (its CPU build on the fixture's
  // machine) against every table here, for the types this engine multiplies.
  int checked = 0;
  for (const auto& c : kfixture()["dots"]) {
    const auto id = c["type_id"].get<std::uint32_t>();
    BOOST_REQUIRE(type_traits_of(id)->supported);
    const auto t = ggml_type(id);
    const auto n = c["n"].get<std::int64_t>();
    const auto xb = from_hex(c["x"].get<std::string>());
    std::vector<float> x(static_cast<std::size_t>(n));
    BOOST_REQUIRE_EQUAL(xb.size(), x.size() * 4);
    std::memcpy(x.data(), xb.data(), xb.size());
    const auto w = from_hex(c["w"].get<std::string>());
    const auto act = from_hex(c["act"].get<std::string>());
    const float want = c["dot"].get<float>();
    BOOST_CHECK_EQUAL(std::uint32_t(vec_dot_type(t)), c["vec_dot_type"].get<std::uint32_t>());
    for (const kernel_table* k : all_tables()) {
      activation a;
      activation_quantize(*k, t, x.data(), n, a);
      BOOST_REQUIRE_EQUAL(a.data.size(), act.size());
      BOOST_CHECK_MESSAGE(std::memcmp(a.data.data(), act.data(), act.size()) == 0,
                          k->name << " " << type_name(t) << " n " << n << ": activation differs from llama.cpp's");
      const float got = row_dot(*k, t, n, w.data(), a);
      BOOST_CHECK_MESSAGE(std::memcmp(&got, &want, 4) == 0, k->name << " " << type_name(t) << " n " << n << ": " << got
                                                                 << " != llama.cpp " << want);
    }
    ++checked;
  }
  BOOST_CHECK_EQUAL(checked, 42);  // 7 types x 6 rows
}

BOOST_AUTO_TEST_CASE(q8_k_quantiser_follows_ggml_ref) {
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.f, 3.f);
  std::vector<float> x(1024);
  for (auto& v : x) v = nd(rng);
  std::fill(x.begin() + 256, x.begin() + 512, 0.0f);  // an all-zero block
  x[600] = -50.f;                                     // negative extreme: d > 0
  x[900] = 40.f;                                      // positive extreme: d < 0
  std::vector<block_q8_k> y(4);
  quantize_row_q8_k(x.data(), y.data(), 1024);
  BOOST_CHECK_EQUAL(y[1].d, 0.f);
  for (int j = 0; j < 256; ++j) BOOST_REQUIRE_EQUAL(int(y[1].qs[j]), 0);
  BOOST_CHECK_GT(y[2].d, 0.f);
  BOOST_CHECK_LT(y[3].d, 0.f);
  for (int b : {0, 2, 3}) {
    float mx = 0, amax = 0;
    for (int j = 0; j < 256; ++j) {
      const float v = x[std::size_t(b * 256 + j)];
      if (std::fabs(v) > amax) amax = std::fabs(v), mx = v;
    }
    const float iscale = -127.f / mx;
    BOOST_CHECK_EQUAL(y[std::size_t(b)].d, 1 / iscale);
    for (int g = 0; g < 16; ++g) {
      int sum = 0;
      for (int j = 16 * g; j < 16 * g + 16; ++j) {
        const int want = std::min(127, int(std::nearbyint(iscale * x[std::size_t(b * 256 + j)])));
        BOOST_REQUIRE_EQUAL(int(y[std::size_t(b)].qs[j]), want);
        sum += want;
      }
      BOOST_CHECK_EQUAL(int(y[std::size_t(b)].bsums[g]), sum);
    }
  }
}

BOOST_AUTO_TEST_CASE(dequantize_real_file_rows) {
  auto f = gguf_file::open(std::filesystem::path(AIKID_MODELS_DIR) / "SmolLM2-135M-Instruct.Q4_1.gguf");
  BOOST_REQUIRE_MESSAGE(f, (f ? "" : f.error().message));
  for (const auto& r : fixture()["file_rows"]) {
    const gguf_tensor* t = (*f)->find_tensor(r["tensor"].get<std::string>());
    BOOST_REQUIRE(t);
    BOOST_CHECK_EQUAL(type_name(t->type), r["type"].get<std::string>());
    const auto tr = type_traits_of(std::uint32_t(t->type));
    const std::size_t row_bytes = std::size_t(t->ne[0] / tr->block * tr->block_bytes);
    std::size_t ri = 0;
    for (const auto& row : r["rows"]) {
      const auto want = row.get<std::vector<float>>();
      std::vector<float> got(want.size());
      dequantize_row(t->type, t->data + ri * row_bytes, got.data(), std::int64_t(got.size()));
      BOOST_CHECK_MESSAGE(got == want, r["tensor"].get<std::string>() << " row " << ri);
      ++ri;
    }
  }
}

BOOST_AUTO_TEST_CASE(half_and_bfloat_rounding_match_numpy) {
  const auto& h = fixture()["to_half"];
  const auto xs = h["x"].get<std::vector<float>>();
  const auto f16 = h["f16"].get<std::vector<int>>();
  const auto bf16 = h["bf16"].get<std::vector<int>>();
  int bad16 = 0, badbf = 0;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    bad16 += fp32_to_fp16(xs[i]) != std::uint16_t(f16[i]);
    badbf += fp32_to_bf16(xs[i]) != std::uint16_t(bf16[i]);
  }
  BOOST_CHECK_EQUAL(bad16, 0);
  BOOST_CHECK_EQUAL(badbf, 0);
  // table lookup equals computed conversion for every half
  for (std::uint32_t u = 0; u < 65536; ++u) {
    BOOST_REQUIRE(same_float(fp16_to_fp32(std::uint16_t(u)), fp16_to_fp32_compute(std::uint16_t(u))));
    if (!std::isnan(fp16_to_fp32(std::uint16_t(u)))) {
      BOOST_REQUIRE_EQUAL(fp32_to_fp16(fp16_to_fp32(std::uint16_t(u))), std::uint16_t(u));  // round trip
    }
  }
}

BOOST_AUTO_TEST_CASE(activation_quantisers_follow_ggml_x86) {
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.f, 2.f);
  std::vector<float> x(256);
  for (auto& v : x) v = nd(rng);
  x[3] = 0;
  std::fill(x.begin() + 32, x.begin() + 64, 0.0f);  // an all-zero block
  std::vector<block_q8_1> q1(8);
  std::vector<block_q8_0> q0(8);
  quantize_row_q8_1(x.data(), q1.data(), 256);
  quantize_row_q8_0(x.data(), q0.data(), 256);
  for (int b = 0; b < 8; ++b) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[std::size_t(b * 32 + j)]));
    BOOST_CHECK_EQUAL(q1[std::size_t(b)].d, fp32_to_fp16(amax / 127.f));
    BOOST_CHECK_EQUAL(q0[std::size_t(b)].d, q1[std::size_t(b)].d);
    int sum = 0;
    for (int j = 0; j < 32; ++j) {
      const float id = amax != 0 ? 127.f / amax : 0.f;
      const int want = int(std::nearbyint(x[std::size_t(b * 32 + j)] * id));  // ties to even
      BOOST_CHECK_EQUAL(int(q1[std::size_t(b)].qs[j]), want);
      BOOST_CHECK_EQUAL(int(q0[std::size_t(b)].qs[j]), want);
      BOOST_CHECK_LE(std::abs(want), 127);
      sum += want;
    }
    BOOST_CHECK_EQUAL(q1[std::size_t(b)].s, fp32_to_fp16(amax / 127.f * float(sum)));
  }
  BOOST_CHECK_EQUAL(q1[1].d, 0);  // zero block: d = 0, q = 0
}

namespace {

// Random but valid blocks of weight type t (n elements).
std::vector<std::byte> random_row(ggml_type t, int n, std::mt19937& rng) {
  const auto tr = type_traits_of(std::uint32_t(t));
  std::vector<std::byte> out(std::size_t(n / tr->block * tr->block_bytes));
  std::uniform_int_distribution<int> byte(0, 255);
  for (auto& b : out) b = std::byte(byte(rng));
  // keep scales finite and moderate: rewrite the fp16 fields
  std::normal_distribution<float> nd(0.f, 0.02f);
  const int nb = n / tr->block;
  // offsets of the fp16 scale and min (-1: none)
  int d_at = 0, m_at = -1;
  if (t == ggml_type::q4_1 || t == ggml_type::q5_1 || t == ggml_type::q4_k || t == ggml_type::q5_k) m_at = 2;
  if (t == ggml_type::q6_k) d_at = 208;
  if (t == ggml_type::q3_k) d_at = 108;
  if (t == ggml_type::q2_k) d_at = 80, m_at = 82;
  for (int i = 0; i < nb; ++i) {
    std::byte* blk = out.data() + std::size_t(i * tr->block_bytes);
    const std::uint16_t d = fp32_to_fp16(std::fabs(nd(rng)) + 1e-4f), m = fp32_to_fp16(nd(rng));
    std::memcpy(blk + d_at, &d, 2);
    if (m_at >= 0) std::memcpy(blk + m_at, &m, 2);
    if (t == ggml_type::q8_0) {
      for (int j = 0; j < 32; ++j) {
        if (std::int8_t(blk[2 + j]) == -128) blk[2 + j] = std::byte(0x81);  // ggml never writes -128
      }
    }
  }
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(kernel_tables_equal_portable_reference) {
  std::vector<const kernel_table*> tables{&kernels_portable(), &kernels_select()};
  if (cpu_has_avx2()) tables.push_back(kernels_avx2());
  if (cpu_has_avx512_vnni()) tables.push_back(kernels_avx512());
  BOOST_TEST_MESSAGE("kernels_select() = " << kernels_select().name);
  std::mt19937 rng(42);
  std::normal_distribution<float> nd(0.f, 1.f);
  for (ggml_type t : {ggml_type::q4_0, ggml_type::q4_1, ggml_type::q8_0, ggml_type::f16, ggml_type::bf16,
                      ggml_type::f32, ggml_type::q5_0, ggml_type::q5_1, ggml_type::q2_k, ggml_type::q3_k,
                      ggml_type::q4_k, ggml_type::q5_k, ggml_type::q6_k}) {
    const int n = type_traits_of(std::uint32_t(t))->block == 256 ? 1536 : 576;
    for (int trial = 0; trial < 50; ++trial) {
      std::vector<std::byte> w;
      if (t == ggml_type::f16 || t == ggml_type::bf16 || t == ggml_type::f32) {
        std::vector<float> wf(n);
        for (auto& v : wf) v = nd(rng) * 0.05f;
        const std::size_t es = t == ggml_type::f32 ? 4 : 2;
        w.resize(std::size_t(n) * es);
        for (int i = 0; i < n; ++i) {
          if (t == ggml_type::f32) {
            std::memcpy(w.data() + 4 * i, &wf[std::size_t(i)], 4);
          } else {
            const std::uint16_t h = t == ggml_type::f16 ? fp32_to_fp16(wf[std::size_t(i)]) : fp32_to_bf16(wf[std::size_t(i)]);
            std::memcpy(w.data() + 2 * i, &h, 2);
          }
        }
      } else {
        w = random_row(t, n, rng);
      }
      std::vector<float> x(n);
      for (auto& v : x) v = nd(rng);
      activation a;
      activation_quantize(kernels_portable(), t, x.data(), n, a);
      const float ref = row_dot(kernels_portable(), t, n, w.data(), a);
      for (const kernel_table* k : tables) {
        activation ak;
        activation_quantize(*k, t, x.data(), n, ak);
        BOOST_REQUIRE(ak.data == a.data);
        const float got = row_dot(*k, t, n, w.data(), ak);
        BOOST_REQUIRE_MESSAGE(std::memcmp(&got, &ref, 4) == 0,
                              k->name << " " << type_name(t) << ": " << got << " != portable " << ref);
      }
      // and the quantised dot approximates the float dot of dequantised weights
      std::vector<float> wd(n);
      dequantize_row(t, w.data(), wd.data(), n);
      double exact = 0, mag = 0;
      for (int i = 0; i < n; ++i) {
        exact += double(wd[std::size_t(i)]) * x[std::size_t(i)];
        mag += std::fabs(double(wd[std::size_t(i)]) * x[std::size_t(i)]);
      }
      BOOST_CHECK_SMALL(double(ref) - exact, 0.02 * mag + 1e-6);
    }
  }
}

BOOST_AUTO_TEST_CASE(multi_row_kernels_equal_single_row_reference) {
  // rows_* (4-row interleaved in the fast tables, plus tails) == portable dot per row
  std::vector<const kernel_table*> tables{&kernels_portable(), &kernels_select()};
  if (cpu_has_avx2()) tables.push_back(kernels_avx2());
  if (cpu_has_avx512_vnni()) tables.push_back(kernels_avx512());
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.f, 1.f);
  const int n = 1536, rows = 11;
  for (ggml_type t : {ggml_type::q4_0, ggml_type::q4_1, ggml_type::q8_0, ggml_type::q5_0, ggml_type::q5_1,
                      ggml_type::q2_k, ggml_type::q3_k, ggml_type::q4_k, ggml_type::q5_k, ggml_type::q6_k}) {
    std::vector<std::byte> w;
    std::size_t rb = 0;
    for (int r = 0; r < rows; ++r) {
      auto row = random_row(t, n, rng);
      rb = row.size();
      w.insert(w.end(), row.begin(), row.end());
    }
    weight_view wv{t, n, rows, rb, w.data()};
    std::vector<float> x(n);
    for (auto& v : x) v = nd(rng);
    activation a;
    activation_quantize(kernels_portable(), t, x.data(), n, a);
    for (const kernel_table* k : tables) {
      std::vector<float> y(rows, -1.f);
      matvec(*k, wv, a, y.data(), 0, rows);
      std::vector<activation> acts(3, a);
      std::vector<float> yy(std::size_t(3 * rows), -1.f);
      matmul_rows(*k, wv, acts.data(), 3, yy.data(), std::size_t(rows), 1, rows);
      for (int r = 0; r < rows; ++r) {
        const float ref = row_dot(kernels_portable(), t, n, wv.row(r), a);
        BOOST_REQUIRE_MESSAGE(std::memcmp(&y[std::size_t(r)], &ref, 4) == 0, k->name << " " << type_name(t) << " row " << r);
        for (int tt = 0; tt < 3; ++tt) {
          const float got = yy[std::size_t(tt * rows + r)];
          if (r == 0) BOOST_CHECK_EQUAL(got, -1.f);
          else BOOST_REQUIRE(std::memcmp(&got, &ref, 4) == 0);
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(attention_kernels_equal_portable_reference) {
  std::vector<const kernel_table*> tables{&kernels_select()};
  if (cpu_has_avx2()) tables.push_back(kernels_avx2());
  if (cpu_has_avx512_vnni()) tables.push_back(kernels_avx512());
  const kernel_table& ref = kernels_portable();
  std::mt19937 rng(11);
  std::normal_distribution<float> nd(0.f, 1.f);
  const int hd = 64, stride = 192;
  for (int n_kv : {1, 5, 16, 17, 63, 64, 65, 200, 1100}) {
    std::vector<std::uint16_t> v(std::size_t(n_kv) * stride), p(static_cast<std::size_t>(n_kv)), q(hd);
    for (auto& e : v) e = fp32_to_fp16(nd(rng));
    for (auto& e : p) e = fp32_to_fp16(std::fabs(nd(rng)) / float(n_kv));
    for (auto& e : q) e = fp32_to_fp16(nd(rng));
    for (bool batched : {false, true}) {
      std::vector<float> acc(std::size_t(hd) * 64), want(hd), got(hd);
      ref.attn_weighted_sum(batched, n_kv, hd, v.data() + 64, stride, p.data(), want.data(), acc.data());
      const float dwant = ref.attn_dot_f16(batched, hd, v.data() + std::size_t(n_kv - 1) * stride, q.data());
      for (const kernel_table* k : tables) {
        std::fill(acc.begin(), acc.end(), 123.f);  // kernels must not rely on a zeroed scratch
        k->attn_weighted_sum(batched, n_kv, hd, v.data() + 64, stride, p.data(), got.data(), acc.data());
        BOOST_REQUIRE_MESSAGE(std::memcmp(got.data(), want.data(), 4 * std::size_t(hd)) == 0,
                              k->name << " attn_weighted_sum n_kv " << n_kv << " batched " << batched);
        const float dgot = k->attn_dot_f16(batched, hd, v.data() + std::size_t(n_kv - 1) * stride, q.data());
        BOOST_REQUIRE_MESSAGE(std::memcmp(&dgot, &dwant, 4) == 0, k->name << " attn_dot_f16 " << n_kv);
        // the scores of a whole head: each equal to attn_dot_f16 * scale, and their max
        std::vector<float> sgot(static_cast<std::size_t>(n_kv)), swant(static_cast<std::size_t>(n_kv));
        const float mwant = ref.attn_scores(batched, n_kv, hd, v.data() + 64, stride, q.data(), 0.125f, swant.data());
        const float mgot = k->attn_scores(batched, n_kv, hd, v.data() + 64, stride, q.data(), 0.125f, sgot.data());
        BOOST_REQUIRE_MESSAGE(std::memcmp(sgot.data(), swant.data(), 4 * std::size_t(n_kv)) == 0 && mgot == mwant,
                              k->name << " attn_scores n_kv " << n_kv << " batched " << batched);
        for (int j = 0; j < n_kv; j += 37) {
          const float one = ref.attn_dot_f16(batched, hd, v.data() + 64 + std::size_t(j) * stride, q.data()) * 0.125f;
          BOOST_REQUIRE(std::memcmp(&one, &swant[std::size_t(j)], 4) == 0);
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(matvec_rows_and_ranges) {
  std::mt19937 rng(3);
  const int n = 64, rows = 7;
  std::vector<std::byte> w;
  for (int r = 0; r < rows; ++r) {
    auto row = random_row(ggml_type::q4_1, n, rng);
    w.insert(w.end(), row.begin(), row.end());
  }
  weight_view wv{ggml_type::q4_1, n, rows, std::size_t(n / 32 * 20), w.data()};
  std::vector<float> x(n, 0.5f), y(rows, -1.f), y2(rows, -1.f);
  activation a;
  matvec(kernels_select(), wv, x.data(), y.data(), a);
  matvec(kernels_select(), wv, a, y2.data(), 2, 5);
  for (int r = 0; r < rows; ++r) {
    BOOST_CHECK_EQUAL(y[std::size_t(r)], row_dot(kernels_portable(), ggml_type::q4_1, n, wv.row(r), a));
    if (r >= 2 && r < 5) BOOST_CHECK_EQUAL(y2[std::size_t(r)], y[std::size_t(r)]);
    else BOOST_CHECK_EQUAL(y2[std::size_t(r)], -1.f);
  }
}

BOOST_AUTO_TEST_CASE(packed_kernels_equal_single_row_reference) {
  // A table with a packed layout (avx512): pack, then matmul_rows over whole
  // and cut ranges, 1..9 tokens (tiles of 4 and their tails) == portable dot.
  std::vector<const kernel_table*> tables;
  if (cpu_has_avx512_vnni()) tables.push_back(kernels_avx512());
  if (tables.empty()) {
    BOOST_TEST_MESSAGE("no table with a packed layout on this CPU; the row kernels cover it");
    return;
  }
  std::mt19937 rng(19);
  std::normal_distribution<float> nd(0.f, 1.f);
  for (const kernel_table* k : tables) {
    BOOST_REQUIRE(k->pack_bytes && k->pack && k->matmul_packed);
    BOOST_CHECK_EQUAL(k->pack_bytes(ggml_type::q4_1, 64, 6), 0u);   // rows not a multiple of 4
    BOOST_CHECK_EQUAL(k->pack_bytes(ggml_type::f16, 64, 8), 0u);    // a type it does not pack
    for (ggml_type t : {ggml_type::q4_1, ggml_type::q8_0}) {
      for (int n : {32, 576, 1536}) {
        const int rows = 12;
        std::vector<std::byte> w;
        std::size_t rb = 0;
        for (int r = 0; r < rows; ++r) {
          auto row = random_row(t, n, rng);
          rb = row.size();
          w.insert(w.end(), row.begin(), row.end());
        }
        const weight_view rv{t, n, rows, rb, w.data()};
        std::vector<std::byte> packed(k->pack_bytes(t, n, rows));
        BOOST_REQUIRE_EQUAL(packed.size(), w.size());
        k->pack(t, n, rows, w.data(), rb, packed.data());
        weight_view pv = rv;
        pv.data = packed.data();
        pv.packed_by = k;
        for (int nt : {1, 2, 3, 4, 5, 9}) {
          std::vector<activation> acts(static_cast<std::size_t>(nt));
          for (auto& a : acts) {
            std::vector<float> x(static_cast<std::size_t>(n));
            for (auto& v : x) v = nd(rng);
            activation_quantize(kernels_portable(), t, x.data(), n, a);
          }
          for (auto [r0, r1] : {std::pair{0, rows}, std::pair{4, 8}, std::pair{1, 11}, std::pair{5, 6}}) {
            std::vector<float> y(std::size_t(nt * rows), -1.f);
            matmul_rows(*k, pv, acts.data(), nt, y.data(), std::size_t(rows), r0, r1);
            for (int tt = 0; tt < nt; ++tt) {
              for (int r = 0; r < rows; ++r) {
                const float got = y[std::size_t(tt * rows + r)];
                if (r < r0 || r >= r1) {
                  BOOST_REQUIRE_MESSAGE(got == -1.f, "row " << r << " outside [" << r0 << "," << r1 << ") was written");
                  continue;
                }
                const float ref = row_dot(kernels_portable(), t, n, rv.row(r), acts[std::size_t(tt)]);
                BOOST_REQUIRE_MESSAGE(std::memcmp(&got, &ref, 4) == 0, k->name << " packed " << type_name(t) << " n " << n
                                                                            << " nt " << nt << " row " << r << ": "
                                                                            << got << " != " << ref);
              }
            }
          }
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(elementwise_kernels_equal_portable_reference) {
  // silu_mul, softmax_exp and to_fp16 of every table == the portable ones,
  // bit for bit, over ordinary values, the exp overflow/underflow range,
  // halves' subnormals and overflow, and lengths with 16-lane tails.
  std::vector<const kernel_table*> tables{&kernels_select()};
  if (cpu_has_avx2()) tables.push_back(kernels_avx2());
  if (cpu_has_avx512_vnni()) tables.push_back(kernels_avx512());
  const kernel_table& ref = kernels_portable();
  std::mt19937 rng(23);
  std::normal_distribution<float> nd(0.f, 1.f);
  for (float scale : {1.f, 8.f, 100.f, 1e-6f, 7e4f}) {
    for (int n : {1, 15, 16, 17, 64, 577, 1536}) {
      std::vector<float> g(static_cast<std::size_t>(n)), u(static_cast<std::size_t>(n));
      for (auto& v : g) v = nd(rng) * scale;
      for (auto& v : u) v = nd(rng);
      if (n > 3) { g[0] = 0.f; g[1] = -0.f; g[2] = 200.f * (scale > 50 ? 1 : -1); }
      const float mx = *std::max_element(g.begin(), g.end());
      std::vector<float> want_s = g, want_x = g;
      std::vector<std::uint16_t> want_h(static_cast<std::size_t>(n));
      ref.silu_mul(want_s.data(), u.data(), n);
      const double want_sum = ref.softmax_exp(want_x.data(), n, mx);
      ref.to_fp16(g.data(), want_h.data(), n);
      for (const kernel_table* k : tables) {
        std::vector<float> s = g, x = g;
        std::vector<std::uint16_t> h(static_cast<std::size_t>(n));
        k->silu_mul(s.data(), u.data(), n);
        const double sum = k->softmax_exp(x.data(), n, mx);
        k->to_fp16(g.data(), h.data(), n);
        BOOST_REQUIRE_MESSAGE(std::memcmp(s.data(), want_s.data(), 4 * std::size_t(n)) == 0, k->name << " silu_mul n " << n << " scale " << scale);
        BOOST_REQUIRE_MESSAGE(std::memcmp(x.data(), want_x.data(), 4 * std::size_t(n)) == 0, k->name << " softmax_exp n " << n << " scale " << scale);
        BOOST_REQUIRE_MESSAGE(std::memcmp(&sum, &want_sum, 8) == 0, k->name << " softmax sum n " << n);
        BOOST_REQUIRE_MESSAGE(h == want_h, k->name << " to_fp16 n " << n << " scale " << scale);
      }
      if (n % qk == 0) {  // the activation quantisers, with an all-zero block first
        std::vector<float> xq = g;
        std::fill(xq.begin(), xq.begin() + qk, 0.f);
        std::vector<block_q8_0> w0(std::size_t(n / qk));
        std::vector<block_q8_1> w1(std::size_t(n / qk));
        ref.quantize_q8_0(xq.data(), w0.data(), n);
        ref.quantize_q8_1(xq.data(), w1.data(), n);
        for (const kernel_table* k : tables) {
          std::vector<block_q8_0> g0(w0.size());
          std::vector<block_q8_1> g1(w1.size());
          k->quantize_q8_0(xq.data(), g0.data(), n);
          k->quantize_q8_1(xq.data(), g1.data(), n);
          BOOST_REQUIRE_MESSAGE(std::memcmp(g0.data(), w0.data(), g0.size() * sizeof(block_q8_0)) == 0, k->name << " quantize_q8_0 n " << n << " scale " << scale);
          BOOST_REQUIRE_MESSAGE(std::memcmp(g1.data(), w1.data(), g1.size() * sizeof(block_q8_1)) == 0, k->name << " quantize_q8_1 n " << n << " scale " << scale);
        }
      }
    }
  }
}
