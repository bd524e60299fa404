// The inference kernel thread pool (actors/inference/kernels_threads.*) under
// ThreadSanitizer: many short jobs back to back, split dynamically over an
// atomic item counter the way session.cpp does, each writing its own slots of
// a shared buffer that the caller then reads. A pool that let a job's writes
// escape its join, reused a closed job or lost a worker fails the value
// checks (or TSan reports the race and halts).
#define BOOST_TEST_MODULE tsan_kernel_pool
#include <atomic>
#include <cstdint>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "actors/inference/kernels_threads.hpp"

using aikid::inference::thread_pool;

namespace {

// One job of `items` slots: slot i becomes i * round + 1, whoever takes it.
// Returns how many slots the workers (not the caller) took. Boost.Test is not
// thread-safe: the job only counts, the caller checks.
int run_round(thread_pool& pool, std::vector<std::int64_t>& out, int round) {
  std::atomic<int> next{0}, by_workers{0}, bad_index{0};
  const int items = static_cast<int>(out.size());
  pool.run([&](int ith, int n) {
    if (ith < 0 || ith >= n || n != pool.size()) bad_index.fetch_add(1);
    for (int i = next.fetch_add(1); i < items; i = next.fetch_add(1)) {
      out[static_cast<std::size_t>(i)] = std::int64_t(i) * round + 1;
      if (ith != 0) by_workers.fetch_add(1, std::memory_order_relaxed);
    }
  });
  BOOST_REQUIRE_EQUAL(bad_index.load(), 0);
  return by_workers.load();
}

}  // namespace

BOOST_AUTO_TEST_CASE(every_slot_of_every_job_is_written_once_and_visible_to_the_caller) {
  for (int threads : {2, 3, 4}) {
    thread_pool pool(threads);
    BOOST_REQUIRE_EQUAL(pool.size(), threads);
    std::vector<std::int64_t> out(257);
    long worker_items = 0;
    for (int round = 1; round <= 1500; ++round) {
      worker_items += run_round(pool, out, round);
      for (std::size_t i = 0; i < out.size(); ++i)
        if (out[i] != std::int64_t(i) * round + 1)
          BOOST_FAIL("threads " << threads << ", round " << round << ": slot " << i << " = " << out[i]);
    }
    BOOST_TEST_MESSAGE(threads << " threads: workers took " << worker_items << " of " << 1500 * 257 << " items");
  }
}

BOOST_AUTO_TEST_CASE(caller_state_written_between_jobs_is_seen_by_workers) {
  // The job reads a plain variable the caller set before run(): the pool's
  // open must publish it to the workers.
  thread_pool pool(4);
  std::vector<int> seen(4, 0);
  int input = 0;
  for (int round = 1; round <= 2000; ++round) {
    input = round;
    std::atomic<int> mismatches{0};
    pool.run([&](int ith, int) {
      if (input != round) mismatches.fetch_add(1);
      seen[static_cast<std::size_t>(ith)] = round;
    });
    BOOST_REQUIRE_EQUAL(mismatches.load(), 0);
    BOOST_REQUIRE_EQUAL(seen[0], round);  // the caller always runs its share
  }
}

BOOST_AUTO_TEST_CASE(pools_start_and_stop_while_idle_or_just_after_a_job) {
  for (int i = 0; i < 200; ++i) {
    thread_pool pool(1 + i % 4);
    if (i % 2) {
      std::vector<std::int64_t> out(31);
      run_round(pool, out, i);
      for (std::size_t k = 0; k < out.size(); ++k) BOOST_REQUIRE_EQUAL(out[k], std::int64_t(k) * i + 1);
    }
  }
}
