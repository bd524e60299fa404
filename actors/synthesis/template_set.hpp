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

  // Root-context names each template reads (render builds only these).
  std::vector<std::set<std::string>> used_roots;

  // Meaning: one unit vector per example, all templates' examples in order.
  // index->get_xb() is [n_examples × dim], row-major.
  std::unique_ptr<faiss::IndexFlatIP> index;
  int dim = 0;
  std::vector<std::uint32_t> example_owner;      // example row → template index
  std::vector<std::pair<std::uint32_t, std::uint32_t>> example_rows;  // template → [begin, end)

  // Keywords: one automaton; pattern → templates that list it.
  detail::ac_automaton keywords;
  std::vector<std::vector<std::uint32_t>> keyword_owner;
};

}  // namespace aikid::synthesis
