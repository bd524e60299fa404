// Constrained JSON output: the automaton accepts exactly the schema's texts,
// completion() closes any prefix, compile errors name the schema path; and
// against the real model, 1,000 generations at temperature 1.5 over several
// schemas all parse and validate.
#define BOOST_TEST_MODULE inference_schema
#include <cstdlib>
#include <boost/test/unit_test.hpp>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <random>

#include "actors/inference/inference.hpp"
#include "actors/inference/sampling.hpp"
#include "actors/inference/schema.hpp"

using namespace aikid::inference;
using json = nlohmann::json;

namespace {

const std::filesystem::path real_model = std::filesystem::path(AIKID_MODELS_DIR) / "SmolLM2-135M-Instruct.Q4_1.gguf";

std::shared_ptr<const compiled_schema> compile(const std::string& s) {
  auto c = schema_compile(s);
  BOOST_REQUIRE_MESSAGE(c, (c ? "" : c.error().message));
  return *c;
}

bool accepts(const std::shared_ptr<const compiled_schema>& s, const std::string& text) {
  json_automaton a(s);
  return a.feed(text) && a.complete();
}

// Validates `v` against the schema subset (independent of the automaton).
bool validate(const json& schema, const json& v) {
  if (schema.contains("enum")) {
    for (const auto& e : schema["enum"])
      if (e == v) return true;
    return false;
  }
  std::string t = schema.value("type", "object");
  if (t == "object") {
    if (!v.is_object()) return false;
    for (const auto& r : schema.value("required", json::array()))
      if (!v.contains(r.get<std::string>())) return false;
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (!schema["properties"].contains(it.key())) return false;
      if (!validate(schema["properties"][it.key()], it.value())) return false;
    }
    return true;
  }
  if (t == "array") {
    if (!v.is_array()) return false;
    if (v.size() < schema.value("minItems", 0u) || v.size() > schema.value("maxItems", 1000u)) return false;
    for (const auto& x : v)
      if (!validate(schema["items"], x)) return false;
    return true;
  }
  if (t == "string") return v.is_string();
  if (t == "integer") return v.is_number_integer();
  if (t == "number") return v.is_number();
  if (t == "boolean") return v.is_boolean();
  if (t == "null") return v.is_null();
  return false;
}

const char* person = R"({"type":"object","properties":{"name":{"type":"string","maxLength":20},
  "age":{"type":"integer"},"married":{"type":"boolean"}},"required":["name","age"]})";

}  // namespace

BOOST_AUTO_TEST_CASE(automaton_accepts_valid_and_rejects_invalid) {
  auto s = compile(person);
  BOOST_TEST(accepts(s, R"({"name":"Ann","age":41,"married":false})"));
  BOOST_TEST(accepts(s, R"({"name":"Zo\"e \u00e9","age":-3,"married":true})") == false);  // \u not emitted
  BOOST_TEST(accepts(s, "{\"name\":\"Zo\\\"\xc3\xa9\",\"age\":-3,\"married\":true}"));
  BOOST_TEST(!accepts(s, R"({"name":"Ann","age":4.5,"married":false})"));   // integer
  BOOST_TEST(!accepts(s, R"({"age":4,"name":"Ann","married":false})"));     // order
  BOOST_TEST(!accepts(s, R"({"name":"Ann","age":041,"married":false})"));   // leading zero
  BOOST_TEST(!accepts(s, R"({"name":"Ann","age":4,"married":maybe})"));
  BOOST_TEST(!accepts(s, "{\"name\":\"\xe0\x80\x80\",\"age\":1,\"married\":true}"));  // overlong UTF-8
  json_automaton a(s);
  BOOST_TEST(a.feed(R"({"name":"Ann")"));
  BOOST_TEST(!a.complete());
}

BOOST_AUTO_TEST_CASE(arrays_numbers_enums_nesting) {
  auto s = compile(R"({"type":"array","items":{"type":"object","properties":{
      "kind":{"enum":["cat","dog",3,null]},"w":{"type":"number"},
      "tags":{"type":"array","items":{"type":"string"},"maxItems":2}}},"minItems":1,"maxItems":3})");
  BOOST_TEST(accepts(s, R"([{"kind":"cat","w":1.25,"tags":["a","b"]}])"));
  BOOST_TEST(accepts(s, R"([{"kind":3,"w":-0.5,"tags":[]},{"kind":null,"w":7,"tags":["x"]}])"));
  BOOST_TEST(!accepts(s, "[]"));                                              // minItems
  BOOST_TEST(!accepts(s, R"([{"kind":"cow","w":1,"tags":[]}])"));             // enum
  BOOST_TEST(!accepts(s, R"([{"kind":"cat","w":1,"tags":["a","b","c"]}])"));  // maxItems
  BOOST_TEST(!accepts(s, R"([{"kind":"cat","w":1.,"tags":[]}])"));
  auto n = compile(R"({"type":"number"})");
  BOOST_TEST(accepts(n, "12.5"));
  BOOST_TEST(!accepts(n, "12."));
}

BOOST_AUTO_TEST_CASE(completion_closes_every_prefix) {
  const char* schemas[] = {person,
                           R"({"type":"array","items":{"type":"array","items":{"type":"number"},"minItems":1},"minItems":2})",
                           R"({"type":"object","properties":{"a":{"enum":["xy","xyz"]},"b":{"type":"object","properties":{"c":{"type":"string"}}}}})"};
  const char* texts[] = {R"({"name":"A\u","age":12,"married":true})", R"([[1.5,-2],[3]])", R"({"a":"xyz","b":{"c":"hi"}})"};
  for (int k = 0; k < 3; ++k) {
    auto s = compile(schemas[k]);
    std::string t = texts[k];
    if (k == 0) t = "{\"name\":\"A\\n\xc3\xa9\",\"age\":12,\"married\":true}";
    BOOST_TEST_REQUIRE(accepts(s, t));
    for (std::size_t cut = 0; cut <= t.size(); ++cut) {
      json_automaton a(s);
      BOOST_TEST_REQUIRE(a.feed(t.substr(0, cut)));
      std::string full = t.substr(0, cut) + a.completion();
      BOOST_TEST(accepts(s, full), "prefix " << cut << ": " << full);
      auto v = json::parse(full, nullptr, false);
      BOOST_TEST(!v.is_discarded());
      BOOST_TEST(validate(json::parse(schemas[k]), v));
    }
  }
}

BOOST_AUTO_TEST_CASE(compile_errors_name_the_path) {
  auto r = schema_compile(R"({"type":"object","properties":{"age":{"type":"foo"}}})");
  BOOST_TEST(!r);
  BOOST_TEST(r.error().message.find("schema/properties/age") != std::string::npos);
  BOOST_TEST(!schema_compile("{not json"));
  BOOST_TEST(!schema_compile(R"({"type":"array"})"));
  BOOST_TEST(!schema_compile(R"({"type":"object","properties":{},"required":["x"]})"));
}

// 1,000 generations at temperature 1.5 over four schemas against the real
// model: every text parses and validates. One prompt per schema, its KV kept
// (truncate to the prompt minus one token, re-evaluate that token).
BOOST_AUTO_TEST_CASE(real_model_thousand_generations_validate) {
  BOOST_REQUIRE_MESSAGE(std::filesystem::exists(real_model), "model missing: " << real_model);
  model_options o;
  o.path = real_model;
  o.n_ctx = 512;
  auto m = model::load(o);
  BOOST_REQUIRE_MESSAGE(m, (m ? "" : m.error().message));
  session sess(**m, 512);
  token_masker masker(**m);
  const char* schemas[] = {
      person,
      R"({"type":"array","items":{"type":"integer"},"maxItems":4})",
      R"({"type":"object","properties":{"mood":{"enum":["happy","sad","angry"]},"score":{"type":"number"},
         "items":{"type":"array","items":{"type":"object","properties":{"k":{"type":"string","maxLength":8},"v":{"type":"boolean"}},"required":["k","v"]},"maxItems":2}},"required":["mood","score","items"]})",
      R"({"type":"string","maxLength":24})"};
  // Under ASan+UBSan (AIKID_SANITIZED, set by cmake/Sanitizers.cmake) a fifth
  // of the generations: the same code paths, ~8x slower per token there.
  const bool sanitized = std::getenv("AIKID_SANITIZED") != nullptr;
  const int per_schema = sanitized ? 50 : 250, max_tokens = 10;
  if (sanitized) BOOST_TEST_MESSAGE("sanitizer build: " << 4 * per_schema << " generations instead of 1000");
  int valid = 0, completed_by_model = 0;
  std::vector<std::uint8_t> mask;
  for (int k = 0; k < 4; ++k) {
    auto s = compile(schemas[k]);
    auto prompt = (*m)->tokenize_chat({{"user", std::string("Answer in JSON matching ") + schemas[k]}}, true);
    sess.truncate(0);
    BOOST_REQUIRE(sess.eval(prompt));
    sampling_params p;
    p.temperature = 1.5f;
    p.top_k = 0;
    p.top_p = 1.f;
    p.min_p = 0.f;
    for (int g = 0; g < per_schema; ++g) {
      p.seed = static_cast<std::uint32_t>(k * 1000 + g);
      sampler smp(p, 512);
      json_automaton a(s);
      sess.truncate(static_cast<int>(prompt.size()) - 1);
      BOOST_REQUIRE(sess.eval(std::span<const std::int32_t>(&prompt.back(), 1)));
      std::string text;
      bool ended = false;
      for (int t = 0; t < max_tokens; ++t) {
        masker.mask(a, mask);
        auto tok = smp.sample(sess.logits(), mask);
        BOOST_REQUIRE(tok >= 0);
        if ((*m)->is_eog(tok)) {
          ended = true;
          break;
        }
        BOOST_REQUIRE(a.feed(masker.bytes_of(tok)));
        text += masker.bytes_of(tok);
        smp.accept(tok);
        if (a.finished()) {
          ended = true;
          break;
        }
        BOOST_REQUIRE(sess.eval(std::span<const std::int32_t>(&tok, 1)));
      }
      if (ended) ++completed_by_model;
      else text += a.completion();
      auto v = json::parse(text, nullptr, false);
      bool ok = !v.is_discarded() && validate(json::parse(schemas[k]), v);
      BOOST_TEST(ok, "schema " << k << " seed " << p.seed << ": " << text);
      valid += ok;
    }
    BOOST_TEST_MESSAGE("schema " << k << " done, valid so far " << valid);
  }
  BOOST_TEST(valid == 4 * per_schema);
  BOOST_TEST_MESSAGE("valid " << valid << "/" << 4 * per_schema << ", ended by the model " << completed_by_model);
}
