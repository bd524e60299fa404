// The embedding engine's thread team (actors/embedding/bert_team.cpp) under
// ThreadSanitizer: every member runs every job exactly once, its writes are
// visible to the caller when run() returns, and teams start and stop
// cleanly, also right after a job. A lost wake-up hangs (ctest timeout); a
// double or missing run fails the counts; a race is a TSan report.
#define BOOST_TEST_MODULE tsan_bert_team
#include <atomic>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "actors/embedding/bert.hpp"

using aikid::embedding::bert_team;

BOOST_AUTO_TEST_CASE(each_member_runs_each_job_once_and_its_writes_are_visible) {
  for (int threads : {2, 3, 5}) {
    bert_team team(threads);
    BOOST_REQUIRE_EQUAL(team.size(), threads);
    std::vector<int> last(static_cast<std::size_t>(threads), 0);
    std::vector<long> runs(static_cast<std::size_t>(threads), 0);
    std::vector<double> shard(static_cast<std::size_t>(threads) * 64, 0.0);
    for (int job = 1; job <= 2000; ++job) {
      team.run([&](int index) {
        const auto i = static_cast<std::size_t>(index);
        last[i] = job;
        ++runs[i];
        for (std::size_t k = 0; k < 64; ++k) shard[i * 64 + k] = job * 0.5 + double(k);
      });
      for (int m = 0; m < threads; ++m) {
        const auto i = static_cast<std::size_t>(m);
        if (last[i] != job || runs[i] != job)
          BOOST_FAIL("threads " << threads << ", job " << job << ": member " << m << " last ran job "
                                << last[i] << ", " << runs[i] << " runs");
        for (std::size_t k = 0; k < 64; ++k)
          if (shard[i * 64 + k] != job * 0.5 + double(k))
            BOOST_FAIL("job " << job << ": member " << m << " slot " << k << " stale");
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(teams_start_and_stop_idle_or_right_after_a_job) {
  std::atomic<long> total{0};
  long want = 0;
  for (int i = 0; i < 300; ++i) {
    bert_team team(1 + i % 4);
    if (i % 3) {
      team.run([&](int) { total.fetch_add(1); });
      want += team.size();
    }
  }
  BOOST_TEST(total.load() == want);
}
