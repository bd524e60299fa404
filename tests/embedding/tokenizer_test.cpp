// WordPiece tokenizer: identical ids to the Hugging Face fast tokenizer on the
// fixture sentences and on 10,000 seeded random Unicode strings; defined
// behaviour for empty, invalid and over-long input.
#define BOOST_TEST_MODULE embedding_tokenizer
#include <boost/test/unit_test.hpp>

#include <sstream>

#include "actors/embedding/bert.hpp"
#include "actors/embedding/tokenizer.hpp"
#include "fixtures.hpp"
#include "test_print.hpp"

using namespace aikid;
using namespace aikid::embedding;
using namespace aikid::embedding::testing;

namespace {

struct tok_fixture {
  bert_config cfg;
  wordpiece_tokenizer tok;
  tok_fixture() {
    BOOST_TEST_REQUIRE(std::filesystem::exists(model_dir() / "vocab.txt"), model_dir().string() << " missing: run the setup");
    auto c = bert_config_load(model_dir());
    BOOST_TEST_REQUIRE(c.has_value(), (c ? "" : c.error().message));
    cfg = *c;
    auto t = wordpiece_tokenizer::load(model_dir() / "vocab.txt", cfg.tok);
    BOOST_TEST_REQUIRE(t.has_value(), (t ? "" : t.error().message));
    tok = std::move(*t);
  }
  std::vector<std::int32_t> ids(std::string_view s, bool* cut = nullptr) {
    auto r = tok.encode(s, cfg.max_seq, cut);
    BOOST_TEST_REQUIRE(r.has_value(), (r ? "" : r.error().message));
    return *r;
  }
};

std::string show(const std::vector<std::int32_t>& v) {
  std::ostringstream o;
  for (auto x : v) o << x << ' ';
  return o.str();
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(tokenizer, tok_fixture)

BOOST_AUTO_TEST_CASE(config_from_files) {
  BOOST_TEST(cfg.max_seq == 256);
  BOOST_TEST(cfg.tok.lowercase);
  BOOST_TEST(tok.cls_id() == 101);
  BOOST_TEST(tok.sep_id() == 102);
  BOOST_TEST(tok.unk_id() == 100);
  BOOST_TEST(tok.vocab_size() == 30522u);
}

BOOST_AUTO_TEST_CASE(known_sentences) {
  BOOST_TEST(ids("The quick brown fox jumps over the lazy dog.") ==
             (std::vector<std::int32_t>{101, 1996, 4248, 2829, 4419, 14523, 2058, 1996, 13971, 3899, 1012, 102}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(empty_text_is_cls_sep) {
  bool cut = true;
  BOOST_TEST(ids("", &cut) == (std::vector<std::int32_t>{101, 102}), boost::test_tools::per_element());
  BOOST_TEST(!cut);
  BOOST_TEST(ids(" \t\n\r") == (std::vector<std::int32_t>{101, 102}), boost::test_tools::per_element());
  BOOST_TEST(ids(std::string_view("\0\x01", 2)) == (std::vector<std::int32_t>{101, 102}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(invalid_utf8_is_bad_request_with_offset) {
  struct { std::string s; int off; } cases[] = {
      {"abc\xff", 3}, {"\xc3", 0}, {"ok \xc3\x28", 3}, {"\xe2\x82", 0}, {"ab\xed\xa0\x80", 2},   // surrogate
      {"\xc0\xaf", 0}, {"x\xf4\x90\x80\x80", 1},  // overlong, > U+10FFFF
      {"\xf0\x9f\x98", 0}, {"\x80", 0},
  };
  for (auto& c : cases) {
    auto r = tok.encode(c.s, 256, nullptr);
    BOOST_TEST_REQUIRE(!r.has_value());
    BOOST_TEST(r.error().code == errc::bad_request);
    BOOST_TEST(r.error().message == "invalid UTF-8 at byte offset " + std::to_string(c.off));
  }
  BOOST_TEST(wordpiece_tokenizer::utf8_find_invalid("æøå 🍕") == -1);
}

BOOST_AUTO_TEST_CASE(truncation_at_max_tokens) {
  std::string s;
  for (int i = 0; i < 600; ++i) s += "word ";
  bool cut = false;
  auto v = ids(s, &cut);
  BOOST_TEST(cut);
  BOOST_TEST(v.size() == 256u);
  BOOST_TEST(v.front() == 101);
  BOOST_TEST(v.back() == 102);
  // exactly 254 words fit, 255 do not
  std::string fit;
  for (int i = 0; i < 254; ++i) fit += "word ";
  auto w = ids(fit, &cut);
  BOOST_TEST(!cut);
  BOOST_TEST(w.size() == 256u);
  ids(fit + "word", &cut);
  BOOST_TEST(cut);
  // a smaller limit
  auto r = tok.encode("a b c d e", 4, &cut);
  BOOST_TEST_REQUIRE(r.has_value());
  BOOST_TEST(r->size() == 4u);
  BOOST_TEST(cut);
}

BOOST_AUTO_TEST_CASE(word_over_100_chars_is_unk) {
  BOOST_TEST(ids(std::string(100, 'a')).size() > 3u);
  BOOST_TEST(ids(std::string(101, 'a')) == (std::vector<std::int32_t>{101, 100, 102}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(fixture_sentences_identical) {
  nlohmann::json meta;
  auto rows = read_jsonl("minilm_sentences.jsonl", "text", &meta);
  BOOST_TEST(rows.size() >= 200u);
  std::size_t same = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    bool cut = false;
    auto v = ids(rows[i].text, &cut);
    BOOST_TEST_CONTEXT("sentence " << i << ": " << rows[i].text) {
      BOOST_TEST(v == rows[i].ids, "ours " << show(v) << "\nHF   " << show(rows[i].ids));
      BOOST_TEST(cut == rows[i].truncated);
    }
    same += v == rows[i].ids;
  }
  BOOST_TEST_MESSAGE("fixture sentences: " << same << "/" << rows.size() << " identical");
}

BOOST_AUTO_TEST_CASE(random_unicode_differential) {
  auto rows = read_jsonl("random_tokens.jsonl", "t");
  BOOST_TEST(rows.size() == 10000u);
  std::size_t same = 0, shown = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    auto v = ids(rows[i].text);
    if (v == rows[i].ids) {
      ++same;
    } else if (shown++ < 25) {
      std::ostringstream hex;
      for (unsigned char ch : rows[i].text) hex << std::hex << int(ch) << ' ';
      BOOST_ERROR("random string " << i << " [" << hex.str() << "]\nours " << show(v) << "\nHF   " << show(rows[i].ids));
    }
  }
  BOOST_TEST(same == rows.size());
  BOOST_TEST_MESSAGE("random strings: " << same << "/" << rows.size() << " identical");
}

BOOST_AUTO_TEST_SUITE_END()
