// Understanding's data as loaded (understand_load.cpp) and read
// (understand.cpp); not part of the API (synthesis.hpp section 10).
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "actors/synthesis/synthesis.hpp"

namespace aikid::synthesis {

namespace und {

/// A word of a text: case-folded, with its source bytes. "cat's" is two
/// words ("cat", "'s"); "11:15", "don't" and "wi-fi" are one.
struct tok {
  std::string w;
  std::size_t b = 0, e = 0;
  bool cap = false;    // begins with a capital letter in the text
  bool digit = false;  // has a digit
  bool time = false;   // stands for a time expression (the span b..e of the text)
};
std::vector<tok> tokenize(std::string_view text);

using phrase = std::vector<std::string>;  // words
using phrases = std::vector<phrase>;
phrase words_of(std::string_view text);
inline std::string join(const phrase& p) {
  std::string s;
  for (const auto& w : p) s += (s.empty() ? "" : " ") + w;
  return s;
}

/// One element of a pattern: words (alternatives, maybe optional) or a slot.
struct item {
  std::vector<phrase> alts;
  bool optional = false;
  std::string slot;  // "" for words
};

struct rule {
  std::vector<item> items;
  std::string fact, fact2;  // a relation id or a kind (name, when, where, value, does, group, who, about)
  bool check = false;       // a yes/no question about {obj}
  bool ing = false;         // {act} begins with an -ing word ("is coming over")
  bool not_self = false;    // a statement about someone else only ("Mango is ginger", not "I am tired")
  bool reverse = false;     // a question for the subject: "who has the spare key" (has: ? → the key)
  std::string text;
  std::size_t line = 0;
};

struct role_words {
  std::string id, gender;
  std::vector<std::string> one, many;
};

struct lang_rules {
  std::string lang, file;
  std::set<std::string> self, mine, pronouns, articles, stop, markers, questions, she, he;
  phrases places, fillers, negations, hypotheticals, reported, corrections, forget;
  phrases who, who_of;  // "who …?" / "which of my colleagues …?": the user's people a statement fits
  // yes/no questions read as statements: aux_keep ("is Kari a nurse" → "Kari is a nurse", "Bor
  // Kari i Oslo?" → "Kari bor i Oslo"), aux_s ("does Kari live …" → "Kari lives …"), aux_drop ("do I …")
  std::set<std::string> aux_keep, aux_s, aux_drop;
  std::map<std::string, int> numbers;
  std::map<std::string, std::string> ranks;  // "older"/"eldste"/"storebror" → older: which of two of a kind
  std::map<std::string, role_words> roles;
  std::map<std::string, std::pair<std::string, bool>> role_forms;  // words → (role id, plural)
  std::map<std::string, std::string> concepts;                     // word → word id
  std::map<std::string, std::string> concept_say;                  // word id → its first word (for translating)
  std::vector<std::pair<std::string, std::string>> compounds;      // prefix → word id
  std::set<std::string> neuter, plural, conjunctions;
  std::set<std::string> ends;  // words a place value ends before ("with", "sammen")
  std::vector<std::string> suffixes;         // longest first as listed
  std::map<std::string, std::string> flip;   // my → your
  std::vector<std::pair<phrase, phrase>> expand;  // "i'm" → "i am"
  std::set<std::string> act_not;             // words a plan or an "is a" never begins with
  std::vector<std::string> definite;         // endings of a noun that needs no "my"
  phrases it_is;                             // "it is" before a time in a correction
  std::vector<std::string> past_endings;     // a plan's first word never ends so ("borrowed")
  std::vector<rule> tell, ask;
  std::map<std::string, std::string> say;
};

struct role_meta {
  bool single = false, pet = false;
  std::string sex;  // "f", "m" or ""
};
struct relation_meta {
  bool single = false, dated = false;
  bool place = false;  // a place or an institution: the value ends before a word of `ends` ("Tromsø with her husband")
  std::vector<std::string> also;
};

}  // namespace und

struct understanding {
  std::map<std::string, und::role_meta> roles;
  std::map<std::string, und::relation_meta> relations;
  std::map<std::string, std::string> model_words;  // the model's relation words → relation id
  std::vector<und::lang_rules> langs;
};

}  // namespace aikid::synthesis
