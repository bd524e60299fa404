// Spawns the actors in flow order and names them for admin and the watchdog.
#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <nlohmann/json.hpp>

#include "actors/messages.hpp"

#include "actors/actors.hpp"

namespace aikid {

caf::actor spawn_embedder(caf::actor_system&, const actor_env&);
caf::actor spawn_inference(caf::actor_system&, const actor_env&);
caf::actor spawn_synthesis(caf::actor_system&, const actor_env&, caf::actor embedder, caf::actor inference);
caf::actor spawn_memory(caf::actor_system&, const actor_env&, caf::actor embedder, caf::actor synthesis);
caf::actor spawn_perception(caf::actor_system&, const actor_env&, caf::actor embedder, caf::actor memory);
caf::actor spawn_proactive(caf::actor_system&, const actor_env&, caf::actor synthesis);

std::vector<std::pair<std::string, caf::actor>> actor_set::all() const {
  std::vector<std::pair<std::string, caf::actor>> out;
  for (auto& [n, a] : std::initializer_list<std::pair<const char*, const caf::actor*>>{
           {"embedder", &embedder}, {"inference", &inference}, {"synthesis", &synthesis},
           {"memory", &memory}, {"perception", &perception}, {"proactive", &proactive}})
    if (*a) out.emplace_back(n, *a);
  return out;
}

caf::actor actor_set::owner_of(const std::string& section) const {
  if (section == "perception") return perception;
  if (section == "memory") return memory;
  if (section == "embedding") return embedder;
  if (section == "synthesis") return synthesis;
  if (section == "inference") return inference;
  if (section == "proactive") return proactive;
  return {};
}

caf::actor actor_set::server_of(wire::op_server s) const {
  switch (s) {
    case wire::op_server::ingress: return {};
    case wire::op_server::perception: return perception;
    case wire::op_server::memory: return memory;
    case wire::op_server::synthesis: return synthesis;
    case wire::op_server::inference: return inference;
    case wire::op_server::embedder: return embedder;
  }
  return {};
}

actor_set spawn_actors(caf::actor_system& sys, const actor_env& env0) {
  actor_set s;
  actor_env env = env0;
  s.embedder = spawn_embedder(sys, env);
  // Memory records which model made each vector, and its dimension: ask the
  // embedder once it has loaded (or failed to load) its model.
  {
    caf::scoped_actor self{sys};
    self->request(s.embedder, std::chrono::seconds(120), health_atom_v)
        .receive(
            [&](const std::string& h) {
              auto j = nlohmann::json::parse(h, nullptr, false);
              if (j.is_object() && j.value("up", false)) {
                env.embed_model = j.value("model", std::string{});
                env.embed_dim = j.value("dim", 0);
              }
            },
            [](caf::error&) {});
  }
  s.inference = spawn_inference(sys, env);
  s.synthesis = spawn_synthesis(sys, env, s.embedder, s.inference);
  s.memory = spawn_memory(sys, env, s.embedder, s.synthesis);
  s.perception = spawn_perception(sys, env, s.embedder, s.memory);
  s.proactive = spawn_proactive(sys, env, s.synthesis);
  // The learning path runs forward from inference to synthesis (kg.add, turns)
  // and memory (memory.add), which are spawned after it.
  caf::anon_send(s.inference, connect_atom_v, s.synthesis, s.memory);
  return s;
}

}  // namespace aikid
