// schema: JSON-Schema subset -> pushdown automaton over bytes -> token mask.
//
// Sections: compile (schema JSON -> nodes), automaton (frames on a stack, one
// byte at a time), completion (shortest closing text), token mask.
#include "actors/inference/schema.hpp"

#include <nlohmann/json.hpp>

#include "actors/inference/inference.hpp"

namespace aikid::inference {

namespace {

using json = nlohmann::ordered_json;  // properties keep declaration order

// ---- compile ----------------------------------------------------------------

expected<int> compile_node(const json& j, const std::string& where, compiled_schema& out, int depth) {
  auto bad = [&](const std::string& what) { return expected<int>(errc::bad_request, where + ": " + what); };
  if (depth > 32) return bad("nesting deeper than 32");
  if (!j.is_object()) return bad("must be an object");
  int idx = static_cast<int>(out.nodes.size());
  out.nodes.emplace_back();
  schema_node n;
  if (auto e = j.find("enum"); e != j.end()) {
    if (!e->is_array() || e->empty() || e->size() > 64) return bad("enum: must be an array of 1..64 values");
    n.kind = schema_node::literal_set;
    for (const auto& v : *e) {
      if (v.is_object() || v.is_array()) return bad("enum: only strings, numbers, booleans and null are supported");
      n.literals.push_back(v.dump());
    }
    out.nodes[static_cast<std::size_t>(idx)] = std::move(n);
    return idx;
  }
  if (auto c = j.find("const"); c != j.end()) {
    if (c->is_object() || c->is_array()) return bad("const: only scalar values are supported");
    n.kind = schema_node::literal_set;
    n.literals.push_back(c->dump());
    out.nodes[static_cast<std::size_t>(idx)] = std::move(n);
    return idx;
  }
  auto t = j.find("type");
  if (t == j.end() || !t->is_string()) {
    // an object schema without "type" that has "properties" is an object
    if (j.contains("properties")) n.kind = schema_node::object;
    else return bad("type: required (a string)");
  } else {
    const auto& ty = t->get_ref<const std::string&>();
    if (ty == "object") n.kind = schema_node::object;
    else if (ty == "array") n.kind = schema_node::array;
    else if (ty == "string") n.kind = schema_node::string;
    else if (ty == "number") n.kind = schema_node::number;
    else if (ty == "integer") n.kind = schema_node::integer;
    else if (ty == "boolean") n.kind = schema_node::boolean;
    else if (ty == "null") n.kind = schema_node::null;
    else return bad("type: unsupported type \"" + ty + "\"");
  }
  auto get_int = [&](const char* key, int lo, int hi, int& dst) -> expected<void> {
    auto it = j.find(key);
    if (it == j.end()) return {};
    if (!it->is_number_integer() || it->get<long long>() < lo || it->get<long long>() > hi)
      return {errc::bad_request, where + "/" + key + ": must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]"};
    dst = static_cast<int>(it->get<long long>());
    return {};
  };
  switch (n.kind) {
    case schema_node::object: {
      auto p = j.find("properties");
      if (p != j.end() && !p->is_object()) return bad("properties: must be an object");
      if (auto r = j.find("required"); r != j.end()) {
        if (!r->is_array()) return bad("required: must be an array of names");
        for (const auto& name : *r)
          if (!name.is_string() || p == j.end() || !p->contains(name.get<std::string>()))
            return bad("required: " + name.dump() + " is not a declared property");
      }
      if (p != j.end())
        for (auto it = p->begin(); it != p->end(); ++it) {
          auto child = compile_node(it.value(), where + "/properties/" + it.key(), out, depth + 1);
          if (!child) return child.error();
          n.keys.push_back(json(it.key()).dump() + ":");
          n.props.push_back(*child);
        }
      break;
    }
    case schema_node::array: {
      auto it = j.find("items");
      if (it == j.end()) return bad("items: required for an array");
      auto child = compile_node(*it, where + "/items", out, depth + 1);
      if (!child) return child.error();
      n.items = *child;
      if (auto r = get_int("minItems", 0, 64, n.min_items); !r) return r.error();
      if (auto r = get_int("maxItems", 0, 64, n.max_items); !r) return r.error();
      if (!j.contains("maxItems")) n.max_items = std::max(n.max_items, n.min_items);
      if (n.max_items < n.min_items) return bad("maxItems: less than minItems");
      break;
    }
    case schema_node::string:
      if (auto r = get_int("maxLength", 0, 4096, n.max_length); !r) return r.error();
      break;
    case schema_node::boolean:
      n.kind = schema_node::literal_set;
      n.literals = {"true", "false"};
      break;
    default: break;
  }
  out.nodes[static_cast<std::size_t>(idx)] = std::move(n);
  return idx;
}

// ---- automaton ------------------------------------------------------------

enum frame_kind : std::uint8_t { F_VALUE, F_LIT, F_SET, F_OBJ, F_ARR, F_STR, F_NUM };
constexpr int max_digits = 15;

json_automaton::frame value_frame(int node) {
  json_automaton::frame f;
  f.node = node;
  f.kind = F_VALUE;
  return f;
}
json_automaton::frame lit_frame(const std::string* s) {
  json_automaton::frame f;
  f.kind = F_LIT;
  f.lit = s;
  return f;
}

const std::string k_null = "null";

// Minimal valid text of a node.
void minimal(const compiled_schema& s, int node, std::string& out) {
  const auto& n = s.nodes[static_cast<std::size_t>(node)];
  switch (n.kind) {
    case schema_node::object:
      out += '{';
      for (std::size_t i = 0; i < n.props.size(); ++i) {
        if (i) out += ',';
        out += n.keys[i];
        minimal(s, n.props[i], out);
      }
      out += '}';
      break;
    case schema_node::array:
      out += '[';
      for (int i = 0; i < n.min_items; ++i) {
        if (i) out += ',';
        minimal(s, n.items, out);
      }
      out += ']';
      break;
    case schema_node::string: out += "\"\""; break;
    case schema_node::number:
    case schema_node::integer: out += '0'; break;
    case schema_node::null: out += "null"; break;
    case schema_node::boolean: out += "false"; break;
    case schema_node::literal_set: out += n.literals.front(); break;
  }
}

}  // namespace

expected<std::shared_ptr<const compiled_schema>> schema_compile(std::string_view schema_json) {
  json j = json::parse(schema_json, nullptr, false);
  if (j.is_discarded()) return error{errc::bad_request, "schema: not valid JSON"};
  auto s = std::make_shared<compiled_schema>();
  auto root = compile_node(j, "schema", *s, 0);
  if (!root) return root.error();
  return std::shared_ptr<const compiled_schema>(std::move(s));
}

json_automaton::json_automaton(std::shared_ptr<const compiled_schema> s) : s_(std::move(s)) {
  stack_.reserve(16);
  stack_.push_back(value_frame(0));
}

bool json_automaton::feed(std::string_view bytes) {
  for (char c : bytes)
    if (!step(static_cast<unsigned char>(c))) return false;
  return true;
}
bool json_automaton::feed_byte(unsigned char c) { return step(c); }

bool json_automaton::complete() const {
  if (stack_.empty()) return true;
  // a number at the top level ends where the text ends
  if (stack_.size() == 1 && stack_[0].kind == F_NUM) return stack_[0].st == 2 || stack_[0].st == 3 || stack_[0].st == 5;
  return false;
}

bool json_automaton::step(unsigned char c) {
  for (;;) {
    if (stack_.empty()) return false;
    frame& f = stack_.back();
    const schema_node& n = s_->nodes[static_cast<std::size_t>(f.node)];
    switch (f.kind) {
      case F_VALUE:
        switch (n.kind) {
          case schema_node::object: f.kind = F_OBJ; break;
          case schema_node::array: f.kind = F_ARR; break;
          case schema_node::string: f.kind = F_STR; break;
          case schema_node::number:
          case schema_node::integer: f.kind = F_NUM; break;
          case schema_node::null: f = lit_frame(&k_null); break;
          case schema_node::boolean:
          case schema_node::literal_set:
            f.kind = F_SET;
            f.cands = n.literals.size() >= 64 ? ~0ull : ((1ull << n.literals.size()) - 1);
            break;
        }
        f.st = 0;
        continue;  // re-handle c in the concrete frame
      case F_LIT:
        if (static_cast<unsigned char>((*f.lit)[static_cast<std::size_t>(f.pos)]) != c) return false;
        if (++f.pos == static_cast<int>(f.lit->size())) stack_.pop_back();
        return true;
      case F_SET: {
        std::uint64_t keep = 0;
        bool done = false;
        for (std::size_t i = 0; i < n.literals.size(); ++i) {
          if (!(f.cands >> i & 1)) continue;
          const auto& l = n.literals[i];
          if (static_cast<std::size_t>(f.pos) < l.size() && static_cast<unsigned char>(l[static_cast<std::size_t>(f.pos)]) == c) {
            keep |= 1ull << i;
            if (static_cast<std::size_t>(f.pos) + 1 == l.size()) done = true;
          }
        }
        if (!keep) return false;
        f.cands = keep;
        ++f.pos;
        // finished when a candidate is fully matched and no other is longer
        if (done) {
          bool longer = false;
          for (std::size_t i = 0; i < n.literals.size(); ++i)
            if ((keep >> i & 1) && n.literals[i].size() > static_cast<std::size_t>(f.pos)) longer = true;
          if (!longer) stack_.pop_back();
        }
        return true;
      }
      case F_OBJ:
        if (f.st == 0) {
          if (c != '{') return false;
          if (n.props.empty()) {
            f.st = 3;
            return true;
          }
          f.st = 2;
          f.i = 0;
          int child = n.props[0];
          const std::string* key = &n.keys[0];
          stack_.push_back(value_frame(child));
          stack_.push_back(lit_frame(key));
          return true;
        }
        if (f.st == 2) {
          if (f.i + 1 < static_cast<int>(n.props.size())) {
            if (c != ',') return false;
            ++f.i;
            int child = n.props[static_cast<std::size_t>(f.i)];
            const std::string* key = &n.keys[static_cast<std::size_t>(f.i)];
            stack_.push_back(value_frame(child));
            stack_.push_back(lit_frame(key));
            return true;
          }
          if (c != '}') return false;
          stack_.pop_back();
          return true;
        }
        if (c != '}') return false;  // st 3: empty object
        stack_.pop_back();
        return true;
      case F_ARR:
        if (f.st == 0) {
          if (c != '[') return false;
          f.st = 1;
          return true;
        }
        if (f.st == 1) {  // after '[': ']' or the first item
          if (c == ']') {
            if (n.min_items > 0) return false;
            stack_.pop_back();
            return true;
          }
          if (n.max_items == 0) return false;
          f.st = 2;
          f.i = 1;
          stack_.push_back(value_frame(n.items));
          continue;
        }
        // st 2: after an item
        if (c == ',' && f.i < n.max_items) {
          ++f.i;
          stack_.push_back(value_frame(n.items));
          return true;
        }
        if (c == ']' && f.i >= n.min_items) {
          stack_.pop_back();
          return true;
        }
        return false;
      case F_STR:
        if (f.st == 0) {
          if (c != '"') return false;
          f.st = 1;
          return true;
        }
        if (f.st == 2) {  // after a backslash
          if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r' || c == 't') {
            f.st = 1;
            return true;
          }
          return false;
        }
        if (f.utf_need) {  // continuation byte of a UTF-8 character
          if (c < f.utf_lo || c > f.utf_hi) return false;
          --f.utf_need;
          f.utf_lo = 0x80, f.utf_hi = 0xBF;
          return true;
        }
        if (c == '"') {
          stack_.pop_back();
          return true;
        }
        if (c < 0x20 || c == 0x7F) return false;
        if (f.i >= n.max_length) return false;  // only the closing quote
        ++f.i;
        if (c == '\\') {
          f.st = 2;
          return true;
        }
        if (c < 0x80) return true;
        // UTF-8 lead byte: well-formed sequences only (RFC 3629 table)
        if (c >= 0xC2 && c <= 0xDF) f.utf_need = 1, f.utf_lo = 0x80, f.utf_hi = 0xBF;
        else if (c == 0xE0) f.utf_need = 2, f.utf_lo = 0xA0, f.utf_hi = 0xBF;
        else if (c == 0xED) f.utf_need = 2, f.utf_lo = 0x80, f.utf_hi = 0x9F;
        else if (c >= 0xE1 && c <= 0xEF) f.utf_need = 2, f.utf_lo = 0x80, f.utf_hi = 0xBF;
        else if (c == 0xF0) f.utf_need = 3, f.utf_lo = 0x90, f.utf_hi = 0xBF;
        else if (c >= 0xF1 && c <= 0xF3) f.utf_need = 3, f.utf_lo = 0x80, f.utf_hi = 0xBF;
        else if (c == 0xF4) f.utf_need = 3, f.utf_lo = 0x80, f.utf_hi = 0x8F;
        else return false;
        return true;
      case F_NUM: {
        // st: 0 start, 1 after '-', 2 int digits, 3 after leading 0,
        //     4 after '.', 5 fraction digits
        bool is_int = n.kind == schema_node::integer;
        bool digit = c >= '0' && c <= '9';
        switch (f.st) {
          case 0:
            if (c == '-') return f.st = 1, true;
            [[fallthrough]];
          case 1:
            if (c == '0') return f.st = 3, f.i = 1, true;
            if (digit) return f.st = 2, f.i = 1, true;
            return false;
          case 2:
            if (digit && f.i < max_digits) return ++f.i, true;
            [[fallthrough]];
          case 3:
            if (c == '.' && !is_int) return f.st = 4, f.i = 0, true;
            break;  // the number ends before c
          case 4:
            if (digit) return f.st = 5, f.i = 1, true;
            return false;
          case 5:
            if (digit && f.i < max_digits) return ++f.i, true;
            break;
        }
        stack_.pop_back();
        continue;  // c belongs to the parent
      }
    }
    return false;
  }
}

std::string json_automaton::completion() const {
  std::string out;
  for (auto it = stack_.rbegin(); it != stack_.rend(); ++it) {
    const frame& f = *it;
    const schema_node& n = s_->nodes[static_cast<std::size_t>(f.node)];
    switch (f.kind) {
      case F_VALUE: minimal(*s_, f.node, out); break;
      case F_LIT: out.append(*f.lit, static_cast<std::size_t>(f.pos)); break;
      case F_SET:
        for (std::size_t i = 0; i < n.literals.size(); ++i)
          if (f.cands >> i & 1) {
            out.append(n.literals[i], static_cast<std::size_t>(f.pos));
            break;
          }
        break;
      case F_OBJ:
        if (f.st == 0) minimal(*s_, f.node, out);
        else if (f.st == 3) out += '}';
        else {
          for (std::size_t i = static_cast<std::size_t>(f.i) + 1; i < n.props.size(); ++i) {
            out += ',';
            out += n.keys[i];
            minimal(*s_, n.props[i], out);
          }
          out += '}';
        }
        break;
      case F_ARR:
        if (f.st == 0) minimal(*s_, f.node, out);
        else {
          int have = f.st == 1 ? 0 : f.i;
          for (int i = have; i < n.min_items; ++i) {
            if (i) out += ',';
            minimal(*s_, n.items, out);
          }
          out += ']';
        }
        break;
      case F_STR:
        if (f.st == 0) out += "\"\"";
        else {
          if (f.st == 2) out += 'n';
          if (f.utf_need) {
            out += static_cast<char>(f.utf_lo);
            for (int k = 1; k < f.utf_need; ++k) out += static_cast<char>(0x80);
          }
          out += '"';
        }
        break;
      case F_NUM:
        if (f.st == 0 || f.st == 1 || f.st == 4) out += '0';
        break;
    }
  }
  return out;
}

// ---- token mask -----------------------------------------------------------

token_masker::token_masker(const model& m) {
  auto n = static_cast<std::size_t>(m.n_vocab());
  bytes_.resize(n);
  eog_.resize(n);
  for (std::size_t t = 0; t < n; ++t) {
    bytes_[t] = m.token_to_piece(static_cast<std::int32_t>(t));
    eog_[t] = m.is_eog(static_cast<std::int32_t>(t)) ? 1 : 0;
    if (!eog_[t] && !bytes_[t].empty())
      by_first_[static_cast<unsigned char>(bytes_[t][0])].push_back(static_cast<std::int32_t>(t));
  }
}

std::size_t token_masker::mask(const json_automaton& state, std::vector<std::uint8_t>& mask) const {
  mask.assign(bytes_.size(), 0);
  bool done = state.complete();
  bool more = !state.finished();
  std::size_t count = 0;
  for (std::size_t t = 0; t < bytes_.size(); ++t)
    if (eog_[t]) {
      mask[t] = done;
      count += done;
    }
  if (!more) return count;
  // Tokens are grouped by their first byte: a rejected byte rules out its
  // whole group; the others go on from the state after that byte.
  json_automaton first = state, probe = state;
  for (int b = 0; b < 256; ++b) {
    if (by_first_[b].empty()) continue;
    first = state;
    if (!first.feed_byte(static_cast<unsigned char>(b))) continue;
    for (auto t : by_first_[b]) {
      const std::string& bytes = bytes_[static_cast<std::size_t>(t)];
      probe = first;
      if (probe.feed(std::string_view(bytes).substr(1))) {
        mask[static_cast<std::size_t>(t)] = 1;
        ++count;
      }
    }
  }
  return count;
}

}  // namespace aikid::inference
