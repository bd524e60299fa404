// Context budget: with a huge memory set the prompt fits the budget, keeps the
// user's text and the latest turn, keeps the best memories, and drops in the
// documented order (memories, then older turns, then facts).
#define BOOST_TEST_MODULE synthesis_prompt_budget
#include <boost/test/unit_test.hpp>

#include <random>

#include "actors/synthesis/synthesis.hpp"
#include "tests/synthesis/test_util.hpp"

namespace syn = aikid::synthesis;

namespace {

// Stand-in tokenizer: one token per white-space separated word, plus one per
// newline (roughly what a BPE does with short English words).
int count_words(std::string_view s) {
  int n = 0;
  bool in = false;
  for (char c : s) {
    if (c == '\n') ++n;
    const bool sp = c == ' ' || c == '\n' || c == '\t';
    if (!sp && !in) ++n;
    in = !sp;
  }
  return n;
}

int total(const std::vector<syn::chat_message>& ms, int ov) {
  int t = 0;
  for (auto& m : ms) t += count_words(m.content) + ov;
  return t;
}

struct data {
  std::vector<syn::memory_hit> memories;
  std::vector<syn::fact> facts;
  std::vector<syn::turn> turns;
  data(std::size_t n_mem, std::size_t n_facts, std::size_t n_turns) {
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> u(0.f, 1.f);
    for (std::size_t i = 0; i < n_mem; ++i) {
      memories.push_back({static_cast<std::int64_t>(i + 1),
                          "memory number " + std::to_string(i) + " about something the user said once", u(rng)});
    }
    for (std::size_t i = 0; i < n_facts; ++i) {
      syn::fact f;
      f.id = static_cast<std::int64_t>(i + 1);
      f.subject = "Ola";
      f.relation = "knows_person";
      f.object = "P" + std::to_string(i);
      facts.push_back(f);
    }
    for (std::size_t i = 0; i < n_turns; ++i) {
      turns.push_back({i % 2 ? "assistant" : "user", "turn " + std::to_string(i) + " with a few words", 0});
    }
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(huge_memory_set_fits_and_keeps_the_best) {
  data d(200000, 10, 6);
  syn::prompt_input in;
  in.system_prompt = "You are AIKI, a helpful personal assistant.";
  in.user_text = "so what should I bring to the cabin this weekend?";
  in.memories = d.memories;
  in.facts = d.facts;
  in.turns = d.turns;
  syn::prompt_budget b;
  b.max_tokens = 1024;
  b.per_message_overhead = 4;
  auto r = syn::prompt_build(in, b, count_words);
  BOOST_REQUIRE_MESSAGE(r.has_value(), (r ? std::string() : r.error().message));
  BOOST_TEST(r->tokens <= b.max_tokens);
  BOOST_TEST(total(r->messages, 4) == r->tokens);
  BOOST_TEST(r->messages.front().role == "system");
  BOOST_TEST(r->messages.back().role == "user");
  BOOST_TEST(r->messages.back().content == in.user_text);
  // All facts and all turns fit; memories filled the rest.
  BOOST_TEST(r->facts_kept == 10u);
  BOOST_TEST(r->turns_kept == 6u);
  BOOST_TEST(r->memory_ids.size() > 20u);
  BOOST_TEST(r->memory_ids.size() < 200u);
  // The kept memories are exactly the best-scored ones, best first.
  std::vector<syn::memory_hit> sorted = d.memories;
  std::stable_sort(sorted.begin(), sorted.end(), [](auto& a, auto& b) { return a.score > b.score; });
  for (std::size_t i = 0; i < r->memory_ids.size(); ++i) BOOST_TEST(r->memory_ids[i] == sorted[i].id);
  // Nearly full: the next memory would not have fitted (the pieces are summed
  // with each line's newline, and the assembly drops the last newline of the
  // facts and of the memories: the sum is at most two tokens over the exact count).
  BOOST_TEST(r->tokens + count_words(sorted[r->memory_ids.size()].text + "\n") + 2 > b.max_tokens);
}

BOOST_AUTO_TEST_CASE(drop_order_memories_then_older_turns_then_facts) {
  data d(1000, 40, 12);
  syn::prompt_input in;
  in.system_prompt = "sys";
  in.user_text = "question";
  in.memories = d.memories;
  in.facts = d.facts;
  in.turns = d.turns;
  const int ov = 4;
  // Budget for everything except memories: facts + all turns + fixed.
  int facts_cost = count_words("\n\nFacts:\n");
  for (auto& f : d.facts) facts_cost += count_words("Ola knows person " + f.object + ".\n");
  int turns_cost = 0;
  for (auto& t : d.turns) turns_cost += count_words(t.text) + ov;
  const int fixed = count_words("sys") + ov + count_words("question") + ov;
  syn::prompt_budget b{fixed + facts_cost + turns_cost + 2, ov};
  auto r = syn::prompt_build(in, b, count_words);
  BOOST_REQUIRE(r.has_value());
  BOOST_TEST(r->memory_ids.empty());
  BOOST_TEST(r->turns_kept == 12u);
  BOOST_TEST(r->facts_kept == 40u);
  // Less: older turns go, the latest stays, facts stay.
  b.max_tokens = fixed + facts_cost + (count_words(d.turns.back().text) + ov) + 5;
  r = syn::prompt_build(in, b, count_words);
  BOOST_REQUIRE(r.has_value());
  BOOST_TEST(r->tokens <= b.max_tokens);
  BOOST_TEST(r->facts_kept == 40u);
  BOOST_TEST(r->turns_kept == 1u);
  BOOST_TEST(r->messages[r->messages.size() - 2].content == d.turns.back().text);
  BOOST_TEST(r->memory_ids.empty());
  // Less still: facts are cut (a prefix), turns beyond the latest and memories are gone.
  b.max_tokens = fixed + (count_words(d.turns.back().text) + ov) + 20;
  r = syn::prompt_build(in, b, count_words);
  BOOST_REQUIRE(r.has_value());
  BOOST_TEST(r->tokens <= b.max_tokens);
  BOOST_TEST(r->facts_kept > 0u);
  BOOST_TEST(r->facts_kept < 40u);
  BOOST_TEST(r->turns_kept == 1u);
  BOOST_TEST(r->messages.size() == 3u);  // system, latest turn, user
  BOOST_TEST(r->messages[0].content.find("\nOla knows person P0.\n") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(user_text_and_latest_turn_always_fit_or_it_is_an_error) {
  data d(10, 0, 3);
  syn::prompt_input in;
  in.system_prompt = "sys";
  in.user_text = "a b c d e f g h i j";
  in.memories = d.memories;
  in.turns = d.turns;
  syn::prompt_budget b{count_words("sys") + 10 + 4 * 3 + count_words(d.turns.back().text), 4};
  auto r = syn::prompt_build(in, b, count_words);
  BOOST_REQUIRE(r.has_value());
  BOOST_TEST(r->messages.size() == 3u);
  BOOST_TEST(r->memory_ids.empty());
  b.max_tokens -= 1;
  auto e = syn::prompt_build(in, b, count_words);
  BOOST_REQUIRE(!e.has_value());
  BOOST_TEST(e.error().code == aikid::errc::too_large);
  BOOST_TEST(e.error().message.find("exceed the budget") != std::string::npos);
  BOOST_TEST(syn::prompt_build(in, {0, 4}, count_words).error().code == aikid::errc::bad_request);
  BOOST_TEST(syn::prompt_build(in, b, nullptr).error().code == aikid::errc::bad_request);
}

BOOST_AUTO_TEST_CASE(exact_recount_trims_when_pieces_undercount) {
  // A counter where joining pieces costs more than the pieces (like BPE merges
  // can differ): every 10 characters of a message cost a token extra.
  auto odd = [](std::string_view s) { return count_words(s) + static_cast<int>(s.size() / 10); };
  data d(500, 5, 4);
  syn::prompt_input in;
  in.system_prompt = "sys";
  in.user_text = "question";
  in.memories = d.memories;
  in.facts = d.facts;
  in.turns = d.turns;
  syn::prompt_budget b{400, 4};
  auto r = syn::prompt_build(in, b, odd);
  BOOST_REQUIRE(r.has_value());
  int t = 0;
  for (auto& m : r->messages) t += odd(m.content) + 4;
  BOOST_TEST(t <= 400);
  BOOST_TEST(r->tokens == t);
}

// The shape a 135M model follows: the system prompt, then the facts as plain
// sentences under "Facts:", then the memories as plain lines (one line each,
// a long one cut at a word), no bullets or dumps; the budget still holds.
BOOST_AUTO_TEST_CASE(facts_are_plain_sentences_and_memories_plain_lines) {
  std::vector<syn::fact> facts(3);
  facts[0].subject = "Kari", facts[0].relation = "lives_in", facts[0].object = "Bergen";
  facts[1].subject = "ola", facts[1].relation = "has sister", facts[1].object = "Kari";
  facts[2].subject = "Ola", facts[2].relation = "dentist", facts[2].object = "appointment";
  facts[2].attrs = {{"due", "2026-05-01T09:00"}};
  std::string longmem = "We talked about the cabin";
  for (int i = 0; i < 60; ++i) longmem += " and more";
  std::vector<syn::memory_hit> mems = {{1, "Ola  likes\ncoffee", 0.9f}, {2, longmem, 0.8f}, {3, "   ", 0.7f},
                                       {4, "Where is Kari?", 0.95f}};
  syn::prompt_input in;
  in.system_prompt = "You are AIKI, a helpful personal assistant.";
  in.user_text = "Where is Kari?";
  in.facts = facts;
  in.memories = mems;
  syn::prompt_budget b{4096, 4};
  auto r = syn::prompt_build(in, b, count_words);
  BOOST_REQUIRE(r.has_value());
  BOOST_REQUIRE_EQUAL(r->messages.size(), 2u);
  const std::string& sys = r->messages[0].content;
  const std::string want_head =
      "You are AIKI, a helpful personal assistant.\n\nFacts:\nKari lives in Bergen.\nOla has sister Kari.\n"
      "Ola dentist appointment (due 2026-05-01T09:00).\n\nFrom earlier conversations:\nOla likes coffee\n";
  BOOST_TEST(sys.substr(0, want_head.size()) == want_head);
  const std::string cut = sys.substr(want_head.size());
  BOOST_TEST(cut.find('\n') == std::string::npos);  // the long memory is one line, and the last
  BOOST_TEST(cut.size() <= 200u + std::string("…").size());
  BOOST_TEST(cut.substr(cut.size() - std::string("…").size()) == "…");
  BOOST_TEST(cut.rfind("We talked about the cabin and more", 0) == 0u);
  // the blank memory and the one that repeats the user's text are not shown
  BOOST_TEST((r->memory_ids == std::vector<std::int64_t>{1, 2}));
  BOOST_TEST(sys.find("- ") == std::string::npos);
  BOOST_TEST(sys.find('{') == std::string::npos);
  // and the budget still holds: a tight one drops the memories, then facts
  b.max_tokens = r->tokens - 5;
  auto t = syn::prompt_build(in, b, count_words);
  BOOST_REQUIRE(t.has_value());
  BOOST_TEST(t->tokens <= b.max_tokens);
  BOOST_TEST(t->facts_kept == 3u);
  BOOST_TEST(t->memory_ids.size() < 2u);
}
