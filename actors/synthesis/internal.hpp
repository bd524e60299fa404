// Internal pieces shared by the synthesis sources (not part of the API).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace aikid::synthesis::detail {

// ---- text.cpp: case folding over codepoints ----------------------------------

/// One folded codepoint and the bytes of the source codepoint it came from.
/// A source codepoint can fold to several (ß → s s): first/last mark them.
struct folded_cp {
  char32_t cp;
  std::uint32_t begin, end;  // source byte range
  bool first, last;
  bool word;                 // the source codepoint is a letter, mark or digit
};

/// Folds `text` codepoint by codepoint (full case folding), collapsing runs
/// of white space to one ' '. Invalid bytes become U+FFFD.
void text_fold_stream(std::string_view text, std::vector<folded_cp>& out);

/// The folded key of a name: NFC, case-folded, white space collapsed and
/// trimmed, as UTF-8. Equal keys ⇔ the names match case-insensitively.
std::string text_key(std::string_view name);

/// True when s is valid UTF-8.
bool text_valid_utf8(std::string_view s);

/// Trims ASCII/Unicode white space at both ends.
std::string text_trim(std::string_view s);

// ---- ac.cpp: Aho–Corasick over folded codepoints -----------------------------

class ac_automaton {
 public:
  /// Adds a pattern (already a key from text_key); returns its id (dense).
  /// The same key twice returns the first id.
  std::uint32_t add(std::string_view key);
  void build();

  struct hit {
    std::uint32_t pattern;
    std::uint32_t begin, end;  // source byte range
  };
  /// Whole-word matches, leftmost-longest, non-overlapping (if all=false),
  /// or every whole-word match (all=true).
  void find(const std::vector<folded_cp>& stream, std::vector<hit>& out, bool all) const;
  std::size_t size() const { return plen_.size(); }

 private:
  struct node {
    std::uint32_t edge_begin = 0, edge_end = 0;  // into edges_ (after build)
    std::uint32_t fail = 0;
    std::int32_t out = -1;       // pattern ending here
    std::uint32_t dict = 0;      // next node on the fail chain with out >= 0 (0: none)
  };
  struct edge {
    char32_t cp;
    std::uint32_t to;
  };
  std::uint32_t child(std::uint32_t n, char32_t cp) const;

  std::vector<node> nodes_;
  std::vector<edge> edges_;
  std::vector<std::vector<edge>> build_edges_;  // while adding
  std::vector<std::uint32_t> plen_;             // pattern length in codepoints
  std::vector<std::string> keys_;
  bool built_ = false;
};

}  // namespace aikid::synthesis::detail

// ---- time.cpp ---------------------------------------------------------------
#include <nlohmann/json_fwd.hpp>
#include "common/error.hpp"
namespace aikid::synthesis {
struct zone;
namespace detail {
/// attrs.due → unix ms. Integers are unix ms; strings ISO-8601 (naive ones
/// are read in `naive`). Fails: bad_request naming the value.
expected<std::int64_t> parse_due(const nlohmann::json& v, const zone& naive);
}  // namespace detail
}  // namespace aikid::synthesis

// ---- kg.cpp (for the linker) ----------------------------------------------------
#include <functional>
namespace aikid::synthesis {
struct kg;
namespace detail {
/// Calls f(entity id, name or alias, canonical name) for every name and alias.
void kg_for_each_name(const kg& g,
                      const std::function<void(std::int64_t, const std::string&, const std::string&)>& f);
}  // namespace detail
}  // namespace aikid::synthesis

// ---- mustache_check.cpp -----------------------------------------------------------
#include <map>
#include <optional>
#include <set>
namespace aikid::synthesis::detail {
/// The documented rendering context as a tree of names.
struct schema_node {
  enum kind_t { leaf, map, list } kind = leaf;
  std::map<std::string, schema_node> fields;  // map: its fields; list: its element's fields
};
const schema_node& render_schema();
/// Syntax + names. nullopt when fine, else (line, reason); lines count from
/// first_line (the template's first line in its file). used_roots (if given)
/// collects the root-context names the template reads, so rendering builds
/// only those (every context node always carries all its fields, so the
/// static resolution here is the one mustache makes at render time).
std::optional<std::pair<int, std::string>> mustache_check(std::string_view tmpl, const schema_node& root,
                                                          int first_line,
                                                          std::set<std::string>* used_roots = nullptr);
}  // namespace aikid::synthesis::detail
