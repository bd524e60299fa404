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
struct local_time;
namespace detail {
/// zone_local without the day bounds, iso and zone_name (for rendering due
/// times: one offset lookup, no local→UTC conversions); the offset in seconds
/// goes to *offset_s when given. Never fails.
local_time zone_fields(const zone& z, std::int64_t unix_ms, long* offset_s = nullptr);
}  // namespace detail
}  // namespace aikid::synthesis

// ---- kg.cpp / reminders.cpp: the graph's database ------------------------------
namespace SQLite {
class Database;
}
namespace aikid::synthesis {
struct kg;
namespace detail {
/// The graph's open database (reminders.cpp keeps its tables there).
SQLite::Database& kg_db(kg& g);
/// Creates the reminders and settings tables (schema v3; kg_open's migration).
void reminders_schema_create(SQLite::Database& db);
/// Creates the turns table (schema v5; kg_open's migration; turns.cpp).
void turns_schema_create(SQLite::Database& db);
}  // namespace detail
}  // namespace aikid::synthesis

// ---- kg.cpp (for the linker) ----------------------------------------------------
#include <functional>
namespace aikid::synthesis {
struct kg;
namespace detail {
/// Calls f(entity id, name or alias, canonical name, the entity's user) for
/// every name and alias of every scope.
void kg_for_each_name(const kg& g, const std::function<void(std::int64_t, const std::string&, const std::string&,
                                                            const std::string&)>& f);
}  // namespace detail
}  // namespace aikid::synthesis

// ---- mustache_check.cpp -----------------------------------------------------------
#include <map>
#include <optional>
#include <set>
#include "common/error.hpp"
namespace aikid::synthesis::detail {
/// The documented rendering context as a tree of names.
struct schema_node {
  enum kind_t { leaf, map, list } kind = leaf;
  std::map<std::string, schema_node> fields;  // map: its fields; list: its element's fields
};
const schema_node& render_schema();
/// Syntax + names. nullopt when fine, else (line, reason); lines count from
/// first_line (the template's first line in its file). `used` (if given)
/// collects every context field the template reads, as paths: "text",
/// "entity", "entity.facts", "entity.facts[].text", "now.time", … ("[]" is a
/// list's element). Names resolve here exactly as mstch resolves them at
/// render time (innermost scope first), so a context that carries only these
/// fields renders the same text as the full context (see render.cpp).
std::optional<std::pair<int, std::string>> mustache_check(std::string_view tmpl, const schema_node& root,
                                                          int first_line,
                                                          std::set<std::string>* used = nullptr);

/// Which fields of each context node a template reads: one bit per field, in
/// the order of the *_field enums in render.cpp. Built from mustache_check's
/// paths when the template loads.
struct context_use {
  std::uint32_t root = 0, now = 0, status = 0;
  std::uint32_t entity = 0, entity_facts = 0;      // "entity", "entity.facts[]"
  std::uint32_t entities = 0, entities_facts = 0;  // "entities[]", "entities[].facts[]"
  std::uint32_t facts = 0, due = 0;                // "facts[]", "due[]"
  std::uint32_t memories = 0, turns = 0;           // "memories[]", "turns[]"
};
/// Fails only on a path outside the schema (a bug): the text names it.
expected<context_use> context_use_from(const std::set<std::string>& paths);

}  // namespace aikid::synthesis::detail

// ---- render.cpp (the reference for tests) -----------------------------------------
#include "actors/synthesis/synthesis.hpp"
namespace aikid::synthesis::detail {
/// template_render with the full rendering context — every field of every
/// node, built eagerly as plain maps — instead of the lazy one that holds only
/// the fields the template reads. Same failures. Tests compare the two.
expected<rendered> template_render_full(const template_set& s, std::size_t index, const render_input& in);
}  // namespace aikid::synthesis::detail
