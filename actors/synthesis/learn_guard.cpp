// Learning guard: a cheap test, before a percept goes to the model for fact
// extraction, of whether it can state facts at all. Questions, negations and
// hypotheticals are not sent: SmolLM2-135M made "user lives in Oslo" of
// "Jeg bor ikke i Oslo". The words are matched whole, case-folded.
//
// TODO(understanding): the understanding step's data files (per language)
// will own this vocabulary; until then these lists are the one place.
#include <algorithm>
#include <array>

#include "actors/synthesis/internal.hpp"
#include "actors/synthesis/synthesis.hpp"

namespace aikid::synthesis {

namespace {

// A question when the first word is one of these (en, nb/nn).
constexpr std::array<std::string_view, 19> kQuestionWords = {
    "what", "who", "whom", "whose", "where", "when", "why", "how", "which",
    "hva", "hvem", "hvor", "hvordan", "hvorfor", "når", "hvilken", "hvilket", "hvilke", "kva"};
// A negation anywhere (plus any English word ending in "n't").
constexpr std::array<std::string_view, 13> kNegationWords = {
    "not", "no", "never", "nobody", "nothing", "neither", "nor", "cannot",
    "ikke", "ikkje", "aldri", "ingen", "ingenting"};
// A hypothetical anywhere.
constexpr std::array<std::string_view, 12> kHypotheticalWords = {
    "if", "suppose", "supposing", "imagine", "hypothetically", "would", "unless",
    "hvis", "dersom", "anta", "tenk", "ville"};

template <std::size_t N>
bool in(const std::array<std::string_view, N>& words, std::string_view w) {
  return std::find(words.begin(), words.end(), w) != words.end();
}

void put_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// The case-folded words of a text; an apostrophe (' or ’) inside a word is
// kept as "'" ("don't").
std::vector<std::string> words_of(std::string_view text) {
  std::vector<detail::folded_cp> cps;
  detail::text_fold_stream(text, cps);
  std::vector<std::string> out;
  std::string cur;
  for (std::size_t i = 0; i < cps.size(); ++i) {
    const auto& c = cps[i];
    const bool apostrophe = (c.cp == '\'' || c.cp == U'\u2019') && !cur.empty() && i + 1 < cps.size() &&
                            cps[i + 1].word;
    if (c.word) {
      put_utf8(cur, c.cp);
    } else if (apostrophe) {
      cur += '\'';
    } else if (!cur.empty()) {
      out.push_back(std::move(cur));
      cur.clear();
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

}  // namespace

std::string_view learn_skip_reason(std::string_view text) {
  std::size_t end = text.size();
  while (end > 0 && (text[end - 1] == ' ' || text[end - 1] == '\t' || text[end - 1] == '\n' || text[end - 1] == '\r'))
    --end;
  if (end > 0 && text[end - 1] == '?') return "question";
  auto words = words_of(text.substr(0, end));
  if (!words.empty() && in(kQuestionWords, words.front())) return "question";
  for (const auto& w : words) {
    if (in(kNegationWords, w) || (w.size() > 3 && w.compare(w.size() - 3, 3, "n't") == 0)) return "negation";
    if (in(kHypotheticalWords, w)) return "hypothetical";
  }
  return {};
}

}  // namespace aikid::synthesis
