// Dot products for the exact scan and for HNSW's distance computer.
// Debian's FAISS is built without AVX; this file carries the wide kernels,
// picked once at start from what the CPU supports.
// GCC 12 warns inside its own AVX-512 headers (_mm512_undefined_ps,
// vcvtph2ps512_mask); not ours.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

#include "actors/memory/memory_internal.hpp"

namespace aikid::memory {

// ---- kernels ------------------------------------------------------------

static float dot_scalar(const float* a, const float* b, int d) {
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int i = 0;
  for (; i + 4 <= d; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < d; ++i) s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

__attribute__((target("avx2,fma"))) static float dot_avx2(const float* a, const float* b, int d) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  int i = 0;
  for (; i + 16 <= d; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
  }
  for (; i + 8 <= d; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
  s0 = _mm256_add_ps(s0, s1);
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(s0), _mm256_extractf128_ps(s0, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_movehdup_ps(h));
  float s = _mm_cvtss_f32(h);
  for (; i < d; ++i) s += a[i] * b[i];
  return s;
}

__attribute__((target("avx512f"))) static float dot_avx512(const float* a, const float* b, int d) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  int i = 0;
  for (; i + 32 <= d; i += 32) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
  }
  for (; i + 16 <= d; i += 16) s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
  if (i < d) {  // tail: masked load
    __mmask16 m = static_cast<__mmask16>((1u << (d - i)) - 1);
    s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s1);
  }
  s0 = _mm512_add_ps(s0, s1);
  s0 = _mm512_add_ps(s0, _mm512_shuffle_f32x4(s0, s0, 0x4E));  // fold 256-bit halves
  s0 = _mm512_add_ps(s0, _mm512_shuffle_f32x4(s0, s0, 0xB1));  // fold 128-bit lanes
  __m128 h = _mm512_castps512_ps128(s0);
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_movehdup_ps(h));
  return _mm_cvtss_f32(h);
}

// ---- half-precision rows (the exact part's scan copy) ---------------------
// A query (float) against rows stored as IEEE binary16: half the bytes of a
// float row, which is what the scan waits on (33 ns a row as floats, 17 as
// halves, 10,000 rows of dim 384 on this machine).

static float half_to_float(std::uint16_t h) { return static_cast<float>(std::bit_cast<_Float16>(h)); }

static float dot_half_scalar(const float* q, const std::uint16_t* r, int d) {
  float s0 = 0, s1 = 0;
  int i = 0;
  for (; i + 2 <= d; i += 2) {
    s0 += q[i] * half_to_float(r[i]);
    s1 += q[i + 1] * half_to_float(r[i + 1]);
  }
  for (; i < d; ++i) s0 += q[i] * half_to_float(r[i]);
  return s0 + s1;
}

__attribute__((target("avx2,fma,f16c"))) static float dot_half_avx2(const float* q, const std::uint16_t* r, int d) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  int i = 0;
  for (; i + 16 <= d; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(r + i))), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8),
                         _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(r + i + 8))), s1);
  }
  s0 = _mm256_add_ps(s0, s1);
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(s0), _mm256_extractf128_ps(s0, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_movehdup_ps(h));
  float s = _mm_cvtss_f32(h);
  for (; i < d; ++i) s += q[i] * half_to_float(r[i]);
  return s;
}

__attribute__((target("avx512f"))) static float dot_half_avx512(const float* q, const std::uint16_t* r, int d) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  int i = 0;
  for (; i + 32 <= d; i += 32) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i),
                         _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(r + i))), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 16),
                         _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(r + i + 16))), s1);
  }
  for (; i + 16 <= d; i += 16)
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i),
                         _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(r + i))), s0);
  float s = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
  for (; i < d; ++i) s += q[i] * half_to_float(r[i]);
  return s;
}

// ---- head codes (screening) ----------------------------------------------
// A query's 8-bit codes (signed) against rows of codes stored offset by 128
// (unsigned): sum of row[i] * q[i], an exact integer; the caller takes off
// 128 * sum(q). d is a multiple of 16 (vindex's head_).

static std::int32_t codes_dot_scalar(const std::int8_t* q, const std::uint8_t* r, int d) {
  std::int32_t s = 0;
  for (int i = 0; i < d; ++i) s += std::int32_t(r[i]) * q[i];
  return s;
}

static void codes_rows_scalar(const std::int8_t* q, const std::uint8_t* rows, std::size_t n, int d, std::int32_t* out) {
  for (std::size_t i = 0; i < n; ++i) out[i] = codes_dot_scalar(q, rows + i * d, d);
}

__attribute__((target("avx2"))) static void codes_rows_avx2(const std::int8_t* q, const std::uint8_t* rows, std::size_t n,
                                                            int d, std::int32_t* out) {
  for (std::size_t r = 0; r < n; ++r) {
    const std::uint8_t* x = rows + r * d;
    __m256i acc = _mm256_setzero_si256();
    for (int i = 0; i < d; i += 16) {  // 16 codes widened to 16-bit lanes; pairs summed into 32
      const __m256i xv = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i)));
      const __m256i qv = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q + i)));
      acc = _mm256_add_epi32(acc, _mm256_madd_epi16(xv, qv));
    }
    __m128i h = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4E));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xB1));
    out[r] = _mm_cvtsi128_si32(h);
  }
}

__attribute__((target("avx512f,avx512bw,avx512vnni"))) static void codes_rows_vnni(const std::int8_t* q,
                                                                                  const std::uint8_t* rows,
                                                                                  std::size_t n, int d,
                                                                                  std::int32_t* out) {
  for (std::size_t r = 0; r < n; ++r) {
    const std::uint8_t* x = rows + r * d;
    __m512i acc = _mm512_setzero_si512();
    int i = 0;
    for (; i + 64 <= d; i += 64)  // unsigned row codes times signed query codes, 4 at a time into 32 bits
      acc = _mm512_dpbusd_epi32(acc, _mm512_loadu_si512(x + i), _mm512_loadu_si512(q + i));
    if (i < d) {
      const __mmask64 m = (~0ULL) >> (64 - (d - i));
      acc = _mm512_dpbusd_epi32(acc, _mm512_maskz_loadu_epi8(m, x + i), _mm512_maskz_loadu_epi8(m, q + i));
    }
    out[r] = _mm512_reduce_add_epi32(acc);
  }
}

// Screening bounds 16 rows at a time (AVX-512) or one at a time: see
// vec_code_screen.
static std::size_t code_screen_scalar(const head_code& q, float q_tail, float eps, float floor, const std::int32_t* dots,
                                      const code_bounds& b, std::size_t from, std::size_t n, std::uint32_t* keep) {
  std::size_t kept = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t r = from + i;
    const float bound = q.scale * b.scale[r] * static_cast<float>(dots[i]) + q.err * b.code_l1[r] + q.l1 * b.err[r] +
                        q_tail * b.tail[r] + eps;
    if (!(bound < floor)) keep[kept++] = static_cast<std::uint32_t>(i);
  }
  return kept;
}

__attribute__((target("avx512f"))) static std::size_t code_screen_avx512(const head_code& q, float q_tail, float eps,
                                                                       float floor, const std::int32_t* dots,
                                                                       const code_bounds& b, std::size_t from,
                                                                       std::size_t n, std::uint32_t* keep) {
  const __m512 qs = _mm512_set1_ps(q.scale), qe = _mm512_set1_ps(q.err), ql = _mm512_set1_ps(q.l1),
               qt = _mm512_set1_ps(q_tail), e = _mm512_set1_ps(eps), f = _mm512_set1_ps(floor);
  __m512i idx = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i step = _mm512_set1_epi32(16);
  std::size_t kept = 0;
  for (std::size_t i = 0; i < n; i += 16) {
    const __mmask16 in = n - i >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << (n - i)) - 1);
    const std::size_t r = from + i;
    __m512 bound = _mm512_fmadd_ps(qe, _mm512_maskz_loadu_ps(in, b.code_l1.data() + r), e);
    bound = _mm512_fmadd_ps(ql, _mm512_maskz_loadu_ps(in, b.err.data() + r), bound);
    bound = _mm512_fmadd_ps(qt, _mm512_maskz_loadu_ps(in, b.tail.data() + r), bound);
    const __m512 approx = _mm512_mul_ps(_mm512_mul_ps(qs, _mm512_maskz_loadu_ps(in, b.scale.data() + r)),
                                        _mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(in, dots + i)));
    bound = _mm512_add_ps(approx, bound);
    const __mmask16 k = _mm512_mask_cmp_ps_mask(in, bound, f, _CMP_NLT_UQ);  // not below the floor, or NaN
    _mm512_mask_compressstoreu_epi32(keep + kept, k, idx);
    kept += static_cast<std::size_t>(std::popcount(static_cast<unsigned>(k)));
    idx = _mm512_add_epi32(idx, step);
  }
  return kept;
}

using dot_fn = float (*)(const float*, const float*, int);
using dot_half_fn = float (*)(const float*, const std::uint16_t*, int);
using code_screen_fn = std::size_t (*)(const head_code&, float, float, float, const std::int32_t*, const code_bounds&,
                                       std::size_t, std::size_t, std::uint32_t*);

struct kernel {
  dot_fn fn;
  dot_half_fn half;
  vec_codes_fn codes;
  code_screen_fn screen;
  const char* name;
};

static kernel kernel_pick() {
  __builtin_cpu_init();
  const vec_codes_fn codes = vec_codes_variants().back().second;  // the widest this CPU runs
  if (__builtin_cpu_supports("avx512f")) return {dot_avx512, dot_half_avx512, codes, code_screen_avx512, "avx512"};
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return {dot_avx2, __builtin_cpu_supports("f16c") ? dot_half_avx2 : dot_half_scalar, codes, code_screen_scalar,
            "avx2"};
  return {dot_scalar, dot_half_scalar, codes, code_screen_scalar, "scalar"};
}

static const kernel k_kernel = kernel_pick();

// ---- public helpers -----------------------------------------------------

float vec_dot(const float* a, const float* b, int d) { return k_kernel.fn(a, b, d); }

void vec_dot_rows_half(const float* q, const std::uint16_t* base, std::size_t n, int d, float* out,
                       std::size_t stride) {
  const dot_half_fn f = k_kernel.half;
  if (stride == 0) stride = static_cast<std::size_t>(d);
  for (std::size_t i = 0; i < n; ++i) {
    if (i + 4 < n) __builtin_prefetch(base + (i + 4) * stride);
    out[i] = f(q, base + i * stride, d);
  }
}

// In order of width: kernel_pick takes the last.
std::vector<std::pair<const char*, vec_codes_fn>> vec_codes_variants() {
  std::vector<std::pair<const char*, vec_codes_fn>> v{{"scalar", codes_rows_scalar}};
  if (__builtin_cpu_supports("avx2")) v.push_back({"avx2", codes_rows_avx2});
  if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw")) v.push_back({"vnni", codes_rows_vnni});
  return v;
}

void vec_dot_rows_code(const std::int8_t* q, const std::uint8_t* rows, std::size_t n, int d, std::int32_t* out,
                       vec_codes_fn kernel) {
  (kernel ? kernel : k_kernel.codes)(q, rows, n, d, out);
  std::int32_t q_sum = 0;
  for (int i = 0; i < d; ++i) q_sum += q[i];
  for (std::size_t i = 0; i < n; ++i) out[i] -= 128 * q_sum;
}

head_code vec_head_encode(const float* v, int d, std::uint8_t* codes) {
  head_code h;
  float top = 0;
  for (int i = 0; i < d; ++i) top = std::max(top, std::fabs(v[i]));
  h.scale = top / 127.f;
  // each code the nearest step to v[i]; the bounds are measured on the
  // codes actually written (in double, rounded up), not assumed from the
  // rounding, so a division's last-bit error cannot break them
  double err = 0, code_l1 = 0, l1 = 0;
  for (int i = 0; i < d; ++i) {
    const int c = h.scale > 0 ? std::clamp(static_cast<int>(std::lrint(v[i] / h.scale)), -127, 127) : 0;
    codes[i] = static_cast<std::uint8_t>(c + 128);
    err = std::max(err, std::fabs(double(v[i]) - double(h.scale) * c));
    code_l1 += double(h.scale) * std::abs(c);
    l1 += std::fabs(double(v[i]));
  }
  const float inf = std::numeric_limits<float>::infinity();
  // a double sum of d terms is off by far less than one float ulp: step up one
  h.err = std::nextafter(static_cast<float>(err), inf);
  h.code_l1 = std::nextafter(static_cast<float>(code_l1), inf);
  h.l1 = std::nextafter(static_cast<float>(l1), inf);
  return h;
}

void code_bounds::resize(std::size_t n) {
  scale.resize(n);
  err.resize(n);
  code_l1.resize(n);
  tail.resize(n);
}

void code_bounds::put(std::size_t row, const head_code& h, float tail_norm) {
  scale[row] = h.scale;
  err[row] = h.err;
  code_l1[row] = h.code_l1;
  tail[row] = tail_norm;
}

void code_bounds::push_row(const code_bounds& o, std::size_t row) {
  scale.push_back(o.scale[row]);
  err.push_back(o.err[row]);
  code_l1.push_back(o.code_l1[row]);
  tail.push_back(o.tail[row]);
}

void code_bounds::clear() { resize(0); }

std::size_t vec_code_screen(const head_code& q, float q_tail, float eps, float floor, const std::int32_t* dots,
                            const code_bounds& b, std::size_t from, std::size_t n, std::uint32_t* keep, bool wide) {
  return (wide ? k_kernel.screen : code_screen_scalar)(q, q_tail, eps, floor, dots, b, from, n, keep);
}

float vec_norm_up(const float* v, int d) {
  double ss = 0;
  for (int i = 0; i < d; ++i) ss += double(v[i]) * v[i];
  return std::nextafter(static_cast<float>(std::sqrt(ss)), std::numeric_limits<float>::infinity());
}

// vec_to_half on every add: F16C's instructions where the CPU has them
// (same rounding, to nearest even), libgcc's software conversion otherwise.
static const bool k_f16c = __builtin_cpu_supports("f16c") && __builtin_cpu_supports("avx");

__attribute__((target("avx,f16c"))) static void to_half_f16c(const float* v, int d, std::uint16_t* out) {
  int i = 0;
  for (; i + 8 <= d; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(v + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  for (; i < d; ++i) out[i] = std::bit_cast<std::uint16_t>(static_cast<_Float16>(v[i]));
}

float vec_to_half(const float* v, int d, std::uint16_t* out) {
  if (k_f16c) to_half_f16c(v, d, out);
  else
    for (int i = 0; i < d; ++i) out[i] = std::bit_cast<std::uint16_t>(static_cast<_Float16>(v[i]));  // nearest even
  double ss = 0;
  for (int i = 0; i < d; ++i) ss += double(v[i]) * v[i];
  return static_cast<float>(std::sqrt(ss));
}

float vec_half_slack(float q_norm, float row_norm, int d) {
  // a row x and its halves h: |x_i - h_i| <= 2^-11 |x_i| (normal range) or
  // <= 2^-25 (subnormal), so |<q,x> - <q,h>| <= |q| (2^-11 |x| + 2^-25
  // sqrt(d)); each float dot product of d terms is off by at most
  // d 2^-24 |q| |x| (twice: the exact score and the half one)
  const double e = double(q_norm) * (double(row_norm) * (std::ldexp(1.0, -11) + 2.0 * d * std::ldexp(1.0, -24)) +
                                     std::ldexp(1.0, -25) * std::sqrt(double(d)));
  return static_cast<float>(e * 1.01 + 1e-7);
}

const char* vec_kernel_name() { return k_kernel.name; }

bool vec_normalize(std::vector<float>& v) {
  double ss = 0;
  for (float x : v) {
    if (!std::isfinite(x)) return false;
    ss += double(x) * x;
  }
  if (!(ss > 0) || !std::isfinite(ss)) return false;
  // in double: for a vector of subnormals 1/norm is beyond a float (an
  // infinite vector, scores of NaN); each x/norm is at most 1
  const double norm = std::sqrt(ss);
  for (float& x : v) x = static_cast<float>(double(x) / norm);
  return true;
}

// ---- topk ---------------------------------------------------------------

void topk::offer(std::int64_t id, float score) {
  if (score < min_) return;
  item it{score, id};
  if (heap_.size() < static_cast<std::size_t>(k_)) {
    heap_.push_back(it);
    std::push_heap(heap_.begin(), heap_.end(), [](const item& a, const item& b) { return worse(b, a); });
    return;
  }
  if (!worse(heap_.front(), it)) return;  // not better than the worst kept
  std::pop_heap(heap_.begin(), heap_.end(), [](const item& a, const item& b) { return worse(b, a); });
  heap_.back() = it;
  std::push_heap(heap_.begin(), heap_.end(), [](const item& a, const item& b) { return worse(b, a); });
}

std::vector<std::pair<std::int64_t, float>> topk::sorted() const {
  std::vector<item> v = heap_;
  std::sort(v.begin(), v.end(), [](const item& a, const item& b) { return worse(b, a); });
  std::vector<std::pair<std::int64_t, float>> out;
  out.reserve(v.size());
  for (const item& it : v) out.emplace_back(it.id, it.score);
  return out;
}

}  // namespace aikid::memory
