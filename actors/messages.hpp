// The messages of the flow between actors (CAF 0.17 type-id block).
//
//   request_msg    ingress → the actor that serves an op (a ticket to reply on)
//   percept_msg    perception → memory → synthesis → (inference) → publisher
//   generate_msg   synthesis → inference: chat messages to complete for a percept
//                  (an answer), or to extract facts from / summarise (learning)
//   learn_msg      inference → synthesis, memory: what the learning path found
//                  (triples for the graph, texts for memory, the answer's turn)
//   tunables_msg   admin → an actor: validated new values of its live keys
//   atoms          stats, health (also the watchdog's heartbeat), cancel, reload, loaded, tick,
//                  reflect, clock, connect
#pragma once

#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/type_id.hpp>

#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace aikid {

/// A client request, already envelope-checked by ingress. `body` is the whole
/// request object as JSON text; the serving actor validates its fields.
struct request_msg {
  std::uint64_t ticket = 0;
  std::string op;
  std::string id;
  std::string body;  // the request object as the client sent it (JSON text)
  std::int64_t deadline_ns = 0;  // steady_clock, 0 = none
  /// `body` as ingress parsed it (every frame is parsed once, to check it):
  /// actors read this (kit::body_of) instead of parsing the text again.
  /// Shared and immutable; not in inspect() (messages stay in this process).
  std::shared_ptr<const nlohmann::json> parsed;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, request_msg& x) {
  return f(caf::meta::type_name("request_msg"), x.ticket, x.op, x.id, x.body, x.deadline_ns);
}

/// One percept on its way through the flow. Each stage fills its part and
/// records its time in `stage_names`/`stage_ms` (perceive, embed, recall,
/// compose, generate).
struct percept_msg {
  std::string percept_id;
  std::string request_id;  // the client's id of the perceive request ("" for proactive)
  std::string user;
  std::string source;
  std::string kind = "response";  // response | reminder | reflection
  std::string text;
  std::string meta;           // JSON object text
  std::vector<float> vec;     // unit vector; empty when the embedder is down
  std::string embed_model;    // who made vec
  std::string memories;       // JSON array of recalled hits
  std::vector<std::int64_t> memory_ids;
  std::int64_t t0_ns = 0;     // steady_clock when perception took it
  std::vector<std::string> stage_names;
  std::vector<double> stage_ms;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, percept_msg& x) {
  return f(caf::meta::type_name("percept_msg"), x.percept_id, x.request_id, x.user, x.source, x.kind, x.text,
           x.meta, x.vec, x.embed_model, x.memories, x.memory_ids, x.t0_ns, x.stage_names, x.stage_ms);
}

/// Synthesis asks inference for a completion of `messages_json` (a JSON array
/// of {"role","content"}) for a percept. purpose "answer": the reply to the
/// percept, streamed and published as its thought. "extract": facts, as JSON
/// under `schema_json`, sent on as a learn_msg, never published. "reflect": a
/// summary, published as a `reflection` thought and remembered.
/// `temperature` and `repeat_penalty` < 0: inference's own (inference.temperature,
/// no penalty); an extraction is always greedy.
struct generate_msg {
  percept_msg percept;
  std::string messages_json;
  std::int32_t max_tokens = 128;
  std::string purpose = "answer";
  std::string schema_json;  // "" = free text
  float temperature = -1.f;
  float repeat_penalty = -1.f;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, generate_msg& x) {
  return f(caf::meta::type_name("generate_msg"), x.percept, x.messages_json, x.max_tokens, x.purpose,
           x.schema_json, x.temperature, x.repeat_penalty);
}

/// The learning path's findings about one percept (off the reply path):
/// `triples_json` a JSON array of [subject, relation, object] for kg.add (the
/// speaker already named as the user), `memories` the same facts as sentences
/// for memory.add (with dedup), `answer` the model's reply,
/// kept by synthesis as the assistant's turn. Any part may be empty.
struct learn_msg {
  std::string user;
  std::string percept_id;
  std::string source;  // what made it: "extract" | "reflect" | "answer"
  std::string triples_json;
  std::vector<std::string> memories;
  std::string answer;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, learn_msg& x) {
  return f(caf::meta::type_name("learn_msg"), x.user, x.percept_id, x.source, x.triples_json, x.memories, x.answer);
}

/// New values for an actor's live keys, already validated against the
/// registry (so applying them cannot fail): parallel key/value-text lists.
struct tunables_msg {
  std::vector<std::string> keys;
  std::vector<std::string> values;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tunables_msg& x) {
  return f(caf::meta::type_name("tunables_msg"), x.keys, x.values);
}

}  // namespace aikid

CAF_BEGIN_TYPE_ID_BLOCK(aikid, caf::first_custom_type_id)
  CAF_ADD_TYPE_ID(aikid, (aikid::request_msg))
  CAF_ADD_TYPE_ID(aikid, (aikid::percept_msg))
  CAF_ADD_TYPE_ID(aikid, (aikid::generate_msg))
  CAF_ADD_TYPE_ID(aikid, (aikid::tunables_msg))
  CAF_ADD_TYPE_ID(aikid, (aikid::learn_msg))
  CAF_ADD_ATOM(aikid, aikid, stats_atom, "stats")
  CAF_ADD_ATOM(aikid, aikid, health_atom, "health")
  CAF_ADD_ATOM(aikid, aikid, cancel_atom, "cancel")
  CAF_ADD_ATOM(aikid, aikid, reload_atom, "reload")
  CAF_ADD_ATOM(aikid, aikid, stall_atom, "stall")
  CAF_ADD_ATOM(aikid, aikid, admin_atom, "admin")
  CAF_ADD_ATOM(aikid, aikid, embed_atom, "embed")
  CAF_ADD_ATOM(aikid, aikid, step_atom, "step")
  CAF_ADD_ATOM(aikid, aikid, loaded_atom, "loaded")
  CAF_ADD_ATOM(aikid, aikid, tick_atom, "tick")
  CAF_ADD_ATOM(aikid, aikid, reflect_atom, "reflect")
  CAF_ADD_ATOM(aikid, aikid, clock_atom, "clock")
  CAF_ADD_ATOM(aikid, aikid, connect_atom, "connect")
  CAF_ADD_ATOM(aikid, aikid, flush_atom, "flush")
CAF_END_TYPE_ID_BLOCK(aikid)
