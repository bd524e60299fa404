// Where actors send what leaves the process. Implemented by ipc/ (ingress
// answers the client, publisher publishes the thought); tests implement them
// with plain queues. Both are safe to call from any thread and never block.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "common/error.hpp"

namespace aikid {

/// Answers the client request identified by `ticket` (given by ingress with
/// the request). A ticket is answered once; later answers are ignored (the
/// request may already have met its deadline).
class reply_sink {
 public:
  virtual ~reply_sink() = default;
  /// `fields` (a JSON object) are merged into {"v":1,"id":…,"ok":true}.
  virtual void reply_ok(std::uint64_t ticket, nlohmann::json fields) = 0;
  virtual void reply_error(std::uint64_t ticket, error e) = 0;
};

/// Publishes a thought or event on `topic`. The sink adds "v", "boot_id",
/// the per-topic "seq" and "ts" (unix ms) if absent. Never blocks: a slow
/// subscriber loses messages at its high-water mark.
class thought_sink {
 public:
  virtual ~thought_sink() = default;
  virtual void publish(std::string topic, nlohmann::json body) = 0;
};

}  // namespace aikid
