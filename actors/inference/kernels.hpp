// Mat-vec kernels behind a dispatch table.
//
// A weight matrix W (ne = {n, rows}) stays in its file type; a product W·x
// first converts x to the weight type's "vec_dot type" exactly as ggml-cpu
// does (model-facts §4: Q4_0/Q5_0/Q8_0 -> Q8_0, Q4_1/Q5_1 -> Q8_1,
// Q4_K/Q6_K -> Q8_K, F16 -> F16, BF16 -> BF16, F32 -> F32), then takes one dot product per row reading the
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

struct weight_view;
struct activation;

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
  // Several rows at once: y[i] = dot(row i, a) for i < nr, rows `row_bytes`
  // apart; each y[i] bit-identical to the single-row dot (the fast tables
  // interleave rows for instruction-level parallelism).
  void (*rows_q4_0_q8_0)(std::int64_t n, const std::byte* w, std::size_t row_bytes, int nr, const void* a, float* y);
  void (*rows_q4_1_q8_1)(std::int64_t n, const std::byte* w, std::size_t row_bytes, int nr, const void* a, float* y);
  void (*rows_q8_0_q8_0)(std::int64_t n, const std::byte* w, std::size_t row_bytes, int nr, const void* a, float* y);
  // Attention on the F16 KV cache in llama.cpp's summation order (see
  // session.cpp): dot of two F16 rows (n a multiple of 64) and the
  // probability-weighted sum of V rows. `batched` picks tinyBLAS's order
  // (16 lanes) over ggml_vec_dot_f16's (4 x 16 lanes). acc: hd*64 floats.
  float (*attn_dot_f16)(bool batched, int n, const std::uint16_t* x, const std::uint16_t* y);
  void (*attn_weighted_sum)(bool batched, int n_kv, int hd, const std::uint16_t* v, std::size_t stride,
                            const std::uint16_t* p, float* out, float* acc);
  // out[j] = attn_dot_f16(batched, hd, k + j*stride, q) * scale for j < n_kv
  // (the scores of one head against the cache); returns their maximum.
  float (*attn_scores)(bool batched, int n_kv, int hd, const std::uint16_t* k, std::size_t stride,
                       const std::uint16_t* q, float scale, float* out);
  // Elementwise parts of the forward pass, in ggml-cpu's AVX-512 numerics
  // (ggml_v_expf: max error ~1.5 ulp): gate[i] = silu(gate[i]) * up[i];
  // x[j] = exp(x[j] - mx) returning Σ x[j] summed as ggml_vec_soft_max_f32
  // does (16-lane chunks reduced in float, accumulated in double); y = fp16(x)
  // rounded to nearest even.
  void (*silu_mul)(float* gate, const float* up, int n);
  double (*softmax_exp)(float* x, int n, float mx);
  void (*to_fp16)(const float* x, std::uint16_t* y, int n);
  // Optional packed layout (kernels_avx512_packed.cpp; nullptr in tables
  // without one): weights repacked once at load so a kernel reads the blocks
  // of 4 rows side by side. pack_bytes is 0 when this table does not pack
  // type t / this shape; pack writes pack_bytes(t, n, rows) bytes to dst;
  // matmul_packed is matmul_rows for a view packed by this table (results
  // bit-identical to the row kernels).
  std::size_t (*pack_bytes)(ggml_type t, std::int64_t n, std::int64_t rows);
  void (*pack)(ggml_type t, std::int64_t n, std::int64_t rows, const std::byte* src, std::size_t row_bytes,
               std::byte* dst);
  void (*matmul_packed)(const weight_view& w, const activation* x, int nt, float* out,
                        std::size_t ldo, std::int64_t r0, std::int64_t r1);
  // Q5_0 x Q8_0, Q5_1 x Q8_1 (as Q4_0 / Q4_1 with a fifth bit from qh) and
  // the K-quants x Q8_K in ggml's x86 (AVX2) order: per 256-block, integer
  // sums in 8 lanes of 4 consecutive products weighted by the sub-block
  // scales, each lane accumulating fma(d_w*d_a, lane, acc); Q4_K's mins
  // term (Σ min * bsums) runs in 4 lanes beside them; hsum at the end.
  float (*dot_q5_0_q8_0)(std::int64_t n, const void* w, const void* a);
  float (*dot_q5_1_q8_1)(std::int64_t n, const void* w, const void* a);
  float (*dot_q4_k_q8_k)(std::int64_t n, const void* w, const void* a);
  float (*dot_q6_k_q8_k)(std::int64_t n, const void* w, const void* a);
  void (*quantize_q8_k)(const float* x, block_q8_k* y, std::int64_t n);
  void (*rows_q5_0_q8_0)(std::int64_t n, const std::byte* w, std::size_t row_bytes, int nr, const void* a, float* y);
  void (*rows_q5_1_q8_1)(std::int64_t n, const std::byte* w, std::size_t row_bytes, int nr, const void* a, float* y);
  void (*rows_q4_k_q8_k)(std::int64_t n, const std::byte* w, std::size_t row_bytes, int nr, const void* a, float* y);
  void (*rows_q6_k_q8_k)(std::int64_t n, const std::byte* w, std::size_t row_bytes, int nr, const void* a, float* y);
  // Q2_K, Q3_K, Q5_K x Q8_K (same scheme; Q2_K's mins term runs in the 8
  // lanes before the products, Q5_K's is one integer sum FMA'd into a scalar)
  float (*dot_q2_k_q8_k)(std::int64_t n, const void* w, const void* a);
  float (*dot_q3_k_q8_k)(std::int64_t n, const void* w, const void* a);
  float (*dot_q5_k_q8_k)(std::int64_t n, const void* w, const void* a);
  void (*rows_q2_k_q8_k)(std::int64_t n, const std::byte* w, std::size_t row_bytes, int nr, const void* a, float* y);
  void (*rows_q3_k_q8_k)(std::int64_t n, const std::byte* w, std::size_t row_bytes, int nr, const void* a, float* y);
  void (*rows_q5_k_q8_k)(std::int64_t n, const std::byte* w, std::size_t row_bytes, int nr, const void* a, float* y);
};

/// The reference kernels (plain C++, any CPU).
const kernel_table& kernels_portable();
/// AVX2+FMA versions of the quantised dots (bit-identical to the portable
/// ones); only call when the CPU has AVX2 and FMA.
const kernel_table* kernels_avx2();
/// True when this CPU can run kernels_avx2().
bool cpu_has_avx2();
/// AVX-512 (F, BW, VL) + VNNI versions, bit-identical to the portable ones;
/// only call when cpu_has_avx512_vnni().
const kernel_table* kernels_avx512();
/// Fills t's packing entries with the AVX-512 packed kernels (called by kernels_avx512()).
void kernels_avx512_packing(kernel_table& t);
/// True when this CPU can run kernels_avx512() (AVX-512 F/BW/VL/VNNI, F16C, FMA).
bool cpu_has_avx512_vnni();
/// The fastest table this CPU supports: avx512 (VNNI), else avx2, else portable.
/// AIKID_KERNELS=portable|avx2|avx512 in the environment forces one (when
/// the CPU supports it); AIKID_PACK=0 keeps the weights in the file layout
/// even when the table has a packed one (model::load).
const kernel_table& kernels_select();

/// A matrix in its file type: `rows` rows of `n` elements, `row_bytes` apart;
/// or, when `packed_by` is set, in that table's packed layout (then `data`
/// is the packed copy and row() must not be used).
struct weight_view {
  ggml_type type = ggml_type::f32;
  std::int64_t n = 0, rows = 0;
  std::size_t row_bytes = 0;
  const std::byte* data = nullptr;
  const kernel_table* packed_by = nullptr;
  const std::byte* row(std::int64_t r) const { return data + std::size_t(r) * row_bytes; }
};

/// x converted once to a weight type's vec_dot type (reusable buffer).
struct activation {
  ggml_type dot_type = ggml_type::f32;  // q8_0, q8_1, q8_k, f16, bf16 or f32
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
/// Rows [r0, r1) of W·x for nt activations: out[t*ldo + r]. Rows are taken
/// in cache-sized panels so each panel of W is read once for all nt. A packed
/// view goes to the packing table's matmul_packed.
void matmul_rows(const kernel_table& k, const weight_view& w, const activation* x, int nt, float* out,
                 std::size_t ldo, std::int64_t r0, std::int64_t r1);
/// Convenience: converts x and computes all rows.
void matvec(const kernel_table& k, const weight_view& w, const float* x, float* y,
            activation& scratch);

}  // namespace aikid::inference
