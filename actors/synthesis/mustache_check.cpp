// Mustache syntax and name check, run when templates load: mstch itself is
// lenient (an unclosed section renders silently), so this scanner finds
// unclosed tags and sections, mismatched closings, partials, and names that
// are not in the documented rendering context (synthesis.hpp, section 4).
#include <deque>
#include <map>
#include <set>

#include "actors/synthesis/internal.hpp"

namespace aikid::synthesis::detail {

const schema_node& render_schema() {
  static const schema_node root = [] {
    auto leaf = [] { return schema_node{schema_node::leaf, {}}; };
    auto map_of = [](std::map<std::string, schema_node> f) { return schema_node{schema_node::map, std::move(f)}; };
    auto list_of = [](std::map<std::string, schema_node> f) { return schema_node{schema_node::list, std::move(f)}; };
    std::map<std::string, schema_node> fact_f;
    for (const char* k : {"subject", "relation", "object", "text", "due", "due_time", "depth"}) fact_f[k] = leaf();
    std::map<std::string, schema_node> ent_f;
    for (const char* k : {"id", "name", "type", "has_facts"}) ent_f[k] = leaf();
    ent_f["aliases"] = list_of({});
    ent_f["facts"] = list_of(fact_f);
    std::map<std::string, schema_node> now_f;
    for (const char* k : {"date", "time", "datetime", "weekday", "month", "day", "year", "tz", "daypart"})
      now_f[k] = leaf();
    std::map<std::string, schema_node> status_f;
    for (const char* k : {"version", "uptime", "entities", "relations", "templates", "memories", "model"})
      status_f[k] = leaf();
    std::map<std::string, schema_node> r;
    for (const char* k : {"text", "user", "lang", "topic", "has_memories", "has_entities", "has_facts",
                          "has_due", "has_turns"})
      r[k] = leaf();
    r["now"] = map_of(now_f);
    r["entity"] = map_of(ent_f);
    r["entities"] = list_of(ent_f);
    r["facts"] = list_of(fact_f);
    r["due"] = list_of(fact_f);
    r["memories"] = list_of({{"id", leaf()}, {"text", leaf()}, {"score", leaf()}});
    r["turns"] = list_of({{"role", leaf()}, {"text", leaf()}, {"is_user", leaf()}});
    r["status"] = map_of(status_f);
    return map_of(std::move(r));
  }();
  return root;
}

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n' || s.front() == '\r'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

int line_of(std::string_view t, std::size_t pos) {
  int line = 1;
  for (std::size_t i = 0; i < pos && i < t.size(); ++i) line += t[i] == '\n';
  return line;
}

bool name_chars_ok(std::string_view n) {
  for (char c : n) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

// A scope on the checker's stack: the schema node and its path in the
// context ("" root, "entity", "entity.facts[]", …; see internal.hpp).
struct scope {
  const schema_node* node;
  std::string path;
};

std::string join(const std::string& path, std::string_view name) {
  return path.empty() ? std::string(name) : path + "." + std::string(name);
}

// Resolves a (possibly dotted) name against the scope stack the way mstch
// does at render time (innermost scope that has the first part, then the
// rest inside it); null if unknown. Records every field it passes through
// in `used` (as paths), and the resolved node's path in `path`.
const schema_node* resolve(std::string_view name, const std::vector<scope>& scopes,
                          std::set<std::string>* used, std::string& path) {
  static const schema_node dot{schema_node::leaf, {}};
  if (name == ".") {
    path = scopes.size() > 1 ? scopes.back().path : std::string();
    return scopes.size() > 1 ? scopes.back().node : &dot;
  }
  std::vector<std::string_view> parts;
  std::size_t b = 0;
  for (;;) {
    auto e = name.find('.', b);
    parts.push_back(name.substr(b, e == std::string_view::npos ? std::string_view::npos : e - b));
    if (e == std::string_view::npos) break;
    b = e + 1;
  }
  for (auto& p : parts)
    if (p.empty()) return nullptr;
  const schema_node* s = nullptr;
  for (auto it = scopes.rbegin(); it != scopes.rend() && !s; ++it) {
    if (it->node->kind == schema_node::leaf) continue;
    auto f = it->node->fields.find(std::string(parts[0]));
    if (f != it->node->fields.end()) {
      s = &f->second;
      path = join(it->path, f->first);
    }
  }
  if (s && used) used->insert(path);
  for (std::size_t i = 1; s && i < parts.size(); ++i) {
    if (s->kind != schema_node::map) return nullptr;
    auto f = s->fields.find(std::string(parts[i]));
    s = f == s->fields.end() ? nullptr : &f->second;
    path = join(path, parts[i]);
    if (s && used) used->insert(path);
  }
  return s;
}

}  // namespace

std::optional<std::pair<int, std::string>> mustache_check(std::string_view t, const schema_node& root,
                                                          int first_line, std::set<std::string>* used) {
  std::string open = "{{", close = "}}";
  struct section {
    std::string name;
    int line;
  };
  std::vector<section> sections;
  std::vector<scope> scopes{{&root, std::string()}};
  // Element scopes: a list pushes its element (fields), a map its fields, a
  // leaf an empty scope where only "." is meaningful.
  static const schema_node leaf_scope{schema_node::leaf, {}};
  std::deque<schema_node> elem_store;  // element views of lists (stable addresses)
  std::size_t pos = 0;
  while (true) {
    const auto p = t.find(open, pos);
    if (p == std::string_view::npos) break;
    const int line = line_of(t, p) + first_line - 1;
    std::size_t body = p + open.size();
    bool triple = false;
    if (open == "{{" && body < t.size() && t[body] == '{') triple = true;
    const std::string end = triple ? "}" + close : close;
    const auto q = t.find(end, body);
    if (q == std::string_view::npos) {
      return std::pair{line, "tag '" + std::string(t.substr(p, 20)) + "' is never closed (missing '" + end + "')"};
    }
    pos = q + end.size();
    std::string_view content = trim(t.substr(body, q - body));
    char kind = 0;
    if (triple) {
      content = trim(content.substr(1));
      kind = '&';
    } else if (!content.empty() && std::string_view("#^/!>&=").find(content[0]) != std::string_view::npos) {
      kind = content[0];
      content = trim(content.substr(1));
    }
    if (kind == '!') continue;
    if (kind == '=') {
      if (content.empty() || content.back() != '=') {
        return std::pair{line, "set-delimiter tag must end with '='"};
      }
      content = trim(content.substr(0, content.size() - 1));
      auto sp = content.find_first_of(" \t");
      if (sp == std::string_view::npos) return std::pair{line, "set-delimiter tag needs two delimiters"};
      auto a = trim(content.substr(0, sp)), b = trim(content.substr(sp));
      if (a.empty() || b.empty() || b.find_first_of(" \t") != std::string_view::npos || a.find('=') != std::string_view::npos ||
          b.find('=') != std::string_view::npos) {
        return std::pair{line, "set-delimiter tag needs two delimiters without '=' or spaces"};
      }
      open = std::string(a);
      close = std::string(b);
      continue;
    }
    if (kind == '>') return std::pair{line, "partials ({{> " + std::string(content) + "}}) are not supported"};
    if (content.empty()) return std::pair{line, "empty tag"};
    if (!name_chars_ok(content)) {
      return std::pair{line, "'" + std::string(content) + "' is not a valid name"};
    }
    if (kind == '/') {
      if (sections.empty()) {
        return std::pair{line, "closing {{/" + std::string(content) + "}} without an open section"};
      }
      if (sections.back().name != content) {
        return std::pair{line, "closing {{/" + std::string(content) + "}} does not match {{#" +
                                   sections.back().name + "}} opened on line " +
                                   std::to_string(sections.back().line)};
      }
      sections.pop_back();
      scopes.pop_back();
      continue;
    }
    std::string path;
    const schema_node* s = resolve(content, scopes, used, path);
    if (!s) {
      return std::pair{line, "unknown variable '" + std::string(content) +
                                 "' (not in the rendering context; see synthesis.hpp)"};
    }
    if (kind == '#' || kind == '^') {
      sections.push_back({std::string(content), line});
      if (kind == '^') {
        scopes.push_back(scopes.back());  // an inverted section does not change the context
      } else if (s->kind == schema_node::list) {
        elem_store.push_back(schema_node{s->fields.empty() ? schema_node::leaf : schema_node::map, s->fields});
        scopes.push_back({&elem_store.back(), path + "[]"});
      } else if (s->kind == schema_node::map) {
        scopes.push_back({s, path});
      } else {
        scopes.push_back({&leaf_scope, std::string()});
      }
    }
  }
  if (!sections.empty()) {
    return std::pair{sections.back().line,
                     "section {{#" + sections.back().name + "}} is never closed"};
  }
  return std::nullopt;
}

}  // namespace aikid::synthesis::detail
