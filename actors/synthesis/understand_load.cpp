// Understanding's data (synthesis.hpp section 10): config/understand/ —
// relations.toml (the language-neutral relations and roles) and one
// <lang>.toml per language (words, sentence patterns, phrases). All or
// nothing: the first bad line fails the load with "file:line: what".
//
//   1. reader       TOML access with file:line errors
//   2. patterns     "{subj} lives in {obj}" → items (words, alternatives, slots)
//   3. a language   lists, roles, words, [[tell]], [[ask]], [say]
//   4. the folder   understanding_load_dir
#include <algorithm>
#include <filesystem>
#include <toml++/toml.h>

#include "actors/synthesis/internal.hpp"
#include "actors/synthesis/toml_reader.hpp"
#include "actors/synthesis/understand_internal.hpp"

namespace aikid::synthesis {

namespace und {

// ---- 1. reader ------------------------------------------------------------------

namespace {

struct reader : detail::toml_reader {
  std::string string(const toml::table& t, std::string_view key, const std::string& where, bool required) {
    const toml::node* n = t.get(key);
    if (!n) {
      if (required) fail(line_of(t), "missing '" + where + std::string(key) + "'");
      return {};
    }
    if (!n->is_string()) fail(line_of(*n), where + std::string(key) + ": expected a string");
    return n->value<std::string>().value_or("");
  }
  bool boolean(const toml::table& t, std::string_view key, const std::string& where) {
    const toml::node* n = t.get(key);
    if (!n) return false;
    if (!n->is_boolean()) fail(line_of(*n), where + std::string(key) + ": expected true or false");
    return n->value<bool>().value_or(false);
  }
  // An array of strings (each a phrase of one or more words).
  std::vector<std::string> strings(const toml::node* n, const std::string& where) {
    std::vector<std::string> out;
    if (!n) return out;
    const auto* arr = n->as_array();
    if (!arr) {
      fail(line_of(*n), where + ": expected an array of strings");
      return out;
    }
    for (auto&& el : *arr) {
      if (!el.is_string()) {
        fail(line_of(el), where + ": expected an array of strings");
        return out;
      }
      out.push_back(*el.value<std::string>());
    }
    return out;
  }
  phrases phrase_list(const toml::table& t, std::string_view key, bool required) {
    const toml::node* n = t.get(key);
    if (!n && required) fail(line_of(t), "missing '" + std::string(key) + "'");
    phrases out;
    for (const auto& s : strings(n, std::string(key))) {
      auto p = words_of(s);
      if (p.empty()) fail(line_of(*n), std::string(key) + ": '" + s + "' has no words");
      out.push_back(std::move(p));
    }
    return out;
  }
};

}  // namespace

phrase words_of(std::string_view text) {
  phrase p;
  for (const auto& t : tokenize(text)) p.push_back(t.w);
  return p;
}

// ---- 2. patterns ------------------------------------------------------------------

namespace {

constexpr std::string_view kSlots[] = {"subj", "np", "thing", "role", "name", "obj", "obj2", "act",
                                       "loc",  "time", "num", "x",   "y",    "w"};

// "{subj} [now|still] live|lives in {obj}" → items. Fails with the reason.
expected<std::vector<item>> pattern_parse(std::string_view text) {
  std::vector<item> out;
  std::size_t i = 0;
  auto word_alts = [](std::string_view s) {
    std::vector<phrase> alts;
    std::size_t b = 0;
    while (b <= s.size()) {
      auto e = s.find('|', b);
      if (e == std::string_view::npos) e = s.size();
      auto p = words_of(s.substr(b, e - b));
      if (!p.empty()) alts.push_back(std::move(p));
      b = e + 1;
    }
    return alts;
  };
  while (i < text.size()) {
    if (text[i] == ' ') {
      ++i;
      continue;
    }
    if (text[i] == '{') {
      auto e = text.find('}', i);
      if (e == std::string_view::npos) return error{errc::bad_request, "'{' without '}'"};
      std::string name(text.substr(i + 1, e - i - 1));
      if (std::find(std::begin(kSlots), std::end(kSlots), name) == std::end(kSlots))
        return error{errc::bad_request, "unknown slot {" + name + "}"};
      item it;
      it.slot = name;
      out.push_back(std::move(it));
      i = e + 1;
      continue;
    }
    if (text[i] == '[') {
      auto e = text.find(']', i);
      if (e == std::string_view::npos) return error{errc::bad_request, "'[' without ']'"};
      item it;
      it.optional = true;
      it.alts = word_alts(text.substr(i + 1, e - i - 1));
      if (it.alts.empty()) return error{errc::bad_request, "'[]' has no words"};
      out.push_back(std::move(it));
      i = e + 1;
      continue;
    }
    auto e = text.find(' ', i);
    if (e == std::string_view::npos) e = text.size();
    item it;
    it.alts = word_alts(text.substr(i, e - i));
    if (it.alts.empty()) return error{errc::bad_request, "'" + std::string(text.substr(i, e - i)) + "' has no words"};
    out.push_back(std::move(it));
    i = e;
  }
  if (out.empty()) return error{errc::bad_request, "empty pattern"};
  return out;
}

constexpr std::string_view kTellKinds[] = {"name", "group", "count", "when", "where", "value", "does"};
constexpr std::string_view kAskKinds[] = {"name", "who", "count", "when", "where", "value", "does", "about"};

void read_rules(reader& r, const toml::table& root, std::string_view key, bool ask, const understanding& u,
                std::vector<rule>& out) {
  const toml::node* n = root.get(key);
  if (!n) return r.fail(1, "missing [[" + std::string(key) + "]]");
  const auto* arr = n->as_array();
  if (!arr) return r.fail(reader::line_of(*n), std::string(key) + ": expected [[" + std::string(key) + "]] tables");
  for (auto&& el : *arr) {
    const auto* t = el.as_table();
    if (!t) return r.fail(reader::line_of(el), std::string(key) + ": expected a table");
    const std::string where = std::string(key) + ".";
    r.only(*t, std::string(key), {"pattern", "fact", "fact2", "check", "ing", "not_self", "reverse"});
    rule ru;
    ru.line = reader::line_of(*t);
    ru.text = r.string(*t, "pattern", where, true);
    ru.fact = r.string(*t, "fact", where, true);
    ru.fact2 = r.string(*t, "fact2", where, false);
    ru.check = r.boolean(*t, "check", where);
    ru.ing = r.boolean(*t, "ing", where);
    ru.not_self = r.boolean(*t, "not_self", where);
    ru.reverse = r.boolean(*t, "reverse", where);
    if (ru.reverse && (!ask || !u.relations.count(ru.fact)))
      return r.fail(ru.line, "reverse: only for a question about a relation of relations.toml");
    auto items = pattern_parse(ru.text);
    if (!items) return r.fail(ru.line, "pattern '" + ru.text + "': " + items.error().message);
    ru.items = std::move(*items);
    auto known = [&](const std::string& f) {
      if (u.relations.count(f)) return true;
      const auto* kinds = ask ? std::begin(kAskKinds) : std::begin(kTellKinds);
      const auto* end = ask ? std::end(kAskKinds) : std::end(kTellKinds);
      return std::find(kinds, end, f) != end;
    };
    if (!known(ru.fact)) return r.fail(ru.line, "fact '" + ru.fact + "': not a relation of relations.toml nor a kind");
    if (!ru.fact2.empty() && !u.relations.count(ru.fact2))
      return r.fail(ru.line, "fact2 '" + ru.fact2 + "': not a relation of relations.toml");
    out.push_back(std::move(ru));
  }
}

// ---- 3. a language -------------------------------------------------------------------

constexpr std::string_view kSayKeys[] = {"told", "yes", "no", "dont_know", "dont_know_who", "forgot", "forgot_none",
                                         "about", "about_none", "memory", "memory_on", "name", "named_role", "owned_role", "owned_what", "value", "where",
                                         "when", "when_repeat", "does", "and", "noted", "count", "count_you"};

expected<lang_rules> read_lang(const std::string& file, const toml::table& root, const understanding& u) {
  reader r{{file, std::nullopt}};
  r.only(root, "", {"lang", "self", "mine", "pronouns", "articles", "stop", "places", "fillers", "negations",
                    "hypotheticals", "reported", "questions", "corrections", "forget", "who", "who_of", "aux_keep", "aux_s", "aux_drop", "markers", "numbers", "ranks", "roles",
                    "suffixes", "conjunctions", "ends", "flip", "she", "he", "expand", "act_not", "definite", "it_is", "past_endings",
                    "words", "compounds", "genders", "tell", "ask", "say"});
  lang_rules L;
  L.file = file;
  L.lang = r.string(root, "lang", "", true);
  auto set_of = [&](std::string_view key, bool required) {
    std::set<std::string> s;
    for (auto& p : r.phrase_list(root, key, required)) s.insert(join(p));
    return s;
  };
  L.self = set_of("self", true);
  L.mine = set_of("mine", true);
  L.pronouns = set_of("pronouns", true);
  L.she = set_of("she", true);
  L.he = set_of("he", true);
  L.articles = set_of("articles", true);
  L.stop = set_of("stop", true);
  L.markers = set_of("markers", true);
  L.questions = set_of("questions", true);
  L.places = r.phrase_list(root, "places", true);
  L.fillers = r.phrase_list(root, "fillers", true);
  L.negations = r.phrase_list(root, "negations", true);
  L.hypotheticals = r.phrase_list(root, "hypotheticals", true);
  L.reported = r.phrase_list(root, "reported", true);
  L.corrections = r.phrase_list(root, "corrections", true);
  L.forget = r.phrase_list(root, "forget", true);
  L.who = r.phrase_list(root, "who", false);
  L.aux_keep = set_of("aux_keep", false);
  L.aux_s = set_of("aux_s", false);
  L.aux_drop = set_of("aux_drop", false);
  L.who_of = r.phrase_list(root, "who_of", false);
  L.conjunctions = set_of("conjunctions", true);
  L.ends = set_of("ends", false);
  L.act_not = set_of("act_not", true);
  L.it_is = r.phrase_list(root, "it_is", true);
  for (const auto& w : r.strings(root.get("definite"), "definite")) L.definite.push_back(join(words_of(w)));
  for (const auto& w : r.strings(root.get("past_endings"), "past_endings")) L.past_endings.push_back(join(words_of(w)));
  if (const auto* ex = root.get_as<toml::table>("expand")) {
    for (auto&& [k, v] : *ex) {
      if (!v.is_string()) r.fail(reader::line_of(v), "expand." + std::string(k.str()) + ": expected a string");
      L.expand.emplace_back(words_of(k.str()), words_of(v.value<std::string>().value_or("")));
    }
  } else {
    r.fail(1, "missing 'expand'");
  }
  for (const auto& w : r.strings(root.get("suffixes"), "suffixes")) L.suffixes.push_back(join(words_of(w)));
  if (const auto* flip = root.get_as<toml::table>("flip")) {
    for (auto&& [k, v] : *flip) {
      if (!v.is_string()) r.fail(reader::line_of(v), "flip." + std::string(k.str()) + ": expected a string");
      L.flip[join(words_of(k.str()))] = v.value<std::string>().value_or("");
    }
  } else {
    r.fail(1, "missing 'flip'");
  }
  if (const auto* nums = root.get_as<toml::table>("numbers")) {
    for (auto&& [k, v] : *nums) {
      if (!v.is_integer()) r.fail(reader::line_of(v), "numbers." + std::string(k.str()) + ": expected an integer");
      L.numbers[join(words_of(k.str()))] = static_cast<int>(v.value<std::int64_t>().value_or(0));
    }
  }
  if (const auto* ranks = root.get_as<toml::table>("ranks")) {
    for (auto&& [k, v] : *ranks)
      for (const auto& w : r.strings(&v, "ranks." + std::string(k.str()))) L.ranks[join(words_of(w))] = std::string(k.str());
  }
  if (const auto* roles = root.get_as<toml::table>("roles")) {
    for (auto&& [k, v] : *roles) {
      const std::string id(k.str());
      const auto* t = v.as_table();
      if (!u.roles.count(id)) {
        r.fail(reader::line_of(v), "roles." + id + ": not a role of relations.toml");
        continue;
      }
      if (!t) {
        r.fail(reader::line_of(v), "roles." + id + ": expected { one = [...], many = [...] }");
        continue;
      }
      r.only(*t, "roles." + id, {"one", "many", "gender"});
      role_words rw;
      rw.id = id;
      rw.one = r.strings(t->get("one"), "roles." + id + ".one");
      rw.many = r.strings(t->get("many"), "roles." + id + ".many");
      rw.gender = r.string(*t, "gender", "roles." + id + ".", false);
      if (rw.one.empty()) r.fail(reader::line_of(v), "roles." + id + ".one: at least one word");
      for (const auto& f : rw.one) L.role_forms[join(words_of(f))] = {id, false};
      for (const auto& f : rw.many) L.role_forms[join(words_of(f))] = {id, true};
      L.roles[id] = std::move(rw);
    }
  } else {
    r.fail(1, "missing [roles]");
  }
  if (const auto* words = root.get_as<toml::table>("words")) {
    for (auto&& [k, v] : *words)
      for (const auto& f : r.strings(&v, "words." + std::string(k.str()))) {
        L.concepts[join(words_of(f))] = std::string(k.str());
        L.concept_say.emplace(std::string(k.str()), f);
      }
  }
  if (const auto* comp = root.get_as<toml::table>("compounds")) {
    for (auto&& [k, v] : *comp) {
      if (!v.is_string()) r.fail(reader::line_of(v), "compounds." + std::string(k.str()) + ": expected a string");
      L.compounds.emplace_back(join(words_of(k.str())), v.value<std::string>().value_or(""));
    }
  }
  if (const auto* g = root.get_as<toml::table>("genders")) {
    r.only(*g, "genders", {"n", "plural"});
    for (const auto& w : r.strings(g->get("n"), "genders.n")) L.neuter.insert(join(words_of(w)));
    for (const auto& w : r.strings(g->get("plural"), "genders.plural")) L.plural.insert(join(words_of(w)));
  }
  read_rules(r, root, "tell", false, u, L.tell);
  read_rules(r, root, "ask", true, u, L.ask);
  if (const auto* say = root.get_as<toml::table>("say")) {
    for (auto&& [k, v] : *say) {
      if (!v.is_string()) r.fail(reader::line_of(v), "say." + std::string(k.str()) + ": expected a string");
      L.say[std::string(k.str())] = v.value<std::string>().value_or("");
    }
    for (auto key : kSayKeys)
      if (!L.say.count(std::string(key))) r.fail(reader::line_of(*say), "missing 'say." + std::string(key) + "'");
    for (const auto& [id, meta] : u.relations)
      if (!L.say.count(id)) r.fail(reader::line_of(*say), "missing 'say." + id + "' (a relation of relations.toml)");
  } else {
    r.fail(1, "missing [say]");
  }
  if (r.err) return *r.err;
  return L;
}

expected<void> read_relations(const std::string& file, const toml::table& root, understanding& u) {
  reader r{{file, std::nullopt}};
  r.only(root, "", {"roles", "relations"});
  if (const auto* roles = root.get_as<toml::table>("roles")) {
    for (auto&& [k, v] : *roles) {
      const auto* t = v.as_table();
      if (!t) {
        r.fail(reader::line_of(v), "roles." + std::string(k.str()) + ": expected a table");
        continue;
      }
      r.only(*t, "roles." + std::string(k.str()), {"single", "pet", "sex"});
      role_meta m;
      m.single = r.boolean(*t, "single", "roles." + std::string(k.str()) + ".");
      m.pet = r.boolean(*t, "pet", "roles." + std::string(k.str()) + ".");
      m.sex = r.string(*t, "sex", "roles." + std::string(k.str()) + ".", false);
      if (!m.sex.empty() && m.sex != "f" && m.sex != "m") r.fail(reader::line_of(v), "roles." + std::string(k.str()) + ".sex: \"f\" or \"m\"");
      u.roles[std::string(k.str())] = m;
    }
  } else {
    r.fail(1, "missing [roles]");
  }
  if (const auto* rels = root.get_as<toml::table>("relations")) {
    for (auto&& [k, v] : *rels) {
      const auto* t = v.as_table();
      const std::string id(k.str());
      if (!t) {
        r.fail(reader::line_of(v), "relations." + id + ": expected a table");
        continue;
      }
      r.only(*t, "relations." + id, {"single", "dated", "model", "also", "place"});
      relation_meta m;
      m.place = r.boolean(*t, "place", "relations." + id + ".");
      m.single = r.boolean(*t, "single", "relations." + id + ".");
      m.dated = r.boolean(*t, "dated", "relations." + id + ".");
      for (const auto& w : r.strings(t->get("model"), "relations." + id + ".model")) u.model_words[join(words_of(w))] = id;
      m.also = r.strings(t->get("also"), "relations." + id + ".also");
      u.relations[id] = m;
    }
  } else {
    r.fail(1, "missing [relations]");
  }
  if (r.err) return *r.err;
  return {};
}

}  // namespace

}  // namespace und

// ---- 4. the folder -------------------------------------------------------------------------

expected<understanding_ptr> understanding_load_dir(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return error{errc::unavailable, "understanding: " + dir.string() + " is not a folder"};
  auto parse = [](const fs::path& p) -> expected<toml::table> {
    try {
      return toml::parse_file(p.string());
    } catch (const toml::parse_error& e) {
      return error{errc::bad_request, p.string() + ":" + std::to_string(e.source().begin.line) + ": " +
                                          std::string(e.description())};
    }
  };
  auto u = std::make_shared<understanding>();
  const auto rel_path = dir / "relations.toml";
  if (!fs::exists(rel_path, ec)) return error{errc::unavailable, "understanding: " + rel_path.string() + " is missing"};
  auto rel = parse(rel_path);
  if (!rel) return rel.error();
  if (auto ok = und::read_relations(rel_path.string(), *rel, *u); !ok) return ok.error();
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().extension() == ".toml" && e.path().filename() != "relations.toml") files.push_back(e.path());
  if (ec) return error{errc::unavailable, "understanding: " + dir.string() + ": " + ec.message()};
  std::sort(files.begin(), files.end());
  if (files.empty()) return error{errc::unavailable, "understanding: " + dir.string() + " has no language file"};
  for (const auto& f : files) {
    auto t = parse(f);
    if (!t) return t.error();
    auto L = und::read_lang(f.string(), *t, *u);
    if (!L) return L.error();
    if (L->lang != f.stem().string())
      return error{errc::bad_request, f.string() + ":1: lang '" + L->lang + "' is not the file's name"};
    u->langs.push_back(std::move(*L));
  }
  return understanding_ptr(std::move(u));
}

}  // namespace aikid::synthesis
