// A persistent pool of worker threads for the forward pass.
//
// run(f) opens a job that every thread may join: the caller always runs
// f(0, n); a worker runs f(ith, n) only if it wakes up while the job is still
// open. The caller closes the job as soon as its own f returns and no worker
// is inside f. So f must split its work dynamically (an atomic item counter,
// see session.cpp): on a loaded machine a descheduled worker simply does not
// take part, and the caller never waits for a thread the OS has not run.
// One fork and one join per call, no thread creation per token; workers spin
// briefly, then sleep on a futex (std::atomic::wait).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

namespace aikid::inference {

class thread_pool {
 public:
  /// n_threads >= 1 (the caller counts as one); 1 runs everything inline.
  explicit thread_pool(int n_threads);
  ~thread_pool();
  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;

  int size() const { return n_; }
  /// Runs f(0, size()) on the caller and f(ith, size()) on the workers that
  /// join in time (see above); f must not throw.
  void run(const std::function<void(int, int)>& f);

 private:
  void worker(int ith);
  int n_;
  std::vector<std::thread> workers_;
  const std::function<void(int, int)>* job_ = nullptr;
  // high 32 bits: job generation (odd = open, even = closed); low 32: workers inside the job
  std::atomic<std::uint64_t> ctl_{0};
  std::atomic<bool> stop_{false};
};

}  // namespace aikid::inference
