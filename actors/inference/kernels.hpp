// Mat-vec kernels behind a dispatch table.
//
// A weight matrix W (ne = {n, rows}) stays in its file type; a product W·x
// first converts x to the weight type's "vec_dot type" exactly as ggml-cpu
// does (model-facts §4: Q4_0/Q8_0 -> Q8_0, Q4_1 -> Q8_1, F16 -> F16,
// BF16 -> BF16, F32 -> F32), then takes one dot product per row reading the
// quantised blocks directly.
//
// kernels_portable() is plain C++ (the reference). Faster ISA versions
// (AVX2, AVX-512) fill the same table in their own translation units and are
// tested against the portable one; kernels_select() picks one at run time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "actors/inference/quants.hpp"

namespace aikid::inference {

/// Dot products of one weight row with an activation row already converted to
/// the row type's vec_dot type. `n` = elements (a multiple of the block).
struct kernel_table {
  std::string_view name;  // "portable", "avx2", ...
  float (*dot_q4_0_q8_0)(std::int64_t n, const void* w, const void* a);
  float (*dot_q4_1_q8_1)(std::int64_t n, const void* w, const void* a);
  float (*dot_q8_0_q8_0)(std::int64_t n, const void* w, const void* a);
  float (*dot_f16_f16)(std::int64_t n, const void* w, const void* a);    // both IEEE half
  float (*dot_bf16_bf16)(std::int64_t n, const void* w, const void* a);  // both bfloat16
  float (*dot_f32_f32)(std::int64_t n, const void* w, const void* a);
  void (*quantize_q8_0)(const float* x, block_q8_0* y, std::int64_t n);
  void (*quantize_q8_1)(const float* x, block_q8_1* y, std::int64_t n);
};

/// The reference kernels (plain C++, any CPU).
const kernel_table& kernels_portable();
/// AVX2+FMA versions of the quantised dots (bit-identical to the portable
/// ones); only call when the CPU has AVX2 and FMA.
const kernel_table* kernels_avx2();
/// True when this CPU can run kernels_avx2().
bool cpu_has_avx2();
/// The fastest table this CPU supports: avx2 when available, else portable.
/// AIKID_KERNELS=portable in the environment forces the reference.
/// (Issue 6 adds AVX-512/VNNI tables here.)
const kernel_table& kernels_select();

/// A matrix in its file type: `rows` rows of `n` elements, `row_bytes` apart.
struct weight_view {
  ggml_type type = ggml_type::f32;
  std::int64_t n = 0, rows = 0;
  std::size_t row_bytes = 0;
  const std::byte* data = nullptr;
  const std::byte* row(std::int64_t r) const { return data + std::size_t(r) * row_bytes; }
};

/// x converted once to a weight type's vec_dot type (reusable buffer).
struct activation {
  ggml_type dot_type = ggml_type::f32;  // q8_0, q8_1, f16, bf16 or f32
  std::int64_t n = 0;
  std::vector<std::byte> data;
};

/// The vec_dot type ggml-cpu uses for weights of type t.
ggml_type vec_dot_type(ggml_type t);
/// Converts x[0..n) to the vec_dot type of weights of type `wt`.
void activation_quantize(const kernel_table& k, ggml_type wt, const float* x, std::int64_t n,
                         activation& out);
/// Dot product of weight row `w` (type wt) with a converted activation.
float row_dot(const kernel_table& k, ggml_type wt, std::int64_t n, const void* w,
              const activation& a);
/// y[r] = W.row(r) · x for r in [r0, r1). x already converted for W's type.
void matvec(const kernel_table& k, const weight_view& w, const activation& x, float* y,
            std::int64_t r0, std::int64_t r1);
/// Convenience: converts x and computes all rows.
void matvec(const kernel_table& k, const weight_view& w, const float* x, float* y,
            activation& scratch);

}  // namespace aikid::inference
