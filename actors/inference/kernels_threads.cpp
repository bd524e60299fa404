// thread_pool: see kernels_threads.hpp.
#include "actors/inference/kernels_threads.hpp"

#include <immintrin.h>

namespace aikid::inference {

namespace {
constexpr int spin_iters = 4000;  // a few µs of pause before sleeping
constexpr std::uint64_t low = 0xffffffffu;
}

thread_pool::thread_pool(int n_threads) : n_(n_threads < 1 ? 1 : n_threads) {
  for (int i = 1; i < n_; ++i) workers_.emplace_back([this, i] { worker(i); });
}

thread_pool::~thread_pool() {
  stop_.store(true, std::memory_order_release);
  ctl_.fetch_add(std::uint64_t(2) << 32, std::memory_order_acq_rel);  // wakes every waiter
  ctl_.notify_all();
  for (auto& t : workers_) t.join();
}

void thread_pool::run(const std::function<void(int, int)>& f) {
  if (n_ == 1) {
    f(0, 1);
    return;
  }
  job_ = &f;
  // open: generation even -> odd (no worker can be inside a closed job)
  const std::uint64_t open = ctl_.fetch_add(std::uint64_t(1) << 32, std::memory_order_acq_rel) + (std::uint64_t(1) << 32);
  const std::uint64_t gen = open >> 32;
  ctl_.notify_all();
  f(0, n_);
  // close once no worker is inside the job
  for (int i = 0;; ++i) {
    std::uint64_t v = ctl_.load(std::memory_order_acquire);
    if ((v & low) == 0) {
      if (ctl_.compare_exchange_weak(v, (gen + 1) << 32, std::memory_order_acq_rel)) return;
      continue;
    }
    if (i < spin_iters) _mm_pause();
    else ctl_.wait(v, std::memory_order_acquire);
  }
}

void thread_pool::worker(int ith) {
  std::uint64_t seen = 0;
  for (int i = 0;; ++i) {
    if (stop_.load(std::memory_order_acquire)) return;
    std::uint64_t v = ctl_.load(std::memory_order_acquire);
    const std::uint64_t gen = v >> 32;
    if ((gen & 1) && gen != seen) {
      // enter the open job (fails if the caller closed it meanwhile)
      if (!ctl_.compare_exchange_weak(v, v + 1, std::memory_order_acq_rel)) continue;
      seen = gen;
      (*job_)(ith, n_);
      ctl_.fetch_sub(1, std::memory_order_acq_rel);
      ctl_.notify_all();
      i = 0;
      continue;
    }
    if (i < spin_iters) _mm_pause();
    else ctl_.wait(v, std::memory_order_acquire);
  }
}

}  // namespace aikid::inference
