// Latency and count bookkeeping for stats/metrics: a window of the most
// recent samples, from which p50/p99 are read. Not thread-safe: each owner
// (an actor, an I/O thread) keeps its own.
#pragma once

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

namespace aikid {

class latency_window {
 public:
  static constexpr std::size_t capacity = 1024;

  void add(double ms) {
    ring_[next_] = ms;
    next_ = (next_ + 1) % capacity;
    if (size_ < capacity) ++size_;
    ++count_;
    sum_ += ms;
  }
  std::uint64_t count() const { return count_; }
  /// The sum of every sample ever added (not just the window's), in ms.
  double sum() const { return sum_; }
  /// The q-quantile (0..1) of the window, 0 when empty.
  double quantile(double q) const {
    if (size_ == 0) return 0;
    std::vector<double> v(ring_.begin(), ring_.begin() + static_cast<std::ptrdiff_t>(size_));
    auto k = static_cast<std::size_t>(q * static_cast<double>(size_ - 1) + 0.5);
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
    return v[k];
  }
  nlohmann::json to_json() const {
    return {{"count", count_}, {"sum_ms", sum_}, {"p50_ms", quantile(0.50)}, {"p99_ms", quantile(0.99)}};
  }

 private:
  std::array<double, capacity> ring_{};
  std::size_t next_ = 0, size_ = 0;
  std::uint64_t count_ = 0;
  double sum_ = 0;
};

}  // namespace aikid
