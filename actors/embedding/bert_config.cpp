// bert_config_load: the model's shape from config.json and the
// sentence-transformers / tokenizer side files. Nothing here is a constant of
// one model.
#include <fstream>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "actors/embedding/bert.hpp"

namespace aikid::embedding {

namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

error bad(const std::string& file, const std::string& msg) {
  return error{errc::unavailable, file + ": " + msg};
}

// Parses a JSON file; `required` = false gives a null json for a missing file.
expected<json> json_read(const fs::path& dir, const std::string& rel, bool required) {
  const fs::path p = dir / rel;
  std::error_code ec;
  if (!fs::exists(p, ec)) {
    if (required) return bad(rel, "missing in " + dir.string());
    return json();
  }
  std::ifstream in(p, std::ios::binary);
  if (!in) return bad(rel, "cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    json j = json::parse(ss.str());
    if (!j.is_object()) return bad(rel, "not a JSON object");
    return j;
  } catch (const json::exception& e) {
    return bad(rel, std::string("invalid JSON: ") + e.what());
  }
}

// Positive integer field (required unless a default is given).
expected<int> int_field(const json& j, const std::string& file, const char* key, std::optional<int> def,
                        int lo = 1, int hi = 1 << 24) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (def) return *def;
    return bad(file, std::string(key) + ": missing");
  }
  if (!it->is_number_integer()) return bad(file, std::string(key) + ": not an integer");
  auto v = it->get<std::int64_t>();
  if (v < lo || v > hi)
    return bad(file, std::string(key) + ": " + std::to_string(v) + " out of range [" + std::to_string(lo) +
                         ", " + std::to_string(hi) + "]");
  return static_cast<int>(v);
}

expected<bool> bool_field(const json& j, const std::string& file, const char* key, bool def) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  if (!it->is_boolean()) return bad(file, std::string(key) + ": not a boolean");
  return it->get<bool>();
}

// special_tokens_map.json values are strings or {"content": "..."} objects.
void special_field(const json& j, const char* key, std::string& out) {
  auto it = j.find(key);
  if (it == j.end()) return;
  if (it->is_string()) out = it->get<std::string>();
  else if (it->is_object() && it->contains("content") && (*it)["content"].is_string())
    out = (*it)["content"].get<std::string>();
}

}  // namespace

expected<bert_config> bert_config_load(const fs::path& dir) {
  bert_config c;
  // --- config.json ---------------------------------------------------------
  const std::string cf = "config.json";
  auto cj = json_read(dir, cf, true);
  if (!cj) return cj.error();
  const json& j = *cj;
  if (auto it = j.find("model_type"); it != j.end() && it->is_string()) {
    auto mt = it->get<std::string>();
    if (mt != "bert")
      return bad(cf, "model_type: '" + mt + "' is not supported (a BERT-style encoder, model_type 'bert', is)");
  }
  if (auto it = j.find("position_embedding_type"); it != j.end() && it->is_string() && *it != "absolute")
    return bad(cf, "position_embedding_type: '" + it->get<std::string>() + "' is not supported (absolute is)");
#define AIKID_INT(dst, key, def, lo, hi)                 \
  {                                                      \
    auto v = int_field(j, cf, key, def, lo, hi);         \
    if (!v) return v.error();                            \
    dst = *v;                                            \
  }
  AIKID_INT(c.hidden, "hidden_size", std::nullopt, 1, 1 << 16)
  AIKID_INT(c.layers, "num_hidden_layers", std::nullopt, 1, 1024)
  AIKID_INT(c.heads, "num_attention_heads", std::nullopt, 1, 1 << 12)
  AIKID_INT(c.ffn, "intermediate_size", std::nullopt, 1, 1 << 18)
  AIKID_INT(c.vocab, "vocab_size", std::nullopt, 1, 1 << 24)
  AIKID_INT(c.max_pos, "max_position_embeddings", std::nullopt, 2, 1 << 20)
  AIKID_INT(c.type_vocab, "type_vocab_size", 2, 1, 1 << 16)
#undef AIKID_INT
  if (c.hidden % c.heads != 0)
    return bad(cf, "num_attention_heads: " + std::to_string(c.heads) + " does not divide hidden_size " +
                       std::to_string(c.hidden));
  c.head_dim = c.hidden / c.heads;
  if (auto it = j.find("layer_norm_eps"); it != j.end()) {
    if (!it->is_number() || it->get<double>() <= 0 || it->get<double>() > 1)
      return bad(cf, "layer_norm_eps: not a number in (0, 1]");
    c.ln_eps = it->get<float>();
  }
  std::string act = "gelu";
  if (auto it = j.find("hidden_act"); it != j.end()) {
    if (!it->is_string()) return bad(cf, "hidden_act: not a string");
    act = it->get<std::string>();
  }
  if (act == "gelu") c.act = bert_act::gelu_erf;
  else if (act == "gelu_new" || act == "gelu_pytorch_tanh") c.act = bert_act::gelu_tanh;
  else if (act == "relu") c.act = bert_act::relu;
  else return bad(cf, "hidden_act: '" + act + "' is not supported (gelu, gelu_new, gelu_pytorch_tanh, relu are)");

  // --- sentence_bert_config.json: max_seq_length ---------------------------
  {
    const std::string f = "sentence_bert_config.json";
    auto sj = json_read(dir, f, false);
    if (!sj) return sj.error();
    auto v = int_field(*sj, f, "max_seq_length", c.max_pos, 2, 1 << 20);
    if (!v) return v.error();
    c.max_seq = std::min(*v, c.max_pos);
  }

  // --- pooling: modules.json names the Pooling module's folder --------------
  {
    std::string pool_dir = "1_Pooling";
    // modules.json is a list (json_read takes objects): read it here.
    std::ifstream in(dir / "modules.json", std::ios::binary);
    if (in) {
      try {
        json m = json::parse(in);
        if (m.is_array())
          for (const auto& e : m)
            if (e.is_object() && e.value("type", "").find("Pooling") != std::string::npos && e.contains("path") &&
                e["path"].is_string())
              pool_dir = e["path"].get<std::string>();
      } catch (const json::exception& e) {
        return bad("modules.json", std::string("invalid JSON: ") + e.what());
      }
    }
    const std::string f = pool_dir + "/config.json";
    auto pj = json_read(dir, f, false);
    if (!pj) return pj.error();
    if (!pj->is_null()) {
      int n_modes = 0;
      struct { const char* key; bert_pooling mode; } modes[] = {
          {"pooling_mode_mean_tokens", bert_pooling::mean},
          {"pooling_mode_cls_token", bert_pooling::cls},
          {"pooling_mode_max_tokens", bert_pooling::max},
          {"pooling_mode_mean_sqrt_len_tokens", bert_pooling::mean_sqrt_len},
      };
      for (auto& m : modes) {
        auto b = bool_field(*pj, f, m.key, false);
        if (!b) return b.error();
        if (*b) { c.pooling = m.mode; ++n_modes; }
      }
      for (const char* k : {"pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken"}) {
        auto b = bool_field(*pj, f, k, false);
        if (!b) return b.error();
        if (*b) return bad(f, std::string(k) + ": this pooling mode is not supported");
      }
      if (n_modes != 1)
        return bad(f, "exactly one pooling mode must be true (found " + std::to_string(n_modes) + ")");
      auto d = int_field(*pj, f, "word_embedding_dimension", c.hidden, 1, 1 << 16);
      if (!d) return d.error();
      if (*d != c.hidden)
        return bad(f, "word_embedding_dimension: " + std::to_string(*d) + " differs from hidden_size " +
                          std::to_string(c.hidden));
    }
  }

  // --- tokenizer side files --------------------------------------------------
  {
    const std::string f = "tokenizer_config.json";
    auto tj = json_read(dir, f, false);
    if (!tj) return tj.error();
    auto lc = bool_field(*tj, f, "do_lower_case", true);
    if (!lc) return lc.error();
    c.tok.lowercase = *lc;
    auto cjk = bool_field(*tj, f, "tokenize_chinese_chars", true);
    if (!cjk) return cjk.error();
    c.tok.chinese_chars = *cjk;
    if (auto it = tj->find("strip_accents"); it != tj->end() && !it->is_null()) {
      if (!it->is_boolean()) return bad(f, "strip_accents: not a boolean or null");
      c.tok.strip_accents = it->get<bool>() ? 1 : 0;
    }
    if (auto it = tj->find("do_basic_tokenize"); it != tj->end() && it->is_boolean() && !it->get<bool>())
      return bad(f, "do_basic_tokenize: false is not supported");
    special_field(*tj, "cls_token", c.tok.cls);
    special_field(*tj, "sep_token", c.tok.sep);
    special_field(*tj, "unk_token", c.tok.unk);
    special_field(*tj, "pad_token", c.tok.pad);
    special_field(*tj, "mask_token", c.tok.mask);
    auto sm = json_read(dir, "special_tokens_map.json", false);
    if (!sm) return sm.error();
    special_field(*sm, "cls_token", c.tok.cls);
    special_field(*sm, "sep_token", c.tok.sep);
    special_field(*sm, "unk_token", c.tok.unk);
    special_field(*sm, "pad_token", c.tok.pad);
    special_field(*sm, "mask_token", c.tok.mask);
  }
  return c;
}

}  // namespace aikid::embedding
