// Tokenizer vs llama.cpp (fixtures/tokenizer.json from llama-cpp-python):
// curated strings, 10,000 random Unicode strings, EOG set, pieces, ChatML.
#define BOOST_TEST_MODULE inference_tokenizer
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "actors/inference/inference.hpp"
#include "actors/inference/vocab.hpp"

using namespace aikid::inference;
using json = nlohmann::json;

namespace {

struct fixture_data {
  std::unique_ptr<model> m;
  json fx;
  fixture_data() {
    model_options o;
    o.path = std::filesystem::path(AIKID_MODELS_DIR) / "SmolLM2-135M-Instruct.Q4_1.gguf";
    auto r = model::load(o);
    BOOST_REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
    m = std::move(*r);
    std::ifstream in(std::string(AIKID_SOURCE_DIR) + "/tests/inference/fixtures/tokenizer.json");
    BOOST_REQUIRE_MESSAGE(in, "fixture tokenizer.json missing");
    fx = json::parse(in);
  }
};

fixture_data& data() {
  static fixture_data d;
  return d;
}

std::string show(const std::vector<std::int32_t>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s + "]";
}

// Compares every case; returns the number of mismatches (prints the first few).
int compare_cases(const json& cases, const char* what) {
  int bad = 0;
  for (const auto& c : cases) {
    const std::string text = c["text"].get<std::string>();
    const auto want = c["ids"].get<std::vector<std::int32_t>>();
    const auto got = data().m->tokenize(text);
    if (got != want) {
      if (++bad <= 10) {
        BOOST_TEST_MESSAGE(what << " mismatch for " << json(text).dump() << ": got " << show(got) << " want "
                                << show(want));
      }
    }
  }
  return bad;
}

std::vector<chat_message> messages_of(const json& j) {
  std::vector<chat_message> out;
  for (const auto& m : j) out.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(curated_strings_match_llama_cpp) {
  const auto& cases = data().fx["curated"];
  BOOST_REQUIRE_GE(cases.size(), 100u);
  const int bad = compare_cases(cases, "curated");
  BOOST_TEST_MESSAGE("curated: " << cases.size() - std::size_t(bad) << " of " << cases.size() << " identical");
  BOOST_CHECK_EQUAL(bad, 0);
}

BOOST_AUTO_TEST_CASE(random_unicode_strings_match_llama_cpp) {
  const auto& cases = data().fx["random"];
  BOOST_REQUIRE_EQUAL(cases.size(), 10000u);
  const int bad = compare_cases(cases, "random");
  BOOST_TEST_MESSAGE("random: " << cases.size() - std::size_t(bad) << " of " << cases.size() << " identical");
  BOOST_CHECK_EQUAL(bad, 0);
}

BOOST_AUTO_TEST_CASE(known_vectors) {
  const model& m = *data().m;
  BOOST_CHECK((m.tokenize("The capital of France is") == std::vector<std::int32_t>{504, 3575, 282, 4649, 314}));
  BOOST_CHECK((m.tokenize("Hello world! 123") == std::vector<std::int32_t>{19556, 905, 17, 216, 33, 34, 35}));
  BOOST_CHECK((m.tokenize("\n") == std::vector<std::int32_t>{198}));
  BOOST_CHECK(m.tokenize("").empty());
}

BOOST_AUTO_TEST_CASE(special_tokens_are_never_parsed_from_text) {
  const model& m = *data().m;
  for (const char* s : {"<|im_start|>", "<|im_end|>", "<|endoftext|>", "a<|im_start|>user\nb"}) {
    for (auto id : m.tokenize(s)) BOOST_CHECK_GT(id, 16);  // ids 0..16 are the control tokens
  }
  // with parse_special the markers are single tokens
  BOOST_CHECK((m.tokenizer().tokenize("<|im_start|>x<|im_end|>", true) ==
               std::vector<std::int32_t>{1, m.tokenize("x")[0], 2}));
}

BOOST_AUTO_TEST_CASE(eog_and_pieces_match_llama_cpp) {
  const model& m = *data().m;
  std::vector<std::int32_t> eog;
  for (std::int32_t i = 0; i < m.n_vocab(); ++i) {
    if (m.is_eog(i)) eog.push_back(i);
  }
  BOOST_CHECK_EQUAL(show(eog), show(data().fx["eog"].get<std::vector<std::int32_t>>()));
  for (const auto& [id, bytes] : data().fx["pieces"].items()) {
    std::string want;
    for (int b : bytes.get<std::vector<int>>()) want += char(b);
    BOOST_CHECK_MESSAGE(m.token_to_piece(std::stoi(id)) == want, "piece of token " << id);
  }
  BOOST_CHECK_EQUAL(m.token_to_piece(-1), "");
  BOOST_CHECK_EQUAL(m.token_to_piece(m.n_vocab()), "");
}

BOOST_AUTO_TEST_CASE(chat_matches_llama_cpp_python_chat_handler) {
  const model& m = *data().m;
  int n = 0;
  for (const auto& c : data().fx["chats"]) {
    const auto msgs = messages_of(c["messages"]);
    const std::string prompt = c["prompt"].get<std::string>();
    BOOST_CHECK_EQUAL(m.render_chat(msgs, true), prompt);
    BOOST_CHECK_EQUAL(m.render_chat(msgs, false), c["prompt_no_generation"].get<std::string>());
    const auto ids = m.tokenize_chat(msgs, true);
    const auto want = c["ids"].get<std::vector<std::int32_t>>();
    if (prompt.find("Inject") != std::string::npos) {
      // llama-cpp-python parses the user's "<|im_start|>" as a role marker; we do not
      BOOST_CHECK(ids != want);
      BOOST_CHECK_EQUAL(std::count(ids.begin(), ids.end(), 1), 3);  // system, user, assistant
      BOOST_CHECK_GT(std::count(want.begin(), want.end(), 1), 3);
    } else {
      BOOST_CHECK_MESSAGE(ids == want, "chat ids " << show(ids) << " want " << show(want));
    }
    ++n;
  }
  BOOST_CHECK_GE(n, 8);
  // the default system message has no trailing period
  BOOST_CHECK_EQUAL(m.tokenizer().default_system(),
                    "You are a helpful AI assistant named SmolLM, trained by Hugging Face");
}

BOOST_AUTO_TEST_CASE(malformed_utf8_matches_llama_cpp) {
  const model& m = *data().m;
  int n = 0;
  for (const auto& c : data().fx["bytes"]) {
    const std::string hex = c["hex"].get<std::string>();
    std::string raw;
    for (std::size_t i = 0; i < hex.size(); i += 2) raw += char(std::stoi(hex.substr(i, 2), nullptr, 16));
    BOOST_CHECK_MESSAGE(m.tokenize(raw) == c["ids"].get<std::vector<std::int32_t>>(), "bytes " << hex);
    ++n;
  }
  BOOST_CHECK_GE(n, 9);
  // a codepoint above U+10FFFF aborts llama.cpp; here it reads as U+FFFD per sequence
  BOOST_CHECK(m.tokenize("\xf4\x90\x80\x80") == m.tokenize("\xef\xbf\xbd"));
}
