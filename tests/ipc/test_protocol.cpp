// Wire protocol v1: every envelope error is produced by a real bad frame.
#define BOOST_TEST_MODULE protocol
#include <boost/test/unit_test.hpp>

#include "ipc/protocol.hpp"

using namespace aikid;
using namespace aikid::wire;

namespace {
errc code_of(std::string_view frame, std::size_t max = 1024) {
  std::string id;
  auto r = protocol_parse_request(frame, max, &id);
  return r ? errc::none : r.error().code;
}
}  // namespace

BOOST_AUTO_TEST_CASE(a_good_request_parses) {
  std::string id;
  auto r = protocol_parse_request(R"({"v":1,"op":"ping","id":"a1","deadline_ms":50})", 1024, &id);
  BOOST_TEST_REQUIRE(r.has_value());
  BOOST_TEST(r->op == "ping");
  BOOST_TEST(r->id == "a1");
  BOOST_TEST(*r->deadline_ms == 50);
}

BOOST_AUTO_TEST_CASE(each_envelope_error_code) {
  BOOST_TEST((code_of("{not json") == errc::bad_json));
  BOOST_TEST((code_of("[1,2]") == errc::bad_json));
  BOOST_TEST((code_of("\"str\"") == errc::bad_json));
  BOOST_TEST((code_of("{\"v\":1,\"op\":\"ping\",\"x\":\"\xff\"}") == errc::bad_json));
  BOOST_TEST((code_of(R"({"op":"ping"})") == errc::bad_request));
  BOOST_TEST((code_of(R"({"v":2,"op":"ping"})") == errc::bad_request));
  BOOST_TEST((code_of(R"({"v":1})") == errc::bad_request));
  BOOST_TEST((code_of(R"({"v":1,"op":7})") == errc::bad_request));
  BOOST_TEST((code_of(R"({"v":1,"op":"ping","id":5})") == errc::bad_request));
  BOOST_TEST((code_of(R"({"v":1,"op":"ping","deadline_ms":-1})") == errc::bad_request));
  BOOST_TEST((code_of(R"({"v":1,"op":"ping","deadline_ms":"soon"})") == errc::bad_request));
  BOOST_TEST((code_of(R"({"v":1,"op":"fly"})") == errc::unknown_op));
  BOOST_TEST((code_of(std::string(2000, ' ') + "{}", 1024) == errc::too_large));
}

BOOST_AUTO_TEST_CASE(errors_keep_the_id_and_name_the_field) {
  std::string id;
  auto r = protocol_parse_request(R"({"v":1,"op":"fly","id":"x9"})", 1024, &id);
  BOOST_TEST(id == "x9");
  BOOST_TEST(r.error().message == "unknown op \"fly\"");
  auto reply = nlohmann::json::parse(protocol_reply_error(id, r.error()));
  BOOST_TEST(reply["ok"] == false);
  BOOST_TEST(reply["id"] == "x9");
  BOOST_TEST(reply["v"] == 1);
  BOOST_TEST(reply["error"]["code"] == "unknown_op");
}

// The parser's fast path (simdjson, then copied into nlohmann's json) must
// give what nlohmann's parser alone gives: the same value with the same
// number kinds (but for "-0"), or the same error message.
BOOST_AUTO_TEST_CASE(fast_parse_agrees_with_nlohmann) {
  const std::vector<std::string> values = {
      "0", "-0", "1", "-1", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
      "18446744073709551615", "18446744073709551616", "-9223372036854775809", "1.5", "-2.5e-3", "1E5",
      "1e400", "-1e400", "1e-400", "0.1", "3.141592653589793238462643383279", "123456789012345678901234567890",
      "01", "1.", ".5", "+1", "-", "NaN", "Infinity", "true", "false", "null", "tru", R"("")",
      R"("a\u0000b")", R"("\ud83d\ude00")", R"("\ud83d")", R"("\ude00")", R"("\ud83dx")",
      R"("\ud83d\u0041")", R"("\u00e9\n\t\"\\\/")", R"("\x41")", R"("tab	here")", "\"é ü 😀\"",
      "[]", "{}", "[1,2,3]", "[1,]", "[,1]", R"({"a":1,"a":2})", R"({"a":{"b":[{"c":null}]}})", R"({"":0})",
      R"({"a" 1})", R"({1:2})", "[1 2]", std::string(200, '[') + std::string(200, ']'),
      std::string(2000, '[') + std::string(2000, ']'), "[1e308, 2.2250738585072014e-308, 4.9e-324, 5e-325]"};
  for (const auto& v : values) {
    const std::string frame = R"({"v":1,"op":"ping","id":"x","value":)" + v + "}";
    std::string id;
    // a depth limit above these values' 2,001 levels: the parsers are compared here
    // (the limit has its own test below)
    auto fast = protocol_parse_request(frame, 1 << 20, &id, 4096);
    json slow;
    std::string slow_error;
    try {
      slow = json::parse(frame);
    } catch (const json::exception& e) {
      slow_error = std::string("request is not JSON: ") + e.what();
    }
    BOOST_TEST_CONTEXT("value " << v.substr(0, 60)) {
      if (!slow_error.empty()) {
        BOOST_TEST_REQUIRE(!fast.has_value());
        BOOST_TEST(fast.error().message == slow_error);
        continue;
      }
      BOOST_TEST_REQUIRE(fast.has_value(), (fast ? "" : fast.error().message));
      BOOST_TEST(fast->body == slow);
      const json& a = fast->body["value"];
      const json& b = slow["value"];
      BOOST_TEST(a.type_name() == b.type_name());
      // the one difference: simdjson does not keep the sign of an integer
      // zero, so "-0" comes out unsigned (the same value, 0, and dump "0")
      if (v != "-0") BOOST_TEST(a.is_number_unsigned() == b.is_number_unsigned());
      BOOST_TEST(a.is_number_integer() == b.is_number_integer());
      BOOST_TEST(a.dump() == b.dump());
    }
  }
}

BOOST_AUTO_TEST_CASE(utf8_validation_is_strict) {
  std::size_t at = 0;
  BOOST_TEST(utf8_valid("plain ascii"));
  BOOST_TEST(utf8_valid("blåbærsyltetøy 😀"));
  BOOST_TEST(!utf8_valid("\xc0\xaf", &at));            // overlong '/'
  BOOST_TEST(!utf8_valid("\xed\xa0\x80", &at));        // surrogate
  BOOST_TEST(!utf8_valid("\xf4\x90\x80\x80", &at));    // above U+10FFFF
  BOOST_TEST(!utf8_valid("ok\xe2\x82", &at));          // truncated
  BOOST_TEST(at == 2u);
  BOOST_TEST(!utf8_valid("\x80", &at));                // lone continuation
}

BOOST_AUTO_TEST_CASE(field_accessors_name_the_field) {
  auto o = nlohmann::json::parse(R"({"text":5,"top_k":0,"vector":[1,"a"],"meta":[]})");
  BOOST_TEST(field_string(o, "text").error().message == "text: must be a string");
  BOOST_TEST(field_string(o, "missing").error().message == "missing: missing");
  BOOST_TEST(field_opt_int(o, "top_k", 1, 10).error().message == "top_k: 0 is out of range [1, 10]");
  BOOST_TEST(field_opt_vector(o, "vector").error().message == "vector: element 1 is not a number");
  BOOST_TEST(field_opt_object(o, "meta").error().message == "meta: must be an object");
  BOOST_TEST(!field_opt_string(o, "absent")->has_value());
}

// Nesting: every frame is scanned for depth before any parser builds a value
// (ipc.max_json_depth, 64 by default): 64 levels pass, 65 are a bad_request
// naming the path and the level, with the client's id kept; 300,000 levels
// (600 KB, the frame that overflowed the stack in a copy or dump) are refused
// the same way, fast, whichever member holds them.
BOOST_AUTO_TEST_CASE(nesting_deeper_than_the_limit_is_refused_with_its_path) {
  auto nest = [](int levels, const std::string& leaf) {
    std::string s;
    for (int i = 0; i < levels; ++i) s += R"({"a":)";
    s += leaf;
    s += std::string(static_cast<std::size_t>(levels), '}');
    return s;
  };
  // the request object itself is level 1: meta holds 63 more
  {
    std::string id;
    auto ok = protocol_parse_request(R"({"v":1,"op":"perceive","id":"d63","text":"x","meta":)" + nest(63, "1") + "}",
                                     1 << 20, &id);
    BOOST_TEST_REQUIRE(ok.has_value(), (ok ? "" : ok.error().message));
  }
  {
    std::string id;
    auto bad = protocol_parse_request(R"({"v":1,"op":"perceive","id":"d64","text":"x","meta":)" + nest(64, "1") + "}",
                                      1 << 20, &id);
    BOOST_TEST_REQUIRE(!bad.has_value());
    BOOST_TEST((bad.error().code == errc::bad_request));
    BOOST_TEST(bad.error().message ==
               "meta.a.a.a.a.a…: JSON nested deeper than 64 levels (level 65 reached); the limit is ipc.max_json_depth");
    BOOST_TEST(id == "d64");  // the reply can carry the client's token
  }
  // the path shows array indices; the id may come after the deep member
  {
    std::string id;
    const std::string deep = std::string(70, '[') + std::string(70, ']');
    auto bad = protocol_parse_request(R"({"v":1,"op":"memory.search","filter":{"tags":[1,)" + deep + R"(]},"id":"late"})",
                                      1 << 20, &id);
    BOOST_TEST_REQUIRE(!bad.has_value());
    BOOST_TEST((bad.error().code == errc::bad_request));
    BOOST_TEST(bad.error().message.rfind("filter.tags[1][0][0][0]…: JSON nested deeper than 64 levels", 0) == 0,
               bad.error().message);
    BOOST_TEST(id == "late");
  }
  // 300,000 levels in each member that used to crash the daemon
  for (const char* member : {"meta", "filter", "schema"}) {
    std::string id;
    std::string frame = std::string(R"({"v":1,"op":"generate","id":"deep","prompt":"x",")") + member + "\":";
    frame += std::string(300000, '[') + std::string(300000, ']') + "}";
    auto bad = protocol_parse_request(frame, 1 << 20, &id);
    BOOST_TEST_CONTEXT(member) {
      BOOST_TEST_REQUIRE(!bad.has_value());
      BOOST_TEST((bad.error().code == errc::bad_request));
      BOOST_TEST(bad.error().message.rfind(std::string(member) + "[0][0][0][0][0]…: JSON nested deeper than 64", 0) == 0,
                 bad.error().message);
      BOOST_TEST(id == "deep");
    }
  }
  // brackets inside strings are text, not nesting
  {
    std::string id;
    auto ok = protocol_parse_request(R"({"v":1,"op":"perceive","id":"s","text":")" + std::string(500, '[') +
                                         R"(\"[{"})",
                                     1 << 20, &id);
    BOOST_TEST_REQUIRE(ok.has_value(), (ok ? "" : ok.error().message));
  }
  // a configured limit applies
  {
    std::string id;
    auto bad = protocol_parse_request(R"({"v":1,"op":"ping","id":"p","x":[[1]]})", 1 << 20, &id, 2);
    BOOST_TEST_REQUIRE(!bad.has_value());
    BOOST_TEST(bad.error().message == "x[0]: JSON nested deeper than 2 levels (level 3 reached); the limit is ipc.max_json_depth");
  }
}

// JSON integers >= 0 are unsigned: one above INT64_MAX is out of range for
// every integer field, never read as a negative number (offset 2^63 used to
// read as -2^63, seed 2^64-1 as -1 = "random").
BOOST_AUTO_TEST_CASE(integers_above_int64_max_are_out_of_range) {
  const json body = json::parse(R"({"offset":9223372036854775808,"seed":18446744073709551615,"top_k":4294967296})");
  auto off = field_opt_int(body, "offset", 0, INT64_MAX);
  BOOST_TEST_REQUIRE(!off.has_value());
  BOOST_TEST(off.error().message == "offset: 9223372036854775808 is out of range [0, 9223372036854775807]");
  auto seed = field_opt_int(body, "seed", -1, 0xFFFFFFFFll);
  BOOST_TEST_REQUIRE(!seed.has_value());
  BOOST_TEST(seed.error().message == "seed: 18446744073709551615 is out of range [-1, 4294967295]");
  auto k = field_opt_int(body, "top_k", 1, 1000);
  BOOST_TEST_REQUIRE(!k.has_value());
  BOOST_TEST(k.error().message == "top_k: 4294967296 is out of range [1, 1000]");
  auto max = field_opt_int(json::parse(R"({"n":9223372036854775807})"), "n", 0, INT64_MAX);
  BOOST_TEST_REQUIRE(max.has_value());
  BOOST_TEST(**max == INT64_MAX);
}

// ---- the table of ops (ipc/ops.hpp) ------------------------------------------

// Every row parses as an op of its own class (what admission reads), and a
// name that is no row is unknown_op.
BOOST_AUTO_TEST_CASE(every_row_of_the_table_is_an_op) {
  for (const auto& o : op_table()) {
    const std::string frame = R"({"v":1,"id":"t","op":")" + std::string(o.name) + R"("})";
    std::string id;
    auto r = protocol_parse_request(frame, 1024, &id);
    BOOST_TEST_REQUIRE(r.has_value(), o.name);
    BOOST_TEST(r->info == &o);
    BOOST_TEST((protocol_op_class(o.name) == o.cls));
  }
  BOOST_TEST(op_find("memory.forget") == nullptr);
  BOOST_TEST(op_find("") == nullptr);
  BOOST_TEST(op_find("memory") == nullptr);
}

// The classes as they were before the table: their names (the ipc.max_inflight_*
// keys and the stats' latency keys), defaults, and the ops each covers.
BOOST_AUTO_TEST_CASE(classes_and_their_ops) {
  BOOST_TEST(n_op_classes == 6u);
  BOOST_TEST(op_class_name(op_class::control) == "control");
  BOOST_TEST(op_class_name(op_class::embed) == "embed");
  const class_limits d = op_class_default_limits();
  BOOST_TEST((d == class_limits{64, 64, 256, 256, 8, 32}));
  BOOST_TEST(op_class_summary(op_class::control) == "ping, cancel, model.info");
  BOOST_TEST(op_class_summary(op_class::perceive) == "perceive");
  BOOST_TEST(op_class_summary(op_class::memory) == "memory.*");
  BOOST_TEST(op_class_summary(op_class::kg) == "kg.*, reminder.*, user.timezone");
  BOOST_TEST(op_class_summary(op_class::generate) == "generate");
  BOOST_TEST(op_class_summary(op_class::embed) == "embed, tokenize");
  // tokenize is admitted as embed but served by the generation model
  BOOST_TEST((op_find("tokenize")->server == op_server::inference));
  BOOST_TEST((op_find("ping")->server == op_server::ingress));
}

BOOST_AUTO_TEST_CASE(field_lists) {
  BOOST_TEST(op_list_has("text,user?,meta?", "text"));
  BOOST_TEST(op_list_has("text,user?,meta?", "meta"));
  BOOST_TEST(!op_list_has("text,user?,meta?", "use"));
  BOOST_TEST(!op_list_has("text,user?,meta?", "ext"));
  BOOST_TEST(!op_list_has("", "text"));
  std::size_t at = 0;
  BOOST_TEST(op_list_next("a,b?", at) == "a");
  BOOST_TEST(op_list_next("a,b?", at) == "b?");
  BOOST_TEST(op_list_next("a,b?", at).empty());
}

// What `aikid --print-ops` prints: a row for each op, field lists split.
BOOST_AUTO_TEST_CASE(ops_as_json) {
  const json j = ops_json();
  BOOST_TEST(j["version"] == 1);
  BOOST_TEST(j["classes"].size() == n_op_classes);
  BOOST_TEST(j["classes"][2]["limit_key"] == "ipc.max_inflight_memory");
  BOOST_TEST(j["ops"].size() == op_table().size());
  const json* search = nullptr;
  for (const auto& o : j["ops"])
    if (o["name"] == "memory.search") search = &o;
  BOOST_TEST_REQUIRE(search != nullptr);
  BOOST_TEST((*search)["class"] == "memory");
  BOOST_TEST((*search)["server"] == "memory");
  BOOST_TEST((*search)["reads_only"] == true);
  BOOST_TEST((*search)["embeds"] == "query");
  BOOST_TEST((*search)["fields"][0] == (json{{"name", "query"}, {"optional", true}}));
  BOOST_TEST((*search)["reply"][0] == (json{{"name", "hits"}, {"optional", false}}));
}

// The rows the OpenAI API names by literal (op_row aborts on a name without one).
BOOST_AUTO_TEST_CASE(the_rows_code_names_exist) {
  for (const char* name : {"generate", "embed", "cancel", "ping"}) BOOST_TEST(op_row(name).name == name);
}
