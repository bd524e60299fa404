// Loading the reference fixtures made by fixtures/make_fixtures.py.
#pragma once
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace aikid::embedding::testing {

inline std::filesystem::path fixture_dir() {
  return std::filesystem::path(AIKID_SOURCE_DIR) / "tests" / "embedding" / "fixtures";
}
inline std::filesystem::path model_dir() {
  return std::filesystem::path(AIKID_MODELS_DIR) / "all-MiniLM-L6-v2";
}

struct fixture_text {
  std::string text;
  std::vector<std::int32_t> ids;
  bool truncated = false;
};

// Reads a fixture JSONL file: line 1 is {"_meta": …}, then one object per
// text with the text under `text_key` and the ids under "ids".
inline std::vector<fixture_text> read_jsonl(const std::string& name, const std::string& text_key,
                                            nlohmann::json* meta = nullptr) {
  std::ifstream in(fixture_dir() / name, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open fixture " + name);
  std::vector<fixture_text> out;
  std::string line;
  bool first = true;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    if (first) {
      first = false;
      if (meta) *meta = j.at("_meta");
      continue;
    }
    fixture_text t;
    t.text = j.at(text_key).get<std::string>();
    t.ids = j.at("ids").get<std::vector<std::int32_t>>();
    if (j.contains("truncated")) t.truncated = j.at("truncated").get<bool>();
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace aikid::embedding::testing
