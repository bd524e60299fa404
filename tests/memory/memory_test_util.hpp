// Helpers shared by the memory engine tests: a temporary data folder,
// seeded random and clustered unit vectors, and a brute-force reference.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "actors/memory/memory.hpp"

namespace aikid {
inline std::ostream& operator<<(std::ostream& o, errc c) { return o << errc_name(c); }
}  // namespace aikid

namespace memtest {

inline std::string opt(const std::optional<std::string>& s) { return s ? "'" + *s + "'" : "<null>"; }


struct temp_dir {
  std::filesystem::path path;
  explicit temp_dir(const std::string& tag) {
    path = std::filesystem::temp_directory_path() /
           ("aikid-memory-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(std::rand()));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

inline std::vector<float> unit(std::vector<float> v) {
  double s = 0;
  for (float x : v) s += double(x) * x;
  for (float& x : v) x = static_cast<float>(x / std::sqrt(s));
  return v;
}

inline std::vector<float> random_vec(std::mt19937& g, int dim) {
  std::normal_distribution<float> n;
  std::vector<float> v(dim);
  for (auto& x : v) x = n(g);
  return unit(std::move(v));
}

/// A point near one of `centres` (noise sigma per coordinate).
inline std::vector<float> clustered_vec(std::mt19937& g, const std::vector<std::vector<float>>& centres,
                                        float sigma) {
  std::uniform_int_distribution<std::size_t> pick(0, centres.size() - 1);
  std::normal_distribution<float> n(0, sigma);
  std::vector<float> v = centres[pick(g)];
  for (auto& x : v) x += n(g);
  return unit(std::move(v));
}

inline double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += double(a[i]) * b[i];
  return s;
}

struct ref_item {
  std::int64_t id;
  std::string user;
  nlohmann::json meta;
  std::int64_t created;
  std::vector<float> vec;
};

/// Brute-force top k (score desc, id asc), double precision.
template <class Pred>
std::vector<std::pair<std::int64_t, double>> brute_topk(const std::vector<ref_item>& items,
                                                        const std::vector<float>& q, int k, Pred pred) {
  std::vector<std::pair<std::int64_t, double>> all;
  for (const auto& it : items)
    if (pred(it)) all.emplace_back(it.id, dot(it.vec, q));
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
    return a.second > b.second || (a.second == b.second && a.first < b.first);
  });
  if (all.size() > static_cast<std::size_t>(k)) all.resize(k);
  return all;
}

inline std::string file_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace memtest
