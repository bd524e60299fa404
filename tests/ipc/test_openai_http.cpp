// The OpenAI-compatible API's server alone (ipc/openai_http.cpp), with a fake
// dispatch standing in for the actors: the keys file and its mode, the start
// checks, a chat request plain and streamed (tokens through take_token),
// OpenAI's error shape for 401 / 404 / 400 / 429, and a wire error turned into
// its HTTP status.
#define BOOST_TEST_MODULE openai_http
#include <boost/test/unit_test.hpp>

#include <httplib.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <mutex>
#include <thread>

#include "ipc/ipc.hpp"

using namespace aikid;
using json = nlohmann::json;

namespace {

std::string write_keys(const std::string& text, int mode) {
  std::string path = "/tmp/aikid-test-keys-" + std::to_string(::getpid()) + "-" + std::to_string(mode);
  std::ofstream(path) << text;
  ::chmod(path.c_str(), static_cast<mode_t>(mode));
  return path;
}

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t n = sizeof a;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), n);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n);
  ::close(fd);
  return ntohs(a.sin_port);
}

const std::string key = "sk-test-0123456789abcdef";

// The actors, faked: generate answers "Hello world" (streamed in two pieces
// when asked), "schema" in the body is refused as the inference actor would.
struct fake {
  std::mutex mu;
  ipc::openai_http* http = nullptr;
  std::vector<json> seen;
  bool hold = false;  // leave generations unanswered (admission test)
  std::vector<std::uint64_t> held;

  void operator()(std::uint64_t ticket, wire::request&& r) {
    std::lock_guard<std::mutex> g(mu);
    seen.push_back(r.body);
    if (r.op == "cancel") return http->reply_ok(ticket, {{"cancelled", true}});
    if (hold) return held.push_back(ticket);
    if (r.body.contains("schema")) return http->reply_error(ticket, error{errc::bad_request, "schema: type: unsupported"});
    if (r.body.value("stream", false)) {
      http->take_token({{"request_id", r.id}, {"index", 0}, {"text", "Hello"}});
      http->take_token({{"request_id", r.id}, {"index", 1}, {"text", " world"}});
    }
    http->reply_ok(ticket, {{"text", "Hello world"}, {"finish_reason", "stop"},
                            {"timings", {{"prompt_tokens", 5}, {"generated_tokens", 2}}}});
  }
};

struct server {
  fake f;
  int port = free_port();
  std::unique_ptr<ipc::openai_http> http;
  wire::class_limits limits{8, 8, 8, 8, 1, 8};
  server() {
    ipc::openai_http_options o;
    o.listen = "127.0.0.1:" + std::to_string(port);
    o.keys_file = write_keys("# comment\n" + key + " tester\n", 0640);
    auto h = ipc::openai_http::start(
        o, [this](std::uint64_t t, wire::request&& r) { f(t, std::move(r)); }, [this] { return limits; },
        [] { return json::array({{{"id", "tiny"}, {"kind", "chat"}, {"aliases", {"Tiny"}}}}); });
    BOOST_REQUIRE_MESSAGE(h.has_value(), (h ? std::string() : h.error().message));
    http = std::move(*h);
    f.http = http.get();
  }
  httplib::Result post(const std::string& path, const std::string& body, const std::string& k = key) {
    httplib::Client c("127.0.0.1", port);
    return c.Post(path.c_str(), {{"Authorization", "Bearer " + k}}, body, "application/json");
  }
};

json chat(bool stream, json extra = json::object()) {
  json b = {{"model", "tiny"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"stream", stream}};
  b.update(extra);
  return b;
}

void require_openai_error(const httplib::Result& r, int status, const std::string& param) {
  BOOST_REQUIRE(r);
  BOOST_TEST(r->status == status);
  auto e = json::parse(r->body)["error"];
  BOOST_TEST(e.size() == 4u);
  BOOST_TEST(!e["message"].get<std::string>().empty());
  if (!param.empty()) BOOST_TEST(e["param"] == param);
}

}  // namespace

BOOST_AUTO_TEST_CASE(the_keys_file_and_the_start_checks) {
  BOOST_TEST(!ipc::openai_keys_read("/nonexistent/keys").has_value());
  auto wide = ipc::openai_keys_read(write_keys(key + "\n", 0644));
  BOOST_REQUIRE(!wide.has_value());
  BOOST_TEST(wide.error().message.find("mode 0644") != std::string::npos);
  BOOST_TEST(!ipc::openai_keys_read(write_keys("short\n", 0600)).has_value());
  BOOST_TEST(!ipc::openai_keys_read(write_keys(key + " a\n" + key + " b\n", 0600)).has_value());
  BOOST_TEST(!ipc::openai_keys_read(write_keys("# only a comment\n\n", 0600)).has_value());
  auto ok = ipc::openai_keys_read(write_keys("# c\n" + key + " aiki\n\n" + key + "X\n", 0640));
  BOOST_REQUIRE(ok.has_value());
  BOOST_TEST(ok->size() == 2u);
  BOOST_TEST((*ok)[0].client == "aiki");
  BOOST_TEST((*ok)[1].client == "key-4");

  ipc::openai_http_options o;
  o.listen = "127.0.0.1:8080";
  BOOST_TEST(!ipc::openai_http_check(o).has_value());  // no keys file
  o.keys_file = write_keys(key + "\n", 0640);
  BOOST_TEST(ipc::openai_http_check(o).has_value());
  o.listen = "0.0.0.0:8080";
  auto off = ipc::openai_http_check(o);
  BOOST_REQUIRE(!off.has_value());
  BOOST_TEST(off.error().message.find("needs TLS") != std::string::npos);
  o.tls_cert = "/some/cert.pem";
  BOOST_TEST(!ipc::openai_http_check(o).has_value());  // a cert without its key
  o.listen = "127.0.0.1:notaport";
  o.tls_cert.clear();
  BOOST_TEST(!ipc::openai_http_check(o).has_value());
}

BOOST_AUTO_TEST_CASE(chat_plain_and_streamed_through_the_dispatch) {
  server s;
  auto r = s.post("/v1/chat/completions", chat(false, {{"temperature", 0.5}, {"max_tokens", 4}}).dump());
  BOOST_REQUIRE(r);
  BOOST_TEST(r->status == 200);
  auto j = json::parse(r->body);
  BOOST_TEST(j["choices"][0]["message"]["content"] == "Hello world");
  BOOST_TEST(j["usage"]["total_tokens"] == 7);
  {
    std::lock_guard<std::mutex> g(s.f.mu);
    const json& w = s.f.seen.back();  // the wire request the actors got
    BOOST_TEST(w["op"] == "generate");
    BOOST_TEST(w["temperature"] == 0.5);
    BOOST_TEST(w["max_tokens"] == 4);
    BOOST_TEST(w["messages"][0]["content"] == "hi");
  }
  auto st = s.post("/v1/chat/completions", chat(true).dump());
  BOOST_REQUIRE(st);
  BOOST_TEST(st->status == 200);
  BOOST_TEST(st->body.find("\"content\":\"Hello\"") != std::string::npos);
  BOOST_TEST(st->body.find("\"content\":\" world\"") != std::string::npos);
  BOOST_TEST(st->body.find("data: [DONE]") != std::string::npos);
  BOOST_TEST(s.post("/v1/chat/completions", chat(false, {{"model", "Tiny"}}).dump())->status == 200);  // an alias
}

BOOST_AUTO_TEST_CASE(errors_have_openai_s_shape) {
  server s;
  require_openai_error(s.post("/v1/chat/completions", chat(false).dump(), "sk-wrong-000000000000"), 401, "");
  require_openai_error(s.post("/v1/chat/completions", chat(false, {{"model", "gpt-4o"}}).dump()), 404, "model");
  require_openai_error(s.post("/v1/chat/completions", chat(false, {{"n", 3}}).dump()), 400, "n");
  require_openai_error(s.post("/v1/chat/completions", "{\"model\":"), 400, "");
  require_openai_error(s.post("/v1/completions", json{{"model", "tiny"}, {"prompt", {1, 2}}}.dump()), 400, "prompt");
  auto schema = chat(false, {{"response_format", {{"type", "json_schema"}, {"json_schema", {{"schema", {{"type", "x"}}}}}}}});
  require_openai_error(s.post("/v1/chat/completions", schema.dump()), 400, "response_format");
  schema["stream"] = true;  // streamed: still a 400, before any event
  require_openai_error(s.post("/v1/chat/completions", schema.dump()), 400, "response_format");
  // Admission: one generation in flight (the limit); the second is 429 with Retry-After.
  {
    std::lock_guard<std::mutex> g(s.f.mu);
    s.f.hold = true;
  }
  std::thread first([&] { s.post("/v1/chat/completions", chat(false).dump()); });
  for (int i = 0; i < 200 && s.http->in_flight() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto busy = s.post("/v1/chat/completions", chat(false).dump());
  require_openai_error(busy, 429, "");
  BOOST_TEST(busy->get_header_value("Retry-After") == "1");
  {
    std::lock_guard<std::mutex> g(s.f.mu);
    for (auto t : s.f.held) s.http->reply_error(t, error{errc::deadline, "deadline_ms passed"});
  }
  first.join();
  BOOST_TEST(s.http->in_flight() == 0);
}
