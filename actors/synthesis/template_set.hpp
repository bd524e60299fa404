// The template set's layout, shared by templates_load.cpp, templates_match.cpp
// and render.cpp (internal).
#pragma once

#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <faiss/IndexFlat.h>

#include "actors/synthesis/internal.hpp"
#include "actors/synthesis/synthesis.hpp"

namespace aikid::synthesis {

struct template_set {
  std::vector<template_def> defs;
  std::unordered_map<std::string, int> by_name;

  // The context fields each template reads (render builds only these).
  std::vector<detail::context_use> used;

  // Meaning: one unit vector per example, all templates' examples in order.
  // index->get_xb() is [n_examples × dim], row-major.
  std::unique_ptr<faiss::IndexFlatIP> index;
  int dim = 0;
  std::vector<std::uint32_t> example_owner;      // example row → template index
  std::vector<std::pair<std::uint32_t, std::uint32_t>> example_rows;  // template → [begin, end)

  // The same examples as int8 codes for the first pass of the search (see
  // templates_match.cpp): row i ≈ code_scale[i] · codes[i], exactly within
  // code_err[i] = ‖x_i − code_scale[i]·codes[i]‖₂; code_norm[i] = ‖code_scale[i]·codes[i]‖₂,
  // code_sum[i] = Σ codes[i]. codes is [n_examples × code_dim], code_dim = dim rounded
  // up to 64 (zero padded). Empty when an example vector is not finite (then the
  // search scans in fp32 only).
  std::vector<std::int8_t> codes;
  std::size_t code_dim = 0;
  std::vector<float> code_scale, code_err, code_norm;
  std::vector<std::int32_t> code_sum;

  // Keywords: one automaton; pattern → templates that list it.
  detail::ac_automaton keywords;
  std::vector<std::vector<std::uint32_t>> keyword_owner;
};

namespace detail {
/// out[i] = Σ_j codes[i·cd + j] · qd[j] for rows i < n (cd a multiple of 64;
/// qu[j] = qd[j] + 128; row_sum[i] = Σ_j codes[i·cd + j]).
using code_dot_fn = void (*)(const std::int8_t* codes, std::size_t n, std::size_t cd, const std::int8_t* qd,
                             const std::uint8_t* qu, const std::int32_t* row_sum, std::int32_t* out);
struct code_kernel {
  const char* name;
  code_dot_fn fn;
};
/// The int8 kernels this CPU runs, scalar first, the one used last (tests compare them).
std::vector<code_kernel> code_kernels();
}  // namespace detail

/// Fills s.codes … s.code_sum from s.index (templates_match.cpp). Never fails.
void templates_build_codes(template_set& s);

}  // namespace aikid::synthesis
