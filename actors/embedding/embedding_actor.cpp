// embedder: owns the sentence encoder. Serves the `embed` op and embeds
// percepts for perception. Runs detached (its own thread): one batch is one
// unit of work, so a heartbeat waits at most one batch.
// While memory re-embeds after a model change it also keeps the previous
// model loaded (memory asks for it by folder and id), so that searches can
// be embedded in the space of the index that answers them.
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>

#include "actors/actor_kit.hpp"
#include "actors/embedding/embedding.hpp"

namespace aikid {

std::vector<config::key_spec> embedding_config_keys() {
  using namespace config;
  return {
      key_path("embedding.model", "../models/all-MiniLM-L6-v2",
               "folder of a BERT-style sentence encoder (safetensors + config + vocab + pooling)"),
      key_int("embedding.threads", 1, 1, 64, "threads of the encoder's forward pass (a persistent team; each BLIS call runs on one)").is_live(),
      key_int("embedding.max_batch", 32, 1, 1024, "texts per forward pass"),
      key_int("embedding.max_texts", 256, 1, 100000, "most texts one embed request may carry").is_live(),
      key_int("embedding.max_tokens", 8192, 16, 1 << 20,
              "most tokens one embed request may carry, each text counted up to the model's limit (the encoder is one "
              "thread: a request past this would hold every other embedding, memory.add's too)")
          .is_live(),
  };
}

namespace {

struct embedder_state {
  actor_env env;
  std::unique_ptr<embedding::encoder> enc;
  std::string down_reason;
  std::unique_ptr<embedding::encoder> prev;  // the previous model, while memory re-embeds
  std::string prev_reason;
  kit::stage_stats embed;
  std::uint64_t texts = 0;
  static inline const char* name = "embedder";
};

using embedder_actor = caf::stateful_actor<embedder_state>;

// The work one embed request asks for: its tokens, each text counted up to
// the model's limit. Fails with too_large when that is above `limit`, and
// with the tokenizer's bad_request for text that is not UTF-8. A text has at
// most as many tokens as bytes plus [CLS] and [SEP], so the tokenizer runs
// only when that bound is over the limit.
expected<std::int64_t> request_tokens(const embedding::encoder& enc, const std::vector<std::string>& texts,
                                      std::int64_t limit) {
  const std::int64_t cap = enc.max_tokens();
  std::int64_t bound = 0;
  for (const auto& t : texts) bound += std::min<std::int64_t>(static_cast<std::int64_t>(t.size()) + 2, cap);
  if (bound <= limit) return bound;
  std::int64_t n = 0;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    auto ids = enc.tokenize(texts[i]);
    if (!ids) return error{ids.error().code, "texts[" + std::to_string(i) + "]: " + ids.error().message};
    n += static_cast<std::int64_t>(ids->size());
  }
  if (n > limit)
    return error{errc::too_large, "texts: " + std::to_string(n) + " tokens in " + std::to_string(texts.size()) +
                                      " texts; embedding.max_tokens is " + std::to_string(limit) +
                                      " (send them in smaller requests)"};
  return n;
}

void load(embedder_state& st) {
  embedding::encoder_options o;
  o.model_dir = st.env.cfg.get_string("embedding.model");
  o.threads = static_cast<int>(st.env.cfg.get_int("embedding.threads"));
  o.max_batch = static_cast<int>(st.env.cfg.get_int("embedding.max_batch"));
  if (o.model_dir.empty()) {
    st.down_reason = "embedding.model is not set";
    return;
  }
  const auto t0 = std::chrono::steady_clock::now();
  auto e = embedding::encoder::load(o);
  if (!e) {
    st.down_reason = e.error().message;
    return;
  }
  st.enc = std::move(*e);
  st.down_reason.clear();
  // The start log names the model, its size on disk and its load time.
  std::uintmax_t bytes = 0;
  std::error_code ec;
  for (const auto& f : std::filesystem::recursive_directory_iterator(o.model_dir, ec))
    if (f.is_regular_file(ec)) bytes += f.file_size(ec);
  spdlog::info("embedding: loaded model {} from {} ({:.1f} MB) in {:.2f} s; BLIS kernels {}", st.enc->model_id(),
               o.model_dir.string(), static_cast<double>(bytes) / 1e6,
               std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), embedding::blis_arch_name());
}

// Loads the previous model from dir; it must still be the model `id` (the
// files may have changed since). Returns {"loaded": bool, "model"|"reason"}.
// An empty dir drops the previous model.
std::string load_previous(embedder_state& st, const std::string& dir, const std::string& id) {
  st.prev.reset();
  st.prev_reason.clear();
  if (dir.empty() && id.empty()) {
    return kit::json{{"loaded", false}, {"reason", "dropped"}}.dump();
  } else if (dir.empty()) {
    st.prev_reason = "no folder recorded for model '" + id + "'";
  } else if (st.enc && st.enc->model_id() == id) {
    st.prev_reason = "model '" + id + "' is the current model";
  } else {
    embedding::encoder_options o;
    o.model_dir = dir;
    o.threads = 1;
    o.max_batch = static_cast<int>(st.env.cfg.get_int("embedding.max_batch"));
    auto e = embedding::encoder::load(o);
    if (!e) {
      st.prev_reason = "cannot load previous model '" + id + "' from " + dir + ": " + e.error().message;
    } else if ((*e)->model_id() != id) {
      st.prev_reason = "previous model folder " + dir + " now holds '" + (*e)->model_id() + "', not '" + id + "'";
    } else if (st.enc && (*e)->dim() != st.enc->dim()) {
      st.prev_reason = "previous model '" + id + "' has dimension " + std::to_string((*e)->dim()) + ", not " +
                       std::to_string(st.enc->dim());
    } else {
      st.prev = std::move(*e);
    }
  }
  if (st.prev) return kit::json{{"loaded", true}, {"model", id}}.dump();
  return kit::json{{"loaded", false}, {"reason", st.prev_reason}}.dump();
}

caf::behavior embedder_fun(embedder_actor* self, actor_env env) {
  self->state.env = std::move(env);
  load(self->state);
  const kit::guard_ctx guard{"embedder", self->state.env.replies, self->state.env.thoughts};
  auto basics = kit::basic_handlers(
      self,
      [=] {
        auto& st = self->state;
        return kit::json{{"embed", st.embed.to_json()}, {"texts", st.texts}};
      },
      [=] {
        auto& st = self->state;
        kit::json j = {{"up", st.enc != nullptr}};
        if (st.enc) {
          j["model"] = st.enc->model_id();
          j["dim"] = st.enc->dim();
          if (st.prev) j["previous_model"] = st.prev->model_id();
        } else {
          j["reason"] = st.down_reason;
        }
        return j;
      },
      [=] {
        auto& st = self->state;
        if (st.enc) st.enc->set_threads(static_cast<int>(st.env.cfg.get_int("embedding.threads")));
      });
  return kit::actor_behavior(
      guard, std::move(basics),
      // Internal: perception's percepts. Replies (vector, model id); an empty
      // vector with the reason in place of the model id when down.
      [=](embed_atom, const std::vector<std::string>& texts) -> caf::result<std::vector<float>, std::string> {
        auto& st = self->state;
        if (!st.enc) return {std::vector<float>{}, st.down_reason};
        auto t0 = kit::now_ns();
        auto r = st.enc->encode(texts);
        st.embed.latency.add(kit::ms_since(t0));
        st.texts += texts.size();
        if (!r) {
          ++st.embed.errors;
          return {std::vector<float>{}, r.error().message};
        }
        return {std::move(r->vectors), st.enc->model_id()};
      },
      // Internal: texts embedded by a named model (the current or the
      // previous one). An empty vector and the reason when it is not loaded.
      [=](embed_atom, const std::string& model,
          const std::vector<std::string>& texts) -> caf::result<std::vector<float>, std::string> {
        auto& st = self->state;
        embedding::encoder* e = nullptr;
        if (st.enc && st.enc->model_id() == model) e = st.enc.get();
        else if (st.prev && st.prev->model_id() == model) e = st.prev.get();
        if (!e)
          return {std::vector<float>{}, "model '" + model + "' is not loaded" +
                                            (st.prev_reason.empty() ? "" : " (" + st.prev_reason + ")")};
        auto t0 = kit::now_ns();
        auto r = e->encode(texts);
        st.embed.latency.add(kit::ms_since(t0));
        st.texts += texts.size();
        if (!r) {
          ++st.embed.errors;
          return {std::vector<float>{}, r.error().message};
        }
        return {std::move(r->vectors), model};
      },
      // Internal (memory): keep the previous model (folder, id) loaded while
      // memory re-embeds; an empty folder drops it.
      [=](reload_atom, const std::string& dir, const std::string& id) -> std::string {
        return load_previous(self->state, dir, id);
      },
      // The `embed` op: {"texts": [...]} → {"vectors", "dim", "truncated", "model"}.
      [=](request_msg& r) {
        auto& st = self->state;
        auto& out = *st.env.replies;
        if (kit::expired(r)) return;
        if (!st.enc) return out.reply_error(r.ticket, error{errc::unavailable, "embedder is down: " + st.down_reason});
        const kit::json& body = kit::body_of(r);
        auto it = body.find("texts");
        if (it == body.end()) return out.reply_error(r.ticket, error{errc::bad_request, "texts: missing"});
        if (!it->is_array()) return out.reply_error(r.ticket, error{errc::bad_request, "texts: must be an array of strings"});
        auto max_texts = st.env.cfg.get_int("embedding.max_texts");
        if (static_cast<std::int64_t>(it->size()) > max_texts)
          return out.reply_error(r.ticket, error{errc::too_large, "texts: " + std::to_string(it->size()) +
                                                                      " texts; embedding.max_texts is " +
                                                                      std::to_string(max_texts)});
        std::vector<std::string> texts;
        for (std::size_t i = 0; i < it->size(); ++i) {
          if (!(*it)[i].is_string())
            return out.reply_error(r.ticket, error{errc::bad_request, "texts[" + std::to_string(i) + "]: must be a string"});
          texts.push_back((*it)[i].get<std::string>());
        }
        if (auto cost = request_tokens(*st.enc, texts, st.env.cfg.get_int("embedding.max_tokens")); !cost)
          return out.reply_error(r.ticket, cost.error());
        auto t0 = kit::now_ns();
        auto res = st.enc->encode(texts);
        st.embed.latency.add(kit::ms_since(t0));
        st.texts += texts.size();
        if (!res) {
          ++st.embed.errors;
          return out.reply_error(r.ticket, res.error());
        }
        const int dim = st.enc->dim();
        kit::json vecs = kit::json::array();
        for (std::size_t i = 0; i < texts.size(); ++i)
          vecs.push_back(std::vector<float>(res->vectors.begin() + static_cast<std::ptrdiff_t>(i * dim),
                                            res->vectors.begin() + static_cast<std::ptrdiff_t>((i + 1) * dim)));
        kit::json trunc = kit::json::array();
        for (auto t : res->truncated) trunc.push_back(t != 0);
        out.reply_ok(r.ticket, {{"vectors", std::move(vecs)},
                                {"dim", dim},
                                {"truncated", std::move(trunc)},
                                {"model", st.enc->model_id()}});
      });
}

}  // namespace

caf::actor spawn_embedder(caf::actor_system& sys, const actor_env& env) {
  return sys.spawn<caf::detached>(embedder_fun, env);
}

}  // namespace aikid
