// libFuzzer target for the wire request parser and validator (ipc/protocol):
// one request frame → protocol_parse_request, then what ingress and the
// daemon do with the result (admission class, deadline arithmetic, the body
// handed to an actor, the reply), then every typed field accessor the actors
// use on every member of the body. Any frame must give a request or a wire
// error whose reply is valid JSON carrying the id — never a crash, a
// sanitizer report or an exception. The parser's fast path (simdjson) must
// agree with nlohmann's parser on every frame: the same value, or both refuse.
//
// Build + run (from the repo root; tests/fuzz/fuzz.sh does both, see there):
//   tests/fuzz/fuzz.sh wire /tmp/fuzz 600
// or by hand:
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -I. \
//     tests/fuzz/wire_fuzz.cpp ipc/protocol.cpp -lsimdjson -o /tmp/wire_fuzz
//   mkdir -p /tmp/wire_corpus && cp tests/fuzz/corpus/wire/* /tmp/wire_corpus/ && \
//     /tmp/wire_fuzz -max_total_time=600 -max_len=1048576 /tmp/wire_corpus
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "ipc/protocol.hpp"

using namespace aikid;
using namespace aikid::wire;

namespace {

// A reply must be one JSON object with v = 1, the id echoed and ok as given.
void check_reply(const std::string& reply, const std::string& id, bool ok) {
  if (!utf8_valid(reply)) std::abort();
  auto j = json::parse(reply, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || j.value("v", 0) != version || j.value("ok", !ok) != ok) std::abort();
  auto it = j.find("id");
  if (it == j.end() || !it->is_string()) std::abort();
  // ids that are valid UTF-8 come back byte for byte (the parser only
  // accepts valid UTF-8, so every id it returns is)
  if (it->get<std::string>() != id) std::abort();
}

// The accessors every actor uses (see actors/*/…_actor.cpp), over one member.
void touch_fields(const json& body, const char* name) {
  (void)field_string(body, name);
  (void)field_opt_string(body, name);
  (void)field_opt_int(body, name, 1, 1000);
  (void)field_opt_int(body, name, 0, INT64_MAX);
  (void)field_opt_int(body, name, -1, 0xFFFFFFFFll);
  (void)field_opt_number(body, name, 0.0, 2.0);
  (void)field_opt_number(body, name, -1e9, 1e9);
  (void)field_opt_bool(body, name);
  (void)field_opt_object(body, name);
  (void)field_opt_vector(body, name);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view frame(reinterpret_cast<const char*>(data), size);
  std::string id;
  auto req = protocol_parse_request(frame, 1 << 20, &id);
  // the same JSON as nlohmann's parser alone (UTF-8 is checked before either)
  const bool utf8 = utf8_valid(frame);
  const auto slow = utf8 ? json::parse(frame.begin(), frame.end(), nullptr, false) : json();
  const bool not_json = !req && req.error().code == errc::bad_json && req.error().message.rfind("request is not JSON", 0) == 0;
  // nesting is checked before JSON (docs/protocol.md): a frame too deep is refused as such,
  // JSON or not; the nesting scan must agree with the parser on what it admits
  const bool too_deep = utf8 && json_too_deep(frame, json_default_max_depth).has_value();  // after size and UTF-8
  if (size <= (1u << 20) && too_deep != (!req && req.error().code == errc::bad_request &&
                   req.error().message.find(": JSON nested deeper than ") != std::string::npos))
    std::abort();
  if (utf8 && !too_deep && not_json != slow.is_discarded()) std::abort();
  if (req && req->body != slow) std::abort();
  if (!req) {
    const error& e = req.error();
    if (e.message.empty()) std::abort();
    if (e.code != errc::too_large && e.code != errc::bad_json && e.code != errc::bad_request &&
        e.code != errc::unknown_op)
      std::abort();
    check_reply(protocol_reply_error(id, e), id, false);
    return 0;
  }
  if (req->id != id) std::abort();
  // what reaches an actor nests at most json_default_max_depth levels: every
  // copy and dump below (and in the actors) stays off the stack's edge
  if (json_too_deep(req->text, json_default_max_depth)) std::abort();
  // ingress: admission class and deadline (ipc/ingress.cpp on_request)
  const auto cls = protocol_op_class(req->op);
  if (op_class_name(cls).empty()) std::abort();
  if (req->deadline_ms) {
    if (*req->deadline_ms <= 0) std::abort();
    using clock = std::chrono::steady_clock;
    const auto start = clock::now();
    const auto deadline = start + std::chrono::milliseconds(*req->deadline_ms);
    // the daemon hands actors the deadline in nanoseconds (daemon/daemon.cpp)
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.time_since_epoch()).count();
    if (deadline <= start || ns <= 0) std::abort();
  }
  // daemon: the body travels to the actor as text and is parsed there again
  const std::string text = req->body.dump();
  auto again = json::parse(text, nullptr, false);
  if (again.is_discarded() || again != req->body) std::abort();
  // actors: typed accessors over every member, plus names the ops use
  for (const auto& [k, v] : req->body.items()) touch_fields(req->body, k.c_str());
  for (const char* name : {"text", "user", "meta", "top_k", "vector", "memory_id", "limit", "messages"})
    touch_fields(req->body, name);
  // a success reply that echoes the body, as ping/model.info replies carry fields
  check_reply(protocol_reply_ok(id, json{{"echo", req->body}}), id, true);
  return 0;
}
