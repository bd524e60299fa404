// bert_team: the forward pass's helper threads. They live as long as the
// encoder's scratch, sleep on a futex (std::atomic::wait) between jobs and
// each run a share of a split piece of work, so a call pays a wake-up
// (microseconds) instead of BLIS 0.9's thread create + join per product, and
// a helper whose core is taken by another process delays the job instead of
// spinning against it.

#include <algorithm>

#include "actors/embedding/bert.hpp"

namespace aikid::embedding {

bert_team::bert_team(int threads) {
  const int n = std::max(1, threads);
  helpers_.reserve(static_cast<std::size_t>(n - 1));
  try {
    for (int i = 1; i < n; ++i) helpers_.emplace_back([this, i] { helper_loop(i); });
  } catch (...) {  // not a silent catch-all: stop the helpers already started, then rethrow
    stop_helpers();
    throw;
  }
}

bert_team::~bert_team() { stop_helpers(); }

void bert_team::stop_helpers() {
  stop_.store(true);
  generation_.fetch_add(1);
  generation_.notify_all();
  for (auto& t : helpers_) t.join();
  helpers_.clear();
}

void bert_team::helper_loop(int index) {
  unsigned seen = 0;
  for (;;) {
    generation_.wait(seen);
    seen = generation_.load();
    if (stop_.load()) return;
    (*job_)(index);
    if (pending_.fetch_sub(1) == 1) pending_.notify_one();
  }
}

void bert_team::run(const std::function<void(int)>& fn) {
  if (helpers_.empty()) {
    fn(0);
    return;
  }
  job_ = &fn;
  pending_.store(static_cast<int>(helpers_.size()));
  generation_.fetch_add(1);
  generation_.notify_all();
  fn(0);
  for (int left = pending_.load(); left != 0; left = pending_.load()) pending_.wait(left);
  job_ = nullptr;
}

}  // namespace aikid::embedding
