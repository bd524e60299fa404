// Understanding (synthesis.hpp section 10): a sentence about the user's life
// becomes facts in their part of the graph; a question about it is answered
// from the graph. The words and patterns are data (understand_load.cpp); this
// file is the grammar, in data-flow order:
//
//   1. words        tokenize: case-folded words with their bytes; a time
//                   expression (when_find) becomes one {time} word
//   2. phrases      noun phrases ("my brother Jonas", "nummeret på skapet mitt"),
//                   subjects, names, keys of things
//   3. matching     a pattern against a sentence's words (backtracking over slots)
//   4. saying       a fact as a sentence in a language ("Broren din bor i Stavanger.")
//   5. telling      a statement → triples → the graph (single-valued: replaced)
//   6. asking       a question → facts → the answer; else a memory; else "don't know"
//   7. understand   sentences, clauses, corrections, "forget that"
#include <algorithm>
#include <cctype>
#include <utf8proc.h>

#include "actors/synthesis/internal.hpp"
#include "actors/synthesis/understand_internal.hpp"
#include "common/utf8.hpp"

namespace aikid::synthesis {

using json = nlohmann::json;

struct understand_state {
  struct per_user {
    std::string last_person;  // entity name
    std::map<std::string, std::string> last_of_sex;  // "f"/"m" → the last woman/man named
    std::map<std::string, std::string> sex_of;       // person → "f"/"m", from a role said of them
    std::optional<fact> last_dated;
    std::string group_role;   // "I have two sisters." — the next names are sisters
    int group_left = 0;       // percepts it still holds for
  };
  std::map<std::string, per_user, std::less<>> users;
};
void understand_state_closer::operator()(understand_state* s) const noexcept { delete s; }
understand_state_ptr understand_state_new() { return understand_state_ptr(new understand_state); }

namespace und {

// ---- 1. words -----------------------------------------------------------------------

namespace {

bool is_word_cp(utf8proc_int32_t c) {
  const auto cat = utf8proc_category(c);
  return (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_NO);  // letters, marks, numbers
}
bool is_digit_cp(utf8proc_int32_t c) { return c >= '0' && c <= '9'; }

}  // namespace

std::vector<tok> tokenize(std::string_view text) {
  std::vector<tok> out;
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  const auto n = static_cast<utf8proc_ssize_t>(text.size());
  std::vector<std::pair<utf8proc_int32_t, std::size_t>> cps;  // codepoint, byte offset
  for (utf8proc_ssize_t i = 0; i < n;) {
    utf8proc_int32_t c = 0;
    auto len = utf8proc_iterate(p + i, n - i, &c);
    if (len <= 0) {
      c = 0xFFFD;
      len = 1;
    }
    cps.emplace_back(c, static_cast<std::size_t>(i));
    i += len;
  }
  cps.emplace_back(0, text.size());
  auto word_at = [&](std::size_t k) { return k + 1 < cps.size() && is_word_cp(cps[k].first); };
  std::size_t k = 0;
  while (k + 1 < cps.size()) {
    const auto c = cps[k].first;
    if (c == ',' || c == ';' || c == ':') {
      out.push_back({std::string(1, static_cast<char>(c)), cps[k].second, cps[k + 1].second});
      ++k;
      continue;
    }
    if ((c == '\'' || c == 0x2019) && k + 2 < cps.size() && (cps[k + 1].first == 's' || cps[k + 1].first == 'S') &&
        !word_at(k + 2)) {  // "'s" alone (a pattern's word)
      out.push_back({"'s", cps[k].second, cps[k + 2].second});
      k += 2;
      continue;
    }
    if (!word_at(k)) {
      ++k;
      continue;
    }
    const std::size_t start = k;
    bool digit = false;
    while (k + 1 < cps.size()) {
      const auto d = cps[k].first;
      if (is_word_cp(d)) {
        digit = digit || is_digit_cp(d);
        ++k;
        continue;
      }
      // inside a word: don't, wi-fi, 11:15, 07.40
      const bool apostrophe = d == '\'' || d == 0x2019;
      const bool joiner = apostrophe || d == '-' || ((d == ':' || d == '.') && k > start && is_digit_cp(cps[k - 1].first));
      if (joiner && k > start && word_at(k + 1) && (d != ':' && d != '.' ? true : is_digit_cp(cps[k + 1].first))) {
        if (apostrophe && k + 2 < cps.size() && (cps[k + 1].first == 's' || cps[k + 1].first == 'S') &&
            !word_at(k + 2))
          break;  // "cat's": "'s" is a word of its own
        ++k;
        continue;
      }
      break;
    }
    tok t;
    t.b = cps[start].second;
    t.e = cps[k].second;
    std::string raw(text.substr(t.b, t.e - t.b));
    for (std::size_t i = 0; (i = raw.find("\xE2\x80\x99", i)) != std::string::npos;) raw.replace(i, 3, "'");
    t.w = detail::text_key(raw);
    t.cap = utf8proc_category(cps[start].first) == UTF8PROC_CATEGORY_LU;
    t.digit = digit;
    out.push_back(std::move(t));
    // "'s" after a word
    if (k + 2 < cps.size() && (cps[k].first == '\'' || cps[k].first == 0x2019) &&
        (cps[k + 1].first == 's' || cps[k + 1].first == 'S') && !word_at(k + 2)) {
      out.push_back({"'s", cps[k].second, cps[k + 2].second});
      k += 2;
    }
  }
  return out;
}

namespace {

using toks = std::vector<tok>;
constexpr std::size_t npos = std::string::npos;
// Bounds: a sentence of more words than this is no fact of anyone's life (it
// goes on to the model); a value longer than this is none either. They keep a
// hostile 20 KB percept from costing the matcher seconds.
constexpr std::size_t kMaxWords = 48;
constexpr std::size_t kMaxValueBytes = 200;
constexpr std::size_t kMaxSentences = 16;

bool is_punct(const tok& t) { return t.w == "," || t.w == ";" || t.w == ":"; }

// The length of the first phrase of `list` at t[i], or 0.
std::size_t phrase_at(const phrases& list, const toks& t, std::size_t i, std::size_t end) {
  std::size_t best = 0;
  for (const auto& p : list) {
    if (p.size() > end - i || p.size() <= best) continue;
    bool ok = true;
    for (std::size_t j = 0; j < p.size() && ok; ++j) ok = !t[i + j].time && t[i + j].w == p[j];
    if (ok) best = p.size();
  }
  return best;
}

// The text of words b..e as said; bytes that are not UTF-8 become U+FFFD, as
// the words read them (a value never carries them into the graph or a reply).
std::string span_text(std::string_view text, const toks& t, std::size_t b, std::size_t e) {
  if (b >= e) return {};
  return utf8_repaired(text.substr(t[b].b, t[e - 1].e - t[b].b));
}

std::string upper_first(std::string s) {
  if (s.empty()) return s;
  utf8proc_int32_t c = 0;
  auto len = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data()), static_cast<utf8proc_ssize_t>(s.size()), &c);
  if (len <= 0) return s;
  utf8proc_uint8_t buf[4];
  auto m = utf8proc_encode_char(utf8proc_toupper(c), buf);
  return std::string(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(m)) + s.substr(static_cast<std::size_t>(len));
}

std::string fill(std::string s, const std::vector<std::pair<std::string, std::string>>& vars) {
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    if (s[i] == '{') {
      auto e = s.find('}', i);
      if (e != npos) {
        const std::string name = s.substr(i + 1, e - i - 1);
        bool found = false;
        for (const auto& [k, v] : vars)
          if (k == name) {
            out += v;
            found = true;
            break;
          }
        if (!found) out += s.substr(i, e - i + 1);
        i = e + 1;
        continue;
      }
    }
    out += s[i++];
  }
  // "som  utvikler": an empty article leaves two spaces
  std::string clean;
  for (char c : out)
    if (!(c == ' ' && !clean.empty() && clean.back() == ' ')) clean += c;
  return clean;
}

// ---- 2. phrases ----------------------------------------------------------------------

// A word's id for keys: a word of [words], a role, else the word less an ending.
std::vector<std::string> word_ids(const lang_rules& L, const std::string& w) {
  if (auto it = L.concepts.find(w); it != L.concepts.end()) return {it->second};
  if (auto it = L.role_forms.find(w); it != L.role_forms.end()) return {it->second.first};
  for (const auto& [prefix, id] : L.compounds) {
    if (w.size() > prefix.size() + 2 && w.compare(0, prefix.size(), prefix) == 0) {
      auto rest = word_ids(L, w.substr(prefix.size()));
      rest.insert(rest.begin(), id);
      return rest;
    }
  }
  for (const auto& s : L.suffixes)
    if (w.size() >= s.size() + 3 && w.compare(w.size() - s.size(), s.size(), s) == 0) return {w.substr(0, w.size() - s.size())};
  return {w};
}

std::vector<std::string> key_of(const lang_rules& L, const toks& t, std::size_t b, std::size_t e) {
  std::vector<std::string> k;
  for (std::size_t i = b; i < e; ++i) {
    if (t[i].time || is_punct(t[i]) || L.stop.count(t[i].w) || L.articles.count(t[i].w) || L.mine.count(t[i].w) ||
        L.self.count(t[i].w))
      continue;
    // a role of several words ("best friend")
    bool multi = false;
    for (std::size_t j = std::min(e, i + 3); j > i + 1; --j) {
      std::string ws;
      for (std::size_t x = i; x < j; ++x) ws += (ws.empty() ? "" : " ") + t[x].w;
      if (auto it = L.role_forms.find(ws); it != L.role_forms.end()) {
        k.push_back(it->second.first);
        i = j - 1;
        multi = true;
        break;
      }
    }
    if (multi) continue;
    for (auto& id : word_ids(L, t[i].w)) k.push_back(std::move(id));
  }
  std::sort(k.begin(), k.end());
  k.erase(std::unique(k.begin(), k.end()), k.end());
  return k;
}

std::string key_str(const std::vector<std::string>& k) {
  std::string s;
  for (const auto& w : k) s += (s.empty() ? "" : " ") + w;
  return s;
}

std::vector<std::string> key_split(std::string_view s) {
  std::vector<std::string> k;
  std::size_t b = 0;
  while (b < s.size()) {
    auto e = s.find(' ', b);
    if (e == npos) e = s.size();
    if (e > b) k.emplace_back(s.substr(b, e - b));
    b = e + 1;
  }
  return k;
}

// How well a question's key names a stored one: 0 when not at all.
double key_score(const std::vector<std::string>& q, const std::vector<std::string>& f) {
  if (q.empty() || f.empty()) return 0;
  std::size_t common = 0;
  for (const auto& w : q) common += std::binary_search(f.begin(), f.end(), w);
  if (common == q.size()) return 1.0 + static_cast<double>(common) / static_cast<double>(f.size());
  const double jac = static_cast<double>(common) / static_cast<double>(q.size() + f.size() - common);
  return jac >= 0.5 ? jac : 0;
}

// The role the words t[b,e) name, with plural; nothing when they name none.
std::optional<std::pair<std::string, bool>> role_of(const lang_rules& L, const toks& t, std::size_t b, std::size_t e) {
  if (b >= e || e - b > 4) return std::nullopt;
  std::string ws, content;  // content: without words a key leaves out ("my other close friend")
  for (std::size_t i = b; i < e; ++i) {
    if (t[i].time) return std::nullopt;
    ws += (ws.empty() ? "" : " ") + t[i].w;
    if (!L.stop.count(t[i].w)) content += (content.empty() ? "" : " ") + t[i].w;
  }
  if (auto it = L.role_forms.find(ws); it != L.role_forms.end()) return it->second;
  if (auto it = L.role_forms.find(content); it != L.role_forms.end()) return it->second;
  return std::nullopt;
}

bool is_function_word(const lang_rules& L, const std::string& w) {
  return L.self.count(w) || L.mine.count(w) || L.articles.count(w) || L.pronouns.count(w) || L.stop.count(w) ||
         L.questions.count(w) || L.conjunctions.count(w);
}

bool name_ok(const lang_rules& L, const toks& t, std::size_t b, std::size_t e) {
  if (b >= e || e - b > 4) return false;
  for (std::size_t i = b; i < e; ++i) {
    if (t[i].time || is_punct(t[i]) || t[i].w == "'s") return false;
    if (!t[i].cap && !t[i].digit) return false;
  }
  if (!t[b].cap) return false;  // "41" is no name
  if (is_function_word(L, t[b].w) || L.role_forms.count(t[b].w) || L.concepts.count(t[b].w)) return false;
  return true;
}

struct np_info {
  bool owned = false;
  bool article = false;  // "the …": not the user's
  std::string role;  // a role id, or ""
  bool plural = false;
  std::string name;  // a name said with it ("my brother Jonas")
  std::vector<std::string> key;
  std::size_t b = 0, e = 0;        // the phrase
  std::size_t noun_e = 0;          // where the words before the name end
  std::string rank;                // "my older sister": older (a language-neutral id of [ranks])
};

std::optional<np_info> np_parse(const lang_rules& L, std::string_view text, const toks& t, std::size_t b, std::size_t e) {
  if (b >= e || e - b > 8) return std::nullopt;
  for (std::size_t i = b; i < e; ++i)
    if (t[i].time || is_punct(t[i]) || (t[i].w == "'s" && (i == b || i + 1 == e))) return std::nullopt;
  for (std::size_t i = b; i < e; ++i)  // "his teacher", "læreren hans": someone else's
    if (L.pronouns.count(t[i].w) && !L.self.count(t[i].w)) return std::nullopt;
  np_info np;
  np.b = b;
  np.e = e;
  std::size_t p = npos;
  for (std::size_t i = b; i < e; ++i)
    if (L.mine.count(t[i].w)) {
      p = i;
      break;
    }
  std::size_t cb = b, ce = e;  // content words
  std::size_t after_b = e;     // words after a possessive that follows the noun
  if (p == b) {
    np.owned = true;
    cb = b + 1;
  } else if (p != npos) {
    np.owned = true;
    ce = p;
    after_b = p + 1;
    while (cb < ce && L.articles.count(t[cb].w)) ++cb;  // "the code for my gym locker"
  } else if (L.articles.count(t[b].w)) {
    cb = b + 1;
    np.article = true;
  }
  if (p == b || np.article) {  // "my other close friend": the words a key leaves out, before the noun
    while (cb + 1 < ce && L.stop.count(t[cb].w) && !L.role_forms.count(t[cb].w)) ++cb;
  }
  if (p == npos && !np.article) {
    // a bare phrase begins with a word of a thing or a role ("Koden til postkassen"),
    // or a noun in bestemt form ("Foreldremøtet")
    const auto ids = word_ids(L, t[b].w);
    bool definite = false;
    for (const auto& d : L.definite)
      definite = definite || (t[b].w.size() >= d.size() + 3 && t[b].w.compare(t[b].w.size() - d.size(), d.size(), d) == 0);
    if (!L.concepts.count(t[b].w) && !L.role_forms.count(t[b].w) && ids.size() < 2 && !definite) return std::nullopt;
  }
  if (cb >= ce) return std::nullopt;
  if (is_function_word(L, t[cb].w) && !L.role_forms.count(t[cb].w)) return std::nullopt;
  // a name at the end: "my brother Jonas", "onkelen min Per"
  std::size_t name_b = npos;
  if (after_b < e) {
    if (name_ok(L, t, after_b, e)) {
      name_b = after_b;
    } else {
      ce = e;  // "toget mitt til Bergen": the rest belongs to the phrase
    }
  } else {
    for (std::size_t i = ce - 1; i > cb; --i) {
      if (name_ok(L, t, i, ce)) name_b = i;
      else break;
    }
    // a name follows a role ("my brother Jonas"); "my flight to London" has none, and
    // "moren til Ida" is Ida's mother, not a mother called Ida
    if (name_b != npos && !role_of(L, t, cb, name_b)) name_b = npos;
    if (name_b != npos && name_b > cb && (t[name_b - 1].w == "til" || t[name_b - 1].w == "of")) return std::nullopt;
    if (name_b != npos) ce = name_b;
  }
  if (name_b != npos) np.name = span_text(text, t, name_b, e);
  // the role: the words before the name (possessive aside)
  std::size_t re = (p != npos && p > b) ? p : ce;
  if (auto r = role_of(L, t, cb, re); r && (p == npos || p == b || ce == p)) {
    np.role = r->first;
    np.plural = r->second;
  }
  if (!np.name.empty() && np.role.empty()) return std::nullopt;  // "bandet mitt Kaizers"
  np.noun_e = name_b != npos ? name_b : e;
  for (std::size_t i = b; i < np.noun_e && !np.role.empty(); ++i)
    if (auto it = L.ranks.find(t[i].w); it != L.ranks.end()) np.rank = it->second;
  np.key = key_of(L, t, cb, ce);
  if (np.key.empty() || key_str(np.key).size() > kMaxValueBytes) return std::nullopt;  // a key is a relation's name
  return np;
}

enum class subj_kind { self, pronoun, np, name, owned };
struct subj_info {
  subj_kind kind = subj_kind::self;
  np_info np;
  std::string name;
  std::size_t b = 0, e = 0;
  // owned: someone else's role ("his sister Fatima", "Søsteren hennes, Julie", "Jamal's sister",
  // "moren til Magnus"): the owner is a pronoun (owner_at) or a name (name); the role and a name in np
  std::size_t owner_at = static_cast<std::size_t>(-1);
};

// "his sister Fatima" / "søsteren hennes Julie" / "Jamal's sister" / "moren til Magnus"
std::optional<subj_info> owned_parse(const lang_rules& L, std::string_view text, const toks& t, std::size_t b, std::size_t e) {
  if (e - b < 2 || e - b > 8) return std::nullopt;
  subj_info s;
  s.kind = subj_kind::owned;
  s.b = b;
  s.e = e;
  auto role_then_name = [&](std::size_t rb, std::size_t re_max) -> bool {  // a role, then perhaps a name to re_max
    for (std::size_t k = std::min(re_max, rb + 4); k > rb; --k)
      if (auto r = role_of(L, t, rb, k)) {
        if (k < re_max && !name_ok(L, t, k, re_max)) continue;
        s.np.role = r->first;
        s.np.plural = r->second;
        if (k < re_max) s.np.name = span_text(text, t, k, re_max);
        return true;
      }
    return false;
  };
  const auto possessive = [&](std::size_t i) { return L.pronouns.count(t[i].w) && (L.she.count(t[i].w) || L.he.count(t[i].w)); };
  if (possessive(b) && role_then_name(b + 1, e)) {  // his sister Fatima
    s.owner_at = b;
    return s;
  }
  for (std::size_t k = b + 1; k < e; ++k) {
    if (possessive(k) && role_of(L, t, b, k)) {  // søsteren hennes [Julie]
      s.owner_at = k;
      if (!role_then_name(b, k)) return std::nullopt;
      if (k + 1 < e) {
        if (!name_ok(L, t, k + 1, e)) return std::nullopt;
        s.np.name = span_text(text, t, k + 1, e);
      }
      return s;
    }
    if (t[k].w == "'s" && name_ok(L, t, b, k) && role_then_name(k + 1, e)) {  // Jamal's sister
      s.name = span_text(text, t, b, k);
      return s;
    }
    if (t[k].w == "til" && k + 1 < e && role_of(L, t, b, k) && name_ok(L, t, k + 1, e)) {  // moren til Magnus
      role_then_name(b, k);
      s.name = span_text(text, t, k + 1, e);
      return s;
    }
  }
  return std::nullopt;
}

std::optional<subj_info> subj_parse(const lang_rules& L, std::string_view text, const toks& t, std::size_t b, std::size_t e) {
  subj_info s;
  s.b = b;
  s.e = e;
  if (e == b + 1 && L.self.count(t[b].w)) return s;
  if (e == b + 1 && L.pronouns.count(t[b].w)) {
    s.kind = subj_kind::pronoun;
    return s;
  }
  if (auto np = np_parse(L, text, t, b, e); np && (np->owned || !np->role.empty())) {
    if (np->role.empty()) return std::nullopt;  // a thing does not live anywhere
    s.kind = subj_kind::np;
    s.np = std::move(*np);
    return s;
  }
  if (name_ok(L, t, b, e)) {
    s.kind = subj_kind::name;
    s.name = span_text(text, t, b, e);
    return s;
  }
  return owned_parse(L, text, t, b, e);
}

// ---- 3. matching ------------------------------------------------------------------------

struct bound {
  std::size_t b = 0, e = 0;
};
struct match_result {
  std::map<std::string, bound> slots;
  std::vector<bool> literal;  // words the pattern's own words matched
};

bool slot_shape_ok(const lang_rules& L, std::string_view text, const std::string& slot, const toks& t, std::size_t b,
                   std::size_t e) {
  if (b >= e || e > t.size()) return false;  // a slot holds a word at least (one at the very end had none: the fuzzer)
  const std::size_t len = e - b;
  if (slot == "time") return len == 1 && t[b].time;
  for (std::size_t i = b; i < e; ++i)
    if (t[i].time || is_punct(t[i])) return false;
  for (std::size_t i = b; i < e; ++i)  // "bor i Bergen og jobber som lærer": two clauses, not one place
    if (L.conjunctions.count(t[i].w)) return false;
  if (slot == "w") return len == 1;
  if (slot == "num") return len == 1 && (L.numbers.count(t[b].w) || t[b].digit);
  if (slot == "role") return role_of(L, t, b, e).has_value();
  if (slot == "name") return name_ok(L, t, b, e);
  if (slot == "subj") return subj_parse(L, text, t, b, e).has_value();
  if (slot == "np") return np_parse(L, text, t, b, e).has_value();
  if (slot == "thing") return len <= 5 && !L.self.count(t[b].w) && !L.mine.count(t[b].w) && !L.pronouns.count(t[b].w);
  if (slot == "loc") return len >= 2 && phrase_at(L.places, t, b, e) > 0 && phrase_at(L.places, t, b, e) < len;
  // a plan begins with its verb: "My son Tobias plays …" gives the name to the subject
  if (slot == "act") return len <= 8 && t[b].w != "'s" && !L.mine.count(t[b].w) && !(t[b].cap && b > 0);
  return true;  // obj, obj2, x, y
}

bool match_from(const lang_rules& L, std::string_view text, const std::vector<item>& items, std::size_t ii, const toks& t,
                std::size_t ti, match_result& m) {
  if (ii == items.size()) return ti == t.size();
  const item& it = items[ii];
  if (it.slot.empty()) {
    for (const auto& alt : it.alts) {
      if (alt.size() > t.size() - ti) continue;
      bool ok = true;
      for (std::size_t j = 0; j < alt.size() && ok; ++j) ok = !t[ti + j].time && t[ti + j].w == alt[j];
      if (!ok) continue;
      for (std::size_t j = 0; j < alt.size(); ++j) m.literal[ti + j] = true;
      if (match_from(L, text, items, ii + 1, t, ti + alt.size(), m)) return true;
      for (std::size_t j = 0; j < alt.size(); ++j) m.literal[ti + j] = false;
    }
    return it.optional && match_from(L, text, items, ii + 1, t, ti, m);
  }
  const bool last = ii + 1 == items.size();
  // a slot never spans a time, punctuation or "and": no end past the first one is tried
  // (the scan in slot_shape_ok made long texts quadratic)
  std::size_t limit = t.size();
  if (it.slot != "time")
    for (std::size_t i = ti; i < t.size(); ++i)
      if (t[i].time || is_punct(t[i]) || L.conjunctions.count(t[i].w)) {
        limit = i;
        break;
      }
  if (last && limit < t.size()) return false;
  for (std::size_t e = last ? t.size() : ti + 1; e <= limit; ++e) {
    if (!slot_shape_ok(L, text, it.slot, t, ti, e)) continue;
    m.slots[it.slot] = {ti, e};
    if (match_from(L, text, items, ii + 1, t, e, m)) return true;
  }
  m.slots.erase(it.slot);
  return false;
}

std::optional<match_result> match(const lang_rules& L, std::string_view text, const rule& r, const toks& t) {
  match_result m;
  m.literal.assign(t.size(), false);
  if (t.empty() || !match_from(L, text, r.items, 0, t, 0, m)) return std::nullopt;
  return m;
}

// A negation, a hypothetical or reported speech outside the pattern's own words.
bool hedged(const lang_rules& L, const toks& t, const std::vector<bool>& literal) {
  for (std::size_t i = 0; i < t.size(); ++i) {
    for (const auto* list : {&L.negations, &L.hypotheticals, &L.reported}) {
      const auto n = phrase_at(*list, t, i, t.size());
      if (n == 0) continue;
      bool own = true;
      for (std::size_t j = i; j < i + n; ++j) own = own && literal[j];
      if (!own) return true;
    }
    if (t[i].w.size() > 3 && t[i].w.compare(t[i].w.size() - 3, 3, "n't") == 0 && !literal[i]) return true;
  }
  return false;
}

}  // namespace

}  // namespace und

// ---- 4. saying -------------------------------------------------------------------------

namespace {

using namespace und;

// The speaker is the entity named by their user id in their own graph (as the learning path names it).

const lang_rules* lang_of(const understanding& u, std::string_view lang) {
  for (const auto& L : u.langs)
    if (L.lang == lang) return &L;
  return u.langs.empty() ? nullptr : &u.langs.front();
}

const time_words* words_of_lang(const std::vector<time_words_ptr>* words, std::string_view lang) {
  if (!words) return nullptr;
  for (const auto& w : *words)
    if (w && time_words_lang(*w) == lang) return w.get();
  return nullptr;
}

const zone& zone_or_utc(const zone* z) {
  static const zone_ptr utc = *zone_open("UTC");
  return z ? *z : *utc;
}

// A person named (told or asked about): the one he/she/han/hun means next.
// Their sex comes from a role said of them (relations.toml `sex`), now or before.
void named(understand_state::per_user& st, const understanding& u, const std::string& person, const std::string& role = {}) {
  st.last_person = person;
  if (auto it = u.roles.find(role); it != u.roles.end() && !it->second.sex.empty()) st.sex_of[person] = it->second.sex;
  if (auto it = st.sex_of.find(person); it != st.sex_of.end()) st.last_of_sex[it->second] = person;
}

// Who a pronoun means: the last person named when they can be that one (of
// that sex, or of none known), else the last woman/man named; "" when no one fits.
std::string pronoun_person(const lang_rules& L, const understand_state::per_user& st, const std::string& word) {
  const std::string sex = L.she.count(word) ? "f" : L.he.count(word) ? "m" : "";
  if (sex.empty() || st.last_person.empty()) return st.last_person;
  auto last = st.sex_of.find(st.last_person);
  if (last == st.sex_of.end() || last->second == sex) return st.last_person;
  auto it = st.last_of_sex.find(sex);
  return it == st.last_of_sex.end() ? std::string{} : it->second;
}

// "your brother" / "broren din"
std::string your_role(const lang_rules& L, const std::string& role, bool plural = false) {
  auto it = L.roles.find(role);
  if (it == L.roles.end()) return role;
  const auto& rw = it->second;
  const std::string& your = L.say.count("your") ? L.say.at("your") : std::string("your");
  const bool after = L.flip.count("min") != 0;  // bokmål: the possessive follows a definite noun
  if (plural) {
    const std::string noun = rw.many.size() > 1 && after ? rw.many[1] : (rw.many.empty() ? rw.one[0] : rw.many[0]);
    return after ? noun + " " + (L.flip.count("mine") ? L.flip.at("mine") : your) : your + " " + noun;
  }
  if (after) {
    const std::string noun = rw.one.size() > 1 ? rw.one[1] : rw.one[0];
    const std::string poss = rw.gender == "n" && L.flip.count("mitt") ? L.flip.at("mitt") : your;
    return noun + " " + poss;
  }
  return your + " " + rw.one[0];
}

// A role as a noun alone: "cat" / "katten".
std::string role_word(const lang_rules& L, const std::string& role) {
  auto it = L.roles.find(role);
  if (it == L.roles.end() || it->second.one.empty()) return role;
  const bool after = L.flip.count("min") != 0;
  return after && it->second.one.size() > 1 ? it->second.one[1] : it->second.one[0];
}

// The words of a phrase with my → your.
std::string flip_text(const lang_rules& L, std::string_view text) {
  auto t = tokenize(text);
  std::string out;
  std::size_t at = 0;
  for (const auto& w : t) {
    out.append(text.substr(at, w.b - at));
    auto it = L.flip.find(w.w);
    out += it != L.flip.end() ? it->second : std::string(text.substr(w.b, w.e - w.b));
    at = w.e;
  }
  out.append(text.substr(at));
  return out;
}

std::string placeholder_of(const std::string& role) { return "user's " + role; }
std::optional<std::string> placeholder_role(std::string_view name) {
  if (name.rfind("user's ", 0) == 0) return std::string(name.substr(7));
  return std::nullopt;
}

// Of the user's people of a role, those said to be of `rank` ("my older sister"); all of them
// when no rank is asked or none of them has one.
std::vector<fact> of_rank(const kg& g, std::vector<fact> people, const std::string& rank, std::string_view user);

// The user's facts whose subject is the speaker (empty when none).
std::vector<fact> facts_of(const kg& g, std::string_view subject, std::string_view relation, std::string_view user) {
  auto f = kg_facts(g, subject, relation, user);
  return f ? std::move(*f) : std::vector<fact>{};
}

std::vector<fact> of_rank(const kg& g, std::vector<fact> people, const std::string& rank, std::string_view user) {
  if (rank.empty()) return people;
  std::vector<fact> out;
  bool any = false;
  for (const auto& p : people) {
    const auto r = facts_of(g, p.object, "rank", user);
    any = any || !r.empty();
    if (!r.empty() && r.front().object == rank) out.push_back(p);
  }
  return any ? out : people;
}

// How a person is named: "your brother Jonas", "Jonas", "your son".
std::string who_of(const kg& g, const lang_rules& L, const understanding& u, std::string_view user, const std::string& name) {
  if (auto role = placeholder_role(name)) return your_role(L, *role);
  for (const auto& f : facts_of(g, user, "", user))
    if (f.object == name && u.roles.count(f.relation)) return your_role(L, f.relation) + " " + name;
  return name;
}

std::string a_or_an(const lang_rules& L, const std::string& word) {
  if (!L.say.count("a") || L.say.at("a").empty()) return {};
  const char c = word.empty() ? 'x' : static_cast<char>(std::tolower(static_cast<unsigned char>(word[0])));
  return std::string(std::string_view("aeiou").find(c) != npos ? L.say.at("an") : L.say.at("a"));
}

std::string when_words(const lang_rules& L, const fact& f, const std::vector<time_words_ptr>* words, const zone* tz,
                       bool date_only) {
  const auto& a = f.attrs;
  const std::string said = a.is_object() ? a.value("time_said", std::string{}) : std::string{};
  const std::string lang = a.is_object() ? a.value("lang", std::string{}) : std::string{};
  const bool repeats = a.is_object() && a.value("repeat", false);
  const std::int64_t ms = a.is_object() && a.contains("date") && a["date"].is_number_integer() ? a["date"].get<std::int64_t>()
                          : f.due_ms.value_or(0);
  if ((repeats || !ms) && !said.empty() && (lang == L.lang || !ms)) return said;
  const time_words* w = words_of_lang(words, L.lang);
  if (!date_only && a.is_object() && a.value("day_only", false))  // "on Wednesday" (a plan): the day with its weekday
    return when_format_day(*w, ms, zone_or_utc(tz), false, true);
  if (!w || !ms) return said.empty() ? f.object : said;
  return date_only ? when_format_day(*w, ms, zone_or_utc(tz), a.value("year", false), false)
                   : when_format(*w, ms, zone_or_utc(tz));
}

// Words told in another language, said in L where both know them ("lærer" → "teacher").
std::string translate(const understanding& u, const lang_rules& L, const fact& f, const std::string& text) {
  const std::string from = f.attrs.is_object() ? f.attrs.value("lang", std::string{}) : std::string{};
  if (from.empty() || from == L.lang) return text;
  const lang_rules* S = lang_of(u, from);
  if (!S || S == &L) return text;
  auto t = tokenize(text);
  std::string out;
  std::size_t at = 0;
  for (const auto& w : t) {
    out.append(text.substr(at, w.b - at));
    std::string said(text.substr(w.b, w.e - w.b));
    if (auto c = S->concepts.find(w.w); c != S->concepts.end()) {
      if (auto d = L.concept_say.find(c->second); d != L.concept_say.end()) said = d->second;
    } else if (auto r = S->role_forms.find(w.w); r != S->role_forms.end()) {
      if (auto d = L.roles.find(r->second.first); d != L.roles.end() && !d->second.one.empty()) said = d->second.one[0];
    }
    out += said;
    at = w.e;
  }
  out.append(text.substr(at));
  return out;
}

// A fact as a sentence of L; "" when it is not one understanding says.
std::string say_fact(const kg& g, const understanding& u, const lang_rules& L, const fact& f, std::string_view user,
                     const std::vector<time_words_ptr>* words, const zone* tz, const std::string& what_override = {}) {
  auto say = [&](const std::string& key) -> std::string { return L.say.count(key) ? L.say.at(key) : std::string{}; };
  const std::string over = f.attrs.is_object() ? f.attrs.value("over", std::string{}) : std::string{};
  if (u.roles.count(f.relation) && f.subject == user) {
    if (placeholder_role(f.object)) return {};
    return fill(say("named_role"), {{"Obj", upper_first(f.object)}, {"obj", f.object}, {"your_role", your_role(L, f.relation)}});
  }
  if (u.roles.count(f.relation)) {  // "Hanna has a cat called Tiger"
    const std::string owner = who_of(g, L, u, user, f.subject);
    return fill(say("owned_role"), {{"Owner", upper_first(owner)}, {"owner", owner}, {"Role", upper_first(role_word(L, f.relation))},
                                    {"role", role_word(L, f.relation)}, {"obj", f.object}});
  }
  if (auto it = u.relations.find(f.relation); it != u.relations.end()) {
    const bool you = f.subject == user;
    std::string key = f.relation + (you ? "_you" : "");
    const std::string who = you ? std::string{} : who_of(g, L, u, user, f.subject);
    const std::string when = it->second.dated ? when_words(L, f, words, tz, true) : std::string{};
    const std::string from = f.attrs.is_object() ? f.attrs.value("lang", L.lang) : L.lang;
    const std::string obj = from == L.lang ? flip_text(L, f.object) : translate(u, L, f, f.object);  // our key → your key
    const bool bare = f.attrs.is_object() && f.attrs.value("bare", false);
    std::string said = fill(say(key), {{"Who", upper_first(who)}, {"who", who}, {"obj", obj}, {"obj2", translate(u, L, f, over)},
                                       {"when", when}, {"a", bare ? std::string{} : a_or_an(L, obj)}});
    for (auto at = said.find("  "); at != npos; at = said.find("  ", at)) said.erase(at, 1);  // an empty {a}
    return said;
  }
  const auto colon = f.relation.find(':');
  if (colon == npos) return {};
  const std::string kind = f.relation.substr(0, colon);
  // the thing as the user said it, my → your (in the language it was said in)
  std::string what = what_override;
  if (what.empty() && f.attrs.is_object()) {
    const auto* said_in = lang_of(u, f.attrs.value("lang", L.lang));
    what = flip_text(*said_in, f.attrs.value("np", std::string{}));
  }
  if (kind == "value" || kind == "where")
    return fill(say(kind), {{"What", upper_first(what)}, {"what", what}, {"obj", f.object}});
  if (kind == "count") {  // "Hege has 3 children"
    const std::string role = f.relation.substr(colon + 1);
    const bool you = f.subject == user;
    const std::string who = you ? std::string{} : who_of(g, L, u, user, f.subject);
    std::string roles = role;
    if (auto it = L.roles.find(role); it != L.roles.end())
      roles = f.object == "1" || it->second.many.empty() ? it->second.one[0] : it->second.many[0];
    return fill(say(you ? "count_you" : "count"), {{"Who", upper_first(who)}, {"obj", f.object}, {"roles", roles}});
  }
  if (kind == "when") {
    const bool repeats = f.attrs.is_object() && f.attrs.value("repeat", false);
    return fill(say(repeats ? "when_repeat" : "when"),
                {{"What", upper_first(what)}, {"what", what}, {"when", when_words(L, f, words, tz, false)}});
  }
  if (kind == "does") {
    const std::string act = f.attrs.is_object() ? f.attrs.value("act", std::string{}) : std::string{};
    const bool you = f.subject == user;
    const std::string who = you ? std::string{} : who_of(g, L, u, user, f.subject);
    return fill(say(you ? "does_you" : "does"),
                {{"Who", upper_first(who)}, {"act", act}, {"when", when_words(L, f, words, tz, false)}});
  }
  return {};
}

std::string join_sentences(const std::vector<std::string>& s) {
  std::string out;
  for (const auto& x : s)
    if (!x.empty()) out += (out.empty() ? "" : " ") + x;
  return out;
}

// ---- 5. telling ---------------------------------------------------------------------------

struct pending {
  triple t;
  bool single = false;
  bool link = false;  // a role link made on the way ("my brother Jonas"): kept by "forget that"
};

struct sentence_ctx {
  const understanding& u;
  const lang_rules& L;
  const kg& g;
  std::string_view user;
  std::string_view text;  // the sentence
  const toks& t;
  const match_result& m;
  const std::optional<when_parsed>& when;
  std::string time_said;
  understand_state::per_user& st;
  std::string group_role;  // "I have two brothers: …"
  const zone* tz = nullptr;
  std::int64_t now_ms = 0;
};

json base_attrs(const sentence_ctx& c) {
  return json{{"source", "understanding"}, {"lang", c.L.lang}, {"said", std::string(c.text)}};
}

std::string slot_text(const sentence_ctx& c, const std::string& slot) {
  auto it = c.m.slots.find(slot);
  if (it == c.m.slots.end()) return {};
  std::string s = span_text(c.text, c.t, it->second.b, it->second.e);
  while (!s.empty() && (s.back() == '.' || s.back() == '!' || s.back() == ',')) s.pop_back();
  return s.size() > kMaxValueBytes ? std::string{} : s;  // no value is that long: no fact
}

// The subject's entity for a statement (role links into `out`); nothing when
// it cannot be told (a pronoun with no one named before, two brothers and
// "my brother").
std::optional<std::string> subject_for_tell(sentence_ctx& c, std::vector<pending>& out) {
  auto it = c.m.slots.find("subj");
  if (it == c.m.slots.end()) return std::string(c.user);
  auto s = subj_parse(c.L, c.text, c.t, it->second.b, it->second.e);
  if (!s) return std::nullopt;
  switch (s->kind) {
    case subj_kind::self:
      return std::string(c.user);
    case subj_kind::pronoun: {
      auto who = pronoun_person(c.L, c.st, c.t[s->b].w);
      if (who.empty()) return std::nullopt;
      return who;
    }
    case subj_kind::name:
      if (!c.group_role.empty()) {
        json a = base_attrs(c);
        out.push_back({{std::string(c.user), c.group_role, s->name, a}, false, true});
      }
      named(c.st, c.u, s->name, c.group_role);
      return s->name;
    case subj_kind::owned: {
      const std::string owner = s->owner_at != static_cast<std::size_t>(-1) ? pronoun_person(c.L, c.st, c.t[s->owner_at].w) : s->name;
      if (owner.empty()) return std::nullopt;
      if (!s->np.name.empty()) {  // "his sister Fatima": Fatima is his sister
        out.push_back({{owner, s->np.role, s->np.name, base_attrs(c)}, c.u.roles.count(s->np.role) && c.u.roles.at(s->np.role).single, true});
        named(c.st, c.u, s->np.name, s->np.role);
        return s->np.name;
      }
      auto known = facts_of(c.g, owner, s->np.role, c.user);
      if (known.size() != 1) return std::nullopt;
      named(c.st, c.u, known.front().object, s->np.role);
      return known.front().object;
    }
    case subj_kind::np: {
      const auto& role = s->np.role;
      if (!s->np.name.empty()) {
        const bool single = c.u.roles.count(role) && c.u.roles.at(role).single;
        out.push_back({{std::string(c.user), role, s->np.name, base_attrs(c)}, single, true});
        if (!s->np.rank.empty()) out.push_back({{s->np.name, "rank", s->np.rank, base_attrs(c)}, true, true});
        named(c.st, c.u, s->np.name, role);
        return s->np.name;
      }
      auto known = of_rank(c.g, facts_of(c.g, c.user, role, c.user), s->np.rank, c.user);
      if (known.size() == 1) {
        named(c.st, c.u, known.front().object, role);
        return known.front().object;
      }
      if (known.size() > 1) return std::nullopt;
      const std::string ph = placeholder_of(role);
      out.push_back({{std::string(c.user), role, ph, base_attrs(c)}, false, true});
      named(c.st, c.u, ph, role);  // "My wife hates pineapple. Her name is Ylva."
      return ph;
    }
  }
  return std::nullopt;
}

// The triples a matched statement says; nothing when it only looks like one.
std::optional<std::vector<pending>> tell_facts(sentence_ctx& c, const rule& r) {
  std::vector<pending> out;
  const auto& u = c.u;
  json attrs = base_attrs(c);
  auto begins_badly = [&](const char* slot) {
    auto it = c.m.slots.find(slot);
    if (it == c.m.slots.end()) return false;
    const auto& first = c.t[it->second.b].w;
    if (c.L.act_not.count(first) || c.L.mine.count(first) || c.L.articles.count(first) || first == "'s") return true;
    if (std::string_view(slot) == "act")
      for (const auto& e : c.L.past_endings)
        if (first.size() > e.size() + 2 && first.compare(first.size() - e.size(), e.size(), e) == 0) return true;
    return r.ing && (first.size() < 5 || first.compare(first.size() - 3, 3, "ing") != 0);
  };
  if (u.relations.count(r.fact)) {
    if (r.fact == "is_a" && begins_badly("obj")) return std::nullopt;  // "I am a bit tired"
    if (r.fact == "is_a" && c.m.slots.count("w") && c.t[c.m.slots.at("w").b].cap) return std::nullopt;  // "… is Eirik": a name
    if (r.fact == "is_a" && c.m.slots.count("w")) attrs["bare"] = true;  // "Mango is ginger": said without "a"
    auto subject = subject_for_tell(c, out);
    if (!subject) return std::nullopt;
    if (r.not_self && *subject == c.user) return std::nullopt;
    const auto& meta = u.relations.at(r.fact);
    std::string obj = slot_text(c, "obj");
    if (obj.empty()) obj = slot_text(c, "name");
    if (obj.empty()) {  // "tolv år" → 12
      obj = slot_text(c, "num");
      if (auto it = c.L.numbers.find(detail::text_key(obj)); it != c.L.numbers.end()) obj = std::to_string(it->second);
    }
    if (obj.empty()) obj = slot_text(c, "w");
    if (auto it = c.m.slots.find("obj"); meta.place && it != c.m.slots.end())  // "Tromsø with her husband" → Tromsø
      for (std::size_t i = it->second.b + 1; i < it->second.e; ++i)
        if (c.L.ends.count(c.t[i].w)) {
          obj = span_text(c.text, c.t, it->second.b, i);
          break;
        }
    // a value of the newer relations holds no second clause ("nøtteallergi, så hun har …"),
    // and "has" no count or named pet ("two kids", "en hund som heter Rocky": their own patterns)
    if ((r.fact == "has" || r.fact == "plays" || r.fact == "goes_to" || r.fact == "is_a") &&
        obj.find(',') != std::string::npos)
      return std::nullopt;
    if (r.fact == "has" && c.m.slots.count("obj")) {
      const auto it = c.m.slots.at("obj");
      if (c.t[it.b].digit || c.L.numbers.count(c.t[it.b].w)) return std::nullopt;
      for (std::size_t i = it.b; i < it.e; ++i)
        if (c.t[i].w == "called" || c.t[i].w == "named" || c.t[i].w == "heter") return std::nullopt;
    }
    if (c.m.slots.count("time")) {
      if (!c.when) return std::nullopt;
      attrs["time_said"] = c.time_said;
      std::int64_t date = c.when->due_ms;
      bool year = c.when->past;  // a date in a past year was said with its year
      if (r.fact == "birthday") {  // every year: the next one, said without a year
        const zone& z = zone_or_utc(c.tz);
        const auto lt = zone_local(z, date);
        while (date < c.now_ms) {
          std::int64_t next = date + 365LL * 86400000;
          if (zone_local(z, next).day != lt.day) next += 86400000;
          date = next;
        }
        year = false;
      }
      attrs["date"] = date;
      attrs["year"] = year;
      if (date >= c.now_ms && meta.dated) attrs["due"] = date;
      obj = c.time_said;
    }
    if (obj.empty()) return std::nullopt;
    if (auto role = placeholder_role(*subject); role && r.fact == "called") {  // "Her name is Ylva": the wife named
      const bool single = u.roles.count(*role) && u.roles.at(*role).single;
      out.push_back({{std::string(c.user), *role, obj, attrs}, single, true});
      named(c.st, c.u, obj, *role);
      return out;
    }
    if (r.fact == "prefers") attrs["over"] = slot_text(c, "obj2");
    if (r.fact2 == "works_at" && r.fact == "works_as" && c.m.slots.count("obj2") && !c.m.slots.count("obj")) {
      // "Anders er lærer på Berg skole": a job the word lists know, or a place with a name
      const auto w = c.m.slots.at("w"), o2 = c.m.slots.at("obj2");
      bool job = c.t[o2.b].cap;
      for (std::size_t i = w.b; i < w.e; ++i)
        for (const auto& id : word_ids(c.L, c.t[i].w)) job = job || c.L.concept_say.count(id);
      if (!job) return std::nullopt;
    }
    out.push_back({{*subject, r.fact, obj, attrs}, meta.single, false});
    if (!r.fact2.empty() && c.m.slots.count("obj2"))
      out.push_back({{*subject, r.fact2, slot_text(c, "obj2"), attrs}, u.relations.at(r.fact2).single, false});
    if (*subject != c.user && !placeholder_role(*subject)) named(c.st, c.u, *subject);
    return out;
  }
  auto np_of = [&](const char* slot) -> std::optional<np_info> {
    auto it = c.m.slots.find(slot);
    if (it == c.m.slots.end()) return std::nullopt;
    return np_parse(c.L, c.text, c.t, it->second.b, it->second.e);
  };
  auto number = [&]() -> std::string {  // "tre" → "3"
    std::string n = slot_text(c, "num");
    if (auto it = c.L.numbers.find(detail::text_key(n)); it != c.L.numbers.end()) n = std::to_string(it->second);
    return n;
  };
  if (r.fact == "group" || r.fact == "count") {  // "I have two brothers: …", "Hege har tre barn"
    auto it = c.m.slots.find("role");
    auto role = role_of(c.L, c.t, it->second.b, it->second.e);
    if (!role) return std::nullopt;
    std::string owner(c.user);
    if (c.m.slots.count("subj")) {
      auto o = subject_for_tell(c, out);
      if (!o) return std::nullopt;
      owner = *o;
    }
    const std::string n = number();
    if (!n.empty() && std::all_of(n.begin(), n.end(), [](char ch) { return std::isdigit(static_cast<unsigned char>(ch)); }))
      out.push_back({{owner, "count:" + role->first, n, attrs}, true, false});
    if (owner == c.user) c.group_role = role->first;  // the names that follow are of that role
    if (owner != c.user && !placeholder_role(owner)) named(c.st, c.u, owner);
    return out;
  }
  if (r.fact == "name") {
    std::string role, name = slot_text(c, "name");
    std::string owner(c.user);
    if (c.m.slots.count("subj")) {  // "Hanna has a cat called Tiger"
      auto o = subject_for_tell(c, out);
      if (!o) return std::nullopt;
      owner = *o;
    }
    if (auto np = np_of("np")) {
      if (np->article || !np->name.empty()) return std::nullopt;
      if (np->role.empty()) {  // "vaktmesteren heter Rune": a thing of the user's with a name
        if (owner != c.user || name.empty()) return std::nullopt;
        attrs["np"] = slot_text(c, "np");
        out.push_back({{std::string(c.user), "value:" + key_str(np->key), name, attrs}, true, false});
        return out;
      }
      role = np->role;
    } else if (auto it = c.m.slots.find("role"); it != c.m.slots.end()) {
      auto ro = role_of(c.L, c.t, it->second.b, it->second.e);
      if (!ro) return std::nullopt;
      role = ro->first;
    }
    if (role.empty() || name.empty()) return std::nullopt;
    const bool single = u.roles.count(role) && u.roles.at(role).single;
    out.push_back({{owner, role, name, attrs}, single, false});
    named(c.st, c.u, name, owner == c.user ? role : std::string{});
    return out;
  }
  // things of the user's: when / where / value / does
  std::optional<np_info> np = np_of("np");
  std::string np_text = slot_text(c, "np");
  if (!np && c.m.slots.count("thing")) {
    auto it = c.m.slots.at("thing");
    np_info th;
    th.key = key_of(c.L, c.t, it.b, it.e);
    if (th.key.empty()) return std::nullopt;
    bool known = false;  // "jeg har vondt i hodet i dag" is no appointment
    for (std::size_t i = it.b; i < it.e; ++i) {
      const auto ids = word_ids(c.L, c.t[i].w);
      for (const auto& id : ids) known = known || c.L.concept_say.count(id) || c.u.roles.count(id);
    }
    if (!known) return std::nullopt;
    np = th;
    // "a meeting" → "my meeting": said back as the user's
    std::size_t b = it.b;
    while (b < it.e && c.L.articles.count(c.t[b].w)) ++b;
    np_text = (c.L.mine.empty() ? std::string{} : *c.L.mine.begin()) + " " + span_text(c.text, c.t, b, it.e);
    if (c.L.flip.count("min")) np_text = span_text(c.text, c.t, b, it.e);
  }
  if (c.when) {  // a day said without a time of day is said back without one
    bool clock = false;
    for (char ch : c.time_said) clock = clock || std::isdigit(static_cast<unsigned char>(ch));
    if (!clock) attrs["day_only"] = true;
  }
  if (r.fact == "does") {  // a habit ("I go swimming every Thursday") or a plan ("Erik is coming over on Saturday")
    if (!c.when || c.when->past || begins_badly("act")) return std::nullopt;
    auto it = c.m.slots.at("act");
    auto key = key_of(c.L, c.t, it.b, it.e);
    if (key.empty() || key_str(key).size() > kMaxValueBytes) return std::nullopt;
    auto subject = subject_for_tell(c, out);
    if (!subject) return std::nullopt;
    // the verb as said, with the pattern's own word before it ("is coming over")
    std::string act = slot_text(c, "act");
    if (r.ing && it.b > 0 && c.m.literal[it.b - 1]) act = c.t[it.b - 1].w + " " + act;
    attrs["act"] = act;
    attrs["time_said"] = c.time_said;
    if (c.when->repeat.every != repeat_rule::kind::none) {
      attrs["repeat"] = true;
    } else {
      attrs["due"] = c.when->due_ms;
      attrs["date"] = c.when->due_ms;
    }
    out.push_back({{*subject, "does:" + key_str(key), c.time_said, attrs}, true, false});
    if (*subject != c.user && !placeholder_role(*subject)) named(c.st, c.u, *subject);
    return out;
  }
  if (!np) return std::nullopt;
  if (!np->role.empty()) return std::nullopt;  // a person is not a thing with a value or a place
  attrs["np"] = np_text;
  if (auto w = c.m.slots.find("w"); w != c.m.slots.end() && r.fact == "value") {
    auto extra = key_of(c.L, c.t, w->second.b, w->second.e);
    np->key.insert(np->key.end(), extra.begin(), extra.end());
    std::sort(np->key.begin(), np->key.end());
    np->key.erase(std::unique(np->key.begin(), np->key.end()), np->key.end());
    attrs["np"] = np_text + " " + slot_text(c, "w");
  }
  const std::string key = key_str(np->key);
  if (r.fact == "when") {
    if (!c.when || c.when->past) return std::nullopt;
    attrs["time_said"] = c.time_said;
    if (c.when->repeat.every != repeat_rule::kind::none) {
      attrs["repeat"] = true;
    } else {
      attrs["due"] = c.when->due_ms;
      attrs["date"] = c.when->due_ms;
    }
    out.push_back({{std::string(c.user), "when:" + key, c.time_said, attrs}, true, false});
    return out;
  }
  if (r.fact == "where") {
    const std::string loc = slot_text(c, "loc");
    if (loc.empty()) return std::nullopt;
    out.push_back({{std::string(c.user), "where:" + key, loc, attrs}, true, false});
    return out;
  }
  if (r.fact == "value") {
    const std::string obj = slot_text(c, "obj");
    auto it = c.m.slots.at("obj");
    bool digit = false, cap = false;
    for (std::size_t i = it.b; i < it.e; ++i) {
      digit = digit || c.t[i].digit;
      cap = cap || c.t[i].cap;
    }
    if (obj.empty() || (!np->owned && !digit)) return std::nullopt;
    out.push_back({{std::string(c.user), "value:" + key, obj, attrs}, true, false});
    return out;
  }
  return std::nullopt;
}

// ---- 6. asking --------------------------------------------------------------------------------

struct asked {
  std::string text, source;
  std::vector<triple> facts;
};

triple triple_of(const fact& f) { return {f.subject, f.relation, f.object, f.attrs}; }

std::string say_key(const lang_rules& L, const std::string& key, const std::vector<std::pair<std::string, std::string>>& vars = {}) {
  return fill(L.say.count(key) ? L.say.at(key) : key, vars);
}

// A person named after facts were told of their role ("My wife hates
// pineapple. Her name is Ylva."): the facts stay with the role's placeholder,
// and belong to the name when the user has one person of that role.
void with_placeholders(const understanding& u, const kg& g, std::string_view user, std::vector<std::string>& people) {
  const auto links = facts_of(g, user, "", user);
  const std::size_t n = people.size();
  for (std::size_t i = 0; i < n; ++i) {
    if (people[i] == user || placeholder_role(people[i])) continue;
    for (const auto& l : links) {
      if (l.object != people[i] || !u.roles.count(l.relation)) continue;
      std::size_t named_ones = 0;
      for (const auto& o : links) named_ones += o.relation == l.relation && !placeholder_role(o.object);
      const std::string ph = placeholder_of(l.relation);
      if ((u.roles.at(l.relation).single || named_ones == 1) &&
          std::find(people.begin(), people.end(), ph) == people.end() && kg_find(g, ph, user))
        people.push_back(ph);
    }
  }
}

// The people a question's subject names: (entity, how said); empty when unknown.
std::vector<std::string> subjects_for_ask(const understanding& u, const lang_rules& L, const kg& g, std::string_view user,
                                          const understand_state::per_user& st, std::string_view text, const toks& t,
                                          const match_result& m) {
  auto it = m.slots.find("subj");
  if (it == m.slots.end()) return {std::string(user)};
  auto s = subj_parse(L, text, t, it->second.b, it->second.e);
  if (!s) return {};
  std::vector<std::string> out;
  switch (s->kind) {
    case subj_kind::self: return {std::string(user)};
    case subj_kind::pronoun:
      if (auto who = pronoun_person(L, st, t[s->b].w); !who.empty()) out.push_back(who);
      break;
    case subj_kind::name: out.push_back(s->name); break;
    case subj_kind::owned: {
      const std::string owner = s->owner_at != static_cast<std::size_t>(-1) ? pronoun_person(L, st, t[s->owner_at].w) : s->name;
      if (!s->np.name.empty()) out.push_back(s->np.name);
      else if (!owner.empty())
        for (const auto& f : facts_of(g, owner, s->np.role, user)) out.push_back(f.object);
      break;
    }
    case subj_kind::np:
      if (!s->np.name.empty()) out.push_back(s->np.name);
      else
        for (const auto& f : of_rank(g, facts_of(g, user, s->np.role, user), s->np.rank, user)) out.push_back(f.object);
      break;
  }
  with_placeholders(u, g, user, out);
  return out;
}

// Does a stored value answer yes to {obj}? Compared by key words.
bool same_value(const lang_rules& L, const std::string& stored, std::string_view asked_text) {
  auto a = tokenize(asked_text), b = tokenize(stored);
  auto ka = key_of(L, a, 0, a.size()), kb = key_of(L, b, 0, b.size());
  return key_score(ka, kb) > 0 || key_score(kb, ka) > 0;
}

// The user's facts of one kind ("when", "where", "value", "does") that best
// name key q.
std::vector<fact> best_things(const kg& g, std::string_view user, std::string_view subject,
                              const std::vector<std::string>& kinds, const std::vector<std::string>& q) {
  std::vector<fact> best;
  double best_score = 0;
  for (const auto& f : facts_of(g, subject, "", user)) {
    const auto colon = f.relation.find(':');
    if (colon == npos) continue;
    if (std::find(kinds.begin(), kinds.end(), f.relation.substr(0, colon)) == kinds.end()) continue;
    const double s = key_score(q, key_split(std::string_view(f.relation).substr(colon + 1)));
    if (s <= 0) continue;
    if (s > best_score + 1e-9) {
      best_score = s;
      best.clear();
    }
    if (s >= best_score - 1e-9) best.push_back(f);
  }
  return best;
}

std::optional<asked> ask_answer(const understanding& u, const lang_rules& L, const kg& g, const understand_input& in,
                                understand_state::per_user& st, std::string_view text, const toks& t, const rule& r,
                                const match_result& m) {
  asked a;
  a.source = "facts";
  std::vector<std::string> sentences;
  auto take = [&](const fact& f, const std::string& what = {}) {
    auto s = say_fact(g, u, L, f, in.user, in.words, in.tz, what);
    if (s.empty()) return;
    sentences.push_back(std::move(s));
    a.facts.push_back(triple_of(f));
  };
  auto slot = [&](const char* name) {
    auto it = m.slots.find(name);
    return it == m.slots.end() ? std::string{} : span_text(text, t, it->second.b, it->second.e);
  };
  auto np_of = [&]() -> std::optional<np_info> {
    auto it = m.slots.find("np");
    if (it == m.slots.end()) return std::nullopt;
    return np_parse(L, text, t, it->second.b, it->second.e);
  };
  const std::string& f = r.fact;
  if (f == "about") {
    for (const auto& x : facts_of(g, in.user, "", in.user)) {
      take(x);
      if (u.roles.count(x.relation))
        for (const auto& y : facts_of(g, x.object, "", in.user)) take(y);
      if (sentences.size() >= 16) break;
    }
    if (sentences.empty()) return asked{say_key(L, "about_none"), "unknown", {}};
    a.text = say_key(L, "about", {{"facts", join_sentences(sentences)}});
    return a;
  }
  if (u.relations.count(f) && r.reverse) {  // "who has the spare key": every one of the user's with that value
    const std::string obj = slot("obj");
    auto ents = kg_entities(g, {}, 10000, in.user);
    if (!ents || obj.empty()) return std::nullopt;
    for (const auto& e : *ents)
      if (e.user == in.user)
        for (const auto& fa : facts_of(g, e.name, f, in.user))
          if (same_value(L, fa.object, obj)) take(fa);
    if (sentences.empty()) return std::nullopt;
    a.text = join_sentences(sentences);
    return a;
  }
  if (f == "count") {  // "how many children does Hege have": as told, else the user's people of that role
    auto ro = m.slots.count("role") ? role_of(L, t, m.slots.at("role").b, m.slots.at("role").e) : std::nullopt;
    if (!ro) return std::nullopt;
    for (const auto& s : subjects_for_ask(u, L, g, in.user, st, text, t, m)) {
      for (const auto& x : facts_of(g, s, "count:" + ro->first, in.user)) take(x);
      if (!sentences.empty() || s != in.user) continue;
      std::vector<fact> people;
      for (const auto& x : facts_of(g, in.user, ro->first, in.user))
        if (!placeholder_role(x.object)) people.push_back(x);
      if (people.empty()) continue;
      fact n = people.front();
      n.relation = "count:" + ro->first;
      n.object = std::to_string(people.size());
      sentences.push_back(say_fact(g, u, L, n, in.user, in.words, in.tz));
      for (const auto& x : people) a.facts.push_back(triple_of(x));
    }
    if (sentences.empty()) return std::nullopt;
    a.text = join_sentences(sentences);
    return a;
  }
  if (u.relations.count(f)) {
    auto subjects = subjects_for_ask(u, L, g, in.user, st, text, t, m);
    std::vector<fact> found;
    for (const auto& s : subjects) {
      auto fs = facts_of(g, s, f, in.user);
      if (fs.empty())
        for (const auto& other : u.relations.at(f).also) {
          fs = facts_of(g, s, other, in.user);
          if (!fs.empty()) break;
        }
      found.insert(found.end(), fs.begin(), fs.end());
    }
    if (subjects.size() == 1 && subjects.front() != in.user && !placeholder_role(subjects.front()))
      named(st, u, subjects.front());
    if (found.empty()) return std::nullopt;
    if (m.slots.count("x") && m.slots.count("y")) {  // either-or
      const std::string x = slot("x"), y = slot("y");
      for (const auto& fa : found) {
        const std::string pick = same_value(L, fa.object, x) ? x : same_value(L, fa.object, y) ? y : std::string{};
        if (pick.empty()) continue;
        const bool you = fa.subject == in.user;
        const std::string who = you ? std::string{} : who_of(g, L, u, in.user, fa.subject);
        a.text = say_key(L, you ? "prefers_one_you" : "prefers_one", {{"Who", upper_first(who)}, {"obj", fa.object}});
        a.facts.push_back(triple_of(fa));
        return a;
      }
      for (const auto& fa : found) take(fa);
      a.text = join_sentences(sentences);
      return a;
    }
    if (m.slots.count("act")) {  // "where do I like to go walking": the facts that name it first
      const std::string act = slot("act");
      std::stable_partition(found.begin(), found.end(), [&](const fact& fa) { return same_value(L, fa.object, act); });
    }
    if (r.check) {
      const std::string obj = slot("obj");
      bool yes = false;
      for (const auto& fa : found) yes = yes || same_value(L, fa.object, obj);
      for (const auto& fa : found) take(fa);
      a.text = say_key(L, yes ? "yes" : "no", {{"facts", join_sentences(sentences)}});
      return a;
    }
    for (const auto& fa : found) take(fa);
    if (sentences.empty()) return std::nullopt;
    a.text = join_sentences(sentences);
    return a;
  }
  if (f == "who") {
    const std::string name = slot("name");
    for (const auto& x : facts_of(g, in.user, "", in.user))
      if (u.roles.count(x.relation) && detail::text_key(x.object) == detail::text_key(name)) take(x);
    for (const auto& y : facts_of(g, name, "", in.user)) take(y);
    if (sentences.empty()) return std::nullopt;
    named(st, u, name);
    a.text = join_sentences(sentences);
    return a;
  }
  if (f == "name" && m.slots.count("role")) {  // "what is Hanna's cat called"
    auto ro = role_of(L, t, m.slots.at("role").b, m.slots.at("role").e);
    if (!ro) return std::nullopt;
    for (const auto& s : subjects_for_ask(u, L, g, in.user, st, text, t, m))
      for (const auto& x : facts_of(g, s, ro->first, in.user)) {
        sentences.push_back(say_key(L, "name", {{"What", upper_first(say_key(L, "owned_what", {{"owner", flip_text(L, slot("subj"))}, {"role", role_word(L, ro->first)}}))}, {"obj", x.object}}));
        a.facts.push_back(triple_of(x));
      }
    if (sentences.empty()) return std::nullopt;
    a.text = join_sentences(sentences);
    return a;
  }
  auto np = np_of();
  const std::string what = flip_text(L, slot("np"));
  if (f == "name" && np && !np->role.empty()) {
    std::vector<std::string> names;
    for (const auto& x : facts_of(g, in.user, np->role, in.user)) {
      if (placeholder_role(x.object)) continue;
      names.push_back(x.object);
      a.facts.push_back(triple_of(x));
    }
    if (names.empty()) return std::nullopt;
    std::string list;
    for (std::size_t i = 0; i < names.size(); ++i)
      list += (i == 0 ? "" : i + 1 == names.size() ? " " + say_key(L, "and") + " " : ", ") + names[i];
    if (names.size() == 1) named(st, u, names.front(), np->role);
    const std::string who = np->owned ? what : your_role(L, np->role, np->plural);
    a.text = say_key(L, names.size() > 1 || np->plural ? "name_many" : "name", {{"What", upper_first(who)}, {"obj", list}});
    return a;
  }
  if (f == "does") {
    auto it = m.slots.find("act");
    auto key = it == m.slots.end() ? std::vector<std::string>{} : key_of(L, t, it->second.b, it->second.e);
    const auto subjects = subjects_for_ask(u, L, g, in.user, st, text, t, m);
    if (auto w = m.slots.find("w"); w != m.slots.end()) {  // "når tar jeg vitaminer": the verb is apart
      auto k2 = key_of(L, t, w->second.b, w->second.e);
      key.insert(key.end(), k2.begin(), k2.end());
      std::sort(key.begin(), key.end());
      key.erase(std::unique(key.begin(), key.end()), key.end());
    }
    for (const auto& s : subjects)
      for (const auto& x : best_things(g, in.user, s, {"does", "when"}, key)) take(x);
    if (sentences.empty() && m.slots.count("subj")) {  // "Svømmetreningen til Jakob er …": a thing of the user's named with them
      auto sk = key_of(L, t, m.slots.at("subj").b, m.slots.at("subj").e);
      sk.insert(sk.end(), key.begin(), key.end());
      std::sort(sk.begin(), sk.end());
      sk.erase(std::unique(sk.begin(), sk.end()), sk.end());
      for (const auto& x : best_things(g, in.user, in.user, {"when", "does"}, sk)) take(x);
    }
    if (sentences.empty()) return std::nullopt;
    a.text = join_sentences(sentences);
    return a;
  }
  if (!np) return std::nullopt;
  if (f == "when" && (!np->role.empty() || best_things(g, in.user, in.user, {"when", "does"}, np->key).empty())) {
    // "når kommer svigermora mi", "når kommer rørleggeren": a person's plans, by the verb asked
    std::vector<std::string> people;
    if (!np->name.empty()) people.push_back(np->name);
    else if (!np->role.empty())
      for (const auto& x : facts_of(g, in.user, np->role, in.user)) people.push_back(x.object);
    else
      people.push_back(slot("np"));
    std::vector<std::string> key;
    for (std::size_t i = 0; i < t.size(); ++i)
      if (m.literal[i] && !L.questions.count(t[i].w))
        for (auto& id : word_ids(L, t[i].w)) key.push_back(id);
    std::sort(key.begin(), key.end());
    for (const auto& p : people)
      for (const auto& x : best_things(g, in.user, p, {"does", "when"}, key)) take(x);
    if (sentences.empty()) return std::nullopt;
    a.text = join_sentences(sentences);
    return a;
  }
  std::vector<std::string> kinds{f};
  if (f == "value" || f == "name") kinds = {"value", "when", "where"};
  if (f == "when") kinds = {"when", "does"};
  for (const auto& x : best_things(g, in.user, in.user, kinds, np->key)) take(x, what);
  if (sentences.empty()) return std::nullopt;
  a.text = join_sentences(sentences);
  return a;
}

std::optional<std::vector<pending>> tell_sentence(const understanding& u, const lang_rules& L, const kg& g,
                                                  const understand_input& in, understand_state::per_user& st,
                                                  std::string_view s, const toks& t0,
                                                  const std::optional<when_parsed>& when, const std::string& time_said,
                                                  bool* hedged_out = nullptr, bool whole_only = false);
toks words_with_time(std::string_view s, const time_words* w, const understand_input& in, std::optional<when_parsed>& when,
                     std::string& time_said);
void trim_fillers(const lang_rules& L, toks& t);
void expand_words(const lang_rules& L, toks& t);

// A recalled memory that answers: it shares words of substance with the
// question (a name counts twice), and what understanding takes from it as
// facts is all still in the graph (a sentence whose facts were forgotten or
// replaced is no answer any more: "Actually she moved to Oslo" outdates "Kari
// lives in Bergen"). A memory whose facts stand answers a question its facts
// did not ("Where's the cabin key?" after "I keep the spare key to the cabin
// in the blue tin").
std::optional<std::string> memory_answer(const understanding& u, const lang_rules& L, const kg& g, const understand_input& in,
                                         const understand_state::per_user& st, const toks& q, std::string_view text,
                                         std::span<const memory_hit> memories) {
  std::map<std::string, int> words;
  for (std::size_t i = 0; i < q.size(); ++i) {
    const auto& w = q[i];
    if (!w.time && !is_punct(w) && w.w.size() >= 3 && !is_function_word(L, w.w) && !L.self.count(w.w))
      for (auto& id : word_ids(L, w.w)) words[id] = (w.cap && i > 0) ? 2 : 1;
  }
  if (words.empty()) return std::nullopt;
  for (const auto& m : memories) {
    if (m.text.empty() || m.text == text || m.text.find('?') != npos) continue;
    const toks mt = tokenize(m.text);
    if (mt.size() > kMaxWords) continue;
    if (phrase_at(L.forget, mt, 0, mt.size()) || hedged(L, mt, std::vector<bool>(mt.size(), false))) continue;
    int common = 0;
    bool plain_common = false;
    std::set<std::string> seen;
    for (const auto& w : mt)
      for (auto& id : word_ids(L, w.w))
        if (auto it = words.find(id); it != words.end() && seen.insert(id).second) {
          common += it->second;
          plain_common = plain_common || it->second == 1;
        }
    if (common < 2 || !plain_common) continue;  // a name alone ("Per") does not make a memory an answer
    bool outdated = false;  // a fact it says is outdated?
    for (const auto& S : u.langs) {
      auto dry = st;
      std::optional<when_parsed> when;
      std::string time_said;
      toks t = words_with_time(m.text, words_of_lang(in.words, S.lang), in, when, time_said);
      expand_words(S, t);
      trim_fillers(S, t);
      if (t.empty()) continue;
      if (auto p = tell_sentence(u, S, g, in, dry, m.text, t, when, time_said))
        for (const auto& x : *p) {
          bool current = false;
          for (const auto& f : facts_of(g, x.t.subject, x.t.relation, in.user))
            current = current || f.object == x.t.object;
          if (!current) outdated = true;  // replaced or forgotten since
        }
    }
    if (outdated) continue;
    if (const time_words* w = words_of_lang(in.words, L.lang); w && m.created_ms > 0) {  // "On Monday 7 December you told me: …"
      const std::string day = when_format_day(*w, m.created_ms, zone_or_utc(in.tz), false, true);
      return say_key(L, "memory_on", {{"Day", upper_first(day)}, {"day", day}, {"said", utf8_repaired(m.text)}});
    }
    return say_key(L, "memory", {{"said", utf8_repaired(m.text)}});
  }
  return std::nullopt;
}

// Word j of t as it was said (a name keeps its capital), or its expanded form
// ("who 's" read as "who is"): for a question re-read as a statement.
std::string word_as_said(std::string_view text, const toks& t, std::size_t j) {
  const std::string w(t[j].e > t[j].b && t[j].e <= text.size() ? text.substr(t[j].b, t[j].e - t[j].b) : std::string_view{});
  return detail::text_key(w) == t[j].w ? w : t[j].w;
}

// A question re-read as statement s: the facts it would tell, on a copy of the
// user's state (nothing is stored, no one becomes "the last person named").
std::optional<std::vector<pending>> read_as_statement(const understanding& u, const lang_rules& L, const kg& g,
                                                      const understand_input& in, const understand_state::per_user& st,
                                                      const std::string& s) {
  std::optional<when_parsed> when;
  std::string time_said;
  toks t = words_with_time(s, words_of_lang(in.words, L.lang), in, when, time_said);
  expand_words(L, t);
  auto dry = st;
  return tell_sentence(u, L, g, in, dry, s, t, when, time_said, nullptr, true);
}

// "Who lives in Bergen?", "Which of my colleagues is vegetarian?", "Hvem av
// naboene spiller trommer?" — no [[ask]] pattern: the rest of the question is
// read as a statement about a stand-in name, and the user's people (of the
// role named after who_of) whose facts say the same answer it.
std::optional<asked> who_answer(const understanding& u, const lang_rules& L, const kg& g, const understand_input& in,
                                const understand_state::per_user& st, std::string_view text, const toks& t) {
  std::size_t i = phrase_at(L.who_of, t, 0, t.size());
  std::string role;
  if (i > 0) {  // "of my colleagues": the shortest phrase from here that names a role
    for (std::size_t e = i + 1; e < t.size() && role.empty(); ++e)
      if (auto np = np_parse(L, text, t, i, e); np && !np->role.empty() && np->name.empty()) {
        role = np->role;
        i = e;
        while (i < t.size() && L.mine.count(t[i].w)) ++i;  // "naboene mine"
      }
    if (role.empty()) return std::nullopt;
  } else {
    i = phrase_at(L.who, t, 0, t.size());
  }
  if (i == 0 || i >= t.size() || t[i].b >= text.size()) return std::nullopt;
  const std::string stand_in = "Xyzzy";
  std::string s = stand_in;
  for (std::size_t j = i; j < t.size(); ++j)
    if (!is_punct(t[j]) && t[j].w != "?") s += " " + word_as_said(text, t, j);
  auto said = read_as_statement(u, L, g, in, st, s);
  if (!said) return std::nullopt;
  std::set<std::string> people;  // who may answer: the role's people, else everyone of the user's
  if (!role.empty())
    for (const auto& l : facts_of(g, in.user, role, in.user)) people.insert(l.object);
  asked a;
  a.source = "facts";
  std::vector<std::string> sentences;
  auto ents = kg_entities(g, {}, 10000, in.user);
  if (!ents) return std::nullopt;
  for (const auto& p : *said) {
    if (p.t.subject != stand_in || !u.relations.count(p.t.relation)) continue;
    for (const auto& e : *ents) {
      if (e.user != in.user || e.name == stand_in || (!role.empty() && !people.count(e.name))) continue;
      for (const auto& f : facts_of(g, e.name, p.t.relation, in.user))
        if (same_value(L, f.object, p.t.object)) {
          auto s2 = say_fact(g, u, L, f, in.user, in.words, in.tz);
          if (s2.empty()) continue;
          sentences.push_back(std::move(s2));
          a.facts.push_back(triple_of(f));
        }
    }
  }
  if (sentences.empty()) return std::nullopt;
  a.text = join_sentences(sentences);
  return a;
}

// "Does Amina eat pork?", "Har pappa diabetes?", "Is Kari a nurse?" — no [[ask]] pattern: the
// question read as the statement it asks about (the subject first: the words after the verb,
// shortest first) and checked against the graph: "Yes." with the fact, "No." with what is known
// of that relation, "I don't know that yet" when the graph knows nothing of it; nothing when the
// question reads as no statement (it goes on to memory, templates and the model).
std::optional<asked> yes_no_answer(const understanding& u, const lang_rules& L, const kg& g, const understand_input& in,
                                   const understand_state::per_user& st, std::string_view text, const toks& t) {
  if (t.size() < 3) return std::nullopt;
  const std::string& v = t[0].w;
  const bool keep = L.aux_keep.count(v), add_s = L.aux_s.count(v), drop = L.aux_drop.count(v);
  if (!keep && !add_s && !drop) return std::nullopt;
  auto said = [&](std::size_t j) { return word_as_said(text, t, j); };
  for (std::size_t k = 2; k + 1 <= t.size() && k <= 5; ++k) {
    std::string s;
    for (std::size_t j = 1; j < k; ++j) s += (s.empty() ? "" : " ") + said(j);  // the subject
    std::size_t rest = k;
    if (keep) s += " " + said(0);  // "Kari is", "Kari bor"
    else if (add_s) {  // "Kari lives": the verb after the subject takes an s
      if (rest >= t.size()) continue;
      s += " " + said(rest) + "s";
      ++rest;
    }
    for (std::size_t j = rest; j < t.size(); ++j)
      if (!is_punct(t[j]) && t[j].w != "?") s += " " + said(j);
    auto facts = read_as_statement(u, L, g, in, st, s);
    if (!facts) continue;
    asked a;
    a.source = "facts";
    bool yes = false, any = false;
    std::vector<std::string> sentences;
    for (const auto& p : *facts) {
      if (!u.relations.count(p.t.relation)) continue;
      for (const auto& f : facts_of(g, p.t.subject, p.t.relation, in.user)) {
        any = true;
        yes = yes || same_value(L, f.object, p.t.object);
        auto s2 = say_fact(g, u, L, f, in.user, in.words, in.tz);
        if (!s2.empty()) sentences.push_back(std::move(s2));
        a.facts.push_back(triple_of(f));
      }
    }
    if (!any) return asked{say_key(L, "dont_know"), "unknown", {}};  // understood, never told: not the model's guess
    a.text = say_key(L, yes ? "yes" : "no", {{"facts", join_sentences(sentences)}});
    return a;
  }
  return std::nullopt;
}

// Is a question about the user's life? It names them or theirs, a role, a
// thing the word lists know, or someone in their graph.
bool about_user(const understanding& u, const lang_rules& L, const kg& g, std::string_view user, const toks& t) {
  for (std::size_t i = 0; i < t.size(); ++i) {
    const auto& w = t[i].w;
    if (L.self.count(w) || L.mine.count(w) || L.pronouns.count(w) || L.role_forms.count(w)) return true;
    for (const auto& id : word_ids(L, w))
      if (L.concept_say.count(id) || u.roles.count(id)) return true;
    if (t[i].cap && i > 0 && kg_find(g, w, user)) return true;
  }
  (void)u;
  return false;
}

// ---- 7. understand ------------------------------------------------------------------------------

bool has_quotes(std::string_view s) {
  for (std::string_view q : {"\"", "\xE2\x80\x9C", "\xE2\x80\x9D", "\xC2\xAB", "\xC2\xBB"})
    if (s.find(q) != npos) return true;
  return false;
}

// Sentences: split at . ! ? followed by space, unless after an abbreviation or a number.
std::vector<std::pair<std::string, bool>> sentences_of(std::string_view text) {
  std::vector<std::pair<std::string, bool>> out;  // (sentence, ended with '?')
  std::size_t b = 0;
  auto push = [&](std::size_t e, bool q) {
    std::string s = detail::text_trim(text.substr(b, e - b));
    if (!s.empty()) out.emplace_back(std::move(s), q);
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c != '.' && c != '!' && c != '?') continue;
    if (i + 1 < text.size() && text[i + 1] != ' ' && text[i + 1] != '\n') continue;
    if (c == '.') {
      std::size_t w = i;
      while (w > b && text[w - 1] != ' ') --w;
      const std::string word = detail::text_key(text.substr(w, i - w));
      if (word == "dr" || word == "kl" || word == "mr" || word == "mrs" || word == "ms" || word == "st" || word == "nr" ||
          word == "ca" || (!word.empty() && std::isdigit(static_cast<unsigned char>(word.back()))))
        continue;
    }
    push(i, c == '?');
    b = i + 1;
  }
  push(text.size(), false);
  return out;
}

// Words of one language, the time expression as one word.
toks words_with_time(std::string_view s, const time_words* w, const understand_input& in, std::optional<when_parsed>& when,
                     std::string& time_said) {
  toks t = tokenize(s);
  when.reset();
  time_said.clear();
  if (!w) return t;
  auto found = when_find(*w, s, in.now_ms, zone_or_utc(in.tz));
  if (!found) return t;
  toks out;
  bool placed = false;
  for (auto& x : t) {
    if (x.e > found->begin && x.b < found->end) {
      if (!placed) {
        tok tt;
        tt.w = "{time}";
        tt.time = true;
        tt.b = std::min(x.b, found->begin);
        tt.e = std::max(x.e, found->end);
        out.push_back(tt);
        placed = true;
      } else {
        out.back().e = std::max(out.back().e, x.e);
      }
      continue;
    }
    out.push_back(std::move(x));
  }
  when = found;
  time_said = std::string(s.substr(out.empty() ? 0 : found->begin, found->end - found->begin));
  return out;
}

// "i'm" → "i am" (the new words keep the old words' bytes).
void expand_words(const lang_rules& L, toks& t) {
  if (L.expand.empty()) return;
  toks out;
  for (std::size_t i = 0; i < t.size();) {
    bool done = false;
    for (const auto& [from, to] : L.expand) {
      if (from.size() > t.size() - i) continue;
      bool ok = true;
      for (std::size_t j = 0; j < from.size() && ok; ++j) ok = !t[i + j].time && t[i + j].w == from[j];
      if (!ok) continue;
      for (const auto& w : to) {
        tok x = t[i];
        x.w = w;
        x.e = t[i + from.size() - 1].e;
        x.cap = false;
        out.push_back(x);
      }
      i += from.size();
      done = true;
      break;
    }
    if (!done) out.push_back(t[i++]);
  }
  t = std::move(out);
}

// Leading and trailing fillers and punctuation off.
void trim_fillers(const lang_rules& L, toks& t) {
  bool moved = true;
  while (moved && !t.empty()) {
    moved = false;
    if (is_punct(t.front())) {
      t.erase(t.begin());
      moved = true;
      continue;
    }
    if (auto n = phrase_at(L.fillers, t, 0, t.size()); n > 0 && n < t.size()) {
      t.erase(t.begin(), t.begin() + static_cast<std::ptrdiff_t>(n));
      moved = true;
      continue;
    }
    if (is_punct(t.back())) {
      t.pop_back();
      moved = true;
      continue;
    }
    for (const auto& p : L.fillers) {
      if (p.size() >= t.size()) continue;
      bool ok = true;
      for (std::size_t j = 0; j < p.size() && ok; ++j) ok = t[t.size() - p.size() + j].w == p[j];
      if (ok) {
        t.erase(t.end() - static_cast<std::ptrdiff_t>(p.size()), t.end());
        moved = true;
        break;
      }
    }
  }
}

struct told_clause {
  std::vector<pending> facts;
  const rule* r = nullptr;
  match_result m;
  toks t;
};

// A statement in L: whole, else clause by clause (a clause without a subject
// takes the one before; "… and Petter in Hamar" takes the verb too).
std::optional<std::vector<pending>> tell_sentence(const understanding& u, const lang_rules& L, const kg& g,
                                                  const understand_input& in, understand_state::per_user& st,
                                                  std::string_view s, const toks& t0,
                                                  const std::optional<when_parsed>& when, const std::string& time_said,
                                                  bool* hedged_out, bool whole_only) {
  std::string group = st.group_left > 0 ? st.group_role : std::string{};
  const std::string carried_group = group;
  struct keep_group {
    understand_state::per_user& st;
    std::string& g;
    ~keep_group() {
      if (!g.empty() && g != st.group_role) {
        st.group_role = g;
        st.group_left = 3;
      }
    }
  } keep{st, group};
  auto try_clause = [&](const toks& t) -> std::optional<told_clause> {
    for (const auto& r : L.tell) {
      auto m = match(L, s, r, t);
      if (!m) continue;
      if (hedged(L, t, m->literal)) {  // it only looks like a fact
        if (hedged_out) *hedged_out = true;
        return std::nullopt;
      }
      sentence_ctx c{u, L, g, in.user, s, t, *m, when, time_said, st, group, in.tz, in.now_ms};
      auto facts = tell_facts(c, r);
      if (!facts) continue;
      group = c.group_role;
      return told_clause{std::move(*facts), &r, std::move(*m), t};
    }
    return std::nullopt;
  };
  if (auto whole = try_clause(t0)) return whole->facts;
  if (whole_only) return std::nullopt;
  toks bare;  // "Broren min, Jonas, bor i Steinkjer": the commas of an apposition
  for (const auto& x : t0)
    if (x.w != ",") bare.push_back(x);
  if (bare.size() != t0.size())
    if (auto whole = try_clause(bare)) return whole->facts;
  // A hypothetical or reported speech anywhere: no clause of it is a fact ("If it rains, we stay
  // in on Sunday"). A negation takes only its own clause ("The alarm code is 9032, it's not the
  // one at home"; "I don't live in Hamar any more, I moved to Oslo").
  for (std::size_t i = 0; i < t0.size(); ++i)
    if (phrase_at(L.hypotheticals, t0, i, t0.size()) || phrase_at(L.reported, t0, i, t0.size())) return std::nullopt;
  // A value borrowed into a clause is a thing or a name ("… and shellfish", "… and Petter in
  // Hamar"), not a clause of its own ("… and hardly ever calls").
  auto value_like = [&](const toks& part) {
    if (part.empty()) return false;
    if (part.size() == 1 || part.front().cap || part.front().digit) return true;
    for (const auto& id : word_ids(L, part.front().w))  // "tree nuts", "hard cheese": a word of a thing
      if (L.concept_say.count(id)) return true;
    return false;
  };
  // clauses at , ; : and conjunctions; with an apposition's commas out first
  // ("My uncle, Per, lives in Spain and hardly ever comes home")
  auto clauses = [&](const toks& base) -> std::vector<pending> {
  std::vector<toks> parts(1);
  for (const auto& x : base) {
    if (is_punct(x) || L.conjunctions.count(x.w)) {
      if (!parts.back().empty()) parts.emplace_back();
      continue;
    }
    parts.back().push_back(x);
  }
  if (parts.back().empty()) parts.pop_back();
  if (parts.size() < 2) return {};
  std::vector<pending> all;
  std::optional<told_clause> prev;
  for (auto& part : parts) {
    trim_fillers(L, part);
    if (part.empty()) continue;
    auto c = try_clause(part);
    const char* carried = prev && prev->m.slots.count("subj") ? "subj"
                          : prev && prev->r && prev->r->fact == "name" && prev->m.slots.count("name") ? "name" : nullptr;
    if (!c && prev && !carried && !prev->t.empty() && L.self.count(prev->t.front().w)) {  // "Jeg heter Sigrid og er 34 år"
      toks with(prev->t.begin(), prev->t.begin() + 1);
      with.insert(with.end(), part.begin(), part.end());
      c = try_clause(with);
    }
    if (!c && carried) {  // "… and works at Equinor": the subject before ("Min søster heter Elin og bor i Harstad")
      const auto sb = prev->m.slots.at(carried);
      toks with(prev->t.begin() + static_cast<std::ptrdiff_t>(sb.b), prev->t.begin() + static_cast<std::ptrdiff_t>(sb.e));
      with.insert(with.end(), part.begin(), part.end());
      c = try_clause(with);
    }
    if (!c && prev && value_like(part)) {  // "… and Petter in Hamar": the verb before
      toks verb;
      for (std::size_t i = 0; i < prev->t.size(); ++i)
        if (prev->m.literal[i]) verb.push_back(prev->t[i]);
      for (std::size_t p = 1; p < part.size() && !c && !verb.empty(); ++p) {
        for (int drop = 1; drop >= 0 && !c; --drop) {  // "Eli in Kristiansand": "lives" + "in Kristiansand"
          if (drop && (verb.size() < 2 || part[p].w != verb.back().w)) continue;
          toks with(part.begin(), part.begin() + static_cast<std::ptrdiff_t>(p));
          with.insert(with.end(), verb.begin(), verb.end() - drop);
          with.insert(with.end(), part.begin() + static_cast<std::ptrdiff_t>(p), part.end());
          c = try_clause(with);
        }
      }
    }
    if (!c && prev && value_like(part)) {  // "I am allergic to nuts and shellfish": subject and verb before
      toks with;
      for (std::size_t i = 0; i < prev->t.size(); ++i) {
        bool in_value = false;
        for (const char* v : {"obj", "obj2", "time", "loc", "name"})
          if (auto it = prev->m.slots.find(v); it != prev->m.slots.end() && i >= it->second.b && i < it->second.e) in_value = true;
        if (!in_value) with.push_back(prev->t[i]);
      }
      with.insert(with.end(), part.begin(), part.end());
      if (with.size() > part.size()) c = try_clause(with);
    }
    if (!c && !group.empty() && group != carried_group && name_ok(L, part, 0, part.size())) {
      // "I have two brothers: Even and Tord." (only after the group in this sentence)
      told_clause named;
      json a{{"source", "understanding"}, {"lang", L.lang}, {"said", std::string(s)}};
      named.facts.push_back({{std::string(in.user), group, span_text(s, part, 0, part.size()), a}, false, false});
      named.t = part;
      named.m.literal.assign(part.size(), false);
      named.m.slots["name"] = {0, part.size()};
      c = std::move(named);
    }
    if (!c) continue;  // a clause not understood ("… and she sits in the Bergen office"): the others stand
    all.insert(all.end(), c->facts.begin(), c->facts.end());
    prev = std::move(c);
  }
  return all;
  };
  // both ways when there were commas (each on its own copy of the state): the one that says more
  auto st_before = st;
  std::vector<pending> all = clauses(t0);
  if (bare.size() != t0.size()) {
    auto st_t0 = st;
    st = st_before;
    auto without = clauses(bare);
    if (without.size() > all.size()) all = std::move(without);
    else st = st_t0;
  }
  if (all.empty()) return std::nullopt;
  return all;
}

bool starts_like_question(const lang_rules& L, const toks& t) { return !t.empty() && L.questions.count(t.front().w); }

// Stores the facts; returns them said as sentences.
expected<std::vector<std::string>> store(kg& g, const understanding& u, const lang_rules& L, const understand_input& in,
                                         understand_state::per_user& st, const std::vector<pending>& facts) {
  std::vector<std::string> said;
  std::vector<triple> add, replace;  // one transaction, one sync
  for (const auto& p : facts) (p.single ? replace : add).push_back(p.t);
  if (auto r = kg_write(g, add, replace, in.user); !r) return r.error();
  for (const auto& p : facts) {
    fact f;
    f.subject = p.t.subject;
    f.relation = p.t.relation;
    f.object = p.t.object;
    f.attrs = p.t.attrs;
    if (p.t.attrs.is_object() && p.t.attrs.contains("due") && p.t.attrs["due"].is_number_integer())
      f.due_ms = p.t.attrs["due"].get<std::int64_t>();
    if (p.t.attrs.is_object() && p.t.attrs.contains("date")) st.last_dated = f;
    if (p.link) {
      bool told_more = false;  // "my brother Jonas lives in …" says the link in the sentence
      for (const auto& q : facts) told_more = told_more || (!q.link && q.t.subject == p.t.object);
      if (told_more) continue;
    }
    said.push_back(say_fact(g, u, L, f, in.user, in.words, in.tz));
  }
  return said;
}

}  // namespace

std::string understanding_relation(const understanding& u, std::string_view model_relation) {
  const std::string w = join(words_of(model_relation));
  if (auto it = u.model_words.find(w); it != u.model_words.end()) return it->second;
  // "has sister", "har en søster"
  auto p = words_of(model_relation);
  while (!p.empty() && (p.front() == "has" || p.front() == "have" || p.front() == "har" || p.front() == "a" ||
                        p.front() == "an" || p.front() == "en" || p.front() == "ei" || p.front() == "et" || p.front() == "is"))
    p.erase(p.begin());
  for (const auto& L : u.langs)
    if (auto it = L.role_forms.find(join(p)); it != L.role_forms.end()) return it->second.first;
  return {};
}

std::string understand_skip_reason(const understanding& u, std::string_view text) {
  const std::string trimmed = detail::text_trim(text);
  if (!trimmed.empty() && trimmed.back() == '?') return "question";
  for (const auto& L : u.langs) {
    toks t = tokenize(trimmed);
    expand_words(L, t);
    trim_fillers(L, t);
    if (t.empty()) continue;
    if (L.questions.count(t.front().w) && t.front().w != "er" && t.front().w != "har" && t.front().w != "is" &&
        t.front().w != "have" && t.front().w != "has")
      return "question";
    for (std::size_t i = 0; i < t.size(); ++i) {
      if (phrase_at(L.negations, t, i, t.size())) return "negation";
      if (phrase_at(L.hypotheticals, t, i, t.size())) return "hypothetical";
      if (phrase_at(L.reported, t, i, t.size())) return "reported";
    }
  }
  return {};
}

bool understanding_single(const understanding& u, std::string_view relation) {
  const std::string r(relation);
  if (auto it = u.relations.find(r); it != u.relations.end()) return it->second.single;
  if (auto it = u.roles.find(r); it != u.roles.end()) return it->second.single;
  return r.find(':') != npos;  // a thing's when / where / value / habit
}

std::string understand_say(const kg& g, const understanding& u, std::string_view lang, const fact& f, std::string_view user,
                           const std::vector<time_words_ptr>* words, const zone* tz) {
  const auto* L = lang_of(u, lang);
  if (!L) return {};
  return say_fact(g, u, *L, f, user, words, tz);
}

namespace {
expected<std::optional<understood>> understand_text(kg& g, const understanding& u, understand_state& s,
                                                    const understand_input& in);
}  // namespace

expected<std::optional<understood>> understand(kg& g, const understanding& u, understand_state& s,
                                               const understand_input& in) {
  if (u.langs.empty() || in.user.empty()) return std::optional<understood>{};
  // bytes that are not UTF-8 read as U+FFFD everywhere (the graph and the replies take only UTF-8)
  const std::string repaired_text = utf8_repaired(in.text);
  const std::string repaired_user = utf8_repaired(in.user);
  understand_input in_ok = in;
  in_ok.text = repaired_text;
  in_ok.user = repaired_user;
  return understand_text(g, u, s, in_ok);
}

namespace {

expected<std::optional<understood>> understand_text(kg& g, const understanding& u, understand_state& s,
                                                    const understand_input& in) {
  auto& st = s.users[std::string(in.user)];
  if (st.group_left > 0) --st.group_left;
  const bool quoted = has_quotes(in.text);
  std::vector<std::string> told_said;
  std::vector<triple> told_facts;
  const lang_rules* told_lang = nullptr;
  std::optional<understood> answer;
  const lang_rules* noted_lang = nullptr;
  auto sentences = sentences_of(in.text);
  if (sentences.size() > kMaxSentences) sentences.resize(kMaxSentences);
  for (const auto& [sentence, question_mark] : sentences) {
    // the language with the most of its marker words goes first
    std::vector<std::pair<int, const lang_rules*>> order;
    const toks plain = tokenize(sentence);
    for (const auto& L : u.langs) {
      int score = 0;
      for (const auto& w : plain) score += static_cast<int>(L.markers.count(w.w));
      order.emplace_back(-score, &L);
    }
    std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    // A question about the user's life that no language's patterns read, answered by a recalled
    // memory in the sentence's language (the first by markers): "Which medicine do I take in the morning?"
    std::optional<understood> memory_only;
    for (const auto& [score, Lp] : order) {
      const lang_rules& L = *Lp;
      std::optional<when_parsed> when;
      std::string time_said;
      toks t = words_with_time(sentence, words_of_lang(in.words, L.lang), in, when, time_said);
      expand_words(L, t);
      trim_fillers(L, t);
      if (t.empty() || t.size() > kMaxWords) continue;
      // "forget that …"
      if (auto n = phrase_at(L.forget, t, 0, t.size()); n > 0 && !question_mark) {
        toks rest(t.begin() + static_cast<std::ptrdiff_t>(n), t.end());
        trim_fillers(L, rest);
        auto facts = tell_sentence(u, L, g, in, st, sentence, rest, when, time_said);
        if (!facts) {  // "forget that I have a dentist appointment": the thing by its words
          auto key = key_of(L, rest, 0, rest.size());
          std::vector<pending> found;
          for (const auto& x : best_things(g, in.user, in.user, {"when", "where", "value", "does"}, key))
            found.push_back({triple_of(x), false, false});
          if (found.empty()) continue;
          facts = std::move(found);
        }
        std::vector<std::string> gone;
        std::vector<triple> gone_facts;
        for (const auto& p : *facts) {
          if (p.link) continue;
          fact f;
          f.subject = p.t.subject;
          f.relation = p.t.relation;
          f.object = p.t.object;
          f.attrs = p.t.attrs;
          auto d = kg_delete_triple(g, p.t, in.user);
          if (!d) {
            if (d.error().code == errc::not_found) continue;
            return d.error();
          }
          gone.push_back(say_fact(g, u, L, f, in.user, in.words, in.tz));
          gone_facts.push_back(p.t);
        }
        understood out;
        out.lang = L.lang;
        out.source = "forgot";
        out.facts = gone_facts;
        if (gone.empty()) {
          out.text = say_key(L, "forgot_none");
        } else {
          std::string joined = join_sentences(gone);
          if (!joined.empty()) joined[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(joined[0])));
          out.text = say_key(L, "forgot", {{"facts", joined}});
        }
        answer = std::move(out);
        break;
      }
      // a correction: "nei, torsdag" / "actually, she moved to Oslo"
      bool corrected = false;
      if (auto n = phrase_at(L.corrections, t, 0, t.size()); n > 0 && n < t.size()) {
        t.erase(t.begin(), t.begin() + static_cast<std::ptrdiff_t>(n));
        trim_fillers(L, t);
        for (std::size_t more = 1; more > 0 && !t.empty();) {  // "nei, vent, det er tirsdag"
          more = phrase_at(L.corrections, t, 0, t.size());
          if (!more) more = phrase_at(L.it_is, t, 0, t.size());
          if (more >= t.size()) break;
          t.erase(t.begin(), t.begin() + static_cast<std::ptrdiff_t>(more));
          trim_fillers(L, t);
        }
        corrected = true;
        if (t.size() == 1 && t[0].time && when && st.last_dated) {
          fact f = *st.last_dated;
          std::int64_t due = when->due_ms;
          bool has_clock = false, has_day = false;  // "15:30" / "torsdag"
          for (const auto& w : tokenize(time_said)) {
            if (w.digit) has_clock = true;
            else if (!L.stop.count(w.w) && w.w != "kl" && w.w != "klokka" && w.w != "klokken" && w.w != "at") has_day = true;
          }
          if (f.due_ms && (!has_clock || !has_day)) {
            const auto old_lt = zone_local(zone_or_utc(in.tz), *f.due_ms);
            const auto new_lt = zone_local(zone_or_utc(in.tz), due);
            if (!has_clock)  // "no, Thursday": the day moves, the time of day stays
              due = new_lt.day_start_ms + (static_cast<std::int64_t>(old_lt.hour) * 60 + old_lt.minute) * 60000;
            else  // "no, it's at 15:30": the time of day moves, the day stays
              due = old_lt.day_start_ms + (static_cast<std::int64_t>(new_lt.hour) * 60 + new_lt.minute) * 60000;
          }
          triple tr{f.subject, f.relation, f.object, f.attrs};
          tr.attrs["date"] = due;
          if (tr.attrs.contains("due")) tr.attrs["due"] = due;
          tr.attrs["time_said"] = time_said;
          if (!has_clock) tr.attrs["day_only"] = f.attrs.value("day_only", false);
          else tr.attrs.erase("day_only");
          if (f.relation.rfind("when:", 0) == 0) tr.object = time_said;
          auto r = kg_replace(g, tr, in.user);
          if (!r) return r.error();
          f.attrs = tr.attrs;
          f.object = tr.object;
          f.due_ms = due;
          st.last_dated = f;
          const lang_rules* fact_lang = lang_of(u, f.attrs.value("lang", L.lang));  // said back as it was told
          told_said.push_back(say_fact(g, u, *fact_lang, f, in.user, in.words, in.tz));
          told_facts.push_back(tr);
          told_lang = fact_lang;
          break;
        }
      }
      const bool question = question_mark || (!corrected && starts_like_question(L, t));
      if (question) {
        for (const auto& r : L.ask) {
          auto m = match(L, sentence, r, t);
          if (!m) continue;
          auto a = ask_answer(u, L, g, in, st, sentence, t, r, *m);
          understood out;
          out.lang = L.lang;
          if (a) {
            out.text = std::move(a->text);
            out.source = std::move(a->source);
            out.facts = std::move(a->facts);
          } else if (auto mem = memory_answer(u, L, g, in, st, t, in.text, in.memories)) {
            out.text = *mem;
            out.source = "memory";
          } else if ((r.fact == "value" || r.fact == "name" || r.fact == "when" || r.fact == "where") &&
                     !about_user(u, L, g, in.user, t)) {
            continue;  // "What is the capital of Norway?": not about the user's life, the model answers
          } else {
            out.text = say_key(L, r.fact == "who" ? "dont_know_who" : "dont_know");
            out.source = "unknown";
          }
          answer = std::move(out);
          break;
        }
        if (!answer)
          if (auto a = who_answer(u, L, g, in, st, sentence, t); a || (a = yes_no_answer(u, L, g, in, st, sentence, t))) {
            understood out;
            out.lang = L.lang;
            out.text = std::move(a->text);
            out.source = std::move(a->source);
            out.facts = std::move(a->facts);
            answer = std::move(out);
          }
        if (!answer && !memory_only && Lp == order.front().second && about_user(u, L, g, in.user, t))
          if (auto mem = memory_answer(u, L, g, in, st, t, in.text, in.memories)) {
            memory_only.emplace();
            memory_only->lang = L.lang;
            memory_only->text = std::move(*mem);
            memory_only->source = "memory";
          }
        if (answer) break;
        continue;
      }
      if (quoted) continue;
      bool only_looks = false;
      auto facts = tell_sentence(u, L, g, in, st, sentence, t, when, time_said, &only_looks);
      if (!facts && !only_looks) {  // "Jeg bor ikke i Oslo": a fact's pattern once the hedge is out
        toks plain_t;
        for (std::size_t i = 0; i < t.size();) {
          std::size_t n = 0;
          for (const auto* list : {&L.negations, &L.hypotheticals, &L.reported}) n = std::max(n, phrase_at(*list, t, i, t.size()));
          if (n == 0) plain_t.push_back(t[i]);
          i += std::max<std::size_t>(n, 1);
        }
        const bool about_someone = !plain_t.empty() && plain_t.size() != t.size() && t.front().w == plain_t.front().w &&
                                   (L.self.count(t.front().w) || L.mine.count(t.front().w) || L.role_forms.count(t.front().w) ||
                                    L.pronouns.count(t.front().w));  // "Jeg bor ikke …", not "Never mind, …"
        if (about_someone) {
          auto dry = st;
          only_looks = tell_sentence(u, L, g, in, dry, sentence, plain_t, when, time_said, nullptr, true).has_value();
        }
      }
      if (!facts && only_looks && !noted_lang) noted_lang = &L;  // heard, no fact
      if (!facts) continue;
      auto said = store(g, u, L, in, st, *facts);
      if (!said) return said.error();
      for (auto& x : *said) told_said.push_back(std::move(x));
      for (const auto& p : *facts) told_facts.push_back(p.t);
      told_lang = &L;
      break;
    }
    if (!answer && memory_only) answer = std::move(memory_only);
  }
  if (answer) return answer;
  if (!told_lang && noted_lang) {  // a statement that only looks like a fact: heard, nothing stored
    understood out;
    out.lang = noted_lang->lang;
    out.source = "noted";
    out.text = say_key(*noted_lang, "noted");
    return std::optional<understood>{std::move(out)};
  }
  if (!told_lang) return std::optional<understood>{};
  understood out;
  out.lang = told_lang->lang;
  out.source = "understood";
  out.facts = std::move(told_facts);
  out.text = detail::text_trim(say_key(*told_lang, "told", {{"facts", join_sentences(told_said)}}));
  return std::optional<understood>{std::move(out)};
}

}  // namespace

}  // namespace aikid::synthesis
