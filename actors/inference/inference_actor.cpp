// inference: owns the LLM engine (GGUF model + one KV-cache session). Serves
// `generate`, `tokenize`, `model.info` and `cancel`, and answers percepts that
// synthesis hands it as chat messages. Runs detached; a generation advances one
// token per message to itself, so heartbeats and cancels are handled between
// tokens (a cancel stops a generation within one token). Prompts go through a
// prompt cache (inference.cache_slots sessions, longest shared prefix reused);
// tokens are chosen by the sampler chain, masked by a JSON schema when given.
// `reload model` loads a model on a loader thread while generation goes on; the
// new model takes over between two generations, and queued requests (kept as
// text, tokenized when they start) run on it: nothing queued is dropped.
// Percept answers queue up to inference.max_queue (past it the percept's
// thought says busy); a newer percept of the same user cancels an older answer
// still running or queued (inference.supersede). The learning path's jobs
// (extract, reflect) wait in a bounded background queue and run only when no
// answer or request is waiting; what they find goes on to synthesis and memory.
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <spdlog/spdlog.h>

#include <deque>
#include <thread>

#include "actors/actor_kit.hpp"
#include "actors/inference/inference.hpp"
#include "actors/inference/prompt_cache.hpp"
#include "actors/inference/sampling.hpp"
#include "actors/inference/schema.hpp"

namespace aikid {

std::vector<config::key_spec> inference_config_keys() {
  using namespace config;
  return {
      key_path("inference.model", "../models/SmolLM2-135M-Instruct.Q4_1.gguf",
               "GGUF file of a llama-architecture model (a change loads it beside the one in service, which serves until "
               "it is ready; `reload model` reads the same file anew)")
          .is_live(),
      key_int("inference.n_ctx", 2048, 64, 131072, "context size of the session (tokens)"),
      key_int("inference.threads", 1, 1, 64, "threads for the matrix kernels"),
      key_int("inference.default_max_tokens", 256, 1, 32768, "max_tokens when a request gives none").is_live(),
      key_int("inference.prefill_chunk", 16, 1, 4096,
              "prompt tokens evaluated per unit of work (heartbeats and cancels are handled between units)")
          .is_live(),
      key_int("inference.cache_slots", 2, 1, 16,
              "prompt cache: sessions kept, each holding one prompt's KV (the longest shared prefix is reused)")
          .is_live(),
      key_int("inference.max_queue", 16, 1, 100000,
              "percept answers waiting for the model; past it a percept's thought is an error `busy`")
          .is_live(),
      key_int("inference.max_background", 8, 0, 100000,
              "learning-path jobs (fact extraction, reflection) waiting; past it new ones are dropped (counted)")
          .is_live(),
      key_bool("inference.supersede", true,
               "a newer percept of the same user cancels an older answer still running or queued")
          .is_live(),
      key_real("inference.temperature", 0.8, 0.0, 100.0,
               "sampling temperature when a request gives none, and for percepts (0 = greedy)")
          .is_live(),
  };
}

namespace {

using json = kit::json;
namespace inf = inference;

/// One generation: for a client request (ticket) or a percept (publish).
struct job {
  bool for_percept = false;
  std::string purpose = "answer";  // percepts: answer | extract | reflect
  std::uint64_t ticket = 0;
  std::string request_id;
  percept_msg percept;
  // The request's prompt, tokenized by the model in service when the job starts.
  bool chat = false;
  std::string prompt_text;
  std::vector<inf::chat_message> messages;
  std::vector<std::int32_t> prompt;
  int max_tokens = 0;
  bool stream = false;
  inf::sampling_params sampling;
  std::vector<std::string> stop;
  std::shared_ptr<const inf::compiled_schema> schema;
  // per generation (made in start_next)
  std::optional<inf::sampler> smp;
  std::optional<inf::stop_scanner> stops;
  std::optional<inf::json_automaton> automaton;
  int slot = -1;
  int cached = 0;
  std::size_t emitted = 0;  // bytes of text already streamed
  std::string finish_reason = "length";
  std::int64_t deadline_ns = 0;
  // progress
  std::vector<std::int32_t> out;
  std::string text;
  std::string pending_bytes;  // a UTF-8 character not yet complete
  int index = 0;
  bool cancelled = false;
  bool supersede = false;  // cancelled by a newer percept of the same user
  bool background() const { return for_percept && purpose != "answer"; }
  std::int64_t t_start = 0, t_first = 0;
  int prompt_tokens = 0;
  std::size_t prefilled = 0;  // prompt tokens evaluated so far
};

/// A model being loaded by `reload model` on the loader thread.
struct model_load {
  std::string path;
  std::optional<expected<std::unique_ptr<inf::model>>> result;  // set by the loader thread
};

struct inference_state {
  actor_env env;
  std::unique_ptr<inf::model> model;
  std::string model_path;
  // reload model: the loader thread, its result, the admin's promise, and a
  // loaded model waiting for the running generation to end
  std::thread loader;
  std::shared_ptr<model_load> loading;
  caf::typed_response_promise<std::string> reload_rp;
  std::unique_ptr<inf::model> next_model;
  std::string next_path;
  std::uint64_t reloads = 0;
  std::unique_ptr<inf::prompt_cache> cache;     // answers and client requests (inference.cache_slots)
  std::unique_ptr<inf::prompt_cache> bg_cache;  // the learning path's one slot: it never evicts an answer's prefix
  std::unique_ptr<inf::token_masker> masker;  // made on the first schema request
  std::vector<std::uint8_t> mask;
  std::uint64_t cached_tokens = 0;
  std::string down_reason;
  std::deque<job> queue;       // client requests and percept answers, in order
  std::deque<job> background;  // learning path: run when `queue` is empty
  std::optional<job> cur;
  std::optional<job> paused;  // a learning-path job set aside for an answer; resumes when none waits
  bool stepping = false;      // a step message is on its way (one chain of steps at a time)
  caf::actor synthesis, memory;  // where the learning path's findings go
  std::uint64_t superseded = 0, busy = 0, dropped_background = 0;
  kit::stage_stats gen;
  std::uint64_t tokens_out = 0, cancelled = 0;
  static inline const char* name = "inference";
  ~inference_state() {
    if (loader.joinable()) loader.join();
  }
};

using inference_actor = caf::stateful_actor<inference_state>;

inf::model_options options_of(const inference_state& st, const std::string& path) {
  inf::model_options o;
  o.path = path;
  o.threads = static_cast<int>(st.env.cfg.get_int("inference.threads"));
  o.n_ctx = static_cast<int>(st.env.cfg.get_int("inference.n_ctx"));
  return o;
}

// Puts `m` in service: a new prompt cache (the old one's KV belongs to the old
// model and is dropped first), a new schema masker on demand.
void install(inference_state& st, std::unique_ptr<inf::model> m, const std::string& path) {
  st.cache.reset();
  st.bg_cache.reset();
  st.paused.reset();  // its KV belongs to the old model
  st.masker.reset();
  st.model = std::move(m);
  st.model_path = path;
  const int n_ctx = static_cast<int>(st.env.cfg.get_int("inference.n_ctx"));
  st.cache = std::make_unique<inf::prompt_cache>(*st.model, n_ctx, static_cast<int>(st.env.cfg.get_int("inference.cache_slots")));
  st.bg_cache = std::make_unique<inf::prompt_cache>(*st.model, std::min(n_ctx, 1024), 1);
  st.env.cfg.set("inference.model", path);
  st.down_reason.clear();
}

void load(inference_state& st) {
  auto path = st.env.cfg.get_string("inference.model");
  if (path.empty()) {
    st.down_reason = "inference.model is not set";
    return;
  }
  auto m = inf::model::load(options_of(st, path));
  if (!m) {
    st.down_reason = m.error().message;
    return;
  }
  install(st, std::move(*m), path);
}

// A reloaded model waiting for the running generation takes over here.
void swap_if_ready(inference_state& st) {
  if (st.cur || !st.next_model) return;
  install(st, std::move(st.next_model), st.next_path);
  ++st.reloads;
  spdlog::info("inference: now serving {} ({})", st.model->info().name, st.model_path);
}

inf::prompt_cache& cache_of(inference_state& st, const job& j) { return j.background() ? *st.bg_cache : *st.cache; }

// Sends the next step unless one is on its way: one chain of steps at a time.
void schedule(inference_actor* self) {
  if (self->state.stepping) return;
  self->state.stepping = true;
  self->send(self, step_atom_v);
}

// An answer or a request has arrived: a learning-path job in progress steps aside.
void preempt_background(inference_state& st) {
  if (st.cur && st.cur->background() && !st.paused) {
    st.paused = std::move(st.cur);
    st.cur.reset();
  }
}

// Length of the longest prefix of `s` made of whole UTF-8 characters.
std::size_t utf8_complete_prefix(const std::string& s) {
  std::size_t n = s.size(), i = n;
  // Walk back over at most 3 continuation bytes to the lead byte.
  std::size_t back = 0;
  while (i > 0 && back < 4) {
    unsigned char c = static_cast<unsigned char>(s[i - 1]);
    if ((c & 0xC0) != 0x80) {
      std::size_t need = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
      return (n - (i - 1) >= need) ? n : i - 1;
    }
    --i;
    ++back;
  }
  return n;
}

json timings_of(const job& j) {
  double total = kit::ms_since(j.t_start);
  double first = j.t_first ? static_cast<double>(j.t_first - j.t_start) / 1e6 : total;
  return {{"prompt_tokens", j.prompt_tokens}, {"generated_tokens", j.out.size()}, {"cached_tokens", j.cached},
          {"first_token_ms", first}, {"total_ms", total}};
}

// An extraction's JSON ({"facts":[{subject, relation, object}]}, valid by the
// schema's mask) as triples for synthesis and sentences for memory, the same
// facts for both: "user", "I", "me" and "the user" become the user's name, and
// a fact whose subject is its object is dropped.
void learn_from(inference_state& st, const job& j) {
  auto doc = json::parse(j.text, nullptr, false);
  if (!doc.is_object() || !doc.contains("facts") || !doc["facts"].is_array()) return;
  const std::string& user = j.percept.user;
  auto who = [&](std::string name) {
    std::string low = name;
    for (auto& c : low) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!user.empty() && (low == "user" || low == "i" || low == "me" || low == "the user")) return user;
    return name;
  };
  learn_msg m{user, j.percept.percept_id, "extract", "", {}, ""};
  json triples = json::array();
  for (const auto& f : doc["facts"]) {
    auto s = who(f.value("subject", std::string{})), r = f.value("relation", std::string{}),
         o = who(f.value("object", std::string{}));
    if (s.empty() || r.empty() || o.empty() || s == o) continue;
    triples.push_back({s, r, o});
    m.memories.push_back(s + " " + r + " " + o);
  }
  if (triples.empty()) return;
  m.triples_json = triples.dump();
  if (st.synthesis) caf::anon_send(st.synthesis, m);
  if (st.memory) caf::anon_send(st.memory, std::move(m));
}

void finish(inference_actor* self, std::optional<error> err) {
  auto& st = self->state;
  job j = std::move(*st.cur);
  st.cur.reset();
  st.gen.latency.add(kit::ms_since(j.t_start));
  j.text += j.pending_bytes;  // a trailing partial character is passed as is
  if (!err && (j.stream || (j.for_percept && j.purpose != "extract")) && j.emitted < j.text.size()) {
    json body = {{"index", j.index++}, {"text", j.text.substr(j.emitted)}};
    if (j.for_percept) body["percept_id"] = j.percept.percept_id;
    else body["request_id"] = j.request_id;
    st.env.thoughts->publish("thought.token", std::move(body));
  }
  if (j.for_percept && j.purpose == "extract") {
    if (!err) learn_from(st, j);
  } else if (j.for_percept) {
    auto& p = j.percept;
    p.stage_names.push_back("generate");
    p.stage_ms.push_back(kit::ms_since(j.t_start));
    kit::publish_final(*st.env.thoughts, p, j.text, "llm", p.memory_ids, err ? &*err : nullptr);
    if (!err && !j.text.empty()) {  // the answer becomes a turn; a reflection, a memory
      learn_msg m{p.user, p.percept_id, j.purpose, "", {}, ""};
      if (j.purpose == "reflect" && st.memory) {
        m.memories.push_back(j.text);
        self->send(st.memory, std::move(m));
      } else if (st.synthesis) {
        m.answer = j.text;
        self->send(st.synthesis, std::move(m));
      }
    }
  } else if (err) {
    st.env.replies->reply_error(j.ticket, *err);
  } else {
    st.env.replies->reply_ok(j.ticket, {{"text", j.text}, {"tokens", j.out}, {"timings", timings_of(j)},
                                         {"finish_reason", j.finish_reason}, {"seed", j.smp ? j.smp->seed_used() : 0u}});
  }
}

// Ends a job that is not the running one (queued, or refused before it was
// queued) with `err`, as finish() ends the running one; the running job stays.
void finish_aside(inference_actor* self, job j, error err) {
  auto& st = self->state;
  if (!j.t_start) j.t_start = kit::now_ns();  // it never started: its time is zero, not since the epoch
  std::optional<job> keep = std::move(st.cur);
  st.cur = std::move(j);
  finish(self, std::move(err));
  st.cur = std::move(keep);
}

void start_next(inference_actor* self);

// Streams the text that can no longer become part of a stop string.
void stream_ready(inference_state& st, job& j) {
  std::size_t ready = j.stops ? j.stops->safe_len(j.text) : j.text.size();
  if (ready <= j.emitted || !(j.stream || (j.for_percept && j.purpose != "extract"))) return;
  json body = {{"index", j.index++}, {"text", j.text.substr(j.emitted, ready - j.emitted)}};
  j.emitted = ready;
  if (j.for_percept) body["percept_id"] = j.percept.percept_id;
  else body["request_id"] = j.request_id;
  st.env.thoughts->publish("thought.token", std::move(body));
}

// One unit of work: pick a token from the logits, emit it, evaluate it.
void step(inference_actor* self) {
  auto& st = self->state;
  if (!st.cur) return;
  auto& j = *st.cur;
  if (j.cancelled) {
    ++st.cancelled;
    finish(self, error{errc::cancelled, j.supersede ? "superseded by a newer percept of the same user" : "generation cancelled"});
    return start_next(self);
  }
  if (j.deadline_ns && kit::now_ns() > j.deadline_ns) {
    finish(self, error{errc::deadline, "deadline_ms passed during generation"});
    return start_next(self);
  }
  // Prefill (after the cached prefix), one chunk per unit of work.
  if (j.prefilled < j.prompt.size()) {
    auto chunk = static_cast<std::size_t>(st.env.cfg.get_int("inference.prefill_chunk"));
    auto n = std::min(chunk, j.prompt.size() - j.prefilled);
    if (j.prompt.size() - j.prefilled - n == 1) ++n;  // the last prompt token always goes in a batch (>= 2)
    if (auto r = cache_of(st, j).eval(j.slot, std::span<const std::int32_t>(j.prompt.data() + j.prefilled, n)); !r) {
      finish(self, r.error());
      return start_next(self);
    }
    j.prefilled += n;
    schedule(self);
    return;
  }
  auto& sess = cache_of(st, j).session_of(j.slot);
  std::span<const std::uint8_t> allowed;
  if (j.automaton) {
    st.masker->mask(*j.automaton, st.mask);
    allowed = st.mask;
  }
  std::int32_t best = j.smp->sample(sess.logits(), allowed);
  if (!j.t_first) j.t_first = kit::now_ns();
  if (best < 0 || st.model->is_eog(best)) {  // (-1: nothing allowed; the schema text is closed below)
    if (j.automaton && !j.automaton->complete()) j.text += j.automaton->completion();
    j.finish_reason = "stop";
    finish(self, std::nullopt);
    return start_next(self);
  }
  j.out.push_back(best);
  j.smp->accept(best);
  ++st.tokens_out;
  const std::string piece_bytes = st.model->token_to_piece(best);
  if (j.automaton) j.automaton->feed(piece_bytes);  // allowed by the mask: cannot fail
  j.pending_bytes += piece_bytes;
  auto cut = utf8_complete_prefix(j.pending_bytes);
  if (cut > 0) {
    std::string piece = j.pending_bytes.substr(0, cut);
    j.pending_bytes.erase(0, cut);
    j.text += piece;
    if (j.stops) {
      if (auto pos = j.stops->find(j.text, piece.size()); pos != std::string::npos) {
        j.text.resize(pos);
        j.finish_reason = "stop";
        finish(self, std::nullopt);
        return start_next(self);
      }
    }
    stream_ready(st, j);
  }
  if (j.automaton && j.automaton->finished()) {
    j.finish_reason = "stop";
    finish(self, std::nullopt);
    return start_next(self);
  }
  if (static_cast<int>(j.out.size()) >= j.max_tokens || sess.n_past() >= sess.n_ctx()) {
    if (j.automaton) {  // out of tokens: close the JSON so it still parses
      j.text += j.pending_bytes;
      j.pending_bytes.clear();
      j.text += j.automaton->completion();
    }
    finish(self, std::nullopt);
    return start_next(self);
  }
  std::int32_t tok = best;
  if (auto r = cache_of(st, j).eval(j.slot, std::span<const std::int32_t>(&tok, 1)); !r) {
    finish(self, r.error());
    return start_next(self);
  }
  schedule(self);
}

void start_next(inference_actor* self) {
  auto& st = self->state;
  swap_if_ready(st);
  if (!st.cur && st.queue.empty() && st.paused) {  // resume the learning-path job set aside
    st.cur = std::move(st.paused);
    st.paused.reset();
    return schedule(self);
  }
  while (!st.cur && (!st.queue.empty() || !st.background.empty())) {
    auto& from = st.queue.empty() ? st.background : st.queue;
    st.cur = std::move(from.front());
    from.pop_front();
    auto& j = *st.cur;
    j.t_start = kit::now_ns();
    j.prompt = j.chat ? st.model->tokenize_chat(j.messages, true) : st.model->tokenize(j.prompt_text);
    j.prompt_tokens = static_cast<int>(j.prompt.size());
    if (j.prompt.empty()) {
      finish(self, error{errc::bad_request, "prompt: empty after tokenization"});
      continue;
    }
    auto& cache = cache_of(st, j);
    if (static_cast<int>(j.prompt.size()) >= cache.n_ctx()) {
      finish(self, error{errc::bad_request, "prompt: " + std::to_string(j.prompt.size()) +
                                                " tokens do not fit the context of " + std::to_string(cache.n_ctx())});
      continue;
    }
    st.cache->set_slots(static_cast<int>(st.env.cfg.get_int("inference.cache_slots")));
    try {
      auto lease = cache.acquire(j.prompt);
      j.slot = lease.slot;
      j.cached = lease.cached;
    } catch (const std::bad_alloc&) {
      finish(self, error{errc::internal, "prompt cache: out of memory allocating a KV cache slot"});
      continue;
    }
    st.cached_tokens += static_cast<std::uint64_t>(j.cached);
    j.prefilled = static_cast<std::size_t>(j.cached);
    j.smp.emplace(j.sampling, cache.n_ctx());
    if (!j.stop.empty()) j.stops.emplace(j.stop);
    if (j.schema) {
      if (!st.masker) st.masker = std::make_unique<inf::token_masker>(*st.model);
      j.automaton.emplace(j.schema);
    }
    schedule(self);
  }
}

// Sampling fields, stop and schema of a generate request; errors name the field.
expected<void> parse_sampling(const inference_state& st, const json& b, const std::string& raw_body, job& j) {
  auto& p = j.sampling;
  p.temperature = static_cast<float>(st.env.cfg.get_real("inference.temperature"));
  struct real_field {
    const char* name;
    double lo, hi;
    float* dst;
  };
  for (auto f : {real_field{"temperature", 0, 100, &p.temperature}, real_field{"top_p", 0, 1, &p.top_p},
                 real_field{"min_p", 0, 1, &p.min_p}, real_field{"repeat_penalty", 1e-3, 100, &p.repeat_penalty},
                 real_field{"frequency_penalty", -100, 100, &p.frequency_penalty},
                 real_field{"presence_penalty", -100, 100, &p.presence_penalty}}) {
    auto v = wire::field_opt_number(b, f.name, f.lo, f.hi);
    if (!v) return v.error();
    if (*v) *f.dst = static_cast<float>(**v);
  }
  auto tk = wire::field_opt_int(b, "top_k", 0, 1 << 20);
  if (!tk) return tk.error();
  if (*tk) p.top_k = static_cast<int>(**tk);
  auto ln = wire::field_opt_int(b, "penalty_last_n", -1, 1 << 20);
  if (!ln) return ln.error();
  if (*ln) p.penalty_last_n = static_cast<int>(**ln);
  auto seed = wire::field_opt_int(b, "seed", -1, 0xFFFFFFFFll);
  if (!seed) return seed.error();
  if (*seed) p.seed = **seed < 0 ? 0xFFFFFFFFu : static_cast<std::uint32_t>(**seed);
  if (auto r = inf::sampling_validate(p); !r) return r.error();
  if (auto it = b.find("stop"); it != b.end() && !it->is_null()) {
    if (it->is_string()) j.stop.push_back(it->get<std::string>());
    else if (it->is_array() && it->size() <= 16) {
      for (const auto& x : *it) {
        if (!x.is_string() || x.get_ref<const std::string&>().empty())
          return error{errc::bad_request, "stop: must be a non-empty string or a list of at most 16 of them"};
        j.stop.push_back(x.get<std::string>());
      }
    } else {
      return error{errc::bad_request, "stop: must be a non-empty string or a list of at most 16 of them"};
    }
    for (const auto& x : j.stop)
      if (x.empty()) return error{errc::bad_request, "stop: must not be empty"};
  }
  if (auto it = b.find("schema"); it != b.end() && !it->is_null()) {
    if (!it->is_object()) return error{errc::bad_request, "schema: must be an object (a JSON Schema)"};
    // Re-read in document order: properties are generated in the order they are declared.
    auto ordered = nlohmann::ordered_json::parse(raw_body, nullptr, false);
    auto c = inf::schema_compile(ordered.is_object() ? ordered["schema"].dump() : it->dump());
    if (!c) return c.error();
    j.schema = *c;
  }
  return {};
}

// Parses a generate request into a job; errors name the field.
expected<job> parse_generate(const inference_state& st, const request_msg& r) {
  const json& b = kit::body_of(r);
  job j;
  j.ticket = r.ticket;
  j.request_id = r.id;
  j.deadline_ns = r.deadline_ns;
  auto stream = wire::field_opt_bool(b, "stream");
  if (!stream) return stream.error();
  j.stream = stream->value_or(false);
  auto mt = wire::field_opt_int(b, "max_tokens", 1, 32768);
  if (!mt) return mt.error();
  j.max_tokens = static_cast<int>(mt->value_or(st.env.cfg.get_int("inference.default_max_tokens")));
  if (auto ok = parse_sampling(st, b, r.body, j); !ok) return ok.error();
  if (auto it = b.find("messages"); it != b.end()) {
    if (!it->is_array() || it->empty()) return error{errc::bad_request, "messages: must be a non-empty array"};
    for (std::size_t i = 0; i < it->size(); ++i) {
      const auto& m = (*it)[i];
      std::string where = "messages[" + std::to_string(i) + "]";
      if (!m.is_object()) return error{errc::bad_request, where + ": must be an object"};
      auto role = wire::field_string(m, "role");
      if (!role) return error{errc::bad_request, where + "." + role.error().message};
      auto content = wire::field_string(m, "content");
      if (!content) return error{errc::bad_request, where + "." + content.error().message};
      if (*role != "system" && *role != "user" && *role != "assistant")
        return error{errc::bad_request, where + ".role: must be system, user or assistant"};
      j.messages.push_back({*role, *content});
    }
    j.chat = true;
  } else {
    auto prompt = wire::field_string(b, "prompt");
    if (!prompt) return error{errc::bad_request, "prompt or messages: one is required"};
    j.prompt_text = std::move(*prompt);
  }
  return j;
}

// Cancels `user`'s percept answers, running or queued: a newer percept replaces them.
void supersede(inference_actor* self, const std::string& user) {
  auto& st = self->state;
  auto older = [&](const job& x) { return x.for_percept && x.purpose == "answer" && x.percept.user == user; };
  if (st.cur && older(*st.cur) && !st.cur->cancelled) {
    st.cur->cancelled = true;  // stops at its next token
    st.cur->supersede = true;
    ++st.superseded;
  }
  for (auto it = st.queue.begin(); it != st.queue.end();) {
    if (!older(*it)) {
      ++it;
      continue;
    }
    job old = std::move(*it);
    it = st.queue.erase(it);
    ++st.superseded;
    finish_aside(self, std::move(old), error{errc::cancelled, "superseded by a newer percept of the same user"});
  }
}

caf::behavior inference_fun(inference_actor* self, actor_env env) {
  self->state.env = std::move(env);
  load(self->state);
  return {
      [=](request_msg& r) {
        auto& st = self->state;
        auto& out = *st.env.replies;
        if (r.op == "cancel") {
          const json& b = kit::body_of(r);
          auto target = wire::field_string(b, "target");
          if (!target) return out.reply_error(r.ticket, target.error());
          bool hit = false;
          if (st.cur && (st.cur->request_id == *target || st.cur->percept.percept_id == *target)) {
            st.cur->cancelled = true;
            hit = true;
          }
          for (auto it = st.queue.begin(); it != st.queue.end();) {
            if (it->request_id == *target || it->percept.percept_id == *target) {
              job queued = std::move(*it);
              it = st.queue.erase(it);
              finish_aside(self, std::move(queued), error{errc::cancelled, "generation cancelled"});
              hit = true;
            } else {
              ++it;
            }
          }
          return out.reply_ok(r.ticket, {{"cancelled", hit}});
        }
        if (kit::expired(r)) return;
        if (!st.model) return out.reply_error(r.ticket, error{errc::unavailable, "no model loaded: " + st.down_reason});
        if (r.op == "model.info") {
          const auto& i = st.model->info();
          return out.reply_ok(r.ticket, {{"models", json::array({{{"role", "generation"}, {"arch", i.arch}, {"name", i.name},
                                                                  {"quantisation", i.file_type}, {"n_ctx", st.cache->n_ctx()},
                                                                  {"n_ctx_train", i.n_ctx_train}, {"vocab", i.n_vocab},
                                                                  {"file_bytes", i.file_bytes}, {"kernels", i.kernels},
                                                                  {"path", st.model_path}}})}});
        }
        if (r.op == "tokenize") {
          const json& b = kit::body_of(r);
          auto text = wire::field_string(b, "text");
          if (!text) return out.reply_error(r.ticket, text.error());
          return out.reply_ok(r.ticket, {{"tokens", st.model->tokenize(*text)}});
        }
        auto j = parse_generate(st, r);
        if (!j) return out.reply_error(r.ticket, j.error());
        st.queue.push_back(std::move(*j));
        preempt_background(st);
        start_next(self);
      },
      [=](generate_msg& g) {
        auto& st = self->state;
        job j;
        j.for_percept = true;
        j.purpose = g.purpose;
        j.percept = std::move(g.percept);
        j.max_tokens = g.max_tokens;
        j.sampling.temperature = j.purpose == "extract" ? 0.0f : static_cast<float>(st.env.cfg.get_real("inference.temperature"));
        auto msgs_json = json::parse(g.messages_json, nullptr, false);
        if (msgs_json.is_array())
          for (const auto& m : msgs_json) j.messages.push_back({m.value("role", "user"), m.value("content", "")});
        j.chat = true;
        auto refuse = [&](error e) {  // the percept's one thought carries the error
          if (j.purpose != "extract") finish_aside(self, std::move(j), std::move(e));
        };
        if (!st.model) return refuse(error{errc::unavailable, "no model loaded: " + st.down_reason});
        if (!g.schema_json.empty()) {
          auto c = inf::schema_compile(g.schema_json);
          if (!c) return refuse(c.error());
          j.schema = *c;
        }
        if (j.purpose != "answer") {  // learning path: background, bounded
          if (static_cast<std::int64_t>(st.background.size()) >= st.env.cfg.get_int("inference.max_background")) {
            ++st.dropped_background;
            return;
          }
          st.background.push_back(std::move(j));
          return start_next(self);
        }
        if (st.env.cfg.get_bool("inference.supersede")) supersede(self, j.percept.user);
        std::int64_t answers = 0;
        for (const auto& q : st.queue) answers += q.for_percept ? 1 : 0;
        if (answers >= st.env.cfg.get_int("inference.max_queue")) {
          ++st.busy;
          return refuse(error{errc::busy, "inference: " + std::to_string(answers) +
                                              " percept answers are waiting (inference.max_queue); try again later"});
        }
        st.queue.push_back(std::move(j));
        preempt_background(st);
        start_next(self);
      },
      [=](step_atom) {
        self->state.stepping = false;
        step(self);
      },
      [=](connect_atom, caf::actor& synthesis, caf::actor& memory) {
        self->state.synthesis = std::move(synthesis);
        self->state.memory = std::move(memory);
      },
      // reload model [PATH] (admin): loads PATH (default: inference.model) on
      // the loader thread while generation goes on; answers when it is loaded.
      [=](reload_atom, std::string& path) -> caf::result<std::string> {
        auto& st = self->state;
        if (st.loading)
          return kit::admin_error(error{errc::busy, "reload model: loading " + st.loading->path + " is already under way"});
        if (path.empty()) path = st.env.cfg.get_string("inference.model");
        if (path.empty())
          return kit::admin_error(error{errc::bad_request, "reload model: inference.model is not set and no PATH was given"});
        if (st.loader.joinable()) st.loader.join();
        auto load = std::make_shared<model_load>();
        load->path = path;
        st.loading = load;
        st.reload_rp = self->make_response_promise<std::string>();
        spdlog::info("inference: loading {} (reload model)", path);
        st.loader = std::thread([load, opts = options_of(st, path), me = caf::actor_cast<caf::actor>(self)] {
          load->result = inf::model::load(opts);  // read by the actor after loaded_atom arrives
          caf::anon_send(me, loaded_atom_v);
        });
        return st.reload_rp;
      },
      [=](loaded_atom) {
        auto& st = self->state;
        st.loader.join();
        auto load = std::move(st.loading);
        auto& r = *load->result;
        if (!r) {
          spdlog::error("inference: reload model: {}", r.error().message);
          st.reload_rp.deliver(kit::admin_error(error{
              r.error().code, "reload model: " + r.error().message +
                                  (st.model ? "; still serving " + st.model_path : "; no model in service")}));
          return;
        }
        std::string name = (*r)->info().name;
        st.next_model = std::move(*r);
        st.next_path = load->path;
        bool now = !st.cur;
        swap_if_ready(st);
        st.reload_rp.deliver(json{{"ok", true}, {"model", name}, {"path", load->path},
                                  {"swap", now ? "done" : "after the running generation"}, {"queued", st.queue.size()}}
                                 .dump());
      },
      // Shutdown: cancel the running generation and everything queued.
      [=](cancel_atom) {
        auto& st = self->state;
        if (st.cur) st.cur->cancelled = true;
        st.background.clear();
        st.paused.reset();
        while (!st.queue.empty()) {
          job queued = std::move(st.queue.front());
          st.queue.pop_front();
          finish_aside(self, std::move(queued), error{errc::cancelled, "aikid is shutting down"});
        }
      },
      [=](stats_atom) {
        auto& st = self->state;
        return json{{"generate", st.gen.to_json()}, {"tokens_out", st.tokens_out}, {"cancelled", st.cancelled}, {"cached_tokens", st.cached_tokens},
                    {"reloads", st.reloads}, {"cache_slots", st.cache ? st.cache->slots() : 0},
                    {"queued", st.queue.size()}, {"background", st.background.size() + (st.paused ? 1 : 0)},
                    {"superseded", st.superseded}, {"busy_refused", st.busy}, {"dropped_background", st.dropped_background},
                    {"running", st.cur.has_value()}}
            .dump();
      },
      [=](health_atom) {
        auto& st = self->state;
        json j = {{"up", st.model != nullptr}};
        if (st.model) j["model"] = st.model->info().name;
        else j["reason"] = st.down_reason;
        if (st.loading) j["loading"] = st.loading->path;
        return j.dump();
      },
      [=](tunables_msg& m) {
        kit::apply_tunables(self->state.env.cfg, m);
        return std::string{};
      },
      [=](stall_atom, std::int32_t ms) { kit::stall(self->state.env.debug, ms); },
  };
}

}  // namespace

caf::actor spawn_inference(caf::actor_system& sys, const actor_env& env) {
  return sys.spawn<caf::detached>(inference_fun, env);
}

}  // namespace aikid
