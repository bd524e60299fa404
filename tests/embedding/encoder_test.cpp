// The encoder end to end: vectors match sentence-transformers (cosine >=
// 0.9999) on every fixture sentence, ids and truncation match, batching and
// threads do not change results, and load/encode failures are defined.
#define BOOST_TEST_MODULE embedding_encoder
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <fstream>
#include <iomanip>

#include "actors/embedding/embedding.hpp"
#include "fixtures.hpp"
#include "test_print.hpp"

using namespace aikid;
using namespace aikid::embedding;
using namespace aikid::embedding::testing;
namespace fs = std::filesystem;

namespace {

std::unique_ptr<encoder> load_or_fail(const encoder_options& o) {
  auto e = encoder::load(o);
  BOOST_TEST_REQUIRE(e.has_value(), (e ? "" : e.error().message));
  return std::move(*e);
}

double cosine(const float* a, const float* b, int n) {
  double ab = 0, aa = 0, bb = 0;
  for (int i = 0; i < n; ++i) {
    ab += double(a[i]) * b[i];
    aa += double(a[i]) * a[i];
    bb += double(b[i]) * b[i];
  }
  return ab / std::sqrt(aa * bb);
}

struct model_fixture {
  std::unique_ptr<encoder> enc;
  model_fixture() {
    BOOST_TEST_REQUIRE(fs::exists(model_dir() / "model.safetensors"), model_dir().string() << " missing: run the setup");
    enc = load_or_fail({model_dir(), 1, 32});
  }
};

// A scratch copy of the model folder (symlinks) whose `file` gets `content`.
struct broken_model {
  fs::path dir;
  broken_model(const std::string& file, const std::string& content) {
    dir = fs::temp_directory_path() / ("aikid_emb_" + std::to_string(::getpid()) + "_" + std::to_string(counter()++));
    fs::create_directories(dir / "1_Pooling");
    for (const char* f : {"config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json", "modules.json",
                          "special_tokens_map.json", "sentence_bert_config.json", "1_Pooling/config.json"})
      if (file != f) fs::create_symlink(model_dir() / f, dir / f);
    if (!content.empty() || file == "model.safetensors") {
      std::ofstream o(dir / file, std::ios::binary);
      o << content;
    }
  }
  ~broken_model() { fs::remove_all(dir); }
  static int& counter() {
    static int n = 0;
    return n;
  }
};

void expect_load_error(const fs::path& dir, errc code, const std::string& needle) {
  auto e = encoder::load({dir, 1, 32});
  BOOST_TEST_CONTEXT("expecting '" << needle << "'") {
    BOOST_TEST_REQUIRE(!e.has_value());
    BOOST_TEST(e.error().code == code);
    BOOST_TEST(e.error().message.find(needle) != std::string::npos, e.error().message);
  }
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(encoder_model, model_fixture)

BOOST_AUTO_TEST_CASE(shape_and_id_from_files) {
  BOOST_TEST(enc->dim() == 384);
  BOOST_TEST(enc->max_tokens() == 256);
  // sha256 prefix as recorded in config/models.lock
  BOOST_TEST(enc->model_id() == "all-MiniLM-L6-v2:53aa51172d14");
}

BOOST_AUTO_TEST_CASE(fixture_vectors_match_sentence_transformers) {
  nlohmann::json meta;
  auto rows = read_jsonl("minilm_sentences.jsonl", "text", &meta);
  const int dim = meta.at("dim").get<int>();
  BOOST_TEST_REQUIRE(dim == enc->dim());
  std::vector<float> ref(rows.size() * dim);
  {
    std::ifstream in(fixture_dir() / "minilm_vectors.f32", std::ios::binary);
    in.read(reinterpret_cast<char*>(ref.data()), static_cast<std::streamsize>(ref.size() * sizeof(float)));
    BOOST_TEST_REQUIRE(static_cast<std::size_t>(in.gcount()) == ref.size() * sizeof(float));
  }
  std::vector<std::string> texts;
  for (auto& r : rows) texts.push_back(r.text);
  auto out = enc->encode(texts);
  BOOST_TEST_REQUIRE(out.has_value(), (out ? "" : out.error().message));
  BOOST_TEST_REQUIRE(out->vectors.size() == ref.size());
  double worst = 1.0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const float* v = out->vectors.data() + i * dim;
    double c = cosine(v, ref.data() + i * dim, dim);
    worst = std::min(worst, c);
    double norm = 0;
    for (int j = 0; j < dim; ++j) norm += double(v[j]) * v[j];
    BOOST_TEST_CONTEXT("sentence " << i << ": " << rows[i].text.substr(0, 80)) {
      BOOST_TEST(c >= 0.9999);
      BOOST_TEST(std::abs(std::sqrt(norm) - 1.0) < 1e-5);
      BOOST_TEST(out->n_tokens[i] == static_cast<int>(rows[i].ids.size()));
      BOOST_TEST(bool(out->truncated[i]) == rows[i].truncated);
    }
  }
  BOOST_TEST_MESSAGE("worst cosine vs sentence-transformers over " << rows.size() << " sentences: 1 - " << std::scientific << std::setprecision(2) << (1.0 - worst));
  BOOST_TEST(worst >= 0.9999);

  // One at a time, and with 2 threads and small batches: same vectors.
  auto two = load_or_fail({model_dir(), 2, 3});
  auto batched = two->encode(texts);
  BOOST_TEST_REQUIRE(batched.has_value());
  for (std::size_t i = 0; i < rows.size(); i += 7) {
    auto single = enc->encode({texts[i]});
    BOOST_TEST_REQUIRE(single.has_value());
    BOOST_TEST(cosine(single->vectors.data(), out->vectors.data() + i * dim, dim) > 0.999999);
    BOOST_TEST(cosine(batched->vectors.data() + i * dim, out->vectors.data() + i * dim, dim) > 0.999999);
  }
}

BOOST_AUTO_TEST_CASE(empty_text_gives_a_unit_vector) {
  auto out = enc->encode({"", "hello"});
  BOOST_TEST_REQUIRE(out.has_value());
  BOOST_TEST(out->n_tokens[0] == 2);
  BOOST_TEST(out->truncated[0] == 0);
  double norm = 0;
  for (int j = 0; j < enc->dim(); ++j) norm += double(out->vectors[j]) * out->vectors[j];
  BOOST_TEST(std::abs(std::sqrt(norm) - 1.0) < 1e-5);
  auto none = enc->encode({});
  BOOST_TEST_REQUIRE(none.has_value());
  BOOST_TEST(none->vectors.empty());
}

BOOST_AUTO_TEST_CASE(over_long_text_is_truncated) {
  std::string s;
  for (int i = 0; i < 1000; ++i) s += "memory ";
  auto out = enc->encode({s, "short"});
  BOOST_TEST_REQUIRE(out.has_value());
  BOOST_TEST(out->n_tokens[0] == 256);
  BOOST_TEST(out->truncated[0] == 1);
  BOOST_TEST(out->truncated[1] == 0);
  bool cut = false;
  auto ids = enc->tokenize(s, &cut);
  BOOST_TEST_REQUIRE(ids.has_value());
  BOOST_TEST(ids->size() == 256u);
  BOOST_TEST(cut);
}

BOOST_AUTO_TEST_CASE(invalid_utf8_names_text_and_offset) {
  auto out = enc->encode({"fine", "bad \xc3\x28 text"});
  BOOST_TEST_REQUIRE(!out.has_value());
  BOOST_TEST(out.error().code == errc::bad_request);
  BOOST_TEST(out.error().message == "text 1: invalid UTF-8 at byte offset 4");
  auto t = enc->tokenize("\xff");
  BOOST_TEST_REQUIRE(!t.has_value());
  BOOST_TEST(t.error().code == errc::bad_request);
}

BOOST_AUTO_TEST_CASE(set_threads_keeps_results) {
  auto a = enc->encode({"Jeg heter Åse og bor i Tromsø."});
  enc->set_threads(2);
  auto b = enc->encode({"Jeg heter Åse og bor i Tromsø."});
  enc->set_threads(0);  // taken as 1
  auto c = enc->encode({"Jeg heter Åse og bor i Tromsø."});
  BOOST_TEST_REQUIRE((a && b && c));
  BOOST_TEST(cosine(a->vectors.data(), b->vectors.data(), enc->dim()) > 0.999999);
  BOOST_TEST(cosine(a->vectors.data(), c->vectors.data(), enc->dim()) > 0.999999);
}

// Thread teams that do not divide the work evenly (3 members over 12 heads
// and 8/24/32 weight blocks; more members than blocks of a short product),
// and a batch of different lengths: same vectors as one thread.
BOOST_AUTO_TEST_CASE(uneven_thread_teams_keep_results) {
  const std::vector<std::string> texts{"kort", "Jeg heter Åse og bor i Tromsø.",
                                       "A slightly longer English sentence, with punctuation!!! and 42 numbers."};
  enc->set_threads(1);
  auto ref = enc->encode(texts);
  BOOST_TEST_REQUIRE(ref.has_value());
  for (int t : {3, 16, 2}) {
    enc->set_threads(t);
    auto out = enc->encode(texts);
    BOOST_TEST_REQUIRE(out.has_value());
    for (std::size_t i = 0; i < texts.size(); ++i)
      BOOST_TEST(cosine(ref->vectors.data() + i * enc->dim(), out->vectors.data() + i * enc->dim(), enc->dim()) >
                     0.999999,
                 "threads " << t << ", text " << i);
  }
  enc->set_threads(1);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_CASE(load_failures_name_file_and_field) {
  expect_load_error("/nonexistent/model", errc::unavailable, "/nonexistent/model: model folder missing");
  {
    auto e = encoder::load({model_dir(), 0, 32});
    BOOST_TEST_REQUIRE(!e.has_value());
    BOOST_TEST(e.error().code == errc::bad_request);
  }
  {
    broken_model m("config.json", R"({"model_type":"bert","num_hidden_layers":6,"num_attention_heads":12,
      "intermediate_size":1536,"vocab_size":30522,"max_position_embeddings":512})");
    expect_load_error(m.dir, errc::unavailable, "config.json: hidden_size: missing");
  }
  {
    broken_model m("config.json", R"({"hidden_size":384,"num_hidden_layers":6,"num_attention_heads":7,
      "intermediate_size":1536,"vocab_size":30522,"max_position_embeddings":512})");
    expect_load_error(m.dir, errc::unavailable, "config.json: num_attention_heads: 7 does not divide hidden_size 384");
  }
  {
    broken_model m("config.json", R"({"hidden_size":384,"num_hidden_layers":6,"num_attention_heads":12,
      "intermediate_size":1000,"vocab_size":30522,"max_position_embeddings":512})");
    expect_load_error(m.dir, errc::unavailable,
                      "model.safetensors: tensor 'encoder.layer.0.intermediate.dense.weight': shape [1536, 384], expected [1000, 384]");
  }
  {
    broken_model m("config.json", R"({"hidden_size":384,"num_hidden_layers":7,"num_attention_heads":12,
      "intermediate_size":1536,"vocab_size":30522,"max_position_embeddings":512})");
    expect_load_error(m.dir, errc::unavailable, "tensor 'encoder.layer.6.attention.self.query.weight' missing");
  }
  {
    broken_model m("config.json", "{not json");
    expect_load_error(m.dir, errc::unavailable, "config.json: invalid JSON");
  }
  {
    broken_model m("1_Pooling/config.json", R"({"word_embedding_dimension":384,"pooling_mode_lasttoken":true})");
    expect_load_error(m.dir, errc::unavailable, "1_Pooling/config.json: pooling_mode_lasttoken");
  }
  {
    broken_model m("model.safetensors", std::string("\x10\0\0\0\0\0\0\0{\"a\":", 13));
    expect_load_error(m.dir, errc::unavailable, "model.safetensors: header length 16 runs past the end of the file");
  }
  {
    broken_model m("vocab.txt", "[PAD]\nhello\n");
    expect_load_error(m.dir, errc::unavailable, "vocab.txt: special token '[CLS]' is not in the vocabulary");
  }
}
