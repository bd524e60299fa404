// Loading templates: TOML → checked definitions → embedded examples → a new
// immutable set. All or nothing: the first bad file stops the load, and the
// caller's current set is not touched (it only swaps in a set that loaded).
#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include <toml++/toml.h>

#include "actors/synthesis/template_set.hpp"

namespace aikid::synthesis {

namespace {

error load_error(const std::string& file, std::size_t line, const std::string& reason) {
  return error{errc::bad_request, file + ":" + std::to_string(line) + ": " + reason};
}

// The first line of a string value's content: a multi-line string whose
// opening quotes end their line starts on the next line (TOML trims that newline).
std::size_t content_line(std::string_view text, const toml::source_region& src) {
  std::size_t line = src.begin.line;
  // find the start of that line in text
  std::size_t off = 0;
  for (std::size_t l = 1; l < line && off != std::string_view::npos; ++l) {
    off = text.find('\n', off);
    if (off != std::string_view::npos) ++off;
  }
  if (off == std::string_view::npos) return line;
  const std::size_t col = off + (src.begin.column ? src.begin.column - 1 : 0);
  if (col + 3 <= text.size()) {
    auto q = text.substr(col, 3);
    if (q == "\"\"\"" || q == "'''") {
      std::size_t k = col + 3;
      while (k < text.size() && (text[k] == ' ' || text[k] == '\t')) ++k;  // not valid TOML, harmless
      if (k < text.size() && (text[k] == '\n' || text[k] == '\r')) return line + 1;
    }
  }
  return line;
}

expected<template_def> parse_one(const template_source& src, std::set<std::string>& used) {
  const std::string& file = src.file;
  toml::table tbl;
  try {
    tbl = toml::parse(src.text, file);
  } catch (const toml::parse_error& e) {
    return load_error(file, e.source().begin.line, std::string("TOML: ") + std::string(e.description()));
  }
  template_def d;
  d.file = file;
  static const char* known[] = {"name", "intent", "lang", "mode", "examples", "keywords",
                                "body", "system", "user"};
  for (auto&& [k, v] : tbl) {
    if (std::find(std::begin(known), std::end(known), k.str()) == std::end(known)) {
      return load_error(file, k.source().begin.line, "unknown key '" + std::string(k.str()) + "'");
    }
  }
  auto get_string = [&](const char* key, bool required, std::string& out) -> expected<void> {
    auto node = tbl.get(key);
    if (!node) {
      if (required) return load_error(file, 1, "missing key '" + std::string(key) + "'");
      return {};
    }
    auto s = node->value<std::string>();
    if (!node->is_string() || !s) {
      return load_error(file, node->source().begin.line, std::string(key) + ": expected a string");
    }
    out = *s;
    return {};
  };
  auto get_list = [&](const char* key, std::vector<std::string>& out) -> expected<void> {
    auto node = tbl.get(key);
    if (!node) return {};
    auto arr = node->as_array();
    if (!arr) return load_error(file, node->source().begin.line, std::string(key) + ": expected an array of strings");
    std::size_t i = 0;
    for (auto&& el : *arr) {
      auto s = el.value<std::string>();
      if (!el.is_string() || !s) {
        return load_error(file, el.source().begin.line,
                          std::string(key) + "[" + std::to_string(i) + "]: expected a string");
      }
      if (detail::text_trim(*s).empty()) {
        return load_error(file, el.source().begin.line, std::string(key) + "[" + std::to_string(i) + "]: empty");
      }
      out.push_back(*s);
      ++i;
    }
    return {};
  };
  std::string mode;
  for (auto r : {get_string("name", true, d.name), get_string("intent", true, d.intent),
                 get_string("mode", true, mode), get_string("lang", false, d.lang),
                 get_list("examples", d.examples), get_list("keywords", d.keywords)}) {
    if (!r) return r.error();
  }
  if (detail::text_trim(d.name).empty()) return load_error(file, tbl.get("name")->source().begin.line, "name: empty");
  if (mode == "answer") d.mode = template_mode::answer;
  else if (mode == "prompt") d.mode = template_mode::prompt;
  else return load_error(file, tbl.get("mode")->source().begin.line,
                         "mode: '" + mode + "' is not \"answer\" or \"prompt\"");
  if (!d.lang.empty()) {
    if (d.lang == "nb" || d.lang == "nn") d.lang = "no";
    if (d.lang != "en" && d.lang != "no") {
      return load_error(file, tbl.get("lang")->source().begin.line,
                        "lang: '" + d.lang + "' is not one of en, no (nb, nn)");
    }
  }
  if (d.examples.empty() && d.keywords.empty()) {
    return load_error(file, 1, "needs examples or keywords (or both)");
  }
  // Bodies: which keys the mode wants, and the mustache check of each.
  const std::vector<std::pair<const char*, std::string*>> wanted =
      d.mode == template_mode::answer
          ? std::vector<std::pair<const char*, std::string*>>{{"body", &d.body}}
          : std::vector<std::pair<const char*, std::string*>>{{"system", &d.system}, {"user", &d.user}};
  for (const char* k : {"body", "system", "user"}) {
    const bool want = std::any_of(wanted.begin(), wanted.end(), [&](auto& w) { return std::string(w.first) == k; });
    if (!want && tbl.get(k)) {
      return load_error(file, tbl.get(k)->source().begin.line,
                        std::string(k) + ": not used in mode \"" + mode + "\"");
    }
  }
  for (auto& [key, out] : wanted) {
    if (auto r = get_string(key, true, *out); !r) return r.error();
    const auto line = content_line(src.text, tbl.get(key)->source());
    if (auto bad = detail::mustache_check(*out, detail::render_schema(), static_cast<int>(line), &used)) {
      return load_error(file, static_cast<std::size_t>(bad->first),
                        std::string(key) + ": mustache: " + bad->second);
    }
  }
  return d;
}

}  // namespace

expected<template_set_ptr> templates_load_sources(std::span<const template_source> sources,
                                                  const embed_fn& embed) {
  auto set = std::make_shared<template_set>();
  for (const auto& src : sources) {
    std::set<std::string> used;
    auto d = parse_one(src, used);
    if (!d) return d.error();
    if (auto it = set->by_name.find(d->name); it != set->by_name.end()) {
      return load_error(src.file, 1, "name '" + d->name + "' is also used by " +
                                         set->defs[static_cast<std::size_t>(it->second)].file);
    }
    set->by_name.emplace(d->name, static_cast<int>(set->defs.size()));
    set->defs.push_back(std::move(*d));
    auto use = detail::context_use_from(used);
    if (!use) return load_error(src.file, 1, use.error().message);
    set->used.push_back(*use);
  }
  // Examples → vectors, one batch.
  std::vector<std::string> texts;
  set->example_rows.reserve(set->defs.size());
  for (std::uint32_t t = 0; t < set->defs.size(); ++t) {
    const auto b = static_cast<std::uint32_t>(texts.size());
    for (const auto& e : set->defs[t].examples) {
      texts.push_back(e);
      set->example_owner.push_back(t);
    }
    set->example_rows.emplace_back(b, static_cast<std::uint32_t>(texts.size()));
  }
  if (!texts.empty()) {
    if (!embed) return error{errc::unavailable, "templates: examples need an embed function"};
    expected<std::vector<std::vector<float>>> vecs{errc::unavailable, "not called"};
    try {
      vecs = embed(texts);
    } catch (const std::exception& e) {
      return error{errc::unavailable, std::string("templates: the embed function threw: ") + e.what()};
    }
    if (!vecs) return error{errc::unavailable, "templates: embedding the examples failed: " + vecs.error().message};
    if (vecs->size() != texts.size()) {
      return error{errc::unavailable, "templates: the embed function returned " + std::to_string(vecs->size()) +
                                          " vectors for " + std::to_string(texts.size()) + " examples"};
    }
    const std::size_t dim = (*vecs)[0].size();
    if (dim == 0) return error{errc::unavailable, "templates: the embed function returned empty vectors"};
    std::vector<float> flat;
    flat.reserve(dim * texts.size());
    for (std::size_t i = 0; i < vecs->size(); ++i) {
      const auto& v = (*vecs)[i];
      if (v.size() != dim) {
        return error{errc::unavailable, "templates: example '" + texts[i] + "' (" +
                                            set->defs[set->example_owner[i]].file + ") has dimension " +
                                            std::to_string(v.size()) + ", expected " + std::to_string(dim)};
      }
      double n2 = 0;
      for (float x : v) n2 += double(x) * x;
      const float inv = n2 > 0 ? float(1.0 / std::sqrt(n2)) : 0.f;
      for (float x : v) flat.push_back(x * inv);
    }
    try {
      set->dim = static_cast<int>(dim);
      set->index = std::make_unique<faiss::IndexFlatIP>(static_cast<faiss::Index::idx_t>(dim));
      set->index->add(static_cast<faiss::Index::idx_t>(texts.size()), flat.data());
      templates_build_codes(*set);
    } catch (const std::exception& e) {
      return error{errc::internal, std::string("templates: faiss: ") + e.what()};
    }
  }
  // Keywords → one automaton.
  for (std::uint32_t t = 0; t < set->defs.size(); ++t) {
    for (const auto& k : set->defs[t].keywords) {
      const auto p = set->keywords.add(detail::text_key(k));
      if (p >= set->keyword_owner.size()) set->keyword_owner.resize(p + 1);
      auto& owners = set->keyword_owner[p];
      if (owners.empty() || owners.back() != t) owners.push_back(t);
    }
  }
  set->keywords.build();
  return template_set_ptr(std::move(set));
}

expected<template_set_ptr> templates_load_dir(const std::filesystem::path& dir, const embed_fn& embed) {
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) return error{errc::unavailable, "templates: cannot read " + dir.string() + ": " + ec.message()};
  for (const auto& e : it) {
    if (e.path().extension() == ".toml" && e.is_regular_file(ec)) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  std::vector<template_source> sources;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    if (!in) return error{errc::unavailable, "templates: cannot read " + f.string()};
    std::ostringstream ss;
    ss << in.rdbuf();
    sources.push_back({f.string(), ss.str()});
  }
  return templates_load_sources(sources, embed);
}

std::size_t templates_count(const template_set& s) { return s.defs.size(); }
const template_def& templates_get(const template_set& s, std::size_t i) { return s.defs.at(i); }
int templates_find(const template_set& s, std::string_view name) {
  auto it = s.by_name.find(std::string(name));
  return it == s.by_name.end() ? -1 : it->second;
}

}  // namespace aikid::synthesis
