// The OpenAI-compatible HTTP API (docs/openai-api.md): POST /v1/chat/completions,
// POST /v1/completions, POST /v1/embeddings, GET /v1/models. Each request is
// turned into the wire's own request (generate, embed) and handed to the
// actors through the daemon's dispatch, exactly as ingress hands them; the
// replies come back on tickets with openai_http_ticket_bit set, and a
// streaming generation's tokens as the thought.token bodies the inference
// actor publishes for its request id (take_token). One cpp-httplib worker
// thread waits for each request.
//
// Table of contents
//   errors        OpenAI's error shape, errc -> HTTP status, param names
//   keys          openai_keys_read: the bearer keys file, its mode
//   call          one request in flight: its tokens and its reply, waited for by its HTTP thread
//   translate     chat / completions / embeddings bodies -> wire requests
//   impl          auth, admission, dispatch and wait, streaming (SSE), cancel on disconnect
//   routes        the four endpoints
//   start/stop    listen (TLS off loopback), the public class

#include <httplib.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <unordered_map>
#include <variant>

#include "common/json.hpp"
#include "ipc/ipc.hpp"

namespace aikid::ipc {

namespace {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;
using clock = std::chrono::steady_clock;

// --- errors ------------------------------------------------------------------------

/// An answer that is not 2xx: OpenAI's {"error":{"message","type","param","code"}}.
struct http_error {
  int status = 400;
  std::string message;
  std::string param;  // "" = null
  std::string code;   // "" = null
};

std::string type_of(int status) {
  switch (status) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404:
    case 400:
    case 413:
    case 422: return "invalid_request_error";
    case 429: return "rate_limit_error";
    case 504: return "timeout";
    default: return "server_error";
  }
}

std::string error_text(const http_error& e) {
  json err = {{"message", e.message},
              {"type", type_of(e.status)},
              {"param", e.param.empty() ? json(nullptr) : json(e.param)},
              {"code", e.code.empty() ? json(nullptr) : json(e.code)}};
  return json_dump(json{{"error", std::move(err)}});
}

void send_error(httplib::Response& res, const http_error& e) {
  res.status = e.status;
  if (e.status == 429 || e.status == 503) res.set_header("Retry-After", "1");
  res.set_content(error_text(e), "application/json");
}

// The wire's field names in its messages, as OpenAI's parameter names.
std::string param_of(const std::string& message, const std::string& endpoint) {
  auto end = message.find_first_of(":[. ");
  if (end == std::string::npos || end == 0 || message[end] == ' ') return "";  // not "field: …"
  std::string f = message.substr(0, end);
  if (!std::all_of(f.begin(), f.end(), [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; })) return "";
  if (f == "schema") return "response_format";
  if (f == "texts") return "input";
  if (f == "messages" || f == "prompt") return endpoint == "chat" ? "messages" : endpoint == "embed" ? "input" : "prompt";
  return f;
}

http_error from_wire(const error& e, const std::string& endpoint) {
  http_error h;
  h.message = e.message;
  h.code = std::string(errc_name(e.code));
  switch (e.code) {
    case errc::bad_json:
    case errc::bad_request:
    case errc::unknown_op: h.status = 400; h.param = param_of(e.message, endpoint); break;
    case errc::too_large: h.status = 400; h.param = param_of(e.message, endpoint); h.code = "context_length_exceeded"; break;
    case errc::not_found: h.status = 404; break;
    case errc::busy: h.status = 429; h.code = "rate_limit_exceeded"; break;
    case errc::deadline: h.status = 504; break;
    case errc::unavailable:
    case errc::cancelled: h.status = 503; break;
    default: h.status = 500; break;
  }
  return h;
}

// --- keys --------------------------------------------------------------------------

bool key_equal(const std::string& a, const std::string& b) {  // constant time in the key's bytes
  if (a.size() != b.size()) return false;
  unsigned char d = 0;
  for (std::size_t i = 0; i < a.size(); ++i) d |= static_cast<unsigned char>(a[i] ^ b[i]);
  return d == 0;
}

// --- call --------------------------------------------------------------------------

/// One wire request of this server in flight. The actor side (reply_ok/
/// reply_error, take_token) fills it; the HTTP thread waits on it.
struct call {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::string> tokens;
  std::optional<std::variant<json, error>> done;
};

std::string base64(const std::string& bytes) {
  static const char* tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                 static_cast<unsigned char>(bytes[i + 2]);
    out += tbl[(v >> 18) & 63]; out += tbl[(v >> 12) & 63]; out += tbl[(v >> 6) & 63]; out += tbl[v & 63];
  }
  if (i + 1 == bytes.size()) {
    unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    out += tbl[(v >> 18) & 63]; out += tbl[(v >> 12) & 63]; out += "==";
  } else if (i + 2 == bytes.size()) {
    unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8);
    out += tbl[(v >> 18) & 63]; out += tbl[(v >> 12) & 63]; out += tbl[(v >> 6) & 63]; out += '=';
  }
  return out;
}

// --- translate ---------------------------------------------------------------------

/// What a generation request became: the wire body and how to answer.
struct gen_request {
  ojson wire;              // the generate request's fields (op, messages|prompt, sampling, schema)
  bool chat = true;
  bool stream = false;
  bool include_usage = false;
  std::string model;
};

expected<void> refuse_if(const ojson& b, const char* name, bool bad, const std::string& why) {
  if (b.contains(name) && !b[name].is_null() && bad) return error{errc::bad_request, std::string(name) + ": " + why};
  return {};
}

// Parameters both endpoints take the same way; the wire checks their ranges.
expected<void> sampling_fields(const ojson& b, ojson& w) {
  for (const char* k : {"temperature", "top_p", "stop", "seed", "frequency_penalty", "presence_penalty", "top_k", "min_p",
                        "repeat_penalty"})
    if (b.contains(k) && !b[k].is_null()) w[k] = b[k];
  if (auto it = b.find("n"); it != b.end() && !it->is_null() && !(it->is_number_integer() && it->get<long long>() == 1))
    return error{errc::bad_request, "n: only 1 choice per request is supported (send n requests instead)"};
  if (auto ok = refuse_if(b, "logit_bias", b.contains("logit_bias") && b["logit_bias"].is_object() && !b["logit_bias"].empty(),
                          "not supported (the sampler has no bias per token)");
      !ok)
    return ok;
  if (auto it = b.find("stream"); it != b.end() && !it->is_null() && !it->is_boolean())
    return error{errc::bad_request, "stream: must be a boolean"};
  return {};
}

expected<std::string> content_text(const ojson& c, const std::string& where) {
  if (c.is_null()) return std::string{};
  if (c.is_string()) return c.get<std::string>();
  if (c.is_array()) {
    std::string out;
    for (const auto& part : c) {
      if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") || !part["text"].is_string())
        return error{errc::bad_request, where + ": only text parts ({\"type\":\"text\",\"text\":…}) are supported"};
      out += part["text"].get<std::string>();
    }
    return out;
  }
  return error{errc::bad_request, where + ": must be a string or a list of text parts"};
}

expected<gen_request> translate_chat(const ojson& b) {
  gen_request g;
  g.wire["op"] = "generate";
  auto msgs = b.find("messages");
  if (msgs == b.end() || !msgs->is_array() || msgs->empty())
    return error{errc::bad_request, "messages: must be a non-empty array"};
  ojson out = ojson::array();
  for (std::size_t i = 0; i < msgs->size(); ++i) {
    const auto& m = (*msgs)[i];
    std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) return error{errc::bad_request, where + ": must be an object"};
    std::string role = m.contains("role") && m["role"].is_string() ? m["role"].get<std::string>() : "";
    if (role == "developer") role = "system";
    if (role != "system" && role != "user" && role != "assistant")
      return error{errc::bad_request, where + ".role: must be system, developer, user or assistant (no tools)"};
    auto text = content_text(m.contains("content") ? m["content"] : ojson(nullptr), where + ".content");
    if (!text) return text.error();
    out.push_back({{"role", role}, {"content", *text}});
  }
  g.wire["messages"] = std::move(out);
  for (const char* k : {"tools", "functions", "tool_choice", "function_call", "audio"})
    if (auto ok = refuse_if(b, k, true, "not supported by aikid"); !ok) return ok.error();
  if (auto ok = refuse_if(b, "logprobs", b.value("logprobs", ojson(false)) != ojson(false), "not supported"); !ok)
    return ok.error();
  if (auto ok = refuse_if(b, "top_logprobs", true, "not supported"); !ok) return ok.error();
  for (const char* k : {"max_completion_tokens", "max_tokens"})
    if (b.contains(k) && !b[k].is_null()) {
      g.wire["max_tokens"] = b[k];
      break;
    }
  if (auto ok = sampling_fields(b, g.wire); !ok) return ok.error();
  if (auto it = b.find("response_format"); it != b.end() && !it->is_null()) {
    const auto& rf = *it;
    std::string type = rf.is_object() && rf.contains("type") && rf["type"].is_string() ? rf["type"].get<std::string>() : "";
    if (type == "json_schema") {
      if (!rf.contains("json_schema") || !rf["json_schema"].is_object() || !rf["json_schema"].contains("schema") ||
          !rf["json_schema"]["schema"].is_object())
        return error{errc::bad_request, "response_format: json_schema.schema must be an object (a JSON Schema)"};
      g.wire["schema"] = rf["json_schema"]["schema"];
    } else if (type == "json_object") {  // the decoder would close an object of no declared properties at once: "{}"
      return error{errc::bad_request, "response_format: json_object is not supported: aikid constrains the answer to "
                                      "a schema's declared properties; send type json_schema with one"};
    } else if (type != "text") {
      return error{errc::bad_request, "response_format: type must be text, json_object or json_schema"};
    }
  }
  return g;
}

expected<gen_request> translate_completion(const ojson& b) {
  gen_request g;
  g.chat = false;
  g.wire["op"] = "generate";
  auto p = b.find("prompt");
  if (p == b.end() || p->is_null()) return error{errc::bad_request, "prompt: missing"};
  if (p->is_string()) g.wire["prompt"] = *p;
  else if (p->is_array() && p->size() == 1 && (*p)[0].is_string()) g.wire["prompt"] = (*p)[0];
  else return error{errc::bad_request, "prompt: must be a string (or a list of one string; token lists are not supported)"};
  if (auto ok = refuse_if(b, "echo", b.value("echo", ojson(false)) != ojson(false), "not supported"); !ok) return ok.error();
  if (auto ok = refuse_if(b, "suffix", true, "not supported"); !ok) return ok.error();
  if (auto ok = refuse_if(b, "logprobs", true, "not supported"); !ok) return ok.error();
  // (b is const: operator[] on a key it lacks reads past the object — ASan found it; find() never does)
  const auto best_of = b.find("best_of");
  const bool one = best_of != b.end() && best_of->is_number_integer() && best_of->get<long long>() == 1;
  if (auto ok = refuse_if(b, "best_of", !one, "only 1 is supported"); !ok) return ok.error();
  // OpenAI's default for completions is 16 tokens.
  g.wire["max_tokens"] = b.contains("max_tokens") && !b["max_tokens"].is_null() ? b["max_tokens"] : ojson(16);
  if (auto ok = sampling_fields(b, g.wire); !ok) return ok.error();
  return g;
}

}  // namespace

// --- keys --------------------------------------------------------------------------

expected<std::vector<openai_key>> openai_keys_read(const std::string& path) {
  const std::string what = "http.keys_file " + path;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return error{errc::bad_request, what + ": cannot read: " + std::strerror(errno)};
  if (!S_ISREG(st.st_mode)) return error{errc::bad_request, what + ": not a regular file"};
  if ((st.st_mode & 0137) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return error{errc::bad_request, what + ": mode " + mode +
                                        " lets others in; it must be 0640 or stricter (owner read/write, its group "
                                        "(the clients' group) read, nothing for others)"};
  }
  std::ifstream in(path);
  if (!in) return error{errc::bad_request, what + ": cannot open"};
  std::vector<openai_key> keys;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::istringstream ls(line);
    std::string key, client;
    ls >> key >> client;
    if (key.empty() || key[0] == '#') continue;
    if (key.size() < 16)
      return error{errc::bad_request, what + ":" + std::to_string(n) + ": a key must have at least 16 characters"};
    for (const auto& k : keys)
      if (k.key == key) return error{errc::bad_request, what + ":" + std::to_string(n) + ": the same key as " + k.client};
    keys.push_back({key, client.empty() ? "key-" + std::to_string(n) : client});
  }
  if (keys.empty()) return error{errc::bad_request, what + ": holds no key"};
  return keys;
}

// --- impl --------------------------------------------------------------------------

struct openai_http::impl {
  openai_http_options opts;
  std::vector<openai_key> keys;
  dispatch_fn dispatch;
  limits_fn limits;
  models_fn models;
  std::unique_ptr<httplib::Server> srv;
  std::thread th;
  std::string nonce;  // per start: the wire ids of this server's requests are "oai-NONCE-TICKET"
  std::atomic<std::uint64_t> next_ticket{1};
  std::atomic<bool> accepting{true};
  std::atomic<bool> stopping{false};
  std::array<std::atomic<int>, wire::n_op_classes> inflight{};
  std::atomic<int> inflight_total{0};

  std::mutex mu;  // calls
  std::unordered_map<std::uint64_t, std::shared_ptr<call>> calls;

  std::mutex models_mu;
  json models_cache = json::array();
  clock::time_point models_at{};

  mutable std::mutex st_mu;
  std::map<std::string, std::uint64_t> by_client, by_status;
  std::uint64_t cancelled_on_disconnect = 0;

  std::string id_prefix() const { return "oai-" + nonce + "-"; }

  // Auth: the client's name, or "" when the bearer key is missing or unknown.
  std::string client_of(const httplib::Request& req) const {
    auto h = req.get_header_value("Authorization");
    if (h.rfind("Bearer ", 0) != 0) return "";
    std::string key = h.substr(7);
    std::string who;
    for (const auto& k : keys)
      if (key_equal(k.key, key)) who = k.client;
    return who;
  }

  json models_now() {
    std::lock_guard<std::mutex> g(models_mu);
    if (clock::now() - models_at > std::chrono::seconds(5) || models_cache.empty()) {
      json m = models ? models() : json::array();
      if (m.is_array()) models_cache = std::move(m);
      models_at = clock::now();
    }
    return models_cache;
  }

  // The model named `name` of `kind`, or a 404 naming the ones there are.
  expected<std::string> find_model(const ojson& b, const std::string& kind) {
    if (!b.contains("model") || !b["model"].is_string())
      return error{errc::bad_request, "model: must be a string (GET /v1/models lists them)"};
    std::string name = b["model"].get<std::string>();
    std::string have;
    for (const auto& m : models_now()) {
      if (m.value("kind", "") != kind) continue;
      std::string id = m.value("id", "");
      have += (have.empty() ? "" : ", ") + id;
      if (id == name) return id;
      for (const auto& a : m.value("aliases", json::array()))
        if (a.is_string() && a.get<std::string>() == name) return id;
    }
    return error{errc::not_found, "model: '" + name + "' is not served here" +
                                      (have.empty() ? std::string(" (no " + kind + " model is loaded)")
                                                    : " (" + kind + " models: " + have + ")")};
  }

  // Parses a body: UTF-8, depth, one JSON object (keys in document order).
  expected<ojson> parse_body(const httplib::Request& req) const {
    std::size_t bad = 0;
    if (!wire::utf8_valid(req.body, &bad))
      return error{errc::bad_json, "body: not UTF-8 (byte " + std::to_string(bad) + ")"};
    if (auto ok = json_depth_check(req.body, opts.max_json_depth, "ipc.max_json_depth"); !ok) return ok.error();
    auto b = ojson::parse(req.body, nullptr, false);
    if (b.is_discarded()) return error{errc::bad_json, "body: not JSON"};
    if (!b.is_object()) return error{errc::bad_json, "body: must be a JSON object"};
    return b;
  }

  void count(const std::string& client, int status) {
    std::lock_guard<std::mutex> g(st_mu);
    ++by_client[client.empty() ? "(unauthenticated)" : client];
    ++by_status[std::to_string(status)];
  }

  /// Holds one admission slot of a class; released once.
  struct slot {
    impl* p;
    std::size_t cls;
    std::uint64_t ticket;
    ~slot() {
      {
        std::lock_guard<std::mutex> g(p->mu);
        p->calls.erase(ticket);
      }
      p->inflight[cls].fetch_sub(1);
      p->inflight_total.fetch_sub(1);
    }
  };

  // Admission (the wire's ipc.max_inflight_* limits) and dispatch of one wire request.
  // `op` is a row of the table (ipc/ops.hpp): generate or embed.
  expected<std::pair<std::shared_ptr<slot>, std::shared_ptr<call>>> submit(const wire::op_info& op, ojson body,
                                                                            std::string* rid) {
    if (!accepting.load()) return error{errc::unavailable, "aikid is shutting down"};
    const wire::op_class cls = op.cls;
    auto ci = static_cast<std::size_t>(cls);
    const int limit = limits ? limits()[ci] : 8;
    if (inflight[ci].fetch_add(1) >= limit) {
      inflight[ci].fetch_sub(1);
      return error{errc::busy, std::string(wire::op_class_name(cls)) + ": " + std::to_string(limit) +
                                   " requests in flight (the limit, ipc.max_inflight_" +
                                   std::string(wire::op_class_name(cls)) + "); retry later"};
    }
    inflight_total.fetch_add(1);
    std::uint64_t ticket = openai_http_ticket_bit | next_ticket.fetch_add(1);
    auto c = std::make_shared<call>();
    {
      std::lock_guard<std::mutex> g(mu);
      calls.emplace(ticket, c);
    }
    std::shared_ptr<slot> s(new slot{this, ci, ticket});
    *rid = id_prefix() + std::to_string(ticket & ~openai_http_ticket_bit);
    body["v"] = 1;
    body["id"] = *rid;
    body["op"] = std::string(op.name);
    wire::request req;
    req.op = op.name;
    req.info = &op;
    req.id = *rid;
    req.deadline_ms = opts.deadline_ms;
    req.text = json_dump(body);
    req.body = json::parse(req.text, nullptr, false);
    dispatch(ticket, std::move(req));
    return std::pair{std::move(s), std::move(c)};
  }

  void cancel(const std::string& rid) {
    wire::request req;
    req.op = "cancel";
    req.info = &wire::op_row("cancel");
    req.id = "";
    req.text = json_dump(json{{"v", 1}, {"id", ""}, {"op", "cancel"}, {"target", rid}});
    req.body = json::parse(req.text);
    dispatch(openai_http_ticket_bit | next_ticket.fetch_add(1), std::move(req));  // its reply finds no call: dropped
  }

  clock::time_point deadline_from_now() const {
    // The actor answers `deadline` itself at the deadline; the grace is for that answer.
    return clock::now() + std::chrono::milliseconds(opts.deadline_ms) + std::chrono::milliseconds(500);
  }

  // Waits for the reply (non-streaming); a deadline passed cancels it.
  std::variant<json, error> wait(call& c, const std::string& rid, clock::time_point until) {
    std::unique_lock<std::mutex> lk(c.mu);
    if (!c.cv.wait_until(lk, until, [&] { return c.done.has_value() || stopping.load(); })) {
      lk.unlock();
      cancel(rid);
      return error{errc::deadline, "http.deadline_ms passed before the request finished"};
    }
    if (!c.done) return error{errc::unavailable, "aikid is shutting down"};
    return *c.done;
  }

  void routes();
  void generation(const httplib::Request& req, httplib::Response& res, bool chat);
  void embeddings(const httplib::Request& req, httplib::Response& res);
  void list_models(const httplib::Request& req, httplib::Response& res, const std::string& one);
  bool authorise(const httplib::Request& req, httplib::Response& res, std::string* client);
};

bool openai_http::impl::authorise(const httplib::Request& req, httplib::Response& res, std::string* client) {
  *client = client_of(req);
  if (client->empty()) {
    count("", 401);
    send_error(res, {401, "Incorrect API key provided: send 'Authorization: Bearer KEY' with a key from http.keys_file",
                     "", "invalid_api_key"});
    return false;
  }
  return true;
}

// chat.completion / text_completion objects from a generate reply.
namespace {

json usage_of(const json& reply) {
  const json t = reply.value("timings", json::object());
  int p = t.value("prompt_tokens", 0), c = t.value("generated_tokens", 0);
  return {{"prompt_tokens", p}, {"completion_tokens", c}, {"total_tokens", p + c}};
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

json chunk_of(bool chat, const std::string& id, std::int64_t created, const std::string& model, const json& delta_or_text,
              const json& finish) {
  json choice = {{"index", 0}, {"finish_reason", finish}, {"logprobs", nullptr}};
  if (chat) choice["delta"] = delta_or_text;
  else choice["text"] = delta_or_text;
  return {{"id", id}, {"object", chat ? "chat.completion.chunk" : "text_completion"}, {"created", created},
          {"model", model}, {"system_fingerprint", nullptr}, {"choices", json::array({choice})}};
}

}  // namespace

void openai_http::impl::generation(const httplib::Request& req, httplib::Response& res, bool chat) {
  std::string client;
  if (!authorise(req, res, &client)) return;
  const std::string endpoint = chat ? "chat" : "completions";
  auto fail = [&](const http_error& e) {
    count(client, e.status);
    spdlog::debug("http {}: {} -> {} {}", client, req.path, e.status, e.message);
    send_error(res, e);
  };
  auto b = parse_body(req);
  if (!b) return fail(from_wire(b.error(), endpoint));
  auto g = chat ? translate_chat(*b) : translate_completion(*b);
  if (!g) return fail(from_wire(g.error(), endpoint));
  auto model = find_model(*b, "chat");
  if (!model) return fail({404, model.error().message, "model", "model_not_found"});
  g->model = *model;
  g->stream = b->value("stream", ojson(false)) == ojson(true);
  if (auto so = b->find("stream_options"); so != b->end() && so->is_object())
    g->include_usage = so->value("include_usage", ojson(false)) == ojson(true);
  if (g->stream) g->wire["stream"] = true;
  std::string rid;
  auto sub = submit(wire::op_row("generate"), std::move(g->wire), &rid);
  if (!sub) return fail(from_wire(sub.error(), endpoint));
  auto [held, c] = std::move(*sub);
  const std::string id = (chat ? "chatcmpl-" : "cmpl-") + rid.substr(4);
  const std::int64_t created = unix_now();
  const auto until = deadline_from_now();

  if (!g->stream) {
    auto r = wait(*c, rid, until);
    if (auto* e = std::get_if<error>(&r)) return fail(from_wire(*e, endpoint));
    const json& reply = std::get<json>(r);
    json choice = {{"index", 0}, {"finish_reason", reply.value("finish_reason", "stop")}, {"logprobs", nullptr}};
    if (chat) choice["message"] = {{"role", "assistant"}, {"content", reply.value("text", "")}};
    else choice["text"] = reply.value("text", "");
    json out = {{"id", id}, {"object", chat ? "chat.completion" : "text_completion"}, {"created", created},
                {"model", g->model}, {"system_fingerprint", nullptr}, {"choices", json::array({choice})},
                {"usage", usage_of(reply)}};
    count(client, 200);
    res.set_content(json_dump(out), "application/json");
    return;
  }

  // Streaming: the first token (or the reply) decides the status, so an error
  // the actor finds (a schema it cannot constrain) is still a 4xx.
  {
    std::unique_lock<std::mutex> lk(c->mu);
    bool any = c->cv.wait_until(lk, until, [&] { return !c->tokens.empty() || c->done || stopping.load(); });
    if (!any) {
      lk.unlock();
      cancel(rid);
      return fail(from_wire(error{errc::deadline, "http.deadline_ms passed before the first token"}, endpoint));
    }
    if (c->tokens.empty() && c->done && std::holds_alternative<error>(*c->done))
      return fail(from_wire(std::get<error>(*c->done), endpoint));
    if (!c->done && c->tokens.empty())
      return fail(from_wire(error{errc::unavailable, "aikid is shutting down"}, endpoint));
  }
  count(client, 200);
  res.set_header("Cache-Control", "no-cache");
  auto state = std::make_shared<std::pair<std::shared_ptr<slot>, std::shared_ptr<call>>>(held, c);
  const bool include_usage = g->include_usage;
  const std::string model_id = g->model;
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, state, rid, id, created, model_id, chat, include_usage, until, client](std::size_t, httplib::DataSink& sink) {
        call& c = *state->second;
        auto emit = [&](const json& j) {
          std::string s = "data: " + json_dump(j) + "\n\n";
          return sink.write(s.data(), s.size());
        };
        auto gone = [&] {  // the client went away mid-stream: its generation stops
          cancel(rid);
          std::lock_guard<std::mutex> g(st_mu);
          ++cancelled_on_disconnect;
          spdlog::debug("http {}: {} left mid-stream; generation cancelled", client, rid);
          return false;
        };
        if (chat && !emit(chunk_of(true, id, created, model_id, {{"role", "assistant"}, {"content", ""}}, nullptr)))
          return gone();
        auto last_write = clock::now();
        for (;;) {
          std::deque<std::string> toks;
          std::optional<std::variant<json, error>> done;
          {
            std::unique_lock<std::mutex> lk(c.mu);
            c.cv.wait_until(lk, std::min(until, clock::now() + std::chrono::milliseconds(250)),
                            [&] { return !c.tokens.empty() || c.done || stopping.load(); });
            toks.swap(c.tokens);
            done = c.done;
          }
          for (auto& t : toks) {
            json piece = chat ? json{{"content", t}} : json(t);
            if (!emit(chunk_of(chat, id, created, model_id, piece, nullptr))) return gone();
            last_write = clock::now();
          }
          std::optional<error> err;
          if (done && std::holds_alternative<error>(*done)) err = std::get<error>(*done);
          if (!done && (stopping.load() || clock::now() >= until)) {
            cancel(rid);
            err = stopping.load() ? error{errc::unavailable, "aikid is shutting down"}
                                  : error{errc::deadline, "http.deadline_ms passed during generation"};
          }
          if (done || err) state->first.reset();  // the admission slot is free before the client hears the end
          if (err) {  // after the first token: an error event, as OpenAI sends it
            std::string s = "data: " + error_text(from_wire(*err, chat ? "chat" : "completions")) + "\n\n";
            sink.write(s.data(), s.size());
            sink.done();
            return true;
          }
          if (done) {
            const json& reply = std::get<json>(*done);
            if (!emit(chunk_of(chat, id, created, model_id, chat ? json::object() : json(""),
                               reply.value("finish_reason", "stop"))))
              return false;
            if (include_usage) {
              json u = chunk_of(chat, id, created, model_id, json::object(), nullptr);
              u["choices"] = json::array();
              u["usage"] = usage_of(reply);
              if (!emit(u)) return false;
            }
            static const std::string end = "data: [DONE]\n\n";
            sink.write(end.data(), end.size());
            sink.done();
            return true;
          }
          if (toks.empty() && clock::now() - last_write > std::chrono::milliseconds(500)) {
            static const std::string ping = ": keep-alive\n\n";  // finds a client that has gone
            if (!sink.write(ping.data(), ping.size())) return gone();
            last_write = clock::now();
          }
        }
      },
      [state](bool) { state->first.reset(); });
}

void openai_http::impl::embeddings(const httplib::Request& req, httplib::Response& res) {
  std::string client;
  if (!authorise(req, res, &client)) return;
  auto fail = [&](const http_error& e) {
    count(client, e.status);
    send_error(res, e);
  };
  auto b = parse_body(req);
  if (!b) return fail(from_wire(b.error(), "embed"));
  ojson texts = ojson::array();
  auto in = b->find("input");
  if (in == b->end() || in->is_null()) return fail({400, "input: missing", "input", "bad_request"});
  if (in->is_string()) texts.push_back(*in);
  else if (in->is_array() && !in->empty() && std::all_of(in->begin(), in->end(), [](const ojson& x) { return x.is_string(); }))
    texts = *in;
  else
    return fail({400, "input: must be a string or a non-empty list of strings (token lists are not supported)", "input",
                 "bad_request"});
  std::string format = "float";
  if (auto f = b->find("encoding_format"); f != b->end() && !f->is_null()) {
    if (!f->is_string() || (*f != "float" && *f != "base64"))
      return fail({400, "encoding_format: must be float or base64", "encoding_format", "bad_request"});
    format = f->get<std::string>();
  }
  auto model = find_model(*b, "embedding");
  if (!model) return fail({404, model.error().message, "model", "model_not_found"});
  std::string rid;
  auto sub = submit(wire::op_row("embed"), ojson{{"texts", std::move(texts)}}, &rid);
  if (!sub) return fail(from_wire(sub.error(), "embed"));
  auto r = wait(*sub->second, rid, deadline_from_now());
  if (auto* e = std::get_if<error>(&r)) return fail(from_wire(*e, "embed"));
  const json& reply = std::get<json>(r);
  const int dim = reply.value("dim", 0);
  if (auto d = b->find("dimensions"); d != b->end() && !d->is_null() && !(d->is_number_integer() && d->get<long long>() == dim))
    return fail({400, "dimensions: " + *model + " makes vectors of " + std::to_string(dim) + " dimensions only",
                 "dimensions", "bad_request"});
  json data = json::array();
  const auto& vecs = reply.at("vectors");
  for (std::size_t i = 0; i < vecs.size(); ++i) {
    json e = {{"object", "embedding"}, {"index", i}};
    if (format == "base64") {
      std::string bytes;
      for (const auto& x : vecs[i]) {
        float f = x.get<float>();
        char buf[4];
        std::memcpy(buf, &f, 4);  // little-endian float32, as OpenAI sends it
        bytes.append(buf, 4);
      }
      e["embedding"] = base64(bytes);
    } else {
      e["embedding"] = vecs[i];
    }
    data.push_back(std::move(e));
  }
  count(client, 200);
  res.set_content(json_dump(json{{"object", "list"}, {"data", std::move(data)}, {"model", *model},
                                 {"usage", {{"prompt_tokens", 0}, {"total_tokens", 0}}}}),
                  "application/json");
}

void openai_http::impl::list_models(const httplib::Request& req, httplib::Response& res, const std::string& one) {
  std::string client;
  if (!authorise(req, res, &client)) return;
  json data = json::array();
  for (const auto& m : models_now()) {
    json o = {{"id", m.value("id", "")}, {"object", "model"}, {"created", 0}, {"owned_by", "aikid"}};
    if (!one.empty() && o["id"] == one) {
      count(client, 200);
      return res.set_content(json_dump(o), "application/json");
    }
    data.push_back(std::move(o));
  }
  if (!one.empty()) {
    count(client, 404);
    return send_error(res, {404, "model: '" + one + "' is not served here", "model", "model_not_found"});
  }
  count(client, 200);
  res.set_content(json_dump(json{{"object", "list"}, {"data", std::move(data)}}), "application/json");
}

void openai_http::impl::routes() {
  srv->Post("/v1/chat/completions", [this](const httplib::Request& q, httplib::Response& r) { generation(q, r, true); });
  srv->Post("/v1/completions", [this](const httplib::Request& q, httplib::Response& r) { generation(q, r, false); });
  srv->Post("/v1/embeddings", [this](const httplib::Request& q, httplib::Response& r) { embeddings(q, r); });
  srv->Get("/v1/models", [this](const httplib::Request& q, httplib::Response& r) { list_models(q, r, ""); });
  srv->Get(R"(/v1/models/(.+))",
           [this](const httplib::Request& q, httplib::Response& r) { list_models(q, r, q.matches[1].str()); });
  // One debug line a request, by client (never the key).
  srv->set_logger([this](const httplib::Request& q, const httplib::Response& r) {
    if (!spdlog::should_log(spdlog::level::debug)) return;
    std::string who = client_of(q);
    spdlog::debug("http {} {} {} from {} -> {}", who.empty() ? "(no valid key)" : who, q.method, q.path, q.remote_addr,
                  r.status);
  });
  // Whatever cpp-httplib answers itself (404, 405, 413, 400) gets OpenAI's error shape.
  srv->set_error_handler([](const httplib::Request& q, httplib::Response& r) {
    if (!r.body.empty()) return;
    std::string msg = r.status == 404   ? "no such endpoint: " + q.method + " " + q.path
                      : r.status == 413 ? "body: larger than http.max_body_bytes"
                                        : "HTTP " + std::to_string(r.status);
    send_error(r, {r.status, msg, r.status == 413 ? "body" : "", r.status == 413 ? "too_large" : ""});
  });
  srv->set_exception_handler([](const httplib::Request& q, httplib::Response& r, std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    spdlog::error("http: {} {}: {}", q.method, q.path, what);
    send_error(r, {500, "internal error serving " + q.path + ": " + what, "", "internal"});
  });
}

// --- start/stop --------------------------------------------------------------------

namespace {
struct listen_parts {
  std::string host;
  int port = 0;
  bool tls = false;
  std::vector<openai_key> keys;
};

expected<listen_parts> check(const openai_http_options& opts) {
  const std::string& listen = opts.listen;
  auto colon = listen.rfind(':');
  if (colon == std::string::npos) return error{errc::bad_request, "http.listen: expected HOST:PORT, got \"" + listen + "\""};
  std::string host = listen.substr(0, colon);
  int port = 0;
  try {
    std::size_t used = 0;
    port = std::stoi(listen.substr(colon + 1), &used);
    if (used != listen.size() - colon - 1 || port <= 0 || port > 65535) throw std::out_of_range("port");
  } catch (const std::exception&) {
    return error{errc::bad_request, "http.listen: bad port in \"" + listen + "\""};
  }
  if (opts.keys_file.empty())
    return error{errc::bad_request, "http.keys_file: required when http.listen is set (one bearer key a line, mode 0640)"};
  auto keys = openai_keys_read(opts.keys_file);
  if (!keys) return keys.error();
  const bool tls = !opts.tls_cert.empty() || !opts.tls_key.empty();
  if (tls && (opts.tls_cert.empty() || opts.tls_key.empty()))
    return error{errc::bad_request, "http.tls_cert and http.tls_key: give both or neither"};
  if (!tls && !endpoint_check("tcp://" + listen))
    return error{errc::bad_request, "http.listen: " + host +
                                        " is not a loopback address: off loopback the API needs TLS (http.tls_cert, "
                                        "http.tls_key)"};
  return listen_parts{host, port, tls, std::move(*keys)};
}
}  // namespace

expected<void> openai_http_check(const openai_http_options& opts) {
  auto c = check(opts);
  if (!c) return c.error();
  return {};
}

expected<std::unique_ptr<openai_http>> openai_http::start(openai_http_options opts, dispatch_fn dispatch, limits_fn limits,
                                                          models_fn models) {
  auto parts = check(opts);
  if (!parts) return parts.error();
  const std::string& listen = opts.listen;
  std::string host = parts->host;
  const int port = parts->port;
  const bool tls = parts->tls;
  auto keys = std::move(parts->keys);
  auto p = std::make_unique<impl>();
  p->opts = opts;
  p->keys = std::move(keys);
  p->dispatch = std::move(dispatch);
  p->limits = std::move(limits);
  p->models = std::move(models);
  {
    std::random_device rd;
    char buf[20];
    std::snprintf(buf, sizeof buf, "%08x", static_cast<unsigned>(rd()));
    p->nonce = buf;
  }
  if (tls) {
    auto s = std::make_unique<httplib::SSLServer>(opts.tls_cert.c_str(), opts.tls_key.c_str());
    if (!s->is_valid())
      return error{errc::bad_request, "http.tls_cert " + opts.tls_cert + " / http.tls_key " + opts.tls_key +
                                          ": cannot load the certificate and key (PEM files, readable by aikid)"};
    p->srv = std::move(s);
  } else {
    p->srv = std::make_unique<httplib::Server>();
  }
  const auto threads = static_cast<std::size_t>(std::max(1, opts.threads));
  p->srv->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  p->srv->set_payload_max_length(opts.max_body_bytes);
  // Each SSE event is a small write: with Nagle's algorithm the second one
  // waited for the client's delayed ACK (~40 ms more to the first token).
  p->srv->set_tcp_nodelay(true);
  p->srv->set_read_timeout(30);
  p->srv->set_write_timeout(30);
  p->routes();
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (!p->srv->bind_to_port(host.c_str(), port))
    return error{errc::unavailable, "http.listen: cannot bind " + listen + " (in use, or no such address)"};
  auto* raw = p.get();
  p->th = std::thread([raw] { raw->srv->listen_after_bind(); });
  spdlog::info("http: OpenAI-compatible API on {}://{} ({} keys)", tls ? "https" : "http", listen, p->keys.size());
  return std::unique_ptr<openai_http>(new openai_http(std::move(p)));
}

openai_http::openai_http(std::unique_ptr<impl> p) : p_(std::move(p)) {}
openai_http::~openai_http() { stop(); }

namespace {
void deliver(std::mutex& mu, std::unordered_map<std::uint64_t, std::shared_ptr<call>>& calls, std::uint64_t ticket,
             std::variant<json, error> body) {
  std::shared_ptr<call> c;
  {
    std::lock_guard<std::mutex> g(mu);
    auto it = calls.find(ticket);
    if (it == calls.end()) return;  // a cancel's reply, or a request already answered (deadline)
    c = it->second;
  }
  {
    std::lock_guard<std::mutex> g(c->mu);
    if (!c->done) c->done = std::move(body);
  }
  c->cv.notify_all();
}
}  // namespace

void openai_http::reply_ok(std::uint64_t ticket, nlohmann::json fields) { deliver(p_->mu, p_->calls, ticket, std::move(fields)); }
void openai_http::reply_error(std::uint64_t ticket, error e) { deliver(p_->mu, p_->calls, ticket, std::move(e)); }

bool openai_http::take_token(const nlohmann::json& body) {
  auto it = body.find("request_id");
  if (it == body.end() || !it->is_string()) return false;
  const std::string& rid = it->get_ref<const std::string&>();
  const std::string prefix = p_->id_prefix();
  if (rid.compare(0, prefix.size(), prefix) != 0) return false;
  std::uint64_t n = 0;
  try {
    n = std::stoull(rid.substr(prefix.size()));
  } catch (const std::exception&) {
    return false;
  }
  std::shared_ptr<call> c;
  {
    std::lock_guard<std::mutex> g(p_->mu);
    auto f = p_->calls.find(openai_http_ticket_bit | n);
    if (f == p_->calls.end()) return true;  // its client is gone: the text is nobody else's either
    c = f->second;
  }
  {
    std::lock_guard<std::mutex> g(c->mu);
    c->tokens.push_back(body.value("text", ""));
  }
  c->cv.notify_all();
  return true;
}

void openai_http::stop_accepting() { p_->accepting = false; }
int openai_http::in_flight() const { return p_->inflight_total.load(); }

nlohmann::json openai_http::stats() const {
  std::lock_guard<std::mutex> g(p_->st_mu);
  return {{"listen", p_->opts.listen}, {"in_flight", p_->inflight_total.load()}, {"requests_by_client", p_->by_client},
          {"responses_by_status", p_->by_status}, {"cancelled_on_disconnect", p_->cancelled_on_disconnect}};
}

void openai_http::stop() {
  if (!p_ || !p_->th.joinable()) return;
  p_->stopping = true;
  {
    std::lock_guard<std::mutex> g(p_->mu);
    for (auto& [t, c] : p_->calls) {
      { std::lock_guard<std::mutex> lk(c->mu); }  // a waiter between its check and its wait sees `stopping`
      c->cv.notify_all();
    }
  }
  p_->srv->stop();
  p_->th.join();
}

}  // namespace aikid::ipc
