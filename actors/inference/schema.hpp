// Constrained JSON output: a JSON-Schema subset compiled to a character-level
// pushdown automaton, checked against every token's bytes at each step, so a
// generation's text always parses and validates.
//
// Table of contents:
//   schema_compile         JSON Schema (text) -> compiled schema
//                          subset: type object (properties, required), array
//                          (items, minItems, maxItems), string (maxLength,
//                          enum), number, integer, boolean, null, enum, nesting
//   json_automaton         the parse state of one generation: feed bytes,
//                          is it complete, the shortest text that completes it
//   token_masker           token byte strings computed once per model; the
//                          per-step mask of tokens the automaton accepts
//
// Output form: compact JSON (no whitespace), object properties in declaration
// order (every declared property is emitted, so required ones always are),
// strings without \u escapes, numbers of at most 15 digits per part, strings of
// at most maxLength (default 64) characters, arrays of at most maxItems
// (default 8) items. When a generation runs out of tokens the caller appends
// completion() so the text still parses.
//
// Engine code: no actors, no threads.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace aikid::inference {

class model;

struct schema_node {
  enum kind_t : std::uint8_t { object, array, string, number, integer, boolean, null, literal_set };
  kind_t kind = string;
  std::vector<std::string> keys;        // object: literal "\"name\":" (with the leading ',' omitted)
  std::vector<int> props;               // object: node index of each property
  int items = -1;                       // array: node index of the item schema
  int min_items = 0, max_items = 8;     // array
  int max_length = 64;                  // string
  std::vector<std::string> literals;    // literal_set: serialized JSON values (enum, boolean)
};

struct compiled_schema {
  std::vector<schema_node> nodes;  // nodes[0] is the root
};

/// Compiles a schema given as JSON text. Fails with errc::bad_request naming
/// the JSON pointer of the unsupported or malformed part
/// (e.g. "schema/properties/age/type: unsupported type \"foo\"").
expected<std::shared_ptr<const compiled_schema>> schema_compile(std::string_view schema_json);

class json_automaton {
 public:
  explicit json_automaton(std::shared_ptr<const compiled_schema> s);
  /// Consumes bytes; false (state unspecified: feed a copy) when one is not allowed.
  bool feed(std::string_view bytes);
  bool feed_byte(unsigned char c);
  /// True when the text so far is a complete value (EOG may end it here).
  bool complete() const;
  /// True when no byte can follow (the only continuation is the end).
  bool finished() const { return stack_.empty(); }
  /// Shortest text that turns the text so far into a valid complete value.
  std::string completion() const;

  struct frame {
    int node = 0;
    std::uint8_t kind = 0;  // frame kind (schema.cpp)
    std::uint8_t st = 0;
    std::uint8_t utf_need = 0, utf_lo = 0x80, utf_hi = 0xBF;
    int i = 0;               // object: property index; array: item count; string: chars; number: digits
    std::uint64_t cands = 0; // literal_set: candidate bitmask
    const std::string* lit = nullptr;  // literal frame
    int pos = 0;                        // literal / literal_set position
  };

 private:
  bool step(unsigned char c);
  std::shared_ptr<const compiled_schema> s_;
  std::vector<frame> stack_;
};

class token_masker {
 public:
  /// Precomputes every token's bytes (control tokens: empty, never allowed).
  explicit token_masker(const model& m);
  /// mask[t] = 1 when token t's bytes are accepted from `state`; EOG tokens
  /// are allowed exactly when the state is complete. Returns the count allowed.
  std::size_t mask(const json_automaton& state, std::vector<std::uint8_t>& mask) const;
  const std::string& bytes_of(std::int32_t t) const { return bytes_[static_cast<std::size_t>(t)]; }

 private:
  std::vector<std::string> bytes_;
  std::vector<std::uint8_t> eog_;
  std::vector<std::int32_t> by_first_[256];  // non-empty, non-EOG tokens by their first byte
};

}  // namespace aikid::inference
