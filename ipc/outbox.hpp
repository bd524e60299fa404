// A many-producer, one-consumer queue whose consumer sleeps in poll():
// producers (actor threads) push and write an eventfd; the I/O thread that
// owns a ZeroMQ socket polls that fd beside its socket and drains the queue.
// This is how actors hand work to ingress and publisher without touching
// their sockets (a ZeroMQ socket is used by one thread only).
#pragma once

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>

namespace aikid::ipc {

template <class T>
class outbox {
 public:
  /// Fails (throws std::runtime_error, at start-up only) if no eventfd can be made.
  explicit outbox(std::size_t capacity) : capacity_(capacity) {
    fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd_ < 0) throw std::runtime_error("eventfd failed");
  }
  ~outbox() { ::close(fd_); }
  outbox(const outbox&) = delete;
  outbox& operator=(const outbox&) = delete;

  /// Queues `item`. When the queue is full the item is dropped and counted
  /// (returns false): a producer never blocks.
  /// Only the push into an empty queue writes the eventfd: the consumer
  /// takes the whole queue when it wakes, so later pushes ride on that wake
  /// (a burst of replies costs one write and one wake, not one each).
  bool push(T item) {
    bool first;
    {
      std::lock_guard<std::mutex> g(mu_);
      if (q_.size() >= capacity_) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
        return false;
      }
      first = q_.empty();
      q_.push_back(std::move(item));
    }
    if (first) {
      std::uint64_t one = 1;
      [[maybe_unused]] auto n = ::write(fd_, &one, sizeof one);
    }
    return true;
  }

  /// Moves every queued item into `out` (consumer thread only).
  void drain(std::deque<T>& out) {
    std::uint64_t v;
    [[maybe_unused]] auto n = ::read(fd_, &v, sizeof v);
    std::lock_guard<std::mutex> g(mu_);
    if (out.empty()) out.swap(q_);
    else
      while (!q_.empty()) { out.push_back(std::move(q_.front())); q_.pop_front(); }
  }

  int fd() const { return fd_; }
  std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  std::size_t capacity_;
  int fd_ = -1;
  std::mutex mu_;
  std::deque<T> q_;
  std::atomic<std::uint64_t> dropped_{0};
};

}  // namespace aikid::ipc
