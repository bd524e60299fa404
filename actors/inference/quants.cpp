// Type table, half/bfloat conversion, dequantisation (ggml-quants.c
// dequantize_row_*: Q4_0/Q4_1/Q5_0/Q5_1/Q8_0 and the K-quants Q2_K..Q6_K),
// activation quantisers (Q8_0/Q8_1 as ggml's x86 path, Q8_K as its ref).
#include "actors/inference/quants.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>
#include <string>

namespace aikid::inference {

// ---- type table (ggml.c type_traits: block size, bytes per block) -----------
std::optional<type_traits> type_traits_of(std::uint32_t id) {
  switch (static_cast<ggml_type>(id)) {
    case ggml_type::f32: return type_traits{"F32", 1, 4, true};
    case ggml_type::f16: return type_traits{"F16", 1, 2, true};
    case ggml_type::q4_0: return type_traits{"Q4_0", 32, 18, true};
    case ggml_type::q4_1: return type_traits{"Q4_1", 32, 20, true};
    case ggml_type::q5_0: return type_traits{"Q5_0", 32, 22, true};
    case ggml_type::q5_1: return type_traits{"Q5_1", 32, 24, true};
    case ggml_type::q8_0: return type_traits{"Q8_0", 32, 34, true};
    case ggml_type::q8_1: return type_traits{"Q8_1", 32, 36, false};
    case ggml_type::q2_k: return type_traits{"Q2_K", 256, 84, true};
    case ggml_type::q3_k: return type_traits{"Q3_K", 256, 110, true};
    case ggml_type::q4_k: return type_traits{"Q4_K", 256, 144, true};
    case ggml_type::q5_k: return type_traits{"Q5_K", 256, 176, true};
    case ggml_type::q6_k: return type_traits{"Q6_K", 256, 210, true};
    case ggml_type::q8_k: return type_traits{"Q8_K", 256, 292, false};
    case ggml_type::iq2_xxs: return type_traits{"IQ2_XXS", 256, 66, false};
    case ggml_type::iq2_xs: return type_traits{"IQ2_XS", 256, 74, false};
    case ggml_type::iq3_xxs: return type_traits{"IQ3_XXS", 256, 98, false};
    case ggml_type::iq1_s: return type_traits{"IQ1_S", 256, 50, false};
    case ggml_type::iq4_nl: return type_traits{"IQ4_NL", 32, 18, false};
    case ggml_type::iq3_s: return type_traits{"IQ3_S", 256, 110, false};
    case ggml_type::iq2_s: return type_traits{"IQ2_S", 256, 82, false};
    case ggml_type::iq4_xs: return type_traits{"IQ4_XS", 256, 136, false};
    case ggml_type::i8: return type_traits{"I8", 1, 1, false};
    case ggml_type::i16: return type_traits{"I16", 1, 2, false};
    case ggml_type::i32: return type_traits{"I32", 1, 4, false};
    case ggml_type::i64: return type_traits{"I64", 1, 8, false};
    case ggml_type::f64: return type_traits{"F64", 1, 8, false};
    case ggml_type::iq1_m: return type_traits{"IQ1_M", 256, 56, false};
    case ggml_type::bf16: return type_traits{"BF16", 1, 2, true};
    case ggml_type::tq1_0: return type_traits{"TQ1_0", 256, 54, false};
    case ggml_type::tq2_0: return type_traits{"TQ2_0", 256, 66, false};
    case ggml_type::mxfp4: return type_traits{"MXFP4", 32, 17, false};
  }
  return std::nullopt;
}

std::string type_name(std::uint32_t id) {
  if (auto t = type_traits_of(id)) return std::string(t->name);
  return "type#" + std::to_string(id);
}

// ---- half / bfloat ------------------------------------------------------------
namespace detail {
float fp16_table[65536];
namespace {
struct fp16_table_init {
  fp16_table_init() {
    for (std::uint32_t h = 0; h < 65536; ++h) fp16_table[h] = fp16_to_fp32_compute(std::uint16_t(h));
  }
} fp16_table_init_once;
}  // namespace
}  // namespace detail

float fp16_to_fp32_compute(std::uint16_t h) {
  const std::uint32_t sign = std::uint32_t(h & 0x8000) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1f;
  std::uint32_t mant = h & 0x3ff;
  std::uint32_t u;
  if (exp == 0) {
    if (mant == 0) {
      u = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do { ++e; mant <<= 1; } while ((mant & 0x400) == 0);
      u = sign | std::uint32_t(127 - 15 - e) << 23 | (mant & 0x3ff) << 13;
    }
  } else if (exp == 31) {
    u = sign | 0x7f800000u | mant << 13;
  } else {
    u = sign | (exp + 127 - 15) << 23 | mant << 13;
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

std::uint16_t fp32_to_fp16(float f) {
  std::uint32_t x;
  std::memcpy(&x, &f, 4);
  const std::uint32_t sign = (x >> 16) & 0x8000;
  const std::uint32_t ax = x & 0x7fffffff;
  if (ax >= 0x7f800000u) {  // inf / nan
    return std::uint16_t(sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 : 0));
  }
  if (ax >= 0x477ff000u) return std::uint16_t(sign | 0x7c00);  // rounds to inf
  if (ax < 0x38800000u) {  // subnormal half (or zero): |f| < 2^-14
    // value in units of 2^-24, rounded to nearest even
    const std::uint32_t e = ax >> 23;
    if (e < 102) return std::uint16_t(sign);  // < 2^-25: rounds to 0
    const std::uint32_t m = (ax & 0x7fffff) | 0x800000;
    const int shift = int(126 - e);          // 14 + (113 - e) - ... see below
    // |f| = m * 2^(e-150); units of 2^-24 -> m * 2^(e-126) = m >> (126-e)
    std::uint32_t q = m >> shift;
    const std::uint32_t rem = m & ((1u << shift) - 1);
    const std::uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1))) ++q;
    return std::uint16_t(sign | q);
  }
  // normal: rebias exponent and round mantissa 23 -> 10 bits (nearest even)
  std::uint32_t h = ((ax >> 13) - ((127 - 15) << 10));
  const std::uint32_t rem = ax & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) ++h;  // may carry into exponent (ok)
  return std::uint16_t(sign | h);
}

std::uint16_t fp32_to_bf16(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffff) > 0x7f800000u) return std::uint16_t((u >> 16) | 64);  // quiet nan
  return std::uint16_t((u + (0x7fff + ((u >> 16) & 1))) >> 16);
}

// ---- dequantisation (ggml-quants.c dequantize_row_*) -----------------------------
namespace {

void dequant_q4_0(const block_q4_0* x, float* y, std::int64_t nb) {
  for (std::int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    for (int j = 0; j < qk / 2; ++j) {
      y[i * qk + j] = float((x[i].qs[j] & 0x0f) - 8) * d;
      y[i * qk + j + qk / 2] = float((x[i].qs[j] >> 4) - 8) * d;
    }
  }
}

void dequant_q4_1(const block_q4_1* x, float* y, std::int64_t nb) {
  for (std::int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_fp32(x[i].d), m = fp16_to_fp32(x[i].m);
    for (int j = 0; j < qk / 2; ++j) {
      y[i * qk + j] = float(x[i].qs[j] & 0x0f) * d + m;
      y[i * qk + j + qk / 2] = float(x[i].qs[j] >> 4) * d + m;
    }
  }
}

void dequant_q8_0(const block_q8_0* x, float* y, std::int64_t nb) {
  for (std::int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    for (int j = 0; j < qk; ++j) y[i * qk + j] = float(x[i].qs[j]) * d;
  }
}

void dequant_q5_0(const block_q5_0* x, float* y, std::int64_t nb) {
  for (std::int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    std::uint32_t qh;
    std::memcpy(&qh, x[i].qh, 4);
    for (int j = 0; j < qk / 2; ++j) {
      const int h0 = int(((qh >> j) << 4) & 0x10), h1 = int((qh >> (j + 12)) & 0x10);
      y[i * qk + j] = float(((x[i].qs[j] & 0x0f) | h0) - 16) * d;
      y[i * qk + j + qk / 2] = float(((x[i].qs[j] >> 4) | h1) - 16) * d;
    }
  }
}

void dequant_q5_1(const block_q5_1* x, float* y, std::int64_t nb) {
  for (std::int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_fp32(x[i].d), m = fp16_to_fp32(x[i].m);
    std::uint32_t qh;
    std::memcpy(&qh, x[i].qh, 4);
    for (int j = 0; j < qk / 2; ++j) {
      const int h0 = int(((qh >> j) << 4) & 0x10), h1 = int((qh >> (j + 12)) & 0x10);
      y[i * qk + j] = float((x[i].qs[j] & 0x0f) | h0) * d + m;
      y[i * qk + j + qk / 2] = float((x[i].qs[j] >> 4) | h1) * d + m;
    }
  }
}

void dequant_q2_k(const block_q2_k* x, float* y, std::int64_t nb) {
  for (std::int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_fp32(x[i].d), mn = fp16_to_fp32(x[i].dmin);
    const std::uint8_t* q = x[i].qs;
    int is = 0;
    for (int n = 0; n < qk_k; n += 128) {
      for (int shift = 0; shift < 8; shift += 2) {
        for (int half = 0; half < 2; ++half) {
          const int sc = x[i].scales[is++];
          const float dl = d * float(sc & 0xF), ml = mn * float(sc >> 4);
          for (int l = 0; l < 16; ++l) *y++ = dl * float((q[l + 16 * half] >> shift) & 3) - ml;
        }
      }
      q += 32;
    }
  }
}

void dequant_q3_k(const block_q3_k* x, float* y, std::int64_t nb) {
  constexpr std::uint32_t kmask1 = 0x03030303, kmask2 = 0x0f0f0f0f;
  for (std::int64_t i = 0; i < nb; ++i) {
    const float d_all = fp16_to_fp32(x[i].d);
    const std::uint8_t* q = x[i].qs;
    const std::uint8_t* hm = x[i].hmask;
    std::uint32_t aux[4];
    std::memcpy(aux, x[i].scales, 12);
    const std::uint32_t tmp = aux[2];
    aux[2] = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4);
    aux[3] = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4);
    aux[0] = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4);
    aux[1] = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4);
    std::int8_t scales[16];
    std::memcpy(scales, aux, 16);
    int is = 0;
    std::uint8_t m = 1;
    for (int n = 0; n < qk_k; n += 128) {
      for (int shift = 0; shift < 8; shift += 2) {
        for (int half = 0; half < 2; ++half) {
          const float dl = d_all * float(scales[is++] - 32);
          for (int l = 0; l < 16; ++l) {
            const int j = l + 16 * half;
            *y++ = dl * float(int((q[j] >> shift) & 3) - ((hm[j] & m) ? 0 : 4));
          }
        }
        m = std::uint8_t(m << 1);
      }
      q += 32;
    }
  }
}

void dequant_q4_k(const block_q4_k* x, float* y, std::int64_t nb) {
  for (std::int64_t i = 0; i < nb; ++i) {
    const std::uint8_t* q = x[i].qs;
    const float d = fp16_to_fp32(x[i].d), mn = fp16_to_fp32(x[i].dmin);
    for (int is = 0; is < 8; is += 2, q += 32) {
      int sc, m;
      scale_min_k4(is, x[i].scales, sc, m);
      const float d1 = d * float(sc), m1 = mn * float(m);
      scale_min_k4(is + 1, x[i].scales, sc, m);
      const float d2 = d * float(sc), m2 = mn * float(m);
      for (int l = 0; l < 32; ++l) *y++ = d1 * float(q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * float(q[l] >> 4) - m2;
    }
  }
}

void dequant_q5_k(const block_q5_k* x, float* y, std::int64_t nb) {
  for (std::int64_t i = 0; i < nb; ++i) {
    const std::uint8_t* ql = x[i].qs;
    const std::uint8_t* qh = x[i].qh;
    const float d = fp16_to_fp32(x[i].d), mn = fp16_to_fp32(x[i].dmin);
    unsigned u1 = 1, u2 = 2;
    for (int is = 0; is < 8; is += 2, ql += 32, u1 <<= 2, u2 <<= 2) {
      int sc, m;
      scale_min_k4(is, x[i].scales, sc, m);
      const float d1 = d * float(sc), m1 = mn * float(m);
      scale_min_k4(is + 1, x[i].scales, sc, m);
      const float d2 = d * float(sc), m2 = mn * float(m);
      for (int l = 0; l < 32; ++l) *y++ = d1 * float((ql[l] & 0xF) + ((qh[l] & u1) ? 16 : 0)) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * float((ql[l] >> 4) + ((qh[l] & u2) ? 16 : 0)) - m2;
    }
  }
}

void dequant_q6_k(const block_q6_k* x, float* y, std::int64_t nb) {
  for (std::int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    const std::uint8_t* ql = x[i].ql;
    const std::uint8_t* qh = x[i].qh;
    const std::int8_t* sc = x[i].scales;
    for (int n = 0; n < qk_k; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * float(sc[is]) * float(q1);
        y[l + 32] = d * float(sc[is + 2]) * float(q2);
        y[l + 64] = d * float(sc[is + 4]) * float(q3);
        y[l + 96] = d * float(sc[is + 6]) * float(q4);
      }
    }
  }
}

}  // namespace

void dequantize_row(ggml_type t, const void* x, float* y, std::int64_t n) {
  switch (t) {
    case ggml_type::f32: std::memcpy(y, x, std::size_t(n) * 4); return;
    case ggml_type::f16: {
      const auto* h = static_cast<const std::uint8_t*>(x);
      for (std::int64_t i = 0; i < n; ++i) {
        std::uint16_t v;
        std::memcpy(&v, h + 2 * i, 2);
        y[i] = fp16_to_fp32(v);
      }
      return;
    }
    case ggml_type::bf16: {
      const auto* h = static_cast<const std::uint8_t*>(x);
      for (std::int64_t i = 0; i < n; ++i) {
        std::uint16_t v;
        std::memcpy(&v, h + 2 * i, 2);
        y[i] = bf16_to_fp32(v);
      }
      return;
    }
    case ggml_type::q4_0: dequant_q4_0(static_cast<const block_q4_0*>(x), y, n / qk); return;
    case ggml_type::q4_1: dequant_q4_1(static_cast<const block_q4_1*>(x), y, n / qk); return;
    case ggml_type::q8_0: dequant_q8_0(static_cast<const block_q8_0*>(x), y, n / qk); return;
    case ggml_type::q5_0: dequant_q5_0(static_cast<const block_q5_0*>(x), y, n / qk); return;
    case ggml_type::q5_1: dequant_q5_1(static_cast<const block_q5_1*>(x), y, n / qk); return;
    case ggml_type::q2_k: dequant_q2_k(static_cast<const block_q2_k*>(x), y, n / qk_k); return;
    case ggml_type::q3_k: dequant_q3_k(static_cast<const block_q3_k*>(x), y, n / qk_k); return;
    case ggml_type::q4_k: dequant_q4_k(static_cast<const block_q4_k*>(x), y, n / qk_k); return;
    case ggml_type::q5_k: dequant_q5_k(static_cast<const block_q5_k*>(x), y, n / qk_k); return;
    case ggml_type::q6_k: dequant_q6_k(static_cast<const block_q6_k*>(x), y, n / qk_k); return;
    default: assert(false && "dequantize_row: unsupported type"); return;
  }
}

// ---- activation quantisers (ggml-cpu x86 quantize_row_q8_0 / q8_1) ---------------
void quantize_row_q8_0(const float* x, block_q8_0* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n / qk; ++i, x += qk) {
    float amax = 0;
    for (int j = 0; j < qk; ++j) amax = std::fmax(amax, std::fabs(x[j]));
    const float d = amax / 127.f;
    const float id = amax != 0.0f ? 127.f / amax : 0.0f;
    y[i].d = fp32_to_fp16(d);
    for (int j = 0; j < qk; ++j) y[i].qs[j] = std::int8_t(std::nearbyint(x[j] * id));
  }
}

void quantize_row_q8_1(const float* x, block_q8_1* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n / qk; ++i, x += qk) {
    float amax = 0;
    for (int j = 0; j < qk; ++j) amax = std::fmax(amax, std::fabs(x[j]));
    const float d = amax / 127.f;
    const float id = amax != 0.0f ? 127.f / amax : 0.0f;
    y[i].d = fp32_to_fp16(d);
    int sum = 0;
    for (int j = 0; j < qk; ++j) {
      const int q = int(std::nearbyint(x[j] * id));
      y[i].qs[j] = std::int8_t(q);
      sum += q;
    }
    y[i].s = fp32_to_fp16(d * float(sum));
  }
}

void quantize_row_q8_k(const float* x, block_q8_k* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n / qk_k; ++i, x += qk_k) {
    float mx = 0, amax = 0;
    for (int j = 0; j < qk_k; ++j) {
      const float ax = std::fabs(x[j]);
      if (ax > amax) {
        amax = ax;
        mx = x[j];
      }
    }
    if (amax == 0.0f) {  // ggml leaves bsums as they were; zero them (they are sums of zeros)
      std::memset(&y[i], 0, sizeof(block_q8_k));
      continue;
    }
    const float iscale = -127.f / mx;
    for (int j = 0; j < qk_k; ++j) {
      // nearest_int: round half to even, as nearbyint in the default mode
      const int v = int(std::nearbyint(iscale * x[j]));
      y[i].qs[j] = std::int8_t(std::min(127, v));
    }
    for (int j = 0; j < qk_k / 16; ++j) {
      int sum = 0;
      for (int l = 0; l < 16; ++l) sum += y[i].qs[j * 16 + l];
      y[i].bsums[j] = std::int16_t(sum);
    }
    y[i].d = 1 / iscale;
  }
}

}  // namespace aikid::inference
