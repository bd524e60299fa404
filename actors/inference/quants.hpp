// Tensor element types (ggml numbering), their block layouts, half/bfloat
// conversion, dequantisation and the activation quantisers (Q8_0, Q8_1, Q8_K)
// that the mat-vec kernels consume. Layouts follow ggml-common.h (model-facts
// §2); the K-quants (Q2_K..Q6_K) are super-blocks of 256 elements.
//
// Contents: ggml_type, type_traits / type_traits_of, block structs (32- and
// 256-element), half/bfloat conversion, dequantize_row, quantize_row_q8_0 /
// q8_1 / q8_K.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace aikid::inference {

enum class ggml_type : std::uint32_t {
  f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9,
  q2_k = 10, q3_k = 11, q4_k = 12, q5_k = 13, q6_k = 14, q8_k = 15,
  iq2_xxs = 16, iq2_xs = 17, iq3_xxs = 18, iq1_s = 19, iq4_nl = 20, iq3_s = 21,
  iq2_s = 22, iq4_xs = 23, i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28,
  iq1_m = 29, bf16 = 30, tq1_0 = 34, tq2_0 = 35, mxfp4 = 39,
};

struct type_traits {
  std::string_view name;   // "Q4_1"
  int block = 0;           // elements per block
  int block_bytes = 0;     // bytes per block
  bool supported = false;  // this engine can dequantise / multiply it
};

/// Traits of a known ggml type id; nullopt for ids ggml does not define.
std::optional<type_traits> type_traits_of(std::uint32_t id);
/// Name of a type id, "type#<id>" if unknown.
std::string type_name(std::uint32_t id);
inline std::string type_name(ggml_type t) { return type_name(static_cast<std::uint32_t>(t)); }

// ---- block structs (packed, little-endian) ----------------------------------
constexpr int qk = 32;  // elements per block of every *_0 / *_1 type
struct block_q4_0 { std::uint16_t d; std::uint8_t qs[qk / 2]; };
struct block_q4_1 { std::uint16_t d, m; std::uint8_t qs[qk / 2]; };
struct block_q8_0 { std::uint16_t d; std::int8_t qs[qk]; };
struct block_q8_1 { std::uint16_t d, s; std::int8_t qs[qk]; };  // s = d * sum(qs)
static_assert(sizeof(block_q4_0) == 18 && sizeof(block_q4_1) == 20);
struct block_q5_0 { std::uint16_t d; std::uint8_t qh[4]; std::uint8_t qs[qk / 2]; };     // (q - 16) * d
struct block_q5_1 { std::uint16_t d, m; std::uint8_t qh[4]; std::uint8_t qs[qk / 2]; };  // q * d + m
static_assert(sizeof(block_q8_0) == 34 && sizeof(block_q8_1) == 36);
static_assert(sizeof(block_q5_0) == 22 && sizeof(block_q5_1) == 24);

// K-quants: 256 elements, 6-bit (Q4_K/Q5_K: packed in scales[12]) or 8-bit
// (Q6_K) sub-block scales under one fp16 super-block scale.
constexpr int qk_k = 256;
struct block_q2_k { std::uint8_t scales[16]; std::uint8_t qs[64]; std::uint16_t d, dmin; };
struct block_q3_k { std::uint8_t hmask[32]; std::uint8_t qs[64]; std::uint8_t scales[12]; std::uint16_t d; };
struct block_q4_k { std::uint16_t d, dmin; std::uint8_t scales[12]; std::uint8_t qs[128]; };
struct block_q5_k { std::uint16_t d, dmin; std::uint8_t scales[12]; std::uint8_t qh[32]; std::uint8_t qs[128]; };
struct block_q6_k { std::uint8_t ql[128]; std::uint8_t qh[64]; std::int8_t scales[16]; std::uint16_t d; };
// Activations for K-quant dots: float scale, 256 int8, sums of each 16.
struct block_q8_k { float d; std::int8_t qs[qk_k]; std::int16_t bsums[qk_k / 16]; };
static_assert(sizeof(block_q2_k) == 84 && sizeof(block_q3_k) == 110 && sizeof(block_q4_k) == 144);
static_assert(sizeof(block_q5_k) == 176 && sizeof(block_q6_k) == 210 && sizeof(block_q8_k) == 292);

/// The 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K block
/// (ggml's get_scale_min_k4).
inline void scale_min_k4(int j, const std::uint8_t* q, int& sc, int& m) {
  if (j < 4) {
    sc = q[j] & 63;
    m = q[j + 4] & 63;
  } else {
    sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// ---- scalar conversions -------------------------------------------------------
/// IEEE half -> float (exact), computed.
float fp16_to_fp32_compute(std::uint16_t h);
namespace detail {
extern float fp16_table[65536];  // filled at start-up from fp16_to_fp32_compute
}
/// IEEE half -> float (exact), by table.
inline float fp16_to_fp32(std::uint16_t h) { return detail::fp16_table[h]; }
/// float -> IEEE half, round to nearest even (as F16C / ggml's fallback).
std::uint16_t fp32_to_fp16(float f);
/// bfloat16 -> float (exact).
inline float bf16_to_fp32(std::uint16_t h) {
  std::uint32_t u = std::uint32_t(h) << 16;
  float f;
  __builtin_memcpy(&f, &u, 4);
  return f;
}
/// float -> bfloat16, round to nearest even; NaN stays quiet NaN (as ggml).
std::uint16_t fp32_to_bf16(float f);

// ---- rows -------------------------------------------------------------------
/// Dequantise `n` elements (a multiple of the type's block) of a row of
/// supported type `t` into `y`. Unsupported types are a caller bug (asserted).
void dequantize_row(ggml_type t, const void* x, float* y, std::int64_t n);

/// Activation quantisers as ggml's x86 path computes them (model-facts §4):
/// d = amax/127 (stored fp16), q = round-half-even(x * 127/amax), and for
/// Q8_1 s = fp16(d * Σq). n is a multiple of 32.
void quantize_row_q8_0(const float* x, block_q8_0* y, std::int64_t n);
void quantize_row_q8_1(const float* x, block_q8_1* y, std::int64_t n);
/// Q8_K as ggml's quantize_row_q8_K_ref (which x86 builds use too): per 256,
/// max = the element of largest magnitude (first one), iscale = -127/max,
/// q = min(127, round-half-even(iscale*x)), d = 1/iscale, bsums = sums of 16;
/// an all-zero block gets d = 0, q = 0 (and its bsums left 0). n % 256 == 0.
void quantize_row_q8_k(const float* x, block_q8_k* y, std::int64_t n);

}  // namespace aikid::inference
