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
    auto fast = protocol_parse_request(frame, 1 << 20, &id);
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
