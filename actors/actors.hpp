// actors/: the actor shells. Each owns one engine and speaks messages; the
// engines live beside them (actors/<name>/) and know nothing of actors.
//
// Table of contents
//   actor_env                    what every actor is given at spawn
//   *_config_keys()              each actor's keys in the config registry
//   spawn_*                      one function per actor
//   actor_set                    the running actors, by name (admin and watchdog use it)
//   flow_section_owner           which actor owns a config section
#pragma once

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include <memory>
#include <string>
#include <vector>

#include "common/sinks.hpp"
#include "daemon/config/config.hpp"
#include "ipc/ops.hpp"

namespace aikid {

struct actor_env {
  std::shared_ptr<reply_sink> replies;
  std::shared_ptr<thought_sink> thoughts;
  config::values cfg;  // the whole configuration at spawn; later changes come as tunables_msg
  bool debug = false;  // daemon.debug: enables the `stall` test hook
  std::string embed_model;  // the embedder's model id at start ("" if down)
  int embed_dim = 0;        // its vector size (0 if down)
};

std::vector<config::key_spec> perception_config_keys();
std::vector<config::key_spec> memory_config_keys();
std::vector<config::key_spec> embedding_config_keys();
std::vector<config::key_spec> synthesis_config_keys();
std::vector<config::key_spec> inference_config_keys();
std::vector<config::key_spec> proactive_config_keys();

/// The running actors of one daemon, in flow order.
struct actor_set {
  caf::actor embedder, inference, synthesis, memory, perception, proactive;
  /// (name, handle) pairs, for heartbeat/stats/health over all of them.
  std::vector<std::pair<std::string, caf::actor>> all() const;
  /// The actor that owns config section `section` (null handle if none).
  caf::actor owner_of(const std::string& section) const;
  /// The actor that serves the ops of `s` (an op's row names it: ipc/ops.hpp);
  /// a null handle for op_server::ingress (ping is answered on its thread).
  caf::actor server_of(wire::op_server s) const;
};

/// Spawns every actor, wired in flow order. Compute-heavy actors (embedder,
/// inference) run detached on their own threads.
actor_set spawn_actors(caf::actor_system& sys, const actor_env& env);

}  // namespace aikid
