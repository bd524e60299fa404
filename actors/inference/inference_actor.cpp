// inference: owns the LLM engine (GGUF model + one KV-cache session). Serves
// `generate`, `tokenize`, `model.info` and `cancel`, and answers percepts that
// synthesis hands it as chat messages. Runs detached; a generation advances one
// token per message to itself, so heartbeats and cancels are handled between
// tokens (a cancel stops a generation within one token).
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include <deque>

#include "actors/actor_kit.hpp"
#include "actors/inference/inference.hpp"

namespace aikid {

std::vector<config::key_spec> inference_config_keys() {
  using namespace config;
  return {
      key_path("inference.model", "../models/SmolLM2-135M-Instruct.Q4_1.gguf", "GGUF file of a llama-architecture model"),
      key_int("inference.n_ctx", 2048, 64, 131072, "context size of the session (tokens)"),
      key_int("inference.threads", 1, 1, 64, "threads for the matrix kernels"),
      key_int("inference.default_max_tokens", 256, 1, 32768, "max_tokens when a request gives none").is_live(),
      key_int("inference.prefill_chunk", 16, 1, 4096,
              "prompt tokens evaluated per unit of work (heartbeats and cancels are handled between units)")
          .is_live(),
  };
}

namespace {

using json = kit::json;
namespace inf = inference;

/// One generation: for a client request (ticket) or a percept (publish).
struct job {
  bool for_percept = false;
  std::uint64_t ticket = 0;
  std::string request_id;
  percept_msg percept;
  std::vector<std::int32_t> prompt;
  int max_tokens = 0;
  bool stream = false;
  std::int64_t deadline_ns = 0;
  // progress
  std::vector<std::int32_t> out;
  std::string text;
  std::string pending_bytes;  // a UTF-8 character not yet complete
  int index = 0;
  bool cancelled = false;
  std::int64_t t_start = 0, t_first = 0;
  int prompt_tokens = 0;
  std::size_t prefilled = 0;  // prompt tokens evaluated so far
};

struct inference_state {
  actor_env env;
  std::unique_ptr<inf::model> model;
  std::unique_ptr<inf::session> sess;
  std::string down_reason;
  std::deque<job> queue;
  std::optional<job> cur;
  kit::stage_stats gen;
  std::uint64_t tokens_out = 0, cancelled = 0;
  static inline const char* name = "inference";
};

using inference_actor = caf::stateful_actor<inference_state>;

void load(inference_state& st) {
  inf::model_options o;
  o.path = st.env.cfg.get_string("inference.model");
  o.threads = static_cast<int>(st.env.cfg.get_int("inference.threads"));
  o.n_ctx = static_cast<int>(st.env.cfg.get_int("inference.n_ctx"));
  if (o.path.empty()) {
    st.down_reason = "inference.model is not set";
    return;
  }
  auto m = inf::model::load(o);
  if (!m) {
    st.down_reason = m.error().message;
    return;
  }
  st.model = std::move(*m);
  st.sess = std::make_unique<inf::session>(*st.model, o.n_ctx);
  st.down_reason.clear();
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
  return {{"prompt_tokens", j.prompt_tokens}, {"generated_tokens", j.out.size()}, {"cached_tokens", 0},
          {"first_token_ms", first}, {"total_ms", total}};
}

void finish(inference_actor* self, std::optional<error> err) {
  auto& st = self->state;
  job j = std::move(*st.cur);
  st.cur.reset();
  st.gen.latency.add(kit::ms_since(j.t_start));
  j.text += j.pending_bytes;  // a trailing partial character is passed as is
  if (j.for_percept) {
    auto& p = j.percept;
    p.stage_names.push_back("generate");
    p.stage_ms.push_back(kit::ms_since(j.t_start));
    json timings = json::object();
    for (std::size_t i = 0; i < p.stage_names.size(); ++i) timings[p.stage_names[i]] = p.stage_ms[i];
    timings["total"] = kit::ms_since(p.t0_ns);
    json body = {{"percept_id", p.percept_id}, {"kind", p.kind}, {"text", j.text}, {"source", "llm"},
                 {"memories", p.memory_ids}, {"timings_ms", timings}, {"user", p.user}};
    if (!p.request_id.empty()) body["request_id"] = p.request_id;
    if (err) body["error"] = {{"code", errc_name(err->code)}, {"message", err->message}};
    st.env.thoughts->publish("thought.final", std::move(body));
  } else if (err) {
    st.env.replies->reply_error(j.ticket, *err);
  } else {
    st.env.replies->reply_ok(j.ticket, {{"text", j.text}, {"tokens", j.out}, {"timings", timings_of(j)}});
  }
}

void start_next(inference_actor* self);

// One unit of work: pick a token from the logits, emit it, evaluate it.
void step(inference_actor* self) {
  auto& st = self->state;
  if (!st.cur) return;
  auto& j = *st.cur;
  if (j.cancelled) {
    ++st.cancelled;
    finish(self, error{errc::cancelled, "generation cancelled"});
    return start_next(self);
  }
  if (j.deadline_ns && kit::now_ns() > j.deadline_ns) {
    finish(self, error{errc::deadline, "deadline_ms passed during generation"});
    return start_next(self);
  }
  // Prefill, one chunk per unit of work.
  if (j.prefilled < j.prompt.size()) {
    auto chunk = static_cast<std::size_t>(st.env.cfg.get_int("inference.prefill_chunk"));
    auto n = std::min(chunk, j.prompt.size() - j.prefilled);
    if (auto r = st.sess->eval(std::span<const std::int32_t>(j.prompt.data() + j.prefilled, n)); !r) {
      finish(self, r.error());
      return start_next(self);
    }
    j.prefilled += n;
    self->send(self, step_atom_v);
    return;
  }
  auto logits = st.sess->logits();
  std::int32_t best = 0;
  for (std::int32_t i = 1; i < static_cast<std::int32_t>(logits.size()); ++i)
    if (logits[static_cast<std::size_t>(i)] > logits[static_cast<std::size_t>(best)]) best = i;
  if (!j.t_first) j.t_first = kit::now_ns();
  if (st.model->is_eog(best)) {
    finish(self, std::nullopt);
    return start_next(self);
  }
  j.out.push_back(best);
  ++st.tokens_out;
  j.pending_bytes += st.model->token_to_piece(best);
  auto cut = utf8_complete_prefix(j.pending_bytes);
  if (cut > 0) {
    std::string piece = j.pending_bytes.substr(0, cut);
    j.pending_bytes.erase(0, cut);
    j.text += piece;
    if (j.stream || j.for_percept) {
      json body = {{"index", j.index++}, {"text", piece}};
      if (j.for_percept) body["percept_id"] = j.percept.percept_id;
      else body["request_id"] = j.request_id;
      st.env.thoughts->publish("thought.token", std::move(body));
    }
  }
  if (static_cast<int>(j.out.size()) >= j.max_tokens || st.sess->n_past() >= st.sess->n_ctx()) {
    finish(self, std::nullopt);
    return start_next(self);
  }
  std::int32_t tok = best;
  if (auto r = st.sess->eval(std::span<const std::int32_t>(&tok, 1)); !r) {
    finish(self, r.error());
    return start_next(self);
  }
  self->send(self, step_atom_v);
}

void start_next(inference_actor* self) {
  auto& st = self->state;
  while (!st.cur && !st.queue.empty()) {
    st.cur = std::move(st.queue.front());
    st.queue.pop_front();
    auto& j = *st.cur;
    j.t_start = kit::now_ns();
    j.prompt_tokens = static_cast<int>(j.prompt.size());
    st.sess->truncate(0);
    if (j.prompt.empty()) {
      finish(self, error{errc::bad_request, "prompt: empty after tokenization"});
      continue;
    }
    if (static_cast<int>(j.prompt.size()) >= st.sess->n_ctx()) {
      finish(self, error{errc::bad_request, "prompt: " + std::to_string(j.prompt.size()) +
                                                " tokens do not fit the context of " + std::to_string(st.sess->n_ctx())});
      continue;
    }
    self->send(self, step_atom_v);
  }
}

// Parses a generate request into a job; errors name the field.
expected<job> parse_generate(const inference_state& st, const request_msg& r) {
  auto b = kit::body_of(r);
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
  if (auto it = b.find("messages"); it != b.end()) {
    if (!it->is_array() || it->empty()) return error{errc::bad_request, "messages: must be a non-empty array"};
    std::vector<inf::chat_message> msgs;
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
      msgs.push_back({*role, *content});
    }
    j.prompt = st.model->tokenize_chat(msgs, true);
  } else {
    auto prompt = wire::field_string(b, "prompt");
    if (!prompt) return error{errc::bad_request, "prompt or messages: one is required"};
    j.prompt = st.model->tokenize(*prompt);
  }
  return j;
}

caf::behavior inference_fun(inference_actor* self, actor_env env) {
  self->state.env = std::move(env);
  load(self->state);
  return {
      [=](request_msg& r) {
        auto& st = self->state;
        auto& out = *st.env.replies;
        if (r.op == "cancel") {
          auto b = kit::body_of(r);
          auto target = wire::field_string(b, "target");
          if (!target) return out.reply_error(r.ticket, target.error());
          bool hit = false;
          if (st.cur && (st.cur->request_id == *target || st.cur->percept.percept_id == *target)) {
            st.cur->cancelled = true;
            hit = true;
          }
          for (auto it = st.queue.begin(); it != st.queue.end();) {
            if (it->request_id == *target || it->percept.percept_id == *target) {
              std::optional<job> tmp = std::move(*it);
              it = st.queue.erase(it);
              auto keep = std::move(st.cur);
              st.cur = std::move(tmp);
              finish(self, error{errc::cancelled, "generation cancelled"});
              st.cur = std::move(keep);
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
                                                                  {"quantisation", i.file_type}, {"n_ctx", st.sess->n_ctx()},
                                                                  {"n_ctx_train", i.n_ctx_train}, {"vocab", i.n_vocab},
                                                                  {"file_bytes", i.file_bytes}, {"kernels", i.kernels}}})}});
        }
        if (r.op == "tokenize") {
          auto b = kit::body_of(r);
          auto text = wire::field_string(b, "text");
          if (!text) return out.reply_error(r.ticket, text.error());
          return out.reply_ok(r.ticket, {{"tokens", st.model->tokenize(*text)}});
        }
        auto j = parse_generate(st, r);
        if (!j) return out.reply_error(r.ticket, j.error());
        st.queue.push_back(std::move(*j));
        start_next(self);
      },
      [=](generate_msg& g) {
        auto& st = self->state;
        job j;
        j.for_percept = true;
        j.percept = std::move(g.percept);
        j.max_tokens = g.max_tokens;
        if (!st.model) {
          st.cur = std::move(j);
          st.cur->t_start = kit::now_ns();
          finish(self, error{errc::unavailable, "no model loaded: " + st.down_reason});
          return;
        }
        auto msgs_json = json::parse(g.messages_json, nullptr, false);
        std::vector<inf::chat_message> msgs;
        if (msgs_json.is_array())
          for (const auto& m : msgs_json) msgs.push_back({m.value("role", "user"), m.value("content", "")});
        j.prompt = st.model->tokenize_chat(msgs, true);
        st.queue.push_back(std::move(j));
        start_next(self);
      },
      [=](step_atom) { step(self); },
      // Shutdown: cancel the running generation and everything queued.
      [=](cancel_atom) {
        auto& st = self->state;
        if (st.cur) st.cur->cancelled = true;
        while (!st.queue.empty()) {
          auto keep = std::move(st.cur);
          st.cur = std::move(st.queue.front());
          st.queue.pop_front();
          finish(self, error{errc::cancelled, "aikid is shutting down"});
          st.cur = std::move(keep);
        }
      },
      [=](heartbeat_atom) { return heartbeat_atom_v; },
      [=](stats_atom) {
        auto& st = self->state;
        return json{{"generate", st.gen.to_json()}, {"tokens_out", st.tokens_out}, {"cancelled", st.cancelled},
                    {"queued", st.queue.size()}, {"busy", st.cur.has_value()}}
            .dump();
      },
      [=](health_atom) {
        auto& st = self->state;
        json j = {{"up", st.model != nullptr}};
        if (st.model) j["model"] = st.model->info().name;
        else j["reason"] = st.down_reason;
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
